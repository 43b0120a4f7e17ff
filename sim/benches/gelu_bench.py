"""cocotb bench of ``hw.gelu.Gelu`` on a golden GELU case.

``check`` runs the four idle/backpressure combinations; ``speed`` streams with no gaps.
See :func:`sim.stream_bench.run_stream_case`.
"""

from __future__ import annotations

from golden.cases_gelu import gelu_beats, gelu_results, load_gelu_case
from sim.stream_bench import run_stream_case, stream_tests
from sim.tb import TB


async def _run(dut, name: str, *, idle: bool, backpressure: bool) -> None:
    tb = TB(dut)
    cfg, op, params, x, y = load_gelu_case(tb.package)
    beats = gelu_beats(cfg, x, params, op["clip"])
    await run_stream_case(
        tb, name, beats=beats, n_out=len(beats), expected=y,
        decode=lambda words: gelu_results(cfg, words),
        locate=lambda element: tuple(element), op=op,
        model_cycles=cfg.cycles(beats=len(beats)), idle=idle, backpressure=backpressure)


check, speed = stream_tests(_run, unit="gelu")
