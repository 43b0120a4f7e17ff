"""Restoring divider and square root, ``step_bits`` result bits a cycle, for sequential units.

Each engine is a set of registers in the caller's module plus the ``sync`` assignments that
start it and step it; the caller's FSM decides when (:meth:`Divider.start` in one state,
:meth:`Divider.step` in the next until :attr:`Divider.last`: :meth:`Divider.states` makes
both states). A result of ``q`` bits takes
:func:`steps` ``(q, step_bits)`` steps, after the start cycle. Every combinational signal
is an unconditional ``m.d.comb`` assignment (a Verilog ``assign``).
"""

from __future__ import annotations

from amaranth.hdl import Cat, Const, Module, Mux, Signal

__all__ = ["Divider", "Sqrt", "steps"]


def steps(bits: int, step_bits: int) -> int:
    """Cycles of ``bits`` result bits at ``step_bits`` a cycle: ``ceil(bits / step_bits)``."""
    return -(-bits // step_bits)


class Divider:
    """Restoring divider: ``quo = num // den`` for a quotient known to fit ``q`` bits.

    ``step_bits`` quotient bits a cycle, MSB first, ``q`` rounded up to whole steps (the
    extra leading quotient bits are 0); the numerator is kept left-aligned in ``num``.

    Parameters
    ----------
    m : Module
        The module the registers and the step logic go into.
    name : str
        Prefix of the signal names.
    q_bits : int
        The widest quotient any :meth:`start` asks for.
    den_bits : int
        Width of the denominator (a quotient's remainder is below it, so it fits too).
    step_bits : int
        Quotient bits a cycle.
    den : int, optional
        A constant denominator (every division by it); otherwise :meth:`start` gives one.

    Members
    -------
    quo : Signal
        The quotient, complete after the step on which :attr:`last` held (its low ``q``
        bits; the ones above are 0).
    last : Value
        The current step is the division's last.
    """

    def __init__(self, m: Module, name: str, *, q_bits: int, den_bits: int, step_bits: int,
                 den: int | None = None):
        k = self._k = step_bits
        self._q_max = q_max = steps(q_bits, k) * k
        self._num = Signal(q_max, name=f"{name}_num")
        rem = self._rem = Signal(den_bits, name=f"{name}_rem")
        self._den = (Signal(den_bits, name=f"{name}_den") if den is None
                     else Const(den, den_bits))
        quo = self.quo = Signal(q_max, name=f"{name}_quo")
        self._cnt = Signal(range(q_max // k), name=f"{name}_cnt")
        self.last = self._cnt == 0
        for j in range(k):  # one restoring step per quotient bit, k of them a cycle
            trial = Signal(den_bits + 1, name=f"{name}_trial{j}")
            nxt_rem = Signal(den_bits, name=f"{name}_rem{j}")
            nxt_quo = Signal(q_max, name=f"{name}_quo{j}")
            take = trial >= self._den
            m.d.comb += [trial.eq(Cat(self._num[-1 - j], rem)),
                         nxt_rem.eq(Mux(take, trial - self._den, trial)),
                         nxt_quo.eq(Cat(take, quo))]
            rem, quo = nxt_rem, nxt_quo
        self._rem_next, self._quo_next = rem, quo

    def start(self, num, q: int, den=None) -> list:
        """Assignments that load ``num`` (``num // den < 2**q``) and, for a divider without
        a constant denominator, ``den``."""
        qk = steps(q, self._k) * self._k
        out = [self._rem.eq(num >> qk), self._num.eq(num << (self._q_max - qk)),
               self.quo.eq(0), self._cnt.eq(qk // self._k - 1)]
        if den is not None:
            out.append(self._den.eq(den))
        return out

    def step(self) -> list:
        """Assignments of one step (``step_bits`` quotient bits)."""
        return [self._rem.eq(self._rem_next), self.quo.eq(self._quo_next),
                self._num.eq(self._num << self._k), self._cnt.eq(self._cnt - 1)]

    def states(self, m: Module, name: str, then: str, num, q: int, den=None) -> None:
        """Two states of the caller's FSM (call inside ``with m.FSM()``): ``<name>_START``
        loads ``num`` (:meth:`start`), ``<name>_DIV`` steps until :attr:`last`, then goes
        to state ``then``."""
        with m.State(f"{name}_START"):
            m.d.sync += self.start(num, q, den)
            m.next = f"{name}_DIV"
        with m.State(f"{name}_DIV"):
            m.d.sync += self.step()
            with m.If(self.last):
                m.next = then


class Sqrt:
    """Restoring (bit-pair) square root: ``root = max(isqrt(v), 1)`` of a ``bits``-bit ``v``.

    Two radicand bits a root bit, ``step_bits`` root bits a cycle, MSB first; the root's
    ``bits // 2`` bits rounded up to whole steps (the leading radicand pairs are 0). It
    yields ``floor(sqrt(v))`` exactly, as the golden Newton iteration does.

    Parameters
    ----------
    m : Module
    name : str
        Prefix of the signal names.
    bits : int
        Radicand width (even).
    step_bits : int
        Root bits a cycle.

    Members
    -------
    root : Signal
        ``max(isqrt(v), 1)``, valid after the step on which :attr:`last` held.
    last : Value
        The current step is the root's last.
    """

    def __init__(self, m: Module, name: str, *, bits: int, step_bits: int):
        k = self._k = step_bits
        hk = self._hk = steps(bits // 2, k) * k
        self._v = Signal(2 * hk, name=f"{name}_v")
        rem = self._rem = Signal(hk + 3, name=f"{name}_rem")
        root = self._root = Signal(hk + 1, name=f"{name}_root")
        self._cnt = Signal(range(max(hk // k, 1)), name=f"{name}_cnt")
        self.last = self._cnt == 0
        for j in range(k):  # one root bit per step, k of them a cycle
            acc = Signal(hk + 3, name=f"{name}_acc{j}")
            trial = Signal(hk + 3, name=f"{name}_try{j}")
            nxt_rem = Signal(hk + 3, name=f"{name}_rem{j}")
            nxt_root = Signal(hk + 1, name=f"{name}_root{j}")
            take = acc >= trial
            top = 2 * hk - 2 * j
            m.d.comb += [acc.eq(Cat(self._v[top - 2:top], rem)), trial.eq(Cat(1, 0, root)),
                         nxt_rem.eq(Mux(take, acc - trial, acc)),
                         nxt_root.eq(Cat(take, root))]
            rem, root = nxt_rem, nxt_root
        self._rem_next, self._root_next = rem, root
        self.root = Signal(hk + 1, name=f"{name}_out")
        m.d.comb += self.root.eq(Mux(self._root == 0, 1, self._root))

    def start(self, v) -> list:
        """Assignments that load the radicand ``v``."""
        return [self._v.eq(v), self._root.eq(0), self._rem.eq(0),
                self._cnt.eq(self._hk // self._k - 1)]

    def step(self) -> list:
        """Assignments of one step (``step_bits`` root bits)."""
        return [self._rem.eq(self._rem_next), self._root.eq(self._root_next),
                self._v.eq(self._v << 2 * self._k), self._cnt.eq(self._cnt - 1)]
