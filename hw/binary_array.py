"""Binary matmul array: ``rows`` XNOR-popcount or AND-popcount lanes over ``cols`` bits."""

from __future__ import annotations

from amaranth.hdl import Cat, Const, Module, Mux, ResetSignal, Signal, signed
from amaranth.lib import data, stream
from amaranth.lib.wiring import In, Out

from golden.spec import BinaryArrayCfg
from golden.unit_spec import attach
from hw.adder_tree import column_sum, compress
from hw.stream_unit import StreamUnit

__all__ = ["BinaryMatmulArray"]

#: Longest carry chain the accumulators of several lanes share (positions).
CHAIN_POSITIONS = 96


def _sext(value, width: int):
    """``value`` (signed) as exactly ``width`` bits, sign-extended or wrapped."""
    value = value.as_signed()
    if len(value) >= width:
        return value[:width]
    return Cat(value, *[value[-1]] * (width - len(value)))


@attach("binary_array", "component")
class BinaryMatmulArray(StreamUnit):
    """Binary matrix-vector array: ``rows`` dot products of binary vectors, ``cols`` bits a beat.

    Each input beat carries ``cols`` activation bits and, for every lane, ``cols`` weight
    bits; lane ``r`` adds the beat's contribution to its accumulator. The beat with ``last``
    set closes the reduction: the ``rows`` accumulators leave on ``o_stream`` as one
    transfer and are cleared. A reduction of ``k`` elements is ``k / cols`` beats and must
    not exceed ``cfg.max_k`` (the accumulators are sized for it; longer ones wrap).

    Modes (``cfg.mode``): ``"xnor"`` computes ``sum (2a-1)(2w-1)`` ({-1,+1} x {-1,+1}, bit 1
    is +1); ``"and"`` computes ``sum a(2w-1)`` ({0,1} x {-1,+1}).

    Structure: per lane, a compressor tree of full adders (:func:`hw.adder_tree.compress`)
    counts the ``cols`` products, each XNOR/AND folded into the LUTs of the adder that takes
    it, with a register after every tree level (``cfg.tree_levels`` stages, one LUT deep).
    The lanes' trees have one shape, so they are described as one bit-sliced tree (one
    ``rows``-wide vector per tree position; in AND mode one more lane counts ``a``): the
    Verilog grows with the tree, not with ``rows`` times the tree.
    For ``cols`` a power of two in XNOR mode the tree leaves one row plus one extra bit, and
    the lanes accumulate ``popcount - cols/2`` (half the result, doubled on the way out) on
    one shared carry chain: ``acc + row + bit`` for several lanes in one wide add, a
    separator position between lanes that stops the carry and brings in the next lane's
    extra bit. The accumulators clear through the flip-flops' synchronous reset.

    Timing: fully pipelined, one beat per cycle with no stalls. The result of a reduction
    is handed over ``latency`` (``tree_levels + 1``) clock edges after the edge that
    accepted its last beat. A stalled ``o_stream`` stops the whole pipeline
    (``i_stream.ready`` falls), so no data is lost or duplicated under any valid/ready
    pattern.

    Reference: :func:`golden.kernels.binary_matmul` (XNOR: :func:`golden.kernels.
    xnor_popcount_matmul`; AND: :func:`golden.kernels.and_popcount_matmul`).

    Parameters
    ----------
    cfg : :class:`golden.spec.BinaryArrayCfg`
        Array geometry, mode and longest reduction.

    Members
    -------
    i_stream : ``In(stream.Signature(StructLayout({"a": cols, "w": ArrayLayout(cols, rows), "last": 1})))``
        One beat: activation bits ``a`` (element ``i`` at bit ``i``), per-lane weight bits
        ``w[r]`` and the end-of-reduction flag ``last``.
    o_stream : ``Out(stream.Signature(ArrayLayout(signed(acc_bits), rows)))``
        One accumulator per lane per completed reduction.
    """  # noqa: E501

    config_class = BinaryArrayCfg

    def _members(self, cfg) -> dict:
        in_layout = self.in_layout(cfg)
        out_layout = data.ArrayLayout(signed(cfg.acc_bits), cfg.rows)
        return {
            "i_stream": In(stream.Signature(in_layout)),
            "o_stream": Out(stream.Signature(out_layout)),
        }

    def elaborate(self, platform):
        m = Module()
        cfg = self._cfg
        beat = self.i_stream.payload

        advance = self.advance(m)
        m.d.comb += self.i_stream.ready.eq(advance)

        memo, inverse = {}, {}  # id(value) -> (value, its register); id(register) -> value

        def stage(value):
            # one pipeline register (shared by every lane that reads the same bit)
            if id(value) not in memo:
                reg = Signal(len(value))
                with m.If(advance):
                    m.d.sync += reg.eq(value)
                memo[id(value)] = (value, reg)
                inverse[id(reg)] = value
            return memo[id(value)][1]

        def stage_not(reg):
            # the register of the inverse of what ``reg`` registers
            value = inverse[id(reg)]
            return stage(~value)

        # Stages 1..L: a pipelined compressor tree of the cols products, one tree level per
        # stage (full adders, products folded into their LUTs), L = tree_levels. Every
        # lane's tree has the same shape, so one bit-sliced tree serves them all: each tree
        # position is one vector with bit r for lane r, which keeps the Verilog to one
        # statement per position rather than one per lane. In AND mode, lane ``rows`` is
        # popcount(a) (the same tree over a & 1).
        lanes = cfg.rows + (cfg.mode == "and")
        pairs = []
        for i in range(cfg.cols):
            w_col = Signal(lanes, name=f"w_col{i}")
            m.d.comb += w_col.eq(Cat(*[beat.w[r][i] for r in range(cfg.rows)],
                                     *[Const(1, 1)] * (lanes - cfg.rows)))
            pairs.append((beat.a[i], w_col))

        def fold(x, y):
            # x (the activation bit) is one bit for all lanes: a mux rather than a replicated
            # x keeps the Verilog short (~(x ^ y) is x ? y : ~y; x & y is x ? y : 0); a
            # signal, as an expression is emitted again at every use
            product = Signal(lanes)
            m.d.comb += product.eq(Mux(x, y, ~y) if cfg.mode == "xnor" else Mux(x, y, 0))
            return product

        stats = {}
        tree = compress(m, [], [pairs], fold, stage, stats)
        assert stats["levels"] == cfg.tree_levels, "BinaryArrayCfg.tree_levels is stale"
        valid, last = self.i_stream.valid, beat.last
        for _ in range(cfg.tree_levels):
            valid, last = stage(valid), stage(last)

        # Stage L + 1: accumulate; close the reduction on the last beat.
        half = cfg.mode == "xnor" and cfg.cols % 2 == 0
        acc_shape = signed(cfg.acc_bits - 1 if half else cfg.acc_bits)
        # acc has no reset of its own: domain reset and reduction end share the FFs' sync reset.
        acc = [Signal(acc_shape, name=f"acc{r}", reset_less=True) for r in range(cfg.rows)]
        take = Signal()
        m.d.comb += take.eq(advance & valid)
        with m.If(advance):
            m.d.sync += self.o_stream.valid.eq(valid & last)
        # A tree leaves one row plus an extra column-0 bit (cin), or (cols not a power of
        # two) possibly two rows. Half sums of one-row trees go to the shared carry chains:
        # up to CHAIN_POSITIONS positions per wide add, each lane's cin entering through a
        # separator position that stops the carry of the lane below; the rest add alone.
        one_row = all(len(c) <= 1 for c in tree[1:])
        top = inv_top = None
        if (half and one_row and cfg.cols == 1 << len(tree) and tree[-1]
                and id(tree[-1][0]) in inverse):
            # cnt - 2**t for a row of t + 1 bits: invert the top bit (inside its LUT, ahead
            # of its register) and make it the sign
            top, inv_top = tree[-1][0], stage_not(tree[-1][0])
        if cfg.mode == "and":
            a_sum = column_sum([[v[cfg.rows] for v in col] for col in tree])
            a_count = Signal(len(a_sum), name="a_count")
            m.d.comb += a_count.eq(a_sum)
        totals = []
        chained = []
        for r in range(cfg.rows):
            cols = [[v[r] for v in col] for col in tree]
            bits = [c[0] if c else Const(0, 1) for c in cols]
            cin = None
            if one_row:
                cin = cols[0][1] if len(cols[0]) > 1 else Const(0, 1)
            if half and cin is not None:
                if top is not None:
                    con = Cat(*bits[:-1], inv_top[r]).as_signed()
                else:
                    con = Cat(*bits).as_unsigned() - cfg.cols // 2
                chained.append((r, con, cin))
                totals.append(None)
                continue
            if cin is None:  # a second row (not for cols a power of two): one more adder
                cin = Cat(*[c[1] if len(c) > 1 else Const(0, 1) for c in cols])
            con = Cat(*bits).as_unsigned() + cin
            if half:
                totals.append(acc[r] + con - cfg.cols // 2)
            else:
                totals.append(acc[r] + 2 * con - (cfg.cols if cfg.mode == "xnor"
                                                  else a_count))
        width = len(acc[0])
        per_chain = max(1, CHAIN_POSITIONS // (width + 1))
        for g in range(0, len(chained), per_chain):
            group = chained[g:g + per_chain]
            ops_a, ops_b = [], []
            for i, (r, con, cin) in enumerate(group):
                if i:  # separator: a + b = cin + cin passes no carry up, sends cin up
                    ops_a.append(cin)
                    ops_b.append(cin)
                ops_a.append(acc[r].as_unsigned())
                ops_b.append(_sext(con, width))
            # named signals here and below: an expression used in several statements is
            # emitted once per use, which multiplies the Verilog (not the netlist)
            chain = Signal(len(Cat(*ops_a)) + 1, name=f"chain{g // per_chain}")
            m.d.comb += chain.eq(Cat(*ops_a) + Cat(*ops_b) + group[0][2])
            for i, (r, _, _) in enumerate(group):
                totals[r] = chain[i * (width + 1):i * (width + 1) + width].as_signed()
        for r in range(cfg.rows):
            total = Signal(signed(len(totals[r])), name=f"total{r}")
            m.d.comb += total.eq(totals[r])
            with m.If(take):
                m.d.sync += acc[r].eq(total)
                with m.If(last):
                    m.d.sync += self.o_stream.payload[r].eq(total * 2 if half else total)
            with m.If(ResetSignal() | (take & last)):
                m.d.sync += acc[r].eq(0)
        return m
