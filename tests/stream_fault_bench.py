"""cocotb bench of the hand-written max-of-four units of ``test_sim_stream_faults``.

Sixteen 8-bit beats (seeded) go in; the maximum of each group of four comes out, checked by
:func:`sim.stream_bench.run_stream_case` exactly as every unit bench is. No golden case:
the expected maxima are computed here.
"""

from __future__ import annotations

import cocotb
import numpy as np

from sim.stream_bench import run_stream_case
from sim.tb import TB

GROUP, GROUPS = 4, 4


async def _run(dut, name: str, *, idle: bool, backpressure: bool) -> None:
    tb = TB(dut)
    x = np.random.default_rng(tb.seed).integers(0, 128, size=(GROUPS, GROUP))
    beats = [int(v) for v in x.reshape(-1)]
    await run_stream_case(
        tb, name, beats=beats, n_out=GROUPS, expected=x.max(axis=1),
        decode=lambda words: np.array(words, dtype=np.int64),
        locate=lambda element: (element[0], 0), op={"name": "max4", "kind": "max"},
        model_cycles=len(beats) + 1, idle=idle, backpressure=backpressure)


@cocotb.test()
@cocotb.parametrize(idle=[False, True], backpressure=[False, True])
async def check(dut, idle: bool, backpressure: bool):
    """Every idle/backpressure combination, as a unit bench's ``check``."""
    await _run(dut, f"check-idle{int(idle)}-bp{int(backpressure)}", idle=idle,
               backpressure=backpressure)
