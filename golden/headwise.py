"""Head-wise integer matmuls of mixed-bit (Q-ViT) networks: per-head widths and scales.

Two kernels extend :func:`golden.kernels.int_matmul` to operands whose width changes from
one head to the next, as a head-wise mixed-bit MAC array runs them:

- :func:`int_bmm`: batched per-head products ``q @ k^T`` and ``attn @ v`` of
  ``[B, H, M, K]`` operands, head ``h`` at its own widths;
- :func:`group_matmul`: a linear layer whose reduction axis is split into ``G`` groups
  (heads) of different scales; each group's integer partial sum is weighted by an integer
  group multiplier before the sum (``W_proj`` after head-wise attention outputs).

Both check every operand against its declared width and return exact int64 results
(the static bounds below hold, so nothing wraps).
"""

from __future__ import annotations

import numpy as np

from golden import kernels
from golden.kernels import dot_bound, int_matmul

__all__ = ["code_range", "group_matmul", "group_matmul_bound", "int_bmm", "int_bmm_bound"]


def code_range(bits: int, signed: bool) -> tuple[int, int]:
    """``(lo, hi)`` of ``bits``-wide codes: ``[-2**(b-1), 2**(b-1) - 1]`` or ``[0, 2**b - 1]``.

    >>> code_range(4, True), code_range(4, False)
    ((-8, 7), (0, 15))
    """
    if not 2 <= bits <= 32:
        raise ValueError(f"bits must be between 2 and 32, not {bits!r}")
    return kernels.code_range(bits, signed)


def _per_head(bits, heads: int, name: str) -> list[int]:
    out = [int(bits)] * heads if np.ndim(bits) == 0 else [int(b) for b in bits]
    if len(out) != heads:
        raise ValueError(f"{name} has {len(out)} widths for {heads} heads")
    return out


def _check(x: np.ndarray, bits: list[int], signed: bool, name: str) -> None:
    for h, b in enumerate(bits):
        lo, hi = code_range(b, signed)
        part = x[:, h]
        if part.size and (part.min() < lo or part.max() > hi):
            raise ValueError(f"{name} head {h} out of range for {'s' if signed else 'u'}{b}")


def int_bmm_bound(k: int, *, a_bits, a_signed: bool, b_bits, b_signed: bool,
                  heads: int) -> tuple[int, int]:
    """Worst-case ``(lo, hi)`` of :func:`int_bmm` over all heads (reduction length ``k``)."""
    a, b = _per_head(a_bits, heads, "a_bits"), _per_head(b_bits, heads, "b_bits")
    bounds = [dot_bound(k, a_bits=x, a_signed=a_signed, w_bits=y, w_signed=b_signed)
              for x, y in zip(a, b, strict=True)]
    return min(lo for lo, _ in bounds), max(hi for _, hi in bounds)


def int_bmm(a: np.ndarray, b: np.ndarray, *, a_bits, a_signed: bool, b_bits, b_signed: bool,
            trans_b: bool) -> np.ndarray:
    """Per-image, per-head integer matmul with per-head operand widths.

    Parameters
    ----------
    a : np.ndarray
        ``[B, H, M, K]`` integer codes; head ``h`` fits ``a_bits[h]``/``a_signed``.
    b : np.ndarray
        ``[B, H, N, K]`` with ``trans_b`` (result ``a @ b^T``, as ``q @ k^T``), else
        ``[B, H, K, N]`` (result ``a @ b``, as ``attn @ v``); head ``h`` fits
        ``b_bits[h]``/``b_signed``.
    a_bits, b_bits : int or sequence of int
        One width (2..32) for all heads, or one per head (:func:`code_range`).

    Returns
    -------
    np.ndarray
        The exact int64 ``[B, H, M, N]`` product, inside :func:`int_bmm_bound`.

    Raises
    ------
    ValueError
        An element outside its head's width, or mismatched shapes.
    """
    a = np.asarray(a, dtype=np.int64)
    b = np.asarray(b, dtype=np.int64)
    if a.ndim != 4 or b.ndim != 4 or a.shape[:2] != b.shape[:2]:
        raise ValueError(f"int_bmm needs [B, H, ., .] operands, got {a.shape} and {b.shape}")
    heads = a.shape[1]
    _check(a, _per_head(a_bits, heads, "a_bits"), a_signed, "a")
    _check(b, _per_head(b_bits, heads, "b_bits"), b_signed, "b")
    rhs = np.swapaxes(b, -1, -2) if trans_b else b
    if rhs.shape[-2] != a.shape[-1]:
        raise ValueError(f"reduction lengths differ: {a.shape} and {b.shape}")
    return a @ rhs


def group_matmul_bound(k: int, gmult, *, a_bits, a_signed: bool, w_bits,
                       w_signed: bool) -> tuple[int, int]:
    """Worst-case ``(lo, hi)`` of :func:`group_matmul` (``k`` the whole reduction length)."""
    gmult = [int(m) for m in np.asarray(gmult).reshape(-1)]
    g = len(gmult)
    a, w = _per_head(a_bits, g, "a_bits"), _per_head(w_bits, g, "w_bits")
    lo = hi = 0
    for m, ab, wb in zip(gmult, a, w, strict=True):
        d_lo, d_hi = dot_bound(k // g, a_bits=ab, a_signed=a_signed, w_bits=wb,
                               w_signed=w_signed)
        lo += min(m * d_lo, m * d_hi)
        hi += max(m * d_lo, m * d_hi)
    return lo, hi


def group_matmul(x: np.ndarray, w: np.ndarray, gmult, *, a_bits, a_signed: bool, w_bits,
                 w_signed: bool) -> np.ndarray:
    """``sum_g gmult[g] * (x[..., K_g] @ w[:, K_g]^T)``: a matmul with grouped reduction.

    The multipliers carry each group's scale relative to the largest (a head-wise
    activation scale times a head-wise weight scale), so the sum is at one scale.

    Parameters
    ----------
    x : np.ndarray
        ``[..., K]`` activation codes; ``K`` is split into ``G`` equal consecutive groups
        ``K_g``, and group ``g`` fits ``a_bits[g]``/``a_signed``.
    w : np.ndarray
        ``[N, K]`` weight codes; group ``g`` fits ``w_bits[g]``/``w_signed``.
    gmult : array_like
        ``[G]`` integer group multipliers.
    a_bits, w_bits : int or sequence of int
        One width for all groups or one per group, checked by
        :func:`golden.kernels.int_matmul` on each group.

    Returns
    -------
    np.ndarray
        The exact int64 ``[..., N]`` sum, inside :func:`group_matmul_bound`.

    Raises
    ------
    ValueError
        An operand outside its group's width, or ``K`` not ``G`` equal groups.
    """
    x = np.asarray(x, dtype=np.int64)
    w = np.asarray(w, dtype=np.int64)
    gmult = np.asarray(gmult, dtype=np.int64).reshape(-1)
    g = gmult.size
    k = x.shape[-1]
    if k % g or w.shape[-1] != k:
        raise ValueError(f"reduction length {k} (weights {w.shape}) is not {g} equal groups")
    a, wb = _per_head(a_bits, g, "a_bits"), _per_head(w_bits, g, "w_bits")
    rows = x.reshape(-1, k)
    out = np.zeros((rows.shape[0], w.shape[0]), dtype=np.int64)
    step = k // g
    for i in range(g):
        part = slice(i * step, (i + 1) * step)
        out += gmult[i] * int_matmul(rows[:, part], w[:, part], a_bits=a[i], a_signed=a_signed,
                                     w_bits=wb[i], w_signed=w_signed)
    return out.reshape(x.shape[:-1] + (w.shape[0],))
