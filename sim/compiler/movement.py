"""Data movement (split/merge heads, prepend, take token): no descriptor; the producer
writes into, or the consumer reads from, a strided view."""

from __future__ import annotations

import numpy as np

from sim.compiler.program import View

__all__ = ["MOVES", "data_movement"]

#: Op kinds that only move data.
MOVES = ("split_heads", "to_heads", "take_token", "prepend", "merge_heads")


def data_movement(c, op, *, backward: bool) -> None:
    """Resolve a data-movement op into views (``backward``: producers' aliases first)."""
    kind = op.kind
    if backward:
        if kind == "prepend":
            x_name, rows_name = op.inputs
            rows = c.value(rows_name)
            shape = c.value(op.outputs[0]).shape
            init = np.zeros(shape, np.int64)
            init[:rows.shape[0]] = rows
            addr = c.pre.put(init)
            out = View(addr, tuple(shape), (shape[1], 1))
            c.views[op.outputs[0]] = out
            c.views[x_name] = View(addr + rows.shape[0] * shape[1],
                                   tuple(c.value(x_name).shape), (shape[1], 1))
        elif kind == "merge_heads":
            out = c.out_view(op.outputs[0])
            hh, n, d = c.value(op.inputs[0]).shape
            c.views[op.inputs[0]] = View(out.addr, (hh, n, d), (d, out.strides[0], 1))
        return
    if kind in ("prepend", "merge_heads"):
        return
    x = c.view(op.inputs[0])
    if kind == "take_token":
        c.views[op.outputs[0]] = x.sub(0, op.index)
    elif kind in ("split_heads", "to_heads"):
        hh = op.num_heads
        parts = len(op.outputs)
        d = x.shape[1] // parts // hh
        for i, name in enumerate(op.outputs):
            c.views[name] = View(x.addr + i * hh * d * x.strides[1], (hh, x.shape[0], d),
                                 (d * x.strides[1], x.strides[0], x.strides[1]), x.fmt, x.group)
