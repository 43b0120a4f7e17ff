"""The accelerator's sequencer: descriptor fetch, dispatch, DMA over AXI bursts, the counters."""

from __future__ import annotations

from amaranth.hdl import Cat, Module, Mux, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from golden.accel_program import (
    ADDR_BITS,
    COUNT_BITS,
    ELEM_BITS,
    NUM_LOOPS,
    UNIT_IDS,
    AccelTopCfg,
    desc_words,
)
from hw.accel.axi_reader import AxiReader, check_burst, read_channels
from hw.accel.axi_writer import AxiWriter, write_channels
from hw.accel.common import desc_layout
from hw.accel.scratchpad import read_signature, write_signature

__all__ = ["MAX_BURST", "Sequencer"]


#: Beats per burst of the DMA engines (an AXI4 INCR burst at most).
MAX_BURST = 256


class Sequencer(wiring.Component):
    """Runs a program of descriptors from external memory, one op at a time.

    On ``start`` it reads the op count (the low ``COUNT_BITS`` bits of external word 0),
    then for each op fetches its descriptor (``desc_words`` words from word
    ``1 + p * desc_words``, one burst) onto ``desc``, where it stays until the next op's
    fetch, and runs it:

    - ``dma_in``: reads ``rn3`` words from external word ``k0`` on (bursts of at most
      ``max_burst`` beats) and stores each R beat the cycle it arrives at scratch word
      ``wbase // lanes`` on (``dma_wr``);
    - ``dma_out``: reads scratch words ``wbase // lanes`` on (``dma_rd``) and writes them
      to external word ``k0`` on as write bursts, one W beat a cycle while the memory is
      ready; the op ends after the last burst's B response;
    - ``dma_pre`` (a prefetch): takes ``k0``, ``rn3`` and ``wbase`` as the *pending* load
      and ends after ``DISPATCH``; the next compute op issues it in its ``DISPATCH`` and
      stores its R beats (at scratch word ``wbase // lanes`` on) while it computes, in the
      cycles the writer does not store (``w_we``; R is not ready in those), and ends only
      when both are done. The compiler puts it right before that op, and the load's
      destination is not an address that op touches (double buffering);
    - any other unit: pulses ``clear`` on the fetch's last cycle and ``launch`` on the next
      (the gatherer and the writer start their loop nests), then holds ``running`` until
      the writer is no longer ``w_busy`` (with a zero ``wn``: the gatherer is no longer
      ``g_busy``) and a pending load it issued has stored its last word.

    When an op ends it stores the op's cycle count, from its first fetch cycle to the cycle
    before the store, at scratch element ``cnt_addr`` (``dma_wr``). ``done`` rises after
    the last op and stays high until the next ``start``; ``busy`` is high while ops remain.

    External memory: every transfer (the header word, descriptors, DMA) goes through an
    AXI4-like read channel pair ``axi_rd`` (AR/R, :class:`~hw.accel.axi_reader.AxiReader`)
    or write channel triple ``axi_wr`` (AW/W/B, :class:`~hw.accel.axi_writer.AxiWriter`),
    ready/valid on each, any latency and wait states; the memory answers in order. B is
    always ready, R too but while a prefetch's beat waits for the writer (``w_we``).

    Timing with a memory that takes AR/AW and W at once and answers after ``L`` cycles
    (``L`` >= 1: the first R beat, or the B response, ``L`` cycles after the AR handshake
    or the last W beat), one beat a cycle: the header read takes ``L + 1`` cycles (its
    command is issued on the ``start`` cycle, AR the next); an op spends ``desc_words + L``
    cycles in ``FETCH`` (the fetch's command is issued in ``NEXT``) and one in
    ``DISPATCH``, where a DMA's command (and a ``dma_out``'s first scratch read) is issued;
    a ``dma_in`` or ``dma_out`` of ``n > 0`` words then takes ``n + L + 1`` cycles. With
    ``L = 1`` these are the counts of the former one-cycle port but for the header's one
    cycle (the reader's command register). A wait state adds one cycle. A ``dma_pre``
    ends after ``DISPATCH`` (``desc_words + L + 1`` cycles); the op that carries its load
    keeps its own count when the load's last beat comes before the op's last store.

    Parameters
    ----------
    cfg : :class:`golden.accel_program.AccelTopCfg`
    max_burst : int
        Beats per burst, 1..256.

    Members
    -------
    start : ``In(1)``
    done, busy : ``Out(1)``
    axi_rd : ``Out(read_channels(lanes*32))``; axi_wr : ``Out(write_channels(lanes*32))``
    desc : ``Out(desc_layout())``
        The current op's descriptor.
    clear, launch, running : ``Out(1)``
    g_busy, w_busy : ``In(1)``
        The gatherer's and the writer's ``busy``.
    w_we : ``In(1)``
        The writer stores this cycle (a prefetch's beat waits).
    overlap : ``Out(1)``
        A prefetch's load is in flight while the op that carries it still computes (a
        read wait state then costs no cycle: the memory model does not count it).
    dma_rd : ``Out(read_signature(cfg))``; dma_wr : ``Out(write_signature(cfg))``
        The scratchpad ports of the DMA and the counter stores.
    """

    def __init__(self, cfg: AccelTopCfg, max_burst: int = MAX_BURST):
        if not isinstance(cfg, AccelTopCfg):
            raise TypeError(f"cfg must be an AccelTopCfg, not {cfg!r}")
        self._cfg = cfg
        w = cfg.word_bits
        check_burst(w, max_burst)
        self._max_burst = max_burst
        super().__init__({
            "start": In(1), "done": Out(1), "busy": Out(1),
            "axi_rd": Out(read_channels(w)), "axi_wr": Out(write_channels(w)),
            "desc": Out(desc_layout()), "clear": Out(1), "launch": Out(1), "running": Out(1),
            "g_busy": In(1), "w_busy": In(1), "w_we": In(1),
            "overlap": Out(1),
            "dma_rd": Out(read_signature(cfg)), "dma_wr": Out(write_signature(cfg)),
        })

    @property
    def cfg(self) -> AccelTopCfg:
        """Configuration of the accelerator."""
        return self._cfg

    @property
    def max_burst(self) -> int:
        """Beats per burst, at most."""
        return self._max_burst

    @property
    def latency(self) -> int:
        """Cycles from an op's first fetch cycle to its first ``running`` cycle, with a
        one-cycle memory (``L = 1``, see above)."""
        return desc_words(self._cfg) + 2

    def elaborate(self, platform):
        m = Module()
        cfg, L = self._cfg, self._cfg.lanes
        lane_bits = (L - 1).bit_length()
        W = cfg.word_bits
        dwords = desc_words(cfg)
        m.submodules.axi_reader = rd = AxiReader(W, self._max_burst)
        m.submodules.axi_writer = wr = AxiWriter(W, self._max_burst)
        wiring.connect(m, rd.bus, wiring.flipped(self.axi_rd))
        wiring.connect(m, wr.bus, wiring.flipped(self.axi_wr))
        # every R beat is taken the cycle it arrives, but a prefetch's while the writer
        # stores (the scratchpad has one write port)
        m.d.comb += rd.o_ready.eq(~(self.running & self.w_we))
        beat = rd.o_valid & rd.o_ready

        desc_raw = Signal(dwords * W)
        m.d.comb += self.desc.eq(desc_raw[:self.desc.shape().size])
        d = self.desc

        n_ops = Signal(COUNT_BITS)
        pc = Signal(COUNT_BITS)
        fetch_addr = Signal(ADDR_BITS)
        fetch_i = Signal(range(dwords + 1))
        op_cycles = Signal(32)
        cnt = Signal(COUNT_BITS + 1)  # DMA words stored (dma_in) / read (dma_out)
        dv = Signal()  # dma_out: a scratch word waits for its W handshake
        fresh = Signal()  # dma_out: that word is on dma_rd.data (read the cycle before)
        hold = Signal(W)  # dma_out: that word, kept past the cycle after its read
        running = self.running
        pend = Signal()  # a dma_pre's load waits for the next compute op
        pend_k0 = Signal(ADDR_BITS)
        pend_n = Signal(COUNT_BITS)
        pend_wbase = Signal(ADDR_BITS)
        pre = Signal()  # that load is in flight during this op

        m.d.comb += self.busy.eq(~self.done & (pc < n_ops) | running)
        dma_we = Signal()
        cnt_we = Signal()
        pre_we = Signal()
        with m.If(pre_we):
            m.d.comb += [self.dma_wr.addr.eq((pend_wbase >> lane_bits) + cnt),
                         self.dma_wr.data.eq(rd.o_data), self.dma_wr.en.eq((1 << L) - 1)]
        with m.Elif(dma_we):
            m.d.comb += [self.dma_wr.addr.eq((d.wbase >> lane_bits) + cnt),
                         self.dma_wr.data.eq(rd.o_data), self.dma_wr.en.eq((1 << L) - 1)]
        with m.Elif(cnt_we):
            m.d.comb += [self.dma_wr.addr.eq(d.cnt_addr[lane_bits:]),
                         self.dma_wr.data.eq(op_cycles << (d.cnt_addr[:lane_bits] * ELEM_BITS)),
                         self.dma_wr.en.eq(1 << d.cnt_addr[:lane_bits])]

        out_data = Mux(fresh, self.dma_rd.data, hold)
        m.d.comb += [wr.i_valid.eq(dv), wr.i_data.eq(out_data)]
        m.d.sync += [hold.eq(out_data), fresh.eq(self.dma_rd.en)]

        def read_cmd(addr, count):
            return [rd.cmd_valid.eq(1), rd.cmd_addr.eq(addr), rd.cmd_count.eq(count)]

        m.d.sync += op_cycles.eq(op_cycles + 1)
        wn = [d[f"wn{n}"] for n in range(NUM_LOOPS)]
        with m.FSM():
            with m.State("IDLE"):
                with m.If(self.start):
                    m.d.comb += read_cmd(0, 1)
                    m.d.sync += self.done.eq(0)
                    m.next = "HEADER"
            with m.State("HEADER"):
                with m.If(beat):
                    m.d.sync += [n_ops.eq(rd.o_data[:COUNT_BITS]), pc.eq(0), fetch_addr.eq(1)]
                    m.next = "NEXT"
            with m.State("NEXT"):
                with m.If(pc == n_ops):
                    m.d.sync += self.done.eq(1)
                    m.next = "IDLE"
                with m.Else():
                    m.d.comb += read_cmd(fetch_addr, dwords)
                    m.d.sync += [fetch_i.eq(0), op_cycles.eq(0)]
                    m.next = "FETCH"
            with m.State("FETCH"):
                with m.If(beat):
                    m.d.sync += [desc_raw.word_select(fetch_i, W).eq(rd.o_data),
                                 fetch_i.eq(fetch_i + 1)]
                    with m.If(fetch_i == dwords - 1):
                        m.d.comb += self.clear.eq(1)
                        m.d.sync += [fetch_addr.eq(fetch_addr + dwords), cnt.eq(0),
                                     dv.eq(0)]
                        m.next = "DISPATCH"
            with m.State("DISPATCH"):
                with m.If(d.unit == UNIT_IDS["dma_in"]):
                    m.d.comb += read_cmd(d.k0, d.rn3)
                    m.next = "DMA_IN"
                with m.Elif(d.unit == UNIT_IDS["dma_pre"]):
                    m.d.sync += [pend.eq(1), pend_k0.eq(d.k0), pend_n.eq(d.rn3),
                                 pend_wbase.eq(d.wbase)]
                    m.next = "COUNT"
                with m.Elif(d.unit == UNIT_IDS["dma_out"]):
                    m.d.comb += [wr.cmd_valid.eq(1), wr.cmd_addr.eq(d.k0),
                                 wr.cmd_count.eq(d.rn3)]
                    with m.If(d.rn3 != 0):
                        m.d.comb += [self.dma_rd.addr.eq(d.wbase >> lane_bits),
                                     self.dma_rd.en.eq(1)]
                        m.d.sync += [dv.eq(1), cnt.eq(1)]
                    m.next = "DMA_OUT"
                with m.Else():
                    m.d.comb += self.launch.eq(1)
                    m.d.sync += running.eq(1)
                    with m.If(pend):
                        m.d.comb += read_cmd(pend_k0, pend_n)
                        m.d.sync += [pend.eq(0), pre.eq(1)]
                    m.next = "RUN"
            with m.State("DMA_IN"):
                with m.If(beat):
                    m.d.comb += dma_we.eq(1)
                    m.d.sync += cnt.eq(cnt + 1)
                with m.If(~rd.busy):
                    m.next = "COUNT"
            with m.State("DMA_OUT"):
                with m.If(~dv | wr.i_ready):  # the word on W (if any) is taken this cycle
                    with m.If(cnt < d.rn3):
                        m.d.comb += [self.dma_rd.addr.eq((d.wbase >> lane_bits) + cnt),
                                     self.dma_rd.en.eq(1)]
                        m.d.sync += [cnt.eq(cnt + 1), dv.eq(1)]
                    with m.Else():
                        m.d.sync += dv.eq(0)
                with m.If(~wr.busy):
                    m.next = "COUNT"
            with m.State("RUN"):
                with m.If(pre & beat):
                    m.d.comb += pre_we.eq(1)
                    m.d.sync += cnt.eq(cnt + 1)
                no_writes = Cat(*[x == 0 for x in wn]).any()
                computing = Mux(no_writes, self.g_busy, self.w_busy)
                m.d.comb += self.overlap.eq(pre & rd.busy & computing)
                with m.If(~computing & ~rd.busy):
                    m.d.sync += [running.eq(0), pre.eq(0)]
                    m.next = "COUNT"
            with m.State("COUNT"):
                m.d.comb += cnt_we.eq(1)
                m.d.sync += pc.eq(pc + 1)
                m.next = "NEXT"
        return m
