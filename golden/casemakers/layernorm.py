"""The LayerNorm unit's cases: cut from ``layernorm`` ops (rows of ``dim``); written from
``vitsim golden``'s ``--m`` (rows)."""

from __future__ import annotations

from golden.casemakers import case_flags, config_for, cutter, no_head
from golden.cases_layernorm import LayerNormCfg, write_layernorm_case
from golden.kernels import grid_width


@cutter("layernorm")
def cut(net, op, image, head, path, common):
    no_head(op, head)
    dim = op.dim
    x = net.get(op.inputs[0], image).reshape(-1, dim)
    y = net.get(op.outputs[0], image).reshape(-1, dim)
    cfg = config_for(op, LayerNormCfg, dim=dim, in_bits=grid_width(net.width(op.inputs[0]), 16))
    return write_layernorm_case(cfg, path, x=x, expected=y, **common(None))


@case_flags("layernorm")
def flags(cfg, f) -> dict:
    return dict(rows=f.m)
