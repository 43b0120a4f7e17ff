"""The cross-layer check of the unit registry: every registered unit has its part in every
layer of the naming convention, and no part is attached to an unregistered unit.

The convention (:data:`golden.unit_spec.CONVENTION`): a unit's golden module
``golden/cases*.py`` registers it; ``golden/casemakers/<kind>.py`` attaches its cutter and
its ``vitsim golden`` case flags; ``hw/<top>.py`` attaches its Component;
``sim/benches/<top>_bench.py`` its cocotb bench; ``sim/compiler/parts/<kind>.py`` its op
compilers, sizing and cycle model (units with an accelerator slot). :func:`layer_gaps`
imports each layer's modules the way the layer's lookups do (:mod:`hw.units`,
:mod:`sim.units`, :func:`sim.compiler.parts.load`) and lists what is missing; it never
raises for a missing part (the lookups themselves do, naming the unit and the file).
"""

from __future__ import annotations

from golden.casemakers import load as load_casemakers
from golden.discover import import_named
from golden.unit_spec import RegistryError, attached, attached_kinds, convention_module
from golden.units import units
from sim.compiler.parts import load

__all__ = ["ACCEL_ROLES", "UNIT_ROLES", "layer_gaps"]

#: The roles every unit has (its cutter and case flags, its hardware and its bench).
UNIT_ROLES = ("cutter", "case_flags", "component", "bench")
#: The roles every unit with an accelerator slot has besides.
ACCEL_ROLES = ("op_compiler", "sizing", "cycles")


def layer_gaps() -> list[str]:
    """One line per missing part: a registered unit without a role's attachment (the line
    names the unit, the role and the file the convention expects), or an attachment to a
    unit kind no golden module registers. Empty when every layer is complete."""
    specs = units()
    import_named(convention_module(role, u) for u in specs.values() for role in UNIT_ROLES)
    load()
    load_casemakers()
    gaps = []
    for kind, u in specs.items():
        for role in UNIT_ROLES + (ACCEL_ROLES if u.slots else ()):
            try:
                attached(kind, role)
            except RegistryError as exc:
                gaps.append(str(exc))
    for role in UNIT_ROLES + ACCEL_ROLES:
        for kind in sorted(attached_kinds(role) - set(specs)):
            gaps.append(f"a {role} is attached to unit {kind!r}, which no golden/cases*.py "
                        f"registers")
    return gaps
