"""The GELU unit's sim part: op compiler, sizing and cycle model.

- ``gelu`` ops compile to one elementwise descriptor (tiling
  :func:`sim.compiler.tiling.elementwise`), the polynomial's constants in the descriptor;
- the unit is sized ``LANES`` wide, its input the widest GELU input on the grid up to 24;
- a beat a cycle, pipelined (:func:`sim.compiler.timing.pipelined`).
"""

from __future__ import annotations

from golden.cases_gelu import GeluCfg
from golden.network import gelu_params_of
from sim.compiler.operands import elementwise
from sim.compiler.registry import compiles, cycle_model, desc_k, sizes
from sim.compiler.sizing import LANES, widest
from sim.compiler.timing import pipelined

__all__ = ["gelu"]

cycle_model("gelu")(pipelined)


@compiles("gelu", "gelu")
def gelu(c, op):
    cfg = c.unit_cfg("gelu")
    p = gelu_params_of(op)
    out = c.out_view(op.outputs[0])
    elementwise(c, op, slot="gelu", ln=cfg.lanes, out=out, wwidth=cfg.out_bits,
                k=desc_k("gelu", b=p.b, c=p.c, one=p.one, clip=op.clip),
                sources=[("act", c.view(op.inputs[0]), cfg.in_bits, 0)])


@sizes("gelu")
def _size(net, by_kind):
    ops = by_kind.get("gelu")
    return {"gelu": GeluCfg(lanes=LANES, in_bits=widest(net, ops, top=24))} if ops else {}
