"""The compiler's part of the unit registry (:mod:`golden.unit_spec`).

Each op compiler attaches itself to the unit that runs it with :func:`compiles` (role
``op_compiler``: ``{network op kind: compiler}`` per unit kind), each unit's sizing for a
network with :func:`sizes` (role ``sizing``). :func:`op_compilers` and :func:`sizers`
read them back for every registered unit; :func:`desc_k` fills a descriptor's constants in
the order the unit's payload declares (:meth:`golden.unit_spec.Payload.consts`).
Importing :mod:`sim.compiler` imports every attaching module.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache

from golden.unit_spec import attach, attached
from golden.units import op_kinds, slot_kinds, unit, units

__all__ = ["compiles", "desc_k", "op_compilers", "sizers", "sizes", "unserved"]

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


def op_compilers() -> dict[str, Callable]:
    """Network op kind -> its op compiler, for every unit with an accelerator slot."""
    return {op: fn for kind, u in units().items() if u.slots
            for op, fn in attached(kind, "op_compiler").items()}


def sizers() -> list[Callable]:
    """The sizing of every unit with an accelerator slot, in unit-id order."""
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
    return tuple(int(values[name]) for name in names)


def unserved() -> frozenset[str]:
    """Registered op kinds no op compiler maps (a network with them does not compile)."""
    return frozenset(op_kinds()) - set(op_compilers())

