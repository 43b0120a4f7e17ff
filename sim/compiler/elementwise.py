"""Op compilers of the elementwise units: threshold, requantiser, residual and the GSB
encoder (tiling: :func:`sim.compiler.tiling.elementwise`; GELU's is in its part,
:mod:`sim.compiler.parts.gelu`).

A requantiser whose clamp differs between heads (head-wise widths) gets one descriptor
per run of heads (:func:`clamp_runs`).
"""

from __future__ import annotations

import numpy as np

from golden.cases_threshold import clamp_theta
from golden.kernels import clamp_width
from sim.compiler import tiling
from sim.compiler.operands import elementwise
from sim.compiler.program import CompileError, View
from sim.compiler.registry import compiles, desc_k

__all__ = ["add", "clamp_runs", "encoder", "requant", "threshold"]


@compiles("threshold", "threshold")
def threshold(c, op):
    cfg = c.unit_cfg("threshold")
    x, theta, flip = op.inputs
    xv = c.view(x)
    out = c.out_view(op.outputs[0], fmt="bits", group=cfg.lanes, pad_rows=True)
    theta, flip = clamp_theta(cfg, c.value(theta)), c.value(flip)
    if len(out.shape) == len(xv.shape) + 1:  # chunked keys (key_layout): split the last axis
        chunk = out.shape[-1]
        xv = View(xv.addr, xv.shape[:-1] + (xv.shape[-1] // chunk, chunk),
                  xv.strides[:-1] + (chunk * xv.strides[-1], xv.strides[-1]), xv.fmt, xv.group)
        theta, flip = (np.reshape(a, a.shape[:-1] + (a.shape[-1] // chunk, chunk))
                       for a in (np.asarray(theta), np.asarray(flip)))
    elementwise(c, op, slot="threshold", ln=cfg.lanes, out=out, wpack=True,
                sources=[("act", xv, cfg.x_bits, 0), ("param", theta, cfg.x_bits + 1),
                         ("param", flip, 1)])


def clamp_runs(op, shape) -> list[tuple[int, int, int, int, bool]]:
    """The slices of a requant output that share one clamp (head-wise widths: one a head).

    Parameters
    ----------
    op : golden.netspec.Op
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
        The clamps vary along more than one axis, or a clamp is not the full range of a
        width.
    """
    lo = np.broadcast_to(np.asarray(op.lo, np.int64), shape)
    hi = np.broadcast_to(np.asarray(op.hi, np.int64), shape)
    both = np.stack([lo, hi], axis=-1)
    axes = [ax for ax in range(len(shape))
            if not np.all(both == np.take(both, [0], axis=ax))]
    if len(axes) > 1:
        raise CompileError(f"op {op.name!r}: its clamps vary along axes {axes}; the "
                           f"requantiser takes one width a descriptor, split along one axis")
    ax = axes[0] if axes else 0
    pairs = np.moveaxis(both, ax, 0).reshape(shape[ax] if shape else 1, -1, 2)[:, 0]
    pairs = [tuple(pair) for pair in pairs.tolist()]
    out = []
    for st, n in tiling.runs(pairs):
        width = clamp_width(*pairs[st])
        if width is None:
            raise CompileError(f"op {op.name!r}: clamp [{pairs[st][0]}, {pairs[st][1]}] "
                               f"is not the range of a width")
        out.append((ax, st, n) + width)
    return out


@compiles("requant", "requant")
def requant(c, op):
    """Emit the requantiser descriptors of ``op``: one per run of heads sharing a clamp
    (:func:`clamp_runs`; one over the whole output when its clamp is one), each over the
    slice of the input, output and per-channel parameters. When there are several, a
    slice whose last axis is not a multiple of the lanes is written in whole beats (flat):
    the excess lands in the next slice (rewritten by its later descriptor) or, for the
    last, must stay in the buffer's region (else :class:`CompileError`)."""
    cfg = c.unit_cfg("requant")
    x, mult, bias = op.inputs
    out = c.out_view(op.outputs[0])
    shape = out.shape
    runs = clamp_runs(op, shape)
    region_end = next(a + n for a, n in c.act.regions if a <= out.addr < a + n) \
        if out.addr >= c.act.base else None
    for axis, start, count, bits, signed in runs:
        cut = (slice(None),) * axis + (slice(start, start + count),)
        part = out.part(axis, start, count)
        numel = int(np.prod(part.shape))
        if (len(runs) > 1 and part.shape[-1] % cfg.lanes and region_end is not None
                and part.addr + -(-numel // cfg.lanes) * cfg.lanes > region_end):
            raise CompileError(f"op {op.name!r}: its last head's whole beats pass the end "
                               f"of its buffer")
        params = [np.broadcast_to(np.asarray(c.value(n), np.int64), shape)[cut]
                  for n in (mult, bias)]
        elementwise(c, op, slot="requant", ln=cfg.lanes, out=part,
                    wbits=bits, wsigned=signed,
                    k=desc_k("requant", shift=op.shift, bits=bits, signed=signed),
                    sources=[("act", c.view(x).part(axis, start, count), cfg.acc_bits, 0),
                             ("param", params[0], cfg.mult_bits),
                             ("param", params[1], cfg.bias_bits)])


@compiles("residual", "add")
def add(c, op):
    cfg = c.unit_cfg("residual")
    out = c.out_view(op.outputs[0])
    sources = []
    for name in op.inputs:
        if c.is_param(name):
            sources.append(("param", c.value(name), cfg.in_bits))
        else:
            sources.append(("act", c.view(name), cfg.in_bits, 0))
    elementwise(c, op, slot="residual", ln=cfg.lanes, out=out, sources=sources,
                wbits=min(op.out_bits, 32))


@compiles("gsb_encoder", "gsb_value_planes", "gsb_attn_planes")
def encoder(c, op):
    cfg = c.unit_cfg("gsb_encoder")
    xv = c.view(op.inputs[0])
    out = c.new_view(xv.shape, fmt="planes")
    for name in op.outputs:
        c.views[name] = out
    value = op.kind == "gsb_value_planes"
    theta = 0 if value else int(op.base_theta)
    if out.shape[-1] % cfg.lanes and (not xv.contiguous()
                                      or int(np.prod(xv.shape)) % cfg.lanes):
        raise CompileError(f"op {op.name!r}: the encoder reads whole beats of a "
                           f"contiguous tensor (its max/min must not see padding)")
    elementwise(c, op, slot="gsb_encoder", ln=cfg.lanes, out=out, wbits=1 + len(cfg.ratios),
                wsigned=False, k=desc_k("gsb_encoder", theta=theta, two_tailed=value),
                last_level=0,
                sources=[("act", xv, cfg.x_bits, 0)])
