"""The accelerator's operand gatherer: the reader loop nest, operand reads and beat packing."""

from __future__ import annotations

from amaranth.hdl import Array, Cat, Const, Module, Mux, Signal, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from golden.accel_program import (
    ADDR_BITS,
    ELEM_BITS,
    GATHER_LATENCY,
    NUM_LOOPS,
    NUM_OPERANDS,
    AccelTopCfg,
)
from hw.accel.common import desc_layout, nest_sum, step_nest
from hw.accel.scratchpad import read_signature

__all__ = ["MAX_PLANES", "Gatherer", "beat_layout"]

#: Most bit-planes one operand element may carry (``planes`` field).
MAX_PLANES = 4


def beat_layout(widths) -> data.StructLayout:
    """One input beat: operand vectors ``o0..o2`` (``widths`` bits) and the ``last`` flag."""
    return data.StructLayout({**{f"o{o}": unsigned(w) for o, w in enumerate(widths)},
                              "last": 1})


class Gatherer(wiring.Component):
    """Reads a descriptor's operands from the scratchpad and packs them into input beats.

    Accepts the descriptor's reader fields (``rn``, ``last_level``, ``beat_cycles`` and
    each operand's ``o<o>_*``, see :mod:`golden.accel_program`) on ``desc``, held from
    ``clear`` to the end of the op. ``clear`` (one cycle) resets the loop nest and drops
    any beat; ``launch`` (a later cycle) starts the nest if every ``rn`` is non-zero.
    Produces one beat on ``o_stream`` per iteration of the four loops ``i0..i3``, with
    ``last`` set where every loop ``l >= last_level`` is at its end; ``busy`` is high while
    a beat is being read or waits on ``o_stream``.

    Timing: sub-cycle ``j`` of a beat reads its operands on the three ``rd`` ports in
    parallel, one word each a cycle, so a beat takes ``beat_cycles`` cycles; the read is
    registered, cut to its elements and registered again (a stage of its own, so that the
    word's lane shift and the elements' placement are not one path), then packed into the
    beat register, so the beat is on ``o_stream`` ``latency`` edges after its last
    sub-cycle's address. A beat ``o_stream`` does not take moves to a skid register and
    the gatherer stops from the next cycle until it is taken, so ``ready`` drives one
    flip-flop only; ``o_stream`` sees the beats in the same cycles as if the whole gatherer
    stopped while a beat waits (the exact cycle models' rule). A beat counts as taken on
    any cycle with ``ready`` high (the accelerator passes ``valid`` on to the selected
    unit only while the op runs).

    Parameters
    ----------
    cfg : :class:`golden.accel_program.AccelTopCfg`
    widths : sequence of int
        Bits of each operand vector (:func:`hw.accel.top.operand_widths`).
    ebits : iterable of int
        The element widths ``o<o>_ebits`` may take (:func:`hw.accel.top.elem_widths`);
        plain packing is built for these and 32.

    Members
    -------
    desc : ``In(desc_layout())``
    clear, launch : ``In(1)``
    rd : ``Out(read_signature(cfg)).array(NUM_OPERANDS)``
    o_stream : ``Out(stream.Signature(beat_layout(widths)))``
    busy : ``Out(1)``
    """

    def __init__(self, cfg: AccelTopCfg, widths, ebits):
        if not isinstance(cfg, AccelTopCfg):
            raise TypeError(f"cfg must be an AccelTopCfg, not {cfg!r}")
        widths = tuple(widths)
        if len(widths) != NUM_OPERANDS or not all(isinstance(w, int) and w > 0
                                                  for w in widths):
            raise ValueError(f"widths must be {NUM_OPERANDS} positive integers, not {widths!r}")
        self._cfg, self._widths, self._ebits = cfg, widths, sorted({32, *ebits})
        super().__init__({
            "desc": In(desc_layout()), "clear": In(1), "launch": In(1),
            "rd": Out(read_signature(cfg)).array(NUM_OPERANDS),
            "o_stream": Out(stream.Signature(beat_layout(widths))), "busy": Out(1),
        })

    @property
    def cfg(self) -> AccelTopCfg:
        """Configuration of the accelerator."""
        return self._cfg

    @property
    def latency(self) -> int:
        """Clock edges from a beat's last sub-cycle address to the beat on ``o_stream``."""
        return GATHER_LATENCY

    def elaborate(self, platform):  # noqa: C901 - the reader and the packer share their stages
        m = Module()
        d, L, W, widths = self.desc, self._cfg.lanes, self._cfg.word_bits, self._widths
        lane_bits = (L - 1).bit_length()
        i = [Signal(16, name=f"i{n}") for n in range(NUM_LOOPS)]
        j = Signal(16)
        k0 = [Signal(16, name=f"k0_{o}") for o in range(NUM_OPERANDS)]
        k1 = [Signal(16, name=f"k1_{o}") for o in range(NUM_OPERANDS)]
        rd_active = Signal()
        s1_valid, s1_final, s1_last = Signal(), Signal(), Signal()
        s1_j = Signal(16)
        s2_valid, s2_final, s2_last = Signal(), Signal(), Signal()
        s1_act = [Signal(name=f"s1_act{o}") for o in range(NUM_OPERANDS)]
        s1_lane = [Signal(lane_bits or 1, name=f"s1_lane{o}") for o in range(NUM_OPERANDS)]
        pack = [Signal(wd, name=f"pack{o}") for o, wd in enumerate(widths)]
        # the beat register (obuf), and behind it a skid register (sk): the stages advance
        # on ``adv``, a flip-flop's inverse, never on the unit's ``ready`` (see _skid)
        layout = beat_layout(widths)
        beat, sk = Signal(layout), Signal(layout)
        obuf = [beat[f"o{o}"] for o in range(NUM_OPERANDS)]
        o_valid, o_last = Signal(), beat.last
        sk_valid = Signal()
        adv = Signal()
        m.d.comb += adv.eq(~sk_valid)
        _skid(m, self.o_stream, beat, o_valid, sk, sk_valid, self.clear)
        m.d.comb += self.busy.eq(rd_active | s1_valid | s2_valid | o_valid | sk_valid)

        # stage 0: the loop nest and the read addresses
        rn = [d[f"rn{n}"] for n in range(NUM_LOOPS)]
        at_end = [i[n] == rn[n] - 1 for n in range(NUM_LOOPS)]
        beat_end = j == d.beat_cycles - 1
        last_flag = Signal()
        m.d.comb += last_flag.eq(Array(
            [Cat(*at_end[lvl:]).all() if lvl < NUM_LOOPS else Const(1)
             for lvl in range(NUM_LOOPS + 1)] + [Const(1)] * 3)[d.last_level])

        # the addresses base + sum(i_n * s_n) + k1 * d_out + k0 * d_in, kept as running sums:
        # the nest's part (rows, stepped with i) and k1 * d_out (k1o) and k1 * d_out + k0 *
        # d_in (sub), stepped with k0 and k1
        rows, k1o, sub = [], [], []
        for o in range(NUM_OPERANDS):
            p = f"o{o}_"
            rows.append((nest_sum(m, d[p + "base"].as_signed(), NUM_LOOPS, start=self.launch,
                                  width=ADDR_BITS + 8, name=f"rrow{o}"),
                         [d[f"{p}s{n}"] for n in range(NUM_LOOPS)]))
            k1o.append(Signal(ADDR_BITS + 8, name=f"rk1o{o}"))
            sub.append(Signal(ADDR_BITS + 8, name=f"rsub{o}"))
            addr = Signal(ADDR_BITS + 8, name=f"raddr{o}")
            m.d.comb += addr.eq(rows[o][0][-1] + sub[o])
            act = Signal(name=f"ract{o}")
            m.d.comb += act.eq(k1[o] < d[p + "n_out"])
            m.d.comb += [self.rd[o].addr.eq(addr[lane_bits:]), self.rd[o].en.eq(adv)]
            with m.If(adv):
                m.d.sync += [s1_act[o].eq(rd_active & act & (d[p + "n_in"] != 0)),
                             s1_lane[o].eq(addr[:lane_bits] >> d[p + "vl_log"])]
                with m.If(rd_active):
                    with m.If(beat_end):
                        m.d.sync += [k0[o].eq(0), k1[o].eq(0), k1o[o].eq(0), sub[o].eq(0)]
                    with m.Elif(k0[o] == d[p + "n_in"] - 1):
                        m.d.sync += [k0[o].eq(0), k1[o].eq(k1[o] + 1),
                                     k1o[o].eq(k1o[o] + d[p + "d_out"]),
                                     sub[o].eq(k1o[o] + d[p + "d_out"])]
                    with m.Else():
                        m.d.sync += [k0[o].eq(k0[o] + 1), sub[o].eq(sub[o] + d[p + "d_in"])]

        with m.If(adv):
            m.d.sync += [s1_valid.eq(rd_active), s1_final.eq(rd_active & beat_end),
                         s1_last.eq(last_flag), s1_j.eq(j)]
            with m.If(rd_active):
                with m.If(~beat_end):
                    m.d.sync += j.eq(j + 1)
                with m.Else():
                    m.d.sync += j.eq(0)
                    step_nest(m, i, at_end, rd_active.eq(0), sums=rows)

        # stage 1: the read words, cut to their elements (registered for stage 2)
        with m.If(adv):
            m.d.sync += [s2_valid.eq(s1_valid), s2_final.eq(s1_final), s2_last.eq(s1_last)]
        for o in range(NUM_OPERANDS):
            p = f"o{o}_"
            shifted = Signal(W, name=f"rshift{o}")
            lane_el = Signal(lane_bits + 1, name=f"rlane_el{o}")
            m.d.comb += lane_el.eq(s1_lane[o] << d[p + "vl_log"])
            m.d.comb += shifted.eq(self.rd[o].data >> (lane_el * ELEM_BITS))
            elems = [shifted[e * ELEM_BITS:(e + 1) * ELEM_BITS] for e in range(L)]
            vl = Signal(lane_bits + 1, name=f"rvl{o}")
            m.d.comb += vl.eq(1 << d[p + "vl_log"])
            keep = [Signal(name=f"rkeep{o}_{e}") for e in range(L)]
            m.d.comb += [keep[e].eq(s1_act[o] & (e < vl)) for e in range(L)]
            wd = widths[o]
            # plain packing: low ebits of (element << shift), element e at e * ebits
            plain = Signal(min(wd, L * 32), name=f"rplain{o}")
            with m.Switch(d[p + "ebits"]):
                for eb in self._ebits:
                    with m.Case(eb):
                        parts = [Mux(keep[e], (elems[e] << d[p + "shift"])[:eb], 0)
                                 for e in range(L)]
                        m.d.comb += plain.eq(Cat(*parts))
            # plane packing: bit q of element e (placed in stage 2)
            bits = [Cat(*[Mux(keep[e], elems[e][q], 0) for e in range(L)])
                    for q in range(MAX_PLANES)]
            s2_plain = Signal(len(plain), name=f"s2_plain{o}")
            s2_bits = [Signal(L, name=f"s2_bits{o}_{q}") for q in range(MAX_PLANES)]
            # where they go (stage 2's shift amounts, registered with them): plain element
            # e at pos + e * ebits, bit q of element e at at_q + e = q * pstride + j * vl + e
            pos = Signal(wd.bit_length(), name=f"rpos{o}")  # positions are < wd
            base_e = Signal(16, name=f"rbase_e{o}")
            m.d.comb += base_e.eq(s1_j << d[p + "vl_log"])
            at = [Signal(wd.bit_length(), name=f"rppos{o}_{q}") for q in range(MAX_PLANES)]
            with m.If(adv):
                m.d.sync += [s2_plain.eq(plain),
                             *(r.eq(b) for r, b in zip(s2_bits, bits, strict=True)),
                             pos.eq((s1_j << d[p + "vl_log"]) * d[p + "ebits"]),
                             *(at[q].eq(base_e + q * d[p + "pstride"])
                               for q in range(MAX_PLANES))]

            # stage 2: the elements placed in the operand vector
            chunk = Signal(wd, name=f"rchunk{o}")  # this sub-cycle's bits, at their place
            placed_plain = (s2_plain << pos)[:wd]
            planes = []
            for q in range(MAX_PLANES):
                planes.append(Mux(q < d[p + "planes"], (s2_bits[q] << at[q])[:wd], 0))
            placed_planes = Signal(wd, name=f"rplanes{o}")
            m.d.comb += placed_planes.eq(_or_all(planes, wd))
            m.d.comb += chunk.eq(Mux(d[p + "planes"] != 0, placed_planes, placed_plain))
            with m.If(adv & s2_valid):
                with m.If(s2_final):
                    m.d.sync += [obuf[o].eq(pack[o] | chunk), pack[o].eq(0)]
                with m.Else():
                    m.d.sync += pack[o].eq(pack[o] | chunk)

        with m.If(adv):
            with m.If(s2_valid & s2_final):
                m.d.sync += [o_valid.eq(1), o_last.eq(s2_last)]
            with m.Else():
                m.d.sync += o_valid.eq(0)

        # the sequencer's strobes take priority over the stages' own updates
        with m.If(self.clear):
            m.d.sync += [*(x.eq(0) for x in i), j.eq(0), *(x.eq(0) for x in k0),
                         *(x.eq(0) for x in k1), *(x.eq(0) for x in k1o),
                         *(x.eq(0) for x in sub), o_valid.eq(0), *(x.eq(0) for x in pack)]
        with m.If(self.launch):
            m.d.sync += rd_active.eq(Cat(*[x != 0 for x in rn]).all())
        return m


def _skid(m: Module, out, beat, valid, sk, sk_valid, clear) -> None:
    """Offer ``beat`` (``valid``) on stream ``out`` through a skid register ``sk``.

    While ``sk`` is empty it copies ``beat`` every cycle, and a beat ``out`` does not take
    stays in it (``sk_valid``); the beat register's stages then stop (``adv`` is
    ``~sk_valid``) from the next cycle until ``out`` takes the held beat. So ``ready``
    reaches one flip-flop, not every stage's clock enable. The unit sees the same beats
    in the same cycles as if ``ready`` stopped the stages at once: the stages make the
    one step they gained back in the cycle the held beat is taken, in which they stand.
    """
    with m.If(~sk_valid):
        m.d.sync += [sk.eq(beat), sk_valid.eq(valid & ~out.ready)]
    with m.Elif(out.ready):
        m.d.sync += sk_valid.eq(0)
    with m.If(clear):
        m.d.sync += sk_valid.eq(0)
    m.d.comb += [out.valid.eq(sk_valid | valid),
                 out.payload.eq(Mux(sk_valid, sk, beat))]


def _or_all(values, width):
    acc = Const(0, width)
    for v in values:
        acc = acc | v
    return acc
