"""The hardware units vitsim can generate and simulate, keyed by their unit kind.

A view of the unit registry (:mod:`golden.units`) with each layer's part attached: the
golden entry (config, Verilog top name, example config), the hw Component
(:mod:`hw.units`) and the cocotb bench. Each bench module attaches itself with
``attach(KIND, "bench", module)``; importing this module imports every bench by naming
convention, ``sim/benches/<top>_bench.py`` for each registered unit's Verilog top name,
so adding a unit's bench is its file, no import line. The command line, the tests and the
benchmarks read :data:`UNITS` and never restate the pairing.
"""

from __future__ import annotations

from dataclasses import dataclass

from golden.discover import import_named
from golden.errors import VitsimError
from golden.unit_spec import UnitSpec, attached, attached_kinds, convention_module
from golden.units import units
from hw.units import component_for

__all__ = ["EXAMPLES", "UNITS", "Unit", "bench_kinds", "example_config", "unit_for"]

# the bench of each unit (a missing one: UNITS below names the unit and the file)
import_named(convention_module("bench", u) for u in units().values())


@dataclass(frozen=True)
class Unit:
    """One generatable, simulatable unit: its registry entry, Component and bench."""

    spec: UnitSpec
    component: type  # the Amaranth Component class
    bench: str  # the cocotb bench module's name (cocotb imports it by name)

    @property
    def kind(self) -> str:
        """The unit kind (its config kind, its command-line name)."""
        return self.spec.kind

    @property
    def top(self) -> str:
        """Verilog module name."""
        return self.spec.top

    def build(self, cfg):
        """Instantiate the Component for ``cfg``."""
        return self.component(cfg)


def bench_kinds() -> frozenset[str]:
    """The unit kinds that have a cocotb bench attached."""
    return attached_kinds("bench")


UNITS = {kind: Unit(spec, component_for(kind), attached(kind, "bench").__name__)
         for kind, spec in units().items()}


def unit_for(kind: str) -> Unit:
    """The unit whose config kind is ``kind`` (:class:`VitsimError` if none)."""
    if kind not in UNITS:
        raise VitsimError(f"no hardware unit for config kind {kind!r}; "
                          f"known: {', '.join(UNITS)}")
    return UNITS[kind]


#: A representative config of each unit (the digits ViT's shapes), for ``vitsim synth UNIT``
#: and ``vitsim verilog UNIT``; ``--config FILE`` gives any other.
EXAMPLES = {kind: dict(u.spec.example) for kind, u in UNITS.items()}


def example_config(kind: str):
    """The :data:`EXAMPLES` config of unit ``kind`` (:class:`VitsimError` if none)."""
    from golden.units import config_from_dict

    unit_for(kind)
    if kind not in EXAMPLES:
        raise VitsimError(f"unit {kind!r} has no example config; give --config FILE")
    return config_from_dict({"kind": kind, **EXAMPLES[kind]}, source=f"example {kind}")
