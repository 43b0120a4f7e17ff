"""The accelerator: sequencer, scratchpad, operand gatherer, result writer and the units.

Contract: :mod:`golden.accel_program` (descriptor semantics, memory layout); the compiler
that writes programs is :mod:`sim.accel_compile`.
"""

from __future__ import annotations

from amaranth.hdl import Array, Cat, Const, Module, Mux, Signal, Value, signed, unsigned
from amaranth.lib import data, memory, wiring
from amaranth.lib.wiring import In, Out

from golden.accel_program import (
    ADDR_BITS,
    ELEM_BITS,
    NUM_CONSTS,
    NUM_LOOPS,
    NUM_OPERANDS,
    UNIT_IDS,
    AccelTopCfg,
    desc_fields,
    desc_words,
)
from hw.accel.bind import BIND, field_widths, out_geometry

__all__ = ["MAX_PLANES", "Accelerator", "elem_widths", "operand_widths"]

#: Most bit-planes one operand element may carry (``planes`` field).
MAX_PLANES = 4


def _build_units(cfg: AccelTopCfg) -> dict:
    from hw.units import build_unit

    return {slot: build_unit(ucfg) for slot, ucfg in cfg.units.items()}


def operand_widths(units: dict) -> list[int]:
    """Bits of each operand vector: the widest payload field any unit binds to it."""
    widths = [1] * NUM_OPERANDS
    for slot, unit in units.items():
        fields = field_widths(unit.i_stream.payload.shape())
        for name, src in BIND[slot].items():
            if isinstance(src, int):
                widths[src] = max(widths[src], fields[name][1])
    return widths


class Accelerator(wiring.Component):
    """A ViT accelerator that runs a program of layer descriptors from external memory.

    On ``start`` it reads the op count from external word 0, then for each op fetches its
    descriptor (``desc_words`` words), runs it (a DMA, or one unit fed by the gatherer and
    drained by the writer, see :mod:`golden.accel_program`), and writes the op's cycle
    count to scratchpad element ``cnt_addr``. ``done`` rises after the last op and stays
    high until the next ``start``.

    External memory port: a request (``mem_re`` read / ``mem_we`` write at word
    ``mem_addr``, ``mem_wdata``) is taken every cycle; read data is on ``mem_rdata`` on the
    cycle after the request (a fixed one-cycle latency, like a synchronous SRAM or a
    pipelined AXI port with no wait states).

    Gatherer timing: a beat takes ``beat_cycles`` cycles when no unit stalls (operands read
    in parallel on three scratchpad read ports, one word each a cycle); the writer stores
    a vector output beat a cycle, a scattered one an element a cycle. ``latency`` is the
    gatherer's: two edges from the first sub-cycle's address to the beat on the unit's
    input.

    Parameters
    ----------
    cfg : :class:`golden.accel_program.AccelTopCfg`

    Members
    -------
    start : ``In(1)``
    done, busy : ``Out(1)``
    mem_addr : ``Out(24)``; mem_re, mem_we : ``Out(1)``; mem_wdata : ``Out(lanes*32)``
    mem_rdata : ``In(lanes*32)``
    """

    def __init__(self, cfg: AccelTopCfg):
        if not isinstance(cfg, AccelTopCfg):
            raise TypeError(f"cfg must be an AccelTopCfg, not {cfg!r}")
        self._cfg = cfg
        self._units = _build_units(cfg)
        w = cfg.word_bits
        super().__init__({
            "start": In(1), "done": Out(1), "busy": Out(1),
            "mem_addr": Out(ADDR_BITS), "mem_re": Out(1), "mem_we": Out(1),
            "mem_wdata": Out(w), "mem_rdata": In(w),
        })

    @property
    def cfg(self) -> AccelTopCfg:
        return self._cfg

    @property
    def latency(self) -> int:
        return 2

    def elaborate(self, platform):  # noqa: C901 - one FSM, kept in one place
        m = Module()
        cfg, L = self._cfg, self._cfg.lanes
        lane_bits = (L - 1).bit_length()
        W = cfg.word_bits
        dwords = desc_words(cfg)
        fields = desc_fields()
        layout = data.StructLayout({n: (signed(b) if s else unsigned(b)) for n, b, s in fields})
        total = sum(b for _, b, _ in fields)

        for slot, unit in self._units.items():
            m.submodules[slot] = unit

        scratch = memory.Memory(shape=unsigned(W), depth=cfg.depth, init=[])
        m.submodules.scratch = scratch
        rports = [scratch.read_port(domain="sync") for _ in range(NUM_OPERANDS)]
        wport = scratch.write_port(granularity=ELEM_BITS)

        desc_raw = Signal(dwords * W)
        d = data.View(layout, desc_raw[:total])

        n_ops = Signal(16)
        pc = Signal(16)
        fetch_addr = Signal(ADDR_BITS)
        fetch_i = Signal(range(dwords + 1))
        op_cycles = Signal(32)
        cnt = Signal(ADDR_BITS + 1)  # DMA word counter
        pend = Signal()  # a DMA read is in flight
        pend_addr = Signal(ADDR_BITS)

        # ---------------------------------------------------------------- gatherer
        widths = operand_widths(self._units)
        i = [Signal(16, name=f"i{n}") for n in range(NUM_LOOPS)]
        j = Signal(16)
        k0 = [Signal(16, name=f"k0_{o}") for o in range(NUM_OPERANDS)]
        k1 = [Signal(16, name=f"k1_{o}") for o in range(NUM_OPERANDS)]
        rd_active = Signal()
        s1_valid, s1_final, s1_last = Signal(), Signal(), Signal()
        s1_j = Signal(16)
        s1_act = [Signal(name=f"s1_act{o}") for o in range(NUM_OPERANDS)]
        s1_lane = [Signal(lane_bits or 1, name=f"s1_lane{o}") for o in range(NUM_OPERANDS)]
        pack = [Signal(wd, name=f"pack{o}") for o, wd in enumerate(widths)]
        obuf = [Signal(wd, name=f"obuf{o}") for o, wd in enumerate(widths)]
        o_valid, o_last = Signal(), Signal()
        unit_ready = Signal()
        adv = Signal()
        running = Signal()
        m.d.comb += adv.eq(~o_valid | unit_ready)

        rn = [d[f"rn{n}"] for n in range(NUM_LOOPS)]
        at_end = [i[n] == rn[n] - 1 for n in range(NUM_LOOPS)]
        beat_end = j == d.beat_cycles - 1
        last_flag = Signal()
        m.d.comb += last_flag.eq(Array(
            [Cat(*at_end[lvl:]).all() if lvl < NUM_LOOPS else Const(1)
             for lvl in range(NUM_LOOPS + 1)] + [Const(1)] * 3)[d.last_level])

        for o in range(NUM_OPERANDS):
            p = f"o{o}_"
            addr = Signal(ADDR_BITS + 8, name=f"raddr{o}")
            terms = [d[p + "base"].as_signed()]
            terms += [i[n] * d[f"{p}s{n}"] for n in range(NUM_LOOPS)]
            terms += [k1[o] * d[p + "d_out"], k0[o] * d[p + "d_in"]]
            m.d.comb += addr.eq(sum(terms[1:], terms[0]))
            act = Signal(name=f"ract{o}")
            m.d.comb += act.eq(k1[o] < d[p + "n_out"])
            m.d.comb += [rports[o].addr.eq(addr[lane_bits:]), rports[o].en.eq(adv)]
            with m.If(adv):
                m.d.sync += [s1_act[o].eq(rd_active & act & (d[p + "n_in"] != 0)),
                             s1_lane[o].eq(addr[:lane_bits] >> d[p + "vl_log"])]
                with m.If(rd_active):
                    with m.If(beat_end):
                        m.d.sync += [k0[o].eq(0), k1[o].eq(0)]
                    with m.Elif(k0[o] == d[p + "n_in"] - 1):
                        m.d.sync += [k0[o].eq(0), k1[o].eq(k1[o] + 1)]
                    with m.Else():
                        m.d.sync += k0[o].eq(k0[o] + 1)

        with m.If(adv):
            m.d.sync += [s1_valid.eq(rd_active), s1_final.eq(rd_active & beat_end),
                         s1_last.eq(last_flag), s1_j.eq(j)]
            with m.If(rd_active):
                with m.If(~beat_end):
                    m.d.sync += j.eq(j + 1)
                with m.Else():
                    m.d.sync += j.eq(0)
                    _step_nest(m, i, at_end, rd_active.eq(0))

        ebit_set = sorted({32, *elem_widths(self._units)})
        for o in range(NUM_OPERANDS):
            p = f"o{o}_"
            shifted = Signal(W, name=f"rshift{o}")
            lane_el = Signal(lane_bits + 1, name=f"rlane_el{o}")
            m.d.comb += lane_el.eq(s1_lane[o] << d[p + "vl_log"])
            m.d.comb += shifted.eq(rports[o].data >> (lane_el * ELEM_BITS))
            elems = [shifted[e * ELEM_BITS:(e + 1) * ELEM_BITS] for e in range(L)]
            vl = Signal(lane_bits + 1, name=f"rvl{o}")
            m.d.comb += vl.eq(1 << d[p + "vl_log"])
            keep = [Signal(name=f"rkeep{o}_{e}") for e in range(L)]
            m.d.comb += [keep[e].eq(e < vl) for e in range(L)]
            wd = widths[o]
            chunk = Signal(wd, name=f"rchunk{o}")  # this sub-cycle's bits, at their place
            # plain packing: low ebits of (element << shift), element e at e * ebits
            plain = Signal(min(wd, L * 32), name=f"rplain{o}")
            with m.Switch(d[p + "ebits"]):
                for eb in ebit_set:
                    with m.Case(eb):
                        parts = [Mux(keep[e], (elems[e] << d[p + "shift"])[:eb], 0)
                                 for e in range(L)]
                        m.d.comb += plain.eq(Cat(*parts))
            pos = Signal(wd.bit_length(), name=f"rpos{o}")  # positions are < wd
            m.d.comb += pos.eq((s1_j << d[p + "vl_log"]) * d[p + "ebits"])
            placed_plain = (plain << pos)[:wd]
            # plane packing: bit q of element e at q * pstride + (j * vl + e)
            base_e = Signal(16, name=f"rbase_e{o}")
            m.d.comb += base_e.eq(s1_j << d[p + "vl_log"])
            planes = []
            for q in range(MAX_PLANES):
                bits = Cat(*[Mux(keep[e], elems[e][q], 0) for e in range(L)])
                at = Signal(wd.bit_length(), name=f"rppos{o}_{q}")
                m.d.comb += at.eq(base_e + q * d[p + "pstride"])
                planes.append(Mux(q < d[p + "planes"], (bits << at)[:wd], 0))
            placed_planes = Signal(wd, name=f"rplanes{o}")
            m.d.comb += placed_planes.eq(_or_all(planes, wd))
            m.d.comb += chunk.eq(Mux(s1_act[o],
                                     Mux(d[p + "planes"] != 0, placed_planes, placed_plain), 0))
            with m.If(adv & s1_valid):
                with m.If(s1_final):
                    m.d.sync += [obuf[o].eq(pack[o] | chunk), pack[o].eq(0)]
                with m.Else():
                    m.d.sync += pack[o].eq(pack[o] | chunk)

        with m.If(adv):
            with m.If(s1_valid & s1_final):
                m.d.sync += [o_valid.eq(1), o_last.eq(s1_last)]
            with m.Else():
                m.d.sync += o_valid.eq(0)

        consts = [d[f"k{n}"] for n in range(NUM_CONSTS)]
        unit_valid = {}
        for slot, unit in self._units.items():
            sel = d.unit == UNIT_IDS[slot]
            payload = Value.cast(unit.i_stream.payload)
            fw = field_widths(unit.i_stream.payload.shape())
            for name, src in BIND[slot].items():
                off, width = fw[name]
                if isinstance(src, int):
                    val = obuf[src]
                elif src == "last":
                    val = o_last
                else:
                    val = consts[int(src[1:])]
                m.d.comb += payload[off:off + width].eq(val[:width] if len(val) >= width
                                                        else val)
            m.d.comb += unit.i_stream.valid.eq(running & sel & o_valid)
            unit_valid[slot] = sel
        m.d.comb += unit_ready.eq(Cat(*[sel & self._units[s].i_stream.ready
                                        for s, sel in unit_valid.items()]).any()
                                  if unit_valid else 0)

        # ---------------------------------------------------------------- writer
        wi = [Signal(16, name=f"wi{n}") for n in range(NUM_LOOPS)]
        wsub = Signal(8)
        w_active = Signal()
        wn = [d[f"wn{n}"] for n in range(NUM_LOOPS)]
        w_end = [wi[n] == wn[n] - 1 for n in range(NUM_LOOPS)]
        out_valid = Signal()
        max_out = 1
        for slot, unit in self._units.items():
            off, nl, eb = out_geometry(slot, unit.o_stream.payload.shape())
            max_out = max(max_out, nl)
        out_lanes = Array([Signal(ELEM_BITS, name=f"olane{e}") for e in range(max_out)])
        raw = [Signal(ELEM_BITS, name=f"oraw{e}") for e in range(max_out)]
        with m.Switch(d.unit):
            for slot, unit in self._units.items():
                with m.Case(UNIT_IDS[slot]):
                    off, nl, eb = out_geometry(slot, unit.o_stream.payload.shape())
                    pl = Value.cast(unit.o_stream.payload)
                    m.d.comb += out_valid.eq(unit.o_stream.valid)
                    for e in range(nl):
                        m.d.comb += raw[e].eq(pl[off + e * eb: off + (e + 1) * eb])
        mask = Signal(ELEM_BITS + 1)
        m.d.comb += mask.eq((Const(1, ELEM_BITS + 1) << d.wbits) - 1)
        for e in range(max_out):
            low = raw[e] & mask[:ELEM_BITS]
            neg = d.wsigned & (raw[e] >> (d.wbits - 1)[:6].as_unsigned())[0]
            m.d.comb += out_lanes[e].eq(Mux(neg, low | ~mask[:ELEM_BITS], low))

        waddr = Signal(ADDR_BITS + 8)
        wterms = [d.wbase.as_signed()] + [wi[n] * d[f"ws{n}"] for n in range(NUM_LOOPS)]
        m.d.comb += waddr.eq(sum(wterms[1:], wterms[0]) + wsub * d.wt)
        w_lane = waddr[:lane_bits]
        w_take = Signal()  # the writer consumes the output beat this cycle
        w_do = Signal()  # the writer stores this cycle
        beat_done = Signal()
        m.d.comb += beat_done.eq(d.wvec | d.wpack | (wsub == d.wc - 1))
        m.d.comb += [w_do.eq(running & w_active & out_valid),
                     w_take.eq(w_do & beat_done)]
        for slot, unit in self._units.items():
            m.d.comb += unit.o_stream.ready.eq((d.unit == UNIT_IDS[slot]) & w_take)

        vec_data = Signal(W)
        vec_en = Signal(L)
        m.d.comb += vec_data.eq(Cat(*[out_lanes[e] for e in range(min(max_out, L))]))
        m.d.comb += vec_en.eq(((Const(1, L + 1) << d.wc) - 1)[:L])
        one = Signal(ELEM_BITS)
        packed_bits = Cat(*[out_lanes[e][0] for e in range(max_out)])
        m.d.comb += one.eq(Mux(d.wpack, (packed_bits & ((Const(1, 65) << d.wc) - 1))
                               [:ELEM_BITS], out_lanes[wsub]))

        with m.If(w_do):
            with m.If(beat_done):
                m.d.sync += wsub.eq(0)
                _step_nest(m, wi, w_end, w_active.eq(0))
            with m.Else():
                m.d.sync += wsub.eq(wsub + 1)

        # ---------------------------------------------------------------- sequencer
        m.d.comb += self.busy.eq(~self.done & (pc < n_ops) | running)
        dma_data = Signal(W)
        dma_we = Signal()
        dma_waddr = Signal(ADDR_BITS)
        cnt_we = Signal()
        with m.If(dma_we):
            m.d.comb += [wport.addr.eq(dma_waddr), wport.data.eq(dma_data),
                         wport.en.eq((1 << L) - 1)]
        with m.Elif(cnt_we):
            m.d.comb += [wport.addr.eq(d.cnt_addr[lane_bits:]),
                         wport.data.eq(op_cycles << (d.cnt_addr[:lane_bits] * ELEM_BITS)),
                         wport.en.eq(1 << d.cnt_addr[:lane_bits])]
        with m.Elif(w_do):
            m.d.comb += wport.addr.eq(waddr[lane_bits:])
            with m.If(d.wvec):
                m.d.comb += [wport.data.eq(vec_data << (w_lane * ELEM_BITS)),
                             wport.en.eq(vec_en << w_lane)]
            with m.Else():
                m.d.comb += [wport.data.eq(one << (w_lane * ELEM_BITS)),
                             wport.en.eq(1 << w_lane)]

        m.d.sync += op_cycles.eq(op_cycles + 1)
        start_loops = [*(x.eq(0) for x in i), *(x.eq(0) for x in wi), j.eq(0), wsub.eq(0),
                       *(x.eq(0) for x in k0), *(x.eq(0) for x in k1), o_valid.eq(0),
                       *(x.eq(0) for x in pack)]
        with m.FSM():
            with m.State("IDLE"):
                with m.If(self.start):
                    m.d.comb += [self.mem_re.eq(1), self.mem_addr.eq(0)]
                    m.d.sync += self.done.eq(0)
                    m.next = "HEADER"
            with m.State("HEADER"):
                m.d.sync += [n_ops.eq(self.mem_rdata[:16]), pc.eq(0), fetch_addr.eq(1)]
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
                    m.d.sync += [fetch_addr.eq(fetch_addr + dwords), cnt.eq(0), pend.eq(0),
                                 *start_loops]
                    m.next = "DISPATCH"
            with m.State("DISPATCH"):
                with m.If(d.unit == UNIT_IDS["dma_in"]):
                    m.next = "DMA_IN"
                with m.Elif(d.unit == UNIT_IDS["dma_out"]):
                    m.next = "DMA_OUT"
                with m.Else():
                    m.d.sync += [rd_active.eq(Cat(*[x != 0 for x in rn]).all()),
                                 w_active.eq(Cat(*[x != 0 for x in wn]).all()),
                                 running.eq(1)]
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
                    m.d.comb += [rports[0].addr.eq((d.wbase >> lane_bits) + cnt),
                                 rports[0].en.eq(1)]
                    m.d.sync += cnt.eq(cnt + 1)
                m.d.sync += [pend.eq(cnt < d.rn3), pend_addr.eq(d.k0 + cnt)]
                with m.If(pend):
                    m.d.comb += [self.mem_we.eq(1), self.mem_addr.eq(pend_addr),
                                 self.mem_wdata.eq(rports[0].data)]
                with m.If(~pend & (cnt == d.rn3)):
                    m.next = "COUNT"
            with m.State("RUN"):
                no_writes = Cat(*[x == 0 for x in wn]).any()
                finished = Mux(no_writes, ~rd_active & ~s1_valid & ~o_valid, ~w_active)
                with m.If(finished):
                    m.d.sync += running.eq(0)
                    m.next = "COUNT"
            with m.State("COUNT"):
                m.d.comb += cnt_we.eq(1)
                m.d.sync += pc.eq(pc + 1)
                m.next = "NEXT"
        return m


def _leaf_width(shape) -> int:
    while isinstance(shape, data.ArrayLayout):
        shape = shape.elem_shape
    if isinstance(shape, data.Layout):
        return shape.size
    return shape.width


def elem_widths(units: dict) -> set[int]:
    """Element widths the compiler may put in ``ebits``: the innermost element width of
    every operand-bound payload field, and 1..8 (bit groups written by ``wpack``)."""
    out = set(range(1, 9))
    for slot, unit in units.items():
        layout = unit.i_stream.payload.shape()
        for name, src in BIND[slot].items():
            if isinstance(src, int):
                shape = layout if name is None else layout[name].shape
                out.add(min(_leaf_width(shape), 32))
    return out


def _step_nest(m: Module, counters: list, at_end: list, done) -> None:
    """Advance a loop nest (``counters[-1]`` innermost) by one iteration; ``done`` when
    every counter is at its end."""
    n = len(counters)
    for level in reversed(range(n)):
        with (m.If if level == n - 1 else m.Elif)(~at_end[level]):
            m.d.sync += [counters[level].eq(counters[level] + 1),
                         *(c.eq(0) for c in counters[level + 1:])]
    with m.Else():
        m.d.sync += done


def _or_all(values, width):
    acc = Const(0, width)
    for v in values:
        acc = acc | v
    return acc
