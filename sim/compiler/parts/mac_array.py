"""The MAC array's sim part: op compiler, sizing and cycle model.

- ``patch_matmul`` and ``int_matmul`` ops compile to one descriptor (tiling
  :func:`sim.compiler.tiling.matmul`); ``int_bmm``'s compiler, whose tiling is longer,
  is :func:`sim.compiler.bmm.bmm` (attached to this unit too);
- the shortest reduction's columns, rows up to ``MAC_PATCH_LANES`` lanes (at least
  ``MAC_ROWS``), the widest operand;
- a beat held ``passes`` cycles, then the ``latency``-deep pipeline.
"""

from __future__ import annotations

import numpy as np

from golden.accel_program import OpDesc, Operand
from golden.kernels import grid_width
from golden.spec import MacArrayCfg
from golden.units import unit
from sim.compiler import tiling
from sim.compiler.bmm import bmm_widths
from sim.compiler.matmul import weight_tiles
from sim.compiler.operands import act, beat_cycles
from sim.compiler.program import CompileError
from sim.compiler.registry import compiles, cycle_model, desc_k, sizes
from sim.compiler.sizing import (
    MAC_DIGIT_BITS,
    MAC_LINEAR_ROWS,
    linear_mac_cols,
    mac_cols,
    patch_digit_bits,
    patch_mac_rows,
)
from sim.compiler.timing import last_beat, latency

__all__ = ["mac"]

_MAC_W, _MAC_A = (unit("mac_array").payload.consts().index(n) for n in ("w_bits", "a_bits"))


def _row_beats(xv, nest, m_stride: int, k: int, C: int, L: int, fb: int) -> Operand:
    """The activation operand of an int_matmul over contiguous rows of ``k`` elements:
    ``min(k, C)`` elements a beat (a shorter reduction: the gatherer fills the lanes after
    with zeros; a last partial beat of a longer one reads on past the row, lanes that meet
    zero weights), as whole vector reads of the largest power of two that divides the
    beat and every address (at most ``L``), one a sub-cycle."""
    e = min(k, C)
    vl = 1
    while (vl * 2 <= L and e % (vl * 2) == 0 and xv.addr % (vl * 2) == 0
           and m_stride % (vl * 2) == 0 and (k <= C or C % (vl * 2) == 0)):
        vl *= 2
    rows = e // vl
    return act(xv, loops=nest.rn, loop_strides=[m_stride, 0, C], ln=vl, stride=1, ebits=fb,
               rows=rows, row_stride=vl if rows > 1 else 0)


@compiles("mac_array", "patch_matmul", "int_matmul")
def mac(c, op):
    cfg = c.unit_cfg("mac")
    R, C, fb = cfg.rows, cfg.cols, cfg.field_bits
    x_name, w_name = op.inputs
    w = c.value(w_name)
    xv = None if op.kind == "patch_matmul" else c.view(x_name)
    n, k = w.shape
    kk = -(-k // C) * C  # zero-padded to whole beats: padded weights are 0
    tiles = weight_tiles(np.pad(w, ((0, 0), (0, kk - k))), R, C)
    if op.kind == "patch_matmul":
        p = op.patch
        xv = c.patch_image(x_name, p)
        hp, ch_p, ww = xv.shape
        r = tiling.patch_rows(C, p, ch_p // p)
        if r is None:  # the whole patch a beat, its pixels in lanes 0..k-1, zeros after
            if k >= C or p & (p - 1):
                raise CompileError(f"op {op.name!r}: a beat of {C} columns is not whole "
                                   f"rows of a {p}x{p} patch of {ch_p // p} channels")
            r = ch_p
        wp = ww // p
        out = c.out_view(op.outputs[0], pad_last=R)
        nest = tiling.matmul([hp, wp], n, kk, R, C)
        # r patch rows a beat (a vector each), the next r rows the next beat
        a = Operand(base=xv.addr, s=tiling.pad([xv.strides[0], p, 0,
                                                r * xv.strides[1] if k > C else 0]),
                    n_in=1, vl_log=(p.bit_length() - 1), n_out=r, d_out=xv.strides[1],
                    ebits=fb)
        if xv.addr % p or xv.strides[1] % p:
            raise CompileError(f"op {op.name!r}: patch rows must be aligned vectors")
        ws = (0, wp * out.strides[0], out.strides[0], R)
    else:
        out = c.out_view(op.outputs[0], pad_last=R)
        rows = int(np.prod(xv.shape[:-1]))
        if len(xv.shape) > 2:
            raise CompileError(f"op {op.name!r}: integer matmul over more than [M, K]")
        m_stride = xv.strides[0] if len(xv.shape) == 2 else 0
        nest = tiling.matmul([rows], n, kk, R, C)
        if C > c.L and C % c.L == 0 and xv.strides[-1] == 1 and k % C == 0:
            # a beat of whole words
            a = act(xv, loops=nest.rn, loop_strides=[m_stride, 0, C], ln=c.L, stride=1,
                    ebits=fb, rows=C // c.L, row_stride=c.L)
        elif xv.strides[-1] == 1 and k % C:  # zero-padded
            a = _row_beats(xv, nest, m_stride, k, C, c.L, fb)
        else:
            a = act(xv, loops=nest.rn, loop_strides=[m_stride, 0, C], ln=C,
                    stride=xv.strides[-1], ebits=fb)
        o_stride = out.strides[0] if len(out.shape) == 2 else 0
        ws = (0, 0, o_stride, R)
    loops = nest.rn
    full = np.broadcast_to(tiles[None, None], loops[:2] + tiles.shape)
    wop = c.param_operand(full.reshape(*loops, R * C), fb, loops)
    c.emit(op, OpDesc(unit="mac", **nest.fields(), beat_cycles=beat_cycles([a, wop]),
                      ops=(a, wop), wbase=out.addr, ws=ws, wvec=True, wwidth=cfg.acc_bits,
                      k=desc_k("mac", w_bits=op.w_bits, a_bits=op.a_bits, w_signed=1,
                             a_signed=1)))


def _macs(net, op) -> int:
    """Multiply-accumulates of a MAC-array op (outputs times reduction)."""
    k = net.tensors[op.inputs[0 if op.kind == "int_bmm" else 1]].shape[-1]
    return int(np.prod(net.tensors[op.outputs[0]].shape)) * int(k)


@sizes("mac_array")
def _size(net, by_kind):
    """The MAC array for the integer matmuls (patch_matmul, int_matmul) and the per-head
    int_bmm ops. Sized for the patch embedding when it carries at least half the array's
    MACs (GSB networks): ``cols`` as :func:`sim.compiler.sizing.mac_cols`, rows as
    :func:`sim.compiler.sizing.patch_mac_rows` (digits: 16 x 4, DeiT: 4 x 64), digits as
    :func:`sim.compiler.sizing.patch_digit_bits` (2 bits on digits, 4 on DeiT); else for
    the integer linears (Q-ViT, low-rank): 2-bit digits,
    ``MAC_LINEAR_ROWS`` rows, ``cols`` as :func:`sim.compiler.sizing.linear_mac_cols`
    (reductions it does not divide, the patch embedding's among them, zero-padded).
    ``max_bits`` the widest operand (an unsigned int_bmm weight one bit more,
    :func:`sim.compiler.bmm.bmm_widths`) on the 8-bit grid; ``max_k`` the longest
    reduction padded to whole ``cols``. Without int_bmm ops it is the config sized for
    the matmuls alone."""
    macs = by_kind.get("patch_matmul", []) + by_kind.get("int_matmul", [])
    bmms = by_kind.get("int_bmm", [])
    if not (macs or bmms):
        return {}
    red = [net.tensors[op.inputs[1]].shape[1] for op in macs]
    qk = [net.tensors[op.inputs[0]].shape[-1] for op in bmms if op.trans_b]
    patches = [(op.patch, net.tensors[op.inputs[0]].shape[-3]) for op in macs
               if op.kind == "patch_matmul"]
    patch_macs = sum(_macs(net, op) for op in macs if op.kind == "patch_matmul")
    if 2 * patch_macs >= sum(_macs(net, op) for op in macs + bmms):
        cols = mac_cols(red, patches, qk)
        rows = patch_mac_rows(cols, [net.tensors[op.inputs[1]].shape[0] for op in macs])
        digit = patch_digit_bits(rows, cols)
    else:
        digit = MAC_DIGIT_BITS
        rows = MAC_LINEAR_ROWS
        cols = linear_mac_cols([k for op, k in zip(macs, red, strict=True)
                                if op.kind == "int_matmul"], qk)
    bits = [max(op.a_bits, op.w_bits) for op in macs]
    for op in bmms:
        heads = net.tensors[op.inputs[0]].shape[-3]
        bits += [max(k["w_bits"], k["a_bits"]) for k in bmm_widths(op, heads)]
    ks = red + [net.tensors[op.inputs[0]].shape[-1] for op in bmms]
    return {"mac": MacArrayCfg(rows=rows, cols=cols, digit_bits=digit,
                               max_bits=grid_width(max(bits), 16),
                               max_k=max(-(-k // cols) * cols for k in ks))}


@cycle_model("mac_array")
def _cycles(desc, u, beats, bc, c0, outs):
    # a beat is held for `passes` cycles and the next one taken on its last pass; the
    # last pass enters the `latency`-deep pipeline one edge after the hold stage
    p = u.passes(w_bits=desc.k[_MAC_W], a_bits=desc.k[_MAC_A])
    return last_beat(c0, beats, max(bc, p)) + p + latency(u) - 1
