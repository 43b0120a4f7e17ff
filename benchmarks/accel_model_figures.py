"""Every figure of the accelerator-exact cycle model, dumped to compare two trees with ``==``.

Run ``python benchmarks/accel_model_figures.py --out FILE [--work DIR] [--against FILE]``
under each tree (``PYTHONPATH`` at its root) and compare; ``--against`` prints the first
difference and exits 1 if any.

For both GSB architectures of :mod:`benchmarks.program_digest` and a grid of 324
accelerators around the package's (scratchpad ``lanes`` 16/32/64 x MAC ``rows`` 8/16/32 x
binary-array ``rows`` 4/8/16 x LayerNorm ``lanes`` 4/8/16 x requant/residual/GELU ``lanes``
8/16 x threshold ``lanes`` 8/16) x depths 1, 2, 5, 12 x embedding bits 8 and 4, priced in
one pass (the memos kept between configurations): :func:`~sim.analytic.accel_cycles.
layer_cycles` memoised and not, :func:`~sim.analytic.accel_cycles.desc_cycles` of every
descriptor of :func:`~sim.analytic.accel_cycles.accel_descs` at memory latencies 1 and 3,
and their :func:`~sim.analytic.accel_cycles.program_cycles` at latency 2 (or the refusal).
Then every program_digest package compiled with and without buffer reuse, without and
with a 64 KiB on-chip budget: each descriptor's count at latencies 1 and 4 and the run's
:func:`~sim.analytic.accel_cycles.run_cycles` at latency 2 (or the refusals).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import tempfile
from itertools import product
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))


def grid(top) -> list:
    """The 324 accelerators around ``top`` (see the module doc)."""
    from golden.accel_program import AccelTopCfg

    out = []
    for lanes, mac, arr, ln, ew, thr in product((16, 32, 64), (8, 16, 32), (4, 8, 16),
                                                (4, 8, 16), (8, 16), (8, 16)):
        changes = {"mac": {"rows": mac}, "binary_xnor": {"rows": arr},
                   "binary_and": {"rows": arr}, "layernorm": {"lanes": ln},
                   "requant": {"lanes": ew}, "residual": {"lanes": ew}, "gelu": {"lanes": ew},
                   "threshold": {"lanes": thr}}
        units = {s: dataclasses.replace(u, **changes.get(s, {})) for s, u in top.units.items()}
        out.append(AccelTopCfg(lanes=lanes, depth=top.depth, units=units,
                               ext_words=top.ext_words))
    return out


def _model(pkg) -> list:
    from golden.model_cfg import GSBCfg, ViTCfg
    from golden.netpkg import NetworkData, read_network
    from sim.analytic.accel_cycles import (
        accel_descs,
        desc_cycles,
        forget,
        layer_cycles,
        program_cycles,
    )
    from sim.compiler import accel_config_for

    top = accel_config_for(NetworkData(read_network(pkg)))
    model = json.loads((pkg / "manifest.json").read_text())["model"]
    vit, gsb = ViTCfg.from_dict(model["vit"]), GSBCfg.from_dict(model["gsb"])
    forget(constants=True)
    rows = []
    tops = grid(top)
    for depth in (1, 2, 5, 12):
        v = dataclasses.replace(vit, depth=depth)
        for i, t in enumerate(tops):
            for e in (gsb.embed_bits, 4):
                args = dict(groups=gsb.groups, embed_bits=e)
                try:
                    memo = layer_cycles(v, t, **args)
                    plain = layer_cycles(v, t, **args, memo=False)
                    descs = accel_descs(v, t, **args)
                    each = [[n, desc_cycles(x, t), desc_cycles(x, t, latency=3)]
                            for n, x in descs]
                    prog = program_cycles([x for _, x in descs], t, latency=2)
                    rows.append([depth, i, e, list(memo.items()), list(plain.items()), each,
                                 prog])
                except ValueError as exc:
                    rows.append([depth, i, e, "refused", str(exc)])
    return rows


def _programs(pkgs: dict) -> dict:
    from golden.netpkg import read_network
    from sim.analytic.accel_cycles import desc_cycles, run_cycles
    from sim.compiler import CompileError, compile_network

    out = {}
    for name, path in pkgs.items():
        for reuse, kib in ((False, None), (True, None), (False, 64), (True, 64)):
            key = f"{name} reuse={reuse} onchip_kib={kib}"
            try:
                prog = compile_network(read_network(path), image=0, reuse=reuse,
                                       onchip_kib=kib)
            except CompileError as exc:
                out[key] = ["refused", str(exc)]
                continue

            def one(desc, latency, prog=prog):
                try:
                    return desc_cycles(desc, prog.cfg, latency=latency)
                except ValueError as exc:
                    return str(exc)

            try:
                run = run_cycles(prog.descs, prog.cfg, latency=2)
            except ValueError as exc:
                run = str(exc)
            out[key] = [[one(d, lat) for d in prog.descs] for lat in (1, 4)] + [run]
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, required=True, help="JSON file to write")
    ap.add_argument("--work", type=Path, default=None, help="package cache directory")
    ap.add_argument("--against", type=Path, default=None, help="a dump to compare with")
    args = ap.parse_args(argv)
    from program_digest import packages

    pkgs = packages(args.work or Path(tempfile.mkdtemp(prefix="vitsim-accel-figures-")))
    res = {name: _model(pkgs[name]) for name in ("gsb_d4", "gsb_e128h2_keys64")}
    res["programs"] = _programs(pkgs)
    text = json.dumps(res)
    res = json.loads(text)  # as the dump reads back (lists, not tuples)
    tmp = args.out.with_name(args.out.name + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, args.out)
    configs = sum(len(v) for k, v in res.items() if k != "programs")
    figures = sum(len(r[3]) + len(r[4]) + 2 * len(r[5]) + len(r[6])
                  for k, v in res.items() if k != "programs" for r in v if r[3] != "refused")
    print(f"{configs} model configurations ({figures:,} figures), {len(res['programs'])} "
          f"programs -> {args.out}")
    if args.against is not None:
        before = json.loads(args.against.read_text())
        for key in sorted(set(before) | set(res)):
            old, new = before.get(key), res.get(key)
            if old == new:
                continue
            if isinstance(old, dict) and isinstance(new, dict):
                where = next(k for k in sorted(set(old) | set(new)) if old.get(k) != new.get(k))
            else:
                old, new = old or [], new or []
                where = next((i for i in range(min(len(old), len(new))) if old[i] != new[i]),
                             f"length {len(old)} vs {len(new)}")
            print(f"differs: {key}, first at {where}")
            return 1
        print(f"equal to {args.against}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
