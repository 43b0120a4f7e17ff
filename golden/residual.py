"""Residual add: the saturating integer sum of two activation tensors at one scale."""

from __future__ import annotations

import numpy as np

__all__ = ["residual_add"]


def residual_add(a: np.ndarray, b: np.ndarray, *, out_bits: int) -> np.ndarray:
    """``clip(a + b, -2**(out_bits-1), 2**(out_bits-1) - 1)`` in int64 (saturating).

    Contract: ``a`` and ``b`` are integer arrays that broadcast, at the same scale (the
    exporter puts both operands of every residual add at the residual-stream scale);
    ``2 <= out_bits <= 62``.

    >>> residual_add(np.array([100, -100, 3]), np.array([100, -100, -4]), out_bits=8).tolist()
    [127, -128, -1]
    """
    if not 2 <= out_bits <= 62:
        raise ValueError(f"out_bits must be between 2 and 62, not {out_bits!r}")
    half = 1 << (out_bits - 1)
    return np.clip(np.asarray(a, np.int64) + np.asarray(b, np.int64), -half, half - 1)
