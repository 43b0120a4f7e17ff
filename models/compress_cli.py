"""``vitsim compress``: mixed-rank low-rank compression of a float checkpoint.

No torch or timm import at module level (``vitsim --help`` stays fast).
"""

from __future__ import annotations

import argparse
import os

from golden.argtypes import at_least, finite
from golden.atomic import check_out, force_arg
from golden.errors import VitsimError
from golden.lowrank_cfg import LOWRANK_METRICS, LOWRANK_SCHEMES, LowRankCfg

__all__ = ["register"]

#: Residual (compensation) rank of ``--scheme lowrank`` when ``--rank-k`` is not given.
DEFAULT_RANK_K = 8


def register(subparsers) -> None:
    """Add the ``compress`` sub-command to ``subparsers``."""
    p = subparsers.add_parser(
        "compress", help="low-rank compress a float checkpoint to a parameter target",
        description="Factorise the encoder linears (qkv, proj, fc1, fc2) of a float "
        "checkpoint into two chained GEMMs with per-layer ranks chosen greedily to remove "
        "--target of the parameters. svd: plain SVD of W (data-free); lowrank: "
        "activation-aware SVD from proxy images plus a residual pair fitted by gradient "
        "descent against the already-compressed network (error compensation).",
    )
    p.add_argument("--scheme", required=True, choices=LOWRANK_SCHEMES)
    p.add_argument("--ckpt", required=True, help="float (fp) checkpoint directory")
    p.add_argument("--target", required=True, type=finite(),
                   help="fraction of the model's parameters to remove, in (0, 1)")
    p.add_argument("--out", required=True, help="checkpoint directory to write")
    force_arg(p)
    p.add_argument("--rank-step", type=at_least(1), default=LowRankCfg.field_default("rank_step"),
                   help="ranks are multiples of this (default %(default)s)")
    p.add_argument("--metric", choices=LOWRANK_METRICS, default=LowRankCfg.field_default("metric"),
                   help="allocation error metric (default %(default)s)")
    p.add_argument("--rank-k", type=at_least(0),
                   help=f"residual rank (default {DEFAULT_RANK_K} for lowrank, 0 for svd)")
    p.add_argument("--steps", type=at_least(0), default=LowRankCfg.field_default("steps"),
                   help="Adam steps of each layer's compensation (default %(default)s)")
    p.add_argument("--lr", type=finite(positive=True), default=LowRankCfg.field_default("lr"),
                   help="compensation learning rate (default %(default)s)")
    p.add_argument("--samples", type=at_least(1), default=LowRankCfg.field_default("samples"),
                   help="proxy images from the training split (default %(default)s)")
    p.add_argument("--w-bits", type=int, default=LowRankCfg.field_default("w_bits"),
                   help="factor width: 32 (float, default) or 8 (LSQ)")
    p.add_argument("--data", help="dataset (default: the one the checkpoint was trained on)")
    p.add_argument("--seed", type=at_least(0), default=LowRankCfg.field_default("seed"))
    p.add_argument("--threads", type=at_least(1), help="torch CPU threads")
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    p.set_defaults(func=_compress)


def _compress(args: argparse.Namespace) -> int:
    rank_k = args.rank_k if args.rank_k is not None else (
        DEFAULT_RANK_K if args.scheme == "lowrank" else 0)
    try:
        cfg = LowRankCfg(target=args.target, scheme=args.scheme, rank_step=args.rank_step,
                         metric=args.metric, rank_k=rank_k, steps=args.steps, lr=args.lr,
                         samples=args.samples, w_bits=args.w_bits, seed=args.seed)
    except (VitsimError, TypeError) as exc:  # the message starts with the field: its flag
        field = str(exc).split(" ", 1)[0]
        if field not in vars(args):
            raise
        raise VitsimError(f"--{field.replace('_', '-')}: {exc}") from None
    check_out(args.out, "checkpoint", force=args.force,
              inputs=[args.ckpt, None if args.data in (None, "digits") else args.data])
    import torch

    from models.checkpoint import load_checkpoint, read_config, save_checkpoint
    from models.data import load_data
    from models.lowrank import compress_model, proxy_images
    from models.train import evaluate, run_record

    if args.threads is not None:
        if args.threads < 1:
            raise VitsimError(f"--threads must be at least 1, not {args.threads}")
        torch.set_num_threads(args.threads)
    meta = read_config(args.ckpt)
    if meta.get("gsb") is not None or meta.get("lowrank") is not None:
        kind = "binarised" if meta.get("gsb") is not None else "already low-rank"
        raise VitsimError(f"{args.ckpt}: compress needs a float checkpoint, this one is "
                          f"{kind} ({meta['model']!r})")
    model, meta = load_checkpoint(args.ckpt)
    vit = model.vit_cfg
    data = load_data(args.data or meta.get("data", "digits"), img_size=vit.img_size,
                     in_chans=vit.in_chans)
    if data.num_classes != vit.num_classes:
        raise VitsimError(f"{args.ckpt}: model has {vit.num_classes} classes, "
                          f"data {data.name!r} has {data.num_classes}")
    images = proxy_images(data.train, cfg.samples, cfg.seed) if cfg.needs_data else None
    try:
        compressed, record = compress_model(model, cfg, images, progress=not args.no_progress)
    except VitsimError as exc:
        if not str(exc).startswith("target "):
            raise
        raise VitsimError(f"--target: {exc}") from None
    top1 = evaluate(compressed, data.test)
    extra = {"data": data.name, "source": os.path.abspath(args.ckpt), "train": meta.get("train"),
             "lowrank": record, "run": run_record(cfg.seed),
             "metrics": {"test_top1": top1,
                         "source_test_top1": (meta.get("metrics") or {}).get("test_top1")}}
    out = save_checkpoint(args.out, compressed, extra=extra, overwrite=args.force)
    params = record["params"]
    ranks = " ".join(str(r) for r in record["layer_ranks"].values())
    print(f"{meta['model']} {cfg}: {params['dense']} -> {params['compressed']} parameters "
          f"(-{100 * (1 - params['compressed'] / params['dense']):.1f}%), ranks [{ranks}], "
          f"test top-1 {100 * top1:.2f}% -> {out}")
    return 0
