"""Mixed-bit MAC array: digit-serial multiply-accumulate with run-time operand widths."""

from __future__ import annotations

from amaranth.hdl import Cat, Module, Signal, signed, unsigned
from amaranth.lib import data, stream
from amaranth.lib.wiring import In, Out

from golden.spec import MacArrayCfg
from hw.adder_tree import tree_sum
from hw.stream_unit import StreamUnit

__all__ = ["MacArray"]


class MacArray(StreamUnit):
    """Mixed-bit matrix-vector array: ``rows`` dot products, ``cols`` elements a beat,
    operand widths 1..``max_bits`` and signedness chosen per beat at run time.

    Each beat carries ``cols`` activations, ``rows x cols`` weights and the widths. The
    array holds the beat and makes ``passes = ceil(w_bits/d) * ceil(a_bits/d)`` passes over
    it (``d = cfg.digit_bits``): pass ``(i, j)`` multiplies weight digit ``i`` by activation
    digit ``j`` in every lane (the top digit of a signed operand is signed, the others
    unsigned), sums each row's ``cols`` products in a balanced tree, shifts the sum by
    ``d * (i + j)`` and accumulates it. So a beat costs ``passes`` cycles: 16 at 8x8 bits
    with 2-bit digits, 4 at 4x4, 1 at 2x2; 3 bits cost as 4. The beat with ``last`` set
    closes the reduction; the ``rows`` accumulators leave on ``o_stream`` and clear.

    Why digit-serial: the lane multipliers are ``(d+1) x (d+1)`` bits (3x3 for ``d = 2``), a
    few LUTs each, and any width up to ``max_bits`` runs on the same lanes; the price is
    that wide products reuse the lanes over several cycles instead of fusing them in space
    as Bit Fusion does. Cycles: ``m * (n/rows) * (k/cols) * passes + latency``
    (:meth:`golden.spec.MacArrayCfg.cycles`).

    Operands are two's-complement codes in ``cfg.field_bits``-bit fields, sign-extended
    (or zero-extended when unsigned) from their width; accumulation is modulo
    ``2**acc_bits``, exact because ``acc_bits`` holds the worst case of ``max_k`` products.
    A stalled ``o_stream`` stops the pipeline.

    Reference: :func:`golden.kernels.int_matmul`.

    Parameters
    ----------
    cfg : :class:`golden.spec.MacArrayCfg`

    Members
    -------
    i_stream : ``In(stream.Signature(StructLayout({"a": ArrayLayout(field, cols), "w": ArrayLayout(ArrayLayout(field, cols), rows), "w_bits": 5, "a_bits": 5, "w_signed": 1, "a_signed": 1, "last": 1})))``
    o_stream : ``Out(stream.Signature(ArrayLayout(signed(acc_bits), rows)))``
    """  # noqa: E501

    config_class = MacArrayCfg

    def _members(self, cfg) -> dict:
        field = unsigned(cfg.field_bits)
        self._in_layout = data.StructLayout({
            "a": data.ArrayLayout(field, cfg.cols),
            "w": data.ArrayLayout(data.ArrayLayout(field, cfg.cols), cfg.rows),
            "w_bits": unsigned(5),
            "a_bits": unsigned(5),
            "w_signed": unsigned(1),
            "a_signed": unsigned(1),
            "last": unsigned(1),
        })
        return {
            "i_stream": In(stream.Signature(self._in_layout)),
            "o_stream": Out(stream.Signature(data.ArrayLayout(signed(cfg.acc_bits),
                                                              cfg.rows))),
        }

    def elaborate(self, platform):
        m = Module()
        cfg = self._cfg
        d = cfg.digit_bits
        nd = cfg.field_bits // d

        advance = self.advance(m)

        # Stage H: hold the beat and step through its digit passes (w digit i, a digit j).
        h = Signal(self._in_layout)
        h_valid = Signal()
        ci, cj = Signal(range(nd)), Signal(range(nd))
        nw, na = Signal(range(nd + 1)), Signal(range(nd + 1))
        last_pass = Signal()
        m.d.comb += last_pass.eq(h_valid & (ci == nw - 1) & (cj == na - 1))
        m.d.comb += self.i_stream.ready.eq(advance & (~h_valid | last_pass))
        beat = self.i_stream.payload
        with m.If(advance):
            with m.If(self.i_stream.valid & self.i_stream.ready):
                m.d.sync += [h.eq(beat), h_valid.eq(1), ci.eq(0), cj.eq(0),
                             nw.eq((beat.w_bits + d - 1) // d),
                             na.eq((beat.a_bits + d - 1) // d)]
            with m.Elif(last_pass):
                m.d.sync += h_valid.eq(0)
            with m.Elif(h_valid):
                with m.If(cj == na - 1):
                    m.d.sync += [cj.eq(0), ci.eq(ci + 1)]
                with m.Else():
                    m.d.sync += cj.eq(cj + 1)

        # Stage M: digit products, row sums, shift by the digits' weight.
        def digit(field, index, top):
            bits = field.word_select(index, d)
            return Cat(bits, top & bits[-1]).as_signed()

        w_top = h.w_signed & (ci == nw - 1)
        a_top = h.a_signed & (cj == na - 1)
        a_digits = [digit(h.a[c], cj, a_top) for c in range(cfg.cols)]
        m_valid = Signal()
        m_emit = Signal()
        m_sum = [Signal(signed(cfg.acc_bits), name=f"m_sum{r}") for r in range(cfg.rows)]
        with m.If(advance):
            m.d.sync += [m_valid.eq(h_valid), m_emit.eq(last_pass & h.last)]
            for r in range(cfg.rows):
                row = tree_sum([digit(h.w[r][c], ci, w_top) * a_digits[c]
                                for c in range(cfg.cols)])
                m.d.sync += m_sum[r].eq(row << ((ci + cj) * d))

        # Stage A: accumulate; close the reduction after the last pass of the last beat.
        acc = [Signal(signed(cfg.acc_bits), name=f"acc{r}") for r in range(cfg.rows)]
        with m.If(advance):
            m.d.sync += self.o_stream.valid.eq(m_valid & m_emit)
            with m.If(m_valid):
                for r in range(cfg.rows):
                    total = acc[r] + m_sum[r]
                    with m.If(m_emit):
                        m.d.sync += [self.o_stream.payload[r].eq(total), acc[r].eq(0)]
                    with m.Else():
                        m.d.sync += acc[r].eq(total)
        return m
