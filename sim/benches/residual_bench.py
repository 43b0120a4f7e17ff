"""cocotb bench of ``hw.residual.ResidualAdd`` on a golden residual-add case.

``check`` runs the four idle/backpressure combinations; ``speed`` streams with no gaps.
See :func:`sim.stream_bench.run_stream_case`.
"""

from __future__ import annotations

from golden.cases import load_residual_case
from golden.streams import residual_beats, residual_results
from sim.stream_bench import run_stream_case, stream_tests
from sim.tb import TB


async def _run(dut, name: str, *, idle: bool, backpressure: bool) -> None:
    tb = TB(dut)
    cfg, op, a, b, y = load_residual_case(tb.package)
    beats = residual_beats(cfg, a, b)
    await run_stream_case(
        tb, name, beats=beats, n_out=len(beats), expected=y,
        decode=lambda words: residual_results(cfg, words),
        locate=lambda element: tuple(element), op=op,
        model_cycles=cfg.cycles(beats=len(beats)), idle=idle, backpressure=backpressure)


check, speed = stream_tests(_run, unit="residual")
