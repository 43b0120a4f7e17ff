"""The binary array's sim part: op compiler, sizing and cycle model.

- ``binary_matmul`` ops compile to one descriptor on the XNOR or AND array (tiling
  :func:`sim.compiler.tiling.matmul`; weight tiles and the chunk-major keys of
  ``q @ k^T``: :mod:`sim.compiler.matmul`);
- one array a mode, :func:`sim.compiler.sizing.binary_rows` x ``COLS``, ``max_k`` the
  longest reduction;
- a beat a cycle, pipelined (:func:`sim.compiler.timing.pipelined`).
"""

from __future__ import annotations

import numpy as np

from golden.accel_program import OpDesc, Operand
from golden.spec import BinaryArrayCfg
from sim.compiler import tiling
from sim.compiler.matmul import weight_tiles
from sim.compiler.operands import act, beat_cycles
from sim.compiler.program import CompileError
from sim.compiler.registry import compiles, cycle_model, sizes
from sim.compiler.sizing import COLS, binary_rows
from sim.compiler.timing import pipelined

__all__ = ["binary"]

cycle_model("binary_array")(pipelined)


@compiles("binary_array", "binary_matmul")
def binary(c, op):
    slot = "binary_xnor" if op.mode == "xnor" else "binary_and"
    cfg = c.unit_cfg(slot)
    R, C = cfg.rows, cfg.cols
    a_name, w_name = op.inputs
    av = c.view(a_name)
    g = av.group
    if av.fmt != "bits" or C % g:
        raise CompileError(f"op {op.name!r}: activation bits must come packed in groups "
                           f"dividing {C}")
    vl = C // g
    k = av.shape[-1]
    if k % C:
        raise CompileError(f"op {op.name!r}: reduction {k} is not a multiple of {C} "
                           f"columns")
    if len(av.shape) == 3:  # q @ k^T per head
        kv = c.view(w_name)
        h, m, n = av.shape[0], av.shape[1], kv.shape[1]
        out = c.out_view(op.outputs[0], pad_last=R)
        nest = tiling.matmul([h, m], n, k, R, C)
        loops = nest.rn
        a = act(av, loops=loops, loop_strides=[av.strides[0], av.strides[1], 0, vl], ln=vl,
                stride=1, ebits=g)
        # chunked keys (key_layout) step to the next chunk plane; row-major ones along the row
        ks = [kv.strides[0], 0, R * kv.strides[1],
              kv.strides[2] if len(kv.shape) == 4 else vl]
        reads = tiling.key_reads(kv.strides[1], vl, R, c.L)
        if reads is not None:  # whole words (key_layout pads a head's rows to R)
            word = R * vl // reads
            w = act(kv, loops=loops, loop_strides=ks, ln=word, stride=1, ebits=g,
                    rows=reads, row_stride=word if reads > 1 else 0)
        else:
            w = Operand(base=kv.addr, s=tiling.pad(ks), n_in=1, vl_log=vl.bit_length() - 1,
                        n_out=R, d_out=kv.strides[1], ebits=g)
        ws = tiling.pad([out.strides[0], out.strides[1], R, 0])
    else:
        m, n = av.shape[0], c.value(w_name).shape[0]
        out = c.out_view(op.outputs[0], pad_last=R)
        nest = tiling.matmul([m], n, k, R, C)
        loops = nest.rn
        a = act(av, loops=loops, loop_strides=[av.strides[0], 0, vl], ln=vl, stride=1, ebits=g)
        tiles = weight_tiles(c.value(w_name), R, C)
        full = np.broadcast_to(tiles[None], (m,) + tiles.shape)
        w = c.param_operand(full.reshape(*loops, R * C), 1, loops)
        ws = tiling.pad([out.strides[0], R, 0])
    c.emit(op, OpDesc(unit=slot, **nest.fields(), beat_cycles=beat_cycles([a, w]),
                      ops=(a, w), wbase=out.addr, ws=(0,) + ws[:3], wvec=True,
                      wwidth=cfg.acc_bits))


@sizes("binary_array")
def _size(net, by_kind):
    units = {}
    for mode, slot in (("xnor", "binary_xnor"), ("and", "binary_and")):
        ops = [op for op in by_kind.get("binary_matmul", []) if op.mode == mode]
        if ops:
            max_k = max(net.tensors[op.inputs[0]].shape[-1] for op in ops)
            outs = [net.tensors[op.inputs[1]].shape[0] for op in ops
                    if len(net.tensors[op.inputs[1]].shape) == 2]  # not q @ k^T's keys
            units[slot] = BinaryArrayCfg(rows=binary_rows(outs), cols=COLS, mode=mode,
                                         max_k=-(-max_k // COLS) * COLS)
    return units
