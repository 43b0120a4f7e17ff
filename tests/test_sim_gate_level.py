"""Gate-level simulation: the accelerator's post-synthesis ECP5 netlist (Yosys
``synth_ecp5``, Yosys' cell models) on Verilator, against the golden values and the RTL.

A small accelerator (4 lanes, no units: sequencer, AXI engines, scratchpad, gatherer,
writer) runs a DMA program (:func:`sim.gate_level.dma_program`): random words in, the
scratchpad dumped back out. The netlist's run must be bit-exact and take exactly the RTL's
cycles. Set VITSIM_GATE_LEVEL=1 (Yosys and the netlist's Verilator build take minutes);
the digits accelerator's netlist is ``benchmarks/gate_level.py``.
"""

import os

import pytest

from golden.accel_program import AccelTopCfg
from sim.accel_run import run_program
from sim.gate_level import dma_program, gate_netlist, run_gate_level

pytestmark = [pytest.mark.sim, pytest.mark.slow,
              pytest.mark.skipif(not os.environ.get("VITSIM_GATE_LEVEL"),
                                 reason="benchmark: set VITSIM_GATE_LEVEL=1 (minutes of "
                                 "Yosys and Verilator)")]


def test_netlist_of_a_small_accelerator_equals_rtl(tmp_path):
    cfg = AccelTopCfg(lanes=4, depth=64, units={}, ext_words=256)
    prog = dma_program(cfg, words=16)
    assert prog.cfg == cfg  # the netlist below is of the program's accelerator
    syn = gate_netlist(cfg, tmp_path / "netlist")
    assert syn["cells"]["LUT4"] > 1000 and syn["cells"]["TRELLIS_FF"] > 500
    rtl = run_program(prog, tmp_path / "rtl")
    gate = run_gate_level(prog, tmp_path / "gate", netlist=tmp_path / "netlist" / "netlist.v")
    assert rtl.passed and gate["passed"], gate
    assert gate["cycles"] == rtl.cycles
