"""The hardware layer's part of the unit registry: every unit's Amaranth Component.

Each unit's hw module attaches its Component to the unit's golden entry with
``@attach(KIND, "component")`` (:func:`golden.unit_spec.attach`). Importing this module
imports every such module, by naming convention: ``hw/<top>.py`` for each registered
unit's Verilog top name (:attr:`golden.unit_spec.UnitSpec.top`), so the lookups below see
them all. Adding a unit: its hw file, no import line.
"""

from __future__ import annotations

from golden.discover import import_named
from golden.unit_spec import attached, attached_kinds, convention_module
from golden.units import unit, units

__all__ = ["build_unit", "component_for", "component_kinds"]

# the hw module of each unit (a missing one: component_for names the unit and the file)
import_named(convention_module("component", u) for u in units().values())


def component_for(kind: str) -> type:
    """The Component class of unit ``kind`` (:class:`golden.unit_spec.RegistryError` if the
    kind is unknown or has no Component attached)."""
    unit(kind)
    return attached(kind, "component")


def component_kinds() -> frozenset[str]:
    """The unit kinds that have a Component."""
    return attached_kinds("component")


def build_unit(cfg):
    """The Component of ``cfg``'s unit kind, elaborated for ``cfg``."""
    return component_for(cfg.kind)(cfg)
