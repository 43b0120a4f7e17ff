"""The base of every single-stream unit: its config, its latency, and the pipeline stall."""

from __future__ import annotations

from amaranth.hdl import Module, Signal, signed, unsigned
from amaranth.lib import data, wiring

from golden.unit_spec import Payload

__all__ = ["StreamUnit", "payload_layout"]


def payload_layout(payload: Payload, cfg):
    """The Amaranth layout of a golden :class:`golden.unit_spec.Payload` for ``cfg``: a
    ``StructLayout`` of its fields in order (a field's elements ``signed``/``unsigned`` of
    its width, nested in one ``ArrayLayout`` per dimension, outermost first), or the one
    unnamed field's own layout."""
    def shape(f):
        out = signed(f.width(cfg)) if f.signed else unsigned(f.width(cfg))
        for n in reversed(f.counts(cfg)):
            out = data.ArrayLayout(out, n)
        return out

    if payload.fields[0].name is None:
        return shape(payload.fields[0])
    return data.StructLayout({f.name: shape(f) for f in payload.fields})


class StreamUnit(wiring.Component):
    """A unit with an ``i_stream`` and an ``o_stream`` whose geometry comes from one config.

    Subclasses set ``config_class`` and implement ``_members(cfg)``, returning their
    signature members; the config is checked before anything reads it, then kept, and
    ``cfg`` and ``latency`` read it (the latency has one source: the config). The
    ``i_stream`` payload is :meth:`in_layout`: the unit's golden payload declaration
    (:attr:`golden.unit_spec.UnitSpec.payload`).
    """

    config_class: type

    def __init__(self, cfg):
        if not isinstance(cfg, self.config_class):
            raise TypeError(f"cfg must be a {self.config_class.__name__}, not {cfg!r}")
        self._cfg = cfg
        super().__init__(self._members(cfg))

    def _members(self, cfg) -> dict:
        raise NotImplementedError

    @classmethod
    def in_layout(cls, cfg):
        """The ``i_stream`` payload layout, from the unit's registry entry."""
        from golden.units import unit

        return payload_layout(unit(cls.config_class.kind).payload, cfg)

    @property
    def cfg(self):
        """Configuration of the unit."""
        return self._cfg

    @property
    def latency(self) -> int:
        """Pipeline latency in clock edges, as the config defines it."""
        return self._cfg.latency

    def advance(self, m: Module) -> Signal:
        """Return the pipeline-advance strobe: high unless a result waits on ``o_stream``.

        Every register stage updates only on ``advance``, so a stalled output stops the
        whole pipeline and no beat is lost or duplicated under any valid/ready pattern.
        """
        advance = Signal()
        m.d.comb += advance.eq(~self.o_stream.valid | self.o_stream.ready)
        return advance
