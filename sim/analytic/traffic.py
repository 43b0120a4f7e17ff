"""Off-chip bytes of one frame for a buffer budget, tiling and loop order.

The policy is :class:`golden.accel_spec.MemoryCfg`'s (see its docstring); this module is
its arithmetic. Per op, with ``W`` its packed weight bytes and ``L`` its live activation
bytes (inputs + outputs + scratch):

* weights: 0 when resident; else ``W`` when ``W`` fits the weight buffer; else ``W``
  (``weights_outer``) or ``W * ceil(m / token_tile)`` (``tokens_outer``);
* activations: 0 when ``L`` fits the activation buffer; else spilled:
  ``act_in * r + act_out + 2 * scratch`` (scratch is written, then read back), where
  ``r = ceil(W / weight buffer)`` re-reads in ``weights_outer`` and 1 in ``tokens_outer``;
* the image is always read (patch embedding) and the logits always written (heads).
"""

from __future__ import annotations

from golden.accel_spec import MemoryCfg
from sim.analytic.footprint import OpCost

__all__ = ["op_traffic", "weights_resident"]


def weights_resident(total_weight_bytes: int, mem: MemoryCfg) -> bool:
    """Whether the weights stay on chip across frames (``MemoryCfg.weights``)."""
    if mem.weights == "auto":
        return total_weight_bytes <= mem.weight_kib * 1024
    return mem.weights == "resident"


def op_traffic(cost: OpCost, *, role: str, m: int, mem: MemoryCfg,
               resident: bool) -> tuple[int, int, bool]:
    """Return ``(weight bytes, activation bytes, spilled)`` read or written off chip."""
    wbuf, w = mem.weight_kib * 1024, cost.weight_bytes
    rereads = 1
    if resident or w == 0:
        w_traffic = 0
    elif w <= wbuf:
        w_traffic = w
    elif mem.loop_order == "weights_outer":
        w_traffic = w
        rereads = -(-w // max(wbuf, 1))
    else:
        tile = mem.token_tile or m
        w_traffic = w * -(-m // tile)
    spilled = cost.act_bytes > mem.act_kib * 1024
    if spilled:
        a_traffic = cost.act_in * rereads + cost.act_out + 2 * cost.scratch
    else:
        a_traffic = (cost.act_in if role == "patch" else 0) + (
            cost.act_out if role == "head" else 0)
    return w_traffic, a_traffic, spilled
