"""``vitsim import``: a state dict trained elsewhere (timm, GSB or Q-ViT code) -> checkpoint.

The ``.pth`` is read with ``torch.load(..., weights_only=True)``: tensors and plain
containers only, plus three classes that DeiT-style training scripts save under ``args``
(``argparse.Namespace``, and ``torch.nn.GELU``/``torch.nn.ReLU``, which the Q-ViT script
stores as ``args.act_layer``); their unpickling runs no code. A dict holding the weights
under ``model`` or ``state_dict`` (as those scripts save it) is unwrapped, and a
``module.`` prefix on every name (DistributedDataParallel) is dropped.

Every parameter and buffer of the named vitsim model is then taken from its foreign name
in the layout (:mod:`models.import_layouts`); a missing name, a name left over or a shape
that differs stops the import with one line naming the key, before anything is written.
The result is an ordinary checkpoint (:func:`models.checkpoint.save_checkpoint`, written
atomically) for ``vitsim eval``, ``golden``, ``compile`` and ``simulate``.
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import re

from golden.atomic import check_out, force_arg
from golden.errors import VitsimError
from models.import_layouts import LAYOUTS, SCHEMES, source_of

__all__ = ["convert_state", "import_checkpoint", "read_state_dict", "register"]


def _safe_globals() -> list:
    """The classes besides tensors that a ``.pth`` may hold (see the module docstring)."""
    import torch

    return [argparse.Namespace, torch.nn.GELU, torch.nn.ReLU]


def _shape(t) -> list[int]:
    return list(t.shape)


def read_state_dict(path: str) -> dict:
    """Return the ``{name: tensor}`` state dict stored in the ``.pth`` file ``path``.

    Raises
    ------
    VitsimError
        Missing file, a file that is not a torch file, one holding Python objects that a
        weights-only load refuses, or one that holds no state dict (also under
        ``model``/``state_dict``).
    """
    import torch

    if not os.path.isfile(path):
        raise VitsimError(f"{path}: no such file")
    try:
        with torch.serialization.safe_globals(_safe_globals()):
            obj = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        found = re.search(r"GLOBAL ([\w.]+)", str(exc))
        if found is None:
            raise VitsimError(f"{path}: not a torch file (UnpicklingError)") from None
        raise VitsimError(f"{path}: holds Python objects ({found.group(1)}) that a "
                          "weights-only load refuses to unpickle") from None
    except Exception as exc:  # torch raises many kinds on a file that is not its own
        raise VitsimError(f"{path}: not a torch file ({type(exc).__name__})") from None
    for key in ("model", "state_dict"):
        if isinstance(obj, dict) and isinstance(obj.get(key), dict):
            obj = obj[key]
            break
    if not isinstance(obj, dict) or not obj:
        kind = "an empty dict" if isinstance(obj, dict) else type(obj).__name__
        raise VitsimError(f"{path}: not a state dict (holds {kind})")
    for name, value in obj.items():
        if not isinstance(name, str) or not isinstance(value, torch.Tensor):
            raise VitsimError(f"{path}: not a state dict (entry {name!r} is a "
                              f"{type(value).__name__}, not a tensor)")
    if all(k.startswith("module.") for k in obj):
        obj = {k[len("module."):]: v for k, v in obj.items()}
    return obj


def convert_state(layout: str, state: dict, expected: dict, *, source: str) -> dict:
    """Return ``expected``'s names filled from the foreign ``state`` in ``layout``.

    ``expected`` is the vitsim model's own state dict (names, shapes, dtypes). Values are
    cast to the vitsim dtype. ``source`` names the file in error messages.

    Raises
    ------
    VitsimError
        The first vitsim parameter whose foreign key is missing, the first foreign key
        left unused, or the first foreign tensor whose shape does not fit.
    """
    import torch

    plan = {name: source_of(layout, name, tuple(t.shape)) for name, t in expected.items()}
    for name, src in plan.items():
        for key in src.keys:
            if key not in state:
                raise VitsimError(f"{source}: missing parameter {key!r} (vitsim {name!r}) "
                                  f"of the {layout} layout")
    used = {key for src in plan.values() for key in src.keys}
    extra = [k for k in state if k not in used]
    if extra:
        raise VitsimError(f"{source}: unexpected parameter {extra[0]!r} for this model "
                          f"in the {layout} layout")
    out = {}
    for name, src in plan.items():
        want = expected[name]
        if src.kind == "set":
            out[name] = torch.ones_like(want)
            continue
        got = [state[k] for k in src.keys]
        for key, t in zip(src.keys, got, strict=True):
            need = ([] if src.kind == "stack" else [1] if src.kind == "flag"
                    else _shape(want))
            if _shape(t) != need and not (src.kind != "copy" and t.numel() == 1):
                raise VitsimError(f"{source}: parameter {key!r} has shape {_shape(t)}, "
                                  f"the model needs {need} (vitsim {name!r})")
        if src.kind == "stack":
            value = torch.stack([t.reshape(()) for t in got])
        elif src.kind == "flag":
            value = (got[0].reshape(()) != 0)
        else:
            value = got[0]
        out[name] = value.to(want.dtype).reshape(want.shape).clone()
    return out


def _check_model(layout: str, name: str) -> None:
    from models.registry import is_model

    if not is_model(name):
        raise VitsimError(f"--model: unknown model {name!r} (see vitsim train --help)")
    scheme = name.split("_", 1)[0]
    if scheme not in SCHEMES[layout]:
        want = " or ".join(f"{s}_*" for s in SCHEMES[layout])
        raise VitsimError(f"--model: --from {layout} imports into a {want} model, "
                          f"not {name!r}")


def _check_embed_bits(model, source: str) -> None:
    """Q-ViT's patch embedding and head quantizers must sit at ``embed_bits``."""
    want = model.qvit_cfg.embed_bits
    for name, q in (("patch_embed.quant", model.patch_embed.proj.x_quant),
                    ("patch_embed.proj", model.patch_embed.proj.w_quant),
                    ("quant", model.head.x_quant), ("head", model.head.w_quant)):
        got = q.int_bits()
        if got != [want]:
            raise VitsimError(f"{source}: parameter '{name}.nbits' rounds to {got[0]} bits, "
                              f"the model has embed_bits={want} (--cfg embed_bits={got[0]})")


def import_checkpoint(layout: str, model_name: str, pth: str, out: str, *,
                      fields: dict | None = None) -> tuple:
    """Convert the ``layout`` state dict in ``pth`` into a checkpoint of ``model_name``.

    ``fields`` override the model's ViTCfg/GSBCfg/QViTCfg fields (geometry, widths); the
    ``qvit`` layout defaults to ``weight_axis="reference"`` (the authors' head axis).
    Returns ``(out, model)``. Nothing is written unless every check passes.
    """
    import torch

    from models.checkpoint import file_sha256, save_checkpoint
    from models.registry import create_model

    if layout not in LAYOUTS:
        raise VitsimError(f"--from must be one of {', '.join(LAYOUTS)}, not {layout!r}")
    _check_model(layout, model_name)
    fields = dict(fields or {})
    if layout == "qvit":
        fields.setdefault("weight_axis", "reference")
    model = create_model(model_name, **fields)
    state = read_state_dict(pth)
    model.load_state_dict(convert_state(layout, state, model.state_dict(), source=pth))
    model.eval()
    extra = {"imported": {"from": layout, "file": os.path.basename(pth),
                          "sha256": file_sha256(pth)}}
    if getattr(model, "qvit_cfg", None) is not None:
        from models.qvit_layers import bit_map, budget_bitops, model_bitops

        _check_embed_bits(model, pth)
        with torch.no_grad():
            ops = int(model_bitops(model).round().item())
        extra.update(qvit=model.qvit_cfg.to_dict(), bit_map=bit_map(model), bitops=ops,
                     budget=budget_bitops(model.vit_cfg, model.qvit_cfg))
    return save_checkpoint(out, model, extra=extra), model


def _field(text: str) -> tuple[str, object]:
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise VitsimError(f"--cfg takes FIELD=VALUE, not {text!r}")
    try:
        return key, json.loads(value)
    except json.JSONDecodeError:
        return key, value


def register(subparsers) -> None:
    """Add the ``import`` sub-command to ``subparsers``."""
    p = subparsers.add_parser(
        "import", help="convert a timm, GSB or Q-ViT state dict (.pth) into a checkpoint",
        description="Read a state dict saved by timm or by the GSB / Q-ViT authors' "
        "training code (weights_only, no code unpickled) and write a vitsim checkpoint "
        "of --model for eval, golden, compile and simulate.",
    )
    p.add_argument("--from", dest="layout", required=True, metavar="{timm,gsb,qvit}",
                   help="timm: fp_* models; gsb: gsb_* (stage-2 binary DeiT); qvit: "
                   "qvit_*/lsq_* (Q-ViT DeiT)")
    p.add_argument("--model", required=True,
                   help="vitsim model, e.g. fp_deit_small_distilled_patch16_224, "
                   "gsb_deit_small_distilled_patch16_224, qvit_deit_tiny_patch16_224")
    p.add_argument("pth", help="the .pth file (a state dict, or a dict with 'model' or "
                   "'state_dict')")
    p.add_argument("--out", required=True, help="checkpoint directory to write")
    p.add_argument("--cfg", action="append", default=[], metavar="FIELD=VALUE",
                   help="override a model config field (repeatable), e.g. depth=6, "
                   "distilled=false, head_wise=false")
    force_arg(p)
    p.set_defaults(func=_import)


def _import(args: argparse.Namespace) -> int:
    fields = dict(_field(t) for t in args.cfg)
    check_out(args.out, "checkpoint", force=args.force, inputs=[args.pth])
    try:
        out, model = import_checkpoint(args.layout, args.model, args.pth, args.out,
                                       fields=fields)
    except VitsimError as exc:  # a config refusing a --cfg value names its field first
        word = str(exc).split(" ", 1)[0]
        if word in fields:
            raise VitsimError(f"--cfg {word}={fields[word]}: {exc}") from None
        if fields and str(exc).startswith("unknown model field"):
            raise VitsimError(f"--cfg: {exc}") from None
        raise
    n = sum(t.numel() for t in model.state_dict().values())
    print(f"{model.vitsim_name}: {n:,} values imported from {args.layout} [{args.pth}] "
          f"-> {out}")
    return 0
