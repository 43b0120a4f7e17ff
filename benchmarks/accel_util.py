"""Whole-accelerator helpers for ``benchmarks/sim_speed.py``: simulation speed of one
compiled program under cocotb and under the plain C++ harness, array utilisation per
matmul layer, and a synthetic network package with the DeiT-S block linears."""

from __future__ import annotations

import math
import time
from pathlib import Path

import numpy as np

__all__ = ["MATMUL_KINDS", "accel_speed", "deit_s_package", "layer_utilisation"]

MATMUL_KINDS = ("binary_matmul", "patch_matmul", "int_matmul")
#: DeiT-S block linears: (name, M tokens, N outputs, K reduction, mode)
DEIT_S = (("qkv", 197, 1152, 384, "xnor"), ("proj", 197, 384, 384, "xnor"),
          ("fc1", 197, 1536, 384, "xnor"), ("fc2", 197, 384, 1536, "and"))


def accel_speed(program, work: Path, *, repeats: int) -> list[dict]:
    """Run ``program`` ``repeats`` times under cocotb + Verilator and under the C++ harness
    (same Verilog); one row per lane with the best simulated cycles per second.

    Parameters
    ----------
    program : sim.compiler.Program
        The compiled program.
    work : Path
        Scratch directory (one subdirectory per run).
    repeats : int
        Runs per lane; the fastest counts.

    Returns
    -------
    list of dict
        ``lane, passed, cycles, wall_s, cycles_per_s, build_s, runs, op_cycles``.
    """
    from sim.accel_run import run_program

    rows = []
    for lane, harness in (("cocotb + verilator", False), ("plain C++ Verilator harness", True)):
        runs = []
        for i in range(repeats):
            t0 = time.perf_counter()
            res = run_program(program, work / f"{'cxx' if harness else 'cocotb'}{i}",
                              harness=harness)
            res.extra["total_s"] = time.perf_counter() - t0
            runs.append(res)
        best = min(runs, key=lambda r: r.sim_wall_s if r.sim_wall_s > 0 else math.inf)
        rows.append({"lane": lane, "passed": all(r.passed for r in runs),
                     "cycles": best.cycles, "cycles_agree": len({r.cycles for r in runs}) == 1,
                     "wall_s": best.sim_wall_s,
                     "all_wall_s": [r.sim_wall_s for r in runs],
                     "cycles_per_s": best.cycles / best.sim_wall_s if best.sim_wall_s else None,
                     "build_s": runs[0].build_s, "op_cycles": best.op_cycles})
    return rows


def _shape_of(net, op) -> tuple[int, int, int, int]:
    """``(H, M, N, K)`` of one matmul op of one image (``H``: batched heads)."""
    kind = op.kind
    a = net.tensors[op.inputs[0]]
    w = net.tensors[op.inputs[1]]
    if kind == "patch_matmul":
        _, c, hh, ww = a.shape
        p = op.patch
        return 1, (hh // p) * (ww // p), int(w.shape[0]), c * p * p
    if kind == "int_matmul":
        return 1, math.prod(a.shape[1:-1]), int(w.shape[0]), int(a.shape[-1])
    # binary_matmul: a [B, ..., M, K]; w [N, K] (parameter) or [B, ..., N, K] (activation)
    h = math.prod(a.shape[1:-2])
    return h, int(a.shape[-2]), int(w.shape[-2]), int(a.shape[-1])


def layer_utilisation(net, program, op_cycles: list[int]) -> list[dict]:
    """Useful MACs over peak MACs of the measured cycles, one row per matmul op.

    Parameters
    ----------
    net : golden.netpkg.NetworkData
        The decoded package ``program`` was compiled from.
    program : sim.compiler.Program
        Its compiled program (``names`` maps descriptors to ops).
    op_cycles : list of int
        Cycles of each descriptor, read from the accelerator's counters.

    Returns
    -------
    list of dict
        ``name, kind, unit, H, M, N, K, macs, peak, descs, cycles, util``.
    """
    units = program.cfg.units
    rows = []
    for op in net.ops:
        if op.kind not in MATMUL_KINDS:
            continue
        h, m, n, k = _shape_of(net, op)
        if op.kind == "binary_matmul":
            slot = "binary_xnor" if op.mode == "xnor" else "binary_and"
            peak = units[slot].rows * units[slot].cols
        else:
            slot = "mac"
            mac = units["mac"]
            peak = mac.rows * mac.cols / mac.passes(w_bits=op.w_bits, a_bits=op.a_bits)
        idx = [i for i, name in enumerate(program.names) if name == op.name]
        cycles = sum(op_cycles[i] for i in idx)
        macs = h * m * n * k
        rows.append({"name": op.name, "kind": op.kind, "unit": slot, "H": h, "M": m,
                     "N": n, "K": k, "macs": macs, "peak": peak, "descs": len(idx),
                     "cycles": cycles, "util": macs / (peak * cycles) if cycles else None})
    return rows


def deit_s_package(path: Path, *, seed: int = 0, linears: bool = True):
    """Write a one-image network package with a threshold + ``binary_matmul`` pair per
    DeiT-S block linear (qkv, proj, fc1 in XNOR mode on the image codes; fc2 in AND mode on
    the thresholded fc1 output; left out unless ``linears``) and the per-head ``q @ k^T``
    of DeiT-S attention (6 heads of 197 x 64, q and k thresholded from head views of the
    image); return the package.

    Values are random: the package exists for its shapes, but every output is the golden
    model's, so a run of it is still checked bit for bit.
    """
    from golden.netpkg import write_network_package
    from golden.network import run_network

    rng = np.random.default_rng(seed)
    dim = 384
    image = rng.integers(-128, 128, size=(1, 197, dim), dtype=np.int64)
    ops, params = [], {}

    def thr(name, src, k, lo, hi):
        params[f"{name}.in.theta"] = rng.integers(lo, hi, size=(k,), dtype=np.int64)
        params[f"{name}.in.flip"] = rng.integers(0, 2, size=(k,), dtype=np.uint8)
        ops.append({"name": f"{name}.in", "kind": "threshold", "layer": 0, "head": None,
                    "inputs": [src, f"{name}.in.theta", f"{name}.in.flip"],
                    "outputs": [f"{name}.in"], "out_bits": 1, "out_signed": False})

    heads, dh = 6, dim // 6
    ops.append({"name": "heads", "kind": "to_heads", "layer": 0, "head": None,
                "inputs": ["image"], "outputs": ["heads"], "num_heads": heads})
    for name in ("q", "k"):
        params[f"{name}.theta"] = rng.integers(-32, 32, size=(heads, 1, dh), dtype=np.int64)
        params[f"{name}.flip"] = rng.integers(0, 2, size=(heads, 1, dh), dtype=np.uint8)
        ops.append({"name": name, "kind": "threshold", "layer": 0, "head": None,
                    "inputs": ["heads", f"{name}.theta", f"{name}.flip"], "outputs": [name],
                    "out_bits": 1, "out_signed": False})
    ops.append({"name": "qk", "kind": "binary_matmul", "layer": 0, "head": None,
                "mode": "xnor", "inputs": ["q", "k"], "outputs": ["qk"],
                "acc_bound": [-dh, dh]})
    for name, _, n, k, mode in DEIT_S if linears else ():
        src = "image" if name != "fc2" else "fc1"
        lo, hi = (-32, 32) if name != "fc2" else (-24, 24)
        thr(name, src, k, lo, hi)
        params[f"{name}.w"] = rng.integers(0, 2, size=(n, k), dtype=np.uint8)
        ops.append({"name": name, "kind": "binary_matmul", "layer": 0, "head": None,
                    "mode": mode, "inputs": [f"{name}.in", f"{name}.w"], "outputs": [name],
                    "acc_bound": [-k, k]})
    env = {**params, "image": image}
    outputs = run_network(ops, env)
    return write_network_package(
        path, ops=ops, params=params, image=image, outputs=outputs,
        meta={"note": "synthetic DeiT-S block linears (random values)"},
        manifest={"producer": "benchmarks/sim_speed.py", "seed": seed,
                  "model": {"name": "deit_s_linears"}, "images": {"labels": [0]}})
