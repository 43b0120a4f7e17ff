"""The hardware layer's part of the unit registry: every unit's Amaranth Component.

Each unit's hw module attaches its Component to the unit's golden entry with
``@attach(KIND, "component")`` (:func:`golden.unit_spec.attach`); importing this module
imports every such module, so the lookups below see them all. Adding a unit: its hw file,
plus one import line here.
"""

from __future__ import annotations

import hw.binary_array  # noqa: F401
import hw.gelu  # noqa: F401
import hw.gsb_av  # noqa: F401
import hw.gsb_encoder  # noqa: F401
import hw.layernorm  # noqa: F401
import hw.mac_array  # noqa: F401
import hw.requantizer  # noqa: F401
import hw.residual  # noqa: F401
import hw.softmax  # noqa: F401
import hw.threshold  # noqa: F401
from golden.unit_spec import attached, attached_kinds
from golden.units import unit

__all__ = ["build_unit", "component_for", "component_kinds"]


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
