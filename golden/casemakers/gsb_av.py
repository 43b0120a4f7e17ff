"""The GSB attention-times-V unit's cases: cut from ``gsb_av`` ops (one head); written from
``vitsim golden``'s ``--m`` (tokens) ``--k`` (head width)."""

from __future__ import annotations

from golden.casemakers import CAPS, case_flags, config_for, cutter, divisor
from golden.cases_gsb import GsbAvCfg, write_gsb_av_case
from golden.kernels import grid_width, signed_bits


@cutter("gsb_av")
def cut(net, op, image, head, path, common):
    head = 0 if head is None else head
    planes, sign, masks, weights = (net.tensors[n] for n in op.inputs)
    a, sign, masks = planes[:, image, head], sign[image, head], masks[:, image, head]
    y = net.get(op.outputs[0], image)[head]
    n, d = sign.shape
    cfg = config_for(op, GsbAvCfg, lanes=divisor(d, CAPS["lanes"]), max_n=n, max_d=d,
                     a_planes=weights.shape[0], v_planes=weights.shape[1],
                     w_bits=grid_width(signed_bits(weights), 16))
    return write_gsb_av_case(cfg, path, a_planes=a, v_sign=sign, v_masks=masks,
                             weights=weights, expected=y, **common(head))


@case_flags("gsb_av", k=None)
def flags(cfg, f) -> dict:
    return dict(n=f.m, d=f.k or cfg.max_d)
