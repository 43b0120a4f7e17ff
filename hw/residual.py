"""Residual add: ``lanes`` saturating signed sums a beat."""

from __future__ import annotations

from amaranth.hdl import Module, Mux, signed
from amaranth.lib import data, stream
from amaranth.lib.wiring import In, Out

from golden.kernels import code_range
from golden.spec import ResidualCfg
from golden.unit_spec import attach
from hw.stream_unit import StreamUnit

__all__ = ["ResidualAdd"]


@attach("residual", "component")
class ResidualAdd(StreamUnit):
    """Add ``lanes`` pairs of signed operands a beat, saturating to ``out_bits`` signed:
    ``clip(a + b, -2**(out_bits-1), 2**(out_bits-1) - 1)``.

    Both operands are at the same scale (the exporter puts them at the residual-stream
    scale), so there is no alignment shift. One register stage (``cfg.latency`` = 1), one
    beat per cycle; a stalled ``o_stream`` stops the unit.

    Reference: :func:`golden.residual.residual_add`.

    Parameters
    ----------
    cfg : :class:`golden.spec.ResidualCfg`

    Members
    -------
    i_stream : ``In(stream.Signature(StructLayout({"a": ArrayLayout(signed(in_bits), lanes), "b": ArrayLayout(signed(in_bits), lanes)})))``
    o_stream : ``Out(stream.Signature(ArrayLayout(signed(out_bits), lanes)))``
    """  # noqa: E501

    config_class = ResidualCfg

    def _members(self, cfg) -> dict:
                return {
            "i_stream": In(stream.Signature(self.in_layout(cfg))),
            "o_stream": Out(stream.Signature(data.ArrayLayout(signed(cfg.out_bits),
                                                              cfg.lanes))),
        }

    def elaborate(self, platform):
        m = Module()
        cfg = self._cfg
        beat = self.i_stream.payload
        advance = self.advance(m)
        m.d.comb += self.i_stream.ready.eq(advance)
        lo, hi = code_range(cfg.out_bits)
        with m.If(advance):
            m.d.sync += self.o_stream.valid.eq(self.i_stream.valid)
            for lane in range(cfg.lanes):
                total = beat.a[lane] + beat.b[lane]  # in_bits + 1 bits: never wraps
                m.d.sync += self.o_stream.payload[lane].eq(
                    Mux(total < lo, lo, Mux(total > hi, hi, total)))
        return m
