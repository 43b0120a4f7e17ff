"""The op compiler of per-head integer matmuls (``int_bmm``: Q-ViT and integer-attention
networks) on the ``R x C`` MAC array, one descriptor per run of heads at the same widths
(the widths are descriptor constants), the reduction innermost
(tiling: :func:`sim.compiler.tiling.matmul`):

- ``q @ k^T``: loops ``(h, m, n / R, d / C)``; the activation beat is ``C`` elements of a
  query row, the weight tile ``R`` key rows (element ``r * C + c``: one vector read a key
  row when aligned), as the binary array takes them. The ``[H, M, N]`` output stays
  contiguous (its requantiser reads it flat): a last tile of ``N % R`` lanes spills into
  the next row, which a later beat rewrites, or into spare elements after the buffer.
- ``attn @ v``: the token reduction ``N`` need not be a multiple of ``C``, and ``v``'s
  columns are strided; so the requantiser first copies ``v`` transposed into ``[H, D,
  Np]`` (``Np = ceil(N / C) * C``), multiplying the ``Np - N`` padding rows by 0 (one
  element written a cycle). Then loops ``(h, m, d / R, Np / C)``: the activation beat is
  ``C`` elements of an attention row (those past ``N`` meet the zero padding), the weight
  tile ``R`` rows of ``v^T`` (one vector read each).
- An unsigned right operand goes to the array as a signed one a bit wider; unsigned
  attention probabilities are unsigned activations.
"""

from __future__ import annotations

import numpy as np

from golden.accel_program import OpDesc
from golden.netspec import Op
from sim.compiler import tiling
from sim.compiler.operands import act, beat_cycles, elementwise
from sim.compiler.program import CompileError, View
from sim.compiler.registry import compiles, desc_k

__all__ = ["bmm", "bmm_widths"]


def bmm_widths(op: Op, heads: int) -> list[dict]:
    """The MAC array's width constants of an int_bmm, per head.

    Parameters
    ----------
    op : golden.netspec.Op
        An int_bmm op record (``a_bits``/``b_bits``: one width or one per head).
    heads : int
        Number of heads.

    Returns
    -------
    list of dict
        ``{w_bits, a_bits, w_signed, a_signed}`` per head, the MAC descriptor's constants
        (:func:`sim.compiler.registry.desc_k`): the second operand is the weight. An
        unsigned weight is sent as a signed one a bit wider (the same zero-extended codes),
        so the array's accumulator, sized for signed weights, holds every product.
    """
    def per(bits):
        return [int(b) for b in np.broadcast_to(np.asarray(bits).reshape(-1), (heads,))]

    wb = [b + (0 if op.b_signed else 1) for b in per(op.b_bits)]
    return [{"w_bits": w, "a_bits": a, "w_signed": 1, "a_signed": int(bool(op.a_signed))}
            for w, a in zip(wb, per(op.a_bits), strict=True)]


def _transpose_pad(c, op, vv, tp: int):
    """Emit a requantiser copy of ``v`` transposed and zero-padded; return its view.

    The copy is ``clamp((v * mult + 1) >> 1)`` (shift 1, the clamp the widest head's range
    of ``v``) with ``mult`` 2 on the ``N`` real rows, so it is ``v``, and 0 on the
    ``tp - N`` padding rows, which read whatever follows ``v`` (cut to the accumulator
    field, times 0: 0). ``lanes`` elements of a ``v`` row a beat; the writer stores one
    element a cycle (transposed).

    Parameters
    ----------
    c : sim.compiler.context.Context
    op : golden.netspec.Op
        The ``attn @ v`` int_bmm op (the descriptor is counted as its).
    vv : sim.compiler.program.View
        ``v`` ``[H, N, D]``.
    tp : int
        Padded reduction length, ``>= N``.

    Returns
    -------
    sim.compiler.program.View
        A new contiguous ``[H, D, tp]`` buffer: ``v^T`` in columns ``0..N-1``, zeros after.

    Raises
    ------
    CompileError
        ``D`` is not a multiple of the requantiser's lanes, ``v`` is wider than its output,
        or the accelerator has no requantiser.
    """
    cfg = c.unit_cfg("requant")
    h, n, d = vv.shape
    if d % cfg.lanes:
        raise CompileError(f"op {op.name!r}: head width {d} is not a multiple of the "
                           f"requantiser's {cfg.lanes} lanes")
    vt = c.new_view((h, d, tp))
    out = View(vt.addr, (h, tp, d), (vt.strides[0], 1, vt.strides[1]))
    src = View(vv.addr, (h, tp, d), vv.strides)
    mult = np.where(np.arange(tp) < n, 2, 0)[None, :, None]
    bits = max(int(b) for b in np.asarray(op.b_bits).reshape(-1))
    signed = bool(op.b_signed)
    if bits > cfg.out_bits:
        raise CompileError(f"op {op.name!r}: {bits}-bit v is wider than the requantiser's "
                           f"{cfg.out_bits}-bit output")
    elementwise(c, op, slot="requant", ln=cfg.lanes, out=out, wwidth=bits, wsigned=signed,
                k=desc_k("requant", shift=1, bits=bits, signed=signed),
                sources=[("act", src, cfg.acc_bits, 0), ("param", mult, cfg.mult_bits),
                         ("param", np.zeros(1, np.int64), cfg.bias_bits)])
    return vt


@compiles("mac_array", "int_bmm")
def bmm(c, op):
    """Emit the MAC-array descriptors of an ``int_bmm`` op (tiling: the module doc).

    Contract: the results are the exact products of :func:`golden.headwise.int_bmm` for
    one image, written as ``acc_bits`` codes to the output's view (a new contiguous
    ``[H, M, N]`` buffer with ``R - 1`` spare elements for ``q @ k^T``; for ``attn @ v``
    the view a later ``merge_heads`` made, or a new one). The heads' widths must fit the
    array's ``max_bits`` (an unsigned right operand one bit more), ``q @ k^T``'s reduction
    must be a multiple of ``C``; ``attn @ v`` first emits :func:`_transpose_pad`.

    Raises
    ------
    CompileError
        An operand is not ``[H, M, K]``, too wide, a reduction does not tile, or an
        existing output view cannot take the spilled or padded lanes.
    """
    cfg = c.unit_cfg("mac")
    R, C, fb = cfg.rows, cfg.cols, cfg.field_bits
    a_name, b_name = op.inputs
    av, bv = c.view(a_name), c.view(b_name)
    if len(av.shape) != 3 or len(bv.shape) != 3:
        raise CompileError(f"op {op.name!r}: int_bmm over [H, M, K] operands of one image")
    h, m, k = av.shape
    widths = bmm_widths(op, h)
    if max(max(w["w_bits"], w["a_bits"]) for w in widths) > cfg.max_bits:
        raise CompileError(f"op {op.name!r}: operands wider than the MAC array's "
                           f"{cfg.max_bits} bits")
    if op.trans_b:
        n = bv.shape[1]
        if k % C:
            raise CompileError(f"op {op.name!r}: reduction {k} is not a multiple of {C} "
                               f"columns")
        name = op.outputs[0]
        if name in c.views:
            out = c.views[name]
            if n % R or out.strides[-1] != 1:
                raise CompileError(f"op {op.name!r}: its output is a strided view and {n} "
                                   f"keys are not a multiple of {R} rows")
        else:
            ntile = -(-n // R) * R
            addr = c.act.alloc(h * m * n + ntile - n)
            out = View(addr, (h, m, n), (m * n, n, 1))
            c.views[name] = out
        kk = k
        steps = [(av, [av.strides[0], av.strides[1], 0, C * av.strides[2]]),
                 (bv, [bv.strides[0], 0, R * bv.strides[1], C * bv.strides[2]])]
        w_row = bv.strides[1]
    else:
        n = bv.shape[2]  # outputs: the head width of v
        if bv.shape[1] != k:
            raise CompileError(f"op {op.name!r}: reduction lengths {k} and {bv.shape[1]} "
                               f"differ")
        kk = -(-k // C) * C
        wdim = _transpose_pad(c, op, bv, kk)
        out = c.out_view(op.outputs[0], pad_last=R)
        if n % R and out.strides[-1] * -(-n // R) * R > out.strides[-2]:
            raise CompileError(f"op {op.name!r}: {n} outputs are not a multiple of {R} "
                               f"rows and the output rows are not padded")
        steps = [(av, [av.strides[0], av.strides[1], 0, C * av.strides[2]]),
                 (wdim, [wdim.strides[0], 0, R * wdim.strides[1], C])]
        w_row = wdim.strides[1]
    ws_full = [out.strides[0], out.strides[1], R * out.strides[2]]
    for first, count in tiling.runs(widths):  # one descriptor each: widths are constants
        nest = tiling.matmul([count, m], n, kk, R, C)
        loops = nest.rn
        (a_view, a_str), (w_view, w_str) = steps
        a = act(a_view.part(0, first, count), loops=loops, loop_strides=a_str, ln=C,
                stride=a_view.strides[-1], ebits=fb)
        w = act(w_view.part(0, first, count), loops=loops, loop_strides=w_str, ln=C,
                stride=w_view.strides[-1], ebits=fb, rows=R, row_stride=w_row)
        o = out.part(0, first, count)
        ws = tuple(0 if nl == 1 else x for nl, x in zip(loops[:3], ws_full, strict=True))
        vec = out.strides[2] == 1 and o.addr % R == 0 and all(x % R == 0 for x in ws)
        c.emit(op, OpDesc(unit="mac", **nest.fields(), beat_cycles=beat_cycles([a, w]),
                          ops=(a, w), wbase=o.addr, ws=(0,) + ws, wvec=vec,
                          wt=1 if vec else out.strides[2], wwidth=cfg.acc_bits,
                          k=desc_k("mac", **widths[first])))
