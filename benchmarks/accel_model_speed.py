"""Speed of the accelerator-exact cycle model: configurations priced per second.

Run ``python benchmarks/accel_model_speed.py [--work DIR] [--seconds S]``.

For each GSB architecture of :mod:`benchmarks.program_digest` (``gsb_d4``: the demo's
depth-4 digits ViT; ``gsb_e128h2_keys64``: depth 1, 128 wide, 64-bit keys), the
accelerator is sized to the package (:func:`sim.compiler.accel_config_for`, as
``vitsim memory --accel-package``) and :func:`sim.analytic.accel_cycles.layer_cycles`
(shape-only descriptors from :mod:`sim.compiler.tiling`, each priced in closed form) is
timed on that one configuration, and on a what-if sweep of depths 1 to 12 (distinct
configurations). Packages are cached under ``--work`` as program_digest caches them.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

ARCHS = ("gsb_d4", "gsb_e128h2_keys64")


def _rate(fn, configs: list, seconds: float) -> float:
    """Best of three: configurations of ``configs`` priced per second by ``fn``."""
    best = 0.0
    for _ in range(3):
        n, t0 = 0, time.perf_counter()
        while time.perf_counter() - t0 < seconds / 3:
            for cfg in configs:
                fn(*cfg)
            n += len(configs)
        best = max(best, n / (time.perf_counter() - t0))
    return best


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--work", type=Path, default=None, help="package cache directory")
    ap.add_argument("--seconds", type=float, default=3.0, help="time per measurement")
    args = ap.parse_args(argv)
    from program_digest import packages

    from golden.model_cfg import GSBCfg, ViTCfg
    from golden.netpkg import NetworkData, read_network
    from sim.analytic.accel_cycles import layer_cycles
    from sim.compiler import accel_config_for

    work = args.work or Path(tempfile.mkdtemp(prefix="vitsim-accel-speed-"))
    pkgs = packages(work)
    for name in ARCHS:
        pkg = pkgs[name]
        top = accel_config_for(NetworkData(read_network(pkg)))
        model = json.loads((pkg / "manifest.json").read_text())["model"]
        vit, gsb = ViTCfg.from_dict(model["vit"]), GSBCfg.from_dict(model["gsb"])

        def price(v, vit=vit, gsb=gsb, top=top):
            return layer_cycles(v, top, groups=gsb.groups, embed_bits=gsb.embed_bits)

        one = _rate(price, [(vit,)], args.seconds)
        depths = [(dataclasses.replace(vit, depth=d),) for d in range(1, 13)]
        sweep = _rate(price, depths, args.seconds)
        print(f"{name}: {one:,.0f} configurations/s (depth {vit.depth}); depth 1..12 "
              f"sweep {sweep:,.0f} configurations/s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
