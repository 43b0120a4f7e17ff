"""The accelerator's result writer: the output loop nest and the scratchpad stores."""

from __future__ import annotations

from amaranth.hdl import Array, Cat, Const, Module, Mux, Signal, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from golden.accel_program import ADDR_BITS, ELEM_BITS, NUM_LOOPS, AccelTopCfg
from hw.accel.common import desc_layout, nest_sum, step_nest
from hw.accel.scratchpad import write_signature

__all__ = ["Writer"]


class Writer(wiring.Component):
    """Stores a unit's output beats in the scratchpad, as a descriptor's writer fields say.

    Accepts the descriptor's writer fields (``wn``, ``wbase``, ``ws``, ``wc``, ``wt``,
    ``wvec``, ``wpack``, ``wwidth``, ``wsigned``, see :mod:`golden.accel_program`) on
    ``desc``, held from ``clear`` to the end of the op; ``clear`` (one cycle) resets the
    loop nest, ``launch`` (a later cycle) starts it if every ``wn`` is non-zero. While
    ``running``, it takes output beats from ``i_stream`` (``out_lanes`` lanes, each the
    unit's output lane zero-extended to 32 bits), one per iteration of its four loops, cuts
    each lane to ``wwidth`` bits (sign-extended if ``wsigned``) and stores lane ``e < wc``
    at element ``wbase + sum(w_l * ws_l) + e * wt`` through ``wr``. ``busy`` is high until
    the last beat is stored.

    Timing: a vector (``wvec``) or packed (``wpack``) beat is stored in the cycle it is
    offered, and taken then; a scattered beat takes ``wc`` cycles, one element each, and
    is taken with its last element. A store reaches the scratchpad at the next edge
    (``latency``). ``i_stream.ready`` is a function of registers alone (it does not wait
    for ``i_stream.valid``): high while ``running`` and the nest is active, at a vector or
    packed beat or a scattered beat's last element.

    Parameters
    ----------
    cfg : :class:`golden.accel_program.AccelTopCfg`
    out_lanes : int
        Lanes of the widest unit output beat.

    Members
    -------
    desc : ``In(desc_layout())``
    clear, launch, running : ``In(1)``
    i_stream : ``In(stream.Signature(ArrayLayout(unsigned(32), out_lanes)))``
    wr : ``Out(write_signature(cfg))``
    busy : ``Out(1)``
    """

    def __init__(self, cfg: AccelTopCfg, out_lanes: int):
        if not isinstance(cfg, AccelTopCfg):
            raise TypeError(f"cfg must be an AccelTopCfg, not {cfg!r}")
        if not isinstance(out_lanes, int) or out_lanes < 1:
            raise ValueError(f"out_lanes must be a positive integer, not {out_lanes!r}")
        self._cfg, self._out_lanes = cfg, out_lanes
        lanes = data.ArrayLayout(unsigned(ELEM_BITS), out_lanes)
        super().__init__({
            "desc": In(desc_layout()), "clear": In(1), "launch": In(1), "running": In(1),
            "i_stream": In(stream.Signature(lanes)), "wr": Out(write_signature(cfg)),
            "busy": Out(1),
        })

    @property
    def cfg(self) -> AccelTopCfg:
        """Configuration of the accelerator."""
        return self._cfg

    @property
    def latency(self) -> int:
        """Clock edges from a beat taken to its elements in the scratchpad."""
        return 1

    def elaborate(self, platform):
        m = Module()
        d, L, W, max_out = self.desc, self._cfg.lanes, self._cfg.word_bits, self._out_lanes
        lane_bits = (L - 1).bit_length()
        wi = [Signal(16, name=f"wi{n}") for n in range(NUM_LOOPS)]
        wsub = Signal(8)
        w_active = Signal()
        m.d.comb += self.busy.eq(w_active)
        wn = [d[f"wn{n}"] for n in range(NUM_LOOPS)]
        w_end = [wi[n] == wn[n] - 1 for n in range(NUM_LOOPS)]

        out_lanes = Array([Signal(ELEM_BITS, name=f"olane{e}") for e in range(max_out)])
        mask = Signal(ELEM_BITS + 1)
        m.d.comb += mask.eq((Const(1, ELEM_BITS + 1) << d.wwidth) - 1)
        for e in range(max_out):
            raw = self.i_stream.payload[e]
            low = raw & mask[:ELEM_BITS]
            neg = d.wsigned & (raw >> (d.wwidth - 1)[:6].as_unsigned())[0]
            m.d.comb += out_lanes[e].eq(Mux(neg, low | ~mask[:ELEM_BITS], low))

        w_do = Signal()  # the writer stores this cycle
        beat_done = Signal()
        # wbase + sum(wi_n * ws_n) + wsub * wt, kept as running sums (no products)
        row = (nest_sum(m, d.wbase.as_signed(), NUM_LOOPS, start=self.launch,
                        width=ADDR_BITS + 8, name="wrow"),
               [d[f"ws{n}"] for n in range(NUM_LOOPS)])
        wsub_t = Signal(ADDR_BITS + 8)  # wsub * wt
        waddr = Signal(ADDR_BITS + 8)
        m.d.comb += waddr.eq(row[0][-1] + wsub_t)
        w_lane = waddr[:lane_bits]
        # ``wsub == wc - 1`` kept as a register: ``ready`` feeds every unit's pipeline
        # advance, so it comes from flip-flops alone (no subtractor, no ``valid``)
        sub_last = Signal()
        m.d.comb += beat_done.eq(d.wvec | d.wpack | sub_last)
        m.d.comb += [w_do.eq(self.running & w_active & self.i_stream.valid),
                     self.i_stream.ready.eq(self.running & w_active & beat_done)]

        vec_data = Signal(W)
        vec_en = Signal(L)
        m.d.comb += vec_data.eq(Cat(*[out_lanes[e] for e in range(min(max_out, L))]))
        m.d.comb += vec_en.eq(((Const(1, L + 1) << d.wc) - 1)[:L])
        one = Signal(ELEM_BITS)
        packed_bits = Cat(*[out_lanes[e][0] for e in range(max_out)])
        m.d.comb += one.eq(Mux(d.wpack, (packed_bits & ((Const(1, 65) << d.wc) - 1))
                               [:ELEM_BITS], out_lanes[wsub]))
        with m.If(w_do):
            m.d.comb += self.wr.addr.eq(waddr[lane_bits:])
            with m.If(d.wvec):
                m.d.comb += [self.wr.data.eq(vec_data << (w_lane * ELEM_BITS)),
                             self.wr.en.eq(vec_en << w_lane)]
            with m.Else():
                m.d.comb += [self.wr.data.eq(one << (w_lane * ELEM_BITS)),
                             self.wr.en.eq(1 << w_lane)]

        with m.If(w_do):
            with m.If(beat_done):
                m.d.sync += [wsub.eq(0), wsub_t.eq(0), sub_last.eq(d.wc == 1)]
                step_nest(m, wi, w_end, w_active.eq(0), sums=[row])
            with m.Else():
                m.d.sync += [wsub.eq(wsub + 1), wsub_t.eq(wsub_t + d.wt),
                             sub_last.eq(wsub + 2 == d.wc)]

        # the sequencer's strobes take priority over the nest's own updates
        with m.If(self.clear):
            m.d.sync += [*(x.eq(0) for x in wi), wsub.eq(0), wsub_t.eq(0)]
        with m.If(self.launch):
            m.d.sync += [w_active.eq(Cat(*[x != 0 for x in wn]).all()),
                         sub_last.eq(d.wc == 1)]
        return m
