"""Q-ViT and uniform-LSQ layers on timm's ``VisionTransformer`` hooks, BitOPs and bit maps.

- :class:`QViTQuantizer`: one quantized tensor (:func:`models.qvit.quantize`): ``bits``
  ``[H]`` (learnable for Q-ViT, fixed for LSQ), scale table ``alpha [7]``, optional offset
  table ``beta [7]``. All three are parameters, so the learned widths travel in the state
  dict of every checkpoint.
- :class:`QViTAttention` (``attn_layer``): separate ``q``/``k``/``v`` linears as the
  reference (no fused qkv), explicit ``q @ k^T``, softmax, ``@ v``.
- :class:`QViTMlp` (``mlp_layer``), :class:`QViTPatchEmbed` (``embed_layer``) and
  :class:`QViTHead`: patch embedding and classifier fixed at ``embed_bits``.

**Head-wise weight axis.** ``nn.Linear.weight`` is ``[out, in]``. Head ``h`` produces
output features ``h*d..(h+1)*d-1`` of ``W_q``, ``W_k``, ``W_v`` and consumes the same input
features of ``W_proj``, so with ``weight_axis="head"`` (default) its width applies to those
*rows* of ``W_q/W_k/W_v`` (axis 0) and *columns* of ``W_proj`` (axis 1): every MAC of head
``h`` then runs at head ``h``'s widths, which is what a head-wise hardware datapath can
exploit. The reference code treats the weight as ``[in, out]`` and so groups the other
axis (``PAPERS.md`` §2.5); ``weight_axis="reference"`` reproduces that.

Activation quantizers of q, k, v, the attention probabilities and the ``A V`` output work on
``[B, H, N, d]`` / ``[B, H, N, N]`` tensors with the head on axis 1. The scale table is
shared by the heads (heads of equal width share a scale), as the reference.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from timm.layers import PatchEmbed
from torch import Tensor, nn

from golden.bitops import HEAD_KEYS, TENSOR_KEYS, qvit_vit_bitops, uniform_block_bits
from golden.model_cfg import QViTCfg, ViTCfg
from models import qvit
from models.layers import FromLinear

__all__ = [
    "QViTAttention",
    "QViTHead",
    "QViTLinear",
    "QViTMlp",
    "QViTPatchEmbed",
    "QViTQuantizer",
    "bit_map",
    "block_bits",
    "budget_bitops",
    "calibrate",
    "freeze_bits",
    "model_bitops",
    "penalty_unit",
    "quantizers",
    "set_quant",
    "uniform_bitops",
]

#: Uniform W4A4 DeiT-T BitOPs in GBitOPs (PAPERS.md §2.7): the reference's budget.
REFERENCE_BUDGET = 21.455413248


class QViTQuantizer(nn.Module):
    """A quantized tensor: widths ``bits [heads]``, scale table, optional offset table.

    ``axis`` is the dimension of the input split into ``heads`` groups. ``enabled=False``
    passes the input through (float training) and, when ``observer`` is set, hands it to
    ``observer(self, x)`` (calibration). The tables are initialised by :func:`calibrate`,
    or else from the first tensor quantized.
    """

    def __init__(self, *, signed: bool, bits: int, learn_bits: bool, heads: int = 1,
                 axis: int = 0, offset: bool = False, eps: float = 1e-4):
        super().__init__()
        self.bits = nn.Parameter(torch.full((heads,), float(bits)), requires_grad=learn_bits)
        self.alpha = nn.Parameter(torch.ones(qvit.NUM_SCALES))
        self.beta = nn.Parameter(torch.zeros(qvit.NUM_SCALES)) if offset else None
        self.register_buffer("initialized", torch.tensor(False))
        self.signed, self.axis, self.eps = signed, axis, eps
        self.enabled, self.observer = True, None

    def rounded_bits(self) -> Tensor:
        """Current widths ``round(clamp(bits, 2, 8))`` (straight-through to ``bits``).

        Clamps the parameter in place first, as the reference.
        """
        with torch.no_grad():
            if bool(((self.bits < qvit.BIT_MIN) | (self.bits > qvit.BIT_MAX)).any()):
                self.bits.clamp_(qvit.BIT_MIN, qvit.BIT_MAX)
        return qvit.round_bits(self.bits)

    def int_bits(self) -> list[int]:
        """Current integer widths, one per head."""
        return [int(b) for b in torch.round(self.bits.detach().clamp(2, 8))]

    #: Elements of a tensor used for the MSE initialisation (evenly strided beyond this):
    #: the fixed-point iteration takes up to several hundred steps, 7 widths each.
    max_samples = 1 << 16

    @torch.no_grad()
    def init_from(self, x: Tensor) -> None:
        """Set every table entry to the MSE scale (and offset) of ``x`` at its width."""
        x = x.detach().reshape(-1)
        if x.numel() > self.max_samples:
            x = x[:: -(-x.numel() // self.max_samples)]
        alpha, beta = qvit.init_tables(x, signed=self.signed, offset=self.beta is not None,
                                       eps=self.eps)
        self.alpha.copy_(alpha)
        if self.beta is not None:
            self.beta.copy_(beta)
        self.initialized.fill_(True)

    def forward(self, x: Tensor) -> Tensor:
        if not self.enabled:
            if self.observer is not None:
                self.observer(self, x)
            return x
        if not bool(self.initialized):
            self.init_from(x)
        return qvit.quantize(x, self.alpha, self.rounded_bits(), signed=self.signed,
                             offsets=self.beta, axis=self.axis, eps=self.eps)


def _bits(qcfg: QViTCfg, kind: str) -> int:
    if qcfg.learn_bits:
        return qcfg.init_bits
    return qcfg.w_bits if kind == "w" else qcfg.a_bits


def _quantizer(qcfg: QViTCfg, kind: str, *, signed: bool = True, heads: int = 1,
               axis: int = 0, offset: bool = False) -> QViTQuantizer:
    return QViTQuantizer(signed=signed, bits=_bits(qcfg, kind), learn_bits=qcfg.learn_bits,
                         heads=heads, axis=axis, offset=offset, eps=qcfg.eps)


def _fixed(qcfg: QViTCfg) -> QViTQuantizer:
    return QViTQuantizer(signed=True, bits=qcfg.embed_bits, learn_bits=False, eps=qcfg.eps)


class QViTLinear(nn.Linear):
    """``x @ quantize(W)^T + b``; the weight quantizer groups ``heads`` along ``axis``."""

    def __init__(self, in_features: int, out_features: int, bias: bool = True, *,
                 qcfg: QViTCfg, heads: int = 1, axis: int = 0, device=None, dtype=None):
        super().__init__(in_features, out_features, bias=bias, device=device, dtype=dtype)
        self.w_quant = _quantizer(qcfg, "w", heads=heads, axis=axis)

    def forward(self, x: Tensor) -> Tensor:
        return F.linear(x, self.w_quant(self.weight), self.bias)


class QViTAttention(nn.Module):
    """Multi-head attention with separate q/k/v linears, quantized as Q-ViT.

    ``quant_input`` (LN1 output, per tensor) feeds ``q``, ``k``, ``v``; then ``quant_q``,
    ``quant_k``, ``quant_v`` (signed), ``quant_attn`` (unsigned softmax output) and
    ``quant_output`` (signed ``A V``) are head-wise, as are the weights of ``q``, ``k``,
    ``v`` and ``proj`` (see the module docstring for the axis). ``qcfg.head_wise=False``
    gives every quantizer one width.
    """

    def __init__(self, dim: int, num_heads: int = 8, qkv_bias: bool = False,
                 qk_norm: bool = False, scale_norm: bool = False, proj_bias: bool = True,
                 attn_drop: float = 0.0, proj_drop: float = 0.0,
                 norm_layer: type[nn.Module] | None = None, device=None, dtype=None, *,
                 qcfg: QViTCfg):
        super().__init__()
        if qk_norm or scale_norm:
            raise ValueError("QViTAttention does not support qk_norm or scale_norm")
        if dim % num_heads:
            raise ValueError(f"dim ({dim}) must be a multiple of num_heads ({num_heads})")
        self.num_heads, self.head_dim = num_heads, dim // num_heads
        self.scale = self.head_dim**-0.5
        h = num_heads if qcfg.head_wise else 1
        qkv_axis, proj_axis = (0, 1) if qcfg.weight_axis == "head" else (1, 0)
        dd = {"device": device, "dtype": dtype, "qcfg": qcfg, "heads": h}
        self.quant_input = _quantizer(qcfg, "a")
        self.q = QViTLinear(dim, dim, qkv_bias, axis=qkv_axis, **dd)
        self.k = QViTLinear(dim, dim, qkv_bias, axis=qkv_axis, **dd)
        self.v = QViTLinear(dim, dim, qkv_bias, axis=qkv_axis, **dd)
        self.quant_q = _quantizer(qcfg, "a", heads=h, axis=1)
        self.quant_k = _quantizer(qcfg, "a", heads=h, axis=1)
        self.quant_v = _quantizer(qcfg, "a", heads=h, axis=1)
        self.quant_attn = _quantizer(qcfg, "a", signed=False, heads=h, axis=1)
        self.quant_output = _quantizer(qcfg, "a", heads=h, axis=1)
        self.proj = QViTLinear(dim, dim, proj_bias, axis=proj_axis, **dd)
        self.attn_drop = nn.Dropout(attn_drop)
        self.proj_drop = nn.Dropout(proj_drop)

    def _heads(self, t: Tensor) -> Tensor:
        b, n, _ = t.shape
        return t.reshape(b, n, self.num_heads, self.head_dim).transpose(1, 2)

    def forward(self, x: Tensor, attn_mask: Tensor | None = None, is_causal: bool = False):
        if attn_mask is not None or is_causal:
            raise ValueError("QViTAttention does not support attention masks")
        b, n, c = x.shape
        x = self.quant_input(x)
        q = self.quant_q(self._heads(self.q(x)))  # [B, H, N, d]
        k = self.quant_k(self._heads(self.k(x)))
        v = self.quant_v(self._heads(self.v(x)))
        attn = ((q @ k.transpose(-2, -1)) * self.scale).softmax(dim=-1)
        attn = self.attn_drop(self.quant_attn(attn))
        x = self.quant_output(attn @ v).transpose(1, 2).reshape(b, n, c)
        return self.proj_drop(self.proj(x))


class QViTMlp(nn.Module):
    """timm ``Mlp`` signature: signed fc1 input, GELU output unsigned with offset into fc2."""

    def __init__(self, in_features: int, hidden_features: int | None = None,
                 out_features: int | None = None, act_layer: type[nn.Module] = nn.GELU,
                 norm_layer: type[nn.Module] | None = None, bias: bool = True,
                 drop: float = 0.0, device=None, dtype=None, *, qcfg: QViTCfg):
        super().__init__()
        if norm_layer is not None:
            raise ValueError("QViTMlp does not support an inner norm layer")
        hidden_features = hidden_features or in_features
        out_features = out_features or in_features
        dd = {"device": device, "dtype": dtype, "qcfg": qcfg}
        self.quant_in = _quantizer(qcfg, "a")
        self.fc1 = QViTLinear(in_features, hidden_features, bias, **dd)
        self.act = act_layer()
        self.drop1 = nn.Dropout(drop)
        self.quant_gelu = _quantizer(qcfg, "a", signed=not qcfg.gelu_offset,
                                     offset=qcfg.gelu_offset)
        self.fc2 = QViTLinear(hidden_features, out_features, bias, **dd)
        self.drop2 = nn.Dropout(drop)

    def forward(self, x: Tensor) -> Tensor:
        x = self.drop1(self.act(self.fc1(self.quant_in(x))))
        return self.drop2(self.fc2(self.quant_gelu(x)))


class _QViTConv2d(nn.Conv2d):
    """Patch convolution with per-tensor quantized input and weight at ``embed_bits``."""

    def __init__(self, conv: nn.Conv2d, qcfg: QViTCfg):
        super().__init__(conv.in_channels, conv.out_channels, conv.kernel_size,
                         stride=conv.stride, bias=conv.bias is not None,
                         device=conv.weight.device, dtype=conv.weight.dtype)
        with torch.no_grad():
            self.weight.copy_(conv.weight)
            if conv.bias is not None:
                self.bias.copy_(conv.bias)
        self.x_quant, self.w_quant = _fixed(qcfg), _fixed(qcfg)

    def forward(self, x: Tensor) -> Tensor:
        return self._conv_forward(self.x_quant(x), self.w_quant(self.weight), self.bias)


class QViTPatchEmbed(PatchEmbed):
    """timm ``PatchEmbed`` with image and weights quantized at ``qcfg.embed_bits``."""

    def __init__(self, *args, qcfg: QViTCfg, **kwargs):
        super().__init__(*args, **kwargs)
        self.proj = _QViTConv2d(self.proj, qcfg)


class QViTHead(FromLinear, nn.Linear):
    """Classifier ``quantize(x) @ quantize(W)^T + b`` at ``qcfg.embed_bits``."""

    def __init__(self, in_features: int, out_features: int, *, qcfg: QViTCfg):
        super().__init__(in_features, out_features)
        self.x_quant, self.w_quant = _fixed(qcfg), _fixed(qcfg)

    def forward(self, x: Tensor) -> Tensor:
        return F.linear(self.x_quant(x), self.w_quant(self.weight), self.bias)


# --- model-level helpers ----------------------------------------------------------------


def quantizers(model: nn.Module) -> list[QViTQuantizer]:
    """Every :class:`QViTQuantizer` of ``model``, in module order."""
    return [m for m in model.modules() if isinstance(m, QViTQuantizer)]


def set_quant(model: nn.Module, enabled: bool = True) -> nn.Module:
    """Switch every quantizer of ``model`` on (QAT) or off (float training)."""
    for q in quantizers(model):
        q.enabled = enabled
    return model


def freeze_bits(model: nn.Module) -> None:
    """Stop learning the widths (they keep their current values)."""
    for q in quantizers(model):
        q.bits.requires_grad_(False)


@torch.no_grad()
def calibrate(model: nn.Module, x: Tensor) -> None:
    """Initialise every scale table from one eval-mode float forward of the batch ``x``.

    Weights initialise from themselves and activations from what reaches them, all
    through :func:`models.qvit.init_tables` (fixed-point MSE, ``PAPERS.md`` §2.4). The
    quantizers are enabled afterwards.
    """
    was_training = model.training
    qs = quantizers(model)
    for q in qs:
        q.enabled, q.observer = False, QViTQuantizer.init_from
    try:
        model.eval()
        model(x)
    finally:
        for q in qs:
            q.enabled, q.observer = True, None
        model.train(was_training)


def _attn_mlp(block) -> tuple:
    return block.attn, block.mlp


def block_bits(model: nn.Module) -> list[dict]:
    """Per block, the current widths under :data:`golden.bitops.HEAD_KEYS`/``TENSOR_KEYS``.

    Values are rounded width tensors (straight-through to the ``bits`` parameters), one
    per head for the head keys (a per-tensor width is repeated over the heads).
    """
    out = []
    for blk in model.blocks:
        attn, mlp = _attn_mlp(blk)
        src = {"a_in": attn.quant_input, "w_q": attn.q.w_quant, "w_k": attn.k.w_quant,
               "w_v": attn.v.w_quant, "a_q": attn.quant_q, "a_k": attn.quant_k,
               "a_v": attn.quant_v, "a_attn": attn.quant_attn, "a_out": attn.quant_output,
               "w_proj": attn.proj.w_quant, "a_fc1": mlp.quant_in, "w_fc1": mlp.fc1.w_quant,
               "a_fc2": mlp.quant_gelu, "w_fc2": mlp.fc2.w_quant}
        bits = {}
        for key in HEAD_KEYS:
            b = src[key].rounded_bits()
            bits[key] = b.expand(attn.num_heads) if b.numel() == 1 else b
        for key in TENSOR_KEYS:
            bits[key] = src[key].rounded_bits()[0]
        out.append(bits)
    return out


def _geometry(cfg: ViTCfg) -> dict:
    return dict(num_patches=cfg.num_patches, extra_tokens=cfg.num_tokens - cfg.num_patches,
                patch_weights=cfg.patch_size**2 * cfg.in_chans * cfg.embed_dim,
                num_classes=cfg.num_classes, embed_dim=cfg.embed_dim,
                hidden_dim=cfg.hidden_dim, num_heads=cfg.num_heads)


def model_bitops(model: nn.Module) -> Tensor:
    """BitOPs of ``model`` at its current widths, differentiable through them."""
    cfg, qcfg = model.vit_cfg, model.qvit_cfg
    return qvit_vit_bitops(**_geometry(cfg), blocks=block_bits(model),
                           embed_bits=qcfg.embed_bits)


def uniform_bitops(cfg: ViTCfg, *, w_bits: int, a_bits: int, embed_bits: int = 8) -> int:
    """BitOPs of geometry ``cfg`` quantized uniformly (patch embedding and head at 8)."""
    blk = uniform_block_bits(num_heads=cfg.num_heads, w_bits=w_bits, a_bits=a_bits)
    return qvit_vit_bitops(**_geometry(cfg), blocks=[blk] * cfg.depth, embed_bits=embed_bits)


def budget_bitops(cfg: ViTCfg, qcfg: QViTCfg) -> int:
    """The BitOPs budget: ``qcfg.budget`` GBitOPs, or uniform ``w_bits``/``a_bits``."""
    if qcfg.budget:
        return round(qcfg.budget * 1e9)
    return uniform_bitops(cfg, w_bits=qcfg.w_bits, a_bits=qcfg.a_bits,
                          embed_bits=qcfg.embed_bits)


def penalty_unit(cfg: ViTCfg, qcfg: QViTCfg) -> float:
    """BitOPs per penalty unit: uniform W4A4 of ``cfg`` counts :data:`REFERENCE_BUDGET`.

    Exactly 1e9 (GBitOPs, the reference's unit) on DeiT-T, so ``bitops_weight = 0.1`` pulls
    as hard on a small model as the reference's on DeiT-T.
    """
    return uniform_bitops(cfg, w_bits=4, a_bits=4, embed_bits=qcfg.embed_bits) / REFERENCE_BUDGET


def bit_map(model: nn.Module) -> dict:
    """JSON-ready learned widths: per block, per key, one int per head (or one int)."""
    blocks = []
    for bits in block_bits(model):
        blocks.append({k: [int(b) for b in bits[k].detach()] if k in HEAD_KEYS
                       else int(bits[k].detach()) for k in (*HEAD_KEYS, *TENSOR_KEYS)})
    return {"num_heads": model.vit_cfg.num_heads, "embed_bits": model.qvit_cfg.embed_bits,
            "blocks": blocks}
