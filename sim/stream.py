"""Valid/ready stream driver and monitor for cocotb, with idle and backpressure injection.

Ports follow Amaranth's flattened names: ``<prefix>__payload``, ``<prefix>__valid``,
``<prefix>__ready``. Handshakes are observed right after a rising edge, where cocotb shows
the values the flip-flops sampled at that edge. Each side counts the edges it has seen
since it started, so a source and a sink started in the same step share one time base.
"""

from __future__ import annotations

import random
from collections.abc import Iterator

from cocotb.triggers import RisingEdge
from cocotb.utils import get_sim_time

__all__ = ["StreamSink", "StreamSource", "random_pauses"]


def random_pauses(p: float, seed: int) -> Iterator[bool]:
    """Endless pause pattern: ``True`` (stall this cycle) with probability ``p``."""
    rng = random.Random(seed)
    while True:
        yield rng.random() < p


class _Port:
    def __init__(self, dut, prefix: str, clk):
        self.clk = clk
        self.payload = getattr(dut, f"{prefix}__payload")
        self.valid = getattr(dut, f"{prefix}__valid")
        self.ready = getattr(dut, f"{prefix}__ready")
        self.edges: list[int] = []  # edge index of every handshake


class StreamSource(_Port):
    """Drive ``words`` into a stream input, pausing (valid low) when ``pause`` says so.

    While valid is low the payload carries fresh random bits from ``garbage`` (a seeded
    :class:`random.Random`) every cycle, so a unit that reads its input without a
    handshake sees wrong data; ``garbage=None`` keeps the previous payload.
    """

    def __init__(self, dut, prefix: str, clk, pause: Iterator[bool] | None = None,
                 garbage: random.Random | None = None):
        super().__init__(dut, prefix, clk)
        self.pause = pause
        self.garbage = garbage
        self.width = len(self.payload)
        self.valid.value = 0
        self._scramble()

    def _scramble(self) -> None:
        if self.garbage is not None:
            self.payload.value = self.garbage.getrandbits(self.width)

    async def send(self, words: list[int], *, then_idle: bool = False) -> None:
        """Send every word; returns after the last handshake, or with ``then_idle`` never
        (it keeps valid low and the payload scrambled until cancelled)."""
        edge = 0
        for word in words:
            while self.pause is not None and next(self.pause):
                self.valid.value = 0
                self._scramble()
                await RisingEdge(self.clk)
                edge += 1
            self.payload.value = word
            self.valid.value = 1
            while True:
                await RisingEdge(self.clk)
                edge += 1
                if self.ready.value:
                    self.edges.append(edge)
                    break
        self.valid.value = 0
        self._scramble()
        while then_idle:
            await RisingEdge(self.clk)
            self._scramble()


class StreamSink(_Port):
    """Accept transfers from a stream output, dropping ready when ``pause`` says so."""

    def __init__(self, dut, prefix: str, clk, pause: Iterator[bool] | None = None):
        super().__init__(dut, prefix, clk)
        self.pause = pause
        self.ready.value = 0
        self.words: list[int] = []
        self.extra: list[str] = []  # payloads (as bits) of transfers after the expected ones
        self.first_edge_ps: int | None = None  # simulation time of edge 1 (edges are periodic)

    async def receive(self, count: int, *, timeout_edges: int, drain_edges: int = 0) -> None:
        """Collect ``count`` transfers; stop after ``timeout_edges`` edges regardless.

        Once all ``count`` have arrived, hold ready high ``drain_edges`` more edges and
        record every further transfer in :attr:`extra` (a correct unit makes none).
        """
        edge = 0
        while len(self.words) < count and edge < timeout_edges:
            ready = not (self.pause is not None and next(self.pause))
            self.ready.value = int(ready)
            await RisingEdge(self.clk)
            edge += 1
            if edge == 1:
                self.first_edge_ps = get_sim_time("ps")
            if ready and self.valid.value:
                self.words.append(self.payload.value.to_unsigned())
                self.edges.append(edge)
        for _ in range(drain_edges if len(self.words) == count else 0):
            self.ready.value = 1
            await RisingEdge(self.clk)
            if self.valid.value:
                self.extra.append(str(self.payload.value))
        self.ready.value = 0
