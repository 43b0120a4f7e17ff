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


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--work", type=Path, default=None, help="package cache directory")
    ap.add_argument("--seconds", type=float, default=3.0, help="time per measurement")
    args = ap.parse_args(argv)
    from program_digest import packages

    from golden.model_cfg import GSBCfg, ViTCfg
    from golden.netpkg import NetworkData, read_network
    from sim.analytic.accel_cycles import forget, layer_cycles
    from sim.compiler import accel_config_for

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
    return 0


if __name__ == "__main__":
    sys.exit(main())
