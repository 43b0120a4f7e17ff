"""``vitsim train`` and ``vitsim eval``: train fp/binary/GSB ViTs, report top-1.

No torch or timm import at module level (``vitsim --help`` stays fast).
"""

from __future__ import annotations

import argparse
import os

from golden.errors import VitsimError
from golden.model_cfg import SCHEMES, TrainCfg

__all__ = ["register"]


def _default(field: str):
    return TrainCfg.__dataclass_fields__[field].default


def register(subparsers) -> None:
    """Add the ``train`` and ``eval`` sub-commands to ``subparsers``."""
    p = subparsers.add_parser(
        "train", help="train a float teacher, a plain-binary or a GSB ViT",
        description="Train {scheme}_{model}. binary/gsb train stage 1 (MLP weights "
        "binarised) then stage 2 (everything), with hard distillation from --teacher.",
    )
    p.add_argument("--scheme", required=True, metavar="{fp,binary,gsb}",
                   help="fp (teacher), binary (plain binarisation) or gsb")
    p.add_argument("--model", default="vit_digits",
                   help="architecture: vit_digits (default), "
                   "deit_{tiny,small,base}_distilled_patch16_224")
    p.add_argument("--data", default="digits",
                   help="'digits' (bundled, default) or an image folder with train/ test/")
    p.add_argument("--out", required=True, help="checkpoint directory to write")
    p.add_argument("--teacher", help="fp checkpoint directory for hard distillation")
    p.add_argument("--epochs", type=int, default=_default("epochs"),
                   help="epochs per stage (default %(default)s)")
    p.add_argument("--stage1-epochs", type=int, help="stage-1 epochs (default --epochs)")
    p.add_argument("--batch-size", type=int, default=_default("batch_size"))
    p.add_argument("--lr", type=float, default=_default("lr"),
                   help="peak AdamW learning rate (default %(default)s)")
    p.add_argument("--seed", type=int, default=_default("seed"))
    p.add_argument("--per-image", action="store_true",
                   help="GSB max/min per image (as golden vectors) instead of per batch")
    p.add_argument("--threads", type=int, help="torch CPU threads")
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    p.set_defaults(func=_train)

    e = subparsers.add_parser("eval", help="top-1 of a checkpoint on the test split")
    e.add_argument("--ckpt", required=True, nargs="+", help="checkpoint directories")
    e.add_argument("--data", help="dataset (default: the one the checkpoint was trained on)")
    e.add_argument("--per-image", action="store_true",
                   help="evaluate with per-image GSB max/min (batch-independent)")
    e.add_argument("--batch-size", type=int, default=_default("batch_size"))
    e.set_defaults(func=_eval)


def _threads(n: int | None) -> None:
    import torch

    if n is not None:
        if n < 1:
            raise VitsimError(f"--threads must be at least 1, not {n}")
        torch.set_num_threads(n)


def _train(args: argparse.Namespace) -> int:
    if args.scheme not in SCHEMES:
        raise VitsimError(f"--scheme must be one of {', '.join(SCHEMES)}, not {args.scheme!r}")
    from models.checkpoint import load_checkpoint, save_checkpoint
    from models.data import load_data
    from models.registry import is_model
    from models.train import train_scheme
    from models.vit import ARCHS

    arch = args.model
    if arch.startswith(f"{args.scheme}_"):
        arch = arch[len(args.scheme) + 1:]
    if arch not in ARCHS or not is_model(f"{args.scheme}_{arch}"):
        raise VitsimError(f"--model: unknown architecture {args.model!r}; known: "
                          f"{', '.join(ARCHS)}")
    _threads(args.threads)
    geo = ARCHS[arch]
    data = load_data(args.data, img_size=geo["img_size"], in_chans=geo.get("in_chans", 3))
    teacher = None
    if args.teacher:
        teacher, meta = load_checkpoint(args.teacher)
        if meta["model"].split("_", 1)[0] != "fp":
            raise VitsimError(f"{args.teacher}: field 'model' must name an fp teacher, "
                              f"not {meta['model']!r}")
    cfg = TrainCfg(epochs=args.epochs, batch_size=args.batch_size, lr=args.lr, seed=args.seed)
    overrides = {"per_image": True} if args.per_image and args.scheme != "fp" else {}
    model, info = train_scheme(args.scheme, data, cfg, arch=arch, teacher=teacher,
                               stage1_epochs=args.stage1_epochs,
                               progress=not args.no_progress, **overrides)
    extra = {"train": cfg.to_dict(), "stage1_epochs": args.stage1_epochs,
             "teacher": os.path.abspath(args.teacher) if args.teacher else None,
             "data": data.name, "metrics": {"test_top1": info["test_top1"]},
             "stages": info["stages"]}
    out = save_checkpoint(args.out, model, extra=extra)
    print(f"{info['model']}: test top-1 {100 * info['test_top1']:.2f}% "
          f"({info['seconds']:.1f} s training) -> {out}")
    return 0


def _eval(args: argparse.Namespace) -> int:
    from models.checkpoint import load_checkpoint
    from models.data import load_data
    from models.train import evaluate

    for path in args.ckpt:
        fp = _is_fp(path)
        model, meta = load_checkpoint(path, **({"per_image": True} if args.per_image and not fp
                                                else {}))
        cfg = model.vit_cfg
        data = load_data(args.data or meta.get("data", "digits"), img_size=cfg.img_size,
                         in_chans=cfg.in_chans)
        if data.num_classes != cfg.num_classes:
            raise VitsimError(f"{path}: model has {cfg.num_classes} classes, "
                              f"data {data.name!r} has {data.num_classes}")
        top1 = evaluate(model, data.test, batch_size=args.batch_size)
        mode = "" if fp else ", GSB " + ("per-image" if args.per_image else
                                          f"per batch of {args.batch_size}")
        print(f"{meta['model']} [{path}]: top-1 {100 * top1:.2f}% on {data.name} test "
              f"({len(data.test)} images{mode})")
    return 0


def _is_fp(path: str) -> bool:
    """Whether the checkpoint at ``path`` holds a float model (no GSB config)."""
    from models.checkpoint import read_config

    return read_config(path).get("gsb") is None
