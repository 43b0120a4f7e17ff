"""cocotb bench of the board top: a UART model on its pins runs the real host driver.

The host side is :func:`sim.board.host.run_on_board`, unchanged: it runs in a thread
(cocotb's ``bridge``) and talks to :class:`UartModel`, whose ``write``/``read``/``pause``
(cocotb's ``resume``) drive the board's ``rxd`` pin bit by bit at the board's divisor and
take bytes from a monitor of its ``txd`` pin. The bench compiles nothing: the program
comes pickled (``VITSIM_BOARD_PROGRAM``), the result goes to ``board.json`` in the
results directory.
"""

from __future__ import annotations

import collections
import json
import os
import pickle
import time
from pathlib import Path

import cocotb
from cocotb.clock import Clock
from cocotb.task import bridge, resume
from cocotb.triggers import ClockCycles, Event, FallingEdge, ReadOnly

from sim.runner import CLOCK_PS, ENV_RESULTS

ENV_PROGRAM = "VITSIM_BOARD_PROGRAM"
ENV_DIVISOR = "VITSIM_BOARD_DIVISOR"


class UartModel:
    """The host end of the UART at ``divisor`` clock cycles a bit (8N1)."""

    def __init__(self, dut, divisor: int):
        self.dut, self.div = dut, divisor
        self.rx = collections.deque()
        self.got = Event()
        self.sent = self.received = 0
        self.timeouts = 0

    async def monitor(self):
        dut, div = self.dut, self.div
        while True:
            await FallingEdge(dut.txd)
            await ClockCycles(dut.clk, div // 2)
            if int(dut.txd.value):
                continue  # a glitch
            byte = 0
            for i in range(8):
                await ClockCycles(dut.clk, div)
                await ReadOnly()
                byte |= int(dut.txd.value) << i
            await ClockCycles(dut.clk, div)  # the stop bit's middle
            self.rx.append(byte)
            self.received += 1
            self.got.set()

    async def _write(self, data: bytes):
        dut, div = self.dut, self.div
        for b in data:
            bits = [0] + [(b >> i) & 1 for i in range(8)] + [1]
            i = 0
            while i < 10:  # one wait per run of equal bits
                j = i
                while j < 10 and bits[j] == bits[i]:
                    j += 1
                dut.rxd.value = bits[i]
                await ClockCycles(dut.clk, div * (j - i))
                i = j
        self.sent += len(data)

    async def _read(self, n: int, limit: int):
        out = bytearray()
        while len(out) < n:
            if self.rx:
                out.append(self.rx.popleft())
                continue
            self.got.clear()
            waited = 0
            while not self.rx and waited < limit:
                await ClockCycles(self.dut.clk, 20 * self.div)
                waited += 20 * self.div
            if not self.rx:
                self.timeouts += 1
                break
        return bytes(out)

    async def _pause(self):
        await ClockCycles(self.dut.clk, 200 * self.div)

    # the Transport protocol, for the host driver's thread
    def write(self, data: bytes) -> None:
        resume(self._write)(data)

    def read(self, n: int) -> bytes:
        from sim.board.host import BoardError

        data = resume(self._read)(n, 400 * self.div + 10_000)
        if len(data) != n:
            raise BoardError(f"simulated board: {len(data)} of {n} bytes came back")
        return data

    def pause(self) -> None:
        resume(self._pause)()


@cocotb.test()
async def run(dut):
    """Load, start, poll and read back the pickled program through the UART model."""
    from sim.board.host import run_on_board

    program = pickle.loads(Path(os.environ[ENV_PROGRAM]).read_bytes())
    div = int(os.environ[ENV_DIVISOR])
    cocotb.start_soon(Clock(dut.clk, CLOCK_PS, unit="ps").start())
    dut.rxd.value = 1
    await ClockCycles(dut.clk, 40)  # the power-on reset
    uart = UartModel(dut, div)
    cocotb.start_soon(uart.monitor())
    w0 = time.perf_counter()
    t0 = cocotb.utils.get_sim_time("ps")
    error = None
    from sim.accel_run import cycle_limit

    # polls come one per 200 bits at the least, so this bounds the run by its cycle limit
    polls = cycle_limit(program) // (200 * div) + 10
    try:
        res = await bridge(run_on_board)(program, uart, max_polls=polls)
    except Exception as exc:  # recorded, then re-raised after the record is written
        res, error = None, exc
    record = {"wall_s": time.perf_counter() - w0,
              "sim_cycles": (cocotb.utils.get_sim_time("ps") - t0) // CLOCK_PS,
              "bytes_sent": uart.sent, "bytes_received": uart.received,
              "error": None if error is None else f"{type(error).__name__}: {error}"}
    if res is not None:
        record.update({"finished": res.finished, "cycles": res.cycles,
                       "op_cycles": res.op_cycles, "tensors": res.tensors,
                       "passed": res.passed})
    out = Path(os.environ[ENV_RESULTS]) / "board.json"
    out.write_text(json.dumps(record) + "\n")
    if error is not None:
        raise error
    assert res.passed, "the board's run is not bit-exact"
