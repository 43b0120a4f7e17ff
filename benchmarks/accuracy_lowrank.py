"""Mixed-rank low-rank compression of a float ViT on bundled data, and DeiT parameter counts.

For each seed: train the float teacher (``fp_vit_digits`` on ``--data digits``, the
default; ``fp_vit_mnist`` on ``mnist5k``), or load ``--ckpt``, then for
each parameter reduction compress its encoder linears (qkv, proj, fc1, fc2) with

* ``svd``: plain truncated SVD of W, ranks allocated on the weight-space error (data-free);
* ``svd@aa``: plain SVD at the ranks the activation-aware allocation chose;
* ``aa``: activation-aware SVD, ranks from the full-X error metric;
* ``aa-mean``: the same with the mean-input metric;
* ``aa+comp``: ``aa`` at rank ``r`` plus a residual pair of rank ``--rank-k`` fitted by
  Adam against the already-compressed network (error compensation), same budget;
* ``aa+comp int8``: ``aa+comp`` with 8-bit LSQ factors (post-training).

Prints Markdown: test top-1 per method (mean over seeds, and the spread), the relative logit
error against the float model (a finer measure than the test top-1), the ranks chosen
per layer at one setting, and the parameter counts of DeiT-T/S/B at the paper's -60%
(shapes only: models built on the ``meta`` device, no weights).

Usage::

    python benchmarks/accuracy_lowrank.py --seeds 0 --targets 0.3 0.45 0.6 --threads 1
    python benchmarks/accuracy_lowrank.py --data mnist5k --ckpt runs/m/fp_s0 --threads 1
"""

from __future__ import annotations

import argparse
import copy
import json
import platform
import statistics
import sys
import time

METHODS = ("svd", "svd@aa", "aa", "aa-mean", "aa+comp", "aa+comp int8")


def _cfgs(target: float, args) -> dict:
    from golden.lowrank_cfg import LowRankCfg

    base = dict(target=target, rank_step=args.rank_step, samples=args.samples)
    comp = dict(rank_k=args.rank_k, steps=args.steps, lr=args.lr)
    return {
        "svd": LowRankCfg(scheme="svd", **base),
        "aa": LowRankCfg(**base),
        "aa-mean": LowRankCfg(metric="mean", **base),
        "aa+comp": LowRankCfg(**base, **comp),
        "aa+comp int8": LowRankCfg(**base, **comp, w_bits=8),
    }


def run_seed(seed: int, args, data) -> dict:
    import torch

    from golden.model_cfg import TrainCfg
    from models.checkpoint import load_checkpoint
    from models.lowrank import compress_model, proxy_images
    from models.train import evaluate, train_scheme

    if args.ckpt:
        teacher, _ = load_checkpoint(args.ckpt)
    else:
        from models.vit import DATA_ARCHS

        teacher, _ = train_scheme("fp", data, TrainCfg(epochs=args.epochs, seed=seed),
                                  arch=DATA_ARCHS[args.data], progress=False)
    images = proxy_images(data.train, args.samples, seed)
    out = {"fp": evaluate(teacher, data.test), "targets": {}}
    x_test = torch.stack([x for x, _ in data.test])
    with torch.no_grad():
        z_fp = teacher.eval()(x_test)
    for target in args.targets:
        cfgs, row, ranks, params, drift = _cfgs(target, args), {}, {}, {}, {}
        for method in sorted(METHODS, key=lambda m: m == "svd@aa"):  # svd@aa needs aa
            t0 = time.perf_counter()
            if method == "svd@aa":
                model, rec = compress_model(teacher, cfgs["svd"], ranks=ranks["aa"])
            else:
                model, rec = compress_model(teacher, cfgs[method], images)
            row[method] = evaluate(model, data.test)
            with torch.no_grad():  # relative logit error against the float model
                drift[method] = float(((model(x_test) - z_fp) ** 2).sum() / (z_fp**2).sum())
            ranks[method], params[method] = rec["layer_ranks"], rec["params"]
            print(f"seed {seed} -{100 * target:g}% {method:>13}: top-1 {100 * row[method]:.2f}% "
                  f"params {rec['params']['compressed']} ({time.perf_counter() - t0:.1f} s)",
                  file=sys.stderr)
            del model
        out["targets"][str(target)] = {"top1": row, "ranks": ranks, "params": params,
                                       "logit_error": drift}
    torch.manual_seed(0)
    return out


def deit_table(target: float, rank_step: int, rank_k: int) -> list[dict]:
    """Parameter counts of DeiT-T/S/B at ``target`` (meta device: shapes, no weights).

    Without weights there is no error curve to allocate on, so every encoder linear gets
    the largest uniform rank ``r`` (a multiple of ``rank_step``) such that ``r + rank_k``
    fits the budget. DeiT as in the paper: not distilled.
    """
    import torch

    from models.lowrank import model_params
    from models.lowrank_alloc import candidate_ranks
    from models.lowrank_layers import compressible_linears, lowrank_params, replace_linears
    from models.registry import create_model

    rows = []
    for size in ("tiny", "small", "base"):
        with torch.device("meta"):
            model = create_model(f"fp_deit_{size}_distilled_patch16_224", distilled=False)
        dense = model_params(model)
        layers = compressible_linears(model)
        linear = sum(lin.weight.numel() for _, lin in layers)
        budget, fixed = int((1 - target) * dense), dense - linear
        row = {"model": f"deit_{size}_patch16_224", "params": dense,
               "linear_share": linear / dense, "budget": budget, "fp32_mib": 4 * dense / 2**20}
        for k in (rank_k,):
            def uniform(r, k=k, layers=layers):
                return {n: r if r in candidate_ranks(lin.in_features, lin.out_features,
                                                     rank_step, k) else 0 for n, lin in layers}

            def count(ranks, k=k, layers=layers, fixed=fixed):
                return fixed + sum(lowrank_params(lin.in_features, lin.out_features, ranks[n],
                                                  k) for n, lin in layers)

            best = max(r for r in range(rank_step, 4096, rank_step)
                       if count(uniform(r)) <= budget)
            built = copy.deepcopy(model)
            with torch.device("meta"):
                replace_linears(built, uniform(best), rank_k=k)
            after = model_params(built)
            assert after == count(uniform(best))  # the modules hold what the accounting says
            factors = after - fixed - sum(lin.out_features for _, lin in layers)  # no biases
            row[f"k{k}"] = {"rank": best, "rank_k": k, "params": after,
                            "reduction": 1 - after / dense,
                            "int8_mib": (factors + 4 * (after - factors)) / 2**20}
        rows.append(row)
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default="digits",
                        help="bundled dataset: digits (default) or mnist5k")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    parser.add_argument("--ckpt", help="use this fp checkpoint instead of training (one seed)")
    parser.add_argument("--epochs", type=int, default=60, help="teacher epochs")
    parser.add_argument("--targets", type=float, nargs="+", default=[0.3, 0.45, 0.6])
    parser.add_argument("--rank-step", type=int, default=4)
    parser.add_argument("--rank-k", type=int, default=4)
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--lr", type=float, default=1e-2)
    parser.add_argument("--samples", type=int, default=512)
    parser.add_argument("--ranks-at", type=float, default=0.6,
                        help="target whose per-layer ranks are printed")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--json", help="write all numbers here")
    args = parser.parse_args(argv)

    import torch

    from models.data import load_data
    from models.vit import DATA_ARCHS

    if args.data not in DATA_ARCHS:
        parser.error(f"--data must be one of {', '.join(DATA_ARCHS)}, not {args.data!r}")
    torch.set_num_threads(args.threads)
    start = time.perf_counter()
    data = load_data(args.data)
    seeds = args.seeds[:1] if args.ckpt else args.seeds
    runs = {seed: run_seed(seed, args, data) for seed in seeds}

    def cell(values):
        mean = 100 * statistics.fmean(values)
        if len(values) == 1:
            return f"{mean:.2f}"
        return f"{mean:.2f} ({100 * min(values):.1f}-{100 * max(values):.1f})"

    arch = DATA_ARCHS[args.data]
    print(f"{data.name} ViT (fp_{arch}, 4 blocks, d=64), {len(seeds)} seed(s) {seeds}: test "
          f"top-1 % on {len(data.test)} images (mean, min-max over seeds); rank step "
          f"{args.rank_step}, residual rank {args.rank_k}, {args.samples} proxy images.\n")
    print("| reduction | params | fp | " + " | ".join(METHODS) + " |")
    print("|---" * (3 + len(METHODS)) + "|")
    first = runs[seeds[0]]
    for t in args.targets:
        key = str(t)
        params = first["targets"][key]["params"]["aa"]["compressed"]
        cells = [cell([runs[s]["targets"][key]["top1"][m] for s in seeds]) for m in METHODS]
        print(f"| -{100 * t:g}% | {params:,} | {cell([runs[s]['fp'] for s in seeds])} | "
              + " | ".join(cells) + " |")

    print("\nRelative logit error ||z - z_fp||^2 / ||z_fp||^2 on the test images (mean over "
          "seeds; lower is closer to the float model):\n")
    print("| reduction | " + " | ".join(METHODS) + " |")
    print("|---" * (1 + len(METHODS)) + "|")
    for t in args.targets:
        key = str(t)
        cells = [f"{statistics.fmean(runs[s]['targets'][key]['logit_error'][m] for s in seeds):.4f}"
                 for m in METHODS]
        print(f"| -{100 * t:g}% | " + " | ".join(cells) + " |")

    key = str(args.ranks_at)
    if key in first["targets"]:
        ranks = first["targets"][key]["ranks"]
        names = list(ranks["aa"])
        print(f"\nRanks per layer at -{100 * args.ranks_at:g}%, seed {seeds[0]} "
              f"(0 = dense; aa+comp adds a residual of rank {args.rank_k}):\n")
        print("| layer | svd | aa | aa-mean | aa+comp |")
        print("|---|---|---|---|---|")
        for n in names:
            print(f"| {n} | " + " | ".join(str(ranks[m][n]) for m in
                                          ("svd", "aa", "aa-mean", "aa+comp")) + " |")

    deit = deit_table(0.6, 8, 8)
    print("\nDeiT at -60% parameters (shapes only, no weights): every encoder linear at the "
          "largest uniform rank r (multiple of 8) plus a residual of rank 8 that fits; patch "
          "embedding, head, norms and tokens stay dense. MiB: fp32 dense; int8 factors + "
          "fp32 rest.\n")
    print("| model | params | in block linears | -60% budget | rank r + k | params after "
          "| reduction | fp32 MiB | int8-factor MiB |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in deit:
        b = r["k8"]
        print(f"| {r['model']} | {r['params']:,} | {100 * r['linear_share']:.1f}% | "
              f"{r['budget']:,} | {b['rank']} + 8 | {b['params']:,} | "
              f"-{100 * b['reduction']:.1f}% | {r['fp32_mib']:.1f} | {b['int8_mib']:.1f} |")
    wall = time.perf_counter() - start
    print(f"\n{wall:.0f} s wall, {args.threads} thread(s), torch {torch.__version__}, "
          f"{platform.processor() or platform.machine()}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"args": vars(args), "runs": {str(s): r for s, r in runs.items()},
                       "deit": deit, "seconds": wall}, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
