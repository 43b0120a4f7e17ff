"""cocotb bench of ``hw.binary_array.BinaryMatmulArray`` on a golden binary-matmul case.

``check`` runs the four idle/backpressure combinations; ``speed`` streams with no gaps and
records simulated cycles per second. See :func:`sim.stream_bench.run_stream_case`.
"""

from __future__ import annotations

from golden.cases import load_binary_array_case
from golden.streams import binary_array_beats, tile_results, tile_transfer
from sim.stream_bench import run_stream_case, stream_tests
from sim.tb import TB


async def _run(dut, name: str, *, idle: bool, backpressure: bool) -> None:
    tb = TB(dut)
    cfg, op, a, w, y = load_binary_array_case(tb.package)
    m, n, k = op["m"], op["n"], op["k"]
    await run_stream_case(
        tb, name, beats=binary_array_beats(cfg, a, w), n_out=m * (n // cfg.rows), expected=y,
        decode=lambda words: tile_results(cfg, words, m=m, n=n),
        locate=lambda element: tile_transfer(cfg, *element, n), op=op,
        model_cycles=cfg.cycles(m=m, n=n, k=k), idle=idle, backpressure=backpressure)


check, speed = stream_tests(_run, unit="binary_array")
