"""The MAC array's cases: cut from ``patch_matmul`` (im2col patches), ``int_matmul``,
``int_bmm`` (one head, ``v`` transposed) and ``group_matmul`` with equal multipliers of 1,
widths from the op; written from ``vitsim golden``'s ``--m --n --k --w-bits --a-bits
--a-unsigned``."""

from __future__ import annotations

import numpy as np

from golden.casemakers import CAPS, CutError, case_flags, config_for, cutter, divisor, no_head
from golden.cases import write_mac_array_case
from golden.kernels import grid_width
from golden.network import im2col
from golden.spec import MacArrayCfg


def _per_head_bits(bits, head: int) -> int:
    return int(bits) if np.ndim(bits) == 0 else int(bits[head])


@cutter("mac_array")
def cut(net, op, image, head, path, common):
    kind, y = op.kind, net.get(op.outputs[0], image)
    a_signed, w_signed = True, True
    if kind == "patch_matmul":
        no_head(op, head)
        a = im2col(net.get(op.inputs[0], image)[None], op.patch)[0]
        w = net.get(op.inputs[1], image)
        a_bits, w_bits = op.a_bits, op.w_bits
    elif kind == "int_bmm":
        head = 0 if head is None else head
        a, b = (net.get(n, image)[head] for n in op.inputs)
        w, y = (b if op.trans_b else b.T), y[head]
        a_bits, w_bits = (_per_head_bits(getattr(op, f), head) for f in ("a_bits", "b_bits"))
        a_signed, w_signed = op.a_signed, op.b_signed
    else:
        no_head(op, head)
        a, w = net.get(op.inputs[0], image), net.get(op.inputs[1], image)
        a_bits, w_bits = op.a_bits, op.w_bits
        if kind == "group_matmul":
            gmult = net.get(op.inputs[2], image)
            if not (np.all(gmult == 1) and np.ndim(a_bits) == 0 and np.ndim(w_bits) == 0):
                raise CutError(f"op {op.name!r}: group multipliers {gmult.tolist()} or "
                               f"per-group widths: no unit weights a grouped reduction")
            a_signed, w_signed = op.a_signed, op.w_signed
    a = a.reshape(-1, a.shape[-1])
    y = y.reshape(a.shape[0], -1)
    k, n = a.shape[1], w.shape[0]
    cfg = config_for(op, MacArrayCfg, rows=divisor(n, CAPS["mac_rows"]),
                     cols=divisor(k, CAPS["mac_cols"]), digit_bits=2,
                     max_bits=grid_width(max(a_bits, w_bits), 16), max_k=k)
    return write_mac_array_case(cfg, path, a=a, w=w, w_bits=w_bits, a_bits=a_bits,
                                a_signed=a_signed, w_signed=w_signed, expected=y,
                                **common(head))


@case_flags("mac_array", n=None, k=None, w_bits=8, a_bits=8, a_unsigned=False)
def flags(cfg, f) -> dict:
    return dict(m=f.m, n=f.n or cfg.rows, k=f.k or cfg.max_k, w_bits=f.w_bits,
                a_bits=f.a_bits, a_signed=not f.a_unsigned)
