"""UART receiver (8N1): a serial line to a stream of bytes."""

from __future__ import annotations

from amaranth.hdl import Module, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out
from amaranth.utils import ceil_log2

__all__ = ["UartRx", "check_divisor"]


def check_divisor(divisor) -> None:
    """Raise ``ValueError`` unless ``divisor`` (clock cycles per bit) is an int >= 4."""
    if not isinstance(divisor, int) or isinstance(divisor, bool) or divisor < 4:
        raise ValueError(f"divisor must be an integer of at least 4 (clock cycles per bit), "
                         f"not {divisor!r}")


class UartRx(wiring.Component):
    """Receives 8N1 frames on ``rx`` (idle high, LSB first) at ``divisor`` cycles a bit.

    Contract: ``rx`` passes two flip-flops (it may come from a pin in another clock's
    time); a falling edge starts a frame, the start bit is checked at its middle (a glitch
    shorter than half a bit is ignored), each data bit and the stop bit are sampled
    ``divisor`` cycles apart from there. A frame with its stop bit high puts its byte on
    ``o_data`` with ``o_valid`` high for one cycle (there is no ``ready``: the consumer
    must take a byte within the ``10 * divisor`` cycles of the next frame); a frame with a
    low stop bit raises ``error`` for one cycle instead. ``latency``: cycles from the
    middle of the stop bit to ``o_valid``.

    Parameters
    ----------
    divisor : int
        Clock cycles per bit, at least 4 (25 MHz / 1 Mbaud = 25).

    Members
    -------
    rx : ``In(1, init=1)``
    o_valid : ``Out(1)``; o_data : ``Out(8)``; error : ``Out(1)``
    """

    def __init__(self, divisor: int):
        check_divisor(divisor)
        self._divisor = divisor
        super().__init__({"rx": In(1, init=1), "o_valid": Out(1), "o_data": Out(8),
                          "error": Out(1)})

    @property
    def divisor(self) -> int:
        return self._divisor

    @property
    def latency(self) -> int:
        """Two synchroniser flip-flops plus the output register."""
        return 3

    def frame_cycles(self) -> int:
        """Clock cycles of one frame on the line (start, 8 data, stop)."""
        return 10 * self._divisor

    def elaborate(self, platform):
        m = Module()
        div = self._divisor
        s1, s2 = Signal(init=1), Signal(init=1)
        m.d.sync += [s1.eq(self.rx), s2.eq(s1)]
        timer = Signal(ceil_log2(div + 1))
        bit = Signal(4)
        shift = Signal(8)
        m.d.sync += [self.o_valid.eq(0), self.error.eq(0)]
        with m.FSM():
            with m.State("IDLE"):
                with m.If(~s2):
                    m.d.sync += timer.eq(div // 2 - 1)
                    m.next = "START"
            with m.State("START"):
                with m.If(timer != 0):
                    m.d.sync += timer.eq(timer - 1)
                with m.Elif(s2):  # a glitch, not a start bit
                    m.next = "IDLE"
                with m.Else():
                    m.d.sync += [timer.eq(div - 1), bit.eq(0)]
                    m.next = "DATA"
            with m.State("DATA"):
                with m.If(timer != 0):
                    m.d.sync += timer.eq(timer - 1)
                with m.Else():
                    m.d.sync += [timer.eq(div - 1), shift.eq((shift >> 1) | (s2 << 7)),
                                 bit.eq(bit + 1)]
                    with m.If(bit == 7):
                        m.next = "STOP"
            with m.State("STOP"):
                with m.If(timer != 0):
                    m.d.sync += timer.eq(timer - 1)
                with m.Else():
                    with m.If(s2):
                        m.d.sync += [self.o_valid.eq(1), self.o_data.eq(shift)]
                    with m.Else():
                        m.d.sync += self.error.eq(1)
                    m.next = "IDLE"
        return m
