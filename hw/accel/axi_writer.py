"""AXI4-like burst write engine: a stream of words to an address, as write bursts."""

from __future__ import annotations

from amaranth.hdl import Module, Mux, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from golden.accel_program import ADDR_BITS, COUNT_BITS
from hw.accel.axi_reader import BurstEngine

__all__ = ["AxiWriter", "write_channels"]


def write_channels(word_bits: int) -> wiring.Signature:
    """The AW, W and B channels, seen from the master (AXI4 names; ``len`` is beats - 1,
    addresses count words)."""
    return wiring.Signature({
        "aw_valid": Out(1), "aw_ready": In(1), "aw_addr": Out(ADDR_BITS), "aw_len": Out(8),
        "w_valid": Out(1), "w_ready": In(1), "w_data": Out(word_bits), "w_last": Out(1),
        "b_valid": In(1), "b_ready": Out(1),
    })


class AxiWriter(BurstEngine):
    """Writes ``count`` words of its input stream to word ``addr`` on, as bursts of at most
    ``max_burst`` beats.

    Contract: ``cmd_valid``/``cmd_ready`` take a command (``cmd_addr``, ``cmd_count``;
    ``cmd_ready`` is high when idle; a zero count ends at once). The engine raises
    ``aw_valid`` with ``aw_addr``/``aw_len`` for each burst in address order, the next one
    the cycle after the previous is taken (no 4 KiB split: addresses count the model's
    words). Input words pass straight to W (``w_valid = i_valid``, ``i_ready =
    w_ready``) while words of the command remain, ``w_last`` on each burst's final beat;
    W may run ahead of AW, as AXI allows. ``b_ready`` is always high; ``busy`` is high
    from the command until the last burst's B response.

    Parameters
    ----------
    word_bits : int
        Data width of W and of the input stream.
    max_burst : int
        Beats per burst, 1..256 (AXI4 INCR).

    Members
    -------
    cmd_valid : ``In(1)``; cmd_ready : ``Out(1)``
    cmd_addr : ``In(ADDR_BITS)``; cmd_count : ``In(COUNT_BITS)``
    bus : ``Out(write_channels(word_bits))``
    i_valid : ``In(1)``; i_ready : ``Out(1)``; i_data : ``In(word_bits)``
    busy : ``Out(1)``
    """

    @staticmethod
    def members(word_bits: int) -> dict:
        """The AW/W/B bus and the input stream."""
        return {"bus": Out(write_channels(word_bits)),
                "i_valid": In(1), "i_ready": Out(1), "i_data": In(word_bits)}

    def elaborate(self, platform):
        m = Module()
        bus, mb = self.bus, self._max_burst
        aw_left = Signal(COUNT_BITS)  # words whose burst is not yet announced
        w_left = Signal(COUNT_BITS)  # words not yet written
        beat_left = Signal(range(mb + 1))  # beats left in the current W burst (0: new)
        b_left = Signal(COUNT_BITS)  # bursts announced whose response is outstanding
        addr = Signal(ADDR_BITS)
        aw_burst = Mux(aw_left > mb, mb, aw_left)
        w_burst = Mux(w_left > mb, mb, w_left)
        in_burst = Mux(beat_left == 0, w_burst, beat_left)  # beats left, this beat included

        idle = (w_left == 0) & (aw_left == 0) & (b_left == 0)
        m.d.comb += [self.busy.eq(~idle), self.cmd_ready.eq(idle),
                     bus.aw_valid.eq(aw_left != 0), bus.aw_addr.eq(addr),
                     bus.aw_len.eq(aw_burst - 1),
                     bus.w_valid.eq(self.i_valid & (w_left != 0)), bus.w_data.eq(self.i_data),
                     bus.w_last.eq(in_burst == 1),
                     self.i_ready.eq(bus.w_ready & (w_left != 0)), bus.b_ready.eq(1)]
        with m.If(self.cmd_valid & self.cmd_ready):
            m.d.sync += [aw_left.eq(self.cmd_count), w_left.eq(self.cmd_count),
                         addr.eq(self.cmd_addr), beat_left.eq(0)]
        with m.Else():
            aw_take = bus.aw_valid & bus.aw_ready
            with m.If(aw_take):
                m.d.sync += [aw_left.eq(aw_left - aw_burst), addr.eq(addr + aw_burst)]
            with m.If(bus.w_valid & bus.w_ready):
                m.d.sync += [w_left.eq(w_left - 1), beat_left.eq(in_burst - 1)]
            m.d.sync += b_left.eq(b_left + aw_take - (bus.b_valid & (b_left != 0)))
        return m
