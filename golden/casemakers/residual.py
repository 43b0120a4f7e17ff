"""The residual adder's cases: cut from ``add`` ops (elementwise, lanes may span rows);
written from ``vitsim golden``'s ``--m`` (beats)."""

from __future__ import annotations

from golden.casemakers import case_flags, config_for, cutter, lanes_of
from golden.cases import write_residual_case
from golden.kernels import grid_width
from golden.spec import ResidualCfg


@cutter("residual")
def cut(net, op, image, head, path, common):
    y = net.get(op.outputs[0], image)
    a, b = (net.get(n, image) for n in op.inputs)
    lanes, (y, a, b) = lanes_of(op, [y, a, b], head)
    in_bits = grid_width(max(net.width(n) for n in op.inputs), 32)
    cfg = config_for(op, ResidualCfg, lanes=lanes, in_bits=in_bits, out_bits=op.out_bits)
    return write_residual_case(cfg, path, a=a, b=b, expected=y, **common(head))


@case_flags("residual")
def flags(cfg, f) -> dict:
    return dict(beats=f.m)
