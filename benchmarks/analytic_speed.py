"""Analytic model: speed on a DeiT-S grid, the README what-if table, and SCALE-Sim side by side.

Run ``python benchmarks/analytic_speed.py [--plot FILE] [--scalesim-python PY]``.

1. Speed: configurations per second over a 3,600-point DeiT-S grid (weight width, rank,
   buffer sizes, loop order, token tile), cold (caches cleared) and warm, through the same
   path as ``vitsim memory --sweep``; and full per-layer reports per second.
2. What-if: DeiT-T/S/B under FP32, INT8, Q-ViT 4-bit, GSB, GSB + low-rank: weights on chip
   (KiB), DRAM MB per frame at 256 + 256 KiB of buffers, cycles on the reference arrays
   and units (:class:`golden.accel_spec.AnalyticAccelCfg`), and the share of those cycles spent
   on the arrays; ``--plot`` draws it.
3. SCALE-Sim (PyPI ``scalesim`` 3.0.0, which needs ``numpy<2.4``): the 8-bit GEMMs of
   DeiT-T on a 32 x 32 output-stationary array against our model of an array of the same
   peak (``MacArrayCfg(rows=32, cols=32, digit_bits=8)``: 1,024 8-bit MACs per cycle),
   both with 128 + 256 + 128 KiB (ifmap + filter + ofmap) / 256 + 256 KiB buffers and every
   operand going through DRAM; our cycles there are the array's only (``unit_cycles``),
   as SCALE-Sim models the GEMMs alone. SCALE-Sim runs in a subprocess (``--scalesim-python``,
   default this interpreter); when it cannot be imported the table says so and still
   prints our columns.
"""

from __future__ import annotations

import argparse
import csv
import importlib.util
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from golden.accel_spec import AnalyticAccelCfg, MemoryCfg
from golden.spec import MacArrayCfg
from sim.analytic import analyze, evaluate, footprint, model, model_cfg, scheme_preset, units
from sim.analytic.sweep import parse_sweep, run_grid

GRID = ["scheme.w_bits=1,2,3,4,5,6,7,8", "scheme.rank=0,64,96,128,192",
        "memory.weight_kib=64,128,256,512,1024", "memory.act_kib=128,256,512",
        "memory.loop_order=weights_outer,tokens_outer", "memory.token_tile=0,16,64"]
WHATIF = ("fp32", "int8", "qvit4", "gsb", "gsb_lowrank")
SS_ARRAY = 32
SS_MAC = MacArrayCfg(rows=SS_ARRAY, cols=SS_ARRAY, digit_bits=8, max_bits=8, max_k=4096)


def _clear_caches() -> None:
    for fn in (footprint.op_cost, model._groups, model._group_cycles, model._scheme_totals,
               model._unit_totals, units._sized):
        fn.cache_clear()


def speed() -> None:
    sweeps = parse_sweep(GRID)
    for label in ("cold", "warm"):
        if label == "cold":
            _clear_caches()
        t0 = time.perf_counter()
        rows = run_grid(sweeps, model="deit_small_patch16_224", scheme="int8")
        dt = time.perf_counter() - t0
        print(f"speed ({label}): {len(rows)} DeiT-S configurations in {dt * 1e3:.0f} ms = "
              f"{len(rows) / dt:,.0f} configs/s")
    vit = model_cfg("deit_small_patch16_224")
    s, accel = scheme_preset("gsb"), AnalyticAccelCfg()
    t0, n = time.perf_counter(), 200
    for _ in range(n):
        analyze(vit, s, accel)
    dt = time.perf_counter() - t0
    print(f"speed (full per-layer report, {len(analyze(vit, s, accel)['layers'])} layers): "
          f"{n / dt:,.0f} reports/s")


def whatif(plot: Path | None) -> None:
    accel = AnalyticAccelCfg()
    mem = accel.memory
    print(f"\nwhat-if at {mem.weight_kib} + {mem.act_kib} KiB buffers ({mem.loop_order}); "
          f"arrays {accel.binary} and {accel.mac}")
    print("| model | scheme | weights on chip KiB | DRAM MB/frame | cycles | array % | GMAC |")
    print("|---|---|---:|---:|---:|---:|---:|")
    rows = []
    for name in ("deit_tiny_patch16_224", "deit_small_patch16_224", "deit_base_patch16_224"):
        vit = model_cfg(name)
        for scheme in WHATIF:
            t = evaluate(vit, scheme_preset(scheme, vit), accel)
            cyc, share = "n/a (float)", "-"
            if t["cycles"] is not None:
                array = t["unit_cycles"]["array"]
                cyc, share = f"{t['cycles']:,}", f"{100 * array / t['cycles']:.0f}"
            short = name.split("_")[1]
            print(f"| DeiT-{short[0].upper()} | {scheme} | {t['weight_bytes'] / 1024:,.0f} | "
                  f"{t['offchip_bytes'] / 1e6:,.2f} | {cyc} | {share} | {t['macs'] / 1e9:.3f} |")
            rows.append({"model": f"DeiT-{short[0].upper()}", "scheme": scheme, **t})
    if plot is not None:
        from sim.analytic.plots import whatif_bars

        print(f"wrote {whatif_bars(rows, plot)}")


_SS_CFG = """[general]
run_name = vitsim

[architecture_presets]
ArrayHeight = {n}
ArrayWidth = {n}
IfmapSramSzkB = 128
FilterSramSzkB = 256
OfmapSramSzkB = 128
IfmapOffset = 0
FilterOffset = 10000000
OfmapOffset = 20000000
Dataflow = os
Bandwidth = 10
ReadRequestBuffer = 32
WriteRequestBuffer = 32

[layout]
IfmapCustomLayout = False
FilterCustomLayout = False
IfmapSRAMBankBandwidth = 10
IfmapSRAMBankNum = 10
IfmapSRAMBankPort = 2
FilterSRAMBankBandwidth = 10
FilterSRAMBankNum = 10
FilterSRAMBankPort = 2

[sparsity]
SparsitySupport = false
SparseRep = ellpack_block
OptimizedMapping = false
BlockSize = 8
RandomNumberGeneratorSeed = 40

[run_presets]
InterfaceBandwidth = CALC
UseRamulatorTrace = False
"""
_SS_RUN = ("from scalesim.scale_sim import scalesim\n"
           "s = scalesim(save_disk_space=True, verbose=False, config='c.cfg',"
           " topology='t.csv', layout='l.csv', input_type_gemm=True)\n"
           "s.run_scale(top_path='out')\n")


def _scalesim(python: str, gemms: list[tuple[str, int, int, int]]) -> list[dict] | str:
    """Run SCALE-Sim on ``(name, m, n, k)`` GEMMs; per-GEMM dicts, or why it could not."""
    with tempfile.TemporaryDirectory(prefix="vitsim-scalesim-") as tmp:
        d = Path(tmp)
        (d / "c.cfg").write_text(_SS_CFG.format(n=SS_ARRAY))
        (d / "t.csv").write_text("Layer, M, N, K,\n" + "".join(
            f"{name}, {m}, {n}, {k},\n" for name, m, n, k in gemms))
        (d / "l.csv").write_text("Layer,\n")
        proc = subprocess.run([python, "-c", _SS_RUN], cwd=d, capture_output=True, text=True)
        if proc.returncode:
            return f"SCALE-Sim failed: {proc.stderr.strip().splitlines()[-1:]}"
        def read(name):
            with open(d / "out" / "vitsim" / name) as f:
                return [{k.strip(): v.strip() for k, v in r.items() if k}
                        for r in csv.DictReader(f)]
        compute, detail = read("COMPUTE_REPORT.csv"), read("DETAILED_ACCESS_REPORT.csv")
    return [{"cycles": int(float(c["Total Cycles"])),
             "cycles_prefetch": int(float(c["Total Cycles (incl. prefetch)"])),
             "dram": int(float(a["DRAM IFMAP Reads"])) + int(float(a["DRAM Filter Reads"]))
             + int(float(a["DRAM OFMAP Writes"]))} for c, a in zip(compute, detail, strict=True)]


def scalesim_compare(python: str | None) -> None:
    vit = model_cfg("deit_tiny_patch16_224")
    accel = AnalyticAccelCfg(mac=SS_MAC, memory=MemoryCfg(weight_kib=256, act_kib=0,
                                                  weights="streamed"))
    layers = {r["name"]: r for r in analyze(vit, scheme_preset("int8"), accel)["layers"]}
    picks = ["patch_embed", "blocks.0.attn.qkv", "blocks.0.attn.qk", "blocks.0.attn.av",
             "blocks.0.attn.proj", "blocks.0.mlp.fc1", "blocks.0.mlp.fc2", "head"]
    per_frame = {"patch_embed": 1, "head": 1}
    gemms = [(p.split(".")[-1], layers[p]["m"], layers[p]["n"], layers[p]["k"]) for p in picks]
    print(f"\nSCALE-Sim comparison: DeiT-T int8 GEMMs, {SS_ARRAY}x{SS_ARRAY} output-stationary "
          f"vs our {SS_MAC} (1,024 8-bit MACs/cycle each); every operand through DRAM")
    ss = None
    python = python or (sys.executable if importlib.util.find_spec("scalesim") else None)
    if python is None:
        print("SCALE-Sim is not importable here (pip install 'scalesim==3.0.0' 'numpy<2.4', or "
              "pass --scalesim-python); its columns are left empty")
    else:
        t0 = time.perf_counter()
        ss = _scalesim(python, gemms)
        if isinstance(ss, str):
            print(ss + "; its columns are left empty")
            ss = None
        else:
            print(f"(SCALE-Sim took {time.perf_counter() - t0:.1f} s for {len(gemms)} GEMMs; "
                  f"the analytic model {len(gemms)} layers in microseconds)")
    print("| GEMM | M x N x K (x heads) | ours cycles | SCALE-Sim cycles (+prefetch) | ratio | "
          "ours DRAM B | SCALE-Sim DRAM B | ratio |")
    print("|---|---|---:|---:|---:|---:|---:|---:|")
    tot = [0, 0, 0, 0]
    for i, p in enumerate(picks):
        r = layers[p]
        heads = r["heads"]
        reps = per_frame.get(p, vit.depth)
        ours_c, ours_d = r["unit_cycles"]["array"], r["offchip_bytes"]  # the GEMMs only
        line = (f"| {gemms[i][0]} | {r['m']} x {r['n']} x {r['k']}"
                f"{f' (x{heads})' if heads > 1 else ''} | {ours_c:,} |")
        tot[0] += reps * ours_c
        tot[2] += reps * ours_d
        if ss is not None:
            sc, sd = heads * ss[i]["cycles"], heads * ss[i]["dram"]
            tot[1] += reps * sc
            tot[3] += reps * sd
            line += (f" {sc:,} (+{heads * (ss[i]['cycles_prefetch'] - ss[i]['cycles']):,}) | "
                     f"{ours_c / sc:.2f} | {ours_d:,} | {sd:,} | {ours_d / sd:.2f} |")
        else:
            line += f" - | - | {ours_d:,} | - | - |"
        print(line)
    if ss is not None:
        print(f"| per frame | | {tot[0]:,} | {tot[1]:,} | {tot[0] / tot[1]:.2f} | {tot[2]:,} | "
              f"{tot[3]:,} | {tot[2] / tot[3]:.2f} |")
    else:
        print(f"| per frame | | {tot[0]:,} | - | - | {tot[2]:,} | - | - |")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--plot", type=Path, help="write the what-if figure (PNG) here")
    p.add_argument("--scalesim-python", help="interpreter with scalesim installed")
    p.add_argument("--skip-scalesim", action="store_true")
    args = p.parse_args(argv)
    speed()
    whatif(args.plot)
    if not args.skip_scalesim:
        scalesim_compare(args.scalesim_python)
    return 0


if __name__ == "__main__":
    sys.exit(main())
