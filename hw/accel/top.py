"""The accelerator: sequencer, scratchpad, operand gatherer, result writer and the units.

Contract: :mod:`golden.accel_program` (descriptor semantics, memory layout); the compiler
that writes programs is :mod:`sim.compiler`. The Components: :mod:`hw.accel.sequencer`,
:mod:`hw.accel.scratchpad`, :mod:`hw.accel.gatherer`, :mod:`hw.accel.writer`; this file
builds the units and binds the gatherer's beats and the descriptor's constants to their
inputs (:data:`hw.accel.bind.BIND`) and their outputs to the writer.
"""

from __future__ import annotations

from amaranth.hdl import Cat, Module, Signal, Value
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from golden.accel_program import NUM_CONSTS, NUM_OPERANDS, UNIT_IDS, AccelTopCfg
from hw.accel.axi_reader import read_channels
from hw.accel.axi_writer import write_channels
from hw.accel.bind import BIND, field_widths, out_geometry
from hw.accel.gatherer import MAX_PLANES, Gatherer
from hw.accel.scratchpad import Scratchpad
from hw.accel.sequencer import Sequencer
from hw.accel.writer import Writer

__all__ = ["MAX_PLANES", "Accelerator", "elem_widths", "operand_widths"]


def _build_units(cfg: AccelTopCfg) -> dict:
    from hw.units import build_unit

    return {slot: build_unit(ucfg) for slot, ucfg in cfg.units.items()}


def operand_widths(units: dict) -> list[int]:
    """Bits of each operand vector: the widest payload field any unit binds to it."""
    widths = [1] * NUM_OPERANDS
    for slot, unit in units.items():
        fields = field_widths(unit.i_stream.payload.shape())
        for name, src in BIND[slot].items():
            if isinstance(src, int):
                widths[src] = max(widths[src], fields[name][1])
    return widths


class Accelerator(wiring.Component):
    """A ViT accelerator that runs a program of layer descriptors from external memory.

    On ``start`` it reads the op count from external word 0, then for each op fetches its
    descriptor (``desc_words`` words), runs it (a DMA, or one unit fed by the gatherer and
    drained by the writer, see :mod:`golden.accel_program`), and writes the op's cycle
    count to scratchpad element ``cnt_addr``. ``done`` rises after the last op and stays
    high until the next ``start``.

    External memory: an AXI4-like read channel pair ``axi_rd`` (AR/R) and write channel
    triple ``axi_wr`` (AW/W/B), ready/valid on every channel, bursts of at most
    ``max_burst`` beats, any latency and wait states, answered in order (one ID); addresses
    count words of ``lanes`` 32-bit elements. The sequencer's timing against such a memory:
    :class:`~hw.accel.sequencer.Sequencer`.

    Structure: the :class:`~hw.accel.sequencer.Sequencer` fetches the descriptor and runs
    DMA and counters; the :class:`~hw.accel.gatherer.Gatherer` reads operands from the
    :class:`~hw.accel.scratchpad.Scratchpad` into beats, which go to the unit the
    descriptor names (its payload filled as :data:`hw.accel.bind.BIND` says); that unit's
    output beats go to the :class:`~hw.accel.writer.Writer`, which stores them.

    Gatherer timing: a beat takes ``beat_cycles`` cycles when no unit stalls (operands read
    in parallel on three scratchpad read ports, one word each a cycle); the writer stores
    a vector output beat a cycle, a scattered one an element a cycle. ``latency`` is the
    gatherer's: three edges from the last sub-cycle's address to the beat on the unit's
    input.

    Parameters
    ----------
    cfg : :class:`golden.accel_program.AccelTopCfg`

    Members
    -------
    start : ``In(1)``
    done, busy : ``Out(1)``
    overlap : ``Out(1)``
        The sequencer's: a prefetch's load in flight under compute.
    axi_rd : ``Out(read_channels(lanes*32))``; axi_wr : ``Out(write_channels(lanes*32))``
    """

    def __init__(self, cfg: AccelTopCfg):
        if not isinstance(cfg, AccelTopCfg):
            raise TypeError(f"cfg must be an AccelTopCfg, not {cfg!r}")
        self._cfg = cfg
        units = self._units = _build_units(cfg)
        out_lanes = max([1, *(out_geometry(slot, unit.o_stream.payload.shape())[1]
                              for slot, unit in units.items())])
        self._sequencer, self._scratch = Sequencer(cfg), Scratchpad(cfg)
        self._gatherer = Gatherer(cfg, operand_widths(units), elem_widths(units))
        self._writer = Writer(cfg, out_lanes)
        w = cfg.word_bits
        super().__init__({
            "start": In(1), "done": Out(1), "busy": Out(1), "overlap": Out(1),
            "axi_rd": Out(read_channels(w)), "axi_wr": Out(write_channels(w)),
        })

    @property
    def cfg(self) -> AccelTopCfg:
        """Configuration of the accelerator."""
        return self._cfg

    @property
    def latency(self) -> int:
        """The gatherer's latency (see above)."""
        return self._gatherer.latency

    def elaborate(self, platform):
        m = Module()
        units = self._units
        for slot, unit in units.items():
            m.submodules[slot] = unit
        m.submodules.sequencer = seq = self._sequencer
        m.submodules.scratch = scratch = self._scratch
        m.submodules.gatherer = gat = self._gatherer
        m.submodules.writer = wrt = self._writer

        m.d.comb += [seq.start.eq(self.start), self.done.eq(seq.done), self.busy.eq(seq.busy),
                     self.overlap.eq(seq.overlap)]
        wiring.connect(m, seq.axi_rd, wiring.flipped(self.axi_rd))
        wiring.connect(m, seq.axi_wr, wiring.flipped(self.axi_wr))
        for part in (gat, wrt):
            m.d.comb += [part.desc.eq(seq.desc), part.clear.eq(seq.clear),
                         part.launch.eq(seq.launch)]
        m.d.comb += [wrt.running.eq(seq.running), seq.g_busy.eq(gat.busy),
                     seq.w_busy.eq(wrt.busy), seq.w_we.eq(wrt.wr.en.any())]
        for o in range(NUM_OPERANDS):
            wiring.connect(m, gat.rd[o], scratch.rd[o])
        wiring.connect(m, seq.dma_rd, scratch.dma_rd)
        wiring.connect(m, seq.dma_wr, scratch.dma_wr)
        wiring.connect(m, wrt.wr, scratch.wr)
        # the unit select, decoded into a register: the descriptor is complete in
        # DISPATCH, so the decode holds from the op's first RUN cycle on, and the units'
        # handshakes (which reach every pipeline register) start at flip-flops
        sel = {slot: Signal(name=f"sel_{slot}") for slot in units}
        m.d.sync += [s.eq(seq.desc.unit == UNIT_IDS[slot]) for slot, s in sel.items()]
        _bind_inputs(m, units, sel, seq.desc, seq.running, gat.o_stream)
        _bind_outputs(m, units, sel, seq.desc, wrt.i_stream)
        return m


def _bind_inputs(m: Module, units: dict, selected: dict, d, running, beat) -> None:
    """Fill each unit's input payload from the gatherer's ``beat`` and the constants of
    descriptor ``d`` (:data:`BIND`); only the unit ``selected`` names sees ``valid`` (while
    ``running``), and only its ``ready`` reaches the gatherer."""
    consts = [d[f"k{n}"] for n in range(NUM_CONSTS)]
    for slot, unit in units.items():
        sel = selected[slot]
        payload = Value.cast(unit.i_stream.payload)
        fw = field_widths(unit.i_stream.payload.shape())
        for name, src in BIND[slot].items():
            off, width = fw[name]
            if isinstance(src, int):
                val = beat.payload[f"o{src}"]
            elif src == "last":
                val = beat.payload.last
            else:
                val = consts[int(src[1:])]
            m.d.comb += payload[off:off + width].eq(val[:width] if len(val) >= width else val)
        m.d.comb += unit.i_stream.valid.eq(running & sel & beat.valid)
    m.d.comb += beat.ready.eq(Cat(*[sel & units[s].i_stream.ready
                                    for s, sel in selected.items()]).any()
                              if selected else 0)


def _bind_outputs(m: Module, units: dict, selected: dict, d, lanes) -> None:
    """Offer the output beats of the unit ``d.unit`` names on ``lanes`` (each output lane
    zero-extended; ``valid`` from the unit ``selected`` names), and hand its ``ready``
    back to that unit alone."""
    with m.Switch(d.unit):
        for slot, unit in units.items():
            with m.Case(UNIT_IDS[slot]):
                off, nl, eb = out_geometry(slot, unit.o_stream.payload.shape())
                pl = Value.cast(unit.o_stream.payload)
                for e in range(nl):
                    m.d.comb += lanes.payload[e].eq(pl[off + e * eb: off + (e + 1) * eb])
    m.d.comb += lanes.valid.eq(Cat(*[selected[s] & u.o_stream.valid
                                     for s, u in units.items()]).any() if units else 0)
    for slot, unit in units.items():
        m.d.comb += unit.o_stream.ready.eq(selected[slot] & lanes.ready)


def _leaf_width(shape) -> int:
    while isinstance(shape, data.ArrayLayout):
        shape = shape.elem_shape
    if isinstance(shape, data.Layout):
        return shape.size
    return shape.width


def elem_widths(units: dict) -> set[int]:
    """Element widths the compiler may put in ``ebits``: the innermost element width of
    every operand-bound payload field, and 1..8 (bit groups written by ``wpack``)."""
    out = set(range(1, 9))
    for slot, unit in units.items():
        layout = unit.i_stream.payload.shape()
        for name, src in BIND[slot].items():
            if isinstance(src, int):
                shape = layout if name is None else layout[name].shape
                out.add(min(_leaf_width(shape), 32))
    return out
