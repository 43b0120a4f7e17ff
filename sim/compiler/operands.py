"""Operands and the elementwise descriptor: how a tiling (:mod:`sim.compiler.tiling`)
reads and writes the views it runs over."""

from __future__ import annotations

import numpy as np

from golden.accel_program import OpDesc, Operand
from sim.compiler import tiling
from sim.compiler.program import CompileError

__all__ = ["act", "beat_cycles", "elementwise", "feeds_encoder", "row_operand", "row_writes"]


def act(view, *, loops, loop_strides, ln: int, stride: int, ebits: int,
        shift: int = 0, rows: int = 1, row_stride: int = 0) -> Operand:
    """``ln`` elements a beat ``stride`` apart from the beat address (of each of ``rows``
    rows ``row_stride`` apart: element ``r * ln + i`` of the beat): one vector read a row
    when they are consecutive and the beat and row addresses are multiples of ``ln``, else
    one element a sub-cycle. A loop of one trip never moves the address, so its stride is
    dropped (it must not spoil the alignment)."""
    s = tuple(0 if n == 1 else x for n, x in zip(loops, tiling.pad(loop_strides),
                                                  strict=True))
    aligned = view.addr % ln == 0 and row_stride % ln == 0 and all(x % ln == 0 for x in s)
    if stride == 1 and aligned and ln & (ln - 1) == 0:
        return Operand(base=view.addr, s=s, n_in=1, vl_log=ln.bit_length() - 1, ebits=ebits,
                       shift=shift, n_out=rows, d_out=row_stride)
    return Operand(base=view.addr, s=s, n_in=ln, d_in=stride, ebits=ebits, shift=shift,
                   n_out=rows, d_out=row_stride)


def beat_cycles(ops) -> int:
    """Cycles a beat of ``ops`` takes to gather: the slowest operand's sub-cycles."""
    return max(1, *(o.sub_cycles for o in ops))


def elementwise(c, op, *, slot, sources, out, ln, k=(), wwidth=32, wsigned=True,
                last_level=4, wpack=False):
    """Emit the descriptor of an elementwise unit over the shape of ``out`` (``sources``:
    operand order, each ``("act", view, ebits, shift)`` or ``("param", array, bits)``;
    the tiling: :func:`sim.compiler.tiling.elementwise`)."""
    shape = out.shape
    acts = [s[1] for s in sources if s[0] == "act"]
    nest, structured = tiling.elementwise(shape, ln, last_level=last_level)
    if not structured and (wpack or not all(v.contiguous() for v in [*acts, out])):
        raise CompileError(f"op {op.name!r}: last axis {shape[-1]} is not a multiple of "
                           f"{ln} lanes and its tensors are not contiguous")
    loops = nest.rn
    operands = []
    for src in sources:
        if src[0] == "act":
            _, v, ebits, shift = src
            if structured:
                ls = list(v.strides[:-1]) + [ln * v.strides[-1]]
                operands.append(act(v, loops=loops, loop_strides=ls, ln=ln,
                                    stride=v.strides[-1], ebits=ebits, shift=shift))
            else:
                operands.append(act(v, loops=loops, loop_strides=[ln], ln=ln, stride=1,
                                    ebits=ebits, shift=shift))
        else:
            _, arr, bits = src
            full = np.broadcast_to(np.asarray(arr, dtype=np.int64), shape)
            if not structured:
                flat = full.reshape(-1)
                full = np.concatenate([flat, np.zeros(loops[-1] * ln - flat.size, np.int64)])
            operands.append(c.param_operand(full.reshape(*loops, ln), bits, loops))
    if structured:
        last = 1 if wpack else out.strides[-1]
        # a packed beat is one element of the output's last axis (keys may be column-major)
        ws = tiling.pad(list(out.strides[:-1]) + [out.strides[-1] if wpack else ln * last])
        vec = not wpack and last == 1 and out.addr % ln == 0 and all(x % ln == 0 for x in ws)
        wt = last
    else:
        ws, vec, wt = tiling.pad([ln]), out.addr % ln == 0, 1
    desc = OpDesc(unit=slot, **nest.fields(), beat_cycles=beat_cycles(operands),
                  ops=tuple(operands), wbase=out.addr, ws=ws, wt=wt, wvec=vec, wpack=wpack,
                  wwidth=wwidth, wsigned=wsigned, k=tuple(k))
    c.emit(op, desc)
    numel = int(np.prod(shape))
    if not structured and numel % ln and feeds_encoder(c, op.outputs[0]):
        _copy_tail(c, op, desc, sources, shape, ln, last_level)


def feeds_encoder(c, name: str) -> bool:
    """Whether a GSB encoder op reads tensor ``name`` (its max/min see whole beats)."""
    return any(o.kind in ("gsb_value_planes", "gsb_attn_planes") and o.inputs[0] == name
               for o in c.net.ops)


def _copy_tail(c, op, desc, sources, shape, ln, last_level):
    """Fill the lanes past the end of a flat output's last beat with the output's last
    element: one more beat of the same unit whose every lane reads the last element of
    each source (an element ``ln`` times), its first ``pad`` lanes written as one vector
    after the output (in the last beat's word). A reader of whole beats (the GSB
    encoder's max/min) then sees only the tensor's own values. Records the output in
    ``c.tail_copied``."""
    numel = int(np.prod(shape))
    pad = -numel % ln
    ops = []
    for src in sources:
        if src[0] == "act":
            _, v, ebits, shift = src
            ops.append(Operand(base=v.addr + numel - 1, n_in=ln, d_in=0, ebits=ebits,
                               shift=shift))
        else:
            _, arr, bits = src
            last = np.broadcast_to(np.asarray(arr, dtype=np.int64), shape)
            beat = np.full((1, 1, 1, 1, ln), last.reshape(-1)[numel - 1], np.int64)
            ops.append(c.param_operand(beat, bits, (1, 1, 1, 1)))
    one = tiling.loops([1])
    if (desc.wbase + numel) % c.L + pad > c.L:  # lanes divide the word: never
        raise CompileError(f"op {op.name!r}: the padding of its last beat spans two words")
    c.emit(op, OpDesc(unit=desc.unit, rn=one, wn=one, wc=pad, last_level=last_level,
                      beat_cycles=beat_cycles(ops), ops=tuple(ops), wbase=desc.wbase + numel,
                      wt=1, wvec=True, wwidth=desc.wwidth, wsigned=desc.wsigned, k=desc.k))
    c.tail_copied.add(op.outputs[0])


def row_operand(view, nest, ebits: int, shift: int = 0) -> Operand:
    """The operand of a row unit (LayerNorm, softmax) over ``view``: ``nest.wc`` elements
    a beat along the last axis, along ``nest``'s loops (:func:`sim.compiler.tiling.rows`)."""
    ln = nest.wc
    strides = [*view.strides[:-1], ln * view.strides[-1]]
    return act(view, loops=nest.rn, loop_strides=strides, ln=ln, stride=view.strides[-1],
               ebits=ebits, shift=shift)


def row_writes(out, ln: int) -> dict:
    """The writer fields of a row unit writing ``ln`` elements a beat along the last axis
    of view ``out``: one vector a beat when they are consecutive and aligned to ``ln``
    (always for one lane), else one element a cycle."""
    ws = tiling.pad([*out.strides[:-1], ln * out.strides[-1]])
    vec = ln == 1 or (out.strides[-1] == 1 and out.addr % ln == 0
                      and all(x % ln == 0 for x in ws))
    return {"ws": ws, "wvec": vec, "wt": 1 if vec else out.strides[-1]}
