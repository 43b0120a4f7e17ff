"""PyTorch integer kernels: the second implementation of every ``golden.network`` op kind.

Written from the golden contracts (``golden/kernels.py``, ``golden/nonlinear.py``,
``golden/intops.py``), not by calling them: the tests compare the two implementations with
``==`` on every intermediate tensor of whole networks. Everything is int64 (bit planes
uint8) on any device; binary products use ``±1`` integer matmuls rather than popcounts,
so an error in either formulation shows up as a mismatch. Constants that define the
arithmetic (GELU's shift) are read from golden, never restated.

:data:`TORCH_OPS` maps each kind to ``fn(op, *inputs)`` exactly as :data:`golden.network.OPS`.
"""

from __future__ import annotations

import torch
from torch import Tensor

from golden.netspec import Op
from golden.nonlinear import GELU_SHIFT

__all__ = ["TORCH_OPS", "int_layernorm", "int_softmax", "isqrt", "requantize"]

_I64 = torch.int64


def requantize(acc: Tensor, mult: Tensor, bias: Tensor, shift: int, lo, hi) -> Tensor:
    """``clamp((acc * mult + bias + 2**(shift-1)) >> shift, lo, hi)`` in int64.

    ``lo`` and ``hi`` are integers or (nested) lists / tensors broadcasting against the
    result (per channel or per head clamps of head-wise widths).
    """
    prod = acc.to(_I64) * mult.to(_I64) + bias.to(_I64) + (1 << (shift - 1))
    out = prod >> shift
    if isinstance(lo, int) and isinstance(hi, int):
        return torch.clamp(out, lo, hi)
    lo_t = torch.as_tensor(lo, dtype=_I64, device=out.device)
    hi_t = torch.as_tensor(hi, dtype=_I64, device=out.device)
    return torch.minimum(torch.maximum(out, lo_t), hi_t)


def isqrt(n: Tensor) -> Tensor:
    """Exact ``floor(sqrt(n))`` of non-negative int64 ``n`` (Newton from above)."""
    n = n.to(_I64)
    bits = torch.zeros_like(n)
    t = n.clone()
    while bool((t > 0).any()):
        bits += (t > 0).to(_I64)
        t = t >> 1
    x = torch.where(n == 0, torch.ones_like(n), torch.ones_like(n) << ((bits + 1) // 2))
    while True:
        y = (x + n // x) // 2
        done = (y >= x) | (n == 0)
        if bool(done.all()):
            break
        x = torch.where(done, x, y)
    return torch.where(n == 0, torch.zeros_like(n), x)


def int_layernorm(x: Tensor, dim: int) -> Tensor:
    """I-LayerNorm of the last axis (contract of :func:`golden.nonlinear.int_layernorm`)."""
    guard = _ln_guard(dim)
    x = x.to(_I64)
    mean = torch.div(x.sum(-1, keepdim=True) + dim // 2, dim, rounding_mode="floor")
    y = x - mean
    var = torch.div((y * y).sum(-1, keepdim=True), dim, rounding_mode="floor")
    std = torch.clamp(isqrt(var), min=1)
    factor = torch.div(torch.full_like(std, (1 << 31) - 1), std, rounding_mode="floor")
    return (y * factor) >> (1 + guard)


def _ln_guard(dim: int) -> int:
    # ceil(log2(sqrt(dim))) + 1, in integers: the smallest g with 4**g >= dim, plus one
    g = 0
    while 4**g < dim:
        g += 1
    return g + 1


def _int_exp(x: Tensor, op: Op) -> Tensor:
    x = torch.clamp(x, min=op.floor_q * op.x0)
    q = torch.div(x, op.x0, rounding_mode="floor")
    r = x - op.x0 * q
    z = (r + op.b) * r + op.c
    sh = op.n - q
    e = torch.where(sh >= 0, z << torch.clamp(sh, min=0), z >> torch.clamp(-sh, min=0))
    return torch.clamp(e, min=0)


def int_softmax(x: Tensor, op: Op) -> Tensor:
    """Integer softmax over the last axis of ``x << in_shift`` (the softmax op record)."""
    x = x.to(_I64) << op.in_shift
    e = _int_exp(x - x.amax(-1, keepdim=True), op)
    factor = torch.div(torch.full_like(e[..., :1], 1 << 32), e.sum(-1, keepdim=True),
                       rounding_mode="floor")
    out = (e * factor) >> (32 - op.out_bits)
    return torch.clamp(out, max=(1 << op.out_bits) - 1)


def _gelu(op: Op, x: Tensor) -> Tensor:
    x = x.to(_I64)
    clipped = torch.clamp(x.abs(), max=-op.b)
    erf = torch.sign(x) * ((clipped + op.b) ** 2 + op.c)
    erf = erf >> GELU_SHIFT
    return torch.clamp(x * (erf + op.one), -op.clip, op.clip)


def _pm(bits: Tensor) -> Tensor:
    return 2 * bits.to(_I64) - 1


def _binary_matmul(op: Op, a: Tensor, w: Tensor) -> Tensor:
    lhs = _pm(a) if op.mode == "xnor" else a.to(_I64)
    return lhs @ _pm(w).transpose(-1, -2)


def _int_matmul(op: Op, x: Tensor, w: Tensor) -> Tensor:
    return x.to(_I64) @ w.to(_I64).t()


def _patch_matmul(op: Op, img: Tensor, w: Tensor) -> Tensor:
    p = op.patch
    b, c, h, wd = img.shape
    cols = img.reshape(b, c, h // p, p, wd // p, p).permute(0, 2, 4, 1, 3, 5)
    return _int_matmul(op, cols.reshape(b, (h // p) * (wd // p), -1), w)


def _per_image(x: Tensor, reduce) -> Tensor:
    return reduce(x.reshape(x.shape[0], -1), 1).reshape((-1,) + (1,) * (x.dim() - 1))


def _masks(x: Tensor, ratios, two_tailed: bool) -> Tensor:
    hi = _per_image(x, lambda t, d: t.amax(d))
    lo = _per_image(x, lambda t, d: t.amin(d))
    out = []
    for num, den in ratios:
        m = den * x > num * hi
        if two_tailed:
            m = m | (den * x < num * lo)
        out.append(m)
    if not out:
        return torch.zeros((0, *x.shape), dtype=torch.uint8, device=x.device)
    return torch.stack(out).to(torch.uint8)


def _value_planes(op: Op, v: Tensor):
    v = v.to(_I64)
    return (v >= 0).to(torch.uint8), _masks(v, op.ratios, True)


def _attn_planes(op: Op, a: Tensor) -> Tensor:
    a = a.to(_I64)
    base = (a > op.base_theta).to(torch.uint8)[None]
    return torch.cat([base, _masks(a, op.ratios, False)])


def _gsb_av(op: Op, planes: Tensor, sign: Tensor, masks: Tensor, w: Tensor) -> Tensor:
    s0 = _pm(sign)
    v_planes = [s0] + [s0 * m.to(_I64) for m in masks]
    out = 0
    for p in range(planes.shape[0]):
        a = planes[p].to(_I64)
        for r, s in enumerate(v_planes):
            out = out + int(w[p, r]) * (a @ s)
    return out


def _threshold(op: Op, x: Tensor, theta: Tensor, flip: Tensor) -> Tensor:
    x = x.to(_I64)
    return torch.where(flip.bool(), x <= theta, x >= theta).to(torch.uint8)


def _add(op: Op, a: Tensor, b: Tensor) -> Tensor:
    half = 1 << (op.out_bits - 1)
    return torch.clamp(a.to(_I64) + b.to(_I64), -half, half - 1)


def _int_bmm(op: Op, a: Tensor, b: Tensor) -> Tensor:
    rhs = b.to(_I64).transpose(-1, -2) if op.trans_b else b.to(_I64)
    return torch.matmul(a.to(_I64), rhs)


def _group_matmul(op: Op, x: Tensor, w: Tensor, gmult: Tensor) -> Tensor:
    g = gmult.numel()
    k = x.shape[-1]
    xs = x.to(_I64).reshape(*x.shape[:-1], g, k // g)  # [..., G, K/G]
    ws = w.to(_I64).reshape(w.shape[0], g, k // g)  # [N, G, K/G]
    parts = torch.einsum("...gk,ngk->...gn", xs, ws)  # per-group partial sums
    return (parts * gmult.to(_I64).reshape(g, 1)).sum(-2)


def _to_heads(op: Op, x: Tensor) -> Tensor:
    b, n, c = x.shape
    return x.reshape(b, n, op.num_heads, c // op.num_heads).transpose(1, 2)


def _split_heads(op: Op, x: Tensor):
    b, n, _ = x.shape
    return tuple(x.reshape(b, n, 3, op.num_heads, -1).permute(2, 0, 3, 1, 4).unbind(0))


def _merge_heads(op: Op, x: Tensor) -> Tensor:
    b, h, n, d = x.shape
    return x.transpose(1, 2).reshape(b, n, h * d)


def _prepend(op: Op, x: Tensor, tokens: Tensor) -> Tensor:
    return torch.cat([tokens.to(x.dtype).expand(x.shape[0], -1, -1), x], dim=1)


#: kind -> ``fn(op, *inputs)``, as :data:`golden.network.OPS`.
TORCH_OPS = {
    "patch_matmul": _patch_matmul,
    "int_matmul": _int_matmul,
    "binary_matmul": _binary_matmul,
    "requant": lambda op, x, m, b: requantize(x, m, b, op.shift, op.lo, op.hi),
    "threshold": _threshold,
    "add": _add,
    "layernorm": lambda op, x: int_layernorm(x, op.dim),
    "softmax": lambda op, x: int_softmax(x, op),
    "gelu": _gelu,
    "gsb_value_planes": _value_planes,
    "gsb_attn_planes": _attn_planes,
    "gsb_av": _gsb_av,
    "split_heads": _split_heads,
    "to_heads": _to_heads,
    "int_bmm": _int_bmm,
    "group_matmul": _group_matmul,
    "merge_heads": _merge_heads,
    "prepend": _prepend,
    "take_token": lambda op, x: x[:, op.index],
}
