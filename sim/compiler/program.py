"""A compiled program and the scratchpad address space it lives in.

:class:`Program` is what :func:`sim.compiler.compile_network` returns: the descriptors
(:mod:`golden.accel_program`), the external-memory image that holds them and the preloaded
scratchpad data, and where every produced tensor lies (:class:`TensorLoc`, a
:class:`View` into the scratchpad). :func:`read_back` turns a dumped scratchpad into the
tensors' values. :class:`Space` allocates scratchpad regions; :func:`pack_words` packs
parameter beats at their field widths.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from golden.accel_program import ELEM_BITS, AccelTopCfg
from golden.errors import VitsimError

__all__ = ["ALIGN_ROWS", "CompileError", "Program", "Space", "TensorLoc", "View",
           "pack_words", "pow2_at_least", "read_back", "row_major"]

ALIGN_ROWS = 8  # rows of [.., N, X] buffers are padded to a multiple of this


class CompileError(VitsimError):
    """The package has an op the accelerator cannot run, or it does not fit the config."""


@dataclass(frozen=True)
class View:
    """Elements ``addr + sum(idx * strides)`` of a logical tensor of ``shape``.

    ``fmt``: ``"int"`` (one value an element), ``"bits"`` (``group`` bits of the last axis
    packed in one element, ``strides[-1]`` counting elements), ``"planes"`` (one value an
    element whose bit ``q`` is plane ``q``).
    """

    addr: int
    shape: tuple
    strides: tuple
    fmt: str = "int"
    group: int = 1

    def sub(self, axis: int, index: int) -> View:
        """The view with ``axis`` fixed at ``index``."""
        return View(self.addr + index * self.strides[axis],
                    self.shape[:axis] + self.shape[axis + 1:],
                    self.strides[:axis] + self.strides[axis + 1:], self.fmt, self.group)

    def part(self, axis: int, start: int, count: int) -> View:
        """The view restricted to indices ``start .. start + count - 1`` along ``axis``."""
        shape = list(self.shape)
        shape[axis] = count
        return View(self.addr + start * self.strides[axis], tuple(shape), self.strides,
                    self.fmt, self.group)

    def contiguous(self) -> bool:
        expect, ok = 1, True
        for n, s in zip(reversed(self.shape), reversed(self.strides), strict=True):
            ok &= n == 1 or s == expect
            expect *= n
        return ok


@dataclass(frozen=True)
class TensorLoc:
    """Where a produced tensor lies: its view; of a planes view, bit ``plane`` (``count``
    None) or the ``count`` bits from ``plane`` on, stacked on a new leading axis; ``shape``:
    the package's shape when the view splits an axis (chunked keys)."""

    view: View
    plane: int | None = None
    count: int | None = None
    shape: tuple | None = None


@dataclass
class Program:
    """A compiled program and everything needed to run and check it."""

    cfg: AccelTopCfg
    descs: list  # OpDesc
    names: list  # network op name (or "dma_in"/"dma_out") of each descriptor
    layers: list  # network layer of each descriptor (None outside blocks)
    ext: np.ndarray  # [ext_words, lanes] uint32, the external memory image
    dump_word: int  # external word where the final dma_out puts scratchpad word 0
    used: int  # scratchpad elements used
    preload: int  # elements loaded by dma_in
    outputs: dict  # tensor name -> TensorLoc
    cnt_base: int  # scratchpad element of descriptor 0's cycle counter
    expected: dict = field(default_factory=dict)  # tensor name -> recorded value (1 image)
    meta: dict = field(default_factory=dict)


def pow2_at_least(n: int) -> int:
    return 1 << max(0, (n - 1).bit_length())


def pack_words(values: np.ndarray, bits: int) -> np.ndarray:
    """``values[..., n]`` as fields of ``bits`` (two's complement), LSB first, cut into
    32-bit elements ``[..., ceil(n * bits / 32)]``."""
    values = np.asarray(values)
    lead, n = values.shape[:-1], values.shape[-1]
    epb = -(-n * bits // ELEM_BITS)
    flat = values.reshape(-1, n).astype(np.int64) & ((1 << bits) - 1)  # two's complement
    # bit b of field i at bit i * bits + b of the row, cut into 32-bit elements
    planes = ((flat[:, :, None] >> np.arange(bits, dtype=np.int64)) & 1).astype(np.uint8)
    planes = planes.reshape(flat.shape[0], n * bits)
    planes = np.concatenate([planes, np.zeros((flat.shape[0], epb * ELEM_BITS - n * bits),
                                              np.uint8)], axis=1)
    weights = np.int64(1) << np.arange(ELEM_BITS, dtype=np.int64)
    out = planes.reshape(flat.shape[0], epb, ELEM_BITS).astype(np.int64) @ weights
    return out.reshape(*lead, epb)


class Space:
    """A bump allocator of scratchpad elements, each region aligned to a word."""

    def __init__(self, base: int, lanes: int):
        self.base, self.top, self.lanes = base, base, lanes
        self.data: list[tuple[int, np.ndarray]] = []
        self.regions: list[tuple[int, int]] = []  # (start, size) of every allocation

    def alloc(self, n: int) -> int:
        addr = self.top
        size = -(-max(n, 1) // self.lanes) * self.lanes
        self.top += size
        self.regions.append((addr, size))
        return addr

    def put(self, values: np.ndarray) -> int:
        values = np.asarray(values, dtype=np.int64).reshape(-1)
        addr = self.alloc(values.size)
        self.data.append((addr, values))
        return addr


def row_major(shape, pad_rows: bool, pad_last: int = 1) -> tuple[tuple, int]:
    """Row-major strides of ``shape`` (the second-to-last axis padded to ALIGN_ROWS when
    ``pad_rows``, the last to a multiple of ``pad_last``); returns ``(strides, elements)``."""
    dims = list(shape)
    dims[-1] = -(-dims[-1] // pad_last) * pad_last
    if pad_rows and len(dims) >= 2:
        dims[-2] = -(-dims[-2] // ALIGN_ROWS) * ALIGN_ROWS
    strides, acc = [], 1
    for n in reversed(dims):
        strides.append(acc)
        acc *= n
    return tuple(reversed(strides)), acc


def read_back(program: Program, scratch: np.ndarray) -> dict:
    """Each produced tensor's value from the dumped scratchpad (int64, logical shape)."""
    out = {}
    for name, loc in program.outputs.items():
        v = loc.view
        if v.fmt == "bits":
            shape = v.shape[:-1] + (v.shape[-1] // v.group,)
            words = _gather(scratch, v.addr, shape, v.strides)
            bits = (words[..., None] >> np.arange(v.group)) & 1
            out[name] = bits.reshape(loc.shape or v.shape)
            continue
        vals = _gather(scratch, v.addr, v.shape, v.strides)
        if loc.plane is None:
            out[name] = vals
        elif loc.count is None:
            out[name] = (vals >> loc.plane) & 1
        else:
            out[name] = np.stack([(vals >> (loc.plane + q)) & 1 for q in range(loc.count)])
    return out


def _gather(scratch, addr, shape, strides):
    idx = np.full(shape, addr, dtype=np.int64)
    for axis, (n, s) in enumerate(zip(shape, strides, strict=True)):
        sh = [1] * len(shape)
        sh[axis] = n
        idx = idx + (np.arange(n) * s).reshape(sh)
    return scratch[idx]
