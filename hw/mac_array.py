"""Mixed-bit MAC array: digit-serial multiply-accumulate with run-time operand widths."""

from __future__ import annotations

from amaranth.hdl import Cat, Module, Mux, Signal, signed
from amaranth.lib import data, stream
from amaranth.lib.wiring import In, Out

from golden.spec import MacArrayCfg
from golden.unit_spec import attach
from hw.stream_unit import StreamUnit

__all__ = ["MacArray"]


def digit_product(x, y, d: int):
    """``x * y`` of two signed ``d + 1``-bit digits as shift-and-add of ``x`` under ``y``'s
    bits (the top bit weighs ``-2**d``), so synthesis builds it from LUTs and carry chains:
    a hardware multiplier (an ECP5 ``MULT18X18D``) would be wasted on a 3-bit product."""
    width = 2 * d + 2
    total = -Mux(y[d], x.as_signed() << d, 0)
    for i in range(d):
        total = total + Mux(y[i], x.as_signed() << i, 0)
    return total.as_signed()[:width].as_signed()


@attach("mac_array", "component")
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

    Pipeline (``cfg.latency`` stages): hold the beat and step its passes; select the pass's
    digits (registered, so the multipliers start from registers); the ``rows x cols``
    digit products; each row's adder tree, ``cfg.ADDER_LEVELS`` levels per register stage
    (``cfg.tree_stages`` stages); shift by ``d * (i + j)``; accumulate.

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
        self._in_layout = self.in_layout(cfg)
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

        def reg(value, shape, name, init=0):
            sig = Signal(shape, name=name, init=init)
            with m.If(advance):
                m.d.sync += sig.eq(value)
            return sig

        def digit(field, index, top):
            bits = field.word_select(index, d)
            return Cat(bits, top & bits[-1]).as_signed()

        # Stage D: the pass's digits, sign-extended when they are a signed operand's top.
        w_top = h.w_signed & (ci == nw - 1)
        a_top = h.a_signed & (cj == na - 1)
        digit_shape = signed(d + 1)
        # Each row gets its own copy of the activation digits, so the multipliers' inputs
        # can come from nearby registers. Synthesis merges equal flip-flops bit by bit;
        # alternating reset values (never observed: ``valid`` gates them) keep two copies
        # of every bit, which halves the fanout (ECP5: +5 MHz with DSP multipliers).
        def copy_init(r):
            return (r + (1 << d)) % (1 << (d + 1)) - (1 << d)

        a_digits = [[reg(digit(h.a[c], cj, a_top), digit_shape, f"d_a{r}_{c}", copy_init(r))
                     for c in range(cfg.cols)] for r in range(cfg.rows)]
        w_digits = [[reg(digit(h.w[r][c], ci, w_top), digit_shape, f"d_w{r}_{c}")
                     for c in range(cfg.cols)] for r in range(cfg.rows)]
        valid = reg(h_valid, 1, "d_valid")
        emit = reg(last_pass & h.last, 1, "d_emit")
        weight = reg(ci + cj, range(2 * nd - 1), "d_weight")

        # Stage P: one digit product per lane; the pass's control rides alongside.
        stages = 3  # H, D and P
        terms = [[reg(digit_product(w_digits[r][c], a_digits[r][c], d), signed(2 * d + 2),
                      f"p_prod{r}_{c}")
                  for c in range(cfg.cols)] for r in range(cfg.rows)]
        valid, emit, weight = (reg(valid, 1, "p_valid"), reg(emit, 1, "p_emit"),
                               reg(weight, weight.shape(), "p_weight"))

        # Stages T: each row's balanced adder tree, ADDER_LEVELS levels per register stage.
        for stage in range(cfg.tree_stages):
            stages += 1
            for r in range(cfg.rows):
                row = terms[r]
                for _ in range(cfg.ADDER_LEVELS):
                    if len(row) > 1:
                        row = [row[i] + row[i + 1] for i in range(0, len(row) - 1, 2)] + (
                            row[-1:] if len(row) % 2 else [])
                terms[r] = [reg(t, t.shape(), f"t{stage}_sum{r}_{i}") for i, t in enumerate(row)]
            valid, emit, weight = (reg(valid, 1, f"t{stage}_valid"),
                                   reg(emit, 1, f"t{stage}_emit"),
                                   reg(weight, weight.shape(), f"t{stage}_weight"))
        assert all(len(row) == 1 for row in terms)

        # Stage S: shift each row sum by its digits' weight, 2**(d*(i+j)).
        stages += 1
        m_sum = [reg(terms[r][0] << (weight * d), signed(cfg.acc_bits), f"m_sum{r}")
                 for r in range(cfg.rows)]
        m_valid, m_emit = reg(valid, 1, "m_valid"), reg(emit, 1, "m_emit")

        # Stage A: accumulate; close the reduction after the last pass of the last beat.
        stages += 1
        assert stages == cfg.latency, (stages, cfg.latency)
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
