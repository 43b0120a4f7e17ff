"""Integer kernels of the binarised encoder: thresholds, GSB planes and the GSB A·V product.

Each function is the reference of one hardware operation (see ``DESIGN.md``):

- :func:`threshold` -- a binariser as one integer comparison per channel (the signed
  ``sign(x + shift)`` and unsigned ``x / alpha > 0.5`` binarisers after their float scale
  and shift are folded into an integer threshold at export).
- :func:`ratio_masks` -- GSB group masks ``x > t * max(x)`` (and ``x < t * min(x)``) with
  ``t = num / den`` compared exactly as ``den * x > num * max``; max/min per image.
- :func:`gsb_value_planes` -- V as a sign plane plus two-tailed mask planes.
- :func:`gsb_attn_planes` -- the attention matrix as a base plane ``a > theta`` plus masks.
- :func:`gsb_av` -- ``sum_{p,r} W[p, r] * (A_p @ S_r)``, the multi-plane attention x V
  product with integer per-plane-pair weights (the float ``alpha_p * beta_r`` at a fixed
  point).
- :func:`batched_binary_matmul` -- the XNOR/AND popcount array over leading batch axes.

Images are axis 0 of every activation; reductions never cross it (golden vectors are per
image, as DESIGN.md's numeric contract requires).
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np

from golden.kernels import binary_matmul

__all__ = [
    "batched_binary_matmul",
    "gsb_attn_planes",
    "gsb_av",
    "gsb_value_planes",
    "ratio",
    "ratio_masks",
    "threshold",
]


def ratio(t: float) -> tuple[int, int]:
    """Return ``(num, den)`` of the decimal fraction ``t`` (``0.7 -> (7, 10)``).

    >>> ratio(0.7), ratio(0.9), ratio(0.25)
    ((7, 10), (9, 10), (1, 4))
    """
    f = Fraction(repr(float(t))).limit_denominator(1 << 16)
    return f.numerator, f.denominator


def threshold(x: np.ndarray, theta: np.ndarray, flip: np.ndarray) -> np.ndarray:
    """Binarise ``x`` (channels on the last axis): bit ``x >= theta`` or, where ``flip``,
    ``x <= theta``.

    ``theta`` is int64 and ``flip`` bool, one per channel (broadcast over the last axis).
    Returns uint8 {0, 1}; for a signed binariser bit 1 codes +1 and bit 0 codes -1.

    >>> threshold(np.array([[-2, 0, 3]]), np.array([0, 1, 3]), np.array([False, True, False]))
    array([[0, 1, 1]], dtype=uint8)
    """
    x = np.asarray(x, dtype=np.int64)
    theta = np.asarray(theta, dtype=np.int64)
    return np.where(flip, x <= theta, x >= theta).astype(np.uint8)


def _per_image(x: np.ndarray, op) -> np.ndarray:
    flat = x.reshape(x.shape[0], -1)
    return op(flat, axis=1).reshape((-1,) + (1,) * (x.ndim - 1))


def ratio_masks(x: np.ndarray, ratios, *, two_tailed: bool) -> np.ndarray:
    """Group masks ``den * x > num * max(x)`` (``| den * x < num * min(x)`` if two-tailed).

    ``x`` integer with images on axis 0 (max/min per image); ``ratios`` a sequence of
    ``(num, den)``. Returns uint8 ``[len(ratios), *x.shape]``.
    """
    x = np.asarray(x, dtype=np.int64)
    hi = _per_image(x, np.max)
    lo = _per_image(x, np.min) if two_tailed else None
    masks = []
    for num, den in ratios:
        m = den * x > num * hi
        if two_tailed:
            m |= den * x < num * lo
        masks.append(m)
    return np.stack(masks).astype(np.uint8) if masks else np.zeros((0, *x.shape), np.uint8)


def gsb_value_planes(v: np.ndarray, ratios) -> tuple[np.ndarray, np.ndarray]:
    """Return ``(sign, masks)`` of integer V: ``sign = v >= 0`` (uint8, 1 codes +1) and the
    two-tailed :func:`ratio_masks`. Plane ``r`` of V is ``S_0 = ±1`` (the sign),
    ``S_r = sign * masks[r - 1]`` in {-1, 0, +1}.
    """
    v = np.asarray(v, dtype=np.int64)
    return (v >= 0).astype(np.uint8), ratio_masks(v, ratios, two_tailed=True)


def gsb_attn_planes(a: np.ndarray, base_theta: int, ratios) -> np.ndarray:
    """Return the planes ``[1 + len(ratios), *a.shape]`` (uint8) of integer attention ``a``:
    the base plane ``a > base_theta`` then the one-tailed :func:`ratio_masks`."""
    a = np.asarray(a, dtype=np.int64)
    base = (a > base_theta).astype(np.uint8)[None]
    return np.concatenate([base, ratio_masks(a, ratios, two_tailed=False)])


def gsb_av(a_planes: np.ndarray, v_sign: np.ndarray, v_masks: np.ndarray,
           weights: np.ndarray) -> np.ndarray:
    """Multi-plane attention x V: ``sum_{p, r} weights[p, r] * (A_p @ S_r)``.

    ``a_planes`` {0,1} ``[P, ..., N, N]``; ``v_sign`` {0,1} ``[..., N, d]`` (1 codes +1);
    ``v_masks`` {0,1} ``[R - 1, ..., N, d]``; ``weights`` int ``[P, R]``. ``S_0`` is the
    ±1 sign plane and ``S_r = S_0 * v_masks[r - 1]``. Each ``A_p @ S_r`` is an AND-popcount
    product bounded by ``N`` in magnitude, so the result is bounded by
    ``N * sum|weights|`` (recorded as the op's accumulator bound).
    """
    sgn = 2 * np.asarray(v_sign, dtype=np.int64) - 1
    planes_v = [sgn] + [sgn * np.asarray(m, dtype=np.int64) for m in v_masks]
    weights = np.asarray(weights, dtype=np.int64)
    out = np.zeros(a_planes.shape[1:-1] + sgn.shape[-1:], np.int64)
    for p, a in enumerate(np.asarray(a_planes, dtype=np.int64)):
        for r, s in enumerate(planes_v):
            if weights[p, r]:
                out += weights[p, r] * (a @ s)
    return out


def batched_binary_matmul(a_bits: np.ndarray, w_bits: np.ndarray, mode: str) -> np.ndarray:
    """:func:`golden.kernels.binary_matmul` over matching leading axes.

    ``a_bits`` ``[..., M, K]`` and ``w_bits`` ``[..., N, K]`` (or a 2-D ``w_bits`` shared by
    every batch element) give ``[..., M, N]``.
    """
    a_bits = np.asarray(a_bits)
    lead = a_bits.shape[:-2]
    a2 = a_bits.reshape((-1,) + a_bits.shape[-2:])
    w2 = None if w_bits.ndim == 2 else np.asarray(w_bits).reshape((-1,) + w_bits.shape[-2:])
    out = [binary_matmul(a, w_bits if w2 is None else w2[i], mode) for i, a in enumerate(a2)]
    return np.stack(out).reshape(lead + out[0].shape)
