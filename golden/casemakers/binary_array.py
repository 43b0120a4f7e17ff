"""The binary array's cases: cut from ``binary_matmul`` ops (``a [m, k]`` against weights,
or one head's ``k``, ``[n, k]``) and written from ``vitsim golden``'s ``--m --n --k``."""

from __future__ import annotations

from golden.casemakers import CAPS, case_flags, config_for, cutter, divisor, no_head
from golden.cases import write_binary_array_case
from golden.spec import BinaryArrayCfg


@cutter("binary_array")
def cut(net, op, image, head, path, common):
    a, w = (net.get(n, image) for n in op.inputs)
    y = net.get(op.outputs[0], image)
    if a.ndim == 3:  # per head: q @ k^T
        head = 0 if head is None else head
        a, y = a[head], y[head]
        w = w[head] if w.ndim == 3 else w
    else:
        no_head(op, head)
    k, n = a.shape[1], w.shape[0]
    cfg = config_for(op, BinaryArrayCfg, rows=divisor(n, CAPS["binary_rows"]),
                     cols=divisor(k, CAPS["binary_cols"]), mode=op.mode, max_k=k)
    return write_binary_array_case(cfg, path, a=a, w=w, expected=y, **common(head))


@case_flags("binary_array", n=None, k=None)
def flags(cfg, f) -> dict:
    return dict(m=f.m, n=f.n or cfg.rows, k=f.k or cfg.max_k)
