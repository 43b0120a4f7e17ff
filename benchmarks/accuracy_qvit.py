"""Uniform LSQ vs Q-ViT at equal BitOPs on a bundled dataset (4-, 3- and 2-bit budgets).

For each seed: train ``qvit_{arch}`` (``vit_digits`` on ``--data digits``, the default,
``vit_mnist`` on ``mnist5k``) in float (quantizers off) for ``--float-epochs``,
then from those weights train, each for ``--epochs`` quantized, the ``--variants``
``{lsq,qvit}_w{W}a{A}``: uniform LSQ at ``W``/``A`` bits, or Q-ViT with the budget of
uniform ``W``/``A`` BitOPs (default ``lsq_w4a4 qvit_w4a4 lsq_w3a3 qvit_w3a3``; widths are
2..8, so ``qvit_w2a2`` can meet its budget only with every width at 2). Every quantized run
starts with the same MSE calibration on one training batch. Prints a Markdown table of
test top-1 (mean ± sample std over seeds), achieved BitOPs against the budget and the
training time (quantized stage only, wall clock, ``--threads`` CPU threads), then the
learned bit maps of the first seed. ``--merge A.json B.json ...`` prints the table of
earlier ``--json`` results (e.g. one seed per process) and trains nothing.

Usage::

    python benchmarks/accuracy_qvit.py --seeds 0 1 2 --float-epochs 40 --epochs 30 \\
        --threads 1 --json out.json
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import platform
import re
import sys
import time

from bench_util import mean_std

from golden.model_cfg import TrainCfg

VARIANTS = ("lsq_w4a4", "qvit_w4a4", "lsq_w3a3", "qvit_w3a3")
_VARIANT = re.compile(r"(lsq|qvit)_w([2-8])a([2-8])")


def variant_model(variant: str, arch: str) -> tuple[str, dict]:
    """Return ``(model name, QViTCfg overrides)`` of ``{lsq,qvit}_w{W}a{A}``; else raise."""
    m = _VARIANT.fullmatch(variant)
    if m is None:
        raise ValueError(f"--variants: {variant!r} is not lsq_wXaY or qvit_wXaY (X, Y in 2..8)")
    return f"{m[1]}_{arch}", {"w_bits": int(m[2]), "a_bits": int(m[3])}


def print_table(results: dict[str, list[dict]], seeds: list[int]) -> None:
    """Print the Markdown table of ``results`` (``{"float": [...], variant: [...]}``).

    Each row says which seeds it holds (a run cut short may leave a variant fewer).
    """
    print("| model | seeds | top-1 % | BitOPs (M) achieved | budget (M) | quantized training s |")
    print("|---|---|---|---|---|---|")
    for name, rows in results.items():
        if not rows:
            continue
        top1 = mean_std([r["top1"] for r in rows], 100)
        secs = mean_std([r["seconds"] for r in rows], 1, 0)
        held = " ".join(str(r["seed"]) for r in rows)
        if name == "float":
            print(f"| float (same network, quantizers off) | {held} | {top1} | – | – | – |")
            continue
        ops = mean_std([r["bitops"] for r in rows], 1e-6, 3)
        print(f"| {name} | {held} | {top1} | {ops} | {rows[0]['budget'] / 1e6:.3f} | {secs} |")
    print(f"\nmean ± sample std over the seeds of each row (of {seeds})")


def merge(paths: list[str]) -> int:
    """Print the table of several ``--json`` files (any seeds); 2 on an unreadable file."""
    results: dict[str, list[dict]] = {}
    seeds: list[int] = []
    for path in paths:
        try:
            with open(path) as f:
                run = json.load(f)
            part, run_seeds = run["results"], list(run["args"]["seeds"])
            for name, rows in part.items():
                need = {"seed", "top1", "seconds"}
                if name != "float":
                    need |= {"bitops", "budget"}
                for row in rows:
                    if need - set(row):
                        raise KeyError(f"{name}: a row without {sorted(need - set(row))[0]}")
        except (OSError, ValueError, KeyError, TypeError) as e:
            print(f"--merge: {path}: not a results file of this script ({e!r})",
                  file=sys.stderr)
            return 2
        seeds += run_seeds
        for name, rows in part.items():
            results.setdefault(name, []).extend(rows)
    print(f"{len(paths)} result files: {', '.join(paths)}\n")
    print_table(results, seeds)
    return 0


def _write_json(path: str, obj: dict) -> None:
    tmp = f"{path}.tmp{os.getpid()}"
    with open(tmp, "w") as f:
        json.dump(obj, f, indent=2)
    os.replace(tmp, path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default="digits",
                        help="bundled dataset: digits (default) or mnist5k")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--float-epochs", type=int, default=40)
    parser.add_argument("--epochs", type=int, default=30, help="quantized epochs per run")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--bits-lr-scale", type=float, default=30.0,
                        help="learning rate of the Q-ViT widths over the base (default 30)")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS),
                        help="lsq_wXaY / qvit_wXaY, X and Y in 2..8 (default: W4A4, W3A3)")
    parser.add_argument("--json", help="also write the raw results (and bit maps) here, "
                        "rewritten after every finished run")
    parser.add_argument("--merge", nargs="+", metavar="JSON",
                        help="print the table of earlier --json files; train nothing")
    parser.add_argument("--progress", action="store_true", help="show progress bars")
    args = parser.parse_args(argv)
    if args.merge:
        return merge(args.merge)

    from models.vit import DATA_ARCHS, QVIT_ARCHS

    if args.data not in DATA_ARCHS:
        parser.error(f"--data must be one of {', '.join(DATA_ARCHS)}, not {args.data!r}")
    arch = DATA_ARCHS[args.data]
    try:
        models = {v: variant_model(v, arch) for v in args.variants}
    except ValueError as e:
        parser.error(str(e))

    import torch

    from models.cli import format_bit_map
    from models.data import load_data
    from models.qvit_layers import set_quant
    from models.registry import create_model
    from models.train import evaluate, train_quantized, train_stage

    torch.set_num_threads(args.threads)
    data = load_data(args.data)
    geo = dict(num_classes=data.num_classes, img_size=data.img_size, in_chans=data.in_chans)
    results: dict[str, list[dict]] = {"float": [], **{v: [] for v in args.variants}}
    start = time.perf_counter()
    for seed in args.seeds:
        cfg = TrainCfg(epochs=args.epochs, batch_size=args.batch_size, lr=args.lr, seed=seed)
        torch.manual_seed(seed)
        base = set_quant(create_model(f"qvit_{arch}", **geo), False)
        fcfg = TrainCfg(epochs=args.float_epochs, batch_size=args.batch_size, lr=args.lr,
                        seed=seed)
        info = train_stage(base, data, fcfg, progress=args.progress, desc="float")
        top1 = evaluate(base, data.test, batch_size=args.batch_size)
        results["float"].append({"seed": seed, "top1": top1, "seconds": info["seconds"]})
        print(f"seed {seed} float      top-1 {100 * top1:.2f}% {info['seconds']:.1f} s",
              file=sys.stderr, flush=True)
        # float weights only: each variant keeps its own starting widths
        state = {k: v for k, v in copy.deepcopy(base.state_dict()).items()
                 if not k.endswith(".bits")}
        for variant in args.variants:
            name, over = models[variant]
            if variant.startswith("qvit"):
                over = {**over, "bits_lr_scale": args.bits_lr_scale}
            torch.manual_seed(seed)
            model = create_model(name, **geo, **over)
            model.load_state_dict({**model.state_dict(), **state})
            info = train_quantized(model, data, cfg, progress=args.progress, desc=variant)
            row = {"seed": seed, "top1": evaluate(model, data.test, batch_size=args.batch_size),
                   "seconds": info["seconds"], "bitops": info["bitops"],
                   "budget": info["budget"], "bit_map": info["bit_map"]}
            results[variant].append(row)
            print(f"seed {seed} {variant:10s} top-1 {100 * row['top1']:.2f}% "
                  f"BitOPs {row['bitops'] / 1e6:.3f} M (budget {row['budget'] / 1e6:.3f} M) "
                  f"{row['seconds']:.1f} s", file=sys.stderr, flush=True)
            if args.json:  # after every run: a run cut short keeps what finished
                _write_json(args.json, {"args": vars(args), "results": results})

    g = QVIT_ARCHS[arch]
    print(f"\n{data.name} ({len(data.train)} train / {len(data.test)} test, stratified), "
          f"{arch} not distilled ({g['img_size']}x{g['img_size']}, patch {g['patch_size']}, "
          f"embed {g['embed_dim']}, {g['depth']} blocks, {g['num_heads']} heads, N = "
          f"{(g['img_size'] // g['patch_size']) ** 2 + 1}), seeds {args.seeds}, float "
          f"{args.float_epochs} epochs then {args.epochs} quantized, Q-ViT width lr "
          f"x{args.bits_lr_scale:g}, torch threads {args.threads}, "
          f"{platform.processor() or platform.machine()}\n")
    print_table(results, args.seeds)
    print(f"total wall time {time.perf_counter() - start:.0f} s")
    if args.json:
        _write_json(args.json, {"args": vars(args), "results": results})
    for variant in args.variants:
        if variant.startswith("qvit") and results[variant]:
            print(f"\nLearned bit map, {variant}, seed {args.seeds[0]}:\n")
            print(format_bit_map(results[variant][0]["bit_map"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
