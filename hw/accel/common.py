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


def step_nest(m: Module, counters: list, at_end: list, done) -> None:
    """Advance a loop nest (``counters[-1]`` innermost) by one iteration; ``done`` when
    every counter is at its end."""
    n = len(counters)
    for level in reversed(range(n)):
        with (m.If if level == n - 1 else m.Elif)(~at_end[level]):
            m.d.sync += [counters[level].eq(counters[level] + 1),
                         *(c.eq(0) for c in counters[level + 1:])]
    with m.Else():
        m.d.sync += done


def nest_sum(m: Module, base, strides: list, at_end: list, *, start, step, width: int,
             name: str) -> Signal:
    """``base + sum(counters[l] * strides[l])`` of a loop nest stepped by :func:`step_nest`,
    kept in registers instead of multiplied out: returns a ``width``-bit signal, that sum
    modulo ``2**width`` (the same bits as the products' sum cut to ``width``).

    ``start`` (the cycle the nest's counters are all 0) loads ``base``; ``step`` (the cycle
    :func:`step_nest` advances the nest, ``at_end`` its end flags) adds the stepped level's
    stride. One partial sum per level, ``p[l] = base + sum(counters[:l + 1] * strides[:l +
    1])``: stepping level ``l`` (the levels inside it back at 0) sets ``p[l:]`` to ``p[l] +
    strides[l]``. So the address of a beat is a register, not a product of a counter and a
    33-bit stride (those sat on the accelerator's longest paths). ``base`` and ``strides``
    must hold from ``start`` to the end of the nest.
    """
    n = len(strides)
    part = [Signal(width, name=f"{name}_p{lvl}") for lvl in range(n)]
    with m.If(start):
        m.d.sync += [x.eq(base) for x in part]
    with m.Elif(step):
        for level in reversed(range(n)):
            with (m.If if level == n - 1 else m.Elif)(~at_end[level]):
                m.d.sync += [x.eq(part[level] + strides[level]) for x in part[level:]]
    return part[-1]
