"""AXI4-like burst read engine: a word count from an address, as read bursts and a stream."""

from __future__ import annotations

from amaranth.hdl import Module, Mux, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from golden.accel_program import ADDR_BITS, COUNT_BITS

__all__ = ["AxiReader", "BurstEngine", "check_burst", "read_channels"]


def read_channels(word_bits: int) -> wiring.Signature:
    """The AR and R channels, seen from the master (AXI4 names; ``len`` is beats - 1,
    addresses count words)."""
    return wiring.Signature({
        "ar_valid": Out(1), "ar_ready": In(1), "ar_addr": Out(ADDR_BITS), "ar_len": Out(8),
        "r_valid": In(1), "r_ready": Out(1), "r_data": In(word_bits), "r_last": In(1),
    })


def check_burst(word_bits, max_burst) -> None:
    """Raise ``ValueError`` unless ``word_bits`` is a positive int and ``max_burst`` an int
    1..256 (an AXI4 INCR burst)."""
    if not isinstance(word_bits, int) or word_bits < 1:
        raise ValueError(f"word_bits must be a positive integer, not {word_bits!r}")
    if not isinstance(max_burst, int) or not 1 <= max_burst <= 256:
        raise ValueError(f"max_burst must be an integer 1..256, not {max_burst!r}")


class BurstEngine(wiring.Component):
    """What the AXI burst engines share: the command port, ``busy`` and the burst bound.

    Contract: ``cmd_valid``/``cmd_ready`` take a command (``cmd_addr``, ``cmd_count``;
    ``cmd_ready`` is high when idle; a zero count ends at once); bursts are at most
    ``max_burst`` beats, announced in address order, the next one the cycle after the
    previous is taken.

    Parameters
    ----------
    word_bits : int
        Data width of the bus's data channel and of the stream.
    max_burst : int
        Beats per burst, 1..256 (AXI4 INCR).

    A subclass gives its own members (bus and stream, placed between the command port and
    ``busy``) by :meth:`members`, called once the arguments are checked.
    """

    def __init__(self, word_bits: int, max_burst: int = 256):
        check_burst(word_bits, max_burst)
        self._word_bits, self._max_burst = word_bits, max_burst
        super().__init__({
            "cmd_valid": In(1), "cmd_ready": Out(1), "cmd_addr": In(ADDR_BITS),
            "cmd_count": In(COUNT_BITS), **self.members(word_bits), "busy": Out(1),
        })

    @staticmethod
    def members(word_bits: int) -> dict:
        """The engine's own members for a ``word_bits`` data width."""
        raise NotImplementedError

    @property
    def max_burst(self) -> int:
        """Beats per burst, at most."""
        return self._max_burst

    @property
    def latency(self) -> int:
        """Cycles from a taken command to its first address beat (``ar_valid`` /
        ``aw_valid``; the writer's first ``i_ready`` too)."""
        return 1


class AxiReader(BurstEngine):
    """Reads ``count`` words from word ``addr`` on as bursts of at most ``max_burst`` beats.

    Contract: ``cmd_valid``/``cmd_ready`` take a command (``cmd_addr``, ``cmd_count``;
    ``cmd_ready`` is high when idle; a zero count ends at once). The engine then raises
    ``ar_valid`` with ``ar_addr``/``ar_len`` for each burst in address order, the next one
    the cycle after the previous is taken (bursts are not split at 4 KiB: the address space
    is the simulation model's words, not bytes). R beats pass straight through to the
    output stream (``r_ready = o_ready``, ``o_valid = r_valid``, ``o_data = r_data``), so
    the memory's latency and wait states, and the consumer's back-pressure, decide the
    pace. ``busy`` is high from the command until its last R beat is taken. The memory must
    answer bursts in order (one AXI ID).

    Parameters
    ----------
    word_bits : int
        Data width of R and of the output stream.
    max_burst : int
        Beats per burst, 1..256 (AXI4 INCR).

    Members
    -------
    cmd_valid : ``In(1)``; cmd_ready : ``Out(1)``
    cmd_addr : ``In(ADDR_BITS)``; cmd_count : ``In(COUNT_BITS)``
    bus : ``Out(read_channels(word_bits))``
    o_valid : ``Out(1)``; o_ready : ``In(1)``; o_data : ``Out(word_bits)``
    busy : ``Out(1)``
    """

    @staticmethod
    def members(word_bits: int) -> dict:
        """The AR/R bus and the output stream."""
        return {"bus": Out(read_channels(word_bits)),
                "o_valid": Out(1), "o_ready": In(1), "o_data": Out(word_bits)}

    def elaborate(self, platform):
        m = Module()
        bus = self.bus
        req_left = Signal(COUNT_BITS)  # words not yet requested
        recv_left = Signal(COUNT_BITS)  # words not yet received
        addr = Signal(ADDR_BITS)
        burst = Mux(req_left > self._max_burst, self._max_burst, req_left)

        m.d.comb += [self.busy.eq(recv_left != 0), self.cmd_ready.eq(recv_left == 0),
                     bus.ar_valid.eq(req_left != 0), bus.ar_addr.eq(addr),
                     bus.ar_len.eq(burst - 1),
                     bus.r_ready.eq(self.o_ready), self.o_valid.eq(bus.r_valid),
                     self.o_data.eq(bus.r_data)]
        with m.If(self.cmd_valid & self.cmd_ready):
            m.d.sync += [req_left.eq(self.cmd_count), recv_left.eq(self.cmd_count),
                         addr.eq(self.cmd_addr)]
        with m.Else():
            with m.If(bus.ar_valid & bus.ar_ready):
                m.d.sync += [req_left.eq(req_left - burst), addr.eq(addr + burst)]
            with m.If(bus.r_valid & bus.r_ready):
                m.d.sync += recv_left.eq(recv_left - 1)
        return m
