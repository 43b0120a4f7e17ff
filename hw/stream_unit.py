"""The base of every single-stream unit: its config, its latency, and the pipeline stall."""

from __future__ import annotations

from amaranth.hdl import Module, Signal
from amaranth.lib import wiring

__all__ = ["StreamUnit"]


class StreamUnit(wiring.Component):
    """A unit with an ``i_stream`` and an ``o_stream`` whose geometry comes from one config.

    Subclasses set ``config_class`` and implement ``_members(cfg)``, returning their
    signature members; the config is checked before anything reads it, then kept, and
    ``cfg`` and ``latency`` read it (the latency has one source: the config).
    """

    config_class: type

    def __init__(self, cfg):
        if not isinstance(cfg, self.config_class):
            raise TypeError(f"cfg must be a {self.config_class.__name__}, not {cfg!r}")
        self._cfg = cfg
        super().__init__(self._members(cfg))

    def _members(self, cfg) -> dict:
        raise NotImplementedError

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
