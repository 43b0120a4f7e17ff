"""The threshold unit's cases: cut from ``threshold`` ops (per-lane theta, clamped, and
flip); written from ``vitsim golden``'s ``--m`` (beats)."""

from __future__ import annotations

from golden.casemakers import case_flags, config_for, cutter, lanes_of
from golden.cases_threshold import ThresholdCfg, clamp_theta, write_threshold_case
from golden.kernels import grid_width


@cutter("threshold")
def cut(net, op, image, head, path, common):
    x, theta, flip = (net.get(n, image) for n in op.inputs)
    y = net.get(op.outputs[0], image)
    lanes, (x, theta, flip, y) = lanes_of(op, [x, theta, flip, y], head)
    cfg = config_for(op, ThresholdCfg, lanes=lanes,
                     x_bits=grid_width(net.width(op.inputs[0]), 32))
    return write_threshold_case(cfg, path, x=x, theta=clamp_theta(cfg, theta), flip=flip,
                                expected=y, **common(head))


@case_flags("threshold")
def flags(cfg, f) -> dict:
    return dict(beats=f.m)
