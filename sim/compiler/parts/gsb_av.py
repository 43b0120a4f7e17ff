"""The GSB A.V unit's sim part: op compiler, sizing and cycle model.

- ``gsb_av`` ops compile to two descriptors a head: the V columns (nothing written),
  ``v_cols`` consecutive columns a beat, each token's ``v_cols`` elements one vector read
  (the gatherer packs plane ``r``'s bit of token ``t``, column ``c`` at ``r * pstride + t *
  v_cols + c``, :mod:`golden.accel_program`), then the rows of A, :func:`a_row_vl`
  elements a vector read (tiling :func:`sim.compiler.tiling.gsb_av`);
- sized to the attention's tokens and head width, the planes of the weights, and
  :func:`v_cols`;
- V beats as they come; a row of A a (block, plane pair) a cycle.
"""

from __future__ import annotations

from golden.accel_program import ELEM_BITS, OpDesc, Operand, desc_fields
from golden.cases_gsb import GsbAvCfg
from golden.kernels import grid_width, signed_bits
from sim.compiler import tiling
from sim.compiler.program import CompileError
from sim.compiler.registry import compiles, cycle_model, sizes
from sim.compiler.sizing import LANES, row_lanes
from sim.compiler.timing import last_beat, latency

__all__ = ["a_row_vl", "gsb_av", "v_cols"]

#: Largest plane stride of an operand (its ``pstride`` field).
PSTRIDE_MAX = (1 << dict((f[0], f[1]) for f in desc_fields())["o0_pstride"]) - 1


def a_row_vl(n: int, lanes: int, *aligned: int) -> int:
    """Elements of a row of A read a sub-cycle: the largest power of two up to ``lanes`` (a
    scratchpad word) that divides the row length ``n`` and each of ``aligned`` (the row
    stride, the head's base address), so that every read is one aligned vector and a row is
    ``n / vl`` sub-cycles (the plane bits of token ``t`` land at bit ``t`` as with one
    element a sub-cycle). DeiT's 198 tokens: 2 (99 sub-cycles a row, not 198); the digits
    network's 18: 2."""
    return row_lanes([n, *aligned], top=lanes, word_lanes=lanes)


def v_cols(max_n: int, v_planes: int, widths, lanes: int) -> int:
    """V columns a beat: the largest power of two up to ``lanes`` that divides every head
    width in ``widths``, with the plane stride ``max_n * v_cols`` within the ``pstride``
    field (:data:`PSTRIDE_MAX`) and the beat's ``v_planes * max_n * v_cols`` bits within
    ``lanes`` 32-bit elements (the elementwise units' operand vector: the gatherer gets no
    wider). The digits GSB network (18 tokens, 3 planes, heads of 32): 8; DeiT's 197 or
    198 tokens: 1."""
    top = min(PSTRIDE_MAX // max_n, lanes * ELEM_BITS // (v_planes * max_n))
    return row_lanes(widths, top=top, word_lanes=lanes)


@compiles("gsb_av", "gsb_av")
def gsb_av(c, op):
    """GSB A.V, per head: the V columns (``v_cols`` a beat, bit-planes over tokens), then
    the rows of A."""
    cfg = c.unit_cfg("gsb_av")
    a_name, sign_name, _, w_name = op.inputs
    av, vv = c.view(a_name), c.view(sign_name)
    weights = c.value(w_name)
    out = c.out_view(op.outputs[0])
    h, n, d = vv.shape
    P, R = weights.shape
    k = cfg.v_cols
    wop = c.param_operand(weights.reshape(1, 1, 1, 1, P * R), cfg.w_bits, (1, 1, 1, 1))
    cols, arows = tiling.gsb_av(n, d, cfg.lanes, k)
    for head in range(h):
        v = vv.sub(0, head)
        a = av.sub(0, head)
        if k > 1 and (v.strides[1] != 1 or v.addr % k or v.strides[0] % k or d % k):
            raise CompileError(f"op {op.name!r}: the V planes of head {head} are not rows "
                               f"of whole aligned runs of {k} columns (the unit takes {k} "
                               f"columns a beat)")
        vcol = Operand(base=v.addr, s=tiling.pad([k * v.strides[1]]), n_in=n,
                       d_in=v.strides[0], vl_log=k.bit_length() - 1, planes=R,
                       pstride=cfg.max_n * k)
        c.emit(op, OpDesc(unit="gsb_av", **cols.fields(), beat_cycles=n, ops=(vcol, wop)))
        vl = a_row_vl(n, c.cfg.lanes, a.strides[0], a.addr) if a.strides[1] == 1 else 1
        arow = Operand(base=a.addr, s=tiling.pad([a.strides[0]]), n_in=n // vl,
                       d_in=vl * a.strides[1], vl_log=vl.bit_length() - 1, planes=P,
                       pstride=cfg.max_n)
        o = out.sub(0, head)
        c.emit(op, OpDesc(unit="gsb_av", **arows.fields(), beat_cycles=n // vl,
                          ops=(arow, wop),
                          wbase=o.addr, ws=tiling.pad([o.strides[0], cfg.lanes]),
                          wvec=o.strides[1] == 1, wt=o.strides[1], wwidth=cfg.acc_bits))


@sizes("gsb_av")
def _size(net, by_kind):
    ops = by_kind.get("gsb_av")
    if not ops:
        return {}
    sign = net.tensors[ops[0].inputs[1]]
    weights = [net.tensors[op.inputs[3]] for op in ops]
    max_n, planes = sign.shape[-2], weights[0].shape[1]
    widths = [net.tensors[op.inputs[1]].shape[-1] for op in ops]
    return {"gsb_av": GsbAvCfg(lanes=LANES, max_n=max_n, max_d=sign.shape[-1],
                               a_planes=weights[0].shape[0], v_planes=planes,
                               w_bits=grid_width(max(signed_bits(x) for x in weights), 16),
                               v_cols=v_cols(max_n, planes, widths, LANES))}


@cycle_model("gsb_av")
def _cycles(desc, u, beats, bc, c0, outs):
    if not outs:  # V beats: taken as they come, nothing written
        return last_beat(c0, beats, bc)
    # A rows: one (block, plane pair) issued a cycle, the next row taken with the last
    # issue; the last issue's sums leave `latency - 1` edges later
    work = outs // beats * u.a_planes * u.v_planes
    return last_beat(c0, beats, max(bc, work)) + work + latency(u) - 1
