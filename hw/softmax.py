"""Integer softmax: a row buffer, a max pass, an i-exp pipeline, a divider and a scaling pass."""

from __future__ import annotations

from amaranth.hdl import Cat, Const, Module, Mux, Signal, signed, unsigned
from amaranth.lib import data, stream
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from golden.cases_softmax import (
    DIV_STEPS,
    EXP_BITS,
    FLOOR_Q_BITS,
    SoftmaxCfg,
)
from golden.unit_spec import attach
from hw.adder_tree import tree_sum
from hw.stream_unit import StreamUnit

__all__ = ["Softmax"]


@attach("softmax", "component")
class Softmax(StreamUnit):
    """Integer softmax over rows of up to ``max_len`` logits, ``lanes`` logits a beat.

    Reference: :func:`golden.nonlinear.int_softmax` (with :func:`golden.nonlinear.int_exp`),
    bit for bit. Every beat carries the row's :class:`golden.nonlinear.SoftmaxParams`
    (``x0``, ``b``, ``c``, ``n``, ``floor_q``, ``out_bits``; latched from the row's first
    beat), so one instance serves every layer's scale down to ``2**-scale_exp``; ``last``
    ends a row (so does the beat holding the ``max_len``-th logit); ``tail`` on a row's
    last beat says how many of its lanes the row fills (minus one): the lanes past it are
    ignored. Outputs leave ``lanes`` a beat, unsigned ``out_bits``-bit codes with the row's
    ``last`` flag (lanes past the row: 0). A row of ``row_len`` logits is ``beats =
    ceil(row_len / lanes)`` beats; each per-element stage below is replicated ``lanes``
    times, and the max and the exp sum take a beat's lanes through trees.

    A row goes through four phases, one after the other:

    1. *load* (``beats`` cycles, ``i_stream.ready`` high): logits into the row buffer
       (an ``amaranth.lib.memory.Memory`` of ``ceil(max_len / lanes)`` words of ``lanes``
       x ``max(x_bits, 16)`` bits), running max;
    2. *exp* (``beats + exp_stages`` cycles, no stalls; ``exp_stages`` = 13): read back
       and hold, ``d = max(x - max, floor_q * x0)`` (as ``-d = min(max - x, floor_q *
       -x0)``, two stages), ``q, r`` by a 5-stage restoring division by ``-x0``, ``z = (r +
       b) * r + c`` (three stages), ``e = z`` shifted by ``n - q`` (16 bits, ``e <
       2**16``); ``e`` is written over ``x`` and summed (``sum < 2**16 * max_len``);
    3. *divide* (``div_cycles = ceil(DIV_STEPS / div_bits)`` cycles: 18, 9, 6 or 5):
       ``factor = 2**32 // sum`` by restoring division, ``div_bits`` quotient bits a cycle
       (restoring steps chained in one cycle). The row max gives ``e >= 2**15``, so ``sum
       >= 2**15`` and ``factor <= 2**17`` has ``DIV_STEPS`` = 18 bits (at ``div_bits`` 4
       the divider runs 20 quotient bits, the two leading ones 0);
    4. *scale* (``beats + 5`` cycles, stalled only by ``o_stream``): ``min((e * factor) >>
       (32 - out_bits), 2**out_bits - 1)`` through a read, hold, multiply, shift, clamp
       pipeline.

    Timing: not one element a cycle. The max and the sum each need the whole row before the
    next pass can start, and the divider needs the sum, so a row takes ``3 * beats +
    latency`` cycles with no stalls (``latency = exp_stages + div_cycles + 5``: 13 + 18 + 5
    = 36 at ``div_bits`` 1, 27 at 2, 24 at 3, 23 at 4), and the next row's first beat is
    accepted on the edge after the last output of the row before (one row buffer; a second
    bank would hide the load pass). The exact model, which the benches assert, is
    :meth:`golden.cases_softmax.SoftmaxCfg.cycles`: ``rows * (3 * beats + latency)`` from
    the first input handshake to the last output handshake, both included. Idle input cycles
    stretch only the load pass; backpressure stalls only the scale pass. Constants that
    :func:`golden.nonlinear.softmax_params` would not make, or a scale below
    ``2**-scale_exp``, give unspecified results, but every pass has a fixed length, so no
    input hangs the unit.

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

    def _exp(self, m, lane, x_rd, x_max, lim, x0_mag, b, c, n):
        """One lane's exp pipeline from the held logit ``x_rd`` (stage 2) to ``e`` (stage
        13); returns ``e``."""
        cfg = self._cfg
        xmag_bits, d_bits, fq_bits = cfg.x0_bits, cfg.x_bits + 1, FLOOR_Q_BITS

        # Stage 3: max - x >= 0. Stage 4: the division works on D = -max(x - max, floor_q *
        # x0) = min(max - x, lim), so D <= floor_q * |x0| < 32 * |x0|.
        below = Signal(unsigned(d_bits), name=f"below{lane}")
        m.d.sync += below.eq(x_max - x_rd)
        d_mag = Signal(unsigned(max(d_bits, len(lim))), name=f"d_mag{lane}")
        m.d.sync += d_mag.eq(Mux(below > lim, lim, below))

        # Stages 5..9: q = D // |x0| (q <= floor_q < 32), rem = D % |x0|, one bit a stage.
        part, quot = d_mag, Const(0, fq_bits)
        for k in reversed(range(fq_bits)):
            step = Signal(len(d_mag), name=f"div_rem{k}_{lane}")
            q_next = Signal(fq_bits, name=f"div_q{k}_{lane}")
            divisor = x0_mag << k
            take = part >= divisor
            m.d.sync += [step.eq(Mux(take, part - divisor, part)),
                         q_next.eq(quot | (take << k))]
            part, quot = step, q_next

        # Stage 10: with r = -rem in (x0, 0], (r + b) * r + c = c - (b - rem) * rem; hold
        # b - rem (> 0) and rem, and the shift n - q. Stage 11: the product.
        b_rem = Signal(signed(cfg.b_bits + 1), name=f"b_rem{lane}")
        rem_h = Signal(unsigned(xmag_bits), name=f"rem_h{lane}")
        sh_q = Signal(signed(max(cfg.n_bits, fq_bits + 1) + 1), name=f"sh_q{lane}")
        m.d.sync += [b_rem.eq(b - part[:xmag_bits]), rem_h.eq(part[:xmag_bits]),
                     sh_q.eq(n - quot)]
        poly = Signal(signed(cfg.b_bits + xmag_bits + 2), name=f"poly{lane}")
        sh = Signal.like(sh_q, name=f"sh{lane}")
        m.d.sync += [poly.eq(b_rem * rem_h), sh.eq(sh_q)]

        # Stage 12: z = c - poly. Stage 13: e = z << sh or z >> -sh, 0 if negative (valid
        # constants give 0 < z <= c and e < 2**16, so the left shift never loses bits).
        z = Signal(signed(max(len(poly), cfg.c_bits + 1) + 1), name=f"z{lane}")
        sh_left = Signal(unsigned(4), name=f"sh_left{lane}")  # n - q when >= 0 (n <= 14)
        sh_right = Signal(unsigned(len(sh) + 1), name=f"sh_right{lane}")  # q - n when > 0
        sh_neg = Signal(name=f"sh_neg{lane}")
        m.d.sync += [z.eq(c - poly), sh_left.eq(sh[:4]), sh_right.eq(-sh), sh_neg.eq(sh < 0)]
        e = Signal(unsigned(EXP_BITS), name=f"e{lane}")
        m.d.sync += e.eq(Mux(z < 0, 0, Mux(sh_neg, z >> sh_right, z << sh_left)))
        return e

    def elaborate(self, platform):
        m = Module()
        cfg = self._cfg
        beat = self.i_stream.payload
        lanes = cfg.lanes
        max_beats = cfg.beats(cfg.max_len)
        addr_bits = max(1, (max_beats - 1).bit_length())
        len_bits = max_beats.bit_length()
        width = max(cfg.x_bits, EXP_BITS)  # a lane of the row buffer

        m.submodules.mem = mem = Memory(shape=unsigned(width * lanes), depth=max_beats,
                                        init=[])
        wr = mem.write_port()
        rd = mem.read_port()

        # Row constants, latched from the first beat of a row.
        x_max = Signal(signed(cfg.x_bits))
        x0_mag = Signal(unsigned(cfg.x0_bits))
        lim = Signal(unsigned(cfg.x0_bits + FLOOR_Q_BITS))  # floor_q * |x0|
        b = Signal(unsigned(cfg.b_bits))
        c = Signal(unsigned(cfg.c_bits))
        n = Signal(signed(cfg.n_bits))
        out_shift = Signal(unsigned(6))  # 32 - out_bits, 16..30
        top = Signal(unsigned(cfg.out_bits + 1))  # 2**out_bits - 1
        length = Signal(unsigned(len_bits))  # beats of the row
        tail = Signal(unsigned(cfg.tail_bits))  # lanes of its last beat, minus one
        count = Signal(unsigned(len_bits))  # beats loaded / reads issued
        total = Signal(unsigned(cfg.sum_bits))
        rem = Signal(unsigned(cfg.sum_bits + 1))
        factor = Signal(unsigned(DIV_STEPS))
        steps = Signal(range(cfg.div_cycles + 1))

        # Load: the beat's max over its lanes in the row (lanes past the row in its last
        # beat take lane 0's value), by a tree of comparisons.
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

        # Exp pipeline: valid, address and last-beat flag travel alongside the data.
        n_stages = cfg.exp_stages + 1  # stage 0 is the read request
        valid = [Signal(name=f"e_valid{i}") for i in range(n_stages)]
        addr = [Signal(unsigned(addr_bits), name=f"e_addr{i}") for i in range(n_stages)]
        for i in range(1, n_stages):
            m.d.sync += [valid[i].eq(valid[i - 1]), addr[i].eq(addr[i - 1])]

        # Stage 1 is the buffer read, stage 2 holds it (the buffer's output is slow); then
        # one exp pipeline a lane. The exps of lanes past the row are 0 (written and summed).
        x_rd = [Signal(signed(cfg.x_bits), name=f"x_rd{i}") for i in range(lanes)]
        for i in range(lanes):
            m.d.sync += x_rd[i].eq(rd.data[i * width:i * width + cfg.x_bits])
        es = [self._exp(m, i, x_rd[i], x_max, lim, x0_mag, b, c, n) for i in range(lanes)]
        e_end = Signal()
        m.d.comb += e_end.eq(addr[-1] == length - 1)
        kept = [e if i == 0 else Mux(e_end & (i > tail), 0, e) for i, e in enumerate(es)]
        e_sum = Signal(unsigned(EXP_BITS + lanes.bit_length()))
        m.d.comb += e_sum.eq(tree_sum(kept))

        # Scale pipeline: read, hold (the buffer's output is slow), multiply, shift, clamp;
        # stalled by the output.
        advance = self.advance(m)
        s_valid, s_last = Signal(), Signal()
        h_valid, h_last = Signal(), Signal()
        p_valid, p_last = Signal(), Signal()
        t_valid, t_last = Signal(), Signal()
        with m.If(advance):
            m.d.sync += [h_valid.eq(s_valid), h_last.eq(s_last), p_valid.eq(h_valid),
                         p_last.eq(h_last), t_valid.eq(p_valid), t_last.eq(p_last),
                         self.o_stream.valid.eq(t_valid),
                         self.o_stream.payload.last.eq(t_last)]
        for i in range(lanes):
            held = Signal(unsigned(EXP_BITS), name=f"held{i}")
            prod = Signal(unsigned(EXP_BITS + DIV_STEPS), name=f"prod{i}")
            scaled = Signal(unsigned(len(prod)), name=f"scaled{i}")
            m.d.comb += scaled.eq(prod >> out_shift)
            shifted = Signal.like(scaled, name=f"shifted{i}")
            with m.If(advance):
                m.d.sync += [held.eq(rd.data[i * width:i * width + EXP_BITS]),
                             prod.eq(held * factor), shifted.eq(scaled),
                             self.o_stream.payload.y[i].eq(Mux(shifted > top, top, shifted))]

        # Divide: div_bits restoring steps a cycle, chained. The numerator 2**32 starts as
        # 2**(32 - quot_bits) for quot_bits = div_cycles * div_bits >= DIV_STEPS quotient
        # bits (rem < 2**15 <= sum): any bits past DIV_STEPS lead, are 0 and drop out of
        # factor. A chained step's remainder is a named signal (< sum, so as wide as rem).
        quot_bits = cfg.div_cycles * cfg.div_bits
        part, quot = rem, factor
        for j in range(cfg.div_bits):
            doubled = part << 1
            take = doubled >= total
            part, quot = Mux(take, doubled - total, doubled), Cat(take, quot)
            if cfg.div_bits > 1:
                step = Signal.like(rem, name=f"div_rem{j}")
                m.d.comb += step.eq(part)
                part = step

        issue = count != length  # reads left to issue in the exp and scale passes
        with m.FSM() as fsm:
            with m.State("LOAD"):
                with m.If(self.i_stream.valid):
                    m.d.sync += count.eq(count + 1)
                    with m.If(count == 0):
                        m.d.sync += [x_max.eq(beat_max), x0_mag.eq(-beat.x0),
                                     lim.eq(-beat.x0 * beat.floor_q), b.eq(beat.b),
                                     c.eq(beat.c), n.eq(beat.n), out_shift.eq(32 - beat.out_bits),
                                     top.eq((Const(1, cfg.out_bits + 1) << beat.out_bits) - 1)]
                    with m.Elif(beat_max > x_max):
                        m.d.sync += x_max.eq(beat_max)
                    with m.If(row_end):
                        m.d.sync += [length.eq(count + 1), tail.eq(tail_now), count.eq(0),
                                     total.eq(0)]
                        m.next = "EXP"
            with m.State("EXP"):
                with m.If(issue):
                    m.d.sync += count.eq(count + 1)
                with m.If(valid[-1]):
                    m.d.sync += total.eq(total + e_sum)
                    with m.If(addr[-1] == length - 1):
                        m.d.sync += [rem.eq(1 << (32 - quot_bits)), factor.eq(0),
                                     steps.eq(cfg.div_cycles), count.eq(0)]
                        m.next = "DIVIDE"
            with m.State("DIVIDE"):
                m.d.sync += [rem.eq(part), factor.eq(quot), steps.eq(steps - 1)]
                with m.If(steps == 1):
                    m.next = "SCALE"
            with m.State("SCALE"):
                with m.If(advance):
                    m.d.sync += [s_valid.eq(issue), s_last.eq(count == length - 1)]
                    with m.If(issue):
                        m.d.sync += count.eq(count + 1)
                with m.If(self.o_stream.valid & self.o_stream.ready & self.o_stream.payload.last):
                    m.d.sync += count.eq(0)
                    m.next = "LOAD"
        # Every combinational signal is one unconditional expression, so it becomes a Verilog
        # ``assign``, which Icarus evaluates at time 0; under the FSM's case statement it
        # would be an ``always @*`` that stays x until an input changes.
        load, exp, scale = (fsm.ongoing(s) for s in ("LOAD", "EXP", "SCALE"))
        x_words = [Signal(unsigned(width), name=f"x_word{i}") for i in range(lanes)]
        e_words = [Signal(unsigned(width), name=f"e_word{i}") for i in range(lanes)]
        m.d.comb += [x_words[i].eq(beat.x[i]) for i in range(lanes)]
        m.d.comb += [e_words[i].eq(kept[i]) for i in range(lanes)]
        m.d.comb += [
            self.i_stream.ready.eq(load),
            wr.en.eq(Mux(load, self.i_stream.valid, exp & valid[-1])),
            wr.addr.eq(Mux(load, count, addr[-1])),
            wr.data.eq(Mux(load, Cat(*x_words), Cat(*e_words))),
            rd.addr.eq(count),
            rd.en.eq(~scale | advance),
            valid[0].eq(exp & issue),
            addr[0].eq(count),
        ]
        return m
