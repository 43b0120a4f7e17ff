"""cocotb bench of ``hw.threshold.Threshold`` on a golden threshold (binariser) case.

``check`` runs the four idle/backpressure combinations; ``speed`` streams with no gaps.
See :func:`sim.stream_bench.run_stream_case`.
"""

from __future__ import annotations

from golden.cases_threshold import load_threshold_case, threshold_beats, threshold_results
from sim.stream_bench import run_stream_case, stream_tests
from sim.tb import TB


async def _run(dut, name: str, *, idle: bool, backpressure: bool) -> None:
    tb = TB(dut)
    cfg, op, x, theta, flip, y = load_threshold_case(tb.package)
    beats = threshold_beats(cfg, x, theta, flip)
    await run_stream_case(
        tb, name, beats=beats, n_out=len(beats), expected=y.astype("int64"),
        decode=lambda words: threshold_results(cfg, words),
        locate=lambda element: tuple(element), op=op,
        model_cycles=cfg.cycles(beats=len(beats)), idle=idle, backpressure=backpressure)


check, speed = stream_tests(_run, unit="threshold")
