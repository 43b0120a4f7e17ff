"""The GELU unit's cases: cut from ``gelu`` ops (with the op's ``clip``); written from
``vitsim golden``'s ``--m`` (beats) ``--scale``."""

from __future__ import annotations

from golden.casemakers import CutError, case_flags, config_for, cutter, lanes_of
from golden.cases_gelu import GeluCfg, write_gelu_case
from golden.errors import VitsimError
from golden.kernels import grid_width
from golden.network import gelu_params_of


@cutter("gelu")
def cut(net, op, image, head, path, common):
    x, y = net.get(op.inputs[0], image), net.get(op.outputs[0], image)
    lanes, (x, y) = lanes_of(op, [x, y], head)
    cfg = config_for(op, GeluCfg, lanes=lanes, in_bits=grid_width(net.width(op.inputs[0]), 24))
    try:
        cfg.check_params(gelu_params_of(op), op.clip)
    except VitsimError as exc:
        raise CutError(f"op {op.name!r}: no gelu config fits it ({exc})") from None
    return write_gelu_case(cfg, path, x=x, params=gelu_params_of(op), clip=op.clip,
                           expected=y, **common(head))


@case_flags("gelu", scale=1 / 64)
def flags(cfg, f) -> dict:
    return dict(beats=f.m, scale=f.scale)
