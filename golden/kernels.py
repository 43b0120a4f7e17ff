"""Integer kernels: the arithmetic that models/, hw/ and the RTL must reproduce bit for bit.

One function per hardware operation. All data are integer numpy arrays (int64 results);
nothing here rounds through floating point except :func:`quantize_multiplier`, which runs
once at export time to turn a float scale into the integer ``(mult, shift)`` pair.

Conventions: activations are ``[M, K]`` (one row per token), weights are ``[N, K]`` (one
row per output, as ``torch.nn.Linear.weight``), results are ``[M, N]``.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = [
    "MULT_BITS",
    "acc_bits_for_range",
    "and_popcount_matmul",
    "binary_matmul",
    "clamp_width",
    "code_range",
    "dot_bound",
    "grid_width",
    "int_matmul",
    "quantize_multiplier",
    "requantize",
    "signed_bits",
    "xnor_popcount_matmul",
]

#: Width of the unsigned requantisation multiplier (I-BERT/I-ViT dyadic style).
MULT_BITS = 31


def acc_bits_for_range(lo: int, hi: int) -> int:
    """Return the smallest two's-complement width holding every integer in ``[lo, hi]``.

    >>> acc_bits_for_range(-64, 64)
    8
    >>> acc_bits_for_range(-128, 127)
    8
    """
    if lo > hi:
        raise ValueError(f"empty range [{lo}, {hi}]")
    bits = 1
    while not (-(1 << (bits - 1)) <= lo and hi <= (1 << (bits - 1)) - 1):
        bits += 1
    return bits


def code_range(bits: int, signed: bool = True) -> tuple[int, int]:
    """``(lo, hi)`` of ``bits``-wide codes: two's complement or unsigned; a 1-bit signed
    code is a {-1, +1} bit-plane, so ``(-1, 1)``.

    >>> code_range(4), code_range(4, False), code_range(1)
    ((-8, 7), (0, 15), (-1, 1))
    """
    if bits == 1:
        return (-1, 1) if signed else (0, 1)
    return (-(1 << (bits - 1)), (1 << (bits - 1)) - 1) if signed else (0, (1 << bits) - 1)


def signed_bits(arr) -> int:
    """The smallest two's-complement width holding every value of ``arr`` (and -1, 0)."""
    arr = np.asarray(arr)
    return acc_bits_for_range(min(int(arr.min()), -1), max(int(arr.max()), 0))


def clamp_width(lo: int, hi: int) -> tuple[int, bool] | None:
    """``(bits, signed)`` of the width (2 to 63 bits) whose full code range is ``[lo, hi]``
    (signed tried first), or None when no width has that range.

    >>> clamp_width(-8, 7), clamp_width(0, 15), clamp_width(0, 10)
    ((4, True), (4, False), None)
    """
    for bits in range(2, 64):
        if (lo, hi) == code_range(bits):
            return bits, True
        if (lo, hi) == (0, (1 << bits) - 1):
            return bits, False
    return None


def grid_width(bits: int, top: int, step: int = 8) -> int:
    """``bits`` rounded up to a multiple of ``step`` but not past ``top`` (a width already
    above ``top`` is kept, for the config to reject): unit configs sized on this coarse
    grid serve many ops (one Verilog build each), as an accelerator's fixed units would.

    >>> grid_width(5, 32), grid_width(30, 31), grid_width(40, 32), grid_width(9, 60, 16)
    (8, 31, 40, 16)
    """
    return min(-(-bits // step) * step, max(bits, top))


def dot_bound(k: int, *, a_bits: int, a_signed: bool, w_bits: int, w_signed: bool) -> tuple:
    """Return the exact worst-case ``(lo, hi)`` of a sum of ``k`` products ``a * w``.

    Operand ranges follow :class:`golden.spec.QuantSpec` (1 signed bit codes {-1,+1}).
    The bound is reached: the all-extreme vectors attain it.

    >>> dot_bound(64, a_bits=1, a_signed=True, w_bits=1, w_signed=True)
    (-64, 64)
    >>> dot_bound(4, a_bits=8, a_signed=False, w_bits=4, w_signed=True)
    (-8160, 7140)
    """
    if k < 0:
        raise ValueError(f"k must be non-negative, not {k}")
    a_lo, a_hi = code_range(a_bits, a_signed)
    w_lo, w_hi = code_range(w_bits, w_signed)
    corners = [a_lo * w_lo, a_lo * w_hi, a_hi * w_lo, a_hi * w_hi]
    return k * min(corners), k * max(corners)


def xnor_popcount_matmul(a_bits: np.ndarray, w_bits: np.ndarray) -> np.ndarray:
    """Binary {-1,+1} x {-1,+1} matmul by XNOR and popcount.

    Contract: ``a_bits`` ``[M, K]`` and ``w_bits`` ``[N, K]`` are {0,1} bit-planes coding
    {-1,+1} (bit 1 is +1). Returns int64 ``[M, N]`` with
    ``y[m, n] = 2 * popcount(xnor(a[m], w[n])) - K``, which equals the ±1 dot product.
    Range ``[-K, K]``; no wrap.
    """
    a = np.asarray(a_bits, dtype=np.int64)
    w = np.asarray(w_bits, dtype=np.int64)
    agree = a @ w.T + (1 - a) @ (1 - w).T  # popcount of xnor
    return 2 * agree - a.shape[-1]


def and_popcount_matmul(a_bits: np.ndarray, w_bits: np.ndarray) -> np.ndarray:
    """Binary {0,1} x {-1,+1} matmul by AND and popcount.

    Contract: ``a_bits`` ``[M, K]`` is a {0,1} plane (unsigned activations), ``w_bits``
    ``[N, K]`` codes {-1,+1} (bit 1 is +1). Returns int64 ``[M, N]`` with
    ``y[m, n] = 2 * popcount(a[m] & w[n]) - popcount(a[m])``, the dot product of
    {0,1} by {-1,+1}. Range ``[-K, K]``; no wrap.
    """
    a = np.asarray(a_bits, dtype=np.int64)
    w = np.asarray(w_bits, dtype=np.int64)
    return 2 * (a @ w.T) - a.sum(axis=-1, keepdims=True)


def binary_matmul(a_bits: np.ndarray, w_bits: np.ndarray, mode: str) -> np.ndarray:
    """Dispatch to :func:`xnor_popcount_matmul` (``"xnor"``) or :func:`and_popcount_matmul`."""
    if mode == "xnor":
        return xnor_popcount_matmul(a_bits, w_bits)
    if mode == "and":
        return and_popcount_matmul(a_bits, w_bits)
    raise ValueError(f"mode must be one of 'xnor', 'and', not {mode!r}")


def int_matmul(
    a: np.ndarray,
    w: np.ndarray,
    *,
    a_bits: int,
    a_signed: bool,
    w_bits: int,
    w_signed: bool,
    acc_bits: int | None = None,
) -> np.ndarray:
    """Integer matmul with declared operand widths and a proven accumulator width.

    Contract: every element of ``a`` ``[M, K]`` fits ``a_bits``/``a_signed`` and every
    element of ``w`` ``[N, K]`` fits ``w_bits``/``w_signed`` (else ``ValueError``). The
    accumulator width is ``acc_bits`` if given, which must hold :func:`dot_bound` (else
    ``ValueError``), or the width derived from that bound. Because the bound holds, the
    result never wraps: it is the exact int64 product ``a @ w.T``.
    """
    a = np.asarray(a, dtype=np.int64)
    w = np.asarray(w, dtype=np.int64)
    for name, x, bits, signed in (("a", a, a_bits, a_signed), ("w", w, w_bits, w_signed)):
        lo, hi = code_range(bits, signed)
        if x.size and (x.min() < lo or x.max() > hi):
            raise ValueError(f"{name} out of range for {'s' if signed else 'u'}{bits}")
    lo, hi = dot_bound(a.shape[-1], a_bits=a_bits, a_signed=a_signed,
                       w_bits=w_bits, w_signed=w_signed)
    need = acc_bits_for_range(lo, hi)
    if acc_bits is not None and acc_bits < need:
        raise ValueError(f"acc_bits={acc_bits} cannot hold [{lo}, {hi}]; need {need}")
    return a @ w.T


def quantize_multiplier(scale: float) -> tuple[int, int]:
    """Turn a positive float ``scale`` into integer ``(mult, shift)``, ``scale ~ mult/2**shift``.

    ``mult`` is ``MULT_BITS`` wide (in ``[2**30, 2**31)``), rounded half up from the
    mantissa; ``shift`` is at least 1. This is the only float step of requantisation and
    runs at export time.

    >>> quantize_multiplier(0.5)
    (1073741824, 31)
    """
    if not (isinstance(scale, (int, float)) and math.isfinite(scale) and scale > 0):
        raise ValueError(f"scale must be a positive finite number, not {scale!r}")
    mant, exp = math.frexp(scale)  # scale = mant * 2**exp, mant in [0.5, 1)
    mult = math.floor(mant * (1 << MULT_BITS) + 0.5)
    if mult == 1 << MULT_BITS:
        mult //= 2
        exp += 1
    shift = MULT_BITS - exp
    if not 1 <= shift <= 62:
        raise ValueError(f"scale {scale!r} is out of the representable range")
    return mult, shift


def requantize(acc: np.ndarray, *, mult, shift: int, lo, hi, bias=0) -> np.ndarray:
    """Requantise accumulators: ``clamp((acc * mult + bias + 2**(shift-1)) >> shift, lo, hi)``.

    Contract: ``acc`` is integer in ``[-2**31, 2**31)``. ``mult`` (signed, in
    ``[-2**31, 2**31)``), ``bias``, ``lo`` and ``hi`` are integers or integer arrays that
    broadcast against ``acc`` (per output channel, per token...); ``1 <= shift <= 62``.
    The bound ``max|acc| * max|mult| + max|bias| + 2**(shift-1) < 2**63`` must hold (else
    ``ValueError``), so the int64 arithmetic never wraps. Rounding is half up (toward +inf
    on ties) by an arithmetic right shift (floor); the clamp saturates. ``bias`` is in the
    product's units (``2**shift`` per output step): it carries a layer's float bias.

    >>> requantize(np.array([-3, -2, 2, 3]), mult=1, shift=1, lo=-128, hi=127).tolist()
    [-1, -1, 1, 2]
    >>> requantize(np.array([[1, 2], [3, 4]]), mult=np.array([1, -1]), shift=1,
    ...            lo=-8, hi=7, bias=np.array([0, 4])).tolist()
    [[1, 1], [2, 0]]
    """
    acc = np.asarray(acc, dtype=np.int64)
    mult = np.asarray(mult, dtype=np.int64)
    bias = np.asarray(bias, dtype=np.int64)
    if mult.size and (mult.min() < -(1 << MULT_BITS) or mult.max() >= (1 << MULT_BITS)):
        raise ValueError(f"mult must be in [-2**{MULT_BITS}, 2**{MULT_BITS}), not {mult!r}")
    if not 1 <= shift <= 62:
        raise ValueError(f"shift must be in [1, 62], not {shift!r}")
    if acc.size and (acc.min() < -(1 << 31) or acc.max() >= (1 << 31)):
        raise ValueError("acc must lie in [-2**31, 2**31)")
    worst = (_max_abs(acc) * _max_abs(mult) + _max_abs(bias) + (1 << (shift - 1)))
    if worst >= 1 << 63:
        raise ValueError(f"acc * mult + bias may overflow int64 (bound {worst})")
    prod = acc * mult + bias + np.int64(1 << (shift - 1))
    return np.clip(prod >> np.int64(shift), lo, hi)


def _max_abs(x: np.ndarray) -> int:
    return int(np.abs(x).max()) if x.size else 0
