"""Accuracy of the float teacher, plain binarisation and GSB on a bundled dataset.

For each seed: train the float teacher (``fp_{arch}``; ``vit_digits`` on ``--data digits``,
the default, ``vit_mnist`` on ``mnist5k``), then ``binary_{arch}`` and ``gsb_{arch}`` in two
stages (stage 1: MLP weights binarised; stage 2: everything),
both with hard distillation from that seed's teacher. Prints a Markdown table of test
top-1 (mean ± sample std over seeds) with batch-wide GSB reductions (eval batch = training
batch, as the reference) and per-image reductions (what the hardware computes), and the
training time (all stages, wall clock, ``--threads`` CPU threads). ``--save DIR`` keeps
every trained model as a checkpoint ``DIR/{scheme}_s{seed}`` (the ``--gsb-variant`` runs as
``gsb_v{i}_s{seed}``, in order from 3), for ``accuracy_int.py``.

Usage::

    python benchmarks/accuracy_gsb.py --seeds 0 1 2 --epochs 60 --threads 1 --json out.json
    python benchmarks/accuracy_gsb.py --data mnist5k --seeds 0 1 2 --epochs 15 --save runs/m
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import sys
import time

from bench_util import mean_std

from golden.model_cfg import TrainCfg


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default="digits",
                        help="bundled dataset: digits (default) or mnist5k")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--epochs", type=int, default=TrainCfg.field_default("epochs"),
                        help="epochs per stage (default %(default)s)")
    parser.add_argument("--teacher-epochs", type=int, help="teacher epochs (default --epochs)")
    parser.add_argument("--batch-size", type=int, default=TrainCfg.field_default("batch_size"))
    parser.add_argument("--lr", type=float, default=TrainCfg.field_default("lr"))
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    parser.add_argument("--schemes", nargs="+", default=["binary", "gsb"])
    parser.add_argument("--gsb-variant", action="append", default=[], metavar="FIELD=VALUE",
                        help="also train GSB with this GSBCfg override (JSON value), e.g. "
                        "residual_init=true; repeatable, one extra row each")
    parser.add_argument("--json", help="also write the raw results here")
    parser.add_argument("--save", metavar="DIR",
                        help="save each trained model as a checkpoint DIR/{scheme}_s{seed}")
    parser.add_argument("--progress", action="store_true", help="show progress bars")
    args = parser.parse_args(argv)

    import torch

    from models.checkpoint import save_checkpoint
    from models.data import load_data
    from models.train import evaluate, train_scheme
    from models.vit import ARCHS, DATA_ARCHS, set_per_image

    if args.data not in DATA_ARCHS:
        parser.error(f"--data must be one of {', '.join(DATA_ARCHS)}, not {args.data!r}")
    torch.set_num_threads(args.threads)
    data, arch = load_data(args.data), DATA_ARCHS[args.data]
    variants = [(s, s, {}) for s in args.schemes]
    for spec in args.gsb_variant:
        field, _, value = spec.partition("=")
        variants.append((f"GSB ({spec})", "gsb", {field: json.loads(value)}))
    names = {"fp": "fp teacher", "binary": "plain binary", "gsb": "GSB"}
    results: dict[str, list[dict]] = {"fp": [], **{label: [] for label, _, _ in variants}}
    start = time.perf_counter()
    for seed in args.seeds:
        cfg = TrainCfg(epochs=args.epochs, batch_size=args.batch_size, lr=args.lr, seed=seed)
        tcfg = dataclasses.replace(cfg, epochs=args.teacher_epochs or args.epochs)
        teacher, info = train_scheme("fp", data, tcfg, arch=arch, progress=args.progress)
        runs = [("fp", teacher, info)]
        for label, scheme, overrides in variants:
            model, info = train_scheme(scheme, data, cfg, arch=arch, teacher=teacher,
                                       progress=args.progress, **overrides)
            runs.append((label, model, info))
        for scheme, model, info in runs:
            if args.save:
                name = scheme if scheme in names else f"gsb_v{list(results).index(scheme)}"
                save_checkpoint(os.path.join(args.save, f"{name}_s{seed}"), model,
                                extra={"data": data.name, "train": cfg.to_dict(),
                                       "metrics": {"test_top1": info["test_top1"]}})
            row = {"seed": seed, "top1": info["test_top1"], "seconds": info["seconds"],
                   "train_top1": info["stages"][-1]["train_top1"]}
            if model.gsb_cfg is not None:
                row["top1_per_image"] = evaluate(set_per_image(model), data.test)
            else:
                row["top1_per_image"] = row["top1"]
            results[scheme].append(row)
            print(f"seed {seed} {scheme:6s} top-1 {100 * row['top1']:.2f}% "
                  f"(per image {100 * row['top1_per_image']:.2f}%) "
                  f"{row['seconds']:.1f} s", file=sys.stderr, flush=True)

    stages = f"2 x {args.epochs}"
    geo = ARCHS[arch]
    print(f"\n{data.name} ({len(data.train)} train / {len(data.test)} test, stratified), "
          f"{arch} ({geo['img_size']}x{geo['img_size']}, patch {geo['patch_size']}, embed "
          f"{geo['embed_dim']}, {geo['depth']} blocks, {geo['num_heads']} heads), seeds "
          f"{args.seeds}, torch threads {args.threads}, "
          f"{platform.processor() or platform.machine()}\n")
    print("| model | epochs | top-1 % (batch-wide GSB) | top-1 % (per-image GSB) "
          "| training time s |")
    print("|---|---|---|---|---|")
    for scheme, rows in results.items():
        epochs = (args.teacher_epochs or args.epochs) if scheme == "fp" else stages
        top1 = mean_std([r["top1"] for r in rows], 100)
        print(f"| {names.get(scheme, scheme)} | {epochs} | {top1}"
              f" | {mean_std([r['top1_per_image'] for r in rows], 100)}"
              f" | {mean_std([r['seconds'] for r in rows], 1, 0)} |")
    print(f"\nmean ± sample std over {len(args.seeds)} seeds; total wall time "
          f"{time.perf_counter() - start:.0f} s")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"args": vars(args), "results": results}, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
