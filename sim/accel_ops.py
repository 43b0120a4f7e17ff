"""One compiler per network op kind: the descriptors that run it on the accelerator.

The tiling and loop order of each kind is written down in :mod:`sim.accel_compile`; the
descriptor semantics in :mod:`golden.accel_program`. :func:`accel_config_for` sizes the
accelerator's units to a network package.

Per-head integer matmuls (``int_bmm``, Q-ViT and integer-attention networks) run on the
``R x C`` MAC array, one descriptor per run of heads at the same widths (the widths are
descriptor constants), the reduction innermost:

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

A requantiser whose clamp differs between heads (head-wise widths) gets one descriptor
per run of heads (:func:`_clamp_runs`).
"""

from __future__ import annotations

import numpy as np

from golden.accel_program import NUM_LOOPS, AccelTopCfg, OpDesc, Operand

__all__ = ["OP_COMPILERS", "accel_config_for", "data_movement"]

LANES = 8  # elementwise units
ROWS, COLS = 8, 32  # binary array
MAC_ROWS = 4


def _err(msg):
    from sim.accel_compile import CompileError

    return CompileError(msg)


def _loops(dims) -> tuple:
    dims = [int(d) for d in dims]
    if len(dims) > NUM_LOOPS:
        raise _err(f"{len(dims)} loop levels; the sequencer has {NUM_LOOPS}")
    return (1,) * (NUM_LOOPS - len(dims)) + tuple(dims)


def _pad(strides) -> tuple:
    return (0,) * (NUM_LOOPS - len(strides)) + tuple(int(s) for s in strides)


def _act(view, *, loops, loop_strides, ln: int, stride: int, ebits: int,
         shift: int = 0, rows: int = 1, row_stride: int = 0) -> Operand:
    """``ln`` elements a beat ``stride`` apart from the beat address (of each of ``rows``
    rows ``row_stride`` apart: element ``r * ln + i`` of the beat): one vector read a row
    when they are consecutive and the beat and row addresses are multiples of ``ln``, else
    one element a sub-cycle. A loop of one trip never moves the address, so its stride is
    dropped (it must not spoil the alignment)."""
    s = tuple(0 if n == 1 else x for n, x in zip(loops, _pad(loop_strides), strict=True))
    aligned = view.addr % ln == 0 and row_stride % ln == 0 and all(x % ln == 0 for x in s)
    if stride == 1 and aligned and ln & (ln - 1) == 0:
        return Operand(base=view.addr, s=s, n_in=1, vl_log=ln.bit_length() - 1, ebits=ebits,
                       shift=shift, n_out=rows, d_out=row_stride)
    return Operand(base=view.addr, s=s, n_in=ln, d_in=stride, ebits=ebits, shift=shift,
                   n_out=rows, d_out=row_stride)


def _beat_cycles(ops) -> int:
    return max(1, *(o.sub_cycles for o in ops))


def _unit_cfg(c, slot):
    if slot not in c.cfg.units:
        raise _err(f"the accelerator has no {slot} unit")
    return c.cfg.units[slot]


# ------------------------------------------------------------------------ elementwise


def _elementwise(c, op, *, slot, sources, out, ln, k=(), wbits=32, wsigned=True,
                 last_level=4, wpack=False):
    """Descriptor of an elementwise unit over the shape of ``out`` (``sources``: operand
    order, each ``("act", view, ebits, shift)`` or ``("param", array, bits)``)."""
    shape = out.shape
    acts = [s[1] for s in sources if s[0] == "act"]
    structured = shape[-1] % ln == 0
    if structured:
        dims = list(shape[:-1]) + [shape[-1] // ln]
        loops = _loops(dims)
    else:
        if wpack or not all(v.contiguous() for v in [*acts, out]):
            raise _err(f"op {op['name']!r}: last axis {shape[-1]} is not a multiple of "
                       f"{ln} lanes and its tensors are not contiguous")
        numel = int(np.prod(shape))
        loops = _loops([-(-numel // ln)])
    operands = []
    for src in sources:
        if src[0] == "act":
            _, v, ebits, shift = src
            if structured:
                ls = list(v.strides[:-1]) + [ln * v.strides[-1]]
                operands.append(_act(v, loops=loops, loop_strides=ls, ln=ln, stride=v.strides[-1],
                                     ebits=ebits, shift=shift))
            else:
                operands.append(_act(v, loops=loops, loop_strides=[ln], ln=ln, stride=1,
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
        ws = _pad(list(out.strides[:-1]) + [out.strides[-1] if wpack else ln * last])
        vec = not wpack and last == 1 and out.addr % ln == 0 and all(x % ln == 0 for x in ws)
        wt = last
    else:
        ws, vec, wt = _pad([ln]), out.addr % ln == 0, 1
    desc = OpDesc(unit=slot, rn=loops, last_level=last_level, beat_cycles=_beat_cycles(operands),
                  ops=tuple(operands), wn=loops, wbase=out.addr, ws=ws, wc=ln, wt=wt,
                  wvec=vec, wpack=wpack, wbits=wbits, wsigned=wsigned, k=tuple(k))
    c.emit(op, desc)


def _threshold(c, op):
    from golden.cases_threshold import clamp_theta
    from sim.accel_compile import View

    cfg = _unit_cfg(c, "threshold")
    x, theta, flip = op["inputs"]
    xv = c.view(x)
    out = c.out_view(op["outputs"][0], fmt="bits", group=cfg.lanes, pad_rows=True)
    theta, flip = clamp_theta(cfg, c.value(theta)), c.value(flip)
    if len(out.shape) == len(xv.shape) + 1:  # chunked keys (key_layout): split the last axis
        chunk = out.shape[-1]
        xv = View(xv.addr, xv.shape[:-1] + (xv.shape[-1] // chunk, chunk),
                  xv.strides[:-1] + (chunk * xv.strides[-1], xv.strides[-1]), xv.fmt, xv.group)
        theta, flip = (np.reshape(a, a.shape[:-1] + (a.shape[-1] // chunk, chunk))
                       for a in (np.asarray(theta), np.asarray(flip)))
    _elementwise(c, op, slot="threshold", ln=cfg.lanes, out=out, wpack=True,
                 sources=[("act", xv, cfg.x_bits, 0), ("param", theta, cfg.x_bits + 1),
                          ("param", flip, 1)])


def _clamp_runs(op, shape) -> list[tuple[int, int, int, int, bool]]:
    """The slices of a requant output that share one clamp (head-wise widths: one a head).

    Parameters
    ----------
    op : dict
        A requant op record; ``lo``/``hi`` broadcast against ``shape``.
    shape : tuple
        The output's shape for one image.

    Returns
    -------
    list of tuple
        ``(axis, start, count, bits, signed)`` runs of consecutive indices along the one
        axis the clamps vary over (one run over axis 0 when they do not vary), each with the
        width whose full range is its clamp, in index order.

    Raises
    ------
    CompileError
        The clamps vary along more than one axis.
    golden.cut.CutError
        A clamp is not the full range of a width.
    """
    from golden.cut import _clamp_bits

    lo = np.broadcast_to(np.asarray(op["lo"], np.int64), shape)
    hi = np.broadcast_to(np.asarray(op["hi"], np.int64), shape)
    both = np.stack([lo, hi], axis=-1)
    axes = [ax for ax in range(len(shape))
            if not np.all(both == np.take(both, [0], axis=ax))]
    if len(axes) > 1:
        raise _err(f"op {op['name']!r}: its clamps vary along axes {axes}; the requantiser "
                   f"takes one width a descriptor, split along one axis")
    ax = axes[0] if axes else 0
    pairs = np.moveaxis(both, ax, 0).reshape(shape[ax] if shape else 1, -1, 2)[:, 0]
    pairs = [tuple(pair) for pair in pairs.tolist()]
    return [(ax, st, n) + _clamp_bits(op, *pairs[st]) for st, n in _runs(pairs)]


def _slice(view, axis: int, start: int, count: int):
    """``view`` restricted to indices ``start .. start + count - 1`` along ``axis``."""
    from sim.accel_compile import View

    shape = list(view.shape)
    shape[axis] = count
    return View(view.addr + start * view.strides[axis], tuple(shape), view.strides,
                view.fmt, view.group)


def _requant(c, op):
    """Emit the requantiser descriptors of ``op``: one per run of heads sharing a clamp
    (:func:`_clamp_runs`; one over the whole output when its clamp is one), each over the
    slice of the input, output and per-channel parameters. When there are several, a
    slice whose last axis is not a multiple of the lanes is written in whole beats (flat):
    the excess lands in the next slice (rewritten by its later descriptor) or, for the
    last, must stay in the buffer's region (else :class:`CompileError`)."""
    cfg = _unit_cfg(c, "requant")
    x, mult, bias = op["inputs"]
    out = c.out_view(op["outputs"][0])
    shape = out.shape
    runs = _clamp_runs(op, shape)
    region_end = next(a + n for a, n in c.act.regions if a <= out.addr < a + n) \
        if out.addr >= c.act.base else None
    for axis, start, count, bits, signed in runs:
        cut = (slice(None),) * axis + (slice(start, start + count),)
        part = _slice(out, axis, start, count)
        numel = int(np.prod(part.shape))
        if (len(runs) > 1 and part.shape[-1] % cfg.lanes and region_end is not None
                and part.addr + -(-numel // cfg.lanes) * cfg.lanes > region_end):
            raise _err(f"op {op['name']!r}: its last head's whole beats pass the end of "
                       f"its buffer")
        params = [np.broadcast_to(np.asarray(c.value(n), np.int64), shape)[cut]
                  for n in (mult, bias)]
        _elementwise(c, op, slot="requant", ln=cfg.lanes, out=part,
                     wbits=bits, wsigned=signed, k=(op["shift"], bits, int(signed)),
                     sources=[("act", _slice(c.view(x), axis, start, count), cfg.acc_bits, 0),
                              ("param", params[0], cfg.mult_bits),
                              ("param", params[1], cfg.bias_bits)])


def _add(c, op):
    cfg = _unit_cfg(c, "residual")
    out = c.out_view(op["outputs"][0])
    sources = []
    for name in op["inputs"]:
        if c.is_param(name):
            sources.append(("param", c.value(name), cfg.in_bits))
        else:
            sources.append(("act", c.view(name), cfg.in_bits, 0))
    _elementwise(c, op, slot="residual", ln=cfg.lanes, out=out, sources=sources,
                 wbits=min(op["out_bits"], 32))


def _gelu(c, op):
    from golden.network import gelu_params_of

    cfg = _unit_cfg(c, "gelu")
    p = gelu_params_of(op)
    out = c.out_view(op["outputs"][0])
    _elementwise(c, op, slot="gelu", ln=cfg.lanes, out=out, wbits=cfg.out_bits,
                 k=(p.b, p.c, p.one, op["clip"]),
                 sources=[("act", c.view(op["inputs"][0]), cfg.in_bits, 0)])


def _encoder(c, op):
    cfg = _unit_cfg(c, "gsb_encoder")
    xv = c.view(op["inputs"][0])
    out = c.new_view(xv.shape, fmt="planes")
    for name in op["outputs"]:
        c.views[name] = out
    value = op["kind"] == "gsb_value_planes"
    theta = 0 if value else int(op["base_theta"])
    if out.shape[-1] % cfg.lanes and (not xv.contiguous()
                                      or int(np.prod(xv.shape)) % cfg.lanes):
        raise _err(f"op {op['name']!r}: the encoder reads whole beats of a contiguous "
                   f"tensor (its max/min must not see padding)")
    _elementwise(c, op, slot="gsb_encoder", ln=cfg.lanes, out=out, wbits=1 + len(cfg.ratios),
                 wsigned=False, k=(theta, int(value)), last_level=0,
                 sources=[("act", xv, cfg.x_bits, 0)])


# ------------------------------------------------------------------------ rows


def _rows(view):
    """``(loop dims, loop strides)`` over the rows of ``view`` (all axes but the last)."""
    return list(view.shape[:-1]), list(view.strides[:-1])


def _layernorm(c, op):
    cfg = _unit_cfg(c, "layernorm")
    xv = c.view(op["inputs"][0])
    out = c.out_view(op["outputs"][0])
    dims, strides = _rows(xv)
    loops = _loops(dims + [xv.shape[-1]])
    src = _act(xv, loops=loops, loop_strides=strides + [xv.strides[-1]], ln=1, stride=1,
               ebits=cfg.in_bits)
    odims, ostr = _rows(out)
    desc = OpDesc(unit="layernorm", rn=loops, ops=(src,), wn=loops, wbase=out.addr,
                  ws=_pad(ostr + [out.strides[-1]]), wc=1, wvec=True, wbits=32)
    c.emit(op, desc)


def _softmax(c, op):
    from golden.network import softmax_params_of

    cfg = _unit_cfg(c, "softmax")
    p = softmax_params_of(op)
    xv = c.view(op["inputs"][0])
    out = c.out_view(op["outputs"][0])
    dims, strides = _rows(xv)
    loops = _loops(dims + [xv.shape[-1]])
    src = _act(xv, loops=loops, loop_strides=strides + [xv.strides[-1]], ln=1, stride=1,
               ebits=cfg.x_bits,
               shift=op["in_shift"])
    _, ostr = _rows(out)
    desc = OpDesc(unit="softmax", rn=loops, last_level=NUM_LOOPS - 1, ops=(src,), wn=loops,
                  wbase=out.addr, ws=_pad(ostr + [out.strides[-1]]), wc=1, wvec=True,
                  wbits=p.out_bits, wsigned=False,
                  k=(p.x0, p.b, p.c, p.n, p.floor_q, p.out_bits))
    c.emit(op, desc)


# ------------------------------------------------------------------------ matmuls


def _tiles(w: np.ndarray, rows: int, cols: int) -> np.ndarray:
    """``w [N, K]`` as beat tiles ``[ceil(N/rows), K/cols, rows*cols]`` (zero rows pad)."""
    n, k = w.shape
    np_ = -(-n // rows) * rows
    w = np.concatenate([w, np.zeros((np_ - n, k), w.dtype)])
    return w.reshape(np_ // rows, rows, k // cols, cols).transpose(0, 2, 1, 3).reshape(
        np_ // rows, k // cols, rows * cols)


def _binary(c, op):
    slot = "binary_xnor" if op["mode"] == "xnor" else "binary_and"
    cfg = _unit_cfg(c, slot)
    R, C = cfg.rows, cfg.cols
    a_name, w_name = op["inputs"]
    av = c.view(a_name)
    g = av.group
    if av.fmt != "bits" or C % g:
        raise _err(f"op {op['name']!r}: activation bits must come packed in groups dividing "
                   f"{C}")
    vl = C // g
    k = av.shape[-1]
    if k % C:
        raise _err(f"op {op['name']!r}: reduction {k} is not a multiple of {C} columns")
    kc = k // C
    if len(av.shape) == 3:  # q @ k^T per head
        kv = c.view(w_name)
        h, m, n = av.shape[0], av.shape[1], kv.shape[1]
        out = c.out_view(op["outputs"][0], pad_last=R)
        loops = _loops([h, m, -(-n // R), kc])
        a = _act(av, loops=loops, loop_strides=[av.strides[0], av.strides[1], 0, vl], ln=vl,
                 stride=1,
                 ebits=g)
        # chunked keys (key_layout) step to the next chunk plane; row-major ones along the row
        ks = [kv.strides[0], 0, R * kv.strides[1],
              kv.strides[2] if len(kv.shape) == 4 else vl]
        if kv.strides[1] == vl and (R * vl) <= c.L:
            w = _act(kv, loops=loops, loop_strides=ks, ln=R * vl, stride=1, ebits=g)
        else:
            w = Operand(base=kv.addr, s=_pad(ks), n_in=1, vl_log=vl.bit_length() - 1,
                        n_out=R, d_out=kv.strides[1], ebits=g)
        ws = _pad([out.strides[0], out.strides[1], R, 0])
    else:
        m, n = av.shape[0], c.value(w_name).shape[0]
        out = c.out_view(op["outputs"][0], pad_last=R)
        loops = _loops([m, -(-n // R), kc])
        a = _act(av, loops=loops, loop_strides=[av.strides[0], 0, vl], ln=vl, stride=1, ebits=g)
        tiles = _tiles(c.value(w_name), R, C)
        full = np.broadcast_to(tiles[None], (m,) + tiles.shape)
        w = c.param_operand(full.reshape(*loops, R * C), 1, loops)
        ws = _pad([out.strides[0], R, 0])
    # the writer stores one beat per reduction: its loops are the reader's without k
    c.emit(op, OpDesc(unit=slot, rn=loops, last_level=NUM_LOOPS - 1,
                      beat_cycles=_beat_cycles([a, w]), ops=(a, w), wn=(1,) + loops[:3],
                      wbase=out.addr, ws=(0,) + ws[:3], wc=R, wvec=True, wbits=cfg.acc_bits))


def key_layout(c, op) -> None:
    """Lay out the keys of a ``q @ k^T`` (``op``) chunk-major when a key row spans several
    ``C``-column chunks, so the ``R`` rows of one tile are one vector read instead of a row
    a sub-cycle: the keys get a 4-D view ``[H, N, chunks, C]`` whose chunk axis is the
    outermost in memory (its threshold writes it that way, see :func:`_threshold`); the
    package's ``[H, N, D]`` shape is kept in ``c.key_shapes`` for the read-back. Only keys
    a threshold produces, with no view yet, are laid out."""
    from sim.accel_compile import ALIGN_ROWS, View

    if op["kind"] != "binary_matmul" or "threshold" not in c.cfg.units:
        return
    w_name = op["inputs"][1]
    slot = "binary_xnor" if op["mode"] == "xnor" else "binary_and"
    producer = next((o for o in c.net.ops if w_name in o["outputs"]), None)
    if (producer is None or producer["kind"] != "threshold" or w_name in c.views
            or slot not in c.cfg.units):
        return
    g, C = c.cfg.units["threshold"].lanes, c.cfg.units[slot].cols
    shape = tuple(int(x) for x in c.value(w_name).shape)
    if len(shape) != 3 or C % g or shape[-1] % C or shape[-1] == C:
        return
    h, n, chunks, vl = shape[0], shape[1], shape[2] // C, C // g
    rows = -(-n // ALIGN_ROWS) * ALIGN_ROWS
    addr = c.act.alloc(h * chunks * rows * vl)
    c.views[w_name] = View(addr, (h, n, chunks, C), (chunks * rows * vl, vl, rows * vl, 1),
                           "bits", g)
    c.key_shapes[w_name] = shape


def _mac(c, op):
    cfg = _unit_cfg(c, "mac")
    R, C, fb = cfg.rows, cfg.cols, cfg.field_bits
    x_name, w_name = op["inputs"]
    xv, w = c.view(x_name), c.value(w_name)
    n, k = w.shape
    if k % C:
        raise _err(f"op {op['name']!r}: reduction {k} is not a multiple of {C} columns")
    tiles = _tiles(w, R, C)
    nr = tiles.shape[0]
    if op["kind"] == "patch_matmul":
        ch, hh, ww = xv.shape
        p = op["patch"]
        if ch != 1 or C != p * p:
            raise _err(f"op {op['name']!r}: the MAC array takes one {p}x{p} patch of one "
                       f"channel a beat (cols = {p * p}); this has {ch} channels, {C} columns")
        hp, wp = hh // p, ww // p
        out = c.out_view(op["outputs"][0], pad_last=R)
        loops = _loops([hp, wp, nr, 1])
        a = Operand(base=xv.addr, s=_pad([p * xv.strides[1], p, 0, 0]), n_in=1,
                    vl_log=(p.bit_length() - 1), n_out=p, d_out=xv.strides[1], ebits=fb)
        if p & (p - 1) or xv.addr % p or xv.strides[1] % p:
            raise _err(f"op {op['name']!r}: patch rows must be aligned vectors")
        ws = _pad([wp * out.strides[0], out.strides[0], R, 0])
        wn = (1, hp, wp, nr)
        ws = (0,) + ws[:3]
    else:
        out = c.out_view(op["outputs"][0], pad_last=R)
        rows = int(np.prod(xv.shape[:-1]))
        if len(xv.shape) > 2:
            raise _err(f"op {op['name']!r}: integer matmul over more than [M, K]")
        m_stride = xv.strides[0] if len(xv.shape) == 2 else 0
        loops = _loops([rows, nr, k // C])
        a = _act(xv, loops=loops, loop_strides=[m_stride, 0, C], ln=C, stride=xv.strides[-1],
                 ebits=fb)
        o_stride = out.strides[0] if len(out.shape) == 2 else 0
        wn, ws = (1, 1, rows, nr), (0, 0, o_stride, R)
    full = np.broadcast_to(tiles[None, None], loops[:2] + tiles.shape)
    wop = c.param_operand(full.reshape(*loops, R * C), fb, loops)
    desc = OpDesc(unit="mac", rn=loops, last_level=NUM_LOOPS - 1,
                  beat_cycles=_beat_cycles([a, wop]), ops=(a, wop), wn=wn, wbase=out.addr,
                  ws=ws, wc=R, wvec=True, wbits=cfg.acc_bits,
                  k=(op["w_bits"], op["a_bits"], 1, 1))
    c.emit(op, desc)


def _bmm_widths(op, heads: int) -> list[tuple]:
    """The MAC array's width constants of an int_bmm, per head.

    Parameters
    ----------
    op : dict
        An int_bmm op record (``a_bits``/``b_bits``: one width or one per head).
    heads : int
        Number of heads.

    Returns
    -------
    list of tuple
        ``(w_bits, a_bits, w_signed, a_signed)`` per head, the descriptor's ``k0..k3``: the
        second operand is the weight. An unsigned weight is sent as a signed one a bit wider
        (the same zero-extended codes), so the array's accumulator, sized for signed
        weights, holds every product.
    """
    def per(bits):
        return [int(b) for b in np.broadcast_to(np.asarray(bits).reshape(-1), (heads,))]

    wb = [b + (0 if op["b_signed"] else 1) for b in per(op["b_bits"])]
    return [(w, a, 1, int(bool(op["a_signed"]))) for w, a in zip(wb, per(op["a_bits"]),
                                                                    strict=True)]


def _runs(values) -> list[tuple[int, int]]:
    """``(first index, count)`` of each run of consecutive equal entries of ``values``."""
    runs: list[tuple[int, int]] = []
    for i, v in enumerate(values):
        if runs and values[runs[-1][0]] == v:
            runs[-1] = (runs[-1][0], runs[-1][1] + 1)
        else:
            runs.append((i, 1))
    return runs


def _transpose_pad(c, op, vv, tp: int):
    """Emit a requantiser copy of ``v`` transposed and zero-padded; return its view.

    The copy is ``clamp((v * mult + 1) >> 1)`` (shift 1, the clamp the widest head's range
    of ``v``) with ``mult`` 2 on the ``N`` real rows, so it is ``v``, and 0 on the
    ``tp - N`` padding rows, which read whatever follows ``v`` (cut to the accumulator
    field, times 0: 0). ``lanes`` elements of a ``v`` row a beat; the writer stores one
    element a cycle (transposed).

    Parameters
    ----------
    c : sim.accel_compile._Compiler
    op : dict
        The ``attn @ v`` int_bmm op (the descriptor is counted as its).
    vv : sim.accel_compile.View
        ``v`` ``[H, N, D]``.
    tp : int
        Padded reduction length, ``>= N``.

    Returns
    -------
    sim.accel_compile.View
        A new contiguous ``[H, D, tp]`` buffer: ``v^T`` in columns ``0..N-1``, zeros after.

    Raises
    ------
    CompileError
        ``D`` is not a multiple of the requantiser's lanes, ``v`` is wider than its output,
        or the accelerator has no requantiser.
    """
    from sim.accel_compile import View

    cfg = _unit_cfg(c, "requant")
    h, n, d = vv.shape
    if d % cfg.lanes:
        raise _err(f"op {op['name']!r}: head width {d} is not a multiple of the "
                   f"requantiser's {cfg.lanes} lanes")
    vt = c.new_view((h, d, tp))
    out = View(vt.addr, (h, tp, d), (vt.strides[0], 1, vt.strides[1]))
    src = View(vv.addr, (h, tp, d), vv.strides)
    mult = np.where(np.arange(tp) < n, 2, 0)[None, :, None]
    bits = max(int(b) for b in np.asarray(op["b_bits"]).reshape(-1))
    signed = bool(op["b_signed"])
    if bits > cfg.out_bits:
        raise _err(f"op {op['name']!r}: {bits}-bit v is wider than the requantiser's "
                   f"{cfg.out_bits}-bit output")
    _elementwise(c, op, slot="requant", ln=cfg.lanes, out=out, wbits=bits, wsigned=signed,
                 k=(1, bits, int(signed)),
                 sources=[("act", src, cfg.acc_bits, 0), ("param", mult, cfg.mult_bits),
                          ("param", np.zeros(1, np.int64), cfg.bias_bits)])
    return vt


def _bmm(c, op):
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
    from sim.accel_compile import View

    cfg = _unit_cfg(c, "mac")
    R, C, fb = cfg.rows, cfg.cols, cfg.field_bits
    a_name, b_name = op["inputs"]
    av, bv = c.view(a_name), c.view(b_name)
    if len(av.shape) != 3 or len(bv.shape) != 3:
        raise _err(f"op {op['name']!r}: int_bmm over [H, M, K] operands of one image")
    h, m, k = av.shape
    widths = _bmm_widths(op, h)
    if max(max(w[0], w[1]) for w in widths) > cfg.max_bits:
        raise _err(f"op {op['name']!r}: operands wider than the MAC array's {cfg.max_bits} "
                   f"bits")
    if op["trans_b"]:
        n = bv.shape[1]
        if k % C:
            raise _err(f"op {op['name']!r}: reduction {k} is not a multiple of {C} columns")
        name = op["outputs"][0]
        if name in c.views:
            out = c.views[name]
            if n % R or out.strides[-1] != 1:
                raise _err(f"op {op['name']!r}: its output is a strided view and {n} keys "
                           f"are not a multiple of {R} rows")
        else:
            ntile = -(-n // R) * R
            addr = c.act.alloc(h * m * n + ntile - n)
            out = View(addr, (h, m, n), (m * n, n, 1))
            c.views[name] = out
        tiles, kc, wdim = -(-n // R), k // C, bv
        steps = [(av, [av.strides[0], av.strides[1], 0, C * av.strides[2]]),
                 (bv, [bv.strides[0], 0, R * bv.strides[1], C * bv.strides[2]])]
        w_row = bv.strides[1]
    else:
        n = bv.shape[2]  # outputs: the head width of v
        if bv.shape[1] != k:
            raise _err(f"op {op['name']!r}: reduction lengths {k} and {bv.shape[1]} differ")
        kp = -(-k // C) * C
        wdim = _transpose_pad(c, op, bv, kp)
        out = c.out_view(op["outputs"][0], pad_last=R)
        if n % R and out.strides[-1] * -(-n // R) * R > out.strides[-2]:
            raise _err(f"op {op['name']!r}: {n} outputs are not a multiple of {R} rows and "
                       f"the output rows are not padded")
        tiles, kc = -(-n // R), kp // C
        steps = [(av, [av.strides[0], av.strides[1], 0, C * av.strides[2]]),
                 (wdim, [wdim.strides[0], 0, R * wdim.strides[1], C])]
        w_row = wdim.strides[1]
    ws_full = [out.strides[0], out.strides[1], R * out.strides[2]]
    for first, count in _runs(widths):  # one descriptor each: widths are constants
        loops = _loops([count, m, tiles, kc])
        (a_view, a_str), (w_view, w_str) = steps
        a = _act(_slice(a_view, 0, first, count), loops=loops, loop_strides=a_str, ln=C,
                 stride=a_view.strides[-1], ebits=fb)
        w = _act(_slice(w_view, 0, first, count), loops=loops, loop_strides=w_str, ln=C,
                 stride=w_view.strides[-1], ebits=fb, rows=R, row_stride=w_row)
        o = _slice(out, 0, first, count)
        ws = tuple(0 if nl == 1 else x for nl, x in zip(loops[:3], ws_full, strict=True))
        vec = out.strides[2] == 1 and o.addr % R == 0 and all(x % R == 0 for x in ws)
        c.emit(op, OpDesc(unit="mac", rn=loops, last_level=NUM_LOOPS - 1,
                          beat_cycles=_beat_cycles([a, w]), ops=(a, w), wn=(1,) + loops[:3],
                          wbase=o.addr, ws=(0,) + ws, wc=R, wvec=vec,
                          wt=1 if vec else out.strides[2], wbits=cfg.acc_bits,
                          k=widths[first]))


def _gsb_av(c, op):
    cfg = _unit_cfg(c, "gsb_av")
    a_name, sign_name, _, w_name = op["inputs"]
    av, vv = c.view(a_name), c.view(sign_name)
    weights = c.value(w_name)
    out = c.out_view(op["outputs"][0])
    h, n, d = vv.shape
    P, R = weights.shape
    wop = c.param_operand(weights.reshape(1, 1, 1, 1, P * R), cfg.w_bits, (1, 1, 1, 1))
    for head in range(h):
        v = vv.sub(0, head)
        a = av.sub(0, head)
        vcol = Operand(base=v.addr, s=_pad([v.strides[1]]), n_in=n, d_in=v.strides[0],
                       planes=R, pstride=cfg.max_n)
        c.emit(op, OpDesc(unit="gsb_av", rn=_loops([d]), last_level=NUM_LOOPS - 1,
                          beat_cycles=n, ops=(vcol, wop), wn=(0, 0, 0, 0)))
        arow = Operand(base=a.addr, s=_pad([a.strides[0]]), n_in=n, d_in=a.strides[1],
                       planes=P, pstride=cfg.max_n)
        o = out.sub(0, head)
        blocks = -(-d // cfg.lanes)
        c.emit(op, OpDesc(unit="gsb_av", rn=_loops([n]), last_level=NUM_LOOPS - 1,
                          beat_cycles=n, ops=(arow, wop), wn=_loops([n, blocks]),
                          wbase=o.addr, ws=_pad([o.strides[0], cfg.lanes]), wc=cfg.lanes,
                          wvec=o.strides[1] == 1, wt=o.strides[1], wbits=cfg.acc_bits))


# ------------------------------------------------------------------------ data movement


def data_movement(c, op, *, backward: bool) -> None:
    """Resolve a data-movement op into views (``backward``: producers' aliases first)."""
    from sim.accel_compile import View

    kind = op["kind"]
    if backward:
        if kind == "prepend":
            x_name, rows_name = op["inputs"]
            rows = c.value(rows_name)
            shape = c.value(op["outputs"][0]).shape
            init = np.zeros(shape, np.int64)
            init[:rows.shape[0]] = rows
            addr = c.pre.put(init)
            out = View(addr, tuple(shape), (shape[1], 1))
            c.views[op["outputs"][0]] = out
            c.views[x_name] = View(addr + rows.shape[0] * shape[1],
                                   tuple(c.value(x_name).shape), (shape[1], 1))
        elif kind == "merge_heads":
            out = c.out_view(op["outputs"][0])
            hh, n, d = c.value(op["inputs"][0]).shape
            c.views[op["inputs"][0]] = View(out.addr, (hh, n, d), (d, out.strides[0], 1))
        return
    if kind in ("prepend", "merge_heads"):
        return
    x = c.view(op["inputs"][0])
    if kind == "take_token":
        c.views[op["outputs"][0]] = x.sub(0, op["index"])
    elif kind in ("split_heads", "to_heads"):
        hh = op["num_heads"]
        parts = len(op["outputs"])
        d = x.shape[1] // parts // hh
        for i, name in enumerate(op["outputs"]):
            c.views[name] = View(x.addr + i * hh * d * x.strides[1], (hh, x.shape[0], d),
                                 (d * x.strides[1], x.strides[0], x.strides[1]), x.fmt, x.group)


OP_COMPILERS = {"threshold": _threshold, "requant": _requant, "add": _add, "gelu": _gelu,
                "gsb_value_planes": _encoder, "gsb_attn_planes": _encoder,
                "layernorm": _layernorm, "softmax": _softmax, "binary_matmul": _binary,
                "patch_matmul": _mac, "int_matmul": _mac, "int_bmm": _bmm,
                "gsb_av": _gsb_av}


# ------------------------------------------------------------------------ sizing


def _mac_cfg(net, macs: list, bmms: list):
    """The MAC array for the integer matmuls ``macs`` and the per-head ``bmms``.

    Parameters
    ----------
    net : golden.cut._Net
    macs : list of dict
        patch_matmul and int_matmul ops.
    bmms : list of dict
        int_bmm ops.

    Returns
    -------
    golden.spec.MacArrayCfg
        ``MAC_ROWS`` rows; ``cols`` the shortest matmul reduction (a patch: its ``p * p``
        pixels), else the shortest ``q @ k^T`` reduction; ``max_bits`` the widest operand
        (an unsigned int_bmm weight one bit more, :func:`_bmm_widths`) on the 8-bit grid;
        ``max_k`` the longest reduction (an int_bmm one padded to whole ``cols``). Without
        int_bmm ops it is the config sized for ``macs`` alone.
    """
    from golden.cut import _width
    from golden.spec import MacArrayCfg

    red = [net.tensors[op["inputs"][1]].shape[1] for op in macs]
    qk = [net.tensors[op["inputs"][0]].shape[-1] for op in bmms if op["trans_b"]]
    cols = min(red or qk or [16])
    bits = [max(op["a_bits"], op["w_bits"]) for op in macs]
    for op in bmms:
        heads = net.tensors[op["inputs"][0]].shape[-3]
        bits += [max(w, a) for w, a, _, _ in _bmm_widths(op, heads)]
    ks = red + [-(-net.tensors[op["inputs"][0]].shape[-1] // cols) * cols for op in bmms]
    return MacArrayCfg(rows=MAC_ROWS, cols=cols, digit_bits=2, max_bits=_width(max(bits), 16),
                       max_k=max(ks))


def accel_config_for(net) -> AccelTopCfg:
    """Unit configs sized to the ops of network ``net`` (a :class:`golden.cut._Net`)."""
    from golden.cases_gelu import GeluCfg
    from golden.cases_gsb import GsbAvCfg, GsbEncoderCfg
    from golden.cases_layernorm import LayerNormCfg
    from golden.cases_softmax import SoftmaxCfg
    from golden.cases_threshold import ThresholdCfg
    from golden.cut import _signed_bits, _width
    from golden.network import softmax_params_of
    from golden.spec import BinaryArrayCfg, RequantCfg, ResidualCfg

    by_kind: dict[str, list] = {}
    for op in net.ops:
        by_kind.setdefault(op["kind"], []).append(op)
    w = net.width
    units = {}

    def widest(kind, idx=0, top=32):
        return _width(max(w(op["inputs"][idx]) for op in by_kind[kind]), top)

    if "threshold" in by_kind:
        units["threshold"] = ThresholdCfg(lanes=LANES, x_bits=widest("threshold"))
    for mode, slot in (("xnor", "binary_xnor"), ("and", "binary_and")):
        ops = [op for op in by_kind.get("binary_matmul", []) if op["mode"] == mode]
        if ops:
            max_k = max(net.tensors[op["inputs"][0]].shape[-1] for op in ops)
            units[slot] = BinaryArrayCfg(rows=ROWS, cols=COLS, mode=mode,
                                         max_k=-(-max_k // COLS) * COLS)
    macs = by_kind.get("patch_matmul", []) + by_kind.get("int_matmul", [])
    bmms = by_kind.get("int_bmm", [])
    if macs or bmms:
        units["mac"] = _mac_cfg(net, macs, bmms)
    if "requant" in by_kind:
        ops = by_kind["requant"]
        bits = max(run[3] for op in ops
                   for run in _clamp_runs(op, net.tensors[op["outputs"][0]].shape[1:]))
        units["requant"] = RequantCfg(
            lanes=LANES, acc_bits=widest("requant"), out_bits=_width(bits, 31),
            mult_bits=_width(max(_signed_bits(net.tensors[op["inputs"][1]]) for op in ops), 32),
            bias_bits=_width(max(_signed_bits(net.tensors[op["inputs"][2]]) for op in ops),
                             60, 16))
    if "add" in by_kind:
        ops = by_kind["add"]
        in_bits = _width(max(w(n) for op in ops for n in op["inputs"]), 32)
        units["residual"] = ResidualCfg(lanes=LANES, in_bits=in_bits,
                                        out_bits=max(op["out_bits"] for op in ops))
    if "layernorm" in by_kind:
        dims = {op["dim"] for op in by_kind["layernorm"]}
        if len(dims) != 1:
            raise _err(f"LayerNorms of different widths {sorted(dims)}: one unit serves one")
        units["layernorm"] = LayerNormCfg(dim=dims.pop(), in_bits=widest("layernorm", top=16))
    if "softmax" in by_kind:
        ops = by_kind["softmax"]
        row = max(net.tensors[op["inputs"][0]].shape[-1] for op in ops)
        x_bits = _width(max(w(op["inputs"][0]) + op["in_shift"] for op in ops), 32)
        out_bits = max(op["out_bits"] for op in ops)
        cfg = SoftmaxCfg.fitting([softmax_params_of(op) for op in ops], max_len=row,
                                 x_bits=x_bits, out_bits=out_bits)
        if cfg is None:
            raise _err("the softmax constants fit no softmax config")
        units["softmax"] = cfg
    if "gelu" in by_kind:
        units["gelu"] = GeluCfg(lanes=LANES, in_bits=widest("gelu", top=24))
    enc = by_kind.get("gsb_value_planes", []) + by_kind.get("gsb_attn_planes", [])
    if enc:
        ratios = {tuple(tuple(r) for r in op["ratios"]) for op in enc}
        if len(ratios) != 1:
            raise _err("GSB ops with different ratios: one encoder serves one set")
        units["gsb_encoder"] = GsbEncoderCfg(
            lanes=LANES, x_bits=_width(max(w(op["inputs"][0]) for op in enc), 32),
            max_elems=max(int(np.prod(net.tensors[op["inputs"][0]].shape[1:])) for op in enc),
            ratios=ratios.pop())
    if "gsb_av" in by_kind:
        ops = by_kind["gsb_av"]
        sign = net.tensors[ops[0]["inputs"][1]]
        weights = [net.tensors[op["inputs"][3]] for op in ops]
        units["gsb_av"] = GsbAvCfg(lanes=LANES, max_n=sign.shape[-2], max_d=sign.shape[-1],
                                   a_planes=weights[0].shape[0], v_planes=weights[0].shape[1],
                                   w_bits=_width(max(_signed_bits(x) for x in weights), 16))
    return AccelTopCfg(lanes=32, depth=1, units=units, ext_words=2)
