"""The compiler's part of the unit registry (:mod:`golden.unit_spec`).

Each op compiler attaches itself to the unit that runs it with :func:`compiles` (role
``op_compiler``: ``{network op kind: compiler}`` per unit kind), each unit's sizing for a
network with :func:`sizes` (role ``sizing``), each unit's accelerator-exact cycle model
with :func:`cycle_model` (role ``cycles``), from the unit's part
(``sim/compiler/parts/<unit>.py``, :mod:`sim.compiler.parts`). :func:`op_compilers`,
:func:`sizers` and :func:`cycle_models` read them back for every registered unit (after
importing every part: :func:`sim.compiler.parts.load`); :func:`desc_k` fills a
descriptor's constants in the order the unit's payload declares
(:meth:`golden.unit_spec.Payload.consts`). Importing :mod:`sim.compiler` imports every
other attaching module.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache

from golden.accel_program import ELEM_BITS
from golden.unit_spec import attach, attached
from golden.units import op_kinds, slot_kinds, unit, units
from sim.compiler.parts import load
from sim.compiler.program import CompileError

__all__ = ["compiles", "cycle_model", "cycle_models", "desc_k", "op_compilers", "sizers",
           "sizes", "unserved"]

_BY_UNIT: dict[str, dict[str, Callable]] = {}


def compiles(unit_kind: str, *kinds: str):
    """Decorator: the function ``f(context, op)`` compiles network ops of ``kinds`` onto
    unit ``unit_kind`` (each op kind one of the unit's :attr:`UnitSpec.op_kinds`)."""
    def deco(fn):
        table = _BY_UNIT.setdefault(unit_kind, {})
        attach(unit_kind, "op_compiler", table)
        for kind in kinds:
            table[kind] = fn
        return fn

    return deco


def sizes(unit_kind: str):
    """Decorator: ``f(net, by_kind) -> {slot: config}`` sizes unit ``unit_kind``'s
    slot(s) for network ``net`` (:class:`golden.netpkg.NetworkData`), ``by_kind`` its ops
    by op kind; ``{}`` when the network has none of the unit's ops."""
    return lambda fn: attach(unit_kind, "sizing", fn)


def cycle_model(*kinds: str):
    """Decorator (or, called on a function, attach it): ``f(desc, u, beats, bc, c0, outs)
    -> t`` is the accelerator-exact cycle model of units ``kinds`` (see
    :mod:`sim.compiler.timing`)."""
    def deco(fn):
        for kind in kinds:
            attach(kind, "cycles", fn)
        return fn

    return deco


def cycle_models() -> dict[str, Callable]:
    """Accelerator slot -> the cycle model of its unit, for every slot, in id order."""
    load()
    return {slot: attached(kind, "cycles") for slot, kind in slot_kinds().items()}


def op_compilers() -> dict[str, Callable]:
    """Network op kind -> its op compiler, for every unit with an accelerator slot."""
    load()
    return {op: fn for kind, u in units().items() if u.slots
            for op, fn in attached(kind, "op_compiler").items()}


def sizers() -> list[Callable]:
    """The sizing of every unit with an accelerator slot, in unit-id order."""
    load()
    return [attached(kind, "sizing") for kind, u in units().items() if u.slots]


@cache
def _consts(slot: str) -> tuple[str, ...]:
    return unit(slot_kinds()[slot]).payload.consts()


def desc_k(slot: str, **values: int) -> tuple[int, ...]:
    """``OpDesc.k`` of a descriptor for unit ``slot``: ``values`` (one per constant field
    of the unit's payload, by name) in :meth:`Payload.consts` order."""
    names = _consts(slot)
    if set(values) != set(names):
        raise ValueError(f"{slot} takes the constants {', '.join(names) or 'none'}, not "
                         f"{', '.join(sorted(values)) or 'none'}")
    top = (1 << (ELEM_BITS - 1)) - 1
    for i, name in enumerate(names):
        if not -top - 1 <= int(values[name]) <= top:
            raise CompileError(f"field {name}: the {slot} constant {name}={values[name]} "
                               f"does not fit the descriptor's {ELEM_BITS}-bit signed "
                               f"constant k{i}")
    return tuple(int(values[name]) for name in names)


def unserved() -> frozenset[str]:
    """Registered op kinds no op compiler maps (a network with them does not compile)."""
    return frozenset(op_kinds()) - set(op_compilers())

