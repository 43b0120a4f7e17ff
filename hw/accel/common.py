"""What the accelerator's Components share: the descriptor layout and the loop-nest step."""

from __future__ import annotations

from amaranth.hdl import Module, signed, unsigned
from amaranth.lib import data

from golden.accel_program import desc_fields

__all__ = ["desc_layout", "step_nest"]


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
