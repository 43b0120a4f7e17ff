"""Turn a trained binary/GSB ViT into an integer network (op records + integer parameters).

This is the only place where float scales become integers. The network is the one that
``golden.network.run_network`` (numpy) and :class:`models.intmode.IntegerViT` (torch) run;
see ``golden/network.py`` for the op kinds. Numeric choices, each recorded in the result:

- image codes: ``round(x / s_img)`` in int8, ``s_img`` a power of two (1/64 on digits,
  where every pixel is then exact);
- residual stream: int16 at one scale ``s_x`` for the whole network, from calibration
  (max |x| over every residual point, with 2x headroom), so residual adds are plain
  saturating adds;
- binarisers (signed ``sign(x + shift)``, unsigned ``x/alpha > 0.5``) become one integer
  threshold per channel on the preceding integer tensor (a LayerNorm output, a binary
  matmul accumulator, the GSB A·V accumulator or the GELU output);
- V at its own calibrated scale (17-bit), the GSB masks as exact ``den * x > num * max``;
- softmax logits ``dot << in_shift`` (logit step at most 1/64), 16-bit probabilities, the
  ``[H, N, N]`` attention shift added at 2**-16, the base plane as ``a > theta``;
- A·V plane-pair weights ``alpha_p * beta_r`` at 2**F_av with the largest near 2**14;
- GELU input at 2**-10 (I-BERT needs a fine scale), output clipped at ``act_clip``;
- heads: LayerNorm -> int8 (per-channel signed multiplier: gamma may be negative) ->
  int8 x int8 matmul -> logits at 2**-10 (two heads summed when distilled).

Requantisers use 16-bit signed multipliers with a common shift per op; every op records a
static accumulator bound (``acc_bound``) and the export checks that it fits.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from golden.errors import VitsimError
from golden.intops import ratio
from golden.kernels import code_range
from golden.netspec import Network, Op
from golden.nonlinear import gelu_params, layernorm_params, softmax_params

__all__ = ["IntNet", "calibrate", "export_int_network"]

RES_BITS = 16  # residual stream width
V_BITS = 17  # V width before the GSB planes
GELU_IN_SHIFT = 10  # GELU input scale 2**-10
GELU_IN_BITS = 22
ATTN_BITS = 16  # softmax probabilities at 2**-16
AV_WEIGHT_BITS = 14  # largest A·V plane-pair weight ~ 2**14
LOGIT_SHIFT = 10  # logits at 2**-10
MULT_BITS = 16  # requantiser multipliers (signed)


@dataclass
class IntNet:
    """An integer network: ``ops`` (records), ``params`` (int arrays) and ``meta`` (scales)."""

    ops: list[Op]
    params: dict[str, np.ndarray]
    meta: dict = field(default_factory=dict)
    widths: dict[str, tuple[int, bool]] = field(default_factory=dict)  # declared param widths

    def quantize_images(self, x: np.ndarray) -> np.ndarray:
        """Image codes ``clamp(round(x / s_img), -128, 127)`` (int8) of float images."""
        codes = np.round(np.asarray(x, np.float64) / self.meta["s_img"])
        return np.clip(codes, -128, 127).astype(np.int8)


def _np(t) -> np.ndarray:
    return t.detach().cpu().double().numpy()


class _Builder:
    def __init__(self):
        self.ops: list[dict] = []
        self.params: dict[str, np.ndarray] = {}
        self.widths: dict[str, tuple[int, bool]] = {}

    def param(self, name: str, value, dtype=np.int64, *, bits: int | None = None,
              signed: bool = True) -> str:
        """Add a parameter; ``bits``/``signed`` declare its width (1 bit: a bit-plane)."""
        self.params[name] = np.ascontiguousarray(np.asarray(value).astype(dtype))
        if bits is not None:
            self.widths[name] = (bits, signed)
        return name

    def op(self, name: str, kind: str, inputs: list[str], *, outputs=None, layer=None,
           **fields) -> str | list[str]:
        outputs = outputs or [name]
        self.ops.append({"name": name, "kind": kind, "layer": layer, "head": None,
                         "inputs": inputs, "outputs": outputs, **fields})
        return outputs[0] if len(outputs) == 1 else outputs

    def requant(self, name: str, x: str, scale, bias_out, *, bits: int, acc_max: int,
                layer=None, lo=None, hi=None) -> str:
        """``x * scale + bias_out`` rounded to ``bits`` (scale, bias broadcast on x)."""
        scale = np.asarray(scale, np.float64)
        bias_out = np.asarray(bias_out, np.float64)
        top = float(np.abs(scale).max())
        shift = int(np.clip(math.floor(math.log2(((1 << (MULT_BITS - 1)) - 1) / top)), 1, 62))
        mult = np.round(scale * 2.0**shift)
        bias = np.round(np.clip(bias_out, -(2.0**40), 2.0**40) * 2.0**shift)
        bound = acc_max * np.abs(mult).max() + np.abs(bias).max() + 2.0 ** (shift - 1)
        if bound >= 2.0**62:
            raise VitsimError(f"op {name!r}: requantiser bound {bound:.3g} overflows int64")
        lo_, hi_ = code_range(bits)
        return self.op(name, "requant", [x, self.param(f"{name}.mult", mult),
                                         self.param(f"{name}.bias", bias)],
                       layer=layer, shift=shift, lo=lo_ if lo is None else lo,
                       hi=hi_ if hi is None else hi, out_bits=bits, out_signed=True,
                       acc_bound=[-int(bound), int(bound)])

    def head_logits(self, name: str, acc: str, s_acc, bias, *, acc_max: int) -> str:
        """A classifier's accumulators to logits at ``2**-LOGIT_SHIFT`` (31-bit)."""
        return self.requant(f"{name}.logits", acc, np.asarray(s_acc) * 2**LOGIT_SHIFT,
                            np.asarray(bias) * 2**LOGIT_SHIFT, bits=32, acc_max=acc_max,
                            lo=-(1 << 30), hi=(1 << 30) - 1)

    def finish(self, logits: list[str], meta: dict) -> IntNet:
        """Name the network's output ``logits``: the sum of two heads' logits (a distilled
        model; ``meta['logit_scale']`` halves, for their mean) or the one head's."""
        if len(logits) == 2:
            self.op("logits", "add", logits, out_bits=32)
            meta["logit_scale"] /= 2
        else:
            self.ops[-1]["outputs"] = ["logits"]
        meta["outputs"] = "logits"
        return IntNet(list(Network.from_list(self.ops)), self.params, meta, self.widths)

    def threshold(self, name: str, x: str, scale, offset, *, unsigned_half=None,
                  layer=None) -> str:
        """Bit of ``x * scale + offset >= 0`` (signed binariser) or, given
        ``unsigned_half = alpha / 2``, of ``x * scale + offset > alpha / 2``."""
        scale = np.broadcast_to(np.asarray(scale, np.float64), np.shape(offset))
        offset = np.asarray(offset, np.float64)
        big = 2.0**62
        with np.errstate(divide="ignore", invalid="ignore"):
            if unsigned_half is None:  # x*s + o >= 0
                t = -offset / scale
                theta = np.where(scale > 0, np.ceil(t), np.floor(t))
                const = np.where(offset >= 0, -big, big)  # s == 0: always / never
            else:  # x*s + o > h
                t = (unsigned_half - offset) / scale
                theta = np.where(scale > 0, np.floor(t) + 1, np.ceil(t) - 1)
                const = np.where(offset > unsigned_half, -big, big)
        theta = np.where(scale == 0, const, np.clip(theta, -big, big))
        flip = scale < 0
        return self.op(name, "threshold", [x, self.param(f"{name}.theta", theta),
                                           self.param(f"{name}.flip", flip, np.uint8)],
                       layer=layer, out_bits=1, out_signed=False)


@torch.no_grad()
def calibrate(model: nn.Module, images: torch.Tensor) -> dict:
    """Ranges the export needs, from a float forward pass of ``images`` (per image GSB).

    Returns ``{"x_max": max |residual|, "v_max": [max |V| per block]}``.
    """
    stats = {"x": 0.0, "v": [0.0] * len(model.blocks)}

    def res(_m, args, out=None):
        t = args[0] if out is None else out
        stats["x"] = max(stats["x"], float(t.abs().max()))

    hooks = []
    for i, blk in enumerate(model.blocks):
        hooks.append(blk.register_forward_pre_hook(res))
        hooks.append(blk.norm2.register_forward_pre_hook(res))
        hooks.append(blk.register_forward_hook(res))

        def v_hook(_m, args, i=i):
            stats["v"][i] = max(stats["v"][i], float(args[0].abs().max()))
        hooks.append(blk.attn.v_quant.register_forward_pre_hook(v_hook))
    try:
        model(images)
    finally:
        for h in hooks:
            h.remove()
    return {"x_max": stats["x"], "v_max": stats["v"]}


def _check_model(model: nn.Module) -> None:
    qcfg = getattr(model, "gsb_cfg", None)
    if qcfg is None or qcfg.stage != 2:
        raise VitsimError("integer mode needs a binary or gsb model at stage 2 "
                          f"(got {getattr(model, 'vitsim_name', type(model).__name__)})")
    if not qcfg.per_image:
        raise VitsimError("integer mode needs per-image GSB reductions (set_per_image)")


def export_int_network(model: nn.Module, calib: torch.Tensor) -> IntNet:
    """Export a stage-2 binary/GSB ViT (per-image reductions) as an :class:`IntNet`.

    ``calib`` are float images for the residual and V ranges (a few hundred suffice).
    """
    _check_model(model)
    model.eval()
    stats = calibrate(model, calib)
    cfg, qcfg = model.vit_cfg, model.gsb_cfg
    s_img = 2.0 ** -math.floor(math.log2(127 / max(float(calib.abs().max()), 1e-8)))
    s_x = 2 * stats["x_max"] / ((1 << (RES_BITS - 1)) - 1)
    b = _Builder()
    ratios = [list(ratio(t)) for t in qcfg.thresholds]
    meta = {"s_img": s_img, "s_x": s_x, "logit_scale": 2.0**-LOGIT_SHIFT,
            "num_tokens": cfg.num_tokens, "embed_dim": cfg.embed_dim,
            "num_heads": cfg.num_heads, "depth": cfg.depth, "ratios": ratios}

    # patch embedding + class/distillation tokens + position embedding -> residual codes
    conv = model.patch_embed.proj
    w_q, alpha = conv.w_quant.codes(conv.weight)
    w_q = w_q.reshape(w_q.shape[0], -1).cpu().numpy()
    k = w_q.shape[1]
    eb = qcfg.embed_bits
    acc = b.op("patch_embed", "patch_matmul", ["image", b.param("patch_embed.w", w_q, bits=eb)],
               patch=cfg.patch_size, a_bits=8, w_bits=eb, acc_bound=[-k * 128 * (1 << eb - 1),
                                                                    k * 128 * (1 << eb - 1)])
    pos = _np(model.pos_embed)[0]
    n_pre = cfg.num_tokens - cfg.num_patches
    scale = (s_img * _np(alpha).reshape(-1)) / s_x
    x = b.requant("patch_embed.out", acc, scale[None, :],
                  (_np(conv.bias)[None, :] + pos[n_pre:]) / s_x, bits=RES_BITS,
                  acc_max=k * 128 * (1 << eb - 1))
    pre = [model.cls_token] + ([model.dist_token] if cfg.distilled else [])
    tokens = np.stack([_np(t).reshape(-1) for t in pre]) + pos[:n_pre]
    tok = np.clip(np.round(tokens / s_x), *code_range(RES_BITS))
    x = b.op("tokens", "prepend", [x, b.param("tokens.rows", tok)], out_bits=RES_BITS)

    for i, blk in enumerate(model.blocks):
        x = _export_block(b, blk, x, i, cfg, qcfg, s_x, stats["v_max"][i], ratios)

    logits = []
    heads = [("head", model.head, 0)] + ([("head_dist", model.head_dist, 1)]
                                          if cfg.distilled else [])
    for name, head, index in heads:
        t = b.op(f"{name}.token", "take_token", [x], index=index)
        n = b.op(f"{name}.norm", "layernorm", [t], dim=cfg.embed_dim,
                 guard=layernorm_params(cfg.embed_dim).guard)
        s_n = layernorm_params(cfg.embed_dim).out_scale
        a_x = float(head.x_quant.scales())
        gamma, beta = _np(model.norm.weight), _np(model.norm.bias)
        xq = b.requant(f"{name}.in", n, gamma * s_n / a_x, (beta + _np(head.move.bias)) / a_x,
                       bits=eb, acc_max=1 << 31)
        wq, a_w = head.w_quant.codes(head.weight)
        kk = cfg.embed_dim
        bound = kk * (1 << (eb - 1)) ** 2
        acc = b.op(name, "int_matmul", [xq, b.param(f"{name}.w", wq.cpu().numpy(), bits=eb)],
                   a_bits=eb, w_bits=eb, acc_bound=[-bound, bound])
        logits.append(b.head_logits(name, acc, a_x * float(a_w), _np(head.bias), acc_max=bound))
    return b.finish(logits, meta)


def _ln_threshold(b, name, n, norm, lin, layer):
    """Bits of ``sign(LN(x) + move)`` on the integer LayerNorm output ``n``."""
    s_n = layernorm_params(norm.weight.numel()).out_scale
    offset = _np(norm.bias) + _np(lin.move.bias)
    return b.threshold(name, n, _np(norm.weight) * s_n, offset, layer=layer)


def _wparam(b: _Builder, name: str, bits: np.ndarray) -> str:
    """A binary weight parameter: a {0,1} plane, 1 codes +1."""
    return b.param(name, bits, np.uint8, bits=1, signed=False)


def _bwn_bits(lin) -> tuple[np.ndarray, float]:
    signs, beta = lin.binary_weight()
    return (signs.cpu().numpy() >= 0).astype(np.uint8), float(beta)


def _export_block(b: _Builder, blk, x: str, i: int, cfg, qcfg, s_x: float, v_max: float,
                  ratios) -> str:
    p = f"blocks.{i}"
    attn, mlp = blk.attn, blk.mlp
    h, d, n_tok, c = cfg.num_heads, cfg.head_dim, cfg.num_tokens, cfg.embed_dim
    dim_ln = dict(dim=c, guard=layernorm_params(c).guard)

    # --- attention ---
    n1 = b.op(f"{p}.norm1", "layernorm", [x], layer=i, **dim_ln)
    bits = _ln_threshold(b, f"{p}.attn.qkv.in", n1, blk.norm1, attn.qkv, i)
    w_bits, beta = _bwn_bits(attn.qkv)
    acc = b.op(f"{p}.attn.qkv", "binary_matmul", [bits, _wparam(b, f"{p}.attn.qkv.w", w_bits)],
               layer=i, mode="xnor", acc_bound=[-c, c])
    q, k, v = b.op(f"{p}.attn.split", "split_heads", [acc], layer=i, num_heads=h,
                   outputs=[f"{p}.attn.q_acc", f"{p}.attn.k_acc", f"{p}.attn.v_acc"])
    s_acc = float(attn.qkv.act_quant.scales()) * beta
    bias = _np(attn.qkv.bias).reshape(3, h, 1, d)
    qb = b.threshold(f"{p}.attn.q", q, s_acc, bias[0] + _np(attn.move_q.bias), layer=i)
    kb = b.threshold(f"{p}.attn.k", k, s_acc, bias[1] + _np(attn.move_k.bias), layer=i)
    s_v = max(v_max, 1e-8) / (1 << (V_BITS - 3))
    vi = b.requant(f"{p}.attn.v", v, s_acc / s_v, (bias[2] + _np(attn.move_v.bias)) / s_v,
                   bits=V_BITS, acc_max=c, layer=i)
    v_sign, v_masks = b.op(f"{p}.attn.v_planes", "gsb_value_planes", [vi], layer=i,
                           ratios=ratios, outputs=[f"{p}.attn.v_sign", f"{p}.attn.v_masks"])
    dots = b.op(f"{p}.attn.qk", "binary_matmul", [qb, kb], layer=i, mode="xnor",
                acc_bound=[-d, d])
    s_logit = float(attn.q_quant.scales()) * float(attn.k_quant.scales()) * attn.scale
    in_shift = max(0, math.ceil(math.log2(s_logit * 64)))
    sp = softmax_params(s_logit / 2**in_shift, out_bits=ATTN_BITS)
    probs = b.op(f"{p}.attn.softmax", "softmax", [dots], layer=i, in_shift=in_shift,
                 out_signed=False, **sp.to_dict())
    shift_attn = np.round(_np(attn.move_attn.bias) * 2**ATTN_BITS)
    a = b.op(f"{p}.attn.shift", "add", [probs, b.param(f"{p}.attn.shift.bias", shift_attn)],
             layer=i, out_bits=32)
    al = _np(attn.attn_quant.scales())
    planes = b.op(f"{p}.attn.a_planes", "gsb_attn_planes", [a], layer=i, ratios=ratios,
                  base_theta=int(math.floor(al[0] * 2 ** (ATTN_BITS - 1))))
    be = _np(attn.v_quant.scales())
    pair = np.outer(al, be)
    f_av = math.floor(math.log2((1 << AV_WEIGHT_BITS) / pair.max()))
    weights = np.round(pair * 2.0**f_av)
    av_bound = n_tok * int(np.abs(weights).sum())
    av = b.op(f"{p}.attn.av", "gsb_av", [planes, v_sign, v_masks,
                                         b.param(f"{p}.attn.av.weights", weights)],
              layer=i, frac_bits=f_av, acc_bound=[-av_bound, av_bound])
    merged = b.op(f"{p}.attn.merge", "merge_heads", [av], layer=i)
    pb = b.threshold(f"{p}.attn.proj.in", merged, 2.0**-f_av, _np(attn.proj.move.bias),
                     layer=i)
    w_bits, beta = _bwn_bits(attn.proj)
    acc = b.op(f"{p}.attn.proj", "binary_matmul", [pb, _wparam(b, f"{p}.attn.proj.w", w_bits)],
               layer=i, mode="xnor", acc_bound=[-c, c])
    s_acc = float(attn.proj.act_quant.scales()) * beta
    y = b.requant(f"{p}.attn.out", acc, s_acc / s_x, _np(attn.proj.bias) / s_x,
                  bits=RES_BITS, acc_max=c, layer=i)
    x = b.op(f"{p}.res1", "add", [x, y], layer=i, out_bits=RES_BITS)

    # --- MLP ---
    n2 = b.op(f"{p}.norm2", "layernorm", [x], layer=i, **dim_ln)
    bits = _ln_threshold(b, f"{p}.mlp.fc1.in", n2, blk.norm2, mlp.fc1, i)
    w_bits, beta = _bwn_bits(mlp.fc1)
    acc = b.op(f"{p}.mlp.fc1", "binary_matmul", [bits, _wparam(b, f"{p}.mlp.fc1.w", w_bits)],
               layer=i, mode="xnor", acc_bound=[-c, c])
    s_acc = float(mlp.fc1.act_quant.scales()) * beta
    g = b.requant(f"{p}.mlp.fc1.out", acc, s_acc * 2**GELU_IN_SHIFT,
                  _np(mlp.fc1.bias) * 2**GELU_IN_SHIFT, bits=GELU_IN_BITS, acc_max=c, layer=i)
    gp = gelu_params(2.0**-GELU_IN_SHIFT)
    clip = math.floor(qcfg.act_clip / abs(gp.out_scale))
    gy = b.op(f"{p}.mlp.gelu", "gelu", [g], layer=i, clip=clip, **gp.to_dict())
    fc2 = mlp.fc2
    bits = b.threshold(f"{p}.mlp.fc2.in", gy, gp.out_scale, _np(fc2.move.bias),
                       unsigned_half=float(fc2.act_quant.scales()) / 2, layer=i)
    w_bits, beta = _bwn_bits(fc2)
    hid = cfg.hidden_dim
    acc = b.op(f"{p}.mlp.fc2", "binary_matmul", [bits, _wparam(b, f"{p}.mlp.fc2.w", w_bits)],
               layer=i, mode="and", acc_bound=[-hid, hid])
    s_acc = float(fc2.act_quant.scales()) * beta
    y = b.requant(f"{p}.mlp.out", acc, s_acc / s_x, _np(fc2.bias) / s_x, bits=RES_BITS,
                  acc_max=hid, layer=i)
    return b.op(f"{p}.res2", "add", [x, y], layer=i, out_bits=RES_BITS)
