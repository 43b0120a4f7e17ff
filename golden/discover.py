"""Discovery of the modules that attach a unit's parts, by naming convention.

The unit registry (:mod:`golden.unit_spec`) is filled by the modules that register or
attach a unit's parts. Each layer's lookup module imports them by convention rather than
from a hand-kept list: :func:`import_modules` imports every module of a package folder
whose name passes a filter (:mod:`golden.units`: ``golden/cases*.py``;
:mod:`sim.compiler.parts`: every module of the folder), :func:`import_named` the modules
named after each unit (:mod:`hw.units`: ``hw/<top>.py``; :mod:`sim.units`:
``sim/benches/<top>_bench.py``). A missing file is not an error here: the lookups report
the unit whose part is missing (:func:`golden.unit_spec.attached`).

numpy-free, and nothing of models, hw or sim: the upper layers call it with their own
package names.
"""

from __future__ import annotations

import importlib
import importlib.util
import pkgutil
from collections.abc import Callable, Iterable

__all__ = ["import_modules", "import_named"]


def import_modules(package: str, keep: Callable[[str], bool] = lambda name: True) -> list[str]:
    """Import every module of package ``package`` (its folder, not its subpackages) whose
    name passes ``keep``, in name order; return their full names."""
    pkg = importlib.import_module(package)
    names = sorted(m.name for m in pkgutil.iter_modules(pkg.__path__)
                   if not m.ispkg and not m.name.startswith("_") and keep(m.name))
    for name in names:
        importlib.import_module(f"{package}.{name}")
    return [f"{package}.{name}" for name in names]


def import_named(names: Iterable[str]) -> list[str]:
    """Import each module of ``names`` (full dotted names) that exists; return those
    that do not (their unit's lookup then names what is missing)."""
    missing = []
    for name in names:
        if importlib.util.find_spec(name) is None:
            missing.append(name)
        else:
            importlib.import_module(name)
    return missing
