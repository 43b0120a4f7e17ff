"""Per hardware unit: ECP5-85k resources and fmax (open flow, out of context), and cycles of
one tile measured in RTL (cocotb on Verilator) against the unit's cycle model.

For the arrays it also prints LUTs per MAC; for the mixed-bit array, MACs per cycle at every
operand width 2..8 (from the same cycle model the RTL is checked against).

    python benchmarks/hw_units.py [--json FILE]
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
    # 3x3-bit digit lanes are shift-and-add (hw.mac_array.digit_product): no DSP blocks
    ("MAC array", MacArrayCfg(rows=4, cols=16, max_k=256),
     lambda cfg, p: mac_array_case(cfg, p, m=2, n=4, k=256, w_bits=8, a_bits=8,
                                   a_signed=True), 4 * 16 / 16, False),
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


def measure(work: Path) -> list[dict]:
    rows = []
    for i, (label, cfg, make_case, macs, nodsp) in enumerate(UNITS):
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


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--json", type=Path, help="also write the rows as JSON")
    args = p.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="vitsim-hwunits-") as tmp:
        os.environ["VITSIM_BUILD_CACHE"] = str(Path(tmp) / "build-cache")
        rows = measure(Path(tmp))
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
