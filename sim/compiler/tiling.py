"""The tiling of every op kind, from shapes alone: loop nests, beats and writer geometry.

One piece of code decides how an op is cut into beats; the compiler
(:mod:`sim.compiler`) fills in addresses, strides and operands around it, and the
accelerator-exact cycle model (:mod:`sim.analytic.accel_cycles`) prices it without any
tensor data. A :class:`Nest` holds the descriptor fields a nest fixes: the reader's loops
``rn`` (``NUM_LOOPS`` trip counts, outermost first, the innermost loop one beat), the
writer's loops ``wn`` and lanes ``wc`` (elements a written beat), and ``last_level`` (the
loop whose end closes a row or a reduction).

Per kind (``M`` tokens, ``K`` reduction, ``N`` outputs, ``R x C`` array):

- elementwise units: ``lanes`` elements a beat along the last axis, or over the flat
  tensor when the last axis is not a multiple of ``lanes`` (:func:`elementwise`);
- matmuls (binary array, MAC array, per-head ``int_bmm``): loops ``(outer..., N / R,
  K / C)``, the reduction innermost (output stationary: one ``R``-lane result per
  ``K / C`` beats), the writer's loops the reader's without the reduction
  (:func:`matmul`);
- LayerNorm and softmax: ``lanes`` elements a beat (dividing the row), a row at a time
  (:func:`rows`);
- GSB A.V, per head: the ``D`` V columns (a beat each), then the ``N`` rows of A, each
  written as ``ceil(D / lanes)`` blocks (:func:`gsb_av`);
- keys of ``q @ k^T`` wider than one ``C``-column chunk are laid out chunk-major
  (:func:`chunked_keys`), so that ``R`` key rows are whole vector reads
  (:func:`key_reads`).
"""

from __future__ import annotations

from typing import NamedTuple

from golden.accel_program import NUM_LOOPS
from sim.compiler.program import CompileError

__all__ = ["Nest", "chunked_keys", "elementwise", "gsb_av", "key_reads", "loops",
           "matmul", "pad", "patch_rows", "rows", "runs"]

_DEFAULT_LAST = 4  # OpDesc's default last_level: no row or reduction closes
_NO_WRITE = (0,) * NUM_LOOPS


class Nest(NamedTuple):
    """The descriptor fields a loop nest fixes (see the module doc)."""

    rn: tuple
    wn: tuple
    wc: int
    last_level: int = _DEFAULT_LAST

    def fields(self) -> dict:
        """The nest as :class:`golden.accel_program.OpDesc` keyword arguments."""
        return {"rn": self.rn, "wn": self.wn, "wc": self.wc, "last_level": self.last_level}


_nest = tuple.__new__  # _nest(Nest, fields): a Nest without the keyword-checking constructor


def loops(dims) -> tuple:
    """``dims`` (outermost first) as ``NUM_LOOPS`` trip counts, unused outer loops 1.

    Raises
    ------
    CompileError
        More dimensions than the sequencer has loops.
    """
    dims = tuple(map(int, dims))
    n = len(dims)
    if n > NUM_LOOPS:
        raise CompileError(f"{n} loop levels; the sequencer has {NUM_LOOPS}")
    return _OUTER[n] + dims


_OUTER = tuple((1,) * (NUM_LOOPS - n) for n in range(NUM_LOOPS + 1))  # unused outer loops


def pad(strides) -> tuple:
    """Loop strides (outermost first) as ``NUM_LOOPS`` strides, unused outer loops 0."""
    return (0,) * (NUM_LOOPS - len(strides)) + tuple(int(s) for s in strides)


def runs(values) -> list[tuple[int, int]]:
    """``(first index, count)`` of each run of consecutive equal entries of ``values``."""
    out: list[tuple[int, int]] = []
    for i, v in enumerate(values):
        if out and values[out[-1][0]] == v:
            out[-1] = (out[-1][0], out[-1][1] + 1)
        else:
            out.append((i, 1))
    return out


def elementwise(shape, lanes: int, *, last_level: int = _DEFAULT_LAST) -> tuple[Nest, bool]:
    """An elementwise unit over ``shape``: ``(nest, structured)``; ``structured``: beats run
    along the last axis (it is a multiple of ``lanes``), else over the flat tensor (the
    last beat padded)."""
    if shape[-1] % lanes == 0:
        rn = loops([*shape[:-1], shape[-1] // lanes])
        structured = True
    else:
        numel = 1
        for n in shape:
            numel *= int(n)
        rn = loops([-(-numel // lanes)])
        structured = False
    return _nest(Nest, (rn, rn, lanes, last_level)), structured


def matmul(outer, n: int, k: int, rows_: int, cols: int) -> Nest:
    """A matmul of ``n`` outputs and reduction ``k`` (a multiple of ``cols``) on an
    ``rows_ x cols`` array, for every index of the ``outer`` loops: loops
    ``(*outer, ceil(n / rows_), k / cols)``; a written beat is ``rows_`` outputs, once per
    reduction."""
    rn = loops([*outer, -(-n // rows_), k // cols])
    return _nest(Nest, (rn, (1,) + rn[:3], rows_, NUM_LOOPS - 1))


def rows(shape, *, last_level: int = _DEFAULT_LAST, lanes: int = 1) -> Nest:
    """A row unit (LayerNorm, softmax) over ``shape``: ``lanes`` elements a beat (they
    divide the last axis), a row (the last axis) at a time, ``lanes`` elements written a
    beat."""
    if shape[-1] % lanes:
        raise CompileError(f"rows of {shape[-1]} are not whole beats of {lanes} lanes")
    rn = loops([*shape[:-1], shape[-1] // lanes])
    return _nest(Nest, (rn, rn, lanes, last_level))


def gsb_av(n: int, d: int, lanes: int, v_cols: int = 1) -> tuple[Nest, Nest]:
    """The two descriptors of one head of GSB A.V (``n`` tokens, head width ``d``): the V
    columns (``v_cols`` columns a beat, nothing written), then the rows of A (a row a beat,
    written as ``ceil(d / lanes)`` blocks of ``lanes``)."""
    cols = Nest(loops([-(-d // v_cols)]), _NO_WRITE, 0, NUM_LOOPS - 1)
    arows = Nest(loops([n]), loops([n, -(-d // lanes)]), lanes, NUM_LOOPS - 1)
    return cols, arows


def chunked_keys(d: int, cols: int, lanes: int) -> bool:
    """Whether keys of width ``d`` (bits, packed ``lanes`` to an element) are laid out
    chunk-major ``[H, N, d / cols, cols]`` for an array of ``cols`` columns: when a key row
    spans several whole chunks of whole packed elements."""
    return cols % lanes == 0 and d % cols == 0 and d != cols


def key_reads(row_stride: int, vl: int, rows_: int, lanes: int) -> int | None:
    """Vector reads a beat of the ``rows_`` key rows of a ``q @ k^T`` weight tile (``vl``
    packed elements each, ``row_stride`` apart) on a scratchpad word of ``lanes``
    elements: 1 when they are consecutive and fit one word, the words they span when they
    are consecutive and fill whole words; ``None`` when they are apart or end inside a
    word (then one row a sub-cycle)."""
    if row_stride != vl:
        return None
    if rows_ * vl <= lanes:
        return 1
    return rows_ * vl // lanes if rows_ * vl % lanes == 0 else None


def patch_rows(cols: int, patch: int, chans: int) -> int | None:
    """Image rows a beat of the patch embedding reads on an array of ``cols`` columns, or
    None when ``cols`` does not fit: the image lies in rows of ``patch`` pixels, band-major
    and channel-interleaved (band ``b`` holds the rows ``(c, y)`` of channel ``c``, pixel
    row ``y`` of the band, in that order), so a patch's ``chans * patch`` rows are evenly
    spaced and its pixels in the weight's ``(c, y, x)`` order; a beat is ``cols / patch``
    of those rows (a power-of-two ``patch``, a whole number of rows dividing the patch's)."""
    if patch & (patch - 1) or cols % patch:
        return None
    r = cols // patch
    return r if (chans * patch) % r == 0 else None
