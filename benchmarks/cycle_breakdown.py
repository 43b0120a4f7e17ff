"""Where an image's cycles go on the accelerator: per unit and per op, from the
accelerator-exact model of the compiled program, side by side for the accelerator as the
compiler sized it at four steps of issue 18:

- *before D*: a ``MAC_ROWS``-row MAC array, 8-lane elementwise units, 8-row binary
  arrays, softmax's divider at 1 bit a cycle;
- *part D*: the MAC array sized for the patch embedding and ``LANES`` elementwise lanes;
- *part E*: also ``SM_DIV_BITS``, the binary arrays still 8 rows
  (:func:`sim.compiler.sizing.binary_cfg` at 8);
- *now*: the compiler's sizing (:func:`sim.compiler.sizing.accel_config_for`): the binary
  arrays up to ``MAX_ROWS`` (32) rows.

Usage::

    python benchmarks/cycle_breakdown.py [--work DIR] [--model gsb_vit_digits] [--depth 4]

The network is an untrained ``--model`` (the counts depend on shapes only, so an untrained
digits GSB ViT of depth 4 has the trained demo's counts). Each descriptor's cycles are its
counter (:func:`sim.analytic.accel_cycles.program_cycles`, which the accelerator tests
check ``==`` against the RTL) plus the sequencer's ``NEXT`` and ``COUNT`` cycles, so the
rows sum to :func:`run_cycles` less the header read and the final two cycles. Of those,
``stream`` is the cycles the unit takes its beats (beats x the larger of the gather's beat
cycles and, on the MAC array, the passes a beat), ``fixed`` the rest: the descriptor fetch
and dispatch (``desc_words + 3 + latency`` plus 2 a descriptor), the gatherer's fill, the
unit's pipeline drain and the row units' per-row compute (LayerNorm's dividers and square
root; softmax's first row's fill, then the cycle a row its engines hand over in, or the
divider's excess over the beats: its rows overlap). Every column prices its configuration
with today's unit models (the softmax's overlapping rows in all four).
"""

from __future__ import annotations

import dataclasses
import re
import sys
from math import prod
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from bench_util import network_from_args  # noqa: E402

from golden.netpkg import NetworkData  # noqa: E402
from sim.analytic.accel_cycles import program_cycles, run_cycles  # noqa: E402
from sim.compiler import compile_network  # noqa: E402
from sim.compiler.parts import mac_array as mac_part  # noqa: E402
from sim.compiler.sizing import LANES, MAC_ROWS, ROWS, accel_config_for, binary_cfg  # noqa: E402

DMA = ("dma_in", "dma_out", "dma_pre")
#: The elementwise units whose lanes are ``LANES`` (8 before).
ELEMENTWISE = ("requant", "threshold", "gelu", "residual", "gsb_encoder", "gsb_av")


def before(net, *, part_d: bool = True):
    """The accelerator sized for network ``net`` (a :class:`NetworkData`) before the
    binary arrays' rows and softmax's divider bits (8-row binary arrays, 1 divider bit a
    cycle); with ``part_d``, before issue 18's part D too: a MAC array sized for the patch
    embedding at ``MAC_ROWS`` rows (the sizing run with
    :func:`sim.compiler.sizing.patch_mac_rows` answering ``MAC_ROWS``) and the elementwise
    units at 8 lanes."""
    keep = mac_part.patch_mac_rows
    if part_d:
        mac_part.patch_mac_rows = lambda cols, outs: MAC_ROWS
    try:
        cfg = accel_config_for(net)
    finally:
        mac_part.patch_mac_rows = keep
    units = dict(cfg.units)
    for slot in ELEMENTWISE if part_d else ():
        if slot in units:
            units[slot] = dataclasses.replace(units[slot], lanes=8)
    old = {"binary_xnor": {"rows": ROWS}, "binary_and": {"rows": ROWS},
           "softmax": {"div_bits": 1}}
    for slot, fields in old.items():
        if slot in units:
            units[slot] = dataclasses.replace(units[slot], **fields)
    return dataclasses.replace(cfg, units=units)


def stream_cycles(desc, cfg) -> int:
    """Cycles ``desc`` takes its beats: a DMA's words, else beats x the larger of the beat
    cycles and (MAC array) the passes a beat."""
    if desc.unit in DMA:
        return desc.rn[3]
    period = desc.beat_cycles
    if desc.unit == "mac":
        period = max(period, cfg.units["mac"].passes(w_bits=desc.k[0], a_bits=desc.k[1]))
    return prod(desc.rn) * period


def breakdown(prog) -> tuple[dict, dict, int]:
    """``({unit: [descs, cycles, stream]}, {op: [descs, cycles]}, run_cycles)``; ops of
    every block summed under ``blocks.*``."""
    units: dict = {}
    ops: dict = {}
    for name, d, c in zip(prog.names, prog.descs, program_cycles(prog.descs, prog.cfg),
                          strict=True):
        u = units.setdefault(d.unit, [0, 0, 0])
        u[0] += 1
        u[1] += c + 2
        u[2] += stream_cycles(d, prog.cfg)
        o = ops.setdefault((re.sub(r"^blocks\.\d+\.", "blocks.*.", name), d.unit), [0, 0])
        o[0] += 1
        o[1] += c + 2
    return units, ops, run_cycles(prog.descs, prog.cfg)


def main(argv=None) -> int:
    with network_from_args(argv, __doc__.splitlines()[0]) as (args, pkg):
        net = NetworkData(pkg)
        cfg = accel_config_for(net)
        mac = cfg.units["mac"]
        b_units, b_ops, b_total = breakdown(compile_network(pkg, cfg=before(net)))
        m_units, m_ops, m_total = breakdown(compile_network(pkg, cfg=before(net,
                                                                            part_d=False)))
        units, ops, total = breakdown(compile_network(pkg, cfg=cfg))
        w_units, w_ops, w_total = breakdown(compile_network(pkg, cfg=binary_cfg(cfg, 8)))
    old = before(net).units["mac"]
    print(f"{args.model} depth {args.depth}: MAC array before D {old.rows} x {old.cols}, "
          f"now {mac.rows} x {mac.cols}; elementwise lanes before D 8, now {LANES}; "
          + "; ".join(f"{slot} {cfg.units[slot]}" for slot in
                      ("binary_xnor", "binary_and", "layernorm", "softmax")
                      if slot in cfg.units))
    print("| unit | descriptors | cycles, before D | part D | part E (8-row binary) | now "
          "| share now | stream | fixed |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")

    def get(d, k, i=1):
        return f"{d[k][i]:,}" if k in d else "-"

    for unit in sorted(units, key=lambda u: -b_units.get(u, [0, 0])[1]):
        n, c, s = units[unit]
        print(f"| {unit} | {get(b_units, unit, 0)} -> {n} | {get(b_units, unit)} | "
              f"{get(m_units, unit)} | {get(w_units, unit)} | {c:,} | {c / total:.1%} | "
              f"{s:,} | {c - s:,} |")
    print(f"| **total (run_cycles)** | {sum(u[0] for u in b_units.values())} -> "
          f"{sum(u[0] for u in units.values())} | {b_total:,} | {m_total:,} | {w_total:,} | "
          f"{total:,} | | {sum(u[2] for u in units.values()):,} | |")
    print()
    print("| op (blocks summed) | unit | descriptors | cycles, before D | part D | part E | "
          "now |")
    print("|---|---|---:|---:|---:|---:|---:|")
    for key in sorted(ops, key=lambda k: -b_ops.get(k, [0, 0])[1]):
        print(f"| {key[0]} | {key[1]} | {get(b_ops, key, 0)} -> {ops[key][0]} | "
              f"{get(b_ops, key)} | {get(m_ops, key)} | {get(w_ops, key)} | "
              f"{ops[key][1]:,} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
