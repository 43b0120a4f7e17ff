"""What the accelerator's Components share: the descriptor layout and the loop-nest step."""

from __future__ import annotations

from amaranth.hdl import Module, Signal, signed, unsigned
from amaranth.lib import data

from golden.accel_program import desc_fields

__all__ = ["desc_layout", "nest_sum", "step_nest"]


def desc_layout() -> data.StructLayout:
    """The descriptor as a layout: the fields of :func:`golden.accel_program.desc_fields`,
    LSB first, signed where the field is."""
    return data.StructLayout({n: (signed(b) if s else unsigned(b)) for n, b, s in desc_fields()})


def step_nest(m: Module, counters: list, at_end: list, done, sums=()) -> None:
    """Advance a loop nest (``counters[-1]`` innermost) by one iteration; ``done`` when
    every counter is at its end. ``sums``: the nest's running sums (:func:`nest_sum`, each
    with its strides), stepped with the counters."""
    n = len(counters)
    for level in reversed(range(n)):
        with (m.If if level == n - 1 else m.Elif)(~at_end[level]):
            m.d.sync += [counters[level].eq(counters[level] + 1),
                         *(c.eq(0) for c in counters[level + 1:])]
            for part, strides in sums:
                m.d.sync += [x.eq(part[level] + strides[level]) for x in part[level:]]
    with m.Else():
        m.d.sync += done


def nest_sum(m: Module, base, levels: int, *, start, width: int, name: str) -> list[Signal]:
    """The registers of ``base + sum(counters[l] * strides[l])`` of a loop nest of
    ``levels`` counters, kept as sums instead of multiplied out: one partial sum per level,
    ``p[l] = base + sum(counters[:l + 1] * strides[:l + 1])`` (``width`` bits, so modulo
    ``2**width``: the same bits as the products' sum cut to ``width``); returns ``p``, whose
    last entry is the whole sum.

    ``start`` (the cycle the nest's counters are all 0) loads ``base``; :func:`step_nest`
    given ``(p, strides)`` in ``sums`` steps them: stepping level ``l`` (the levels inside
    it back at 0) sets ``p[l:]`` to ``p[l] + strides[l]``. So the address of a beat is a
    register, not a product of a counter and a 33-bit stride (those sat on the
    accelerator's longest paths). ``base`` and the strides must hold from ``start`` to the
    end of the nest; the nest does not step in the ``start`` cycle.
    """
    part = [Signal(width, name=f"{name}_p{lvl}") for lvl in range(levels)]
    with m.If(start):
        m.d.sync += [x.eq(base) for x in part]
    return part
