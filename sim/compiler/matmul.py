"""Op compilers of the matmuls with stationary weights: the binary array, the MAC array
(patch embedding, integer linears) and GSB A.V; and the chunk-major key layout of
``q @ k^T`` (tiling: :func:`sim.compiler.tiling.matmul`, :func:`sim.compiler.tiling.gsb_av`).

On the ``R x C`` array, activation bits are read packed (groups of the threshold unit's
lanes), weights as per-beat ``R x C`` tiles packed at ``w_bits``; ``q @ k^T`` takes ``R``
key rows as the weight tile (keys wider than ``C`` columns are written chunk-major,
``[H, D / C, N, C]``, so a tile is one vector read: :func:`key_layout`).
"""

from __future__ import annotations

import numpy as np

from golden.accel_program import OpDesc, Operand
from sim.compiler import tiling
from sim.compiler.operands import act, beat_cycles
from sim.compiler.program import ALIGN_ROWS, CompileError, View
from sim.compiler.registry import compiles, desc_k

__all__ = ["binary", "gsb_av", "key_layout", "mac", "weight_tiles"]


def weight_tiles(w: np.ndarray, rows: int, cols: int) -> np.ndarray:
    """``w [N, K]`` as beat tiles ``[ceil(N/rows), K/cols, rows*cols]`` (zero rows pad)."""
    n, k = w.shape
    np_ = -(-n // rows) * rows
    w = np.concatenate([w, np.zeros((np_ - n, k), w.dtype)])
    return w.reshape(np_ // rows, rows, k // cols, cols).transpose(0, 2, 1, 3).reshape(
        np_ // rows, k // cols, rows * cols)


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
        if tiling.key_rows_one_read(kv.strides[1], vl, R, c.L):
            w = act(kv, loops=loops, loop_strides=ks, ln=R * vl, stride=1, ebits=g)
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
                      wbits=cfg.acc_bits))


def key_layout(c, op) -> None:
    """Lay out the keys of a ``q @ k^T`` (``op``) chunk-major when a key row spans several
    ``C``-column chunks (:func:`sim.compiler.tiling.chunked_keys`), so the ``R`` rows of one
    tile are one vector read instead of a row a sub-cycle: the keys get a 4-D view
    ``[H, N, chunks, C]`` whose chunk axis is the outermost in memory (its threshold writes
    it that way, see :func:`sim.compiler.elementwise.threshold`); the package's
    ``[H, N, D]`` shape is kept in ``c.key_shapes`` for the read-back. Only keys a threshold
    produces, with no view yet, are laid out."""
    if op.kind != "binary_matmul" or "threshold" not in c.cfg.units:
        return
    w_name = op.inputs[1]
    slot = "binary_xnor" if op.mode == "xnor" else "binary_and"
    producer = next((o for o in c.net.ops if w_name in o.outputs), None)
    if (producer is None or producer.kind != "threshold" or w_name in c.views
            or slot not in c.cfg.units):
        return
    g, C = c.cfg.units["threshold"].lanes, c.cfg.units[slot].cols
    shape = tuple(int(x) for x in c.value(w_name).shape)
    if len(shape) != 3 or not tiling.chunked_keys(shape[-1], C, g):
        return
    h, n, chunks, vl = shape[0], shape[1], shape[2] // C, C // g
    rows = -(-n // ALIGN_ROWS) * ALIGN_ROWS
    addr = c.act.alloc(h * chunks * rows * vl)
    c.views[w_name] = View(addr, (h, n, chunks, C), (chunks * rows * vl, vl, rows * vl, 1),
                           "bits", g)
    c.key_shapes[w_name] = shape


def _patch_image(c, name: str, p: int) -> View:
    """The image ``[C, H, W]`` in the scratchpad as rows of ``p``-pixel bands, band-major
    and channel-interleaved (:func:`sim.compiler.tiling.patch_rows`): the view
    ``[H / p, C * p, W]`` whose row ``c * p + y`` of band ``b`` is channel ``c``'s pixel row
    ``b * p + y`` (one channel: the image's own row-major layout)."""
    if name in c.views:
        return c.views[name]
    img = c.value(name)
    if img.ndim != 3 or img.shape[1] % p or img.shape[2] % p:
        raise CompileError(f"tensor {name!r}: an image [C, H, W] of whole {p}x{p} patches, "
                           f"not {list(img.shape)}")
    ch, hh, ww = img.shape
    rows = img.reshape(ch, hh // p, p, ww).transpose(1, 0, 2, 3).reshape(hh // p, ch * p, ww)
    addr = c.pre.put(rows)
    c.views[name] = View(addr, rows.shape, (ch * p * ww, ww, 1))
    return c.views[name]


@compiles("mac_array", "patch_matmul", "int_matmul")
def mac(c, op):
    cfg = c.unit_cfg("mac")
    R, C, fb = cfg.rows, cfg.cols, cfg.field_bits
    x_name, w_name = op.inputs
    w = c.value(w_name)
    xv = None if op.kind == "patch_matmul" else c.view(x_name)
    n, k = w.shape
    if k % C:
        raise CompileError(f"op {op.name!r}: reduction {k} is not a multiple of {C} "
                           f"columns")
    tiles = weight_tiles(w, R, C)
    if op.kind == "patch_matmul":
        p = op.patch
        xv = _patch_image(c, x_name, p)
        hp, ch_p, ww = xv.shape
        r = tiling.patch_rows(C, p, ch_p // p)
        if r is None:
            raise CompileError(f"op {op.name!r}: a beat of {C} columns is not whole rows of "
                               f"a {p}x{p} patch of {ch_p // p} channels")
        wp = ww // p
        out = c.out_view(op.outputs[0], pad_last=R)
        nest = tiling.matmul([hp, wp], n, k, R, C)
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
        nest = tiling.matmul([rows], n, k, R, C)
        if C > c.L and C % c.L == 0 and xv.strides[-1] == 1:  # a beat of whole words
            a = act(xv, loops=nest.rn, loop_strides=[m_stride, 0, C], ln=c.L, stride=1,
                    ebits=fb, rows=C // c.L, row_stride=c.L)
        else:
            a = act(xv, loops=nest.rn, loop_strides=[m_stride, 0, C], ln=C,
                    stride=xv.strides[-1], ebits=fb)
        o_stride = out.strides[0] if len(out.shape) == 2 else 0
        ws = (0, 0, o_stride, R)
    loops = nest.rn
    full = np.broadcast_to(tiles[None, None], loops[:2] + tiles.shape)
    wop = c.param_operand(full.reshape(*loops, R * C), fb, loops)
    c.emit(op, OpDesc(unit="mac", **nest.fields(), beat_cycles=beat_cycles([a, wop]),
                      ops=(a, wop), wbase=out.addr, ws=ws, wvec=True, wbits=cfg.acc_bits,
                      k=desc_k("mac", w_bits=op.w_bits, a_bits=op.a_bits, w_signed=1,
                             a_signed=1)))


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
                          wvec=o.strides[1] == 1, wt=o.strides[1], wbits=cfg.acc_bits))
