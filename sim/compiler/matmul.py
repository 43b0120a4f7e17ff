"""What the matmul op compilers with stationary weights share (the binary array's,
:mod:`sim.compiler.parts.binary_array`; the MAC array's, :mod:`sim.compiler.parts.mac_array`):
weight tiles and the chunk-major key layout of ``q @ k^T`` (tiling:
:func:`sim.compiler.tiling.matmul`).

On the ``R x C`` array, activation bits are read packed (groups of the threshold unit's
lanes), weights as per-beat ``R x C`` tiles packed at ``w_bits``; ``q @ k^T`` takes ``R``
key rows as the weight tile (keys wider than ``C`` columns are written chunk-major,
``[H, D / C, N, C]``, so a tile is one vector read: :func:`key_layout`).
"""

from __future__ import annotations

import numpy as np

from sim.compiler import tiling
from sim.compiler.program import ALIGN_ROWS, View

__all__ = ["key_layout", "weight_tiles"]


def weight_tiles(w: np.ndarray, rows: int, cols: int) -> np.ndarray:
    """``w [N, K]`` as beat tiles ``[ceil(N/rows), K/cols, rows*cols]`` (zero rows pad)."""
    n, k = w.shape
    np_ = -(-n // rows) * rows
    w = np.concatenate([w, np.zeros((np_ - n, k), w.dtype)])
    return w.reshape(np_ // rows, rows, k // cols, cols).transpose(0, 2, 1, 3).reshape(
        np_ // rows, k // cols, rows * cols)


def key_layout(c, op) -> None:
    """Lay out the keys of a ``q @ k^T`` (``op``) so that the ``R`` rows of one tile are
    whole vector reads instead of a row a sub-cycle: chunk-major when a key row spans
    several ``C``-column chunks (:func:`sim.compiler.tiling.chunked_keys`; the keys get a
    4-D view ``[H, N, chunks, C]`` whose chunk axis is the outermost in memory, which its
    threshold writes that way, see :func:`sim.compiler.parts.threshold.threshold`; the
    package's ``[H, N, D]`` shape is kept in ``c.key_shapes`` for the read-back), and a
    head's (or chunk's) rows padded to a multiple of ``R`` where ``ALIGN_ROWS`` padding
    would leave a tile straddling two heads. Only keys a threshold produces, with no view
    yet, are laid out."""
    if op.kind != "binary_matmul" or "threshold" not in c.cfg.units:
        return
    w_name = op.inputs[1]
    slot = "binary_xnor" if op.mode == "xnor" else "binary_and"
    producer = next((o for o in c.net.ops if w_name in o.outputs), None)
    if (producer is None or producer.kind != "threshold" or w_name in c.views
            or slot not in c.cfg.units):
        return
    g, C, R = c.cfg.units["threshold"].lanes, c.cfg.units[slot].cols, c.cfg.units[slot].rows
    shape = tuple(int(x) for x in c.value(w_name).shape)
    if len(shape) != 3:
        return
    h, n, d = shape
    rows = -(-n // ALIGN_ROWS) * ALIGN_ROWS
    chunked = tiling.chunked_keys(d, C, g)
    if not chunked and (rows % R == 0 or d % g):
        return  # the ALIGN_ROWS layout the threshold makes already keeps tiles in a head
    rows = -(-rows // R) * R
    if not chunked:
        vl = d // g
        c.views[w_name] = View(c.act.alloc(h * rows * vl), shape, (rows * vl, vl, 1), "bits",
                               g)
        return
    chunks, vl = d // C, C // g
    addr = c.act.alloc(h * chunks * rows * vl)
    c.views[w_name] = View(addr, (h, n, chunks, C), (chunks * rows * vl, vl, rows * vl, 1),
                           "bits", g)
    c.key_shapes[w_name] = shape
