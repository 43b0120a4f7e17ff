"""Binarised ViT layers that plug into timm's ``VisionTransformer`` constructor hooks.

- :class:`QAttention` (``attn_layer``): explicit ``q @ k^T``, softmax, ``@ v`` (never fused
  SDPA); binarised qkv/proj, signed Q/K, GSB on V and on the attention matrix, the learnable
  shifts (per head for q/k/v, ``[H, N, N]`` on the attention matrix).
- :class:`BinaryMlp` (``mlp_layer``): BWN fc1/fc2, signed fc1 input, unsigned fc2 input.
- :class:`QPatchEmbed` (``embed_layer``): 8-bit LSQ conv weights, per output channel.
- :class:`QHead`: 8-bit LSQ classifier head (weights and inputs, learnable input shift).

Every layer takes a :class:`golden.model_cfg.GSBCfg` (``qcfg``). The parameters are the same
in both stages (a stage-2 model loads a stage-1 checkpoint strictly); ``qcfg.stage`` only
selects which quantizers run. Scales are initialised on their first forward call (any
mode) and the ``initialized`` buffers travel in checkpoints. timm's hooks take classes, so
:func:`bind_layer` makes a subclass with the config bound as a constructor default.
"""

from __future__ import annotations

import functools

import torch
import torch.nn.functional as F
from timm.layers import PatchEmbed
from torch import Tensor, nn

from golden.kernels import code_range
from golden.model_cfg import GSBCfg
from models import gsb

__all__ = [
    "BinaryLinear",
    "BinaryMlp",
    "GSBAttnQuantizer",
    "GSBValueQuantizer",
    "LSQQuantizer",
    "LearnableBias",
    "QAttention",
    "QHead",
    "QPatchEmbed",
    "SignedBinarizer",
    "UnsignedBinarizer",
    "bind_layer",
]


def bind_layer(cls: type, /, **defaults) -> type:
    """Return a subclass of ``cls`` whose constructor defaults to ``defaults``.

    timm's ``attn_layer``/``mlp_layer``/``embed_layer`` hooks need classes (timm calls
    ``issubclass`` on them), so :func:`functools.partial` does not fit.
    """
    init = functools.partialmethod(cls.__init__, **defaults)
    return type(cls.__name__, (cls,), {"__init__": init, "__module__": cls.__module__})


class LearnableBias(nn.Module):
    """Learnable additive shift of a given shape (zeros at start), broadcast over ``x``."""

    def __init__(self, *shape: int):
        super().__init__()
        self.bias = nn.Parameter(torch.zeros(shape))

    def forward(self, x: Tensor) -> Tensor:
        return x + self.bias


class _Scaled(nn.Module):
    """A learnable scale vector, initialised from the first tensor it sees."""

    def __init__(self, shape: tuple, eps: float):
        super().__init__()
        self.alpha = nn.Parameter(torch.ones(shape))
        self.register_buffer("initialized", torch.tensor(False))
        self.eps = eps

    def scales(self) -> Tensor:
        """Effective (clamped) scales used by the forward pass."""
        return gsb.clamp_scale(self.alpha.detach(), self.eps)

    def _first(self, init, x: Tensor) -> bool:
        """Set the scales to ``init(x)`` unless already initialised; return whether set."""
        if bool(self.initialized):
            return False
        with torch.no_grad():
            self.alpha.copy_(init(x).reshape(self.alpha.shape))
            self.initialized.fill_(True)
        return True


class SignedBinarizer(_Scaled):
    """``alpha * sign(x)`` (:func:`models.gsb.binarize_signed`), ``alpha = 2 mean|x|`` at start."""

    def __init__(self, eps: float = 1e-5):
        super().__init__((), eps)

    def forward(self, x: Tensor) -> Tensor:
        self._first(gsb.init_signed_scale, x)
        return gsb.binarize_signed(x, self.alpha, eps=self.eps)

    def codes(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """Return ``(sign int8 in {-1, 0, 1}, alpha)``; forward value is their product."""
        return torch.sign(x.detach()).to(torch.int8), self.scales()


class UnsignedBinarizer(_Scaled):
    """``alpha * [x/alpha > 0.5]`` (:func:`models.gsb.binarize_unsigned`), init ``4 mean|x|``."""

    def __init__(self, eps: float = 1e-5):
        super().__init__((), eps)

    def forward(self, x: Tensor) -> Tensor:
        self._first(gsb.init_unsigned_scale, x)
        return gsb.binarize_unsigned(x, self.alpha, eps=self.eps)

    def codes(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """Return ``(bit uint8 in {0, 1}, alpha)``; the bit is ``x / alpha > 0.5``."""
        a = self.scales()
        return torch.clamp(torch.round(x.detach() / a), 0, 1).to(torch.uint8), a


class GSBAttnQuantizer(_Scaled):
    """GSB of the attention matrix (:func:`models.gsb.gsb_attention`), ``groups`` scales.

    On the initialising call the stored scales are :func:`models.gsb.init_attention_scales`
    and that call alone uses their residuals (:func:`models.gsb.residual_scales`), as the
    reference; with ``qcfg.residual_init`` the residuals are stored.
    """

    def __init__(self, qcfg: GSBCfg):
        super().__init__((qcfg.groups,), qcfg.eps)
        self.thresholds, self.per_image = qcfg.thresholds, qcfg.per_image
        self.residual_init = qcfg.residual_init

    def _masks(self, x: Tensor) -> list[Tensor]:
        return gsb.group_masks(x, self.thresholds, two_tailed=False, per_image=self.per_image)

    def forward(self, a: Tensor) -> Tensor:
        alphas = self.alpha
        if not bool(self.initialized):
            init = gsb.init_attention_scales(a, self._masks(a))
            self._first(gsb.residual_scales if self.residual_init else torch.clone, init)
            if not self.residual_init:
                alphas = alphas - (alphas - gsb.residual_scales(alphas)).detach()
        return gsb.gsb_attention(
            a, alphas, thresholds=self.thresholds, per_image=self.per_image, eps=self.eps
        )

    def codes(self, a: Tensor) -> tuple[Tensor, Tensor]:
        """Return ``(planes bool [groups, *a.shape], alphas)``.

        Plane 0 is ``a / alpha_1 > 0.5``; plane ``k`` is mask ``T_k``. The forward value
        is ``sum_k alphas[k] * planes[k]``.
        """
        al = self.scales()
        base = torch.round(a.detach() / al[0]) >= 1
        return torch.stack([base, *self._masks(a)]), al


class GSBValueQuantizer(_Scaled):
    """GSB of V (:func:`models.gsb.gsb_value`): sign plus two-tailed masks, ``groups`` scales."""

    def __init__(self, qcfg: GSBCfg):
        super().__init__((qcfg.groups,), qcfg.eps)
        self.thresholds, self.per_image = qcfg.thresholds, qcfg.per_image
        self.residual_init = qcfg.residual_init

    def _masks(self, x: Tensor) -> list[Tensor]:
        return gsb.group_masks(x, self.thresholds, two_tailed=True, per_image=self.per_image)

    def forward(self, v: Tensor) -> Tensor:
        alphas = self.alpha
        if not bool(self.initialized):
            init = gsb.init_value_scales(v, self._masks(v))
            self._first(gsb.residual_scales if self.residual_init else torch.clone, init)
            if not self.residual_init:
                alphas = alphas - (alphas - gsb.residual_scales(alphas)).detach()
        return gsb.gsb_value(
            v, alphas, thresholds=self.thresholds, per_image=self.per_image, eps=self.eps
        )

    def codes(self, v: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """Return ``(sign int8, masks bool [groups - 1, *v.shape], alphas)``.

        The forward value is ``sign * (alphas[0] + sum_k alphas[k + 1] * masks[k])``.
        """
        masks = self._masks(v)
        stacked = torch.stack(masks) if masks else torch.zeros((0, *v.shape), dtype=torch.bool)
        return torch.sign(v.detach()).to(torch.int8), stacked, self.scales()


class LSQQuantizer(_Scaled):
    """Signed ``bits``-bit LSQ (:func:`models.gsb.lsq_quantize`), ``n`` scales (per channel).

    Initial scale ``2 mean|x| / sqrt(Qp)`` (one value for all channels, as the reference).
    """

    def __init__(self, bits: int, n: int | None = None, eps: float = 1e-5):
        super().__init__(() if n is None else (n,), eps)
        self.bits = bits

    def forward(self, x: Tensor) -> Tensor:
        self._first(lambda t: gsb.init_lsq_scale(t, bits=self.bits).expand(self.alpha.shape), x)
        alpha = self.alpha
        if alpha.dim() == 1:  # per output channel: dim 0 of x
            alpha = alpha.reshape((-1,) + (1,) * (x.dim() - 1))
        return gsb.lsq_quantize(x, alpha, bits=self.bits, eps=self.eps)

    def codes(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """Return ``(q int32, alpha)`` with ``q = clamp(round(x / alpha), Qn, Qp)``."""
        a = self.scales()
        if a.dim() == 1:
            a = a.reshape((-1,) + (1,) * (x.dim() - 1))
        lo, hi = code_range(self.bits)
        return torch.clamp(torch.round(x.detach() / a), lo, hi).to(torch.int32), a


class BinaryLinear(nn.Linear):
    """Linear layer with BWN weights and a binarised, shifted input.

    ``y = binarize(x + shift) @ bwn(W)^T + b``; the weight is ``[out, in]``. ``act``
    selects the signed (qkv, proj, fc1) or unsigned (fc2, after GELU) binariser.
    ``quant_weight``/``quant_act`` switch the two halves (stage 1 uses only weights).
    """

    def __init__(
            self,
            in_features: int,
            out_features: int,
            bias: bool = True,
            *,
            act: str = "signed",
            quant_weight: bool = True,
            quant_act: bool = True,
            eps: float = 1e-5,
            device=None,
            dtype=None,
    ):
        super().__init__(in_features, out_features, bias=bias, device=device, dtype=dtype)
        self.quant_weight, self.quant_act = quant_weight, quant_act
        self.move = LearnableBias(in_features)
        self.act_quant = SignedBinarizer(eps) if act == "signed" else UnsignedBinarizer(eps)

    def forward(self, x: Tensor) -> Tensor:
        w = gsb.bwn(self.weight) if self.quant_weight else self.weight
        if self.quant_act:
            x = self.act_quant(self.move(x))
        return F.linear(x, w, self.bias)

    def binary_weight(self) -> tuple[Tensor, Tensor]:
        """Return ``(signs int8 [out, in], scale)`` of the BWN weight."""
        return gsb.bwn_parts(self.weight)


class BinaryMlp(nn.Module):
    """timm ``Mlp`` signature; BWN fc1/fc2, GELU clipped to ``[-act_clip, act_clip]``.

    Stage 1 binarises the weights only; stage 2 also the fc1 input (signed) and the fc2
    input (unsigned, ``{0, alpha}``).
    """

    def __init__(
            self,
            in_features: int,
            hidden_features: int | None = None,
            out_features: int | None = None,
            act_layer: type[nn.Module] = nn.GELU,
            norm_layer: type[nn.Module] | None = None,
            bias: bool = True,
            drop: float = 0.0,
            device=None,
            dtype=None,
            *,
            qcfg: GSBCfg,
    ):
        super().__init__()
        if norm_layer is not None:
            raise ValueError("BinaryMlp does not support an inner norm layer")
        hidden_features = hidden_features or in_features
        out_features = out_features or in_features
        full = qcfg.stage == 2
        dd = {"quant_act": full, "eps": qcfg.eps, "device": device, "dtype": dtype}
        self.fc1 = BinaryLinear(in_features, hidden_features, bias, act="signed", **dd)
        self.act = act_layer()
        self.drop1 = nn.Dropout(drop)
        self.fc2 = BinaryLinear(hidden_features, out_features, bias, act="unsigned", **dd)
        self.drop2 = nn.Dropout(drop)
        self.act_clip = qcfg.act_clip

    def forward(self, x: Tensor) -> Tensor:
        x = self.act(self.fc1(x)).clamp(-self.act_clip, self.act_clip)
        return self.drop2(self.fc2(self.drop1(x)))


class QAttention(nn.Module):
    """Multi-head self-attention with explicit matmuls, optionally binarised with GSB.

    Takes timm's ``attn_layer`` keywords plus ``qcfg`` (``None``: float attention, the
    teacher) and ``num_tokens`` (N, for the ``[H, N, N]`` attention shift). Stage 2 path:
    ``q, k, v = qkv(x)`` (binary linear), per-head shifts, ``q, k`` signed-binarised,
    ``v`` GSB-coded, ``softmax(q k^T / sqrt(d)) + shift`` GSB-coded, ``@ v``, binary proj.
    """

    def __init__(
            self,
            dim: int,
            num_heads: int = 8,
            qkv_bias: bool = False,
            qk_norm: bool = False,
            scale_norm: bool = False,
            proj_bias: bool = True,
            attn_drop: float = 0.0,
            proj_drop: float = 0.0,
            norm_layer: type[nn.Module] | None = None,
            device=None,
            dtype=None,
            *,
            qcfg: GSBCfg | None = None,
            num_tokens: int | None = None,
    ):
        super().__init__()
        if qk_norm or scale_norm:
            raise ValueError("QAttention does not support qk_norm or scale_norm")
        if dim % num_heads:
            raise ValueError(f"dim ({dim}) must be a multiple of num_heads ({num_heads})")
        self.num_heads, self.head_dim = num_heads, dim // num_heads
        self.scale = self.head_dim**-0.5
        self.qcfg = qcfg
        dd = {"device": device, "dtype": dtype}
        if qcfg is None:
            self.qkv = nn.Linear(dim, 3 * dim, bias=qkv_bias, **dd)
            self.proj = nn.Linear(dim, dim, bias=proj_bias, **dd)
        else:
            if num_tokens is None:
                raise ValueError("a binarised QAttention needs num_tokens")
            full = qcfg.stage == 2
            kw = {"quant_weight": full, "quant_act": full, "eps": qcfg.eps, **dd}
            self.qkv = BinaryLinear(dim, 3 * dim, qkv_bias, **kw)
            self.proj = BinaryLinear(dim, dim, proj_bias, **kw)
            self.move_q = LearnableBias(num_heads, 1, self.head_dim)
            self.move_k = LearnableBias(num_heads, 1, self.head_dim)
            self.move_v = LearnableBias(num_heads, 1, self.head_dim)
            self.move_attn = LearnableBias(num_heads, num_tokens, num_tokens)
            self.q_quant = SignedBinarizer(qcfg.eps)
            self.k_quant = SignedBinarizer(qcfg.eps)
            self.v_quant = GSBValueQuantizer(qcfg)
            self.attn_quant = GSBAttnQuantizer(qcfg)
        self.attn_drop = nn.Dropout(attn_drop)
        self.proj_drop = nn.Dropout(proj_drop)

    @property
    def binarized(self) -> bool:
        """Whether the activations are binarised (stage 2)."""
        return self.qcfg is not None and self.qcfg.stage == 2

    def forward(self, x: Tensor, attn_mask: Tensor | None = None, is_causal: bool = False):
        if attn_mask is not None or is_causal:
            raise ValueError("QAttention does not support attention masks")
        b, n, c = x.shape
        qkv = self.qkv(x).reshape(b, n, 3, self.num_heads, self.head_dim).permute(2, 0, 3, 1, 4)
        q, k, v = qkv.unbind(0)  # [B, H, N, d]
        if self.binarized:
            q = self.q_quant(self.move_q(q))
            k = self.k_quant(self.move_k(k))
            v = self.v_quant(self.move_v(v))
        attn = ((q @ k.transpose(-2, -1)) * self.scale).softmax(dim=-1)
        if self.binarized:
            attn = self.attn_quant(self.attn_drop(self.move_attn(attn)))
        else:
            attn = self.attn_drop(attn)
        x = (attn @ v).transpose(1, 2).reshape(b, n, c)
        return self.proj_drop(self.proj(x))


class _QConv2d(nn.Conv2d):
    """Conv2d whose weight goes through a per-output-channel LSQ quantizer when enabled."""

    def __init__(self, conv: nn.Conv2d, qcfg: GSBCfg):
        super().__init__(
            conv.in_channels, conv.out_channels, conv.kernel_size, stride=conv.stride,
            bias=conv.bias is not None, device=conv.weight.device, dtype=conv.weight.dtype,
        )
        with torch.no_grad():
            self.weight.copy_(conv.weight)
            if conv.bias is not None:
                self.bias.copy_(conv.bias)
        self.enabled = qcfg.stage == 2
        self.w_quant = LSQQuantizer(qcfg.embed_bits, conv.out_channels, qcfg.eps)

    def forward(self, x: Tensor) -> Tensor:
        w = self.w_quant(self.weight) if self.enabled else self.weight
        return self._conv_forward(x, w, self.bias)


class QPatchEmbed(PatchEmbed):
    """timm ``PatchEmbed`` with ``qcfg.embed_bits``-bit LSQ weights (stage 2), float image."""

    def __init__(self, *args, qcfg: GSBCfg, **kwargs):
        super().__init__(*args, **kwargs)
        self.proj = _QConv2d(self.proj, qcfg)


class FromLinear:
    """Mixin for quantized ``nn.Linear`` subclasses built as ``cls(in, out, qcfg=...)``."""

    @classmethod
    def from_linear(cls, linear: nn.Linear, qcfg):
        """Return a layer of this class with the parameters of ``linear`` (e.g. timm's
        initialised head)."""
        layer = cls(linear.in_features, linear.out_features, qcfg=qcfg)
        with torch.no_grad():
            layer.weight.copy_(linear.weight)
            layer.bias.copy_(linear.bias)
        return layer


class QHead(FromLinear, nn.Linear):
    """Classifier head: ``lsq(x + shift) @ lsq(W)^T + b`` at ``embed_bits`` (stage 2)."""

    def __init__(self, in_features: int, out_features: int, *, qcfg: GSBCfg, device=None,
                 dtype=None):
        super().__init__(in_features, out_features, device=device, dtype=dtype)
        self.enabled = qcfg.stage == 2
        self.move = LearnableBias(in_features)
        self.w_quant = LSQQuantizer(qcfg.embed_bits, eps=qcfg.eps)
        self.x_quant = LSQQuantizer(qcfg.embed_bits, eps=qcfg.eps)

    def forward(self, x: Tensor) -> Tensor:
        if not self.enabled:
            return super().forward(x)
        return F.linear(self.x_quant(self.move(x)), self.w_quant(self.weight), self.bias)

