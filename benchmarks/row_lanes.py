"""Cycles per image by unit with the row units (LayerNorm, softmax) at one lane and at the
sized default, side by side, from the accelerator-exact model of the compiled program.

Usage::

    python benchmarks/row_lanes.py [--work DIR] [--model gsb_vit_digits] [--depth 4]

The network is an untrained ``--model`` (the cycles depend on shapes only, so an untrained
digits GSB ViT of depth 4 has the trained demo's counts). The per-descriptor counts are
:func:`sim.analytic.accel_cycles.program_cycles`, which the accelerator tests check
``==`` against the RTL's counters; ``total`` is :func:`run_cycles` (the whole run, the
program fetch and DMA included). Prints a table, one row per unit.
"""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from bench_util import network_from_args  # noqa: E402

from golden.netpkg import NetworkData  # noqa: E402
from sim.analytic.accel_cycles import program_cycles, run_cycles  # noqa: E402
from sim.compiler import compile_network  # noqa: E402
from sim.compiler.sizing import accel_config_for  # noqa: E402

ROW_UNITS = ("layernorm", "softmax")


def by_unit(prog) -> tuple[dict, int]:
    """``({unit: cycles}, total)`` of a compiled program."""
    out: dict = {}
    for d, c in zip(prog.descs, program_cycles(prog.descs, prog.cfg), strict=True):
        out[d.unit] = out.get(d.unit, 0) + c
    return out, run_cycles(prog.descs, prog.cfg)


def one_lane(cfg):
    """``cfg`` with every row unit at one lane (and LayerNorm's and softmax's dividers at
    a bit a cycle): the units as they were before lanes."""
    units = dict(cfg.units)
    for slot in ROW_UNITS:
        if slot in units:
            units[slot] = dataclasses.replace(units[slot], lanes=1)
    if "layernorm" in units:
        units["layernorm"] = dataclasses.replace(units["layernorm"], step_bits=1)
    if "softmax" in units:
        units["softmax"] = dataclasses.replace(units["softmax"], div_bits=1)
    return dataclasses.replace(cfg, units=units)


def main(argv=None) -> int:
    with network_from_args(argv, __doc__.splitlines()[0]) as (args, pkg):
        cfg = accel_config_for(NetworkData(pkg))
        before, total_b = by_unit(compile_network(pkg, cfg=one_lane(cfg)))
        after, total_a = by_unit(compile_network(pkg, cfg=cfg))
    lanes = {s: cfg.units[s].lanes for s in ROW_UNITS if s in cfg.units}
    step = cfg.units["layernorm"].step_bits if "layernorm" in cfg.units else None
    div = cfg.units["softmax"].div_bits if "softmax" in cfg.units else None
    print(f"{args.model} depth {args.depth}: row-unit lanes {lanes}, LayerNorm step_bits "
          f"{step}, softmax div_bits {div}")
    print("| unit | 1 lane | sized lanes | ratio |\n|---|---:|---:|---:|")
    for unit in sorted(before, key=lambda u: -before[u]):
        print(f"| {unit} | {before[unit]:,} | {after[unit]:,} | "
              f"{before[unit] / after[unit]:.2f} |")
    print(f"| **total (run_cycles)** | {total_b:,} | {total_a:,} | {total_b / total_a:.2f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
