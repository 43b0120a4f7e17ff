"""Every hardware unit's golden entry, and the tables derived from them.

Importing this module imports every golden unit module, by naming convention: each
``golden/cases*.py`` (:func:`golden.discover.import_modules`), each of which registers its
:class:`golden.unit_spec.UnitSpec` (``register_unit``). Adding a unit: its own
``golden/cases_<unit>.py``, no import line anywhere (``hw.units`` and ``sim.units`` find
the other layers' files the same way).
"""

from __future__ import annotations

import numpy as np

from golden.discover import import_modules
from golden.errors import VitsimError
from golden.package import Package, PackageError
from golden.spec import ConfigError, QuantSpec
from golden.unit_spec import RegistryError, UnitSpec, registered

__all__ = ["DMA_IDS", "UNIT_MODULES", "case_config", "config_from_dict", "known_configs",
           "op_kinds", "slot_ids", "slot_kinds", "unit", "unit_for_op", "units", "verify_package"]

#: Descriptor unit ids of the accelerator's DMA ops (no unit computes them; 0: no op):
#: ``dma_pre`` is a ``dma_in`` the next compute op carries out while it runs (prefetch).
DMA_IDS = {"dma_in": 1, "dma_out": 2, "dma_pre": 15}

#: The golden unit modules, found by their name (``golden/cases*.py``) and imported.
UNIT_MODULES = tuple(import_modules("golden", lambda name: name.startswith("cases")))


def units() -> dict[str, UnitSpec]:
    """Every registered unit, by kind, in unit-id order (units with no slot last)."""
    def order(u):
        return (min(u.slots.values()) if u.slots else 1 << 30, u.kind)

    return {u.kind: u for u in sorted(registered().values(), key=order)}


def unit(kind: str) -> UnitSpec:
    """The unit of kind ``kind`` (:class:`RegistryError` listing the known ones)."""
    table = registered()
    if kind not in table:
        raise RegistryError(f"no hardware unit of kind {kind!r}; known: {', '.join(units())}")
    return table[kind]


def slot_ids() -> dict[str, int]:
    """Descriptor unit id of every accelerator slot and DMA op, in id order."""
    ids = dict(DMA_IDS)
    dma = {uid: name for name, uid in DMA_IDS.items()}
    for u in units().values():
        for slot, uid in u.slots.items():
            if uid in dma:
                raise RegistryError(f"unit {u.kind!r}: slot {slot!r} (id {uid}) is the DMA "
                                    f"op {dma[uid]!r}'s id")
        ids.update(u.slots)
    return dict(sorted(ids.items(), key=lambda kv: kv[1]))


def slot_kinds() -> dict[str, str]:
    """The unit kind of every accelerator compute slot, in id order."""
    kinds = {slot: u.kind for u in units().values() for slot in u.slots}
    return {slot: kinds[slot] for slot in slot_ids() if slot in kinds}


def op_kinds() -> dict[str, str]:
    """Network op kind -> the unit kind that computes it."""
    out = {}
    for u in units().values():
        for op in u.op_kinds:
            if op in out:
                raise RegistryError(f"op kind {op!r} is served by both {out[op]!r} and "
                                    f"{u.kind!r}")
            out[op] = u.kind
    return out


def unit_for_op(op_kind: str) -> UnitSpec | None:
    """The unit that computes network op kind ``op_kind``, or ``None``."""
    kind = op_kinds().get(op_kind)
    return None if kind is None else registered()[kind]


def known_configs() -> dict[str, type]:
    """Every config class by kind: :class:`golden.spec.QuantSpec` and each registered
    unit's config."""
    return {QuantSpec.kind: QuantSpec, **{kind: u.config for kind, u in units().items()}}


def config_from_dict(data: dict, *, source: str = "config"):
    """Build whichever config ``data["kind"]`` names; errors name ``source``."""
    configs = known_configs()
    kind = data.get("kind") if isinstance(data, dict) else None
    if kind not in configs:
        raise ConfigError(f"{source}: field 'kind' must be one of {sorted(configs)}, not {kind!r}")
    return configs[kind].from_dict(data, source=source)


def case_config(pkg: Package):
    """The unit config a case package records (:class:`PackageError` naming the field)."""
    where = pkg.path / "manifest.json"
    try:
        return config_from_dict(pkg.manifest.get("config", {}),
                                source=f"{where}: field 'config'")
    except VitsimError as exc:
        raise PackageError(str(exc)) from None


def verify_package(pkg: Package) -> list[str]:
    """Re-run the golden kernels on a package's inputs; return one line per failing op."""
    kind = pkg.manifest.get("config", {}).get("kind")
    if kind == "int_network":
        from golden.netpkg import verify_network

        return verify_network(pkg)
    if kind not in units():
        raise PackageError(f"{pkg.path / 'manifest.json'}: field 'config.kind': no golden "
                           f"kernel verifies {kind!r} cases")
    op, got, y = units()[kind].verify(pkg)
    if got.shape == y.shape and np.array_equal(got, y):
        return []
    bad = np.argwhere(got != y)[0] if got.shape == y.shape else None
    where = f" first at {tuple(int(i) for i in bad)}" if bad is not None else " (shape)"
    return [f"op {op['name']}: recorded output differs from the kernel{where}"]
