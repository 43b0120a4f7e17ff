"""The ``TB`` base shared by every cocotb bench: case loading, clock, reset, result records."""

from __future__ import annotations

import functools
import json
import os
from pathlib import Path

import cocotb
from cocotb.clock import Clock
from cocotb.triggers import ClockCycles, RisingEdge

from golden.package import read_package
from sim.runner import CLOCK_PS, ENV_CASE, ENV_GARBAGE, ENV_RESULTS, ENV_SEED, ENV_SIDECAR

__all__ = ["TB"]


class TB:
    """Bench context for one DUT: its sidecar, its golden case and its clock.

    Parameters
    ----------
    dut : cocotb handle
        The top level; its clock is ``clk`` and its synchronous reset ``rst``.
    """

    def __init__(self, dut):
        self.dut = dut
        self.sidecar = json.loads(Path(os.environ[ENV_SIDECAR]).read_text())
        self.seed = int(os.environ.get(ENV_SEED, "0"))
        #: garbage on idle input payloads (:mod:`sim.stream_bench`); only the stream-fault
        #: tests turn it off, to show what it catches
        self.garbage = os.environ.get(ENV_GARBAGE, "1") != "0"
        self.log = dut._log

    @functools.cached_property
    def package(self):
        """The golden case (read on first use: a bench without a case never reads one)."""
        return read_package(os.environ[ENV_CASE])

    @property
    def latency(self) -> int:
        """The unit's latency as recorded in its sidecar (never restated by a bench)."""
        return int(self.sidecar["latency"])

    async def start(self, reset_cycles: int = 4) -> None:
        """Drive every input port (from the sidecar) to 0, start a 10 ns clock, then hold
        reset for ``reset_cycles`` edges.

        Zeroing the inputs first matters: an undriven input is ``z`` in Icarus, and a
        stream left valid by an earlier test would be accepted again after reset.
        """
        for port in self.sidecar["ports"]:
            if port["dir"] == "in":
                getattr(self.dut, port["name"]).value = 0
        Clock(self.dut.clk, CLOCK_PS, unit="ps").start()
        self.dut.rst.value = 1
        await ClockCycles(self.dut.clk, reset_cycles)
        self.dut.rst.value = 0
        await RisingEdge(self.dut.clk)

    def record(self, name: str, **fields) -> None:
        """Write this test's JSON record (``passed``, ``cycles``, ``mismatch``...)."""
        path = Path(os.environ[ENV_RESULTS]) / f"{name}.json"
        path.write_text(json.dumps({"name": name, "simulator": cocotb.SIM_NAME, **fields},
                                   indent=2, sort_keys=True))
