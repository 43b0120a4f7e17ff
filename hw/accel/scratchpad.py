"""The accelerator's scratchpad: one memory, three read ports, one write port, two masters."""

from __future__ import annotations

from amaranth.hdl import ClockSignal, Instance, Module, Signal, unsigned
from amaranth.lib import memory, wiring
from amaranth.lib.wiring import In, Out
from amaranth.utils import ceil_log2

from golden.accel_program import ELEM_BITS, NUM_OPERANDS, AccelTopCfg

__all__ = ["RAM_MODULE", "Scratchpad", "VerilogMemories", "ram_verilog", "read_signature",
           "write_signature"]

#: Name of the Verilog module :func:`ram_verilog` writes.
RAM_MODULE = "vitsim_scratch_ram"


class VerilogMemories:
    """The platform to convert the accelerator to Verilog with (``verilog.convert(...,
    platform=VerilogMemories())``): the scratchpad then instantiates :data:`RAM_MODULE`
    (whose text :func:`ram_verilog` gives) instead of an Amaranth ``Memory``, whose
    initial contents Amaranth emits one bit at a time (minutes, and gigabytes, for tens of
    thousands of words)."""

    verilog_memories = True


def ram_verilog() -> str:
    """Verilog of :data:`RAM_MODULE`: the scratchpad's memory as the Amaranth ``Memory`` of
    :class:`Scratchpad` behaves (zero at time 0, three synchronous read ports with enables,
    not transparent to the write of the same edge, one write port with a write enable per
    ``GRAN``-bit lane), parameterised by ``WIDTH``, ``DEPTH``, ``ABITS`` and ``GRAN``."""
    return f"""
// The accelerator's scratchpad memory (hw/accel/scratchpad.py): no per-word initialisers.
module {RAM_MODULE} #(parameter WIDTH = 32, DEPTH = 1, ABITS = 1, GRAN = 32)
  (input wire clk,
   input wire [ABITS-1:0] ra0, ra1, ra2, input wire re0, re1, re2,
   output reg [WIDTH-1:0] rd0, rd1, rd2,
   input wire [ABITS-1:0] wa, input wire [WIDTH-1:0] wd, input wire [WIDTH/GRAN-1:0] we);
  reg [WIDTH-1:0] mem [0:DEPTH-1];
  integer i;
  initial begin
    for (i = 0; i < DEPTH; i = i + 1) mem[i] = 0;
    rd0 = 0;
    rd1 = 0;
    rd2 = 0;
  end
  always @(posedge clk) begin
    if (re0) rd0 <= mem[ra0];
    if (re1) rd1 <= mem[ra1];
    if (re2) rd2 <= mem[ra2];
    for (i = 0; i < WIDTH / GRAN; i = i + 1)
      if (we[i]) mem[wa][i * GRAN +: GRAN] <= wd[i * GRAN +: GRAN];
  end
endmodule
"""


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

    Elaborated for a platform with ``verilog_memories`` (:class:`VerilogMemories`) the
    memory is an instance of :data:`RAM_MODULE` (:func:`ram_verilog`), the same contract.

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
        if getattr(platform, "verilog_memories", False):
            rports, wport = self._instance(m)
        else:
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

    def _instance(self, m: Module):
        """Ports (``addr``/``en``/``data`` objects) of a :data:`RAM_MODULE` instance."""
        cfg = self._cfg
        abits = ceil_log2(cfg.depth) or 1

        class _Port:
            def __init__(self, name, en_width):
                self.addr = Signal(abits, name=f"{name}_addr")
                self.en = Signal(en_width, name=f"{name}_en")
                self.data = Signal(cfg.word_bits, name=f"{name}_data")

        rports = [_Port(f"ram_r{o}", 1) for o in range(NUM_OPERANDS)]
        wport = _Port("ram_w", cfg.lanes)
        ports = {}
        for o, port in enumerate(rports):
            ports.update({f"i_ra{o}": port.addr, f"i_re{o}": port.en, f"o_rd{o}": port.data})
        m.submodules.ram = Instance(
            RAM_MODULE, p_WIDTH=cfg.word_bits, p_DEPTH=cfg.depth, p_ABITS=abits,
            p_GRAN=ELEM_BITS, i_clk=ClockSignal("sync"), i_wa=wport.addr, i_wd=wport.data,
            i_we=wport.en, **ports)
        return rports, wport
