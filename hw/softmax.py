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
from hw.stream_unit import StreamUnit

__all__ = ["Softmax"]


@attach("softmax", "component")
class Softmax(StreamUnit):
    """Integer softmax over rows of up to ``max_len`` logits, one logit a beat.

    Reference: :func:`golden.nonlinear.int_softmax` (with :func:`golden.nonlinear.int_exp`),
    bit for bit. Every beat carries the row's :class:`golden.nonlinear.SoftmaxParams`
    (``x0``, ``b``, ``c``, ``n``, ``floor_q``, ``out_bits``; latched from the row's first
    beat), so one instance serves every layer's scale down to ``2**-scale_exp``; ``last``
    ends a row (so does the ``max_len``-th beat). Outputs leave one a beat, unsigned
    ``out_bits``-bit codes with the row's ``last`` flag.

    A row goes through four phases, one after the other:

    1. *load* (``row_len`` cycles, ``i_stream.ready`` high): logits into the row buffer
       (an ``amaranth.lib.memory.Memory`` of ``max_len`` words of ``max(x_bits, 16)``
       bits), running max;
    2. *exp* (``row_len + exp_stages`` cycles, no stalls; ``exp_stages`` = 13): read back
       and hold, ``d = max(x - max, floor_q * x0)`` (as ``-d = min(max - x, floor_q *
       -x0)``, two stages), ``q, r`` by a 5-stage restoring division by ``-x0``, ``z = (r +
       b) * r + c`` (three stages), ``e = z`` shifted by ``n - q`` (16 bits, ``e <
       2**16``); ``e`` is written over ``x`` and summed (``sum < 2**16 * max_len``);
    3. *divide* (``DIV_STEPS`` = 18 cycles): ``factor = 2**32 // sum`` by restoring
       division, one quotient bit a cycle. The row max gives ``e >= 2**15``, so ``sum >=
       2**15`` and ``factor <= 2**17`` has 18 bits;
    4. *scale* (``row_len + 5`` cycles, stalled only by ``o_stream``): ``min((e * factor) >>
       (32 - out_bits), 2**out_bits - 1)`` through a read, hold, multiply, shift, clamp
       pipeline.

    Timing: not one element a cycle. The max and the sum each need the whole row before
    the next pass can start, and the divider needs the sum, so a row takes ``3 * row_len +
    latency`` cycles with no stalls (``latency = exp_stages + DIV_STEPS + 5`` = 13 + 18 +
    5 = 36), and the next row's first beat is accepted on the edge after the last output
    of the row before (one row buffer; a second bank would hide the load pass). The exact
    model, which the benches assert, is :meth:`golden.cases_softmax.SoftmaxCfg.cycles`:
    ``rows * (3 * row_len + latency)`` from the first input handshake to the last output
    handshake, both included. Idle input cycles stretch only the load pass; backpressure
    stalls only the scale pass. Constants that :func:`golden.nonlinear.softmax_params`
    would not make, or a scale below ``2**-scale_exp``, give unspecified results, but every
    pass has a fixed length, so no input hangs the unit.

    Parameters
    ----------
    cfg : :class:`golden.cases_softmax.SoftmaxCfg`

    Members
    -------
    i_stream : ``In(stream.Signature(StructLayout({"x": signed(x_bits), "x0": signed(x0_bits), "b": b_bits, "c": c_bits, "n": signed(n_bits), "floor_q": 5, "out_bits": 5, "last": 1})))``
    o_stream : ``Out(stream.Signature(StructLayout({"y": out_bits, "last": 1})))``
    """  # noqa: E501

    config_class = SoftmaxCfg

    def _members(self, cfg) -> dict:
        in_layout = self.in_layout(cfg)
        out_layout = data.StructLayout({"y": unsigned(cfg.out_bits), "last": unsigned(1)})
        return {"i_stream": In(stream.Signature(in_layout)),
                "o_stream": Out(stream.Signature(out_layout))}

    def elaborate(self, platform):
        m = Module()
        cfg = self._cfg
        beat = self.i_stream.payload
        addr_bits = max(1, (cfg.max_len - 1).bit_length())
        len_bits = cfg.max_len.bit_length()
        xmag_bits = cfg.x0_bits  # |x0| fits the signed width of x0
        d_bits = cfg.x_bits + 1  # x - max
        fq_bits = FLOOR_Q_BITS

        m.submodules.mem = mem = Memory(shape=unsigned(max(cfg.x_bits, EXP_BITS)),
                                        depth=cfg.max_len, init=[])
        wr = mem.write_port()
        rd = mem.read_port()

        # Row constants, latched from the first beat of a row.
        x_max = Signal(signed(cfg.x_bits))
        x0_mag = Signal(unsigned(xmag_bits))
        lim = Signal(unsigned(cfg.x0_bits + fq_bits))  # floor_q * |x0|
        b = Signal(unsigned(cfg.b_bits))
        c = Signal(unsigned(cfg.c_bits))
        n = Signal(signed(cfg.n_bits))
        out_shift = Signal(unsigned(6))  # 32 - out_bits, 16..30
        top = Signal(unsigned(cfg.out_bits + 1))  # 2**out_bits - 1
        length = Signal(unsigned(len_bits))
        count = Signal(unsigned(len_bits))  # beats loaded / reads issued
        total = Signal(unsigned(cfg.sum_bits))
        rem = Signal(unsigned(cfg.sum_bits + 1))
        factor = Signal(unsigned(DIV_STEPS))
        steps = Signal(range(DIV_STEPS + 1))

        # Exp pipeline: valid and address travel alongside the data.
        n_stages = cfg.exp_stages + 1  # stage 0 is the read request
        valid = [Signal(name=f"e_valid{i}") for i in range(n_stages)]
        addr = [Signal(unsigned(addr_bits), name=f"e_addr{i}") for i in range(n_stages)]
        for i in range(1, n_stages):
            m.d.sync += [valid[i].eq(valid[i - 1]), addr[i].eq(addr[i - 1])]

        # Stage 1 is the buffer read, stage 2 holds it (the buffer's output is slow). Stage 3:
        # max - x >= 0. Stage 4: the division works on D = -max(x - max, floor_q * x0) =
        # min(max - x, lim), so D <= floor_q * |x0| < 32 * |x0|.
        x_rd = Signal(signed(cfg.x_bits))
        m.d.sync += x_rd.eq(rd.data[:cfg.x_bits])
        below = Signal(unsigned(d_bits))
        m.d.sync += below.eq(x_max - x_rd)
        d_mag = Signal(unsigned(max(d_bits, len(lim))), name="d_mag")
        m.d.sync += d_mag.eq(Mux(below > lim, lim, below))

        # Stages 5..9: q = D // |x0| (q <= floor_q < 32), rem = D % |x0|, one bit a stage.
        part, quot = d_mag, Const(0, fq_bits)
        for k in reversed(range(fq_bits)):
            step = Signal(len(d_mag), name=f"div_rem{k}")
            q_next = Signal(fq_bits, name=f"div_q{k}")
            divisor = x0_mag << k
            take = part >= divisor
            m.d.sync += [step.eq(Mux(take, part - divisor, part)),
                         q_next.eq(quot | (take << k))]
            part, quot = step, q_next

        # Stage 10: with r = -rem in (x0, 0], (r + b) * r + c = c - (b - rem) * rem; hold
        # b - rem (> 0) and rem, and the shift n - q. Stage 11: the product.
        b_rem = Signal(signed(cfg.b_bits + 1))
        rem_h = Signal(unsigned(xmag_bits))
        sh_q = Signal(signed(max(cfg.n_bits, fq_bits + 1) + 1))
        m.d.sync += [b_rem.eq(b - part[:xmag_bits]), rem_h.eq(part[:xmag_bits]),
                     sh_q.eq(n - quot)]
        poly = Signal(signed(cfg.b_bits + xmag_bits + 2))
        sh = Signal.like(sh_q)
        m.d.sync += [poly.eq(b_rem * rem_h), sh.eq(sh_q)]

        # Stage 12: z = c - poly. Stage 13: e = z << sh or z >> -sh, 0 if negative (valid
        # constants give 0 < z <= c and e < 2**16, so the left shift never loses bits).
        z = Signal(signed(max(len(poly), cfg.c_bits + 1) + 1))
        sh_left = Signal(unsigned(4))  # n - q when >= 0 (n <= 14)
        sh_right = Signal(unsigned(len(sh) + 1))  # q - n when > 0
        sh_neg = Signal()
        m.d.sync += [z.eq(c - poly), sh_left.eq(sh[:4]), sh_right.eq(-sh), sh_neg.eq(sh < 0)]
        e = Signal(unsigned(EXP_BITS))
        m.d.sync += e.eq(Mux(z < 0, 0, Mux(sh_neg, z >> sh_right, z << sh_left)))

        # Scale pipeline: read, hold (the buffer's output is slow), multiply, shift, clamp;
        # stalled by the output.
        advance = self.advance(m)
        s_valid, s_last = Signal(), Signal()
        h_valid, h_last = Signal(), Signal()
        held = Signal(unsigned(EXP_BITS))
        p_valid, p_last = Signal(), Signal()
        prod = Signal(unsigned(EXP_BITS + DIV_STEPS))
        scaled = Signal(unsigned(len(prod)))
        m.d.comb += scaled.eq(prod >> out_shift)
        t_valid, t_last = Signal(), Signal()
        shifted = Signal.like(scaled)
        with m.If(advance):
            m.d.sync += [h_valid.eq(s_valid), h_last.eq(s_last), held.eq(rd.data[:EXP_BITS]),
                         p_valid.eq(h_valid), p_last.eq(h_last), prod.eq(held * factor),
                         t_valid.eq(p_valid), t_last.eq(p_last), shifted.eq(scaled),
                         self.o_stream.valid.eq(t_valid),
                         self.o_stream.payload.last.eq(t_last),
                         self.o_stream.payload.y.eq(Mux(shifted > top, top, shifted))]

        issue = count != length  # reads left to issue in the exp and scale passes
        with m.FSM() as fsm:
            with m.State("LOAD"):
                with m.If(self.i_stream.valid):
                    m.d.sync += count.eq(count + 1)
                    with m.If(count == 0):
                        m.d.sync += [x_max.eq(beat.x), x0_mag.eq(-beat.x0),
                                     lim.eq(-beat.x0 * beat.floor_q), b.eq(beat.b),
                                     c.eq(beat.c), n.eq(beat.n), out_shift.eq(32 - beat.out_bits),
                                     top.eq((Const(1, cfg.out_bits + 1) << beat.out_bits) - 1)]
                    with m.Elif(beat.x > x_max):
                        m.d.sync += x_max.eq(beat.x)
                    with m.If(beat.last | (count == cfg.max_len - 1)):
                        m.d.sync += [length.eq(count + 1), count.eq(0), total.eq(0)]
                        m.next = "EXP"
            with m.State("EXP"):
                with m.If(issue):
                    m.d.sync += count.eq(count + 1)
                with m.If(valid[-1]):
                    m.d.sync += total.eq(total + e)
                    with m.If(addr[-1] == length - 1):
                        m.d.sync += [rem.eq(1 << (32 - DIV_STEPS)), factor.eq(0),
                                     steps.eq(DIV_STEPS), count.eq(0)]
                        m.next = "DIVIDE"
            with m.State("DIVIDE"):
                doubled = rem << 1
                take = doubled >= total
                m.d.sync += [rem.eq(Mux(take, doubled - total, doubled)),
                             factor.eq(Cat(take, factor)), steps.eq(steps - 1)]
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
        m.d.comb += [
            self.i_stream.ready.eq(load),
            wr.en.eq(Mux(load, self.i_stream.valid, exp & valid[-1])),
            wr.addr.eq(Mux(load, count, addr[-1])),
            wr.data.eq(Mux(load, beat.x, e)),
            rd.addr.eq(count),
            rd.en.eq(~scale | advance),
            valid[0].eq(exp & issue),
            addr[0].eq(count),
        ]
        return m
