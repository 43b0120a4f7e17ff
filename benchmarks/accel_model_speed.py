"""Speed of the accelerator-exact cycle model: configurations priced per second.

Run ``python benchmarks/accel_model_speed.py [--work DIR] [--seconds S]``.

For each GSB architecture of :mod:`benchmarks.program_digest` (``gsb_d4``: the demo's
depth-4 digits ViT; ``gsb_e128h2_keys64``: depth 1, 128 wide, 64-bit keys), the
accelerator is sized to the package (:func:`sim.compiler.accel_config_for`, as
``vitsim memory --accel-package``) and :func:`sim.analytic.accel_cycles.layer_cycles`
(shape-only descriptors from :mod:`sim.compiler.tiling`, each priced in closed form) is
timed on a what-if sweep of depths 1 to 12 (12 distinct configurations), in five modes,
interleaved (best of three rounds each), by wall time and by CPU time
(``time.process_time``: what the process itself spent, the machine's load not counted):

- ``unmemoised``: ``memo=False``, everything emptied (``forget(constants=True)``) before
  each configuration: every descriptor of the network built and priced;
- ``cold``: ``memo=True``, everything emptied before each configuration: one block's
  records built and priced, repeated ``depth`` times;
- ``first-time``: ``memo=True``, the memos emptied (``forget()``) before each
  configuration: no answer is carried from one configuration to the next; kept are only
  constants that are no answer and cannot go stale: the accelerator's descriptor fetch
  cost (per config value), the op names ``blocks.<i>.<op>`` (per block op names), and
  each unit config's ``latency`` (per object, :func:`sim.compiler.timing.latency`);
- ``one sweep``: emptied before each pass over the 12 depths (what one what-if sweep
  costs: the block priced once, reused by the other depths);
- ``repeat``: nothing emptied, so after the first pass every configuration is a memo hit
  (the cost of asking again; not a pricing rate).

Then what-if grids over the hardware (:func:`hardware_grid`: the scratchpad ``lanes``, the
MAC array's ``rows``, the binary arrays' ``rows``, LayerNorm's ``lanes`` and the
elementwise units' ``lanes``, 162 accelerators around the package's, every unit config a
fresh object), everything emptied (``forget(constants=True)`` and the unit latencies of
:func:`sim.compiler.timing.latency`) before each pass over the grid:

- ``hw grid``: the 162 accelerators at the package's depth, each priced once: every
  configuration is new hardware (nothing carried, not even a fetch cost);
- ``hw x depth``: the 162 accelerators x depths 1..12 (1,944 configurations, depth
  varying slowest): the block of each accelerator priced at depth 1 and reused by the
  other depths within the pass (what ``layer_cycles`` remembers per network shape);
- ``accel_layers``: the hw grid through :func:`sim.analytic.model.accel_layers`, the
  entry point of ``vitsim memory --accel-package`` (every descriptor of the network built
  as an :class:`~golden.accel_program.OpDesc` and priced, rows per op name).

The on-chip budget (``--onchip-kib``) is not a grid field: it changes the program's DMA
descriptors only, which the compute-op model does not price. Last, ``run_cycles``: the
package's compiled program (:func:`sim.compiler.compile_network`, without and with the
smallest of 64, 128, 256, 512 KiB ``onchip_kib`` that fits) priced whole at memory
latencies 1, 2, 4 and 8 by :func:`sim.analytic.accel_cycles.run_cycles`, what a package
point of the sweep stage "analytic" does after compiling (programs/s; the compile itself,
~0.1 s, not counted).

The memoised answers are checked equal to the unmemoised ones first. Packages are cached
under ``--work`` as program_digest caches them. The load average is printed with the
table (this is a shared machine).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

ARCHS = ("gsb_d4", "gsb_e128h2_keys64")


def _pass(fn, configs: list, forget, each: bool) -> None:
    if not each:
        forget()
    for cfg in configs:
        if each:
            forget()
        fn(*cfg)


def _rates(modes: dict, configs: list, seconds: float) -> dict:
    """Best of three interleaved rounds: ``(wall, cpu)`` configurations per second of each
    mode ``name -> (fn, forget or None, forget before each configuration)``."""
    best = {name: [0.0, 0.0] for name in modes}
    for _ in range(3):
        for name, (fn, forget, each) in modes.items():
            n, t0, c0 = 0, time.perf_counter(), time.process_time()
            while time.perf_counter() - t0 < seconds / 3 / len(modes):
                _pass(fn, configs, forget or (lambda: None), each)
                n += len(configs)
            wall, cpu = time.perf_counter() - t0, time.process_time() - c0
            best[name][0] = max(best[name][0], n / wall)
            best[name][1] = max(best[name][1], n / max(cpu, 1e-9))
    return best


def hardware_grid(top) -> list:
    """What-if accelerators around ``top`` (an
    :class:`~golden.accel_program.AccelTopCfg`): scratchpad ``lanes`` 16, 32, 64 x MAC
    ``rows`` 8, 16, 32 x binary-array ``rows`` 4, 8, 16 x LayerNorm ``lanes`` 4, 8, 16 x
    requant/residual/GELU ``lanes`` 8, 16; each unit config a fresh object."""
    from dataclasses import replace
    from itertools import product

    from golden.accel_program import AccelTopCfg

    out = []
    for lanes, mac, arr, ln, ew in product((16, 32, 64), (8, 16, 32), (4, 8, 16), (4, 8, 16),
                                           (8, 16)):
        changes = {"mac": {"rows": mac}, "binary_xnor": {"rows": arr},
                   "binary_and": {"rows": arr}, "layernorm": {"lanes": ln},
                   "requant": {"lanes": ew}, "residual": {"lanes": ew}, "gelu": {"lanes": ew}}
        units = {slot: replace(u, **changes.get(slot, {})) for slot, u in top.units.items()}
        out.append(AccelTopCfg(lanes=lanes, depth=top.depth, units=units,
                               ext_words=top.ext_words))
    return out


def _budget(pkg) -> int:
    """The smallest on-chip budget of 64, 128, 256 and 512 KiB that the package compiles
    for."""
    from golden.netpkg import read_network
    from sim.compiler import CompileError, compile_network

    for kib in (64, 128, 256, 512):
        try:
            compile_network(read_network(pkg), image=0, onchip_kib=kib)
        except CompileError:
            continue
        return kib
    raise SystemExit(f"{pkg}: no on-chip budget up to 512 KiB fits")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--work", type=Path, default=None, help="package cache directory")
    ap.add_argument("--seconds", type=float, default=3.0, help="time per measurement")
    args = ap.parse_args(argv)
    from program_digest import packages

    from golden.model_cfg import GSBCfg, ViTCfg
    from golden.netpkg import NetworkData, read_network
    from sim.analytic import scheme_preset
    from sim.analytic.accel_cycles import forget, layer_cycles, run_cycles
    from sim.analytic.model import accel_layers
    from sim.compiler import accel_config_for, compile_network

    work = args.work or Path(tempfile.mkdtemp(prefix="vitsim-accel-speed-"))
    pkgs = packages(work)

    def forget_all():
        forget(constants=True)

    print(f"load average {os.getloadavg()[0]:.1f} over {os.cpu_count()} CPUs; "
          "configurations/s, depth 1..12 sweeps")
    print(f"{'architecture':<18} {'mode':<11} {'wall':>13} {'CPU':>13}")
    for name in ARCHS:
        pkg = pkgs[name]
        top = accel_config_for(NetworkData(read_network(pkg)))
        model = json.loads((pkg / "manifest.json").read_text())["model"]
        vit, gsb = ViTCfg.from_dict(model["vit"]), GSBCfg.from_dict(model["gsb"])

        def price(v, memo=True, gsb=gsb, top=top):
            return layer_cycles(v, top, groups=gsb.groups, embed_bits=gsb.embed_bits,
                                memo=memo)

        depths = [(dataclasses.replace(vit, depth=d),) for d in range(1, 13)]
        forget(constants=True)
        for (v,) in depths:
            if price(v) != price(v, memo=False):
                raise SystemExit(f"{name}: the memoised count differs at depth {v.depth}")
        rates = _rates({"unmemoised": (lambda v: price(v, memo=False), forget_all, True),
                        "cold": (price, forget_all, True),
                        "first-time": (price, forget, True),
                        "one sweep": (price, forget, False),
                        "repeat": (price, None, False)}, depths, args.seconds)
        for mode, (wall, cpu) in rates.items():
            print(f"{name:<18} {mode:<11} {wall:>13,.0f} {cpu:>13,.0f}")
        grid = hardware_grid(top)
        scheme = scheme_preset("gsb", vit, groups=gsb.groups, embed_bits=gsb.embed_bits)
        at_depth = [(vit, t) for t in grid]
        by_depth = [(dataclasses.replace(vit, depth=d), t) for d in range(1, 13) for t in grid]
        forget_all()
        for v, t in by_depth:
            want = price(v, memo=False, top=t)
            if price(v, top=t) != want or {r["name"]: r["cycles"] for r in accel_layers(
                    v, scheme, t)} != want:
                raise SystemExit(f"{name}: the memoised count differs on {t} at depth "
                                 f"{v.depth}")
        for mode, (configs, fn) in {
                "hw grid": (at_depth, lambda v, t: price(v, top=t)),
                "hw x depth": (by_depth, lambda v, t: price(v, top=t)),
                "accel_layers": (at_depth, lambda v, t, s=scheme: accel_layers(v, s, t)),
        }.items():
            (wall, cpu), = _rates({mode: (fn, forget_all, False)}, configs,
                                  args.seconds).values()
            print(f"{name:<18} {mode:<11} {wall:>13,.0f} {cpu:>13,.0f}")
        for kib in (None, _budget(pkg)):  # a package point of the sweep stage "analytic"
            prog = compile_network(read_network(pkg), image=0, onchip_kib=kib)
            lats = [(prog.descs, prog.cfg, lat) for lat in (1, 2, 4, 8)]
            (wall, cpu), = _rates({"run_cycles": (
                lambda d, c, lat: run_cycles(d, c, latency=lat), forget_all, False)},
                lats, args.seconds / 4).values()
            mode = f"run_cycles{'' if kib is None else f' {kib}K'}"
            print(f"{name:<18} {mode:<11} {wall:>13,.0f} {cpu:>13,.0f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
