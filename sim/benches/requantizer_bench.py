"""cocotb bench of ``hw.requantizer.Requantizer`` on a golden requantisation case.

``check`` runs the four idle/backpressure combinations; ``speed`` streams with no gaps.
See :func:`sim.stream_bench.run_stream_case`.
"""

from __future__ import annotations

from golden.cases import load_requant_case
from golden.streams import requant_beats, requant_results
from sim.stream_bench import run_stream_case, stream_tests
from sim.tb import TB


async def _run(dut, name: str, *, idle: bool, backpressure: bool) -> None:
    tb = TB(dut)
    cfg, op, acc, mult, bias, y = load_requant_case(tb.package)
    beats = requant_beats(cfg, acc, mult=mult, bias=bias, shift=op["shift"], bits=op["bits"],
                          signed=op["signed"])
    await run_stream_case(
        tb, name, beats=beats, n_out=len(beats), expected=y,
        decode=lambda words: requant_results(cfg, words, signed=op["signed"]),
        locate=lambda element: tuple(element), op=op,
        model_cycles=cfg.cycles(beats=len(beats)), idle=idle, backpressure=backpressure)


check, speed = stream_tests(_run, unit="requant")
