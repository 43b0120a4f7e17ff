"""The requantiser's sim part: op compiler, sizing and cycle model.

- ``requant`` ops compile to one elementwise descriptor per run of heads sharing a
  clamp (head-wise widths: :func:`clamp_runs`);
- sized ``LANES`` wide for the widest input, output, multiplier and bias;
- a beat a cycle, pipelined (:func:`sim.compiler.timing.pipelined`).
"""

from __future__ import annotations

import numpy as np

from golden.kernels import clamp_width, grid_width, signed_bits
from golden.spec import RequantCfg
from sim.compiler import tiling
from sim.compiler.operands import elementwise
from sim.compiler.program import CompileError
from sim.compiler.registry import compiles, cycle_model, desc_k, sizes
from sim.compiler.sizing import LANES, widest
from sim.compiler.timing import pipelined

__all__ = ["clamp_runs", "requant"]

cycle_model("requant")(pipelined)


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
                    wwidth=bits, wsigned=signed,
                    k=desc_k("requant", shift=op.shift, bits=bits, signed=signed),
                    sources=[("act", c.view(x).part(axis, start, count), cfg.acc_bits, 0),
                             ("param", params[0], cfg.mult_bits),
                             ("param", params[1], cfg.bias_bits)])


@sizes("requant")
def _size(net, by_kind):
    ops = by_kind.get("requant")
    if not ops:
        return {}
    bits = max(run[3] for op in ops
               for run in clamp_runs(op, net.tensors[op.outputs[0]].shape[1:]))
    return {"requant": RequantCfg(
        lanes=LANES, acc_bits=widest(net, ops), out_bits=grid_width(bits, 31),
        mult_bits=grid_width(max(signed_bits(net.tensors[op.inputs[1]]) for op in ops), 32),
        bias_bits=grid_width(max(signed_bits(net.tensors[op.inputs[2]]) for op in ops),
                             60, 16))}
