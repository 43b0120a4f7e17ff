"""The threshold unit's sim part: op compiler, sizing and cycle model.

- ``threshold`` ops compile to one elementwise descriptor, its output packed bits
  (chunked keys split the last axis: :func:`sim.compiler.tiling.chunked_keys`);
- sized ``LANES`` wide for the widest input;
- a beat a cycle, pipelined (:func:`sim.compiler.timing.pipelined`).
"""

from __future__ import annotations

import numpy as np

from golden.cases_threshold import ThresholdCfg, clamp_theta
from sim.compiler.operands import elementwise
from sim.compiler.program import View
from sim.compiler.registry import compiles, cycle_model, sizes
from sim.compiler.sizing import LANES, widest
from sim.compiler.timing import pipelined

__all__ = ["threshold"]

cycle_model("threshold")(pipelined)


@compiles("threshold", "threshold")
def threshold(c, op):
    cfg = c.unit_cfg("threshold")
    x, theta, flip = op.inputs
    xv = c.view(x)
    out = c.out_view(op.outputs[0], fmt="bits", group=cfg.lanes, pad_rows=True)
    theta, flip = clamp_theta(cfg, c.value(theta)), c.value(flip)
    if len(out.shape) == len(xv.shape) + 1:  # chunked keys (key_layout): split the last axis
        chunk = out.shape[-1]
        xv = View(xv.addr, xv.shape[:-1] + (xv.shape[-1] // chunk, chunk),
                  xv.strides[:-1] + (chunk * xv.strides[-1], xv.strides[-1]), xv.fmt, xv.group)
        theta, flip = (np.reshape(a, a.shape[:-1] + (a.shape[-1] // chunk, chunk))
                       for a in (np.asarray(theta), np.asarray(flip)))
    elementwise(c, op, slot="threshold", ln=cfg.lanes, out=out, wpack=True,
                sources=[("act", xv, cfg.x_bits, 0), ("param", theta, cfg.x_bits + 1),
                         ("param", flip, 1)])


@sizes("threshold")
def _size(net, by_kind):
    if "threshold" not in by_kind:
        return {}
    return {"threshold": ThresholdCfg(lanes=LANES, x_bits=widest(net, by_kind["threshold"]))}
