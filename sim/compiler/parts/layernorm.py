"""The LayerNorm unit's sim part: op compiler, sizing and cycle model.

- ``layernorm`` ops compile to one descriptor, ``lanes`` elements a beat, a row at a time
  (tiling :func:`sim.compiler.tiling.rows`);
- one unit of the network's one LayerNorm width, :func:`sim.compiler.sizing.row_lanes`
  lanes, ``LN_STEP_BITS`` divider bits a cycle;
- rows of ``beats`` beats, overlapped in the unit's four engines: the unit's own stall-free
  model (:meth:`golden.cases_layernorm.LayerNormCfg.cycles`) at the gatherer's beat spacing
  (:func:`sim.compiler.timing.row_unit`).
"""

from __future__ import annotations

from golden.accel_program import OpDesc
from golden.cases_layernorm import LayerNormCfg
from sim.compiler import tiling
from sim.compiler.operands import row_operand, row_writes
from sim.compiler.program import CompileError
from sim.compiler.registry import compiles, cycle_model, sizes
from sim.compiler.sizing import LN_STEP_BITS, row_lanes, widest
from sim.compiler.timing import row_unit

__all__ = ["layernorm"]


@compiles("layernorm", "layernorm")
def layernorm(c, op):
    cfg = c.unit_cfg("layernorm")
    xv = c.view(op.inputs[0])
    out = c.out_view(op.outputs[0])
    nest = tiling.rows(xv.shape, lanes=cfg.lanes)
    src = row_operand(xv, nest, cfg.in_bits)
    c.emit(op, OpDesc(unit="layernorm", **nest.fields(), ops=(src,), wbase=out.addr,
                      **row_writes(out, cfg.lanes), wwidth=32))


@sizes("layernorm")
def _size(net, by_kind):
    ops = by_kind.get("layernorm")
    if not ops:
        return {}
    dims = {op.dim for op in ops}
    if len(dims) != 1:
        raise CompileError(f"LayerNorms of different widths {sorted(dims)}: one unit serves one")
    dim = dims.pop()
    return {"layernorm": LayerNormCfg(dim=dim, in_bits=widest(net, ops, top=16),
                                      lanes=row_lanes([dim]), step_bits=LN_STEP_BITS)}


@cycle_model("layernorm")
def _cycles(desc, u, beats, bc, c0, outs):
    return row_unit(desc, beats, c0, u.beats,
                    lambda rows: u.cycles(rows=rows, beat_cycles=bc))
