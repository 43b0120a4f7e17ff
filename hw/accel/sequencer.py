"""The accelerator's sequencer: descriptor fetch, dispatch, DMA and the cycle counters."""

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
from hw.accel.common import desc_layout
from hw.accel.scratchpad import read_signature, write_signature

__all__ = ["Sequencer"]


class Sequencer(wiring.Component):
    """Runs a program of descriptors from external memory, one op at a time.

    On ``start`` it reads the op count (the low ``COUNT_BITS`` bits of external word 0),
    then for each op fetches its descriptor (``desc_words`` words from word
    ``1 + p * desc_words``) onto ``desc``, where it stays until the next op's fetch, and
    runs it:

    - ``dma_in`` / ``dma_out``: copies ``rn3`` words between external word ``k0`` and
      scratch word ``wbase // lanes`` on, one a cycle (``dma_wr`` / ``dma_rd``);
    - any other unit: pulses ``clear`` on the fetch's last cycle and ``launch`` on the next
      (the gatherer and the writer start their loop nests), then holds ``running`` until
      the writer is no longer ``w_busy`` (with a zero ``wn``: the gatherer is no longer
      ``g_busy``).

    When an op ends it stores the op's cycle count, from its first fetch cycle to the cycle
    before the store, at scratch element ``cnt_addr`` (``dma_wr``). ``done`` rises after
    the last op and stays high until the next ``start``; ``busy`` is high while ops remain.

    External memory: a request (``mem_re`` read / ``mem_we`` write at word ``mem_addr``,
    ``mem_wdata``) is taken every cycle; read data is on ``mem_rdata`` on the cycle after
    the request (a fixed one-cycle latency, like a synchronous SRAM or a pipelined AXI
    port with no wait states).

    Timing: an op spends ``desc_words + 1`` cycles fetching and one dispatching, so a
    compute op's first ``running`` cycle is ``latency`` cycles after its first fetch
    cycle; its last is the first cycle with ``w_busy`` (``g_busy``) low. The count is
    stored the next cycle, and the next op's fetch starts two cycles after that.

    Parameters
    ----------
    cfg : :class:`golden.accel_program.AccelTopCfg`

    Members
    -------
    start : ``In(1)``
    done, busy : ``Out(1)``
    mem_addr : ``Out(ADDR_BITS)``; mem_re, mem_we : ``Out(1)``; mem_wdata : ``Out(lanes*32)``
    mem_rdata : ``In(lanes*32)``
    desc : ``Out(desc_layout())``
        The current op's descriptor.
    clear, launch, running : ``Out(1)``
    g_busy, w_busy : ``In(1)``
        The gatherer's and the writer's ``busy``.
    dma_rd : ``Out(read_signature(cfg))``; dma_wr : ``Out(write_signature(cfg))``
        The scratchpad ports of the DMA and the counter stores.
    """

    def __init__(self, cfg: AccelTopCfg):
        if not isinstance(cfg, AccelTopCfg):
            raise TypeError(f"cfg must be an AccelTopCfg, not {cfg!r}")
        self._cfg = cfg
        w = cfg.word_bits
        super().__init__({
            "start": In(1), "done": Out(1), "busy": Out(1),
            "mem_addr": Out(ADDR_BITS), "mem_re": Out(1), "mem_we": Out(1),
            "mem_wdata": Out(w), "mem_rdata": In(w),
            "desc": Out(desc_layout()), "clear": Out(1), "launch": Out(1), "running": Out(1),
            "g_busy": In(1), "w_busy": In(1),
            "dma_rd": Out(read_signature(cfg)), "dma_wr": Out(write_signature(cfg)),
        })

    @property
    def cfg(self) -> AccelTopCfg:
        """Configuration of the accelerator."""
        return self._cfg

    @property
    def latency(self) -> int:
        """Cycles from an op's first fetch cycle to its first ``running`` cycle."""
        return desc_words(self._cfg) + 2

    def elaborate(self, platform):
        m = Module()
        cfg, L = self._cfg, self._cfg.lanes
        lane_bits = (L - 1).bit_length()
        W = cfg.word_bits
        dwords = desc_words(cfg)
        desc_raw = Signal(dwords * W)
        m.d.comb += self.desc.eq(desc_raw[:self.desc.shape().size])
        d = self.desc

        n_ops = Signal(COUNT_BITS)
        pc = Signal(COUNT_BITS)
        fetch_addr = Signal(ADDR_BITS)
        fetch_i = Signal(range(dwords + 1))
        op_cycles = Signal(32)
        cnt = Signal(ADDR_BITS + 1)  # DMA word counter
        pend = Signal()  # a DMA read is in flight
        pend_addr = Signal(ADDR_BITS)
        running = self.running

        m.d.comb += self.busy.eq(~self.done & (pc < n_ops) | running)
        dma_data = Signal(W)
        dma_we = Signal()
        dma_waddr = Signal(ADDR_BITS)
        cnt_we = Signal()
        with m.If(dma_we):
            m.d.comb += [self.dma_wr.addr.eq(dma_waddr), self.dma_wr.data.eq(dma_data),
                         self.dma_wr.en.eq((1 << L) - 1)]
        with m.Elif(cnt_we):
            m.d.comb += [self.dma_wr.addr.eq(d.cnt_addr[lane_bits:]),
                         self.dma_wr.data.eq(op_cycles << (d.cnt_addr[:lane_bits] * ELEM_BITS)),
                         self.dma_wr.en.eq(1 << d.cnt_addr[:lane_bits])]

        m.d.sync += op_cycles.eq(op_cycles + 1)
        wn = [d[f"wn{n}"] for n in range(NUM_LOOPS)]
        with m.FSM():
            with m.State("IDLE"):
                with m.If(self.start):
                    m.d.comb += [self.mem_re.eq(1), self.mem_addr.eq(0)]
                    m.d.sync += self.done.eq(0)
                    m.next = "HEADER"
            with m.State("HEADER"):
                m.d.sync += [n_ops.eq(self.mem_rdata[:COUNT_BITS]), pc.eq(0), fetch_addr.eq(1)]
                m.next = "NEXT"
            with m.State("NEXT"):
                with m.If(pc == n_ops):
                    m.d.sync += self.done.eq(1)
                    m.next = "IDLE"
                with m.Else():
                    m.d.sync += [fetch_i.eq(0), op_cycles.eq(0)]
                    m.next = "FETCH"
            with m.State("FETCH"):
                with m.If(fetch_i < dwords):
                    m.d.comb += [self.mem_re.eq(1), self.mem_addr.eq(fetch_addr + fetch_i)]
                with m.If(fetch_i > 0):
                    prev = (fetch_i - 1)[:len(fetch_i)]
                    m.d.sync += desc_raw.word_select(prev, W).eq(self.mem_rdata)
                m.d.sync += fetch_i.eq(fetch_i + 1)
                with m.If(fetch_i == dwords):
                    m.d.comb += self.clear.eq(1)
                    m.d.sync += [fetch_addr.eq(fetch_addr + dwords), cnt.eq(0), pend.eq(0)]
                    m.next = "DISPATCH"
            with m.State("DISPATCH"):
                with m.If(d.unit == UNIT_IDS["dma_in"]):
                    m.next = "DMA_IN"
                with m.Elif(d.unit == UNIT_IDS["dma_out"]):
                    m.next = "DMA_OUT"
                with m.Else():
                    m.d.comb += self.launch.eq(1)
                    m.d.sync += running.eq(1)
                    m.next = "RUN"
            with m.State("DMA_IN"):
                with m.If(cnt < d.rn3):
                    m.d.comb += [self.mem_re.eq(1), self.mem_addr.eq(d.k0 + cnt)]
                    m.d.sync += cnt.eq(cnt + 1)
                m.d.sync += [pend.eq(cnt < d.rn3), pend_addr.eq((d.wbase >> lane_bits) + cnt)]
                with m.If(pend):
                    m.d.comb += [dma_we.eq(1), dma_waddr.eq(pend_addr),
                                 dma_data.eq(self.mem_rdata)]
                with m.If(~pend & (cnt == d.rn3)):
                    m.next = "COUNT"
            with m.State("DMA_OUT"):
                with m.If(cnt < d.rn3):
                    m.d.comb += [self.dma_rd.addr.eq((d.wbase >> lane_bits) + cnt),
                                 self.dma_rd.en.eq(1)]
                    m.d.sync += cnt.eq(cnt + 1)
                m.d.sync += [pend.eq(cnt < d.rn3), pend_addr.eq(d.k0 + cnt)]
                with m.If(pend):
                    m.d.comb += [self.mem_we.eq(1), self.mem_addr.eq(pend_addr),
                                 self.mem_wdata.eq(self.dma_rd.data)]
                with m.If(~pend & (cnt == d.rn3)):
                    m.next = "COUNT"
            with m.State("RUN"):
                no_writes = Cat(*[x == 0 for x in wn]).any()
                with m.If(Mux(no_writes, ~self.g_busy, ~self.w_busy)):
                    m.d.sync += running.eq(0)
                    m.next = "COUNT"
            with m.State("COUNT"):
                m.d.comb += cnt_we.eq(1)
                m.d.sync += pc.eq(pc + 1)
                m.next = "NEXT"
        return m
