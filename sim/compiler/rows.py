"""Op compilers of the row units, LayerNorm and softmax: one element a beat, a row at a
time (tiling: :func:`sim.compiler.tiling.rows`)."""

from __future__ import annotations

from golden.accel_program import NUM_LOOPS, OpDesc
from golden.network import softmax_params_of
from sim.compiler import tiling
from sim.compiler.operands import act
from sim.compiler.registry import compiles, desc_k

__all__ = ["layernorm", "softmax"]


def _row_operand(xv, nest, ebits: int, shift: int = 0):
    return act(xv, loops=nest.rn, loop_strides=list(xv.strides), ln=1, stride=1, ebits=ebits,
               shift=shift)


@compiles("layernorm", "layernorm")
def layernorm(c, op):
    cfg = c.unit_cfg("layernorm")
    xv = c.view(op.inputs[0])
    out = c.out_view(op.outputs[0])
    nest = tiling.rows(xv.shape)
    src = _row_operand(xv, nest, cfg.in_bits)
    c.emit(op, OpDesc(unit="layernorm", **nest.fields(), ops=(src,), wbase=out.addr,
                      ws=tiling.pad(out.strides), wvec=True, wbits=32))


@compiles("softmax", "softmax")
def softmax(c, op):
    cfg = c.unit_cfg("softmax")
    p = softmax_params_of(op)
    xv = c.view(op.inputs[0])
    out = c.out_view(op.outputs[0])
    nest = tiling.rows(xv.shape, last_level=NUM_LOOPS - 1)
    src = _row_operand(xv, nest, cfg.x_bits, op.in_shift)
    c.emit(op, OpDesc(unit="softmax", **nest.fields(), ops=(src,), wbase=out.addr,
                      ws=tiling.pad(out.strides), wvec=True, wbits=p.out_bits, wsigned=False,
                      k=desc_k("softmax", x0=p.x0, b=p.b, c=p.c, n=p.n, floor_q=p.floor_q,
                             out_bits=p.out_bits)))
