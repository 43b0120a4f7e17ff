"""Integer-only non-linear kernels: softmax, GELU, LayerNorm and the integer square root.

In the spirit of I-BERT and I-ViT (see ``HW_ANCHORS.md`` §5): every kernel takes integer
arrays plus integer parameters and uses only integer add, multiply, shift, compare and
floor division (numpy ``//`` and ``>>`` floor toward -inf, as the hardware does). The float
work happens once, at export, in the ``*_params`` functions, which turn a float input scale
into the integer constants; the params record the output scale for the next op.

Each kernel states its error against the float function over its input range; the tests
measure and enforce those bounds.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

__all__ = [
    "GELU_SHIFT",
    "GeluParams",
    "LayerNormParams",
    "SoftmaxParams",
    "clipped_gelu",
    "gelu_params",
    "int_exp",
    "int_gelu",
    "int_layernorm",
    "int_softmax",
    "isqrt",
    "layernorm_params",
    "softmax_params",
]

# I-BERT second-order polynomial coefficients.
_EXP_A, _EXP_B, _EXP_C = 0.35815147, 0.96963238 / 0.35815147, 1.0 / 0.35815147
_ERF_A, _ERF_B = -0.2888, -1.769
GELU_SHIFT = 14  # I-BERT's "const": y is scaled down by 2**14 before the product


def isqrt(n: np.ndarray) -> np.ndarray:
    """Exact ``floor(sqrt(n))`` of non-negative int64 ``n`` by Newton's iteration.

    Starts at ``2**ceil(bitlen(n)/2)`` (above the root) and iterates
    ``x <- (x + n // x) // 2`` until it stops decreasing (I-BERT's i-sqrt run to
    convergence, so it is exact for every ``n``, unlike a fixed iteration count).
    ``isqrt(0) == 0``.

    >>> isqrt(np.array([0, 1, 15, 16, 17, 2**40])).tolist()
    [0, 1, 3, 4, 4, 1048576]
    """
    n = np.asarray(n, dtype=np.int64)
    if n.size and n.min() < 0:
        raise ValueError("isqrt needs non-negative inputs")
    bits = np.zeros_like(n)
    t = n.copy()
    while np.any(t > 0):
        bits += t > 0
        t >>= 1
    x = np.left_shift(np.int64(1), (bits + 1) // 2)
    x = np.where(n == 0, 1, x)
    while True:
        y = (x + n // x) // 2
        done = (y >= x) | (n == 0)
        if np.all(done):
            break
        x = np.where(done, x, y)
    return np.where(n == 0, 0, x)


@dataclass(frozen=True)
class SoftmaxParams:
    """Integer constants of :func:`int_softmax` for one input scale."""

    x0: int  # floor(-ln2 / S), the integer step of one halving
    b: int  # floor(b / S)
    c: int  # floor(c / S**2)
    n: int  # left shift that puts exp(0) just under 2**16
    floor_q: int  # inputs below floor_q * x0 are clamped there (their exp is ~0)
    out_bits: int  # output width; output scale 2**-out_bits

    def to_dict(self) -> dict:
        return dict(self.__dict__)


def softmax_params(scale: float, *, out_bits: int = 8) -> SoftmaxParams:
    """Constants for logits of scale ``scale`` (I-BERT i-exp, 16-bit exp, see module doc)."""
    if not (math.isfinite(scale) and 0 < scale < 1):
        raise ValueError(f"scale must be in (0, 1), not {scale!r}")
    if not 2 <= out_bits <= 16:
        raise ValueError(f"out_bits must be between 2 and 16, not {out_bits!r}")
    x0 = math.floor(-math.log(2) / scale)
    b = math.floor(_EXP_B / scale)
    c = math.floor(_EXP_C / scale**2)
    n = 16 - c.bit_length()
    return SoftmaxParams(x0=x0, b=b, c=c, n=n, floor_q=30, out_bits=out_bits)


def int_exp(x: np.ndarray, p: SoftmaxParams) -> np.ndarray:
    """Integer ``exp`` of non-positive integer logits: ``e ~ exp(x*S) * 2**16 / (c*S**2)``.

    ``x = q*x0 + r`` with ``r`` in ``(x0, 0]``; ``exp(r*S)`` by the polynomial
    ``(r + b)*r + c``; then the halvings as a shift by ``n - q`` (left if positive). Results
    lie in ``[0, 2**16)``.
    """
    x = np.maximum(np.asarray(x, dtype=np.int64), p.floor_q * p.x0)
    q = x // p.x0
    r = x - p.x0 * q
    z = (r + p.b) * r + p.c
    sh = p.n - q
    e = np.where(sh >= 0, z << np.maximum(sh, 0), z >> np.maximum(-sh, 0))
    return np.maximum(e, 0)


def int_softmax(x: np.ndarray, p: SoftmaxParams) -> np.ndarray:
    """Integer softmax over the last axis; result ``~ softmax(x*S) * 2**out_bits``.

    Contract: ``x`` integer logits of scale ``S`` (the scale ``p`` was made for), last axis
    at most 65 535 long. Steps: subtract the row max, :func:`int_exp`, ``factor =
    floor(2**32 / sum)``, ``out = floor(e * factor / 2**(32 - out_bits))`` clamped to
    ``[0, 2**out_bits - 1]`` (unsigned). Max abs error against float softmax: about
    ``2**-out_bits`` plus the i-exp error (tests: <= 0.02 at ``S = 1/64``, 8 bits).
    """
    x = np.asarray(x, dtype=np.int64)
    e = int_exp(x - x.max(axis=-1, keepdims=True), p)
    total = e.sum(axis=-1, keepdims=True)
    factor = (np.int64(1) << 32) // total
    out = (e * factor) >> (32 - p.out_bits)
    return np.minimum(out, (1 << p.out_bits) - 1)


@dataclass(frozen=True)
class GeluParams:
    """Integer constants of :func:`int_gelu` for one input scale."""

    b: int  # floor(b / S'), S' = S / sqrt(2)
    c: int  # floor(1 / (a * S'**2))
    one: int  # floor(1 / S_y): the integer "1" of erf's scale
    out_scale: float  # scale of the result, S * S_y / 2 (for the next requantisation)

    def to_dict(self) -> dict:
        return dict(self.__dict__)


def gelu_params(scale: float) -> GeluParams:
    """Constants for GELU inputs of scale ``scale`` (I-BERT i-GELU)."""
    if not (math.isfinite(scale) and 0 < scale < 1):
        raise ValueError(f"scale must be in (0, 1), not {scale!r}")
    s1 = scale / math.sqrt(2)
    b = math.floor(_ERF_B / s1)
    c = math.floor(1 / _ERF_A / s1**2)
    s_y = _ERF_A * s1**2 * 2**GELU_SHIFT
    return GeluParams(b=b, c=c, one=math.floor(1 / s_y), out_scale=scale * s_y / 2)


def int_gelu(x: np.ndarray, p: GeluParams) -> np.ndarray:
    """Integer GELU: ``out ~ gelu(x*S) / out_scale`` (I-BERT i-GELU).

    ``erf`` by ``sgn(x) * ((min(|x|, -b) + b)**2 + c)``, scaled down by ``2**GELU_SHIFT``
    (``2**14``), then
    ``out = x * (erf + one)``. Exact int64 for ``|x| < 2**24``. The float polynomial is
    within 0.018 of GELU; in integers the error also depends on the scale (I-BERT needs a
    fine input scale: the tests bound it at ``S = 2**-10`` over ``[-6, 6]``).
    """
    x = np.asarray(x, dtype=np.int64)
    sgn = np.sign(x)
    clipped = np.minimum(np.abs(x), -p.b)
    erf = sgn * ((clipped + p.b) ** 2 + p.c)
    erf = erf >> GELU_SHIFT
    return x * (erf + p.one)


def clipped_gelu(x: np.ndarray, p: GeluParams, clip: int) -> np.ndarray:
    """GELU as the network op and the GELU unit compute it: :func:`int_gelu` clamped to
    ``[-clip, clip]``."""
    return np.clip(int_gelu(x, p), -clip, clip)


@dataclass(frozen=True)
class LayerNormParams:
    """Integer constants of :func:`int_layernorm` for a row length ``dim``."""

    dim: int  # normalised length D
    guard: int  # extra right shift so |out| < 2**31: ceil(log2(sqrt(D))) + 1
    out_scale: float  # out * out_scale ~ (x - mean) / std

    def to_dict(self) -> dict:
        return dict(self.__dict__)


def layernorm_params(dim: int) -> LayerNormParams:
    """Constants for normalising rows of ``dim`` integers."""
    if not isinstance(dim, int) or dim < 2:
        raise ValueError(f"dim must be an integer of at least 2, not {dim!r}")
    guard = math.ceil(math.log2(math.sqrt(dim))) + 1
    return LayerNormParams(dim=dim, guard=guard, out_scale=2.0 ** -(30 - guard))


def int_layernorm(x: np.ndarray, p: LayerNormParams) -> np.ndarray:
    """Integer normalisation of the last axis: ``out ~ (x - mean) / std * 2**(30 - guard)``.

    Steps (I-ViT's I-LayerNorm with an exact square root): ``mean = floor((sum + D//2) / D)``
    (round half up), ``y = x - mean``, ``var = sum(y**2) // D``, ``std = max(isqrt(var), 1)``,
    ``factor = floor((2**31 - 1) / std)``, ``out = (y * factor) >> (1 + guard)``. Since
    ``|y| / std <= sqrt(D)``, ``|out| < 2**31``, so the affine part (gamma, beta) and the
    output width go to :func:`golden.kernels.requantize`. Contract: ``|x| < 2**15`` (int16
    activations), ``D`` as in ``p``. Relative error against float: set by ``std``'s integer
    floor, below ``1/std``.
    """
    x = np.asarray(x, dtype=np.int64)
    if x.shape[-1] != p.dim:
        raise ValueError(f"last axis is {x.shape[-1]}, params are for dim {p.dim}")
    mean = (x.sum(axis=-1, keepdims=True) + p.dim // 2) // p.dim
    y = x - mean
    var = (y * y).sum(axis=-1, keepdims=True) // p.dim
    std = np.maximum(isqrt(var), 1)
    factor = ((np.int64(1) << 31) - 1) // std
    return (y * factor) >> (1 + p.guard)
