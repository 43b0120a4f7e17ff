"""The accelerator's scratchpad: one memory, three read ports, one write port, two masters."""

from __future__ import annotations

from amaranth.hdl import Module, unsigned
from amaranth.lib import memory, wiring
from amaranth.lib.wiring import In, Out
from amaranth.utils import ceil_log2

from golden.accel_program import ELEM_BITS, NUM_OPERANDS, AccelTopCfg

__all__ = ["Scratchpad", "read_signature", "write_signature"]


def read_signature(cfg: AccelTopCfg) -> wiring.Signature:
    """A scratchpad read port, seen from its master: word ``addr`` is read when ``en``, its
    data is on ``data`` after the next edge (and held while ``en`` is low)."""
    return wiring.Signature({"addr": Out(ceil_log2(cfg.depth)), "en": Out(1),
                             "data": In(cfg.word_bits)})


def write_signature(cfg: AccelTopCfg) -> wiring.Signature:
    """A scratchpad write port, seen from its master: lane ``e`` of word ``addr`` takes
    element ``e`` of ``data`` at the next edge when bit ``e`` of ``en`` is set."""
    return wiring.Signature({"addr": Out(ceil_log2(cfg.depth)), "data": Out(cfg.word_bits),
                             "en": Out(cfg.lanes)})


class Scratchpad(wiring.Component):
    """``depth`` words of ``lanes`` 32-bit elements, shared by the gatherer, the writer and
    the sequencer's DMA.

    Contract: the gatherer's three read ports ``rd`` are the memory's, except that while
    ``dma_rd.en`` is high the sequencer's ``dma_rd`` takes read port 0 (both see its data).
    The write port stores ``dma_wr`` whenever any of its enables is set, ``wr`` (the
    writer) otherwise. Reads are synchronous (one edge), not transparent to a write of the
    same edge.

    Parameters
    ----------
    cfg : :class:`golden.accel_program.AccelTopCfg`
        ``lanes`` and ``depth`` size the memory.

    Members
    -------
    rd : ``In(read_signature(cfg)).array(NUM_OPERANDS)``
        The gatherer's operand read ports.
    dma_rd : ``In(read_signature(cfg))``
        The sequencer's DMA read (``dma_out``), sharing read port 0 (priority).
    wr : ``In(write_signature(cfg))``
        The writer's stores.
    dma_wr : ``In(write_signature(cfg))``
        The sequencer's stores (``dma_in`` words, cycle counters; priority).
    """

    def __init__(self, cfg: AccelTopCfg):
        if not isinstance(cfg, AccelTopCfg):
            raise TypeError(f"cfg must be an AccelTopCfg, not {cfg!r}")
        self._cfg = cfg
        rd, wr = read_signature(cfg), write_signature(cfg)
        super().__init__({"rd": In(rd).array(NUM_OPERANDS), "dma_rd": In(rd),
                          "wr": In(wr), "dma_wr": In(wr)})

    @property
    def cfg(self) -> AccelTopCfg:
        """Configuration of the accelerator."""
        return self._cfg

    @property
    def latency(self) -> int:
        """Clock edges from a read address to its data."""
        return 1

    def elaborate(self, platform):
        m = Module()
        mem = memory.Memory(shape=unsigned(self._cfg.word_bits), depth=self._cfg.depth,
                            init=[])
        m.submodules.mem = mem
        rports = [mem.read_port(domain="sync") for _ in range(NUM_OPERANDS)]
        wport = mem.write_port(granularity=ELEM_BITS)

        for o, port in enumerate(rports):
            m.d.comb += [port.addr.eq(self.rd[o].addr), port.en.eq(self.rd[o].en),
                         self.rd[o].data.eq(port.data)]
        with m.If(self.dma_rd.en):
            m.d.comb += [rports[0].addr.eq(self.dma_rd.addr), rports[0].en.eq(1)]
        m.d.comb += self.dma_rd.data.eq(rports[0].data)

        with m.If(self.dma_wr.en.any()):
            m.d.comb += [wport.addr.eq(self.dma_wr.addr), wport.data.eq(self.dma_wr.data),
                         wport.en.eq(self.dma_wr.en)]
        with m.Else():
            m.d.comb += [wport.addr.eq(self.wr.addr), wport.data.eq(self.wr.data),
                         wport.en.eq(self.wr.en)]
        return m
