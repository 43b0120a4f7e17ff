"""The requantiser's cases: cut from ``requant`` ops (per-lane mult and bias, one shift, the
clamp as ``bits``/signed, :func:`clamp_bits`); written from
``vitsim golden``'s ``--m`` (beats) ``--mult --shift --bits --out-unsigned``."""

from __future__ import annotations

import numpy as np

from golden.casemakers import CutError, case_flags, config_for, cutter, head_slice, lanes_of
from golden.cases import write_requant_case
from golden.kernels import clamp_width, grid_width, signed_bits
from golden.spec import RequantCfg


def clamp_bits(op, lo, hi) -> tuple[int, bool]:
    """``(bits, signed)`` whose full range is the op's single clamp ``[lo, hi]``."""
    lo, hi = np.unique(np.asarray(lo)), np.unique(np.asarray(hi))
    if lo.size != 1 or hi.size != 1:
        raise CutError(f"op {op.name!r}: its clamps differ across the cut (cut one head); "
                       f"the requantiser takes one output width a beat")
    lo, hi = int(lo[0]), int(hi[0])
    width = clamp_width(lo, hi)
    if width is None:
        raise CutError(f"op {op.name!r}: clamp [{lo}, {hi}] is not the range of a width")
    return width


@cutter("requant")
def cut(net, op, image, head, path, common):
    x, mult, bias = (net.get(n, image) for n in op.inputs)
    y = head_slice(op, net.get(op.outputs[0], image), head)
    lanes, (acc, mult, bias, lo, hi) = lanes_of(op, [x, mult, bias, op.lo, op.hi], head)
    bits, signed = clamp_bits(op, lo, hi)
    cfg = config_for(op, RequantCfg, lanes=lanes,
                     acc_bits=grid_width(net.width(op.inputs[0]), 32),
                     out_bits=grid_width(bits, 31), mult_bits=grid_width(signed_bits(mult), 32),
                     bias_bits=grid_width(signed_bits(bias), 60, 16))
    return write_requant_case(cfg, path, acc=acc, mult=mult, bias=bias, shift=op.shift,
                              bits=bits, signed=signed, expected=y.reshape(acc.shape),
                              **common(head))


@case_flags("requant", mult=1 << 30, shift=40, bits=8, out_unsigned=False)
def flags(cfg, f) -> dict:
    return dict(beats=f.m, mult=f.mult, shift=f.shift, bits=f.bits, signed=not f.out_unsigned)
