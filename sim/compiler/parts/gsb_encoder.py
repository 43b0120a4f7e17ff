"""The GSB encoder's sim part: op compiler, sizing and cycle model.

- ``gsb_value_planes`` and ``gsb_attn_planes`` ops compile to one elementwise
  descriptor over the whole tensor (``last_level`` 0: its max/min see all of it);
- sized ``LANES`` wide for the largest tensor, one set of ratios;
- two passes: load every beat, then read the buffer back a beat a cycle.
"""

from __future__ import annotations

import numpy as np

from golden.cases_gsb import GsbEncoderCfg
from sim.compiler.operands import elementwise
from sim.compiler.program import CompileError
from sim.compiler.registry import compiles, cycle_model, desc_k, sizes
from sim.compiler.sizing import LANES, widest
from sim.compiler.timing import last_beat, latency

__all__ = ["encoder"]


@compiles("gsb_encoder", "gsb_value_planes", "gsb_attn_planes")
def encoder(c, op):
    cfg = c.unit_cfg("gsb_encoder")
    xv = c.view(op.inputs[0])
    out = c.new_view(xv.shape, fmt="planes")
    for name in op.outputs:
        c.views[name] = out
    value = op.kind == "gsb_value_planes"
    theta = 0 if value else int(op.base_theta)
    # the max/min must see no padding: a flat tensor's last beat is filled by its
    # producer with copies of its last element (sim.compiler.operands.feeds_encoder)
    if out.shape[-1] % cfg.lanes and (not xv.contiguous() or (
            int(np.prod(xv.shape)) % cfg.lanes and op.inputs[0] not in c.tail_copied)):
        raise CompileError(f"op {op.name!r}: the encoder reads whole beats of a "
                           f"contiguous tensor (its max/min must not see padding)")
    elementwise(c, op, slot="gsb_encoder", ln=cfg.lanes, out=out, wwidth=1 + len(cfg.ratios),
                wsigned=False, k=desc_k("gsb_encoder", theta=theta, two_tailed=value),
                last_level=0,
                sources=[("act", xv, cfg.x_bits, 0)])


@sizes("gsb_encoder")
def _size(net, by_kind):
    enc = by_kind.get("gsb_value_planes", []) + by_kind.get("gsb_attn_planes", [])
    if not enc:
        return {}
    ratios = {tuple(tuple(r) for r in op.ratios) for op in enc}
    if len(ratios) != 1:
        raise CompileError("GSB ops with different ratios: one encoder serves one set")
    return {"gsb_encoder": GsbEncoderCfg(
        lanes=LANES, x_bits=widest(net, enc),
        max_elems=-(-max(int(np.prod(net.tensors[op.inputs[0]].shape[1:])) for op in enc)
                    // LANES) * LANES,  # whole beats
        ratios=ratios.pop())}


@cycle_model("gsb_encoder")
def _cycles(desc, u, beats, bc, c0, outs):
    # pass 1 loads every beat as it comes; pass 2 reads the buffer back, a beat a cycle,
    # `latency` edges from the first read to the first planes
    return last_beat(c0, beats, bc) + beats + latency(u)
