"""Adder trees and compressor trees (helpers for the array units, not components)."""

from __future__ import annotations

from collections.abc import Callable

from amaranth.hdl import Cat, Const, Module, Signal, Value

__all__ = ["column_sum", "compress", "compressed_popcount", "full_add", "popcount", "tree_sum"]


def tree_sum(terms: list[Value]) -> Value:
    """Return the sum of ``terms`` as a balanced tree of additions.

    A balanced tree keeps the logic depth at ``log2(len(terms))`` adders; Amaranth's ``+``
    widens each sum by one bit, so the result never overflows.
    """
    if not terms:
        raise ValueError("tree_sum needs at least one term")
    while len(terms) > 1:
        paired = [terms[i] + terms[i + 1] for i in range(0, len(terms) - 1, 2)]
        if len(terms) % 2:
            paired.append(terms[-1])
        terms = paired
    return terms[0]


def popcount(value: Value) -> Value:
    """Return the number of set bits of ``value`` (a balanced tree over its bits)."""
    return tree_sum([value[i] for i in range(len(value))])


def full_add(m: Module, x: Value, y: Value, z: Value) -> tuple[Signal, Signal]:
    """Return ``(sum, carry)`` of three bits (a 3:2 counter), as signals driven in ``m``.

    ``x``, ``y`` and ``z`` may be equally wide vectors: then bit ``i`` of the results is
    the full adder of bit ``i`` of the inputs (a carry-save adder, lanes independent).
    """
    width = max(len(x), len(y), len(z))
    s, k = Signal(width), Signal(width)
    m.d.comb += [s.eq(x ^ y ^ z), k.eq((x & y) | (x & z) | (y & z))]
    return s, k


def compress(m: Module, columns: list[list[Value]],
             folded: list[list[tuple[Value, Value]]] | None = None,
             fold: Callable[[Value, Value], Value] | None = None,
             stage: Callable[[Value], Value] | None = None,
             stats: dict | None = None) -> list[list[Value]]:
    """Reduce columns of bits (column ``j`` weighs ``2**j``) to at most two bits a column.

    A Wallace tree of full adders (3:2 counters), one level at a time; the result keeps the
    sum of all bits. ``folded`` holds, per column, pairs ``(x, y)`` that stand for the bit
    ``fold(x, y)`` (e.g. ``~(a ^ w)``): each full adder takes at most one of them with two
    other bits, so that on a LUT4 device the two-input function sits inside the adder's
    sum and carry LUTs (four inputs each) instead of a LUT of its own; just enough of them
    are computed on their own to feed the adders (a tree of ``n`` folded and ``p`` plain
    bits ends with ``p - n`` bits, so folded bits are promoted until that is >= 1).

    ``stage`` (value -> registered value), if given, registers every bit (and both halves
    of every pair still folded) after each level: a one-LUT-deep pipeline, which also keeps
    the LUT mapper from merging the adders into something larger. ``stats["levels"]``
    receives the number of levels (:attr:`golden.spec.BinaryArrayCfg.tree_levels` mirrors
    this count for the binary array). For 64 folded bits: 57 adders, 33 promoted bits,
    9 levels, leaving columns of ``[2, 1, 1, 1, 1, 1]`` bits.

    Bit-sliced use: every "bit" may be a vector of the same width ``n`` (``fold`` returning
    that width); then the result is ``n`` independent trees of the same shape, lane ``i``
    made of bit ``i`` of every vector, with one signal (and one register) per tree
    position instead of ``n``. The halves of a folded pair may be narrower than ``n``
    when ``fold`` widens them (e.g. one activation bit that all lanes share).
    """
    width = max(len(columns), len(folded or []))
    comp = [list(columns[j]) if j < len(columns) else [] for j in range(width)]
    raw = [list(folded[j]) if folded and j < len(folded) else [] for j in range(width)]
    levels = 0
    while any(len(c) + len(r) > 2 for c, r in zip(comp, raw, strict=True)):
        nxt_comp = [[] for _ in range(width + 1)]
        nxt_raw = [[] for _ in range(width + 1)]
        for j in range(width):
            c, r = comp[j], raw[j]
            if len(c) + len(r) > 2:
                promote = max(0, -(-(len(r) - len(c) + 1) // 2))
                c, r = c + [fold(*v) for v in r[:promote]], r[promote:]
                n_fold = min(len(r), len(c) // 2)
                for i in range(n_fold):
                    s, k = full_add(m, fold(*r[i]), c[2 * i], c[2 * i + 1])
                    nxt_comp[j].append(s)
                    nxt_comp[j + 1].append(k)
                c, r = c[2 * n_fold:], r[n_fold:]
                while len(c) >= 3:
                    s, k = full_add(m, c[0], c[1], c[2])
                    nxt_comp[j].append(s)
                    nxt_comp[j + 1].append(k)
                    c = c[3:]
            nxt_comp[j] += c
            nxt_raw[j] += r
        while len(nxt_comp) > 1 and not nxt_comp[-1] and not nxt_raw[-1]:
            nxt_comp.pop()
            nxt_raw.pop()
        comp, raw, width = nxt_comp, nxt_raw, len(nxt_comp)
        if stage is not None:
            comp = [[stage(v) for v in col] for col in comp]
            raw = [[(stage(x), stage(y)) for x, y in col] for col in raw]
        levels += 1
    if stats is not None:
        stats["levels"] = levels
    return [c + [fold(*v) for v in r] for c, r in zip(comp, raw, strict=True)]


def column_sum(columns: list[list[Value]]) -> Value:
    """Return the sum of columns of at most two bits each (one carry-propagate adder)."""
    rows = [[col[i] if i < len(col) else Const(0, 1) for col in columns] for i in range(2)]
    return Cat(*rows[0]).as_unsigned() + Cat(*rows[1]).as_unsigned()


def compressed_popcount(m: Module, bits: list[Value],
                        folded: list[tuple[Value, Value]] = (),
                        fold: Callable[[Value, Value], Value] | None = None,
                        stage: Callable[[Value], Value] | None = None) -> Value:
    """Return the number of set bits among ``bits`` and ``fold(x, y)`` for ``folded``.

    A :func:`compress` tree and one carry-propagate adder.
    """
    return column_sum(compress(m, [list(bits)], [list(folded)], fold, stage))
