"""The board's "external" memory: block RAM behind the accelerator's AXI4-like channels."""

from __future__ import annotations

from amaranth.hdl import Module, Mux, Signal
from amaranth.lib import memory, wiring
from amaranth.lib.wiring import In, Out
from amaranth.utils import ceil_log2

from golden.accel_program import ADDR_BITS
from hw.accel.axi_reader import read_channels
from hw.accel.axi_writer import write_channels

__all__ = ["ExtRam", "host_signature"]


def host_signature(word_bits: int, depth: int) -> wiring.Signature:
    """The host link's port (seen from the host link): ``sel`` takes the memory from the
    AXI channels; a write of ``w_data`` at ``addr`` on ``w_en``; ``r_data`` is the word at
    the ``addr`` of the cycle before (one read port, not transparent)."""
    return wiring.Signature({
        "sel": Out(1), "addr": Out(ceil_log2(max(depth, 2))), "w_en": Out(1),
        "w_data": Out(word_bits), "r_data": In(word_bits),
    })


class ExtRam(wiring.Component):
    """``depth`` words of ``word_bits`` in block RAM (one write port, one read port), an
    AXI4-like slave for the accelerator and a plain port for the host link.

    Contract (AXI side, the channels of :func:`hw.accel.axi_reader.read_channels` and
    :func:`hw.accel.axi_writer.write_channels`, addresses count words, only the low
    ``ceil(log2(depth))`` bits used): a read burst is taken when no read burst is active;
    its first R beat comes the cycle after the AR handshake, then one beat a cycle while
    ``r_ready`` is high. A write burst is taken (AW) when no write burst and no B response
    are pending; W beats are taken one a cycle from the cycle after AW (W offered before
    AW waits), and B comes the cycle after the beat with ``w_last``. Reads and writes run
    at once (two ports). While ``host.sel`` is high the host port owns both memory ports
    and AR/AW are not taken; the host link raises it only while the accelerator is idle.

    Parameters
    ----------
    word_bits : int
        Bits of a word (the accelerator's ``lanes * 32``).
    depth : int
        Words.

    Members
    -------
    axi_rd : ``In(read_channels(word_bits))``; axi_wr : ``In(write_channels(word_bits))``
    host : ``In(host_signature(word_bits, depth))``
    """

    def __init__(self, word_bits: int, depth: int):
        if not isinstance(word_bits, int) or word_bits < 8 or word_bits % 8:
            raise ValueError(f"word_bits must be a positive multiple of 8, not {word_bits!r}")
        if not isinstance(depth, int) or not 2 <= depth <= 1 << ADDR_BITS:
            raise ValueError(f"depth must be an integer 2..{1 << ADDR_BITS}, not {depth!r}")
        self._word_bits, self._depth = word_bits, depth
        super().__init__({"axi_rd": In(read_channels(word_bits)),
                          "axi_wr": In(write_channels(word_bits)),
                          "host": In(host_signature(word_bits, depth))})

    @property
    def depth(self) -> int:
        return self._depth

    @property
    def latency(self) -> int:
        """Cycles from an AR handshake to its first R beat."""
        return 1

    def elaborate(self, platform):
        m = Module()
        ab = ceil_log2(max(self._depth, 2))
        m.submodules.mem = mem = memory.Memory(shape=self._word_bits, depth=self._depth,
                                               init=[])
        wp = mem.write_port()
        rp = mem.read_port(transparent_for=())
        rd, wr, host = self.axi_rd, self.axi_wr, self.host

        # read channel
        r_act, r_addr, r_left = Signal(), Signal(ab), Signal(8)
        ar_take = rd.ar_valid & rd.ar_ready
        r_take = rd.r_valid & rd.r_ready
        m.d.comb += [rd.ar_ready.eq(~r_act & ~host.sel), rd.r_valid.eq(r_act),
                     rd.r_data.eq(rp.data), rd.r_last.eq(r_left == 0), rp.en.eq(1)]
        with m.If(ar_take):
            m.d.sync += [r_act.eq(1), r_addr.eq(rd.ar_addr[:ab]), r_left.eq(rd.ar_len)]
        with m.Elif(r_take):
            m.d.sync += [r_addr.eq(r_addr + 1), r_left.eq(r_left - 1)]
            with m.If(r_left == 0):
                m.d.sync += r_act.eq(0)
        axi_raddr = Mux(ar_take, rd.ar_addr[:ab], Mux(r_take, r_addr + 1, r_addr))

        # write channel
        w_act, w_addr, b_pend = Signal(), Signal(ab), Signal()
        w_take = wr.w_valid & wr.w_ready
        m.d.comb += [wr.aw_ready.eq(~w_act & ~b_pend & ~host.sel), wr.w_ready.eq(w_act),
                     wr.b_valid.eq(b_pend)]
        with m.If(wr.aw_valid & wr.aw_ready):
            m.d.sync += [w_act.eq(1), w_addr.eq(wr.aw_addr[:ab])]
        with m.If(w_take):
            m.d.sync += w_addr.eq(w_addr + 1)
            with m.If(wr.w_last):
                m.d.sync += [w_act.eq(0), b_pend.eq(1)]
        with m.If(wr.b_valid & wr.b_ready):
            m.d.sync += b_pend.eq(0)

        with m.If(host.sel):
            m.d.comb += [rp.addr.eq(host.addr), wp.addr.eq(host.addr),
                         wp.data.eq(host.w_data), wp.en.eq(host.w_en)]
        with m.Else():
            m.d.comb += [rp.addr.eq(axi_raddr), wp.addr.eq(w_addr), wp.data.eq(wr.w_data),
                         wp.en.eq(w_take)]
        m.d.comb += host.r_data.eq(rp.data)
        return m
