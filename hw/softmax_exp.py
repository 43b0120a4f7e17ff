"""The softmax unit's per-lane i-exp pipeline and its row-context selection (helpers of
:class:`hw.softmax.Softmax`, not components)."""

from __future__ import annotations

from amaranth.hdl import Const, Module, Mux, Signal, Value, signed, unsigned

from golden.cases_softmax import EXP_BITS, FLOOR_Q_BITS, SoftmaxCfg

__all__ = ["exp_lane", "pick"]


def pick(values, index: Value) -> Value:
    """``values[index]`` as a balanced tree of 2:1 multiplexers (``len(values)`` a power of
    two, ``index`` as wide as it needs): one expression, so a signal driven by it is an
    unconditional ``assign``."""
    values = [Value.cast(v) for v in values]
    bit = 0
    while len(values) > 1:
        values = [Mux(index[bit], values[i + 1], values[i]) for i in range(0, len(values), 2)]
        bit += 1
    return values[0]


def exp_lane(m: Module, cfg: SoftmaxCfg, lane: int, x_rd: Value, *, x_max: Value, lim: Value,
             x0_mag: list[Value], b: Value, c: Value, n: Value) -> Signal:
    """One lane's exp pipeline, from the held logit ``x_rd`` (stage 2) to ``e`` (stage 13,
    returned): :func:`golden.nonlinear.int_exp` of ``x - max`` clamped at ``floor_q * x0``.

    Each row constant is the one of the row whose element is in the stage that reads it,
    so rows may follow each other through the pipeline back to back: ``x_max`` (the row
    max) is read by stage 2, ``lim`` (``floor_q * |x0|``) by stage 3, ``x0_mag[j]``
    (``|x0|``) by stage ``4 + j`` (the division's five steps), ``b`` and ``n`` by stage 9
    and ``c`` by stage 11.
    """
    xmag_bits, d_bits, fq_bits = cfg.x0_bits, cfg.x_bits + 1, FLOOR_Q_BITS
    if len(x0_mag) != fq_bits:
        raise ValueError(f"x0_mag must be {fq_bits} values, one a division step")

    # Stage 3: max - x >= 0. Stage 4: the division works on D = -max(x - max, floor_q *
    # x0) = min(max - x, lim), so D <= floor_q * |x0| < 32 * |x0|.
    below = Signal(unsigned(d_bits), name=f"below{lane}")
    m.d.sync += below.eq(x_max - x_rd)
    d_mag = Signal(unsigned(max(d_bits, len(lim))), name=f"d_mag{lane}")
    m.d.sync += d_mag.eq(Mux(below > lim, lim, below))

    # Stages 5..9: q = D // |x0| (q <= floor_q < 32), rem = D % |x0|, one bit a stage.
    part, quot = d_mag, Const(0, fq_bits)
    for j, k in enumerate(reversed(range(fq_bits))):
        step = Signal(len(d_mag), name=f"div_rem{k}_{lane}")
        q_next = Signal(fq_bits, name=f"div_q{k}_{lane}")
        divisor = x0_mag[j] << k
        take = part >= divisor
        m.d.sync += [step.eq(Mux(take, part - divisor, part)),
                     q_next.eq(quot | (take << k))]
        part, quot = step, q_next

    # Stage 10: with r = -rem in (x0, 0], (r + b) * r + c = c - (b - rem) * rem; hold
    # b - rem (> 0) and rem, and the shift n - q. Stage 11: the product.
    b_rem = Signal(signed(cfg.b_bits + 1), name=f"b_rem{lane}")
    rem_h = Signal(unsigned(xmag_bits), name=f"rem_h{lane}")
    sh_q = Signal(signed(max(cfg.n_bits, fq_bits + 1) + 1), name=f"sh_q{lane}")
    m.d.sync += [b_rem.eq(b - part[:xmag_bits]), rem_h.eq(part[:xmag_bits]),
                 sh_q.eq(n - quot)]
    poly = Signal(signed(cfg.b_bits + xmag_bits + 2), name=f"poly{lane}")
    sh = Signal.like(sh_q, name=f"sh{lane}")
    m.d.sync += [poly.eq(b_rem * rem_h), sh.eq(sh_q)]

    # Stage 12: z = c - poly. Stage 13: e = z << sh or z >> -sh, 0 if negative (valid
    # constants give 0 < z <= c and e < 2**16, so the left shift never loses bits).
    z = Signal(signed(max(len(poly), cfg.c_bits + 1) + 1), name=f"z{lane}")
    sh_left = Signal(unsigned(4), name=f"sh_left{lane}")  # n - q when >= 0 (n <= 14)
    sh_right = Signal(unsigned(len(sh) + 1), name=f"sh_right{lane}")  # q - n when > 0
    sh_neg = Signal(name=f"sh_neg{lane}")
    m.d.sync += [z.eq(c - poly), sh_left.eq(sh[:4]), sh_right.eq(-sh), sh_neg.eq(sh < 0)]
    e = Signal(unsigned(EXP_BITS), name=f"e{lane}")
    m.d.sync += e.eq(Mux(z < 0, 0, Mux(sh_neg, z >> sh_right, z << sh_left)))
    return e
