"""Simulated cycles per second of the binary matmul array: cocotb on Verilator and Icarus
against the plain C++ Verilator harness, on the same Verilog and the same golden case,
measured side by side in one run.

Every lane streams the whole case with no idle or backpressure cycles, checks every result
with ``==`` and counts cycles from the first input handshake to the last output handshake.
Wall time is the simulation loop only (simulator start-up and builds are listed apart).

With ``--accel PKG`` (a network package) the whole accelerator runs the program compiled
from the package instead: cocotb + Verilator against the C++ harness on the same Verilog
(best of ``--accel-repeats`` runs each), the array utilisation of every matmul layer from
the accelerator's cycle counters, and the same for a synthetic package with the DeiT-S
block linears (``--no-deit`` skips it; it runs under the C++ harness only).

    python benchmarks/sim_speed.py [--rows 8 --cols 64 --m 512] [--json FILE]
    python benchmarks/sim_speed.py --accel PKG [--image 0] [--accel-repeats 2] [--no-deit]
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


def _util_table(title: str, rows: list[dict]) -> Table:
    table = Table(title=title)
    for col in ("layer", "kind", "unit", "H", "M", "N", "K", "peak MAC/cycle", "descs",
                "cycles", "utilisation"):
        table.add_column(col, justify="left" if col in ("layer", "kind", "unit") else "right")
    for r in rows:
        table.add_row(r["name"], r["kind"], r["unit"], str(r["H"]), str(r["M"]), str(r["N"]),
                      str(r["K"]), f"{r['peak']:g}", str(r["descs"]), str(r["cycles"]),
                      "-" if r["util"] is None else f"{100 * r['util']:.1f}%")
    return table


def _util_means(rows: list[dict]) -> dict:
    binary = [r for r in rows if r["kind"] == "binary_matmul" and r["util"] is not None]
    no_qk = [r for r in binary if r["H"] == 1]  # q @ k^T is the only per-head binary matmul
    out = {}
    for label, sel in (("binary matmuls, excluding q@k", no_qk),
                       ("binary matmuls, including q@k", binary)):
        if sel:
            out[label] = {"layers": len(sel),
                          "mean": statistics.fmean(r["util"] for r in sel),
                          "mac_weighted": sum(r["macs"] for r in sel)
                          / sum(r["peak"] * r["cycles"] for r in sel)}
    return out


def _means_table(title: str, means: dict) -> Table:
    table = Table(title=title)
    for col in ("selection", "layers", "mean utilisation", "MAC-weighted"):
        table.add_column(col, justify="left" if col == "selection" else "right")
    for label, m in means.items():
        table.add_row(label, str(m["layers"]), f"{100 * m['mean']:.1f}%",
                      f"{100 * m['mac_weighted']:.1f}%")
    return table


def accel_main(args, console: Console) -> tuple[dict, bool]:
    """The ``--accel`` section: speed lanes, utilisation tables; ``(record, ok)``."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from accel_util import accel_speed, deit_s_package, layer_utilisation

    from golden.netpkg import NetworkData, read_network
    from sim.accel_run import run_program
    from sim.compiler import compile_network

    pkg = read_network(args.accel)
    net = NetworkData(pkg)
    program = compile_network(pkg, image=args.image)
    record: dict = {"package": str(args.accel), "image": args.image}
    with tempfile.TemporaryDirectory(prefix="vitsim-accelspeed-") as tmp:
        lanes = accel_speed(program, Path(tmp), repeats=args.accel_repeats)
    cxx = lanes[-1]["cycles_per_s"]
    table = Table(title=f"sim speed: whole accelerator, {args.accel} image {args.image}, "
                        f"{len(program.descs)} descriptors (best of {args.accel_repeats} "
                        "runs each; Verilator builds cached)")
    for col in ("lane", "bit-exact", "cycles", "sim loop s (best)", "sim loop s (all)",
                "cycles/s", "x slower than C++", "build s (1st run)"):
        table.add_column(col, justify="left" if col == "lane" else "right")
    for r in lanes:
        r["slowdown_vs_cxx"] = cxx / r["cycles_per_s"] if r["cycles_per_s"] else None
        table.add_row(r["lane"], "yes" if r["passed"] else "NO", str(r["cycles"]),
                      f"{r['wall_s']:.3f}", " ".join(f"{w:.3f}" for w in r["all_wall_s"]),
                      f"{r['cycles_per_s']:,.0f}", f"{r['slowdown_vs_cxx']:.2f}",
                      f"{r['build_s']:.1f}")
    console.print(table)
    ratio = lanes[-1]["cycles_per_s"] / lanes[0]["cycles_per_s"]
    console.print(f"cocotb bench / C++ harness speed: the bench is {ratio:.2f}x slower "
                  f"(target: within 2x) -> {'MET' if ratio <= 2 else 'NOT MET'}")
    same = lanes[0]["cycles"] == lanes[1]["cycles"] and lanes[0]["op_cycles"] == lanes[1][
        "op_cycles"]
    console.print(f"cycles and per-descriptor counters identical in both lanes: "
                  f"{'yes' if same else 'NO'}")
    util = layer_utilisation(net, program, lanes[1]["op_cycles"])
    means = _util_means(util)
    console.print(_util_table(f"array utilisation per matmul layer ({args.accel}, measured: "
                              "useful MACs / (peak MACs per cycle x counter cycles))", util))
    console.print(_means_table("mean utilisation (measured)", means))
    record.update(lanes=lanes, utilisation=util, means=means, bench_vs_cxx=ratio)
    ok = all(r["passed"] and r["cycles_agree"] for r in lanes) and same
    if args.deit:
        with tempfile.TemporaryDirectory(prefix="vitsim-deit-") as tmp:
            dpkg = deit_s_package(Path(tmp) / "deit_s")
            dnet = NetworkData(dpkg)
            dprog = compile_network(dpkg)
            res = run_program(dprog, Path(tmp) / "run", harness=True)
        dutil = layer_utilisation(dnet, dprog, res.op_cycles)
        dmeans = _util_means(dutil)
        units = ", ".join(f"{k}={v}" for k, v in dprog.cfg.units.items() if "binary" in k)
        console.print(_util_table(
            f"DeiT-S block linears, synthetic package (random values), MEASURED on the "
            f"accelerator under the C++ harness ({units}); {res.cycles} cycles, "
            f"bit-exact: {'yes' if res.passed else 'NO'}", dutil))
        console.print(_means_table("DeiT-S mean utilisation (measured)", dmeans))
        record["deit_s"] = {"cycles": res.cycles, "passed": res.passed, "utilisation": dutil,
                            "means": dmeans, "sim_wall_s": res.sim_wall_s}
        ok = ok and res.passed
    return record, ok


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rows", type=int, default=8)
    p.add_argument("--cols", type=int, default=64)
    p.add_argument("--k", type=int, default=512)
    p.add_argument("--m", type=int, default=512, help="activation rows (sets the cycle count)")
    p.add_argument("--n", type=int, default=32)
    p.add_argument("--repeats", type=int, default=5, help="C++ harness runs (median)")
    p.add_argument("--json", type=Path, help="also write the rows as JSON")
    p.add_argument("--accel", type=Path, metavar="PKG",
                   help="network package: measure the whole accelerator on it instead")
    p.add_argument("--image", type=int, default=0, help="image of PKG to run")
    p.add_argument("--accel-repeats", type=int, default=2, help="runs per lane (best)")
    p.add_argument("--no-deit", dest="deit", action="store_false",
                   help="skip the synthetic DeiT-S utilisation run")
    args = p.parse_args(argv)
    console = Console(width=150)
    console.print("$ " + " ".join(["python", "benchmarks/sim_speed.py",
                                   *(sys.argv[1:] if argv is None else argv)]))
    if args.accel is not None:
        record, ok = accel_main(args, console)
        if args.json:
            atomic_write_text(args.json, json.dumps(record, indent=2, default=str) + "\n")
        return 0 if ok else 1
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
    console.print(table)
    if args.json:
        atomic_write_text(args.json, json.dumps(rows, indent=2) + "\n")
    return 0 if all(r["passed"] and r["cycles"] == r["model_cycles"] for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
