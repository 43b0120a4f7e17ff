"""The accelerator sized to a network package: :func:`accel_config_for`.

Each unit's sizing attaches itself to the unit with :func:`sim.compiler.registry.sizes`:
``f(net, by_kind) -> {slot: config}`` from the network's ops of the unit's op kinds.
"""

from __future__ import annotations

from golden.accel_program import AccelTopCfg
from golden.kernels import grid_width
from sim.compiler.registry import sizers

__all__ = ["COLS", "LANES", "MAC_ROWS", "ROWS", "accel_config_for", "widest"]

LANES = 8  # elementwise units
ROWS, COLS = 8, 32  # binary array
MAC_ROWS = 4


def widest(net, ops, idx=0, top=32):
    """The widest input ``idx`` of ``ops`` on the width grid up to ``top``."""
    return grid_width(max(net.width(op.inputs[idx]) for op in ops), top)


def accel_config_for(net) -> AccelTopCfg:
    """Unit configs sized to the ops of network ``net`` (a
    :class:`golden.netpkg.NetworkData`): each unit's attached sizing, in unit-id order."""
    by_kind: dict[str, list] = {}
    for op in net.ops:
        by_kind.setdefault(op.kind, []).append(op)
    units = {}
    for size in sizers():
        units.update(size(net, by_kind))
    return AccelTopCfg(lanes=32, depth=1, units=units, ext_words=2)
