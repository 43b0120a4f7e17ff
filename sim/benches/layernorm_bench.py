"""cocotb bench of ``hw.layernorm.LayerNorm`` on a golden LayerNorm case.

``check`` runs the four idle/backpressure combinations; ``speed`` streams with no gaps, so
its cycles must equal ``LayerNormCfg.cycles(rows)``. See
:func:`sim.stream_bench.run_stream_case`.
"""

from __future__ import annotations

from golden.cases_layernorm import layernorm_beats, layernorm_results, load_layernorm_case
from sim.stream_bench import run_stream_case, stream_tests
from sim.tb import TB


async def _run(dut, name: str, *, idle: bool, backpressure: bool) -> None:
    tb = TB(dut)
    cfg, op, x, y = load_layernorm_case(tb.package)
    beats = layernorm_beats(cfg, x)
    await run_stream_case(
        tb, name, beats=beats, n_out=len(beats), expected=y,
        decode=lambda words: layernorm_results(cfg, words),
        locate=lambda element: (element[0] * cfg.beats + element[1] // cfg.lanes,
                                element[1] % cfg.lanes), op=op,
        model_cycles=cfg.cycles(rows=x.shape[0]), idle=idle, backpressure=backpressure)


check, speed = stream_tests(_run, unit="layernorm")
