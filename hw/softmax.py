"""Integer softmax: four engines (load, exp, divide, scale), each on its own row, rows
overlapping."""

from __future__ import annotations

from types import SimpleNamespace

from amaranth.hdl import Cat, Const, Module, Mux, Signal, signed, unsigned
from amaranth.lib import data, stream
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from golden.cases_softmax import (
    DIV_STEPS,
    EXP_BITS,
    FLOOR_Q_BITS,
    OUT_BITS_BITS,
    ROW_BANKS,
    SoftmaxCfg,
)
from golden.unit_spec import attach
from hw.adder_tree import tree_sum
from hw.softmax_exp import exp_lane, pick
from hw.stream_unit import StreamUnit

__all__ = ["E_SLOTS", "Softmax"]

#: Rows of exps the unit holds (its e memory's slots): a row in each of the ``ROW_BANKS``
#: row banks, the divider's and the scale engine's. A row's slot is free again once the
#: scale engine has read it, before the exp engine takes the row ``E_SLOTS`` later.
E_SLOTS = ROW_BANKS + 2

assert ROW_BANKS & (ROW_BANKS - 1) == 0, "the bank pointers wrap: a power of two"


@attach("softmax", "component")
class Softmax(StreamUnit):
    """Integer softmax over rows of up to ``max_len`` logits, ``lanes`` logits a beat.

    Reference: :func:`golden.nonlinear.int_softmax` (with :func:`golden.nonlinear.int_exp`),
    bit for bit. Every beat carries the row's :class:`golden.nonlinear.SoftmaxParams`
    (``x0``, ``b``, ``c``, ``n``, ``floor_q``, ``out_bits``; latched from the row's first
    beat), so one instance serves every layer's scale down to ``2**-scale_exp``, and rows of
    different lengths and constants may follow each other; ``last`` ends a row (so does the
    beat holding the ``max_len``-th logit); ``tail`` on a row's last beat says how many of
    its lanes the row fills (minus one): the lanes past it are ignored. Outputs leave
    ``lanes`` a beat, unsigned ``out_bits``-bit codes with the row's ``last`` flag (lanes
    past the row: 0), rows in order. A row of ``row_len`` logits is ``beats =
    ceil(row_len / lanes)`` beats; each per-element stage below is replicated ``lanes``
    times, and the max and the exp sum take a beat's lanes through trees.

    Four engines, each holding one row, hand a row on when the next engine is free:

    1. *load* (``beats`` cycles, ``i_stream.ready`` high): logits into an x slot (two, rows
       alternating), running max, the row's constants latched from its first beat; then
       ``i_stream.ready`` is low until the exp engine takes the row (at best the next
       edge);
    2. *exp* (``beats`` reads, then the next row): reads the x slot back through the lanes'
       ``exp_stages`` (13) stage pipelines (:func:`hw.softmax_exp.exp_lane`: ``d =
       max(x - max, floor_q * x0)``, ``q, r`` by a 5-stage restoring division by ``-x0``,
       ``z = (r + b) * r + c``, ``e = z`` shifted by ``n - q``, 16 bits), writing ``e``
       into the row's e slot (:data:`E_SLOTS`, rows in turn) and summing (``sum < 2**16 *
       max_len``). The row's constants and sum sit in one of :data:`ROW_BANKS` row banks
       (taken in turn, one free needed to start a row) and every element carries its
       bank's number, so the pipeline drains a row while reading the next ones;
    3. *divide* (``div_cycles = ceil(DIV_STEPS / div_bits)`` cycles: 18, 9, 6 or 5): once
       the oldest bank's sum is complete (the edge after its last exp), takes it, freeing
       the bank, and finds ``factor = 2**32 // sum`` by restoring division, ``div_bits``
       quotient bits a cycle (restoring steps chained in one cycle). The row max gives
       ``e >= 2**15``, so ``sum >= 2**15`` and ``factor <= 2**17`` has ``DIV_STEPS`` = 18
       bits (at ``div_bits`` 4 the divider runs 20 quotient bits, the two leading ones 0);
       it holds the factor until the scale engine takes it, and takes the next sum on
       that edge;
    4. *scale* (``beats`` reads, stalled only by ``o_stream``): ``min((e * factor) >>
       (32 - out_bits), 2**out_bits - 1)`` through a read, hold, multiply, shift, clamp
       pipeline, the row's factor, shift and clamp travelling with its elements, so the
       next row's reads follow on the edge after the take.

    Timing: the rows overlap, so with no stalls a row costs the slowest engine's period,
    ``max(beats + 1, div_cycles + 1)`` (:meth:`golden.cases_softmax.SoftmaxCfg.row_cycles`;
    10 for the digits ViT's rows of 18 at 2 lanes and ``div_bits`` 2, against ``3 * beats +
    exp_stages + div_cycles + 5`` = 54 a row one at a time), and a lone row ``3 * beats +
    latency`` (``latency = exp_stages + div_cycles + 8``: 13 + 18 + 8 = 39 at ``div_bits``
    1, 30 at 2, 27 at 3, 26 at 4). The exact model, which the benches assert, is
    :meth:`golden.cases_softmax.SoftmaxCfg.cycles`: from the first input handshake to the
    last output handshake, both included. Idle input cycles stretch the load engine;
    backpressure stalls the scale engine, and through it the divider, the banks and the
    load engine. Constants that :func:`golden.nonlinear.softmax_params` would not make, or
    a scale below ``2**-scale_exp``, give unspecified results, but every engine's pass has
    a fixed length, so no input hangs the unit.

    Parameters
    ----------
    cfg : :class:`golden.cases_softmax.SoftmaxCfg`

    Members
    -------
    i_stream : ``In(stream.Signature(StructLayout({"x": ArrayLayout(signed(x_bits), lanes), "x0": signed(x0_bits), "b": b_bits, "c": c_bits, "n": signed(n_bits), "floor_q": 5, "out_bits": 5, "tail": tail_bits, "last": 1})))``
    o_stream : ``Out(stream.Signature(StructLayout({"y": ArrayLayout(out_bits, lanes), "last": 1})))``
    """  # noqa: E501

    config_class = SoftmaxCfg

    def _members(self, cfg) -> dict:
        in_layout = self.in_layout(cfg)
        out_layout = data.StructLayout({"y": data.ArrayLayout(unsigned(cfg.out_bits),
                                                              cfg.lanes),
                                        "last": unsigned(1)})
        return {"i_stream": In(stream.Signature(in_layout)),
                "o_stream": Out(stream.Signature(out_layout))}

    def elaborate(self, platform):
        m = Module()
        cfg = self._cfg
        lanes = cfg.lanes
        max_beats = cfg.beats(cfg.max_len)
        addr_bits = max(1, (max_beats - 1).bit_length())
        ctx_layout = self._ctx_layout()

        # x slots: rows alternate, the load engine writing one while the exp engine reads
        # the other. e slots: rows in turn, from the exp engine's writes to the scale
        # engine's reads (a row in each bank, the divider's and the scale engine's).
        m.submodules.xmem = xmem = Memory(shape=unsigned(cfg.x_bits * lanes),
                                          depth=2 << addr_bits, init=[])
        m.submodules.emem = emem = Memory(shape=unsigned(EXP_BITS * lanes),
                                          depth=E_SLOTS << addr_bits, init=[])
        xw, xr = xmem.write_port(), xmem.read_port()
        ew, er = emem.write_port(), emem.read_port()

        lctx = Signal(ctx_layout)
        l_full = self._load(m, lctx, xw, addr_bits)
        banks = [SimpleNamespace(ctx=Signal(ctx_layout, name=f"bank{k}"),
                                 sum=Signal(unsigned(cfg.sum_bits), name=f"bank{k}_sum"),
                                 busy=Signal(name=f"bank{k}_busy"),
                                 done=Signal(name=f"bank{k}_done"))
                 for k in range(ROW_BANKS)]
        self._exp(m, lctx, l_full, xr, ew, banks, addr_bits)
        d = self._divide(m, banks)
        self._scale(m, d, er, addr_bits)
        return m

    def _ctx_layout(self) -> data.StructLayout:
        """A row's context: its max, constants, length and tail (from the load engine), and
        the e slot the exp engine gives it."""
        cfg = self._cfg
        return data.StructLayout({
            "max": signed(cfg.x_bits), "x0": unsigned(cfg.x0_bits),
            "lim": unsigned(cfg.x0_bits + FLOOR_Q_BITS),  # floor_q * |x0|
            "b": unsigned(cfg.b_bits), "c": unsigned(cfg.c_bits), "n": signed(cfg.n_bits),
            "out_bits": unsigned(OUT_BITS_BITS), "tail": unsigned(cfg.tail_bits),
            "len": unsigned(cfg.beats(cfg.max_len).bit_length()),
            "eslot": unsigned((E_SLOTS - 1).bit_length())})

    def _load(self, m, ctx, xw, addr_bits):
        """The load engine: beats into x slot ``slot`` (alternating per row), the running max
        and the row's constants into ``ctx``; ``full`` once the row is complete, until the
        exp engine takes it (``i_stream.ready`` is ``~full``). Returns ``full``."""
        cfg = self._cfg
        beat, lanes = self.i_stream.payload, cfg.lanes
        max_beats = cfg.beats(cfg.max_len)
        full, slot = Signal(), Signal()
        count = Signal(unsigned(max_beats.bit_length()))  # beats of the row taken

        # The beat's max over its lanes in the row (lanes past the row in its last beat
        # take lane 0's value), by a tree of comparisons.
        row_end = Signal()
        max_tail = (cfg.max_len - 1) % lanes
        tail_now = Signal(unsigned(cfg.tail_bits))
        m.d.comb += [row_end.eq(beat.last | (count == max_beats - 1)),
                     tail_now.eq(Mux(beat.last, beat.tail, max_tail))]
        terms = [beat.x[i] if i == 0 else Mux(row_end & (i > tail_now), beat.x[0], beat.x[i])
                 for i in range(lanes)]
        while len(terms) > 1:
            paired = [Mux(terms[i] > terms[i + 1], terms[i], terms[i + 1])
                      for i in range(0, len(terms) - 1, 2)]
            terms = paired + ([terms[-1]] if len(terms) % 2 else [])
        beat_max = Signal(signed(cfg.x_bits))
        m.d.comb += beat_max.eq(terms[0])

        take = Signal()
        m.d.comb += [self.i_stream.ready.eq(~full), take.eq(self.i_stream.valid & ~full),
                     xw.en.eq(take), xw.addr.eq(Cat(count[:addr_bits], slot)),
                     xw.data.eq(beat.x.as_value())]
        with m.If(take):
            m.d.sync += count.eq(count + 1)
            with m.If(count == 0):
                m.d.sync += [ctx.max.eq(beat_max), ctx.x0.eq(-beat.x0),
                             ctx.lim.eq(-beat.x0 * beat.floor_q), ctx.b.eq(beat.b),
                             ctx.c.eq(beat.c), ctx.n.eq(beat.n), ctx.out_bits.eq(beat.out_bits)]
            with m.Elif(beat_max > ctx.max):
                m.d.sync += ctx.max.eq(beat_max)
            with m.If(row_end):
                m.d.sync += [ctx.len.eq(count + 1), ctx.tail.eq(tail_now), count.eq(0),
                             full.eq(1), slot.eq(~slot)]
        return full

    def _exp(self, m, lctx, l_full, xr, ew, banks, addr_bits):
        """The exp engine: takes the loaded row into the next free row bank, issues its
        reads, and runs them through the lanes' exp pipelines (stage ``i`` reads the
        constants of the bank its element's ``tag`` names) into the row's e slot, summing;
        the bank is ``done`` with the sum after the row's last element."""
        cfg = self._cfg
        lanes = cfg.lanes
        lb = len(lctx.len)
        tag_bits = (ROW_BANKS - 1).bit_length()
        active, count, length = Signal(), Signal(unsigned(lb)), Signal(unsigned(lb))
        xslot = Signal(init=1)  # x slot of the row being read (rows alternate, from 0)
        bank = Signal(unsigned(tag_bits), init=ROW_BANKS - 1)  # bank of that row
        eslot = Signal.like(lctx.eslot, init=E_SLOTS - 1)  # its e slot
        next_bank, next_eslot = Signal.like(bank), Signal.like(eslot)
        last_read, take = Signal(), Signal()
        m.d.comb += [next_bank.eq(bank + 1),
                     next_eslot.eq(Mux(eslot == E_SLOTS - 1, 0, eslot + 1)),
                     last_read.eq(count == length - 1),
                     take.eq(l_full & ~active & ~pick([b.busy for b in banks], next_bank))]
        with m.If(take):
            m.d.sync += [active.eq(1), count.eq(0), length.eq(lctx.len), bank.eq(next_bank),
                         eslot.eq(next_eslot), xslot.eq(~xslot), l_full.eq(0)]
            for k, b in enumerate(banks):
                with m.If(next_bank == k):
                    m.d.sync += [b.ctx.eq(lctx), b.ctx.eslot.eq(next_eslot), b.busy.eq(1)]
        with m.If(active):
            m.d.sync += count.eq(count + 1)
            with m.If(last_read):
                m.d.sync += active.eq(0)

        # Stage 0 is the read request, 1 the x slot's read, 2 holds it (the memory's
        # output is slow); the element's bank and last flag travel alongside.
        n_stages = cfg.exp_stages + 1
        valid = [Signal(name=f"e_valid{i}") for i in range(n_stages)]
        last = [Signal(name=f"e_last{i}") for i in range(n_stages)]
        tag = [Signal(unsigned(tag_bits), name=f"e_tag{i}") for i in range(n_stages)]
        m.d.comb += [valid[0].eq(active), last[0].eq(last_read), tag[0].eq(bank),
                     xr.addr.eq(Cat(count[:addr_bits], xslot))]
        for i in range(1, n_stages):
            m.d.sync += [valid[i].eq(valid[i - 1]), last[i].eq(last[i - 1]),
                         tag[i].eq(tag[i - 1])]
        ctx_at = {}
        for i in (2, 3, 4, 5, 6, 7, 8, 9, 11, n_stages - 2):
            ctx_at[i] = Signal(self._ctx_layout(), name=f"e_ctx{i}")
            m.d.comb += ctx_at[i].eq(pick([b.ctx for b in banks], tag[i]))

        x_rd = [Signal(signed(cfg.x_bits), name=f"x_rd{i}") for i in range(lanes)]
        xb = cfg.x_bits
        m.d.sync += [x_rd[i].eq(xr.data[i * xb:(i + 1) * xb]) for i in range(lanes)]
        es = [exp_lane(m, cfg, i, x_rd[i], x_max=ctx_at[2].max, lim=ctx_at[3].lim,
                       x0_mag=[ctx_at[4 + j].x0 for j in range(FLOOR_Q_BITS)],
                       b=ctx_at[9].b, n=ctx_at[9].n, c=ctx_at[11].c) for i in range(lanes)]

        # The exps of lanes past the row are 0 (written and summed), at the row's e slot in
        # the order they come (``written``: the row's exps so far); its tail and e slot are
        # picked a stage early, off the path into the sum.
        tail, e_at = Signal.like(lctx.tail), Signal.like(lctx.eslot)
        m.d.sync += [tail.eq(ctx_at[n_stages - 2].tail), e_at.eq(ctx_at[n_stages - 2].eslot)]
        end = last[-1]
        written = Signal(unsigned(lb))
        kept = [Signal(unsigned(EXP_BITS), name=f"e_kept{i}") for i in range(lanes)]
        m.d.comb += [kept[i].eq(e if i == 0 else Mux(end & (i > tail), 0, e))
                     for i, e in enumerate(es)]
        e_sum = Signal(unsigned(EXP_BITS + lanes.bit_length()))
        acc = Signal(unsigned(cfg.sum_bits))
        m.d.comb += [e_sum.eq(tree_sum(kept)), ew.en.eq(valid[-1]),
                     ew.addr.eq(Cat(written[:addr_bits], e_at)),
                     ew.data.eq(Cat(*kept))]
        with m.If(valid[-1]):
            m.d.sync += written.eq(written + 1)
            with m.If(end):
                m.d.sync += [acc.eq(0), written.eq(0)]
                for k, b in enumerate(banks):
                    with m.If(tag[-1] == k):
                        m.d.sync += [b.sum.eq(acc + e_sum), b.done.eq(1)]
            with m.Else():
                m.d.sync += acc.eq(acc + e_sum)

    def _divide(self, m, banks):
        """The divider: takes the oldest bank's sum once it is done (freeing the bank), and
        finds ``factor = 2**32 // sum`` by ``div_bits`` restoring steps a cycle, chained;
        ``ready`` with the factor until the scale engine takes it (``take_s``, on whose
        edge the divider may take the next sum)."""
        cfg = self._cfg
        layout = self._ctx_layout()
        d = SimpleNamespace(
            busy=Signal(), take_s=Signal(), ready=Signal(), len=Signal(layout["len"].shape),
            eslot=Signal(layout["eslot"].shape), factor=Signal(unsigned(DIV_STEPS)),
            out_shift=Signal(unsigned(6)),  # 32 - out_bits
            top=Signal(unsigned(cfg.out_bits + 1)))  # 2**out_bits - 1
        bank = Signal(range(ROW_BANKS))  # the oldest bank
        steps = Signal(range(cfg.div_cycles + 1))
        total = Signal(unsigned(cfg.sum_bits))
        rem = Signal(unsigned(cfg.sum_bits + 1))

        # The numerator 2**32 starts as 2**(32 - quot_bits) for quot_bits = div_cycles *
        # div_bits >= DIV_STEPS quotient bits (rem < 2**15 <= sum): any bits past DIV_STEPS
        # lead, are 0 and drop out of factor. A chained step's remainder is a named signal
        # (< sum, so as wide as rem).
        quot_bits = cfg.div_cycles * cfg.div_bits
        part, quot = rem, d.factor
        for j in range(cfg.div_bits):
            doubled = part << 1
            fits = doubled >= total
            part, quot = Mux(fits, doubled - total, doubled), Cat(fits, quot)
            if cfg.div_bits > 1:
                step = Signal.like(rem, name=f"div_rem{j}")
                m.d.comb += step.eq(part)
                part = step

        head = Signal(layout)
        head_sum = Signal(unsigned(cfg.sum_bits))
        take = Signal()
        m.d.comb += [head.eq(pick([b.ctx for b in banks], bank)),
                     head_sum.eq(pick([b.sum for b in banks], bank)),
                     d.ready.eq(d.busy & (steps == 0)),
                     take.eq(pick([b.done for b in banks], bank) & (~d.busy | d.take_s))]
        with m.If(take):
            m.d.sync += [d.busy.eq(1), steps.eq(cfg.div_cycles), total.eq(head_sum),
                         rem.eq(1 << (32 - quot_bits)), d.factor.eq(0), d.len.eq(head.len),
                         d.eslot.eq(head.eslot),
                         d.out_shift.eq(32 - head.out_bits),
                         d.top.eq((Const(1, cfg.out_bits + 1) << head.out_bits) - 1),
                         bank.eq(bank + 1)]
            for k, b in enumerate(banks):
                with m.If(bank == k):
                    m.d.sync += [b.busy.eq(0), b.done.eq(0)]
        with m.Elif(d.take_s):
            m.d.sync += d.busy.eq(0)
        with m.If(d.busy & (steps != 0)):
            m.d.sync += [rem.eq(part), d.factor.eq(quot), steps.eq(steps - 1)]
        return d

    def _scale(self, m, d, er, addr_bits):
        """The scale engine: takes the divider's factor and issues the row's e reads through
        a read, hold, multiply, shift, clamp pipeline, stalled by ``o_stream``; the factor,
        shift and clamp travel with the elements, so the next row's reads follow the last
        ones on the edge after the take."""
        cfg = self._cfg
        lb = len(d.len)
        active, count, length = Signal(), Signal(unsigned(lb)), Signal(unsigned(lb))
        eslot = Signal.like(d.eslot)
        factor, out_shift, top = (Signal.like(d.factor), Signal.like(d.out_shift),
                                  Signal.like(d.top))
        advance = self.advance(m)
        issue, last_read = Signal(), Signal()
        m.d.comb += [d.take_s.eq(d.ready & ~active), issue.eq(active & advance),
                     last_read.eq(count == length - 1),
                     er.addr.eq(Cat(count[:addr_bits], eslot)), er.en.eq(advance)]
        with m.If(d.take_s):
            m.d.sync += [active.eq(1), count.eq(0), length.eq(d.len), eslot.eq(d.eslot),
                         factor.eq(d.factor),
                         out_shift.eq(d.out_shift), top.eq(d.top)]
        with m.If(issue):
            m.d.sync += count.eq(count + 1)
            with m.If(last_read):
                m.d.sync += active.eq(0)

        # Stages: s (the read), h (held), p (product), t (shifted), then the output.
        s_valid, s_last, s_factor, s_shift, s_top = (
            Signal(), Signal(), Signal.like(factor), Signal.like(out_shift), Signal.like(top))
        h_valid, h_last, h_factor, h_shift, h_top = (
            Signal(), Signal(), Signal.like(factor), Signal.like(out_shift), Signal.like(top))
        p_valid, p_last, p_shift, p_top = (Signal(), Signal(), Signal.like(out_shift),
                                           Signal.like(top))
        t_valid, t_last, t_top = Signal(), Signal(), Signal.like(top)
        with m.If(advance):
            m.d.sync += [s_valid.eq(issue), s_last.eq(last_read), s_factor.eq(factor),
                         s_shift.eq(out_shift), s_top.eq(top),
                         h_valid.eq(s_valid), h_last.eq(s_last), h_factor.eq(s_factor),
                         h_shift.eq(s_shift), h_top.eq(s_top),
                         p_valid.eq(h_valid), p_last.eq(h_last), p_shift.eq(h_shift),
                         p_top.eq(h_top),
                         t_valid.eq(p_valid), t_last.eq(p_last), t_top.eq(p_top),
                         self.o_stream.valid.eq(t_valid),
                         self.o_stream.payload.last.eq(t_last)]
        for i in range(cfg.lanes):
            held = Signal(unsigned(EXP_BITS), name=f"held{i}")
            prod = Signal(unsigned(EXP_BITS + DIV_STEPS), name=f"prod{i}")
            scaled = Signal(unsigned(len(prod)), name=f"scaled{i}")
            m.d.comb += scaled.eq(prod >> p_shift)
            shifted = Signal.like(scaled, name=f"shifted{i}")
            with m.If(advance):
                m.d.sync += [held.eq(er.data[i * EXP_BITS:(i + 1) * EXP_BITS]),
                             prod.eq(held * h_factor), shifted.eq(scaled),
                             self.o_stream.payload.y[i].eq(Mux(shifted > t_top, t_top,
                                                                 shifted))]
