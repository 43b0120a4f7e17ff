"""Requantiser: accumulators to narrow integers by an integer multiplier and a rounding shift."""

from __future__ import annotations

from amaranth.hdl import Const, Module, Mux, Signal, signed, unsigned
from amaranth.lib import data, stream
from amaranth.lib.wiring import In, Out

from golden.spec import RequantCfg
from hw.stream_unit import StreamUnit

__all__ = ["Requantizer"]


class Requantizer(StreamUnit):
    """Requantise ``lanes`` accumulators a beat: ``clamp((acc*mult + 2**(shift-1)) >> shift)``.

    The parameters travel with every beat (``mult`` 31 bits unsigned, ``shift`` 1..62,
    output ``bits`` 2..``cfg.out_bits``, ``signed``), so the same hardware serves every
    layer and head width; the clamp range is ``[-2**(bits-1), 2**(bits-1)-1]`` when signed,
    ``[0, 2**bits-1]`` when not. The shift is arithmetic (floor), so ties round up. Results
    leave as ``cfg.out_bits``-bit two's-complement codes (the value modulo ``2**out_bits``).

    Timing: two register stages (multiply; round, shift and clamp), one beat per cycle;
    a stalled ``o_stream`` stops the pipeline. Behaviour for ``shift`` 0 or above 62, or
    ``bits`` outside 2..``out_bits``, is unspecified (the compiler never emits them).

    Reference: :func:`golden.kernels.requantize`.

    Parameters
    ----------
    cfg : :class:`golden.spec.RequantCfg`

    Members
    -------
    i_stream : ``In(stream.Signature(StructLayout({"acc": ArrayLayout(signed(acc_bits), lanes), "mult": 31, "shift": 6, "bits": 5, "signed": 1})))``
    o_stream : ``Out(stream.Signature(ArrayLayout(unsigned(out_bits), lanes)))``
    """  # noqa: E501

    config_class = RequantCfg

    def _members(self, cfg) -> dict:
        in_layout = data.StructLayout({
            "acc": data.ArrayLayout(signed(cfg.acc_bits), cfg.lanes),
            "mult": unsigned(31),
            "shift": unsigned(6),
            "bits": unsigned(5),
            "signed": unsigned(1),
        })
        return {
            "i_stream": In(stream.Signature(in_layout)),
            "o_stream": Out(stream.Signature(data.ArrayLayout(unsigned(cfg.out_bits),
                                                              cfg.lanes))),
        }

    def elaborate(self, platform):
        m = Module()
        cfg = self._cfg
        beat = self.i_stream.payload
        prod_shape = signed(cfg.acc_bits + 32)

        advance = self.advance(m)
        m.d.comb += self.i_stream.ready.eq(advance)

        # Stage 1: products, and the parameters alongside.
        p_valid = Signal()
        p_prod = [Signal(prod_shape, name=f"p_prod{lane}") for lane in range(cfg.lanes)]
        p_shift = Signal(6)
        p_bits = Signal(5)
        p_signed = Signal()
        with m.If(advance):
            m.d.sync += [p_valid.eq(self.i_stream.valid), p_shift.eq(beat.shift),
                         p_bits.eq(beat.bits), p_signed.eq(beat.signed)]
            for lane in range(cfg.lanes):
                m.d.sync += p_prod[lane].eq(beat.acc[lane] * beat.mult)

        # Stage 2: add half, arithmetic shift, clamp to the run-time range.
        half = Signal(unsigned(63))
        m.d.comb += half.eq((Const(1, 64) << p_shift) >> 1)
        span = Signal(unsigned(17))  # 2**(bits-1)
        m.d.comb += span.eq((Const(1, 18) << p_bits) >> 1)
        lo = Signal(signed(18))
        hi = Signal(signed(18))
        m.d.comb += [lo.eq(Mux(p_signed, -span, 0)),
                     hi.eq(Mux(p_signed, span - 1, (span << 1) - 1))]
        with m.If(advance):
            m.d.sync += self.o_stream.valid.eq(p_valid)
            for lane in range(cfg.lanes):
                rounded = Signal(signed(cfg.acc_bits + 34), name=f"rounded{lane}")
                m.d.comb += rounded.eq((p_prod[lane] + half) >> p_shift)
                clamped = Mux(rounded < lo, lo, Mux(rounded > hi, hi, rounded))
                m.d.sync += self.o_stream.payload[lane].eq(clamped[:cfg.out_bits])
        return m
