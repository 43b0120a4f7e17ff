"""The unit registry: one entry per hardware unit kind, and what the layers attach to it.

A hardware unit (the residual adder, the GELU unit, the binary array...) is declared once,
in golden, by :func:`register_unit` with a :class:`UnitSpec`: its config class, its
reference kernel, its input payload as data (:class:`Payload`), its case writers and
verifier, the network op kinds it computes and its accelerator slot(s) with their
descriptor unit ids. Golden's own per-unit file ``golden/casemakers/<kind>.py`` attaches
its cutter (a network op -> a case) and its ``vitsim golden`` flags
(:mod:`golden.casemakers`). The upper layers attach their part by kind with
:func:`attach`: hw its
Component (``@attach("residual", "component")`` on the class), sim its cocotb bench, its
op compilers (``{op kind: compiler}``), the sizing of its config for a network and its
accelerator-exact cycle model. :mod:`golden.units` imports every golden unit module and
offers the lookups; ``hw.units``, ``sim.units``, ``sim.compiler`` and
``sim.analytic.accel_cycles`` do the same for their part.

Nothing here imports a unit module, so a unit module can import this one freely.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from golden.bitpack import words_from_rows
from golden.errors import VitsimError

__all__ = ["CONST_NAMES", "CONVENTION", "ROLES", "Payload", "PayloadField", "RegistryError",
           "UnitSpec", "attach", "attached", "attached_kinds", "convention_module",
           "register_unit", "registered"]

#: Descriptor constant slots, in order: ``OpDesc.k[i]`` feeds the field bound to ``k<i>``.
CONST_NAMES = tuple(f"k{i}" for i in range(8))
#: What a layer may attach to a unit -> the module that imports every attaching module
#: (named in error messages only; nothing is imported by name).
ROLES = {"cutter": "golden.cut", "case_flags": "golden.casemakers", "component": "hw.units",
         "bench": "sim.units", "op_compiler": "sim.compiler", "sizing": "sim.compiler",
         "cycles": "sim.analytic.accel_cycles"}

#: Where each role's attachment lives, by convention (named in error messages):
#: ``<top>`` the unit's Verilog top name, ``<kind>`` its kind.
CONVENTION = {"cutter": "golden/casemakers/<kind>.py",
              "case_flags": "golden/casemakers/<kind>.py", "component": "hw/<top>.py",
              "bench": "sim/benches/<top>_bench.py",
              "op_compiler": "sim/compiler/parts/<kind>.py",
              "sizing": "sim/compiler/parts/<kind>.py",
              "cycles": "sim/compiler/parts/<kind>.py"}



def convention_module(role: str, spec: UnitSpec) -> str:
    """The module that, by :data:`CONVENTION`, attaches unit ``spec``'s ``role``."""
    path = CONVENTION[role].replace("<top>", spec.top).replace("<kind>", spec.kind)
    return path.removesuffix(".py").replace("/", ".")


Rule = int | str | Callable[[Any], int]


class RegistryError(VitsimError):
    """A unit kind is unknown, registered twice, or lacks a layer's attachment."""


def _eval(rule: Rule, cfg) -> int:
    """A width or count rule: a literal int, a config attribute name, or ``f(cfg)``."""
    if isinstance(rule, int):
        return rule
    if isinstance(rule, str):
        return getattr(cfg, rule)
    return rule(cfg)


@dataclass(frozen=True)
class PayloadField:
    """One field of a unit's ``i_stream`` payload.

    Parameters
    ----------
    name : str or None
        Field name in the hardware ``StructLayout``; ``None`` for a payload that is one
        unnamed array (the whole payload).
    bits : int, str or callable
        Element width: a literal, a config attribute name or ``f(cfg)``.
    signed : bool
        Two's-complement elements.
    dims : tuple
        Array dimensions, outermost first (each a rule as ``bits``); ``()``: a scalar.
        A scalar is an unsigned/signed value, a one-level array an ``ArrayLayout``.
    bind : int, str or None
        Where the accelerator's gatherer takes the field from: operand vector ``0..2``,
        a descriptor constant ``"k0".."k7"``, the beat's ``"last"`` flag; ``None``: none
        (a unit-level payload the accelerator does not drive).
    """

    name: str | None
    bits: Rule
    signed: bool = False
    dims: tuple = ()
    bind: int | str | None = None

    def width(self, cfg) -> int:
        """Bits of one element."""
        return _eval(self.bits, cfg)

    def counts(self, cfg) -> tuple[int, ...]:
        """The array dimensions for ``cfg``, outermost first."""
        return tuple(_eval(d, cfg) for d in self.dims)

    def size(self, cfg) -> int:
        """Bits of the whole field."""
        return self.width(cfg) * math.prod(self.counts(cfg))


@dataclass(frozen=True)
class Payload:
    """A unit's ``i_stream`` payload: its fields, LSB first (the hardware ``StructLayout``
    order), declared once for the hw layout, the accelerator binding and the golden
    packers."""

    fields: tuple[PayloadField, ...]

    def __post_init__(self):
        names = [f.name for f in self.fields]
        if len(set(names)) != len(names):
            raise RegistryError(f"payload field names repeat: {names}")
        if None in names and len(names) != 1:
            raise RegistryError("an unnamed payload field must be the only one")

    def offsets(self, cfg) -> dict:
        """``{name: (offset, width, count)}``: bit offset, element bits, elements."""
        out, at = {}, 0
        for f in self.fields:
            count = math.prod(f.counts(cfg))
            out[f.name] = (at, f.width(cfg), count)
            at += f.width(cfg) * count
        return out

    def size(self, cfg) -> int:
        """Bits of one payload."""
        return sum(f.size(cfg) for f in self.fields)

    def bind(self) -> dict:
        """``{field name: source}`` of the fields the accelerator drives (see
        :attr:`PayloadField.bind`)."""
        return {f.name: f.bind for f in self.fields if f.bind is not None}

    def consts(self) -> tuple[str, ...]:
        """The fields bound to descriptor constants, in constant order (``k0`` first):
        the order in which a compiler fills ``OpDesc.k``."""
        fields = [f for f in self.fields if f.bind in CONST_NAMES]
        bound = {f.bind: f.name for f in fields}
        if len(bound) != len(fields) or set(bound) != set(CONST_NAMES[:len(bound)]):
            raise RegistryError(f"payload constants must fill k0.. in order, not {bound}")
        return tuple(bound[k] for k in CONST_NAMES[:len(bound)])

    def pack(self, cfg, beats: int, values: dict) -> list[int]:
        """The payload words of ``beats`` beats, LSB first.

        ``values`` maps field names to an int (the same every beat), an array of shape
        ``[beats, *dims]`` (``[beats]`` for a scalar field, whose elements may be Python
        ints of any width). Elements are cut to their width (two's complement); a field
        left out is 0.
        """
        unknown = sorted(set(values) - {f.name for f in self.fields}, key=str)
        if unknown:
            raise VitsimError(f"no payload field {unknown[0]!r}")
        words = [0] * beats
        for name, (at, bits, count) in self.offsets(cfg).items():
            if name not in values:
                continue
            value, mask = values[name], (1 << bits) - 1
            if isinstance(value, (int, np.integer)):
                row = np.full((1, count), int(value), dtype=object)
                const = words_from_rows(row, bits)[0] << at
                words = [w | const for w in words]
            elif count == 1:
                flat = np.asarray(value, dtype=object).reshape(beats)
                words = [w | ((int(v) & mask) << at) for w, v in zip(words, flat, strict=True)]
            else:
                rows = np.asarray(value, dtype=np.int64).reshape(beats, count)
                words = [w | (v << at) for w, v in zip(words, words_from_rows(rows, bits),
                                                       strict=True)]
        return words


@dataclass(frozen=True)
class UnitSpec:
    """The numpy part of one hardware unit.

    Parameters
    ----------
    kind : str
        The unit's one name: its config ``kind``, its command-line name, the registry key.
    config : type
        The frozen config dataclass (``config.kind == kind``).
    kernel : callable
        The golden reference the unit must equal bit for bit.
    payload : Payload
        The ``i_stream`` payload fields.
    op_kinds : tuple of str
        The network op kinds (:data:`golden.network.OPS`) this unit computes.
    slots : mapping
        Accelerator slot name -> descriptor unit id (``OpDesc.unit``); empty for a unit
        the accelerator does not instantiate. Ids are a hardware encoding: never renumber.
    top : str
        Verilog module name.
    example : mapping
        A representative config's fields (``vitsim verilog KIND``).
    case : callable
        ``case(cfg, path, seed=..., stimulus=..., ...)``: a seeded case.
    write_case : callable
        ``write_case(cfg, path, ...)``: a case of explicit operands.
    verify : callable
        ``verify(pkg) -> (op, recomputed, recorded)`` of a case package.
    out_field : str or None
        The ``o_stream`` payload field holding the output lanes (``None``: all of it).
    """

    kind: str
    config: type
    kernel: Callable
    payload: Payload
    op_kinds: tuple[str, ...]
    slots: Mapping[str, int]
    top: str
    example: Mapping
    case: Callable
    write_case: Callable
    verify: Callable
    out_field: str | None = None

    def __post_init__(self):
        if getattr(self.config, "kind", None) != self.kind:
            raise RegistryError(f"unit {self.kind!r}: its config {self.config.__name__} has "
                                f"kind {getattr(self.config, 'kind', None)!r}")
        self.payload.consts()  # constants must be k0.. in order


_UNITS: dict[str, UnitSpec] = {}
_ATTACHED: dict[str, dict[str, Any]] = {role: {} for role in ROLES}


def register_unit(spec: UnitSpec) -> UnitSpec:
    """Add ``spec`` to the registry (:class:`RegistryError` if its kind, a slot or a unit id
    is taken)."""
    old = _UNITS.get(spec.kind)
    if old is not None and old != spec:
        raise RegistryError(f"unit kind {spec.kind!r} is already registered")
    for other in _UNITS.values():
        if other.kind == spec.kind:
            continue
        for slot, uid in spec.slots.items():
            if slot in other.slots or uid in other.slots.values():
                raise RegistryError(f"unit {spec.kind!r}: slot {slot!r} (id {uid}) is "
                                    f"already taken by {other.kind!r}")
    _UNITS[spec.kind] = spec
    return spec


def registered() -> dict[str, UnitSpec]:
    """The units registered so far, by kind (see :func:`golden.units.units` for all)."""
    return dict(_UNITS)


def attach(kind: str, role: str, obj=None):
    """Attach ``obj`` (a Component class, a bench module...) as unit ``kind``'s ``role``
    (one of :data:`ROLES`); without ``obj``, a class decorator doing so."""
    if role not in ROLES:
        raise RegistryError(f"role must be one of {', '.join(ROLES)}, not {role!r}")

    def deco(target):
        old = _ATTACHED[role].get(kind)
        if old is not None and old is not target:
            raise RegistryError(f"unit {kind!r} already has a {role} attached: {old!r}")
        _ATTACHED[role][kind] = target
        return target

    return deco if obj is None else deco(obj)


def attached(kind: str, role: str):
    """What the ``role``'s layer attached to unit ``kind`` (:class:`RegistryError` naming
    the kind, the role and its layer when nothing is). The caller imports the role's
    module of :data:`ROLES` first (``hw.units``, ``sim.units``, ``sim.commands``)."""
    if role not in ROLES:
        raise RegistryError(f"role must be one of {', '.join(ROLES)}, not {role!r}")
    try:
        return _ATTACHED[role][kind]
    except KeyError:
        layer = ROLES[role].split(".")[0]
        spec = _UNITS.get(kind)
        where = (convention_module(role, spec).replace(".", "/") + ".py" if spec is not None
                 else CONVENTION[role])
        raise RegistryError(f"unit {kind!r} has no {role} attached in {layer}/ (after "
                            f"importing {ROLES[role]}; expected in {where}; attached: "
                            f"{', '.join(sorted(_ATTACHED[role])) or 'none'})") from None


def attached_kinds(role: str) -> frozenset[str]:
    """The unit kinds that have a ``role`` attached so far."""
    return frozenset(_ATTACHED[role])
