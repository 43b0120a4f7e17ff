"""GELU unit: I-BERT's integer GELU, elementwise, with a run-time output clamp."""

from __future__ import annotations

from amaranth.hdl import Module, Mux, Signal, signed, unsigned
from amaranth.lib import data, stream
from amaranth.lib.wiring import In, Out

from golden.cases_gelu import GeluCfg
from golden.nonlinear import GELU_SHIFT
from golden.unit_spec import attach
from hw.stream_unit import StreamUnit

__all__ = ["Gelu"]


@attach("gelu", "component")
class Gelu(StreamUnit):
    """Compute ``clamp(x * (erf + one), -clip, clip)`` on ``lanes`` elements a beat.

    ``erf = (sgn(x) * ((min(|x|, -b) + b)**2 + c)) >> GELU_SHIFT`` (14), the shift flooring,
    exactly as :func:`golden.nonlinear.int_gelu`. The constants ``b``, ``c``, ``one`` and
    ``clip`` travel with every beat, so one instance serves every layer's scale. Results
    leave as ``cfg.out_bits``-bit two's complement; the config's static bound guarantees
    that no intermediate or result overflows for any inputs and constants of the
    configured widths.

    Timing: five register stages (see :attr:`golden.cases_gelu.GeluCfg.latency`), one
    beat per cycle; a stalled ``o_stream`` stops the pipeline.

    Reference: :func:`golden.nonlinear.clipped_gelu` (``int_gelu`` then the clamp).

    Parameters
    ----------
    cfg : :class:`golden.cases_gelu.GeluCfg`

    Members
    -------
    i_stream : ``In(stream.Signature(StructLayout({"x": ArrayLayout(signed(in_bits), lanes), "b": signed(b_bits), "c": signed(c_bits), "one": signed(one_bits), "clip": clip_bits})))``
    o_stream : ``Out(stream.Signature(ArrayLayout(signed(out_bits), lanes)))``
    """  # noqa: E501

    config_class = GeluCfg

    def _members(self, cfg) -> dict:
        in_layout = self.in_layout(cfg)
        return {
            "i_stream": In(stream.Signature(in_layout)),
            "o_stream": Out(stream.Signature(data.ArrayLayout(signed(cfg.out_bits),
                                                              cfg.lanes))),
        }

    def elaborate(self, platform):
        m = Module()
        cfg = self._cfg
        beat = self.i_stream.payload
        lanes = range(cfg.lanes)

        advance = self.advance(m)
        m.d.comb += self.i_stream.ready.eq(advance)

        def stage(name, shape):
            return [Signal(shape, name=f"{name}{lane}") for lane in lanes]

        def carry(dst, src, valid_dst, valid_src):
            with m.If(advance):
                m.d.sync += valid_dst.eq(valid_src)
                for d, s in zip(dst, src, strict=True):
                    m.d.sync += d.eq(s)

        # Stage 1: s = min(|x|, -b) + b, in [-2**(b_bits-1), 0]; x and its sign kept.
        v1 = Signal()
        x1 = stage("x1_", signed(cfg.in_bits))
        s1 = stage("s1_", signed(cfg.b_bits + 1))
        c1, one1, clip1 = Signal.like(beat.c), Signal.like(beat.one), Signal.like(beat.clip)
        neg_b = Signal(signed(cfg.b_bits + 1))
        m.d.comb += neg_b.eq(-beat.b)
        with m.If(advance):
            m.d.sync += [c1.eq(beat.c), one1.eq(beat.one), clip1.eq(beat.clip)]
            for lane in lanes:
                mag = abs(beat.x[lane])
                m.d.sync += s1[lane].eq(Mux(mag < neg_b, mag, neg_b) + beat.b)
        carry(x1, [beat.x[lane] for lane in lanes], v1, self.i_stream.valid)

        # Stage 2: the square.
        v2 = Signal()
        x2 = stage("x2_", signed(cfg.in_bits))
        sq2 = stage("sq2_", unsigned(2 * cfg.b_bits - 1))
        c2, one2, clip2 = Signal.like(c1), Signal.like(one1), Signal.like(clip1)
        with m.If(advance):
            m.d.sync += [c2.eq(c1), one2.eq(one1), clip2.eq(clip1)]
            for lane in lanes:
                m.d.sync += sq2[lane].eq(s1[lane] * s1[lane])
        carry(x2, x1, v2, v1)

        # Stage 3: erf + one = ((sgn(x) * (sq + c)) >> GELU_SHIFT) + one.
        v3 = Signal()
        x3 = stage("x3_", signed(cfg.in_bits))
        t3 = stage("t3_", signed(cfg.erf_bits))
        clip3 = Signal.like(clip2)
        poly = stage("poly", signed(max(2 * cfg.b_bits, cfg.c_bits) + 2))
        erf = stage("erf", signed(len(poly[0]) + 1))
        for lane in lanes:
            m.d.comb += [
                poly[lane].eq(sq2[lane] + c2),
                erf[lane].eq(Mux(x2[lane] < 0, -poly[lane], Mux(x2[lane] == 0, 0, poly[lane]))),
            ]
        with m.If(advance):
            m.d.sync += clip3.eq(clip2)
            for lane in lanes:
                m.d.sync += t3[lane].eq((erf[lane] >> GELU_SHIFT) + one2)
        carry(x3, x2, v3, v2)

        # Stage 4: the product x * (erf + one).
        v4 = Signal()
        p4 = stage("p4_", signed(cfg.out_bits))
        clip4 = Signal.like(clip3)
        with m.If(advance):
            m.d.sync += clip4.eq(clip3)
        carry(p4, [x3[lane] * t3[lane] for lane in lanes], v4, v3)

        # Stage 5: clamp to [-clip, clip].
        lo = Signal(signed(cfg.out_bits))
        m.d.comb += lo.eq(-clip4)
        with m.If(advance):
            m.d.sync += self.o_stream.valid.eq(v4)
            for lane in lanes:
                clamped = Mux(p4[lane] > clip4, clip4, Mux(p4[lane] < lo, lo, p4[lane]))
                m.d.sync += self.o_stream.payload[lane].eq(clamped)
        return m
