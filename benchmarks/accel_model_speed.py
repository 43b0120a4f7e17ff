"""Speed of the accelerator-exact cycle model: configurations priced per second.

Run ``python benchmarks/accel_model_speed.py [--work DIR] [--seconds S]``.

For each GSB architecture of :mod:`benchmarks.program_digest` (``gsb_d4``: the demo's
depth-4 digits ViT; ``gsb_e128h2_keys64``: depth 1, 128 wide, 64-bit keys), the
accelerator is sized to the package (:func:`sim.compiler.accel_config_for`, as
``vitsim memory --accel-package``) and :func:`sim.analytic.accel_cycles.layer_cycles`
(shape-only descriptors from :mod:`sim.compiler.tiling`, each priced in closed form) is
timed on a what-if sweep of depths 1 to 12 (12 distinct configurations), in four modes,
interleaved (best of three rounds each):

- ``unmemoised``: ``memo=False``, the memos emptied (:func:`forget`) before each
  configuration: every descriptor built and priced, as before the memos;
- ``first-time``: ``memo=True``, emptied before each configuration (nothing carried from
  one configuration to the next);
- ``one sweep``: emptied before each pass over the 12 depths (what one what-if sweep
  costs: the block priced once, reused by the other depths);
- ``repeat``: nothing emptied, so after the first pass every configuration is a memo hit
  (the cost of asking again; not a pricing rate).

The memoised answers are checked equal to the unmemoised ones first. Packages are cached
under ``--work`` as program_digest caches them.
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


def _pass(fn, configs: list, forget, each: bool) -> None:
    if not each:
        forget()
    for cfg in configs:
        if each:
            forget()
        fn(*cfg)


def _rates(modes: dict, configs: list, seconds: float) -> dict:
    """Best of three interleaved rounds: configurations per second of each mode
    ``name -> (fn, forget or None, forget before each configuration)``."""
    best = dict.fromkeys(modes, 0.0)
    for _ in range(3):
        for name, (fn, forget, each) in modes.items():
            n, t0 = 0, time.perf_counter()
            while time.perf_counter() - t0 < seconds / 3 / len(modes):
                _pass(fn, configs, forget or (lambda: None), each)
                n += len(configs)
            best[name] = max(best[name], n / (time.perf_counter() - t0))
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
    for name in ARCHS:
        pkg = pkgs[name]
        top = accel_config_for(NetworkData(read_network(pkg)))
        model = json.loads((pkg / "manifest.json").read_text())["model"]
        vit, gsb = ViTCfg.from_dict(model["vit"]), GSBCfg.from_dict(model["gsb"])

        def price(v, memo=True, gsb=gsb, top=top):
            return layer_cycles(v, top, groups=gsb.groups, embed_bits=gsb.embed_bits,
                                memo=memo)

        depths = [(dataclasses.replace(vit, depth=d),) for d in range(1, 13)]
        forget()
        for (v,) in depths:
            if price(v) != price(v, memo=False):
                raise SystemExit(f"{name}: the memoised count differs at depth {v.depth}")
        rates = _rates({"unmemoised": (lambda v: price(v, memo=False), forget, True),
                        "first-time": (price, forget, True),
                        "one sweep": (price, forget, False),
                        "repeat": (price, None, False)}, depths, args.seconds)
        print(f"{name} (depth 1..12 sweep, configurations/s): "
              + ", ".join(f"{mode} {rate:,.0f}" for mode, rate in rates.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
