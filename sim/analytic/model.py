"""The analytic model's entry points: a per-layer report, and fast totals for sweeps.

:func:`analyze` returns the JSON-ready report of ``vitsim memory`` (``layers`` with
``name``, ``weight_bits``, ``weight_bytes``, ``act_bytes``, ``offchip_bytes``, ``cycles``,
``unit_cycles`` and more, per head where an op has heads; ``totals`` with the same keys).
:func:`evaluate` returns the totals only, reusing cached per-op costs so that a grid of
thousands of configurations runs in well under a second. Both share every formula.

Totals are sums over layers, except ``act_bytes`` (the peak live activation set of any
op) and ``acc_bits`` (the widest accumulator). An op's ``cycles`` are those of its array
passes plus those of its non-GEMM units (LayerNorm, softmax, GELU, residual adds,
requantiser, threshold, GSB encoder and A x V; :mod:`sim.analytic.units`), all sequential;
``unit_cycles`` breaks them down by unit (:data:`~sim.analytic.units.UNIT_CYCLE_KEYS`). ``cycles``
(and ``unit_cycles``) is ``None`` when any op has no vitsim datapath (float).

Given the whole-network accelerator's config (``top``, an
:class:`golden.accel_program.AccelTopCfg`), :func:`analyze` also reports ``accel_layers``:
the cycles of every compute op of the accelerator's program, by the program's op name,
exactly as its per-descriptor counters read them (:mod:`sim.analytic.accel_cycles`), and
``totals["accel_cycles"]``, their sum (without the program's two DMA descriptors).
"""

from __future__ import annotations

from functools import lru_cache

from golden.accel_spec import ACCEL_PARTS, SIZED_PARTS, AnalyticAccelCfg, SchemeCfg
from golden.model_cfg import ViTCfg
from sim.analytic.cycles import pass_cycles
from sim.analytic.footprint import op_cost
from sim.analytic.traffic import op_traffic, weights_resident
from sim.analytic.units import UNIT_CYCLE_KEYS, on_array, op_unit_cycles, sized_units
from sim.analytic.workload import Op, vit_ops

__all__ = ["KEYS", "accel_layers", "analyze", "evaluate"]

#: Keys of every layer record and of ``totals``.
KEYS = ("weight_bits", "weight_bytes", "act_bytes", "offchip_bytes", "cycles", "macs", "bitops")

_LINEARS = ("qkv", "proj", "fc1", "fc2")
#: The accel parts that :func:`_unit_totals` depends on (all but the arrays and memory).
_UNIT_PARTS = tuple(n for n in (*ACCEL_PARTS, *SIZED_PARTS)
                    if n not in ("binary", "mac", "memory"))


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


def _pass_cycles(op: Op, cost, s: SchemeCfg, binary, mac) -> list:
    """Array cycles of each pass of ``op`` (0 where the op runs on its own unit)."""
    if not on_array(op, s):
        return [0] * len(cost.passes)
    return [pass_cycles(p, binary, mac) for p in cost.passes]


@lru_cache(maxsize=4096)
def _group_cycles(vit: ViTCfg, s: SchemeCfg, binary, mac) -> tuple:
    out = []
    for op, _, cost in _groups(vit, s):
        cyc = _pass_cycles(op, cost, s, binary, mac)
        out.append(None if None in cyc else sum(cyc))
    return tuple(out)


@lru_cache(maxsize=4096)
def _unit_totals(vit: ViTCfg, s: SchemeCfg, *parts) -> dict | None:
    """Per-unit cycles of one frame (no ``array``), or ``None`` (float); ``parts``: the
    accel's :data:`_UNIT_PARTS` in order (cheaper to hash than the whole accel)."""
    units = sized_units(AnalyticAccelCfg(**dict(zip(_UNIT_PARTS, parts, strict=True))), vit, s)
    total = dict.fromkeys(UNIT_CYCLE_KEYS[1:], 0)
    for op, n, _ in _groups(vit, s):
        cyc = op_unit_cycles(op, vit, s, _rank(op, s), units)
        if cyc is None:
            return None
        for k, v in cyc.items():
            total[k] += n * v
    return total


def _breakdown(array: int | None, units: dict | None) -> dict | None:
    return None if array is None or units is None else {"array": array, **units}


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


def evaluate(vit: ViTCfg, s: SchemeCfg, accel: AnalyticAccelCfg) -> dict:
    """Return the totals of one frame of ``vit`` under ``s`` on ``accel`` (see module doc).

    Raises
    ------
    ConfigError
        A unit of ``accel`` that does not fit the model (:func:`sim.analytic.units.sized_units`,
        :func:`sim.analytic.units.op_unit_cycles`), or an array that cannot take a width.
    """
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
    array = None if None in cycles else sum(
        n * c for (_, n, _), c in zip(groups, cycles, strict=True))
    units = _unit_totals(vit, s, *[getattr(accel, name) for name in _UNIT_PARTS])
    totals["cycles"] = None if array is None or units is None else array + sum(units.values())
    totals["unit_cycles"] = _breakdown(array, units)
    totals["weights_resident"] = resident
    return totals


def _heads(op: Op, cost, cycles_by_pass: list, unit_cycles: int | None, heads: int) -> list:
    """Per-head records; passes without a head and the units are shared evenly."""
    per = []
    shared = [(p, c) for p, c in zip(cost.passes, cycles_by_pass, strict=True) if p.head is None]
    for h in range(heads):
        mine = [c for p, c in zip(cost.passes, cycles_by_pass, strict=True) if p.head == h]
        share = [c // heads if c is not None else None for _, c in shared]
        cyc = mine + share + [None if unit_cycles is None else unit_cycles // heads]
        per.append({
            "head": h,
            "weight_bits": sum(t.numel * t.bits for t in cost.tensors if t.head == h),
            "weight_bytes": sum(t.nbytes for t in cost.tensors if t.head == h),
            "macs": (sum(p.m * p.n * p.k for p in cost.passes if p.head == h)
                     or cost.macs // heads),
            "cycles": None if None in cyc else sum(cyc),
        })
    return per


def accel_layers(vit: ViTCfg, s: SchemeCfg, top) -> list:
    """Accelerator-exact cycles of each compute op of ``vit`` under GSB scheme ``s`` on
    the whole-network accelerator ``top`` (an :class:`golden.accel_program.AccelTopCfg`):
    ``[{"name", "unit", "descs", "cycles"}]`` in program order.

    Raises
    ------
    ConfigError
        ``s`` is not a GSB scheme (1-bit activations, at least one group), or the shapes
        fall outside the modelled tiling (:func:`sim.analytic.accel_cycles.accel_descs`).
    """
    from golden.spec import ConfigError
    from sim.analytic.accel_cycles import accel_descs, program_cycles

    if not s.groups or s.a_bits != 1:
        raise ConfigError(f"accelerator cycles need a GSB scheme, not {s.name!r}")
    try:
        descs = accel_descs(vit, top, groups=s.groups, embed_bits=s.embed_bits)
        rows: dict = {}
        for (name, desc), cycles in zip(descs, program_cycles([d for _, d in descs], top),
                                        strict=True):
            row = rows.setdefault(name, {"name": name, "unit": desc.unit, "descs": 0,
                                         "cycles": 0})
            row["descs"] += 1
            row["cycles"] += cycles
    except (ValueError, KeyError) as exc:
        raise ConfigError(f"accelerator cycles: {exc}") from None
    return list(rows.values())


def analyze(vit: ViTCfg, s: SchemeCfg, accel: AnalyticAccelCfg, top=None) -> dict:
    """Return the per-layer report of one frame (JSON-ready; see module doc).

    ``top``: the whole-network accelerator's config; when given, the report has
    ``accel_layers`` (:func:`accel_layers`) and ``totals["accel_cycles"]``.

    Raises
    ------
    ConfigError
        As :func:`evaluate`, and as :func:`accel_layers` when ``top`` is given.
    """
    mem = accel.memory
    ops = vit_ops(vit)
    costs = [op_cost(op, vit, s, _rank(op, s)) for op in ops]
    resident = weights_resident(sum(c.weight_bytes for c in costs), mem)
    units = sized_units(accel, vit, s)
    layers = []
    for op, cost in zip(ops, costs, strict=True):
        cyc = _pass_cycles(op, cost, s, accel.binary, accel.mac)
        by_unit = _breakdown(None if None in cyc else sum(cyc),
                             op_unit_cycles(op, vit, s, _rank(op, s), units))
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
            "cycles": None if by_unit is None else sum(by_unit.values()),
            "unit_cycles": by_unit,
            "macs": cost.macs, "bitops": cost.bitops,
            "tensors": [{"name": t.name, "shape": list(t.shape), "bits": t.bits,
                         "bytes": t.nbytes, "head": t.head} for t in cost.tensors],
        }
        head_wise = any(t.head is not None for t in cost.tensors)
        heads = vit.num_heads if op.role in ("qk", "av") or head_wise else 0
        if heads:
            unit_sum = None if by_unit is None else rec["cycles"] - by_unit["array"]
            rec["per_head"] = _heads(op, cost, cyc, unit_sum, heads)
        layers.append(rec)
    totals = {k: sum(r[k] for r in layers) for k in KEYS if k not in ("act_bytes", "cycles")}
    totals["act_bytes"] = max(r["act_bytes"] for r in layers)
    cyc = [r["cycles"] for r in layers]
    totals["cycles"] = None if None in cyc else sum(cyc)
    totals["unit_cycles"] = None if totals["cycles"] is None else {
        k: sum(r["unit_cycles"][k] for r in layers) for k in UNIT_CYCLE_KEYS}
    totals["acc_bits"] = max(r["acc_bits"] for r in layers)
    totals["weights_resident"] = resident
    report = {"model": vit.to_dict(), "scheme": s.to_dict(), "accel": accel.to_dict(),
              "layers": layers, "totals": totals}
    if top is not None:
        report["accel_layers"] = accel_layers(vit, s, top)
        totals["accel_cycles"] = sum(r["cycles"] for r in report["accel_layers"])
    return report
