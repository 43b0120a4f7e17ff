"""cocotb bench of ``hw.mac_array.MacArray`` on a golden integer-matmul case.

``check`` runs the four idle/backpressure combinations; ``speed`` streams with no gaps.
See :func:`sim.stream_bench.run_stream_case`.
"""

from __future__ import annotations

from golden.cases import load_mac_array_case
from golden.streams import mac_array_beats, tile_results, tile_transfer
from sim.stream_bench import run_stream_case, stream_tests
from sim.tb import TB


async def _run(dut, name: str, *, idle: bool, backpressure: bool) -> None:
    tb = TB(dut)
    cfg, op, a, w, y = load_mac_array_case(tb.package)
    m, n, k = op["m"], op["n"], op["k"]
    widths = dict(w_bits=op["w_bits"], a_bits=op["a_bits"])
    beats = mac_array_beats(cfg, a, w, w_signed=op["w_signed"], a_signed=op["a_signed"],
                            **widths)
    await run_stream_case(
        tb, name, beats=beats, n_out=m * (n // cfg.rows), expected=y,
        decode=lambda words: tile_results(cfg, words, m=m, n=n),
        locate=lambda element: tile_transfer(cfg, *element, n), op=op,
        model_cycles=cfg.cycles(m=m, n=n, k=k, **widths), idle=idle,
        backpressure=backpressure)


check, speed = stream_tests(_run, unit="mac_array")
