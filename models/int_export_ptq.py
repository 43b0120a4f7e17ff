"""Integer network of a float or mixed-rank (low-rank) ViT by 8-bit post-training quantisation.

The counterpart of :mod:`models.int_export` (GSB) and :mod:`models.int_export_qvit` for
models trained in float (``fp_*``), including those whose linears ``vitsim compress`` turned
into :class:`models.lowrank_layers.LowRankLinear` pairs: a low-rank layer runs as two chained
integer matmuls with an int8 intermediate. Numeric choices, each recorded in the ops:

- image codes as the GSB export (a power-of-two scale; exact on digits);
- residual stream int16 at one calibrated scale (2x headroom);
- every matmul input (LayerNorm outputs, q/k/v, the A·V output, the GELU output, the
  low-rank intermediate, the classifier input) int8 at a per-tensor scale
  ``max|x| / 127`` from calibration; the attention probabilities uint8 at 1/255;
- weights int8 per output channel: ``max|w_c| / 127``, or a low-rank factor's own LSQ
  scales when ``vitsim compress --w-bits 8`` quantized it;
- LayerNorm, softmax (logit step at most 1/64, 16-bit probabilities) and GELU (input
  2**-10) as the other exports.

Requantisers come from :class:`models.int_export._Builder` (16-bit signed multipliers,
static bound checked). Calibration uses per-tensor maxima, so a few hundred images suffice.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

from golden.errors import VitsimError
from golden.headwise import int_bmm_bound
from golden.kernels import code_range, dot_bound
from golden.nonlinear import gelu_params, layernorm_params, softmax_params
from models.int_export import (
    ATTN_BITS,
    GELU_IN_BITS,
    GELU_IN_SHIFT,
    LOGIT_SHIFT,
    RES_BITS,
    IntNet,
    _Builder,
    _np,
)
from models.lowrank_layers import LowRankLinear

__all__ = ["export_ptq_int_network"]

A_MAX = 127  # int8 activations


@torch.no_grad()
def _calibrate(model: nn.Module, images: torch.Tensor) -> dict[str, float]:
    """Max |x| of every quantised tensor, by name."""
    stats: dict[str, float] = {}

    def keep(name, t):
        stats[name] = max(stats.get(name, 0.0), float(t.detach().abs().max()))

    hooks = []

    def pre(name):
        return lambda _m, args: keep(name, args[0])

    def post(name):
        return lambda _m, _a, out: keep(name, out)

    for i, blk in enumerate(model.blocks):
        p = f"blocks.{i}"
        hooks += [blk.register_forward_pre_hook(pre("res")),
                  blk.norm2.register_forward_pre_hook(pre("res")),
                  blk.register_forward_hook(post("res")),
                  blk.norm1.register_forward_hook(post(f"{p}.norm1")),
                  blk.norm2.register_forward_hook(post(f"{p}.norm2")),
                  blk.attn.proj.register_forward_pre_hook(pre(f"{p}.attn.o")),
                  blk.mlp.fc2.register_forward_pre_hook(pre(f"{p}.mlp.gelu"))]

        def qkv_hook(_m, _a, out, p=p, h=blk.attn.num_heads):
            parts = out.reshape(out.shape[0], out.shape[1], 3, -1)
            for j, part in enumerate("qkv"):
                keep(f"{p}.attn.{part}", parts[:, :, j])
        hooks.append(blk.attn.qkv.register_forward_hook(qkv_hook))
        for name, lin in (("attn.qkv", blk.attn.qkv), ("attn.proj", blk.attn.proj),
                          ("mlp.fc1", blk.mlp.fc1), ("mlp.fc2", blk.mlp.fc2)):
            if isinstance(lin, LowRankLinear):
                def mid(_m, args, lin=lin, key=f"{p}.{name}.mid"):
                    keep(key, torch.nn.functional.linear(args[0], lin.factors()[0]))
                hooks.append(lin.register_forward_pre_hook(mid))
    hooks.append(model.norm.register_forward_hook(post("norm")))
    try:
        model(images)
    finally:
        for h in hooks:
            h.remove()
    return stats


def _scale(stats: dict, name: str, top: int = A_MAX) -> float:
    return max(stats.get(name, 0.0), 1e-8) / top


def _weight_codes(w: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
    """int8 codes and per-row scales ``max|w_row| / 127`` of a ``[out, in]`` weight."""
    w = _np(w)
    s = np.maximum(np.abs(w).max(axis=1), 1e-12) / A_MAX
    return np.clip(np.round(w / s[:, None]), -A_MAX, A_MAX), s


def _matmul(b: _Builder, name: str, x: str, codes: np.ndarray, layer) -> tuple[str, int]:
    k = codes.shape[1]
    lo, hi = dot_bound(k, a_bits=8, a_signed=True, w_bits=8, w_signed=True)
    out = b.op(name, "int_matmul", [x, b.param(f"{name}.w", codes, bits=8)], layer=layer,
               a_bits=8, w_bits=8, acc_bound=[lo, hi])
    return out, max(-lo, hi)


def _linear(b: _Builder, name: str, x: str, s_x: float, lin, stats, layer):
    """Integer matmul(s) of a dense or low-rank linear; returns ``(acc, acc scales [out],
    acc_max)``; the float bias is left to the caller's requantiser."""
    if not isinstance(lin, LowRankLinear):
        codes, s_w = _weight_codes(lin.weight)
        acc, top = _matmul(b, name, x, codes, layer)
        return acc, s_x * s_w, top
    wa, wb = lin.weight_a, lin.weight_b
    if lin.quantized:  # the factors' own 8-bit LSQ grid
        (ca, sa), (cb, sb) = (q.codes(w) for q, w in ((lin.quant_a, wa), (lin.quant_b, wb)))
        (ca, sa), (cb, sb) = (ca.numpy(), _np(sa).reshape(-1)), (cb.numpy(), _np(sb).reshape(-1))
    else:
        (ca, sa), (cb, sb) = _weight_codes(wa), _weight_codes(wb)
    acc, top = _matmul(b, f"{name}.a", x, ca, layer)
    s_mid = _scale(stats, f"{name}.mid")
    mid = b.requant(f"{name}.mid", acc, s_x * sa / s_mid, 0.0, bits=8, acc_max=top,
                    layer=layer)
    acc, top = _matmul(b, f"{name}.b", mid, cb, layer)
    return acc, s_mid * sb, top


def _ln_codes(b: _Builder, name: str, n: str, norm, s_out: float, layer) -> str:
    s_n = layernorm_params(norm.weight.numel()).out_scale
    return b.requant(name, n, _np(norm.weight) * s_n / s_out, _np(norm.bias) / s_out, bits=8,
                     acc_max=1 << 31, layer=layer)


def export_ptq_int_network(model: nn.Module, calib: torch.Tensor) -> IntNet:
    """Export a float (or mixed-rank) ViT as an 8-bit :class:`IntNet` (see module doc)."""
    if getattr(model, "gsb_cfg", None) is not None or getattr(model, "qvit_cfg", None):
        raise VitsimError("8-bit post-training export is for float and low-rank models")
    model.eval()
    stats = _calibrate(model, calib)
    cfg = model.vit_cfg
    b = _Builder()
    s_img = 2.0 ** -math.floor(math.log2(127 / max(float(calib.abs().max()), 1e-8)))
    s_x = 2 * stats["res"] / ((1 << (RES_BITS - 1)) - 1)
    meta = {"s_img": s_img, "s_x": s_x, "logit_scale": 2.0**-LOGIT_SHIFT, "scheme": "int8",
            "num_tokens": cfg.num_tokens, "embed_dim": cfg.embed_dim,
            "num_heads": cfg.num_heads, "depth": cfg.depth}

    conv = model.patch_embed.proj
    codes, s_w = _weight_codes(conv.weight.reshape(conv.weight.shape[0], -1))
    k = codes.shape[1]
    lo, hi = dot_bound(k, a_bits=8, a_signed=True, w_bits=8, w_signed=True)
    acc = b.op("patch_embed", "patch_matmul", ["image", b.param("patch_embed.w", codes, bits=8)],
               patch=cfg.patch_size, a_bits=8, w_bits=8, acc_bound=[lo, hi])
    pos = _np(model.pos_embed)[0]
    n_pre = cfg.num_tokens - cfg.num_patches
    x = b.requant("patch_embed.out", acc, (s_img * s_w / s_x)[None, :],
                  (_np(conv.bias)[None, :] + pos[n_pre:]) / s_x, bits=RES_BITS,
                  acc_max=max(-lo, hi))
    pre = [model.cls_token] + ([model.dist_token] if cfg.distilled else [])
    tokens = np.stack([_np(t).reshape(-1) for t in pre]) + pos[:n_pre]
    tok = np.clip(np.round(tokens / s_x), *code_range(RES_BITS))
    x = b.op("tokens", "prepend", [x, b.param("tokens.rows", tok)], out_bits=RES_BITS)
    for i, blk in enumerate(model.blocks):
        x = _block(b, blk, x, i, cfg, s_x, stats)

    logits = []
    heads = [("head", model.head, 0)] + ([("head_dist", model.head_dist, 1)]
                                          if cfg.distilled else [])
    s_h = _scale(stats, "norm")
    for name, head, index in heads:
        t = b.op(f"{name}.token", "take_token", [x], index=index)
        n = b.op(f"{name}.norm", "layernorm", [t], dim=cfg.embed_dim,
                 guard=layernorm_params(cfg.embed_dim).guard)
        xq = _ln_codes(b, f"{name}.in", n, model.norm, s_h, None)
        acc, s_acc, top = _linear(b, name, xq, s_h, head, stats, None)
        logits.append(b.head_logits(name, acc, s_acc, _np(head.bias), acc_max=top))
    return b.finish(logits, meta)


def _block(b: _Builder, blk, x: str, i: int, cfg, s_x: float, stats: dict) -> str:
    p = f"blocks.{i}"
    attn, mlp = blk.attn, blk.mlp
    h, d, n_tok, c = cfg.num_heads, cfg.head_dim, cfg.num_tokens, cfg.embed_dim
    ln = dict(dim=c, guard=layernorm_params(c).guard)

    n1 = b.op(f"{p}.norm1", "layernorm", [x], layer=i, **ln)
    s_a = _scale(stats, f"{p}.norm1")
    a = _ln_codes(b, f"{p}.attn.qkv.in", n1, blk.norm1, s_a, i)
    acc, s_acc, top = _linear(b, f"{p}.attn.qkv", a, s_a, attn.qkv, stats, i)
    s_qkv = np.repeat([_scale(stats, f"{p}.attn.{t}") for t in "qkv"], c)
    qkv = b.requant(f"{p}.attn.qkv.out", acc, s_acc / s_qkv, _np(attn.qkv.bias) / s_qkv,
                    bits=8, acc_max=top, layer=i)
    q, k, v = b.op(f"{p}.attn.split", "split_heads", [qkv], layer=i, num_heads=h,
                   outputs=[f"{p}.attn.q", f"{p}.attn.k", f"{p}.attn.v"])
    lo, hi = int_bmm_bound(d, a_bits=8, a_signed=True, b_bits=8, b_signed=True, heads=h)
    dots = b.op(f"{p}.attn.qk", "int_bmm", [q, k], layer=i, trans_b=True, a_bits=8,
                a_signed=True, b_bits=8, b_signed=True, acc_bound=[lo, hi])
    s_logit = s_qkv[0] * s_qkv[c] * attn.scale
    in_shift = max(0, math.ceil(math.log2(s_logit * 64)))
    sp = softmax_params(s_logit / 2**in_shift, out_bits=ATTN_BITS)
    probs = b.op(f"{p}.attn.softmax", "softmax", [dots], layer=i, in_shift=in_shift,
                 out_signed=False, **sp.to_dict())
    pa = b.requant(f"{p}.attn.a", probs, 255 / 2**ATTN_BITS, 0.0, bits=9, acc_max=1 << 16,
                   lo=0, hi=255, layer=i)
    lo, hi = int_bmm_bound(n_tok, a_bits=8, a_signed=False, b_bits=8, b_signed=True, heads=h)
    av = b.op(f"{p}.attn.av", "int_bmm", [pa, v], layer=i, trans_b=False, a_bits=8,
              a_signed=False, b_bits=8, b_signed=True, acc_bound=[lo, hi])
    s_o = _scale(stats, f"{p}.attn.o")
    o = b.requant(f"{p}.attn.o", av, s_qkv[2 * c] / 255 / s_o, 0.0, bits=8,
                  acc_max=max(-lo, hi), layer=i)
    merged = b.op(f"{p}.attn.merge", "merge_heads", [o], layer=i)
    acc, s_acc, top = _linear(b, f"{p}.attn.proj", merged, s_o, attn.proj, stats, i)
    y = b.requant(f"{p}.attn.out", acc, s_acc / s_x, _np(attn.proj.bias) / s_x, bits=RES_BITS,
                  acc_max=top, layer=i)
    x = b.op(f"{p}.res1", "add", [x, y], layer=i, out_bits=RES_BITS)

    n2 = b.op(f"{p}.norm2", "layernorm", [x], layer=i, **ln)
    s_a = _scale(stats, f"{p}.norm2")
    a = _ln_codes(b, f"{p}.mlp.fc1.in", n2, blk.norm2, s_a, i)
    acc, s_acc, top = _linear(b, f"{p}.mlp.fc1", a, s_a, mlp.fc1, stats, i)
    g = b.requant(f"{p}.mlp.fc1.out", acc, s_acc * 2**GELU_IN_SHIFT,
                  _np(mlp.fc1.bias) * 2**GELU_IN_SHIFT, bits=GELU_IN_BITS, acc_max=top, layer=i)
    gp = gelu_params(2.0**-GELU_IN_SHIFT)
    s_g = _scale(stats, f"{p}.mlp.gelu")
    clip = math.floor(1.5 * A_MAX * s_g / abs(gp.out_scale))
    gy = b.op(f"{p}.mlp.gelu", "gelu", [g], layer=i, clip=clip, **gp.to_dict())
    gq = b.requant(f"{p}.mlp.fc2.in", gy, gp.out_scale / s_g, 0.0, bits=8, acc_max=clip,
                   layer=i)
    acc, s_acc, top = _linear(b, f"{p}.mlp.fc2", gq, s_g, mlp.fc2, stats, i)
    y = b.requant(f"{p}.mlp.out", acc, s_acc / s_x, _np(mlp.fc2.bias) / s_x, bits=RES_BITS,
                  acc_max=top, layer=i)
    return b.op(f"{p}.res2", "add", [x, y], layer=i, out_bits=RES_BITS)
