"""Simulated cycles per second of the binary matmul array: cocotb on Verilator and Icarus
against the plain C++ Verilator harness, on the same Verilog and the same golden case,
measured side by side in one run.

Every lane streams the whole case with no idle or backpressure cycles, checks every result
with ``==`` and counts cycles from the first input handshake to the last output handshake.
Wall time is the simulation loop only (simulator start-up and builds are listed apart).

    python benchmarks/sim_speed.py [--rows 8 --cols 64 --m 512] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
from pathlib import Path

from rich.console import Console
from rich.table import Table

from golden.atomic import atomic_write_text
from golden.cases import binary_array_case, load_binary_array_case
from golden.spec import BinaryArrayCfg
from golden.streams import binary_array_beats, tile_expected_words
from hw.binary_array import BinaryMatmulArray
from hw.export import export_verilog
from sim.cxx_harness import build_harness, run_harness, write_stimulus
from sim.runner import run_bench


def measure(cfg: BinaryArrayCfg, *, m: int, n: int, k: int, work: Path, repeats: int) -> list:
    case = work / "case"
    pkg = binary_array_case(cfg, case, m=m, n=n, k=k, seed=0)
    _, op, a, w, y = load_binary_array_case(pkg)
    vdir = export_verilog(BinaryMatmulArray(cfg), work / "verilog", name="binary_array")
    rows = []
    for sim in ("verilator", "icarus"):
        result = run_bench(verilog_dir=vdir, top="binary_array",
                           bench="sim.benches.binary_array_bench", case_dir=case,
                           build_dir=work / sim, sim=sim, test_filter="speed")
        rec = result.records[0] if result.records else {}
        rows.append({"lane": f"cocotb + {sim}", "passed": result.passed,
                     "cycles": rec.get("cycles"), "wall_s": rec.get("wall_s"),
                     "build_s": result.build_s, "process_s": result.run_s})
    exe = build_harness(vdir / "binary_array.v", top="binary_array", build_dir=work / "cxx")
    stim = write_stimulus(work / "stimulus.txt", binary_array_beats(cfg, a, w),
                          tile_expected_words(cfg, y))
    runs = [run_harness(exe, stim) for _ in range(repeats)]
    rows.append({"lane": "plain C++ Verilator harness", "passed": all(r.passed for r in runs),
                 "cycles": runs[0].cycles, "wall_s": statistics.median(r.wall_s for r in runs),
                 "build_s": None, "process_s": None})
    for row in rows:
        row["model_cycles"] = op["cycles"]
        row["cycles_per_s"] = row["cycles"] / row["wall_s"] if row["wall_s"] else None
    cxx = rows[-1]["cycles_per_s"]
    for row in rows:
        row["slowdown_vs_cxx"] = cxx / row["cycles_per_s"] if row["cycles_per_s"] else None
    return rows


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rows", type=int, default=8)
    p.add_argument("--cols", type=int, default=64)
    p.add_argument("--k", type=int, default=512)
    p.add_argument("--m", type=int, default=512, help="activation rows (sets the cycle count)")
    p.add_argument("--n", type=int, default=32)
    p.add_argument("--repeats", type=int, default=5, help="C++ harness runs (median)")
    p.add_argument("--json", type=Path, help="also write the rows as JSON")
    args = p.parse_args(argv)
    cfg = BinaryArrayCfg(rows=args.rows, cols=args.cols, mode="xnor", max_k=args.k)
    with tempfile.TemporaryDirectory(prefix="vitsim-simspeed-") as tmp:
        os.environ["VITSIM_BUILD_CACHE"] = str(Path(tmp) / "build-cache")  # time real builds
        rows = measure(cfg, m=args.m, n=args.n, k=args.k, work=Path(tmp), repeats=args.repeats)
    table = Table(title=f"sim speed: BinaryMatmulArray {cfg}, {args.m}x{args.k} by "
                        f"{args.n}x{args.k}, {rows[0]['model_cycles']} cycles by the model")
    for col in ("lane", "bit-exact", "cycles", "sim loop s", "cycles/s", "x slower than C++",
                "build s"):
        table.add_column(col, justify="left" if col == "lane" else "right")
    for r in rows:
        table.add_row(r["lane"], "yes" if r["passed"] else "NO", str(r["cycles"]),
                      f"{r['wall_s']:.4f}", f"{r['cycles_per_s']:,.0f}",
                      f"{r['slowdown_vs_cxx']:.1f}",
                      "-" if r["build_s"] is None else f"{r['build_s']:.1f}")
    Console(width=130).print(table)
    if args.json:
        atomic_write_text(args.json, json.dumps(rows, indent=2) + "\n")
    return 0 if all(r["passed"] and r["cycles"] == r["model_cycles"] for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
