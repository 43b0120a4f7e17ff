"""Threshold (binariser): ``lanes`` integer comparisons a beat, one bit each."""

from __future__ import annotations

from amaranth.hdl import Module, Mux, unsigned
from amaranth.lib import data, stream
from amaranth.lib.wiring import In, Out

from golden.cases_threshold import ThresholdCfg
from golden.unit_spec import attach
from hw.stream_unit import StreamUnit

__all__ = ["Threshold"]


@attach("threshold", "component")
class Threshold(StreamUnit):
    """Binarise ``lanes`` signed inputs a beat: bit ``x >= theta``, or ``x <= theta`` where the
    lane's ``flip`` bit is set, each lane with its own ``theta`` and ``flip`` from the beat.

    One register stage (``cfg.latency`` = 1), one beat per cycle; a stalled ``o_stream``
    stops the unit. Reference: :func:`golden.intops.threshold`; payload layouts:
    :func:`golden.cases_threshold.threshold_beats` / ``threshold_results``.

    Parameters
    ----------
    cfg : :class:`golden.cases_threshold.ThresholdCfg`

    Members
    -------
    i_stream : ``In(stream.Signature(StructLayout({"x": ArrayLayout(signed(x_bits), lanes), "theta": ArrayLayout(signed(x_bits + 1), lanes), "flip": unsigned(lanes)})))``
    o_stream : ``Out(stream.Signature(ArrayLayout(unsigned(1), lanes)))``
    """  # noqa: E501

    config_class = ThresholdCfg

    def _members(self, cfg) -> dict:
        layout = self.in_layout(cfg)
        return {"i_stream": In(stream.Signature(layout)),
                "o_stream": Out(stream.Signature(data.ArrayLayout(unsigned(1), cfg.lanes)))}

    def elaborate(self, platform):
        m = Module()
        beat = self.i_stream.payload
        advance = self.advance(m)
        m.d.comb += self.i_stream.ready.eq(advance)
        with m.If(advance):
            m.d.sync += self.o_stream.valid.eq(self.i_stream.valid)
            for lane in range(self._cfg.lanes):
                x, theta = beat.x[lane], beat.theta[lane]
                m.d.sync += self.o_stream.payload[lane].eq(
                    Mux(beat.flip[lane], x <= theta, x >= theta))
        return m
