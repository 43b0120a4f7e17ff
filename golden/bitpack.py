"""Bit-planes and sub-byte packing: the documented bit order of every packed tensor.

Bit order (used by golden packages, the RTL streams and the analytic byte counts alike):
element ``i`` of the last axis sits at bit ``i % 8`` of byte ``i // 8`` (LSB first, numpy's
``bitorder="little"``). A ``b``-bit element ``i`` occupies bits ``[i*b, i*b + b)`` of the
little-endian bit string of its row, two's complement when signed. Rows are padded with
zero bits to whole bytes. As a hardware word, element ``i`` is bits ``[i*b, i*b + b)``.
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "binarize_sign",
    "binarize_threshold",
    "pack_bits",
    "pack_int",
    "packed_nbytes",
    "unpack_bits",
    "unpack_int",
    "words_from_rows",
    "rows_from_words",
]


def binarize_sign(x: np.ndarray) -> np.ndarray:
    """Return the bit-plane of ``sign(x)`` with sign(0) = +1: bit 1 codes +1, bit 0 codes -1.

    >>> binarize_sign(np.array([-3, 0, 2])).tolist()
    [0, 1, 1]
    """
    return (np.asarray(x) >= 0).astype(np.uint8)


def binarize_threshold(x: np.ndarray, threshold) -> np.ndarray:
    """Return the {0,1} bit-plane ``x > threshold`` (strict, as GSB's unsigned binariser).

    ``x`` and ``threshold`` are integers (or broadcastable integer arrays) so the comparison
    is exact.

    >>> binarize_threshold(np.array([1, 2, 3]), 2).tolist()
    [0, 0, 1]
    """
    return (np.asarray(x) > np.asarray(threshold)).astype(np.uint8)


def _check_bits(bits: np.ndarray) -> np.ndarray:
    bits = np.asarray(bits)
    if bits.size and (bits.min() < 0 or bits.max() > 1):
        raise ValueError("bit-plane elements must be 0 or 1")
    return bits.astype(np.uint8)


def pack_bits(bits: np.ndarray) -> np.ndarray:
    """Pack a {0,1} array along its last axis into uint8, LSB first.

    >>> pack_bits(np.array([1, 0, 0, 0, 0, 0, 0, 0, 1])).tolist()
    [1, 1]
    """
    return np.packbits(_check_bits(bits), axis=-1, bitorder="little")


def unpack_bits(packed: np.ndarray, n: int) -> np.ndarray:
    """Invert :func:`pack_bits` for rows of ``n`` elements."""
    return np.unpackbits(np.asarray(packed, dtype=np.uint8), axis=-1, count=n, bitorder="little")


def packed_nbytes(shape: tuple[int, ...], bits: int) -> int:
    """Bytes that :func:`pack_int` uses for an integer tensor of ``shape`` at ``bits``."""
    rows = int(np.prod(shape[:-1], dtype=np.int64)) if len(shape) > 1 else 1
    return rows * ((shape[-1] * bits + 7) // 8) if shape else 1


def pack_int(values: np.ndarray, bits: int, *, signed: bool) -> np.ndarray:
    """Pack integers of ``bits`` width along the last axis into uint8 (see module doc).

    Raises ``ValueError`` if any element is out of the range of ``bits``/``signed``.
    """
    values = np.asarray(values, dtype=np.int64)
    lo, hi = (-(1 << (bits - 1)), (1 << (bits - 1)) - 1) if signed else (0, (1 << bits) - 1)
    if values.size and (values.min() < lo or values.max() > hi):
        raise ValueError(f"values out of range for {'s' if signed else 'u'}{bits}: [{lo}, {hi}]")
    codes = (values & ((1 << bits) - 1)).astype(np.uint64)
    shifts = np.arange(bits, dtype=np.uint64)
    planes = ((codes[..., None] >> shifts) & 1).astype(np.uint8)
    flat = planes.reshape(*values.shape[:-1], values.shape[-1] * bits)
    return np.packbits(flat, axis=-1, bitorder="little")


def unpack_int(packed: np.ndarray, n: int, bits: int, *, signed: bool) -> np.ndarray:
    """Invert :func:`pack_int` for rows of ``n`` elements; returns int64."""
    flat = np.unpackbits(np.asarray(packed, dtype=np.uint8), axis=-1, count=n * bits,
                         bitorder="little")
    planes = flat.reshape(*flat.shape[:-1], n, bits).astype(np.int64)
    codes = (planes << np.arange(bits, dtype=np.int64)).sum(axis=-1)
    if signed:
        codes = np.where(codes >= (1 << (bits - 1)), codes - (1 << bits), codes)
    return codes


def words_from_rows(values: np.ndarray, bits: int) -> list[int]:
    """Return one Python int per row: element ``i`` at bits ``[i*bits, (i+1)*bits)``.

    This is the layout of an Amaranth ``ArrayLayout``/bit-vector payload. Values are
    taken modulo ``2**bits`` (two's complement for negatives).
    """
    values = np.asarray(values, dtype=np.int64)
    mask = (1 << bits) - 1
    words = []
    for row in values.reshape(-1, values.shape[-1]):
        word = 0
        for i, v in enumerate(row.tolist()):
            word |= (v & mask) << (i * bits)
        words.append(word)
    return words


def rows_from_words(words, n: int, bits: int, *, signed: bool) -> np.ndarray:
    """Invert :func:`words_from_rows`: ``[len(words), n]`` int64."""
    mask = (1 << bits) - 1
    out = np.empty((len(words), n), dtype=np.int64)
    for r, word in enumerate(words):
        for i in range(n):
            v = (int(word) >> (i * bits)) & mask
            out[r, i] = v - (1 << bits) if signed and v >> (bits - 1) else v
    return out
