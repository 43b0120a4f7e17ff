"""cocotb bench of ``hw.gsb_encoder.GsbEncoder`` on a golden GSB threshold-encoder case.

``check`` runs the four idle/backpressure combinations; ``speed`` streams with no gaps, so
its cycles must equal :meth:`golden.cases_gsb.GsbEncoderCfg.cycles` (two passes per image).
An image whose ``last`` flag is misplaced decodes as ``-1`` (see :func:`golden.cases_gsb.
gsb_encoder_results`), so framing errors are reported as mismatches too. See
:func:`sim.stream_bench.run_stream_case`.
"""

from __future__ import annotations

import numpy as np

from golden.cases_gsb import gsb_encoder_beats, gsb_encoder_results, load_gsb_encoder_case
from sim.stream_bench import run_stream_case, stream_tests
from sim.tb import TB


async def _run(dut, name: str, *, idle: bool, backpressure: bool) -> None:
    tb = TB(dut)
    cfg, op, x, planes = load_gsb_encoder_case(tb.package)
    shape, elems = tuple(op["shape"]), op["elems"]
    beats = gsb_encoder_beats(cfg, x, two_tailed=op["two_tailed"], theta=op["base_theta"] or 0)
    per_image = cfg.beats(elems)

    def locate(element):  # (plane, image, *index) -> (transfer, lane)
        flat = int(np.ravel_multi_index(element[2:], shape))
        return element[1] * per_image + flat // cfg.lanes, flat % cfg.lanes

    await run_stream_case(
        tb, name, beats=beats, n_out=len(beats), expected=planes.astype(np.int64),
        decode=lambda words: gsb_encoder_results(cfg, words, shape=shape),
        locate=locate, op=op, model_cycles=cfg.cycles(elems, op["images"]), idle=idle,
        backpressure=backpressure)


check, speed = stream_tests(_run, unit="gsb_encoder")
