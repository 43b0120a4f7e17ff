"""cocotb bench of the whole accelerator: clock, reset, one ``start``, wait for ``done``.

No Python runs per cycle: the clock is cocotb's C-side clock, external memory is the
Verilog model in the wrapper (:mod:`sim.accel_mem`: latency, bandwidth and wait states from
plusargs), loaded with ``$readmemh`` and dumped with ``$writememh`` when ``done`` rises; the
bench only counts cycles and writes one record, with the model's byte and stall counters.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import cocotb
from cocotb.clock import Clock
from cocotb.triggers import ClockCycles, First, RisingEdge, Timer

from sim.runner import CLOCK_PS, ENV_RESULTS

ENV_MAX_CYCLES = "VITSIM_MAX_CYCLES"


@cocotb.test()
async def run(dut):
    """Run the program in the external memory image to ``done``."""
    max_cycles = int(os.environ.get(ENV_MAX_CYCLES, "10000000"))
    cocotb.start_soon(Clock(dut.clk, CLOCK_PS, unit="ps").start())
    dut.start.value = 0
    dut.rst.value = 1
    await ClockCycles(dut.clk, 2)
    dut.rst.value = 0
    await RisingEdge(dut.clk)
    dut.start.value = 1
    await RisingEdge(dut.clk)
    dut.start.value = 0
    t0 = cocotb.utils.get_sim_time("ps")
    w0 = time.perf_counter()
    # a timer, not a cycle count: nothing in Python may run on every clock edge
    await First(RisingEdge(dut.dumped), Timer(max_cycles * CLOCK_PS, unit="ps"))
    wall = time.perf_counter() - w0
    cycles = (cocotb.utils.get_sim_time("ps") - t0) // CLOCK_PS
    finished = int(dut.dumped.value) == 1
    record = {"finished": finished, "cycles": int(cycles), "wall_s": wall,
              "passed": finished}
    for name in ("rd_bytes", "wr_bytes", "rd_stalls", "wr_stalls"):
        record[name] = int(getattr(dut, name).value)
    out = Path(os.environ[ENV_RESULTS]) / "accel.json"
    out.write_text(json.dumps(record) + "\n")
    assert finished, f"the accelerator did not finish within {max_cycles} cycles"
