"""The softmax unit's cases: cut from ``softmax`` ops (rows of logits ``<< in_shift``);
written from ``vitsim golden``'s ``--m`` (rows) ``--k`` (row length) ``--scale --bits``."""

from __future__ import annotations

from golden.casemakers import CutError, case_flags, cutter, head_slice
from golden.cases_softmax import SoftmaxCfg, write_softmax_case
from golden.kernels import grid_width
from golden.network import softmax_params_of
from golden.spec import ConfigError


@cutter("softmax")
def cut(net, op, image, head, path, common):
    x = head_slice(op, net.get(op.inputs[0], image), head)
    y = head_slice(op, net.get(op.outputs[0], image), head)
    row_len = x.shape[-1]
    x = x.reshape(-1, row_len) << op.in_shift
    p = softmax_params_of(op)
    x_bits = grid_width(net.width(op.inputs[0]) + op.in_shift, 32)
    try:
        cfg = SoftmaxCfg.fitting([p], max_len=row_len, x_bits=x_bits, out_bits=p.out_bits)
    except (ConfigError, TypeError, ValueError) as exc:
        raise CutError(f"op {op.name!r}: no softmax config fits it ({exc})") from None
    if cfg is None:
        raise CutError(f"op {op.name!r}: its softmax constants fit no softmax config")
    return write_softmax_case(cfg, path, x=x, params=p, expected=y.reshape(x.shape),
                              **common(head))


@case_flags("softmax", k=None, scale=1 / 64, bits=8)
def flags(cfg, f) -> dict:
    return dict(rows=f.m, row_len=f.k or cfg.max_len, scale=f.scale, out_bits=f.bits)
