"""Each unit's sim part in one file, ``sim/compiler/parts/<unit kind>.py``: its op
compiler(s) (:func:`sim.compiler.registry.compiles`), its sizing for a network
(:func:`~sim.compiler.registry.sizes`) and its accelerator-exact cycle model
(:func:`~sim.compiler.registry.cycle_model`).

The modules are found by their place, not listed: :func:`load` imports every module of
this folder (the registry's lookups call it). Adding a unit's part: its file, no import
line. Nothing here imports a part statically (a part imports the compiler's lower modules).
"""

from __future__ import annotations

from golden.discover import import_modules

__all__ = ["load"]


def load() -> tuple[str, ...]:
    """Import every part module of this folder; return their names."""
    return tuple(import_modules(__name__))
