"""The host link: a byte protocol over the UART that loads memory, starts and reads back.

Protocol (the host speaks first; every number little-endian; a *word* is the external
memory's ``word_bytes = lanes * 4`` bytes, byte 0 holding bits 0..7, i.e. element 0's
low byte first):

========  =====================================  ==========================================
command   then the host sends                    the board answers
========  =====================================  ==========================================
``I``     nothing                                ``V`` ``B`` word_bytes:u16 depth:u32 (8 B)
``W``     addr:u32 count:u32, count words        ``K`` after the last word is written
``R``     addr:u32 count:u32                     count words
``S``     nothing                                ``K`` (the accelerator's ``start`` pulsed)
``Q``     nothing                                status:u8 cycles:u32 (5 B)
other     nothing                                ``?``
========  =====================================  ==========================================

``addr`` counts words (its low ``ceil(log2(depth))`` bits are used: the host checks
``depth`` with ``I`` first). ``status`` bit 0 is the accelerator's ``done``, bit 1 its
``busy``; ``cycles`` counts the clock cycles from the ``start`` pulse to ``done`` (it stops
there; a run in progress shows the count so far). A ``W`` or ``R`` while the accelerator is
busy waits for it to finish: the host link takes the memory only while the accelerator is
idle. Bytes the host sends while the board answers are lost: the host waits for each
answer (``K`` acknowledges a write, so a host never overruns the board).
"""

from __future__ import annotations

from amaranth.hdl import Cat, Const, Module, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out
from amaranth.utils import ceil_log2

from hw.board.ext_ram import host_signature

__all__ = ["CMD", "HostLink"]

#: Command bytes of the protocol.
CMD = {"ident": ord("I"), "write": ord("W"), "read": ord("R"), "start": ord("S"),
       "query": ord("Q")}
ACK, NAK = ord("K"), ord("?")


class HostLink(wiring.Component):
    """The protocol above, between the UART's byte streams and the memory's host port.

    Contract: bytes arrive on ``rx_valid``/``rx_data`` (one cycle each, no back-pressure:
    the link takes a byte every cycle it is not writing a word or waiting for the
    accelerator, and bytes come at most one per ``10 * divisor >= 40`` cycles); answers
    leave on ``tx_valid``/``tx_ready``/``tx_data``. ``start`` is high one cycle per ``S``.
    ``mem.sel`` is high in the states that use the memory, which the link enters only
    while ``busy`` is low. A word is written one cycle after its last byte arrives; a
    word is read one cycle before its first byte is offered.

    Parameters
    ----------
    word_bits : int
        Bits of a memory word (a multiple of 8).
    depth : int
        Words of the memory.

    Members
    -------
    rx_valid : ``In(1)``; rx_data : ``In(8)``
    tx_valid : ``Out(1)``; tx_ready : ``In(1)``; tx_data : ``Out(8)``
    mem : ``Out(host_signature(word_bits, depth))``
    start : ``Out(1)``; done, busy : ``In(1)``
    cycles : ``Out(32)``
    """

    def __init__(self, word_bits: int, depth: int):
        if not isinstance(word_bits, int) or word_bits < 8 or word_bits % 8:
            raise ValueError(f"word_bits must be a positive multiple of 8, not {word_bits!r}")
        if word_bits // 8 >= 1 << 16:
            raise ValueError(f"word_bits must be below {8 << 16}, not {word_bits}")
        self._word_bits, self._depth = word_bits, depth
        super().__init__({
            "rx_valid": In(1), "rx_data": In(8),
            "tx_valid": Out(1), "tx_ready": In(1), "tx_data": Out(8),
            "mem": Out(host_signature(word_bits, depth)),
            "start": Out(1), "done": In(1), "busy": In(1), "cycles": Out(32),
        })

    @property
    def word_bytes(self) -> int:
        return self._word_bits // 8

    @property
    def latency(self) -> int:
        """Cycles from a command's last byte to the first byte of its answer offered."""
        return 2

    def elaborate(self, platform):
        m = Module()
        wb = self.word_bytes
        ab = len(self.mem.addr)
        op = Signal(8)
        hdr = Signal(64)
        hcnt = Signal(3)
        addr, count = Signal(ab), Signal(32)
        word = Signal(self._word_bits)
        bcnt = Signal(ceil_log2(wb + 1))
        reply, rlen = Signal(64), Signal(4)
        byte = self.rx_data

        m.d.comb += [self.mem.addr.eq(addr), self.mem.w_data.eq(word)]

        # cycles from start to done
        run, armed = Signal(), Signal()
        with m.If(self.start):
            m.d.sync += [self.cycles.eq(0), run.eq(1), armed.eq(0)]
        with m.Elif(run):
            m.d.sync += self.cycles.eq(self.cycles + 1)
            with m.If(~self.done):
                m.d.sync += armed.eq(1)
            with m.Elif(armed):
                m.d.sync += run.eq(0)

        def answer(value: int | Signal, n: int):
            m.d.sync += [reply.eq(value), rlen.eq(n)]
            m.next = "REPLY"

        with m.FSM():
            with m.State("CMD"):
                with m.If(self.rx_valid):
                    m.d.sync += [op.eq(byte), hcnt.eq(0)]
                    with m.Switch(byte):
                        with m.Case(CMD["write"], CMD["read"]):
                            m.next = "HDR"
                        with m.Case(CMD["start"]):
                            m.d.comb += self.start.eq(1)
                            answer(ACK, 1)
                        with m.Case(CMD["query"]):
                            answer(Cat(self.done, self.busy, Const(0, 6), self.cycles), 5)
                        with m.Case(CMD["ident"]):
                            answer(Cat(Const(ord("V"), 8), Const(ord("B"), 8),
                                       Const(wb, 16), Const(self._depth, 32)), 8)
                        with m.Default():
                            answer(NAK, 1)
            with m.State("HDR"):
                with m.If(self.rx_valid):
                    m.d.sync += [hdr.eq(Cat(hdr[8:], byte)), hcnt.eq(hcnt + 1)]
                    with m.If(hcnt == 7):
                        m.next = "ARGS"
            with m.State("ARGS"):
                m.d.sync += [addr.eq(hdr[:ab]), count.eq(hdr[32:]), bcnt.eq(0)]
                with m.If(hdr[32:] == 0):
                    with m.If(op == CMD["write"]):
                        answer(ACK, 1)
                    with m.Else():
                        m.next = "CMD"
                with m.Elif(op == CMD["write"]):
                    m.next = "WDATA"
                with m.Else():
                    m.next = "RWAIT"
            with m.State("WDATA"):
                with m.If(self.rx_valid):
                    m.d.sync += [word.eq(Cat(word[8:], byte)), bcnt.eq(bcnt + 1)]
                    with m.If(bcnt == wb - 1):
                        m.next = "WWAIT"
            with m.State("WWAIT"):
                with m.If(~self.busy):
                    m.next = "WWRITE"
            with m.State("WWRITE"):
                m.d.comb += [self.mem.sel.eq(1), self.mem.w_en.eq(1)]
                m.d.sync += [addr.eq(addr + 1), count.eq(count - 1), bcnt.eq(0)]
                with m.If(count == 1):
                    answer(ACK, 1)
                with m.Else():
                    m.next = "WDATA"
            with m.State("RWAIT"):
                with m.If(~self.busy):
                    m.next = "RREAD"
            with m.State("RREAD"):  # the read port takes addr at this edge
                m.d.comb += self.mem.sel.eq(1)
                m.next = "RLATCH"
            with m.State("RLATCH"):
                m.d.comb += self.mem.sel.eq(1)
                m.d.sync += [word.eq(self.mem.r_data), bcnt.eq(0)]
                m.next = "RSEND"
            with m.State("RSEND"):
                m.d.comb += [self.tx_valid.eq(1), self.tx_data.eq(word[:8])]
                with m.If(self.tx_ready):
                    m.d.sync += [word.eq(word >> 8), bcnt.eq(bcnt + 1)]
                    with m.If(bcnt == wb - 1):
                        m.d.sync += [addr.eq(addr + 1), count.eq(count - 1)]
                        with m.If(count == 1):
                            m.next = "CMD"
                        with m.Else():
                            m.next = "RWAIT"
            with m.State("REPLY"):
                m.d.comb += [self.tx_valid.eq(1), self.tx_data.eq(reply[:8])]
                with m.If(self.tx_ready):
                    m.d.sync += [reply.eq(reply >> 8), rlen.eq(rlen - 1)]
                    with m.If(rlen == 1):
                        m.next = "CMD"
        return m
