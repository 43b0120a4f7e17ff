"""LayerNorm unit: I-ViT's integer LayerNorm with an exact square root, row by row."""

from __future__ import annotations

from amaranth.hdl import Cat, Const, Module, Mux, Signal, signed, unsigned
from amaranth.lib import data, stream
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from golden.cases_layernorm import FACTOR_BITS, LayerNormCfg
from golden.unit_spec import attach
from hw.adder_tree import tree_sum
from hw.stream_unit import StreamUnit

__all__ = ["LayerNorm"]


@attach("layernorm", "component")
class LayerNorm(StreamUnit):
    """Normalise rows of ``dim`` integers: ``out = ((x - mean) * factor) >> (1 + guard)``.

    Bit-exact with :func:`golden.nonlinear.int_layernorm`. A row's elements arrive ``lanes``
    a beat (``beats = ceil(dim / lanes)`` beats; the last beat's lanes past ``dim`` are
    ignored) and are kept in a ``beats``-deep memory of ``lanes``-element words while
    ``sum(x)`` and ``sum(x**2)`` accumulate, a beat's ``lanes`` terms through an adder tree
    (:func:`hw.adder_tree.tree_sum`). Then, one step a cycle:

    - ``mean = floor((sum + dim//2) / dim)``, by a restoring divider on
      ``sum + dim//2 + dim * 2**(in_bits-1)`` (non-negative, so the floor is exact), minus
      ``2**(in_bits-1)``;
    - ``sum(y**2) = sum(x**2) - mean * (2*sum - dim*mean)`` (exact in integers), and
      ``var = sum(y**2) // dim`` by the divider;
    - ``std = max(isqrt(var), 1)`` by a restoring (bit-pair) square root, which yields
      ``floor(sqrt(var))`` exactly as the golden Newton iteration does;
    - ``factor = (2**31 - 1) // std`` by the divider;

    and the row streams out of the memory, ``lanes`` results a beat, through a 3-stage
    pipeline (read, ``lanes`` products, shift; the last beat's lanes past ``dim`` are 0).
    Every step takes a fixed number of cycles, so the cycle model
    (:meth:`golden.cases_layernorm.LayerNormCfg.cycles`) is exact with no stalls; the
    unit accepts a new row only after the last result of the previous one has left (see
    :class:`golden.cases_layernorm.LayerNormCfg` for why it is not one beat a cycle).

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
        dim, n, lanes, beats = cfg.dim, cfg.in_bits, cfg.lanes, cfg.beats
        shift = 1 + cfg.params.guard
        offset = 1 << (n - 1)  # makes the mean division's numerator non-negative
        tail = dim - (beats - 1) * lanes  # lanes of a row's last beat inside the row

        m.submodules.mem = mem = Memory(shape=unsigned(n * lanes), depth=beats, init=[])
        wr = mem.write_port()
        rd = mem.read_port()

        # Row statistics.
        addr = Signal(range(beats))
        sum_x = Signal(signed(n + dim.bit_length() + 1))
        sum_sq = Signal(unsigned(2 * n - 2 + dim.bit_length()))
        mean = Signal(signed(n))
        lin = Signal(signed(len(sum_x) + n + 2))  # 2*sum - dim*mean
        ssq = Signal.like(sum_sq)  # sum((x - mean)**2)

        # Restoring divider: k = step_bits quotient bits a step, q bits rounded up to whole
        # steps (the extra leading quotient bits are 0), numerator left-aligned in d_num.
        k = cfg.step_bits

        def whole(bits):
            return -(-bits // k) * k

        q_max = whole(max(n, cfg.var_bits, FACTOR_BITS))
        den_bits = max(dim.bit_length(), n)
        d_num = Signal(q_max)
        d_rem = Signal(den_bits)
        d_den = Signal(den_bits)
        d_quo = Signal(q_max)
        d_cnt = Signal(range(q_max))
        rem_j, quo_j = d_rem, d_quo
        for j in range(k):  # one restoring step per quotient bit, k of them a cycle
            trial = Signal(den_bits + 1, name=f"trial{j}")
            nxt_rem = Signal(den_bits, name=f"d_rem{j}")
            nxt_quo = Signal(q_max, name=f"d_quo{j}")
            take = trial >= d_den
            m.d.comb += [trial.eq(Cat(d_num[-1 - j], rem_j)),
                         nxt_rem.eq(Mux(take, trial - d_den, trial)),
                         nxt_quo.eq(Cat(take, quo_j))]
            rem_j, quo_j = nxt_rem, nxt_quo

        def div_start(num, den, q):
            qk = whole(q)
            m.d.sync += [d_rem.eq(num >> qk), d_num.eq(num << (q_max - qk)), d_den.eq(den),
                         d_quo.eq(0), d_cnt.eq(qk // k - 1)]

        def div_step(then):
            m.d.sync += [d_rem.eq(rem_j), d_quo.eq(quo_j), d_num.eq(d_num << k),
                         d_cnt.eq(d_cnt - 1)]
            with m.If(d_cnt == 0):
                m.next = then

        # Restoring square root: two radicand bits a root bit, k root bits a step, MSB
        # first; the root's bits rounded up to whole steps (leading radicand pairs 0).
        half = cfg.var_bits // 2
        hk = whole(half)
        s_v = Signal(2 * hk)
        s_root = Signal(hk + 1)
        s_rem = Signal(hk + 3)
        s_cnt = Signal(range(max(hk // k, 1)))
        sq_rem, sq_root = s_rem, s_root
        for j in range(k):  # one root bit per step, k of them a cycle
            s_acc = Signal(hk + 3, name=f"s_acc{j}")
            s_try = Signal(hk + 3, name=f"s_try{j}")
            nxt_rem = Signal(hk + 3, name=f"s_rem{j}")
            nxt_root = Signal(hk + 1, name=f"s_root{j}")
            take = s_acc >= s_try
            top = 2 * hk - 2 * j
            m.d.comb += [s_acc.eq(Cat(s_v[top - 2:top], sq_rem)), s_try.eq(Cat(1, 0, sq_root)),
                         nxt_rem.eq(Mux(take, s_acc - s_try, s_acc)),
                         nxt_root.eq(Cat(take, sq_root))]
            sq_rem, sq_root = nxt_rem, nxt_root
        root = Signal(hk + 1)
        m.d.comb += root.eq(Mux(s_root == 0, 1, s_root))

        # Output pipeline: memory read, product, shift.
        advance = self.advance(m)
        issue = Signal()
        r_valid, r_end = Signal(), Signal()
        p_valid, p_end = Signal(), Signal()
        products = [Signal(signed(n + 1 + FACTOR_BITS + 1), name=f"product{i}")
                    for i in range(lanes)]
        factor = d_quo[:FACTOR_BITS]
        m.d.comb += [rd.addr.eq(addr), rd.en.eq(advance)]
        with m.If(advance):
            m.d.sync += [r_valid.eq(issue), r_end.eq(addr == beats - 1), p_valid.eq(r_valid),
                         p_end.eq(r_end), self.o_stream.valid.eq(p_valid)]
            for i, product in enumerate(products):
                elem = rd.data[i * n:(i + 1) * n].as_signed()
                m.d.sync += product.eq((elem - mean) * factor)
                result = product >> shift
                if i >= tail:  # past the row in its last beat: 0
                    result = Mux(p_end, 0, result)
                m.d.sync += self.o_stream.payload[i].eq(result)

        out_cnt = Signal(range(beats))
        last_out = Signal()
        m.d.comb += last_out.eq(self.o_stream.valid & self.o_stream.ready
                                & (out_cnt == beats - 1))
        with m.If(self.o_stream.valid & self.o_stream.ready):
            m.d.sync += out_cnt.eq(Mux(out_cnt == beats - 1, 0, out_cnt + 1))

        # A beat's lanes, those past the row in its last beat as 0, summed by adder trees.
        xs = [self.i_stream.payload[i] for i in range(lanes)]
        at_end = Signal()
        m.d.comb += at_end.eq(addr == beats - 1)
        kept = [x if i < tail else Mux(at_end, 0, x) for i, x in enumerate(xs)]
        beat_sum = Signal(signed(n + lanes.bit_length()))
        beat_sq = Signal(unsigned(2 * n - 1 + lanes.bit_length()))
        m.d.comb += [beat_sum.eq(tree_sum(kept)), beat_sq.eq(tree_sum([x * x for x in kept]))]

        with m.FSM(name="phase") as fsm:
            with m.State("LOAD"):
                with m.If(self.i_stream.valid):
                    m.d.sync += [sum_x.eq(sum_x + beat_sum), sum_sq.eq(sum_sq + beat_sq),
                                 addr.eq(Mux(addr == beats - 1, 0, addr + 1))]
                    with m.If(addr == beats - 1):
                        m.next = "MEAN_START"
            with m.State("MEAN_START"):
                div_start(sum_x + (dim // 2 + dim * offset), Const(dim), n)
                m.next = "MEAN_DIV"
            with m.State("MEAN_DIV"):
                div_step("MEAN")
            with m.State("MEAN"):
                m.d.sync += mean.eq(d_quo[:n] - offset)
                m.next = "LINEAR"
            with m.State("LINEAR"):
                m.d.sync += lin.eq((sum_x << 1) - dim * mean)
                m.next = "SQUARES"
            with m.State("SQUARES"):
                m.d.sync += ssq.eq(sum_sq - mean * lin)
                m.next = "VAR_START"
            with m.State("VAR_START"):
                div_start(ssq, Const(dim), cfg.var_bits)
                m.next = "VAR_DIV"
            with m.State("VAR_DIV"):
                div_step("SQRT_START")
            with m.State("SQRT_START"):
                m.d.sync += [s_v.eq(d_quo[:cfg.var_bits]), s_root.eq(0), s_rem.eq(0),
                             s_cnt.eq(hk // k - 1)]
                m.next = "SQRT"
            with m.State("SQRT"):
                m.d.sync += [s_rem.eq(sq_rem), s_root.eq(sq_root), s_v.eq(s_v << 2 * k),
                             s_cnt.eq(s_cnt - 1)]
                with m.If(s_cnt == 0):
                    m.next = "FACTOR_START"
            with m.State("FACTOR_START"):
                div_start(Const((1 << FACTOR_BITS) - 1, FACTOR_BITS), root, FACTOR_BITS)
                m.next = "FACTOR_DIV"
            with m.State("FACTOR_DIV"):
                div_step("OUT")
            with m.State("OUT"):
                with m.If(advance):
                    m.d.sync += addr.eq(Mux(addr == beats - 1, 0, addr + 1))
                    with m.If(addr == beats - 1):
                        m.next = "DRAIN"
            with m.State("DRAIN"):
                with m.If(last_out):
                    m.d.sync += [sum_x.eq(0), sum_sq.eq(0)]
                    m.next = "LOAD"
        # Every combinational signal is one unconditional expression, so it becomes a Verilog
        # ``assign``, which Icarus evaluates at time 0; under the FSM's case statement it
        # would be an ``always @*`` that stays x until an input changes.
        load = fsm.ongoing("LOAD")
        m.d.comb += [self.i_stream.ready.eq(load), issue.eq(fsm.ongoing("OUT")),
                     wr.en.eq(load & self.i_stream.valid), wr.addr.eq(addr),
                     wr.data.eq(Cat(*xs))]
        return m
