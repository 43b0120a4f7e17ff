"""cocotb bench of ``hw.binary_array.BinaryMatmulArray`` on a golden binary-matmul case.

Every test streams the case's beats in, collects every result and compares it with the
golden ``y`` by ``==``. ``check`` runs the four idle/backpressure combinations; ``speed``
streams with no gaps and records simulated cycles per second. Each test writes a record
(see :meth:`sim.tb.TB.record`) with the measured cycles and the cycle model's figure.
"""

from __future__ import annotations

import time

import cocotb
import numpy as np

from golden.cases import load_binary_array_case
from golden.streams import binary_array_beats, binary_array_results, binary_array_transfer
from sim.report import first_mismatch, format_mismatch
from sim.stream import StreamSink, StreamSource, random_pauses
from sim.tb import TB

GAP_P = 0.3  # probability of an idle or backpressure cycle when injection is on


async def _run(dut, name: str, *, idle: bool, backpressure: bool) -> None:
    tb = TB(dut)
    cfg, op, a, w, y = load_binary_array_case(tb.package)
    m, n, k = op["m"], op["n"], op["k"]
    beats = binary_array_beats(cfg, a, w)
    n_out = m * (n // cfg.rows)
    model_cycles = cfg.cycles(m=m, n=n, k=k)
    await tb.start()

    source = StreamSource(dut, "i_stream", dut.clk,
                          random_pauses(GAP_P, tb.seed) if idle else None)
    sink = StreamSink(dut, "o_stream", dut.clk,
                      random_pauses(GAP_P, tb.seed + 1) if backpressure else None)
    t0 = time.perf_counter()
    send = cocotb.start_soon(source.send(beats))
    await sink.receive(n_out, timeout_edges=20 * model_cycles + 1000)
    wall = time.perf_counter() - t0
    send.cancel()

    words = sink.words + [0] * (n_out - len(sink.words))
    got = binary_array_results(cfg, words, m=m, n=n)
    cycles = (sink.edges[-1] - source.edges[0] + 1) if sink.edges and source.edges else None

    def locate(element):
        j, lane = binary_array_transfer(cfg, *element, n)
        return {"tile": j, "lane": lane, "cycle": sink.edges[j] if j < len(sink.edges) else None}

    mismatch = first_mismatch(y, got, op=op, locate=locate)
    complete = len(sink.words) == n_out
    passed = mismatch is None and complete
    tb.record(name, passed=passed, cycles=cycles, model_cycles=model_cycles,
              idle=idle, backpressure=backpressure, transfers=len(sink.words),
              expected_transfers=n_out, mismatch=mismatch, wall_s=wall,
              beats=len(beats))
    assert complete, f"only {len(sink.words)} of {n_out} results arrived (timeout)"
    assert mismatch is None, format_mismatch(mismatch)
    if not (idle or backpressure):
        assert cycles == model_cycles, f"measured {cycles} cycles, model says {model_cycles}"
    assert np.array_equal(got, y)


@cocotb.test()
@cocotb.parametrize(idle=[False, True], backpressure=[False, True])
async def check(dut, idle: bool, backpressure: bool):
    """Bit-exact results under every idle/backpressure combination."""
    await _run(dut, f"check-idle{int(idle)}-bp{int(backpressure)}",
               idle=idle, backpressure=backpressure)


@cocotb.test()
async def speed(dut):
    """No gaps: cycles equal the cycle model; wall time gives simulated cycles per second."""
    await _run(dut, "speed", idle=False, backpressure=False)
