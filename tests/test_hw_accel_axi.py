# amaranth: UnusedElaboratable=no
"""The sequencer's AXI memory interface in Amaranth's simulator: a program of ``dma_in`` and
``dma_out`` descriptors against a Python AXI slave with latency and seeded wait states that
freeze a channel (the rule of the Verilog model, sim/accel_mem.py). The data lands where
the descriptors say, every burst is well formed, and the op counters equal the analytic
counts at that latency plus the wait states the slave counted."""

from __future__ import annotations

import random

import pytest
from amaranth.hdl import Elaboratable, Module
from amaranth.lib import wiring
from amaranth.sim import Simulator

from golden.accel_program import AccelTopCfg, OpDesc, desc_words, encode_desc
from hw.accel.scratchpad import Scratchpad
from hw.accel.sequencer import MAX_BURST, Sequencer
from sim.analytic.accel_cycles import desc_cycles, run_cycles

CFG = AccelTopCfg(lanes=4, depth=16, ext_words=128)
W = CFG.word_bits


class _Pair(Elaboratable):
    """The sequencer and the scratchpad, wired as in :class:`hw.accel.top.Accelerator`."""

    def __init__(self, max_burst):
        self.seq, self.scratch = Sequencer(CFG, max_burst), Scratchpad(CFG)

    def elaborate(self, platform):
        m = Module()
        m.submodules.seq, m.submodules.scratch = self.seq, self.scratch
        wiring.connect(m, self.seq.dma_rd, self.scratch.dma_rd)
        wiring.connect(m, self.seq.dma_wr, self.scratch.dma_wr)
        return m


def _encode(descs):
    dw = desc_words(CFG)
    words = [len(descs)]
    for d in descs:
        raw = encode_desc(d)
        words += [(raw >> (W * i)) & ((1 << W) - 1) for i in range(dw)]
    return words


def _program(n_in, n_out, src, dst):
    """Header and descriptors: ``dma_in`` of ``n_in`` words from ``src`` to scratch word
    0, ``dma_out`` of ``n_out`` words of scratch word 0 on to ``dst``; counters at the last
    scratch word's elements 0 and 1."""
    cnt = (CFG.depth - 1) * CFG.lanes
    descs = [OpDesc(unit="dma_in", rn=(1, 1, 1, n_in), k=(src,), wbase=0, cnt_addr=cnt),
             OpDesc(unit="dma_out", rn=(1, 1, 1, n_out), k=(dst,), wbase=0,
                    cnt_addr=cnt + 1)]
    return descs, _encode(descs)


class _AxiSlave:
    """The Python AXI slave behind the sequencer's read and write channels, one clock
    edge at a time.

    Reads: up to 4 bursts queued (``ar_ready`` low past that); a burst's R beats start
    ``latency`` cycles of the read channel after its AR and go out in order. Writes: AW
    likewise; W beats go into the oldest announced burst (one announced this cycle
    included); B ``latency`` cycles of the write channel after a burst's last W beat. Each
    cycle a channel freezes (a wait state) with probability ``p`` (seeded ``rng``). Memory
    is the dict ``mem`` (word address -> word).

    Attributes, after :meth:`run`: ``cycles`` (the cycle ``done`` was first high),
    ``stalls`` (wait states that cost a cycle: a frozen channel with a request or a burst
    outstanding, read wait states while the sequencer's ``overlap`` is high not counted),
    ``hidden`` (cycles with ``overlap`` high), ``counts`` (the op counters the sequencer
    stored, one lane each), ``ars`` / ``aws`` (``(addr, beats)`` of every AR / AW
    handshake), ``lasts`` (``w_last`` of every W beat), ``r_ready`` / ``b_ready`` (this
    cycle's).
    """

    def __init__(self, seq, mem: dict, *, latency: int, p: float, rng: random.Random):
        self.seq, self.mem, self.latency, self.p, self.rng = seq, mem, latency, p, rng
        self.rq, self.wq, self.bq = [], [], []  # [due, addr, beats, beat] / [addr, beats,
        self.rclk = self.wclk = 0  # beat] / [due]; clocks of the unfrozen cycles
        self.cycles, self.stalls, self.hidden = None, 0, 0
        self.counts, self.ars, self.aws, self.lasts = [], [], [], []
        self.r_ready = self.b_ready = None

    def step(self, ctx) -> None:
        """Drive both channels for this cycle and take the handshakes of its edge."""
        seq, mem, latency = self.seq, self.mem, self.latency
        rd, wr, rq, wq, bq = seq.axi_rd, seq.axi_wr, self.rq, self.wq, self.bq
        rs, ws = self.rng.random() < self.p, self.rng.random() < self.p
        # read channel: AR while 4 bursts are not queued, R once the head is due
        ctx.set(rd.ar_ready, not rs and len(rq) < 4)
        head = rq[0] if rq and self.rclk >= rq[0][0] else None
        ctx.set(rd.r_valid, not rs and head is not None)
        if head is not None:
            ctx.set(rd.r_data, mem.get(head[1] + head[3], 0))
            ctx.set(rd.r_last, head[3] == head[2] - 1)
        ar_valid = ctx.get(rd.ar_valid)
        self.r_ready = r_ready = ctx.get(rd.r_ready)
        overlap = ctx.get(seq.overlap)
        self.hidden += bool(overlap)
        self.stalls += rs and (ar_valid or bool(rq)) and not overlap
        # write channel: AW likewise, W into the oldest announced burst (this cycle's
        # included), B ``latency`` cycles after a burst's last W beat
        ctx.set(wr.aw_ready, not ws and len(wq) < 4)
        aw_valid = ctx.get(wr.aw_valid)
        if aw_valid and not ws and len(wq) < 4:
            self.aws.append((ctx.get(wr.aw_addr), ctx.get(wr.aw_len) + 1))
            wq.append([ctx.get(wr.aw_addr), ctx.get(wr.aw_len) + 1, 0])
        w_ready = not ws and bool(wq) and len(bq) < 4
        b_valid = not ws and bool(bq) and self.wclk >= bq[0]
        ctx.set(wr.w_ready, w_ready)
        ctx.set(wr.b_valid, b_valid)
        w_valid = ctx.get(wr.w_valid)
        self.b_ready = ctx.get(wr.b_ready)
        self.stalls += ws and (aw_valid or w_valid or bool(wq) or bool(bq))
        # the handshakes of this edge
        if ar_valid and not rs and len(rq) < 4:
            self.ars.append((ctx.get(rd.ar_addr), ctx.get(rd.ar_len) + 1))
            rq.append([self.rclk + latency, ctx.get(rd.ar_addr), ctx.get(rd.ar_len) + 1, 0])
        if head is not None and not rs and r_ready:
            head[3] += 1
            if head[3] == head[2]:
                rq.pop(0)
        if w_valid and w_ready:
            burst = wq[0]
            mem[burst[0] + burst[2]] = ctx.get(wr.w_data)
            burst[2] += 1
            self.lasts.append(bool(ctx.get(wr.w_last)))
            if burst[2] == burst[1]:
                wq.pop(0)
                bq.append(self.wclk + latency)
        if b_valid:
            bq.pop(0)
        en = ctx.get(seq.dma_wr.en)
        if en and en != (1 << CFG.lanes) - 1:  # a counter store: one lane
            lane = en.bit_length() - 1
            self.counts.append((ctx.get(seq.dma_wr.data) >> (32 * lane)) & 0xFFFFFFFF)
        self.rclk += not rs
        self.wclk += not ws

    async def run(self, ctx, *, before=None, after=None, limit: int = 3000) -> None:
        """Pulse ``start``, then :meth:`step` every cycle until ``done`` (``before(ctx)``
        and ``after(ctx)`` around each step); every burst must be over by then."""
        ctx.set(self.seq.start, 1)
        await ctx.tick()
        ctx.set(self.seq.start, 0)
        for cycle in range(limit):
            if ctx.get(self.seq.done):
                self.cycles = cycle
                break
            if before is not None:
                before(ctx)
            self.step(ctx)
            if after is not None:
                after(ctx)
            await ctx.tick()
        assert self.cycles is not None, f"not done after {limit} cycles"
        assert not self.rq and not self.wq and not self.bq


def _simulate(dut, slave, **hooks) -> None:
    async def bench(ctx):
        await slave.run(ctx, **hooks)

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()


def test_max_burst_is_checked_and_kept():
    assert Sequencer(CFG).max_burst == MAX_BURST == 256
    assert Sequencer(CFG, 3).max_burst == 3
    with pytest.raises(ValueError, match=r"^max_burst must be an integer 1\.\.256, not 0$"):
        Sequencer(CFG, 0)


@pytest.mark.parametrize("latency,p,seed,max_burst,n", [
    (1, 0.0, 0, 256, 9), (4, 0.0, 1, 2, 9), (1, 0.3, 2, 256, 9), (3, 0.5, 3, 2, 7),
    (2, 0.4, 4, 3, 1)])
def test_dma_moves_the_words_and_counts_latency_and_wait_states(latency, p, seed, max_burst,
                                                                n):
    rng = random.Random(seed)
    src, dst = 40, 80
    descs, words = _program(n, n, src, dst)
    mem = {i: w for i, w in enumerate(words)}
    payload = [rng.getrandbits(W) for _ in range(n)]
    mem.update({src + i: x for i, x in enumerate(payload)})
    dut = _Pair(max_burst)
    slave = _AxiSlave(dut.seq, mem, latency=latency, p=p, rng=rng)

    def after(ctx):
        assert slave.r_ready and slave.b_ready

    _simulate(dut, slave, after=after)
    assert slave.hidden == 0  # no prefetch: nothing overlaps
    assert [mem.get(dst + i) for i in range(n)] == payload
    assert 1 + len(descs) * desc_words(CFG) <= src  # the DMA's bursts are those from src
    for base, bursts in ((src, [ar for ar in slave.ars if ar[0] >= src]),
                         (dst, slave.aws)):
        assert all(1 <= b <= max_burst for _, b in bursts) and sum(b for _, b in bursts) == n
        assert [a for a, _ in bursts] == [base + sum(b for _, b in bursts[:i])
                                          for i in range(len(bursts))]
    ends = [i for i, last in enumerate(slave.lasts) if last]
    assert ends == [sum(b for _, b in slave.aws[:i + 1]) - 1 for i in range(len(slave.aws))]
    model = [desc_cycles(d, CFG, latency=latency) for d in descs]
    if p == 0:
        assert slave.counts == model
    assert sum(slave.counts) >= sum(model)
    # done is first high the cycle before the dump's edge (run_cycles counts it)
    assert slave.cycles == run_cycles(descs, CFG, latency=latency) - 1 + slave.stalls



def _run_compute(descs, mem, *, latency, p, seed, compute, store_p):
    """Run ``descs`` against the Python slave; a compute op keeps ``w_busy`` high for
    ``compute`` cycles after ``launch`` and stores (``w_we``) with probability
    ``store_p`` each of them. Returns the counters, the counted read/write wait states
    (none while ``overlap``) and the run's cycles."""
    rng = random.Random(seed)
    dut = _Pair(MAX_BURST)
    seq = dut.seq
    slave = _AxiSlave(seq, mem, latency=latency, p=p, rng=rng)
    state = {"left": 0, "busy": False, "we": False}  # compute cycles left; this cycle's

    def before(ctx):
        if ctx.get(seq.launch):
            state["left"] = compute
        state["busy"] = busy = state["left"] > 0
        state["we"] = we = busy and rng.random() < store_p
        ctx.set(seq.w_busy, busy)
        ctx.set(seq.g_busy, busy)
        ctx.set(seq.w_we, we)

    def after(ctx):
        # the DMA reads no R beat in a cycle the writer stores: one write port, a
        # prefetch's beat waits for the writer
        assert slave.r_ready == (not (state["we"] and ctx.get(seq.running)))
        assert not (ctx.get(seq.dma_wr.en) and state["we"])
        state["left"] -= state["busy"]

    _simulate(dut, slave, before=before, after=after)
    return {"counts": slave.counts, "stalls": slave.stalls, "cycles": slave.cycles,
            "hidden": slave.hidden}


@pytest.mark.parametrize("latency,p,seed", [(1, 0.0, 0), (20, 0.0, 1), (1, 0.3, 2),
                                            (20, 0.3, 3)])
def test_a_prefetch_runs_under_the_next_compute_op_at_no_cycle(latency, p, seed):
    """``dma_pre`` of ``n`` words, then a compute op of 80 cycles that stores half of
    them, then a ``dma_out`` of the loaded words: the words arrive while it computes
    (never in a cycle the writer stores), the compute op's count is the one it has with
    no prefetch, the ``dma_pre`` costs its fetch and ``DISPATCH`` only, and the run is
    the analytic count plus the wait states counted outside ``overlap``."""
    rng = random.Random(seed)
    n, src, dst = 9, 40, 80
    cnt = (CFG.depth - 1) * CFG.lanes
    comp = OpDesc(unit="requant", rn=(1, 1, 1, 1), wn=(1, 1, 1, 1), wbase=0,
                  cnt_addr=cnt + 1)
    out = OpDesc(unit="dma_out", rn=(1, 1, 1, n), k=(dst,), wbase=4 * CFG.lanes,
                 cnt_addr=cnt + 2)
    pre = OpDesc(unit="dma_pre", rn=(1, 1, 1, n), k=(src,), wbase=4 * CFG.lanes,
                 cnt_addr=cnt)
    payload = [rng.getrandbits(W) for _ in range(n)]
    mem = {i: w for i, w in enumerate(_encode([pre, comp, out]))}
    mem.update({src + i: x for i, x in enumerate(payload)})
    got = _run_compute([pre, comp, out], mem, latency=latency, p=p, seed=seed, compute=80,
                       store_p=0.5)
    assert [mem.get(dst + i) for i in range(n)] == payload
    ref = _run_compute([comp], {i: w for i, w in enumerate(_encode([comp]))},
                       latency=latency, p=0.0, seed=seed, compute=80, store_p=0.5)
    model_pre = desc_cycles(pre, CFG, latency=latency)
    assert model_pre == desc_words(CFG) + 1 + latency
    model_out = desc_cycles(out, CFG, latency=latency)
    assert got["hidden"] >= latency + n  # the load was in flight under the compute op
    if p == 0:
        assert got["counts"] == [model_pre, ref["counts"][0], model_out]
    # the run: header, the three counts and two cycles each, the final NEXT (done)
    want = latency + 1 + model_pre + ref["counts"][0] + model_out + 3 * 2 + 1
    assert got["cycles"] == want + got["stalls"]
