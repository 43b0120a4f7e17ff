"""Every hardware unit's golden entry, and the tables derived from them.

Importing this module imports each golden unit module once; each registers its
:class:`golden.unit_spec.UnitSpec`. Adding a unit: register it in its own golden module and
add that module to the import list below (``hw.units`` and ``sim.units`` list the other
layers' modules).
"""

from __future__ import annotations

import golden.cases  # noqa: F401  binary_array, requant, mac_array, residual
import golden.cases_gelu  # noqa: F401
import golden.cases_gsb  # noqa: F401  gsb_encoder, gsb_av
import golden.cases_layernorm  # noqa: F401
import golden.cases_softmax  # noqa: F401
import golden.cases_threshold  # noqa: F401
from golden.unit_spec import RegistryError, UnitSpec, registered

__all__ = ["DMA_IDS", "op_kinds", "slot_ids", "slot_kinds", "unit", "unit_for_op", "units"]

#: Descriptor unit ids of the accelerator's two DMA ops (no unit computes them; 0: no op).
DMA_IDS = {"dma_in": 1, "dma_out": 2}


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
    for u in units().values():
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
