"""The softmax unit's sim part: op compiler, sizing and cycle model.

- ``softmax`` ops compile to one descriptor, ``lanes`` elements a beat (whole beats: the
  last beat's ``tail`` constant is ``lanes - 1``), a row at a time, the row's end closing
  at the innermost loop;
- sized to the longest row and the widest constants (:meth:`SoftmaxCfg.fitting`), with
  :func:`sim.compiler.sizing.row_lanes` lanes (2 for the digits GSB network's rows of 18,
  1 where a row is odd, as DeiT's 197 tokens are) and ``SM_DIV_BITS`` divider bits a
  cycle;
- rows of the innermost loop's beats, overlapping in the unit's engines
  (:meth:`SoftmaxCfg.cycles` with the gatherer's beat cycles,
  :func:`sim.compiler.timing.row_unit`).
"""

from __future__ import annotations

from math import log2, prod, sqrt

from golden.accel_program import ELEM_BITS, NUM_LOOPS, OpDesc
from golden.cases_softmax import SoftmaxCfg
from golden.kernels import grid_width
from golden.network import softmax_params_of
from sim.compiler import tiling
from sim.compiler.operands import row_operand, row_writes
from sim.compiler.program import CompileError
from sim.compiler.registry import compiles, cycle_model, desc_k, sizes
from sim.compiler.sizing import SM_DIV_BITS, row_lanes
from sim.compiler.timing import row_unit

__all__ = ["softmax"]


@compiles("softmax", "softmax")
def softmax(c, op):
    cfg = c.unit_cfg("softmax")
    p = softmax_params_of(op)
    xv = c.view(op.inputs[0])
    out = c.out_view(op.outputs[0])
    nest = tiling.rows(xv.shape, last_level=NUM_LOOPS - 1, lanes=cfg.lanes)
    src = row_operand(xv, nest, cfg.x_bits, op.in_shift)
    c.emit(op, OpDesc(unit="softmax", **nest.fields(), ops=(src,), wbase=out.addr,
                      **row_writes(out, cfg.lanes), wwidth=p.out_bits, wsigned=False,
                      k=desc_k("softmax", x0=p.x0, b=p.b, c=p.c, n=p.n, floor_q=p.floor_q,
                               out_bits=p.out_bits, tail=cfg.lanes - 1)))


def check_consts(op) -> None:
    """Raise :class:`CompileError` naming softmax op ``op`` when its constant ``c``
    (``floor(c / S**2)`` at the logits' scale ``S``) does not fit the descriptor's signed
    constant field: the logits' scale is too fine for the accelerator (an untrained
    model's attention logits are tiny)."""
    p = softmax_params_of(op)
    top = (1 << (ELEM_BITS - 1)) - 1
    if p.c <= top:
        return
    scale = -0.6931471805599453 / p.x0  # x0 = floor(-ln2 / S)
    finest = scale * sqrt(p.c / top)  # c grows as 1 / S**2
    raise CompileError(
        f"op {op.name!r}: field c: the softmax constant c={p.c} (at the logits' scale "
        f"2**{log2(scale):.1f}) does not fit the descriptor's {ELEM_BITS}-bit signed "
        f"constant; the accelerator takes logit scales down to 2**{log2(finest):.1f}: "
        "train the checkpoint first, or scale up its weights (an untrained model's "
        "attention logits are this small)")


@sizes("softmax")
def _size(net, by_kind):
    ops = by_kind.get("softmax")
    if not ops:
        return {}
    for op in ops:
        check_consts(op)
    row = max(net.tensors[op.inputs[0]].shape[-1] for op in ops)
    x_bits = grid_width(max(net.width(op.inputs[0]) + op.in_shift for op in ops), 32)
    out_bits = max(op.out_bits for op in ops)
    lanes = row_lanes([net.tensors[op.inputs[0]].shape[-1] for op in ops])
    cfg = SoftmaxCfg.fitting([softmax_params_of(op) for op in ops], max_len=row,
                             x_bits=x_bits, out_bits=out_bits, lanes=lanes,
                             div_bits=SM_DIV_BITS)
    if cfg is None:
        raise CompileError("the softmax constants fit no softmax config")
    return {"softmax": cfg}


@cycle_model("softmax")
def _cycles(desc, u, beats, bc, c0, outs):
    n = prod(desc.rn[desc.last_level:])  # beats a row, each of whole lanes
    return row_unit(desc, beats, c0, n,
                    lambda rows: u.cycles(rows=rows, row_len=n * u.lanes, beat_cycles=bc))
