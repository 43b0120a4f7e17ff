"""Per hardware unit: ECP5-85k resources and fmax (open flow, out of context), and cycles of
one tile measured in RTL (cocotb on Verilator) against the unit's cycle model.

For the arrays it also prints LUTs per MAC; for the mixed-bit array, MACs per cycle at every
operand width 2..8 (from the same cycle model the RTL is checked against).

    python benchmarks/hw_units.py [--unit UNIT]... [--json FILE]
    python benchmarks/hw_units.py --lanes 1,2,4,8,16 [--unit UNIT]... [--json FILE]

``--lanes`` instead synthesises the lane-configurable non-linear units (LayerNorm and
softmax at the digits ViT's rows, GELU) at each lane count and prints their resources,
fmax and cycles a row with rows back to back (from the unit's cycle model, which the unit
benches check ``==`` against RTL; LayerNorm and softmax overlap rows, so their figure is the
steady-state period a further row adds, the slowest engine's), so area can be traded for
speed.

With ``--accel PKG`` it prints instead the whole accelerator of network package ``PKG``
fitted to each ``--devices`` part (``vitsim synth --golden PKG --device D``, :mod:`sim.fit`):
the configuration chosen, LUTs, FFs, BRAM, DSP, fmax, cycles a frame (exact analytic
count, the RTL counters' count) and frames/s at fmax, or what the smallest configuration
needs against what the part has. Slow: a Yosys and a nextpnr run per candidate tried.

    python benchmarks/hw_units.py --accel PKG [--devices 25k 45k 85k] [--onchip-kib N]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

from rich.console import Console
from rich.table import Table

from golden.atomic import atomic_write_text
from golden.cases import binary_array_case, mac_array_case, requant_case, residual_case
from golden.cases_gelu import GeluCfg, gelu_case
from golden.cases_gsb import GsbAvCfg, GsbEncoderCfg, gsb_av_case, gsb_encoder_case
from golden.cases_layernorm import LayerNormCfg, layernorm_case
from golden.cases_softmax import SoftmaxCfg, softmax_case
from golden.cases_threshold import ThresholdCfg, threshold_case
from golden.spec import BinaryArrayCfg, MacArrayCfg, RequantCfg, ResidualCfg
from hw.export import export_verilog
from hw.synth import synthesize
from sim.runner import run_bench
from sim.units import unit_for

# (label, config, case writer, MACs per cycle at full width, synthesis without DSPs)
UNITS = [
    ("binary array", BinaryArrayCfg(rows=8, cols=64, mode="xnor", max_k=512),
     lambda cfg, p: binary_array_case(cfg, p, m=2, n=8, k=512), 8 * 64, False),
    # the binary arrays as the accelerator sizes them for the digits GSB ViT
    # (sim.compiler.sizing.binary_rows: 8 rows before, 32 now)
    ("binary array (digits, 8 x 32)", BinaryArrayCfg(rows=8, cols=32, mode="xnor", max_k=64),
     lambda cfg, p: binary_array_case(cfg, p, m=2, n=8, k=64), 8 * 32, False),
    ("binary array (digits, 32 x 32)", BinaryArrayCfg(rows=32, cols=32, mode="xnor",
                                                      max_k=64),
     lambda cfg, p: binary_array_case(cfg, p, m=2, n=32, k=64), 32 * 32, False),
    # 3x3-bit digit lanes are shift-and-add (hw.mac_array.digit_product): no DSP blocks
    ("MAC array", MacArrayCfg(rows=4, cols=16, max_k=256),
     lambda cfg, p: mac_array_case(cfg, p, m=2, n=4, k=256, w_bits=8, a_bits=8,
                                   a_signed=True), 4 * 16 / 16, False),
    # the array sized for the Q-ViT and low-rank digits networks' integer linears
    ("MAC array (linears)", MacArrayCfg(rows=8, cols=32, max_k=256),
     lambda cfg, p: mac_array_case(cfg, p, m=2, n=8, k=256, w_bits=8, a_bits=8,
                                   a_signed=True), 8 * 32 / 16, False),
    # DeiT's patch-embedding array (sim.compiler.sizing.patch_digit_bits): 2-bit digits
    # before, 4-bit now (an 8-bit product in 4 passes instead of 16)
    ("MAC array (DeiT, 4 x 64, 2-bit digits)", MacArrayCfg(rows=4, cols=64, max_k=768),
     lambda cfg, p: mac_array_case(cfg, p, m=2, n=4, k=768, w_bits=8, a_bits=8,
                                   a_signed=True), 4 * 64 / 16, False),
    ("MAC array (DeiT, 4 x 64, 4-bit digits)",
     MacArrayCfg(rows=4, cols=64, digit_bits=4, max_k=768),
     lambda cfg, p: mac_array_case(cfg, p, m=2, n=4, k=768, w_bits=8, a_bits=8,
                                   a_signed=True), 4 * 64 / 4, False),
    ("requantiser", RequantCfg(lanes=4, acc_bits=24, out_bits=8),
     lambda cfg, p: requant_case(cfg, p, beats=16, shift=50, bits=8, signed=True), None,
     False),
    ("residual add", ResidualCfg(lanes=16, in_bits=16, out_bits=16),
     lambda cfg, p: residual_case(cfg, p, beats=16, stimulus="extremes"), None, False),
    # the non-linear and GSB units at the digits ViT's shapes (N = 18 tokens, d = 32, C = 64)
    ("softmax", SoftmaxCfg(max_len=32, out_bits=16),
     lambda cfg, p: softmax_case(cfg, p, rows=4, row_len=18, scale=2.0**-7, out_bits=16),
     None, False),
    ("LayerNorm", LayerNormCfg(dim=64),
     lambda cfg, p: layernorm_case(cfg, p, rows=4), None, False),
    ("GELU", GeluCfg(lanes=4),
     lambda cfg, p: gelu_case(cfg, p, beats=64, scale=2.0**-10), None, False),
    ("GSB encoder", GsbEncoderCfg(lanes=8, max_elems=2048),
     lambda cfg, p: gsb_encoder_case(cfg, p, shape=(2, 18, 32)), None, False),
    ("GSB A·V", GsbAvCfg(lanes=8, max_n=32, max_d=32),
     lambda cfg, p: gsb_av_case(cfg, p, n=18, d=32), None, False),
    ("threshold", ThresholdCfg(lanes=16, x_bits=32),
     lambda cfg, p: threshold_case(cfg, p, beats=16), None, False),
]


def measure(work: Path, only=None) -> list[dict]:
    rows = []
    for i, (label, cfg, make_case, macs, nodsp) in enumerate(UNITS):
        if only and label not in only:
            continue
        unit = unit_for(cfg.kind)
        report = synthesize(unit.build(cfg), work / f"synth{i}", name=unit.top, nodsp=nodsp)
        case = make_case(cfg, work / f"case{i}")
        vdir = export_verilog(unit.build(cfg), work / f"v{i}", name=unit.top)
        result = run_bench(verilog_dir=vdir, top=unit.top, bench=unit.bench, case_dir=case.path,
                           build_dir=work / f"sim{i}", test_filter="speed")
        rec = result.records[0]
        rows.append({**report.to_dict(), "unit": label, "config": str(cfg),
                     "luts_per_mac": report.luts / macs if macs else None,
                     "rtl_cycles": rec["cycles"], "model_cycles": rec["model_cycles"],
                     "bit_exact": result.passed})
    return rows


#: (label, config at ``lanes``, cycles a row by the unit's model, rows back to back) of the
#: lane units
LANE_UNITS = [
    ("LayerNorm", lambda n: LayerNormCfg(dim=64, lanes=n), lambda cfg: cfg.row_cycles),
    ("LayerNorm-s2", lambda n: LayerNormCfg(dim=64, lanes=n, step_bits=2),
     lambda cfg: cfg.row_cycles),
    ("LayerNorm-s3", lambda n: LayerNormCfg(dim=64, lanes=n, step_bits=3),
     lambda cfg: cfg.row_cycles),
    ("LayerNorm-s4", lambda n: LayerNormCfg(dim=64, lanes=n, step_bits=4),
     lambda cfg: cfg.row_cycles),
    ("softmax", lambda n: SoftmaxCfg(max_len=32, out_bits=16, lanes=n),
     lambda cfg: cfg.row_cycles(18)),
    ("softmax-d2", lambda n: SoftmaxCfg(max_len=32, out_bits=16, lanes=n, div_bits=2),
     lambda cfg: cfg.row_cycles(18)),
    ("GELU", lambda n: GeluCfg(lanes=n), lambda cfg: None),
]


def measure_lanes(work: Path, lanes: list[int], units: list[str] | None = None) -> list[dict]:
    """Synthesise each lane unit (of ``units``, default all) at each lane count (out of
    context)."""
    rows = []
    for label, make, row in LANE_UNITS:
        if units and label not in units:
            continue
        for n in lanes:
            cfg = make(n)
            unit = unit_for(cfg.kind)
            print(f"synthesising {label} at {n} lanes ...", file=sys.stderr, flush=True)
            report = synthesize(unit.build(cfg), work / f"{cfg}", name=unit.top)
            rows.append({**report.to_dict(), "unit": label, "lanes": n, "config": str(cfg),
                         "row_cycles": row(cfg)})
    return rows


def print_lanes(rows: list[dict]) -> None:
    table = Table(title="lane-configurable units on LFE5U-85F (out of context, yowasp flow)")
    for col in ("unit", "lanes", "config", "LUTs", "FFs", "DSP", "BRAM", "fmax MHz",
                "cycles a row (model)"):
        table.add_column(col, justify="left" if col in ("unit", "config") else "right")
    for r in rows:
        table.add_row(r["unit"], str(r["lanes"]), r["config"], str(r["luts"]), str(r["ffs"]),
                      str(r["dsp"]), str(r["bram"]), f"{r['fmax_mhz']:.1f}",
                      "-" if r["row_cycles"] is None else str(r["row_cycles"]))
    Console(width=140).print(table)
def accel_rows(pkg: Path, devices, work: Path, onchip_kib=None) -> list[dict]:
    """One row per device: the fitted accelerator's figures, or why nothing fits."""
    from golden.errors import VitsimError
    from sim.fit import candidates, fit

    cands = candidates(pkg, onchip_kib=onchip_kib)
    rows = []
    for dev in devices:
        try:
            res = fit(cands, work / f"accel-{dev}", device=dev,
                      log=lambda line, d=dev: print(f"{d}: {line}", flush=True))
        except VitsimError as exc:
            rows.append({"device": dev, "fits": False, "why": str(exc)})
            continue
        rows.append({**res.report.to_dict(), "device": dev, "fits": True,
                     "chosen": res.chosen.label, "cycles": res.chosen.cycles,
                     "frames_per_s": res.frames_per_s})
    return rows


def print_accel(rows: list[dict]) -> None:
    table = Table(title="whole accelerator per ECP5 part (out of context, yowasp flow)")
    for col in ("device", "config", "LUTs", "FFs", "BRAM", "DSP", "fmax MHz", "cycles/frame",
                "frames/s", "yosys s", "nextpnr s"):
        table.add_column(col, justify="left" if col in ("device", "config") else "right")
    for r in rows:
        if not r["fits"]:
            table.add_row(r["device"], r["why"], *["-"] * 9)
            continue
        fps = r["frames_per_s"]
        table.add_row(r["device"], r["chosen"], f"{r['luts']:,}", f"{r['ffs']:,}",
                      str(r["bram"]), str(r["dsp"]), f"{r['fmax_mhz']:.1f}",
                      "-" if r["cycles"] is None else f"{r['cycles']:,}",
                      "-" if fps is None else f"{fps:,.1f}", f"{r['yosys_s']:.0f}",
                      f"{r['nextpnr_s']:.0f}")
    Console(width=160).print(table)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--json", type=Path, help="also write the rows as JSON")
    p.add_argument("--lanes", help="comma-separated lane counts: the lane units only")
    p.add_argument("--unit", action="append", metavar="UNIT",
                   help="measure only this unit (repeatable; default: every unit): one of "
                   f"{', '.join(u[0] for u in UNITS)}; with --lanes one of "
                   f"{', '.join(u[0] for u in LANE_UNITS)}")
    p.add_argument("--accel", type=Path, metavar="PKG",
                   help="the whole accelerator of network package PKG per device instead")
    p.add_argument("--devices", nargs="+", default=["25k", "45k", "85k"],
                   choices=["25k", "45k", "85k"])
    p.add_argument("--onchip-kib", type=float, help="--accel: the scratchpad budget")
    args = p.parse_args(argv)
    if args.unit and args.accel is not None:
        p.error("--unit: not with --accel (it fits the whole accelerator)")
    known = [u[0] for u in (LANE_UNITS if args.lanes else UNITS)]
    for name in args.unit or ():
        if name not in known:
            p.error(f"--unit: no unit {name!r}{' with --lanes' if args.lanes else ''}; "
                    f"choose from {', '.join(known)}")
    if args.lanes:
        try:
            lanes = [int(v) for v in args.lanes.split(",")]
        except ValueError:
            p.error(f"--lanes must be comma-separated integers, not {args.lanes!r}")
        with tempfile.TemporaryDirectory(prefix="vitsim-hwunits-") as tmp:
            rows = measure_lanes(Path(tmp), lanes, args.unit)
        print_lanes(rows)
        if args.json:
            atomic_write_text(args.json, json.dumps(rows, indent=2) + "\n")
        return 0
    if args.accel is not None:
        with tempfile.TemporaryDirectory(prefix="vitsim-hwaccel-") as tmp:
            rows = accel_rows(args.accel, args.devices, Path(tmp), args.onchip_kib)
        print_accel(rows)
        if args.json:
            atomic_write_text(args.json, json.dumps(rows, indent=2) + "\n")
        return 0 if any(r["fits"] for r in rows) else 1
    with tempfile.TemporaryDirectory(prefix="vitsim-hwunits-") as tmp:
        os.environ["VITSIM_BUILD_CACHE"] = str(Path(tmp) / "build-cache")
        rows = measure(Path(tmp), args.unit)
    console = Console(width=140)
    table = Table(title="hardware units on LFE5U-85F (out of context, yowasp flow) and in RTL")
    for col in ("unit", "config", "LUTs", "LUTs/MAC", "FFs", "DSP", "BRAM", "fmax MHz",
                "RTL cycles", "model cycles", "bit-exact"):
        table.add_column(col, justify="left" if col in ("unit", "config") else "right")
    for r in rows:
        table.add_row(r["unit"], r["config"], str(r["luts"]),
                      "-" if r["luts_per_mac"] is None else f"{r['luts_per_mac']:.1f}",
                      str(r["ffs"]), str(r["dsp"]), str(r["bram"]), f"{r['fmax_mhz']:.1f}",
                      str(r["rtl_cycles"]), str(r["model_cycles"]),
                      "yes" if r["bit_exact"] else "NO")
    console.print(table)
    mac = MacArrayCfg(rows=4, cols=16, max_k=256)
    widths = Table(title=f"MAC array {mac}: MACs per cycle by operand width (w = a)")
    for b in range(2, 9):
        widths.add_column(f"{b} bit", justify="right")
    widths.add_row(*[f"{mac.rows * mac.cols / mac.passes(w_bits=b, a_bits=b):g}"
                     for b in range(2, 9)])
    console.print(widths)
    if args.json:
        atomic_write_text(args.json, json.dumps(rows, indent=2) + "\n")
    return 0 if all(r["bit_exact"] and r["rtl_cycles"] == r["model_cycles"] for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
