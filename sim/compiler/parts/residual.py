"""The residual adder's sim part: op compiler, sizing and cycle model.

- ``add`` ops compile to one elementwise descriptor (tiling
  :func:`sim.compiler.tiling.elementwise`), a parameter operand read as one;
- sized ``LANES`` wide for the widest input on the grid up to 32;
- a beat a cycle, pipelined (:func:`sim.compiler.timing.pipelined`).
"""

from __future__ import annotations

from golden.kernels import grid_width
from golden.spec import ResidualCfg
from sim.compiler.operands import elementwise
from sim.compiler.registry import compiles, cycle_model, sizes
from sim.compiler.sizing import LANES
from sim.compiler.timing import pipelined

__all__ = ["add"]

cycle_model("residual")(pipelined)


@compiles("residual", "add")
def add(c, op):
    cfg = c.unit_cfg("residual")
    out = c.out_view(op.outputs[0])
    sources = []
    for name in op.inputs:
        if c.is_param(name):
            sources.append(("param", c.value(name), cfg.in_bits))
        else:
            sources.append(("act", c.view(name), cfg.in_bits, 0))
    elementwise(c, op, slot="residual", ln=cfg.lanes, out=out, sources=sources,
                wwidth=min(op.out_bits, 32))


@sizes("residual")
def _size(net, by_kind):
    ops = by_kind.get("add")
    if not ops:
        return {}
    in_bits = grid_width(max(net.width(n) for op in ops for n in op.inputs), 32)
    return {"residual": ResidualCfg(lanes=LANES, in_bits=in_bits,
                                    out_bits=max(op.out_bits for op in ops))}
