"""The GSB encoder's cases: cut from ``gsb_value_planes`` and ``gsb_attn_planes`` ops (the
whole image: per-image max/min); written from ``vitsim golden``'s ``--m`` (heads) ``--n``
(tokens) ``--k`` (width) ``--gsb-attention --theta``."""

from __future__ import annotations

import numpy as np

from golden.casemakers import CAPS, CutError, case_flags, config_for, cutter, divisor
from golden.cases_gsb import GsbEncoderCfg, write_gsb_encoder_case
from golden.kernels import grid_width


@cutter("gsb_encoder")
def cut(net, op, image, head, path, common):
    if head is not None:
        raise CutError(f"op {op.name!r}: GSB planes use the whole image's max/min; cut it "
                       f"without a head")
    x = net.get(op.inputs[0], image)
    outs = [net.tensors[o] for o in op.outputs]
    if op.kind == "gsb_value_planes":
        planes = np.concatenate([outs[0][image][None], outs[1][:, image]])
    else:
        planes = outs[0][:, image]
    lanes = divisor(x.shape[-1], CAPS["lanes"])
    cfg = config_for(op, GsbEncoderCfg, lanes=lanes,
                     x_bits=grid_width(net.width(op.inputs[0]), 32), max_elems=int(x.size),
                     ratios=tuple(tuple(r) for r in op.ratios))
    mode = "value" if op.kind == "gsb_value_planes" else "attn"
    theta = int(op.params.get("base_theta") or 0)
    return write_gsb_encoder_case(cfg, path, x=x[None], mode=mode, theta=theta,
                                  expected=planes[:, None], **common(None))


@case_flags("gsb_encoder", n=None, k=None, gsb_attention=False, theta=0)
def flags(cfg, f) -> dict:
    return dict(shape=(f.m, f.n or 1, f.k or cfg.lanes),
                mode="attn" if f.gsb_attention else "value", theta=f.theta)
