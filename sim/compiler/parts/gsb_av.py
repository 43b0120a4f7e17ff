"""The GSB A.V unit's sim part: op compiler, sizing and cycle model.

- ``gsb_av`` ops compile to two descriptors a head: the V columns (nothing written),
  then the rows of A (tiling :func:`sim.compiler.tiling.gsb_av`);
- sized to the attention's tokens and head width, the planes of the weights;
- V columns as they come; a row of A a (block, plane pair) a cycle.
"""

from __future__ import annotations

from golden.accel_program import OpDesc, Operand
from golden.cases_gsb import GsbAvCfg
from golden.kernels import grid_width, signed_bits
from sim.compiler import tiling
from sim.compiler.registry import compiles, cycle_model, sizes
from sim.compiler.sizing import LANES
from sim.compiler.timing import last_beat, latency

__all__ = ["gsb_av"]


@compiles("gsb_av", "gsb_av")
def gsb_av(c, op):
    """GSB A.V, per head: the V columns (one a beat, bit-planes over tokens), then the rows
    of A."""
    cfg = c.unit_cfg("gsb_av")
    a_name, sign_name, _, w_name = op.inputs
    av, vv = c.view(a_name), c.view(sign_name)
    weights = c.value(w_name)
    out = c.out_view(op.outputs[0])
    h, n, d = vv.shape
    P, R = weights.shape
    wop = c.param_operand(weights.reshape(1, 1, 1, 1, P * R), cfg.w_bits, (1, 1, 1, 1))
    cols, arows = tiling.gsb_av(n, d, cfg.lanes)
    for head in range(h):
        v = vv.sub(0, head)
        a = av.sub(0, head)
        vcol = Operand(base=v.addr, s=tiling.pad([v.strides[1]]), n_in=n, d_in=v.strides[0],
                       planes=R, pstride=cfg.max_n)
        c.emit(op, OpDesc(unit="gsb_av", **cols.fields(), beat_cycles=n, ops=(vcol, wop)))
        arow = Operand(base=a.addr, s=tiling.pad([a.strides[0]]), n_in=n, d_in=a.strides[1],
                       planes=P, pstride=cfg.max_n)
        o = out.sub(0, head)
        c.emit(op, OpDesc(unit="gsb_av", **arows.fields(), beat_cycles=n, ops=(arow, wop),
                          wbase=o.addr, ws=tiling.pad([o.strides[0], cfg.lanes]),
                          wvec=o.strides[1] == 1, wt=o.strides[1], wwidth=cfg.acc_bits))


@sizes("gsb_av")
def _size(net, by_kind):
    ops = by_kind.get("gsb_av")
    if not ops:
        return {}
    sign = net.tensors[ops[0].inputs[1]]
    weights = [net.tensors[op.inputs[3]] for op in ops]
    return {"gsb_av": GsbAvCfg(lanes=LANES, max_n=sign.shape[-2], max_d=sign.shape[-1],
                               a_planes=weights[0].shape[0], v_planes=weights[0].shape[1],
                               w_bits=grid_width(max(signed_bits(x) for x in weights), 16))}


@cycle_model("gsb_av")
def _cycles(desc, u, beats, bc, c0, outs):
    if not outs:  # V columns: taken as they come, nothing written
        return last_beat(c0, beats, bc)
    # A rows: one (block, plane pair) issued a cycle, the next row taken with the last
    # issue; the last issue's sums leave `latency - 1` edges later
    work = outs // beats * u.a_planes * u.v_planes
    return last_beat(c0, beats, max(bc, work)) + work + latency(u) - 1
