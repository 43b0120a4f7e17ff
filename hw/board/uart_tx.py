"""UART transmitter (8N1): a stream of bytes to a serial line."""

from __future__ import annotations

from amaranth.hdl import Cat, Const, Module, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out
from amaranth.utils import ceil_log2

from hw.board.uart_rx import check_divisor

__all__ = ["UartTx"]


class UartTx(wiring.Component):
    """Sends each byte of its input stream as an 8N1 frame on ``tx`` at ``divisor`` cycles
    a bit (idle high, start bit low, LSB first, one stop bit).

    Contract: ``i_ready`` is high while the line is idle and in the last cycle of a stop
    bit; a byte taken (``i_valid & i_ready``) starts its start bit on the next edge, so
    bytes offered back to back follow with no idle bit: ``10 * divisor`` cycles a byte.
    ``latency``: cycles from a taken byte to its start bit on ``tx``.

    Parameters
    ----------
    divisor : int
        Clock cycles per bit, at least 4.

    Members
    -------
    tx : ``Out(1, init=1)``
    i_valid : ``In(1)``; i_ready : ``Out(1)``; i_data : ``In(8)``
    """

    def __init__(self, divisor: int):
        check_divisor(divisor)
        self._divisor = divisor
        super().__init__({"tx": Out(1, init=1), "i_valid": In(1), "i_ready": Out(1),
                          "i_data": In(8)})

    @property
    def divisor(self) -> int:
        return self._divisor

    @property
    def latency(self) -> int:
        return 1

    def frame_cycles(self) -> int:
        """Clock cycles of one frame on the line."""
        return 10 * self._divisor

    def elaborate(self, platform):
        m = Module()
        div = self._divisor
        timer = Signal(ceil_log2(div + 1))
        left = Signal(4)  # bits of the frame still to send (the one on tx included)
        frame = Signal(10, init=0x3FF)
        last = (left == 0) | ((left == 1) & (timer == 0))  # idle, or the stop bit's end
        m.d.comb += [self.tx.eq(frame[0]), self.i_ready.eq(last)]
        with m.If(last & self.i_valid):
            m.d.sync += [frame.eq(Cat(Const(0, 1), self.i_data, Const(1, 1))),
                         left.eq(10), timer.eq(div - 1)]
        with m.Elif(left == 0):
            pass
        with m.Elif(timer != 0):
            m.d.sync += timer.eq(timer - 1)
        with m.Else():
            m.d.sync += [frame.eq(Cat(frame[1:], Const(1, 1))), left.eq(left - 1),
                         timer.eq(div - 1)]
        return m
