"""The analytic model's entry points: a per-layer report, and fast totals for sweeps.

:func:`analyze` returns the JSON-ready report of ``vitsim memory`` (``layers`` with
``name``, ``weight_bits``, ``weight_bytes``, ``act_bytes``, ``offchip_bytes``, ``cycles``
and more, per head where an op has heads; ``totals`` with the same keys).
:func:`evaluate` returns the totals only, reusing cached per-op costs so that a grid of
thousands of configurations runs in well under a second. Both share every formula.

Totals are sums over layers, except ``act_bytes`` (the peak live activation set of any
op) and ``acc_bits`` (the widest accumulator). ``cycles`` is ``None`` when any op has no
vitsim datapath (float); LayerNorm, softmax, GELU and residual adds cost no cycles here
(their units are not built yet).
"""

from __future__ import annotations

from functools import lru_cache

from golden.accel_spec import AccelCfg, SchemeCfg
from golden.model_cfg import ViTCfg
from sim.analytic.cycles import pass_cycles
from sim.analytic.footprint import op_cost
from sim.analytic.traffic import op_traffic, weights_resident
from sim.analytic.workload import Op, vit_ops

__all__ = ["KEYS", "analyze", "evaluate"]

#: Keys of every layer record and of ``totals``.
KEYS = ("weight_bits", "weight_bytes", "act_bytes", "offchip_bytes", "cycles", "macs", "bitops")

_LINEARS = ("qkv", "proj", "fc1", "fc2")


def _rank(op: Op, s: SchemeCfg) -> int:
    from sim.analytic.footprint import effective_rank

    return effective_rank(s, op.name, op.k, op.n) if op.role in _LINEARS else 0


@lru_cache(maxsize=1024)
def _groups(vit: ViTCfg, s: SchemeCfg) -> tuple:
    """``(op, count, cost)`` per distinct op: equal blocks are evaluated once."""
    counts: dict = {}
    for op in vit_ops(vit):
        key = (op.sig, op.block is None, _rank(op, s))
        if key in counts:
            counts[key][1] += 1
        else:
            counts[key] = [op, 1, key[2]]
    return tuple((op, n, op_cost(op, vit, s, r)) for op, n, r in counts.values())


@lru_cache(maxsize=4096)
def _group_cycles(vit: ViTCfg, s: SchemeCfg, binary, mac) -> tuple:
    out = []
    for _, _, cost in _groups(vit, s):
        cyc = [pass_cycles(p, binary, mac) for p in cost.passes]
        out.append(None if None in cyc else sum(cyc))
    return tuple(out)


@lru_cache(maxsize=1024)
def _scheme_totals(vit: ViTCfg, s: SchemeCfg) -> dict:
    groups = _groups(vit, s)
    return {
        "weight_bits": sum(n * c.weight_bits for _, n, c in groups),
        "weight_bytes": sum(n * c.weight_bytes for _, n, c in groups),
        "act_bytes": max(c.act_bytes for _, _, c in groups),
        "macs": sum(n * c.macs for _, n, c in groups),
        "bitops": sum(n * c.bitops for _, n, c in groups),
    }


def evaluate(vit: ViTCfg, s: SchemeCfg, accel: AccelCfg) -> dict:
    """Return the totals of one frame of ``vit`` under ``s`` on ``accel`` (see module doc)."""
    groups = _groups(vit, s)
    totals = dict(_scheme_totals(vit, s))
    cycles = _group_cycles(vit, s, accel.binary, accel.mac)
    mem = accel.memory
    resident = weights_resident(totals["weight_bytes"], mem)
    offchip = 0
    for op, n, cost in groups:
        w, a, _ = op_traffic(cost, role=op.role, m=op.m, mem=mem, resident=resident)
        offchip += n * (w + a)
    totals["offchip_bytes"] = offchip
    totals["cycles"] = None if None in cycles else sum(
        n * c for (_, n, _), c in zip(groups, cycles, strict=True))
    totals["weights_resident"] = resident
    return totals


def _heads(op: Op, cost, cycles_by_pass: list, heads: int) -> list:
    per = []
    shared = [(p, c) for p, c in zip(cost.passes, cycles_by_pass, strict=True) if p.head is None]
    for h in range(heads):
        mine = [c for p, c in zip(cost.passes, cycles_by_pass, strict=True) if p.head == h]
        share = [c // heads if c is not None else None for _, c in shared]
        cyc = mine + share
        per.append({
            "head": h,
            "weight_bits": sum(t.numel * t.bits for t in cost.tensors if t.head == h),
            "weight_bytes": sum(t.nbytes for t in cost.tensors if t.head == h),
            "macs": (sum(p.m * p.n * p.k for p in cost.passes if p.head == h)
                     or cost.macs // heads),
            "cycles": None if None in cyc else sum(cyc),
        })
    return per


def analyze(vit: ViTCfg, s: SchemeCfg, accel: AccelCfg) -> dict:
    """Return the per-layer report of one frame (JSON-ready; see module doc)."""
    mem = accel.memory
    ops = vit_ops(vit)
    costs = [op_cost(op, vit, s, _rank(op, s)) for op in ops]
    resident = weights_resident(sum(c.weight_bytes for c in costs), mem)
    layers = []
    for op, cost in zip(ops, costs, strict=True):
        cyc = [pass_cycles(p, accel.binary, accel.mac) for p in cost.passes]
        w, a, spilled = op_traffic(cost, role=op.role, m=op.m, mem=mem, resident=resident)
        rec = {
            "name": op.name, "role": op.role, "block": op.block,
            "m": op.m, "k": op.k, "n": op.n, "heads": op.heads,
            "rank": _rank(op, s),
            "weight_bits": cost.weight_bits, "weight_bytes": cost.weight_bytes,
            "act_bytes": cost.act_bytes, "act_in_bytes": cost.act_in,
            "act_out_bytes": cost.act_out, "scratch_bytes": cost.scratch,
            "acc_bits": cost.acc_bits, "acc_bytes": cost.acc_bytes,
            "offchip_bytes": w + a, "offchip_weight_bytes": w, "offchip_act_bytes": a,
            "spilled": spilled,
            "cycles": None if None in cyc else sum(cyc),
            "macs": cost.macs, "bitops": cost.bitops,
            "tensors": [{"name": t.name, "shape": list(t.shape), "bits": t.bits,
                         "bytes": t.nbytes, "head": t.head} for t in cost.tensors],
        }
        head_wise = any(t.head is not None for t in cost.tensors)
        heads = vit.num_heads if op.role in ("qk", "av") or head_wise else 0
        if heads:
            rec["per_head"] = _heads(op, cost, cyc, heads)
        layers.append(rec)
    totals = {k: sum(r[k] for r in layers) for k in KEYS if k not in ("act_bytes", "cycles")}
    totals["act_bytes"] = max(r["act_bytes"] for r in layers)
    cyc = [r["cycles"] for r in layers]
    totals["cycles"] = None if None in cyc else sum(cyc)
    totals["acc_bits"] = max(r["acc_bits"] for r in layers)
    totals["weights_resident"] = resident
    return {"model": vit.to_dict(), "scheme": s.to_dict(), "accel": accel.to_dict(),
            "layers": layers, "totals": totals}
