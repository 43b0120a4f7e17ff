# amaranth: UnusedElaboratable=no
"""The accelerator's Components in Amaranth's simulator: scratchpad arbitration, the
writer's stores and the gatherer's beats, against the contracts of their docstrings (the
whole accelerator runs in the simulated tests, test_sim_accel*.py)."""

import pytest
from amaranth.hdl import Elaboratable, Module
from amaranth.lib import wiring
from amaranth.sim import Simulator

from golden.accel_program import AccelTopCfg, OpDesc, Operand, desc_words, encode_desc
from hw.accel.gatherer import Gatherer
from hw.accel.scratchpad import Scratchpad
from hw.accel.sequencer import Sequencer
from hw.accel.writer import Writer

CFG = AccelTopCfg(lanes=4, depth=16)


def _run(dut, bench):
    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()


def _word(*elems):
    return sum((e & 0xFFFFFFFF) << (32 * i) for i, e in enumerate(elems))


def test_constructors_check_their_arguments():
    for cls in (Scratchpad, Sequencer):
        with pytest.raises(TypeError, match=r"^cfg must be an AccelTopCfg, not 3$"):
            cls(3)
    with pytest.raises(ValueError, match=r"^widths must be 3 positive integers, not \(8, 8\)$"):
        Gatherer(CFG, (8, 8), {8})
    with pytest.raises(ValueError, match=r"^out_lanes must be a positive integer, not 0$"):
        Writer(CFG, 0)
    assert (Scratchpad(CFG).latency, Gatherer(CFG, (8, 8, 8), {8}).latency,
            Writer(CFG, 4).latency) == (1, 3, 1)
    assert Sequencer(CFG).latency == desc_words(CFG) + 2  # FETCH, then DISPATCH


def test_scratchpad_gives_the_dma_ports_priority():
    dut = Scratchpad(CFG)

    async def bench(ctx):
        # both masters write: only the DMA store lands
        ctx.set(dut.wr.addr, 3)
        ctx.set(dut.wr.data, _word(1, 2, 3, 4))
        ctx.set(dut.wr.en, 0b1111)
        ctx.set(dut.dma_wr.addr, 5)
        ctx.set(dut.dma_wr.data, _word(7, 8, 9, 10))
        ctx.set(dut.dma_wr.en, 0b0010)
        await ctx.tick()
        ctx.set(dut.dma_wr.en, 0)
        ctx.set(dut.wr.addr, 6)
        await ctx.tick()
        ctx.set(dut.wr.en, 0)
        # the DMA read takes port 0 from the gatherer; ports 1 and 2 read on
        for o, a in enumerate((3, 6, 5)):
            ctx.set(dut.rd[o].addr, a)
            ctx.set(dut.rd[o].en, 1)
        ctx.set(dut.dma_rd.addr, 5)
        ctx.set(dut.dma_rd.en, 1)
        await ctx.tick()
        assert ctx.get(dut.dma_rd.data) == ctx.get(dut.rd[0].data) == _word(0, 8, 0, 0)
        assert ctx.get(dut.rd[1].data) == _word(1, 2, 3, 4)
        assert ctx.get(dut.rd[2].data) == _word(0, 8, 0, 0)
        ctx.set(dut.dma_rd.en, 0)
        await ctx.tick()
        assert ctx.get(dut.rd[0].data) == 0  # word 3: never written

    _run(dut, bench)


async def _start(ctx, dut, desc):
    ctx.set(dut.desc.as_value(), encode_desc(desc))
    ctx.set(dut.clear, 1)
    await ctx.tick()
    ctx.set(dut.clear, 0)
    ctx.set(dut.launch, 1)
    await ctx.tick()
    ctx.set(dut.launch, 0)


def test_writer_stores_vector_beats_cut_and_sign_extended():
    dut = Writer(CFG, 4)
    desc = OpDesc(unit="residual", wn=(1, 1, 1, 2), wbase=4, ws=(0, 0, 0, 4), wc=4,
                  wvec=True, wwidth=8, wsigned=True)

    async def bench(ctx):
        ctx.set(dut.running, 1)
        await _start(ctx, dut, desc)
        assert ctx.get(dut.busy)
        beats = [(0x1FF, 0x80, 5, 0xFFFFFF00), (1, 2, 0x7F, 0x100)]
        stores = []
        for beat in beats:
            ctx.set(dut.i_stream.payload, list(beat))
            ctx.set(dut.i_stream.valid, 1)
            assert ctx.get(dut.i_stream.ready)  # taken the cycle it is offered
            stores.append((ctx.get(dut.wr.addr), ctx.get(dut.wr.en), ctx.get(dut.wr.data)))
            await ctx.tick()
        ctx.set(dut.i_stream.valid, 0)
        assert stores == [(1, 0b1111, _word(-1, -128, 5, 0)), (2, 0b1111, _word(1, 2, 127, 0))]
        assert not ctx.get(dut.busy) and ctx.get(dut.wr.en) == 0

    _run(dut, bench)


def test_writer_scatters_an_element_a_cycle():
    dut = Writer(CFG, 4)
    desc = OpDesc(unit="residual", wn=(1, 1, 1, 1), wbase=1, wc=2, wt=6, wwidth=32)

    async def bench(ctx):
        ctx.set(dut.running, 1)
        await _start(ctx, dut, desc)
        ctx.set(dut.i_stream.payload, [11, 22, 33, 44])
        ctx.set(dut.i_stream.valid, 1)
        seen = []
        for _ in range(2):
            seen.append((ctx.get(dut.i_stream.ready), ctx.get(dut.wr.addr),
                         ctx.get(dut.wr.en), ctx.get(dut.wr.data)))
            await ctx.tick()
        # elements 1 and 1 + 6 = 7: word 0 lane 1, then word 1 lane 3; taken with the last
        assert seen == [(0, 0, 0b0010, _word(0, 11)), (1, 1, 0b1000, _word(0, 0, 0, 22))]
        assert not ctx.get(dut.busy)

    _run(dut, bench)


class _GatherBench(Elaboratable):
    def __init__(self):
        self.g = Gatherer(CFG, (32, 1, 1), {8})
        self.s = Scratchpad(CFG)

    def elaborate(self, platform):
        m = Module()
        m.submodules.g, m.submodules.s = self.g, self.s
        for o in range(3):
            wiring.connect(m, self.g.rd[o], self.s.rd[o])
        return m


def test_gatherer_packs_a_beat_latency_edges_after_its_read():
    top = _GatherBench()
    g = top.g
    # two beats of one operand: four 8-bit elements a beat, a word apart
    op = Operand(base=0, s=(0, 0, 0, 4), n_in=1, n_out=1, vl_log=2, ebits=8)
    desc = OpDesc(unit="residual", rn=(1, 1, 1, 2), ops=(op,), last_level=3)

    async def bench(ctx):
        for a, w in enumerate([_word(1, 2, 3, 0x1FF), _word(-1, 5, 6, 7)]):
            ctx.set(top.s.dma_wr.addr, a)
            ctx.set(top.s.dma_wr.data, w)
            ctx.set(top.s.dma_wr.en, 0b1111)
            await ctx.tick()
        ctx.set(top.s.dma_wr.en, 0)
        ctx.set(g.o_stream.ready, 1)
        await _start(ctx, g, desc)  # the last tick is the launch edge
        got, cycle = [], 0
        while len(got) < 2:
            if ctx.get(g.o_stream.valid):
                got.append((cycle, ctx.get(g.o_stream.payload.o0),
                            ctx.get(g.o_stream.payload.last)))
            assert ctx.get(g.busy)
            await ctx.tick()
            cycle += 1
        # cycle 0 reads beat 0, cycle 1 beat 1; each is offered `latency` edges later
        assert got == [(g.latency, 0xFF030201, 0), (g.latency + 1, 0x070605FF, 1)]
        assert not ctx.get(g.busy) and not ctx.get(g.o_stream.valid)

    _run(top, bench)


@pytest.mark.parametrize("bc", [1, 2, 3])
@pytest.mark.parametrize("seed", [0, 1])
def test_gatherer_offers_beats_by_the_cycle_models_rule_under_backpressure(bc, seed):
    """Under a random ``ready`` (the gatherer's skid register in play), beat 0 is offered
    ``beat_cycles - 1 + latency`` cycles after launch and beat ``b + 1`` exactly
    ``beat_cycles`` cycles after beat ``b`` is taken: the rule every exact cycle model
    uses (:mod:`sim.compiler.cycles`); ``valid`` is high from a beat's offer to its take
    and at no other cycle, and the beats come in order, each once."""
    import random

    top = _GatherBench()
    g = top.g
    n = 6
    op = Operand(base=0, s=(0, 0, 0, 4), n_in=1, n_out=1, vl_log=2, ebits=8)
    desc = OpDesc(unit="residual", rn=(1, 1, 1, n), ops=(op,), last_level=3, beat_cycles=bc)
    rng = random.Random(seed)
    ready = [rng.random() < 0.4 for _ in range(200)]
    want_valid, offer = [], bc - 1 + g.latency
    for _ in range(n):
        take = next(c for c in range(offer, len(ready)) if ready[c])
        want_valid += [(c, 1) for c in range(offer, take + 1)]
        offer = take + bc
    cycles = want_valid[-1][0] + 4

    async def bench(ctx):
        for a in range(n):
            ctx.set(top.s.dma_wr.addr, a)
            ctx.set(top.s.dma_wr.data, _word(a, a + 1, a + 2, a + 3))
            ctx.set(top.s.dma_wr.en, 0b1111)
            await ctx.tick()
        ctx.set(top.s.dma_wr.en, 0)
        await _start(ctx, g, desc)
        valid, taken = [], []
        for c in range(cycles):
            ctx.set(g.o_stream.ready, ready[c])
            if ctx.get(g.o_stream.valid):
                valid.append((c, 1))
                if ready[c]:
                    taken.append(ctx.get(g.o_stream.payload.o0))
            await ctx.tick()
        assert valid == want_valid
        # each beat: its word's four elements cut to 8 bits
        assert taken == [sum((a + e) << (8 * e) for e in range(4)) for a in range(n)]
        assert not ctx.get(g.busy)

    _run(top, bench)
