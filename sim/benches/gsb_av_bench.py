"""cocotb bench of ``hw.gsb_av.GsbAv`` on a golden GSB attention x V case (one head).

``check`` runs the four idle/backpressure combinations; ``speed`` streams with no gaps, so
its cycles must equal :meth:`golden.cases_gsb.GsbAvCfg.cycles`. A mismatch names the output
transfer (row ``i``, column block) and lane of the element. See
:func:`sim.stream_bench.run_stream_case`.
"""

from __future__ import annotations

from golden.cases_gsb import gsb_av_beats, gsb_av_results, load_gsb_av_case
from sim.stream_bench import run_stream_case, stream_tests
from sim.tb import TB


async def _run(dut, name: str, *, idle: bool, backpressure: bool) -> None:
    tb = TB(dut)
    cfg, op, a, sign, masks, weights, y = load_gsb_av_case(tb.package)
    n, d = op["n"], op["d"]
    blocks = cfg.blocks(d)
    await run_stream_case(
        tb, name, beats=gsb_av_beats(cfg, a, sign, masks, weights), n_out=n * blocks,
        expected=y, decode=lambda words: gsb_av_results(cfg, words, n=n, d=d),
        locate=lambda e: (e[0] * blocks + e[1] // cfg.lanes, e[1] % cfg.lanes), op=op,
        model_cycles=cfg.cycles(n=n, d=d), idle=idle, backpressure=backpressure)


check, speed = stream_tests(_run, unit="gsb_av")
