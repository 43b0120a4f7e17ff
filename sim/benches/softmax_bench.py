"""cocotb bench of ``hw.softmax.Softmax`` on a golden integer-softmax case.

``check`` runs the four idle/backpressure combinations; ``speed`` streams with no gaps, so
its cycles must equal :meth:`golden.cases_softmax.SoftmaxCfg.cycles`. An output whose
``last`` flag is misplaced decodes as ``-1`` (see :func:`golden.cases_softmax.
softmax_results`), so framing errors are reported as mismatches too. See
:func:`sim.stream_bench.run_stream_case`.
"""

from __future__ import annotations

from golden.cases_softmax import load_softmax_case, softmax_beats, softmax_results
from sim.stream_bench import run_stream_case, stream_tests
from sim.tb import TB


async def _run(dut, name: str, *, idle: bool, backpressure: bool) -> None:
    tb = TB(dut)
    cfg, op, params, x, y = load_softmax_case(tb.package)
    rows, row_len = x.shape
    beats = softmax_beats(cfg, x, params)
    await run_stream_case(
        tb, name, beats=beats, n_out=len(beats), expected=y,
        decode=lambda words: softmax_results(cfg, words, row_len=row_len),
        locate=lambda element: (element[0] * cfg.beats(row_len) + element[1] // cfg.lanes,
                                element[1] % cfg.lanes), op=op,
        model_cycles=cfg.cycles(rows=rows, row_len=row_len), idle=idle,
        backpressure=backpressure)


check, speed = stream_tests(_run, unit="softmax")
