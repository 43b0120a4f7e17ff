"""LayerNorm unit: I-ViT's integer LayerNorm with an exact square root, rows pipelined."""

from __future__ import annotations

from amaranth.hdl import Cat, Const, Module, Mux, Signal, signed, unsigned
from amaranth.lib import data, stream
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from golden.cases_layernorm import FACTOR_BITS, SLOTS, LayerNormCfg
from golden.unit_spec import attach
from hw.adder_tree import tree_sum
from hw.restoring import Divider, Sqrt
from hw.stream_unit import StreamUnit

__all__ = ["LayerNorm"]


@attach("layernorm", "component")
class LayerNorm(StreamUnit):
    """Normalise rows of ``dim`` integers: ``out = ((x - mean) * factor) >> (1 + guard)``.

    Bit-exact with :func:`golden.nonlinear.int_layernorm`. A row's elements arrive ``lanes``
    a beat (``beats = ceil(dim / lanes)`` beats; the last beat's lanes past ``dim`` are
    ignored) and leave ``lanes`` results a beat (the last beat's lanes past ``dim`` are 0).
    A row passes four engines in order, each holding one row at a time, so up to four
    rows are in flight:

    - LOAD takes the row's beats into a ring of :data:`golden.cases_layernorm.SLOTS` rows
      (``SLOTS * beats`` words of ``lanes`` elements) while ``sum(x)`` and ``sum(x**2)``
      accumulate, a beat's ``lanes`` terms through an adder tree
      (:func:`hw.adder_tree.tree_sum`);
    - STATS finds ``mean = floor((sum + dim//2) / dim)`` and ``var = sum(y**2) // dim``
      (``sum(y**2) = sum(x**2) - mean * (2*sum - dim*mean)``, exact in integers) with a
      restoring divider (:class:`hw.restoring.Divider`, ``step_bits`` bits a cycle);
    - ROOT finds ``std = max(isqrt(var), 1)`` with a restoring square root
      (:class:`hw.restoring.Sqrt`, ``floor(sqrt(var))`` exactly as the golden Newton
      iteration) and ``factor = (2**31 - 1) // std`` with its own divider;
    - OUT streams the row out of the ring through a 4-stage pipeline (read, ``x - mean``,
      ``lanes`` products, shift).

    A row moves on the cycle the next engine is empty or passes its own row on, so rows
    stay in order and, with no stalls, one leaves every
    :attr:`golden.cases_layernorm.LayerNormCfg.row_cycles` cycles (the slowest engine).
    Every step takes a fixed number of cycles, so the cycle model
    (:meth:`golden.cases_layernorm.LayerNormCfg.cycles`) is exact with no stalls.

    Reference: :func:`golden.nonlinear.int_layernorm`.

    Parameters
    ----------
    cfg : :class:`golden.cases_layernorm.LayerNormCfg`

    Members
    -------
    i_stream : ``In(stream.Signature(ArrayLayout(signed(in_bits), lanes)))``
    o_stream : ``Out(stream.Signature(ArrayLayout(signed(32), lanes)))``
    """

    config_class = LayerNormCfg

    def _members(self, cfg) -> dict:
        return {
            "i_stream": In(stream.Signature(self.in_layout(cfg))),
            "o_stream": Out(stream.Signature(data.ArrayLayout(signed(cfg.out_bits),
                                                              cfg.lanes))),
        }

    def elaborate(self, platform):
        m = Module()
        cfg = self._cfg
        dim, n, lanes, beats, k = cfg.dim, cfg.in_bits, cfg.lanes, cfg.beats, cfg.step_bits
        shift = 1 + cfg.params.guard
        offset = 1 << (n - 1)  # makes the mean division's numerator non-negative
        tail = dim - (beats - 1) * lanes  # lanes of a row's last beat inside the row

        # The row ring: a row's beats in consecutive words, rows in order, one slot per
        # engine; written by LOAD, read by OUT, each through its own wrapping pointer.
        depth = SLOTS * beats
        m.submodules.mem = mem = Memory(shape=unsigned(n * lanes), depth=depth, init=[])
        wr = mem.write_port()
        rd = mem.read_port()
        w_ptr, r_ptr = Signal(range(depth)), Signal(range(depth))

        def wrap(ptr, top):
            return ptr.eq(Mux(ptr == top - 1, 0, ptr + 1))

        # Hand-overs, each the cycle a row moves on (the ready of an engine holds when it
        # is empty or hands its row on in the same cycle).
        go_s, go_r, go_o = Signal(), Signal(), Signal()  # into STATS, ROOT, OUT
        s_ready, r_ready, o_ready = Signal(), Signal(), Signal()

        # LOAD: a row's beats into the ring while sum(x) and sum(x**2) accumulate, a beat's
        # lanes (those past the row in its last beat as 0) through adder trees; the last
        # beat is taken only with the hand-over to STATS.
        l_cnt = Signal(range(beats))
        last_in = Signal()
        sum_x = Signal(signed(n + dim.bit_length() + 1))
        sum_sq = Signal(unsigned(2 * n - 2 + dim.bit_length()))
        xs = [self.i_stream.payload[i] for i in range(lanes)]
        kept = [x if i < tail else Mux(last_in, 0, x) for i, x in enumerate(xs)]
        beat_sum = Signal(signed(n + lanes.bit_length()))
        beat_sq = Signal(unsigned(2 * n - 1 + lanes.bit_length()))
        take = Signal()
        m.d.comb += [last_in.eq(l_cnt == beats - 1),
                     beat_sum.eq(tree_sum(kept)), beat_sq.eq(tree_sum([x * x for x in kept])),
                     self.i_stream.ready.eq(~last_in | s_ready),
                     take.eq(self.i_stream.valid & self.i_stream.ready),
                     go_s.eq(take & last_in),
                     wr.en.eq(take), wr.addr.eq(w_ptr), wr.data.eq(Cat(*xs))]
        with m.If(take):
            m.d.sync += [wrap(w_ptr, depth), wrap(l_cnt, beats),
                         sum_x.eq(Mux(last_in, 0, sum_x + beat_sum)),
                         sum_sq.eq(Mux(last_in, 0, sum_sq + beat_sq))]

        # STATS: mean = floor((sum + dim//2) / dim), by dividing
        # sum + dim//2 + dim * 2**(in_bits-1) (non-negative, so the floor is exact) and
        # flipping the quotient's top bit (- 2**(in_bits-1)); then
        # sum(y**2) = sum(x**2) - mean * (2*sum - dim*mean) (exact in integers) and
        # var = sum(y**2) // dim.
        s_sum = Signal.like(sum_x)
        s_sq = Signal.like(sum_sq)
        mean = Signal(signed(n))
        lin = Signal(signed(len(sum_x) + n + 2))  # 2*sum - dim*mean
        ssq = Signal.like(sum_sq)  # sum((x - mean)**2)
        s_div = Divider(m, "s_div", q_bits=max(n, cfg.var_bits), den_bits=dim.bit_length(),
                        step_bits=k, den=dim)
        quo_mean = s_div.quo[:n]
        with m.If(go_s):
            m.d.sync += [s_sum.eq(sum_x + beat_sum), s_sq.eq(sum_sq + beat_sq)]
        with m.FSM(name="stats") as stats:
            with m.State("IDLE"):
                with m.If(go_s):
                    m.next = "MEAN_START"
            s_div.states(m, "MEAN", "LINEAR", s_sum + (dim // 2 + dim * offset), n)
            with m.State("LINEAR"):
                mean_now = Cat(quo_mean[:-1], ~quo_mean[-1]).as_signed()
                m.d.sync += [mean.eq(mean_now), lin.eq((s_sum << 1) - dim * mean_now)]
                m.next = "SQUARES"
            with m.State("SQUARES"):
                m.d.sync += ssq.eq(s_sq - mean * lin)
                m.next = "VAR_START"
            s_div.states(m, "VAR", "HOLD", ssq, cfg.var_bits)
            with m.State("HOLD"):  # var in the divider until ROOT takes the row
                with m.If(go_s):
                    m.next = "MEAN_START"
                with m.Elif(go_r):
                    m.next = "IDLE"

        # ROOT: std = max(isqrt(var), 1), factor = (2**31 - 1) // std.
        r_mean = Signal(signed(n))
        sqrt = Sqrt(m, "sqrt", bits=cfg.var_bits, step_bits=k)
        r_div = Divider(m, "r_div", q_bits=FACTOR_BITS, den_bits=max(n - 1, 1), step_bits=k)
        with m.If(go_r):
            m.d.sync += [r_mean.eq(mean), *sqrt.start(s_div.quo[:cfg.var_bits])]
        with m.FSM(name="root") as root:
            with m.State("IDLE"):
                with m.If(go_r):
                    m.next = "SQRT"
            with m.State("SQRT"):
                m.d.sync += sqrt.step()
                with m.If(sqrt.last):
                    m.next = "FACTOR_START"
            r_div.states(m, "FACTOR", "DONE", Const((1 << FACTOR_BITS) - 1, FACTOR_BITS),
                         FACTOR_BITS, den=sqrt.root)
            with m.State("DONE"):  # factor in the divider until OUT takes the row
                with m.If(go_r):
                    m.next = "SQRT"
                with m.Elif(go_o):
                    m.next = "IDLE"

        # OUT: the row's beats out of the ring through a 4-stage pipeline: read (with the
        # row's mean and factor, so OUT takes the next row as it issues this one's last
        # read); x - mean; lanes products; shift, the last beat's lanes past dim 0.
        advance = self.advance(m)
        o_busy, o_last = Signal(), Signal()
        o_cnt = Signal(range(beats))
        o_mean, a_mean = Signal(signed(n)), Signal(signed(n))
        o_factor, a_factor, c_factor = (Signal(FACTOR_BITS, name=f"{s}_factor")
                                        for s in "oac")
        a_valid, a_end, c_valid, c_end, p_valid, p_end = (
            Signal(name=f"{s}_{w}") for s in "acp" for w in ("valid", "end"))
        centred = [Signal(signed(n + 1), name=f"centred{i}") for i in range(lanes)]
        products = [Signal(signed(n + 1 + FACTOR_BITS + 1), name=f"product{i}")
                    for i in range(lanes)]
        m.d.comb += [o_last.eq(o_cnt == beats - 1), rd.addr.eq(r_ptr), rd.en.eq(advance)]
        with m.If(advance):
            m.d.sync += [a_valid.eq(o_busy), a_end.eq(o_last), a_mean.eq(o_mean),
                         a_factor.eq(o_factor), c_valid.eq(a_valid), c_end.eq(a_end),
                         c_factor.eq(a_factor), p_valid.eq(c_valid), p_end.eq(c_end),
                         self.o_stream.valid.eq(p_valid)]
            for i, (c, product) in enumerate(zip(centred, products, strict=True)):
                m.d.sync += [c.eq(rd.data[i * n:(i + 1) * n].as_signed() - a_mean),
                             product.eq(c * c_factor)]
                result = product >> shift
                if i >= tail:  # past the row in its last beat: 0
                    result = Mux(p_end, 0, result)
                m.d.sync += self.o_stream.payload[i].eq(result)
            with m.If(o_busy):
                m.d.sync += [wrap(r_ptr, depth), wrap(o_cnt, beats)]
                with m.If(o_last):
                    m.d.sync += o_busy.eq(0)
        with m.If(go_o):
            m.d.sync += [o_busy.eq(1), o_mean.eq(r_mean), o_factor.eq(r_div.quo)]

        # Every combinational signal is one unconditional expression, so it becomes a Verilog
        # ``assign``, which Icarus evaluates at time 0; under an FSM's case statement it
        # would be an ``always @*`` that stays x until an input changes.
        m.d.comb += [o_ready.eq(~o_busy | (advance & o_last)),
                     go_o.eq(root.ongoing("DONE") & o_ready),
                     r_ready.eq(root.ongoing("IDLE") | go_o),
                     go_r.eq(stats.ongoing("HOLD") & r_ready),
                     s_ready.eq(stats.ongoing("IDLE") | go_r)]
        return m
