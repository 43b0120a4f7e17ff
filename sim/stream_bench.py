"""The body every single-stream unit bench shares: stream a case through, compare, record.

A unit bench supplies the input beats, the number of output transfers, a ``decode`` from
output words to the result tensor, and a ``locate`` from a result element to its transfer
and lane; this module drives the stream with optional idle and backpressure, compares the
decoded result with the golden tensor by ``==``, measures cycles and writes the record.
"""

from __future__ import annotations

import random
import sys
import time
from collections.abc import Callable

import cocotb
import numpy as np

from golden.unit_spec import attach
from sim.report import first_mismatch, format_mismatch
from sim.runner import CLOCK_PS
from sim.stream import StreamSink, StreamSource, random_pauses
from sim.tb import TB

__all__ = ["DRAIN_EDGES", "GAP_P", "run_stream_case", "stream_tests"]

GAP_P = 0.3  # probability of an idle or backpressure cycle when injection is on
DRAIN_EDGES = 16  # edges past the unit's latency watched for surplus output transfers


async def run_stream_case(tb: TB, name: str, *, beats: list[int], n_out: int,
                          expected: np.ndarray, decode: Callable[[list[int]], np.ndarray],
                          locate: Callable[[tuple], tuple[int, int]], op: dict,
                          model_cycles: int, idle: bool, backpressure: bool) -> None:
    """Stream ``beats`` into ``i_stream``, collect ``n_out`` transfers, check and record.

    ``locate(element)`` returns ``(transfer, lane)`` of a result element. While its valid
    is low the input payload is seeded garbage (see :class:`sim.stream.StreamSource`);
    after the ``n_out`` transfers the output is watched ``latency + DRAIN_EDGES`` more
    edges. Asserts (failing the cocotb test) on a timeout, a mismatch, an output transfer
    past ``n_out``, or, without gaps, cycles that differ from ``model_cycles``.
    """
    dut = tb.dut
    await tb.start()
    source = StreamSource(dut, "i_stream", dut.clk,
                          random_pauses(GAP_P, tb.seed) if idle else None,
                          garbage=random.Random(tb.seed + 2) if tb.garbage else None)
    sink = StreamSink(dut, "o_stream", dut.clk,
                      random_pauses(GAP_P, tb.seed + 1) if backpressure else None)
    t0 = time.perf_counter()
    send = cocotb.start_soon(source.send(beats, then_idle=True))
    await sink.receive(n_out, timeout_edges=20 * model_cycles + 1000,
                       drain_edges=tb.latency + DRAIN_EDGES)
    wall = time.perf_counter() - t0
    send.cancel()

    got = decode(sink.words + [0] * (n_out - len(sink.words)))
    cycles = (sink.edges[-1] - source.edges[0] + 1) if sink.edges and source.edges else None

    def where(element):
        j, lane = locate(element)
        got_it = j < len(sink.edges)
        return {"tile": j, "lane": lane, "cycle": sink.edges[j] if got_it else None,
                "time_ps": sink.first_edge_ps + (sink.edges[j] - 1) * CLOCK_PS if got_it
                else None}

    mismatch = first_mismatch(expected, got, op=op, locate=where)
    complete = len(sink.words) == n_out
    tb.record(name, passed=mismatch is None and complete and not sink.extra, cycles=cycles,
              model_cycles=model_cycles, idle=idle, backpressure=backpressure,
              transfers=len(sink.words), expected_transfers=n_out, mismatch=mismatch,
              extra_transfers=len(sink.extra), wall_s=wall, beats=len(beats))
    assert complete, f"only {len(sink.words)} of {n_out} results arrived (timeout)"
    assert mismatch is None, format_mismatch(mismatch)
    assert not sink.extra, (f"{len(sink.extra)} output transfers after the expected {n_out} "
                            f"(first payload {sink.extra[0]})")
    if not (idle or backpressure):
        assert cycles == model_cycles, f"measured {cycles} cycles, model says {model_cycles}"


def stream_tests(run, *, unit: str):
    """Return the ``check`` and ``speed`` cocotb tests of a bench built on ``run``, and
    attach ``run``'s module as unit kind ``unit``'s bench (:mod:`sim.units`).

    ``run(dut, name, *, idle, backpressure)`` is the bench's coroutine (usually a call to
    :func:`run_stream_case`). ``check`` runs the four idle/backpressure combinations;
    ``speed`` runs once with no gaps, so its cycles must equal the cycle model. A bench
    module binds them at module level: ``check, speed = stream_tests(_run, unit=KIND)``.
    """
    attach(unit, "bench", sys.modules[run.__module__])

    @cocotb.test()
    @cocotb.parametrize(idle=[False, True], backpressure=[False, True])
    async def check(dut, idle: bool, backpressure: bool):
        """Bit-exact results under every idle/backpressure combination."""
        await run(dut, f"check-idle{int(idle)}-bp{int(backpressure)}", idle=idle,
                  backpressure=backpressure)

    @cocotb.test()
    async def speed(dut):
        """No gaps: cycles equal the cycle model; wall time gives simulated cycles/s."""
        await run(dut, "speed", idle=False, backpressure=False)

    return check, speed
