"""Checkpoints: a directory holding ``model.pt`` (state dict) and ``config.json``.

``config.json`` records the registered model name and the :class:`ViTCfg`/:class:`GSBCfg`
fields, from which :func:`load_checkpoint` rebuilds the model (and, for a mixed-rank
compressed model, the ``lowrank`` record of every layer's rank), plus the training configs,
metrics, tool versions and the SHA-256 and size of ``model.pt``. Writing is atomic: both
files go to a temporary directory beside the target, which is then renamed into place.
Reading rejects a missing, truncated, damaged or mismatched checkpoint with a
:class:`golden.errors.VitsimError` naming the file and the field.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import torch
from torch import nn

from golden.atomic import atomic_dir, file_sha256
from golden.errors import VitsimError
from golden.jsonio import read_json_object
from golden.model_cfg import GSBCfg, ViTCfg

__all__ = ["CONFIG_FILE", "FORMAT", "VERSION", "WEIGHTS_FILE", "file_sha256", "load_checkpoint",
           "save_checkpoint"]

FORMAT, VERSION = "vitsim-checkpoint", 1
CONFIG_FILE, WEIGHTS_FILE = "config.json", "model.pt"


def save_checkpoint(out: str, model: nn.Module, *, extra: dict | None = None,
                    overwrite: bool = True) -> str:
    """Write ``model`` (built by :mod:`models.vit`) to the directory ``out``, atomically.

    ``extra`` (JSON-ready: training configs, metrics, data name) is stored under its own
    keys. An existing checkpoint at ``out`` is replaced (when ``overwrite``) only once the
    new one is complete; anything else there is refused (:mod:`golden.atomic`).
    Returns ``out``.
    """
    import timm

    out = os.path.abspath(out)
    with atomic_dir(out, kind="checkpoint", overwrite=overwrite) as tmp:
        weights = os.path.join(tmp, WEIGHTS_FILE)
        torch.save(model.state_dict(), weights)
        meta = {
            "format": FORMAT,
            "version": VERSION,
            "model": model.vitsim_name,
            "vit": model.vit_cfg.to_dict(),
            "gsb": model.gsb_cfg.to_dict() if model.gsb_cfg is not None else None,
            **(extra or {}),
            "weights": {"file": WEIGHTS_FILE, "bytes": os.path.getsize(weights),
                        "sha256": file_sha256(weights)},
            "versions": {"torch": torch.__version__, "timm": timm.__version__},
        }
        with open(os.path.join(tmp, CONFIG_FILE), "w") as f:
            json.dump(meta, f, indent=2, sort_keys=True)
            f.write("\n")
    return out


def _field(meta: dict, key: str, source: str, kind: type) -> Any:
    if key not in meta:
        raise VitsimError(f"{source}: missing field {key!r}")
    value = meta[key]
    if not isinstance(value, kind):
        raise VitsimError(f"{source}: field {key!r} must be a {kind.__name__}, not {value!r}")
    return value


def read_config(path: str) -> dict:
    """Return the validated ``config.json`` of the checkpoint directory ``path``."""
    if not os.path.isdir(path):
        raise VitsimError(f"{path}: checkpoint directory not found")
    source = os.path.join(path, CONFIG_FILE)
    if os.path.isdir(source):
        raise VitsimError(f"{source}: is a directory, not a file")
    meta = read_json_object(source, missing="missing (not a vitsim checkpoint)")
    for key, want in (("format", FORMAT), ("version", VERSION)):
        if meta.get(key) != want:
            raise VitsimError(f"{source}: field {key!r} must be {want!r}, not {meta.get(key)!r}")
    _field(meta, "model", source, str)
    _field(meta, "vit", source, dict)
    if meta.get("gsb") is not None:
        _field(meta, "gsb", source, dict)
    weights = _field(meta, "weights", source, dict)
    for key, kind in (("file", str), ("bytes", int), ("sha256", str)):
        _field(weights, key, f"{source} field 'weights'", kind)
    name = weights["file"]
    if (not name or Path(name).is_absolute() or len(Path(name).parts) != 1
            or name in (".", "..") or "\\" in name):
        raise VitsimError(f"{source}: field 'weights.file': {name!r} is not a file name "
                          "inside the checkpoint directory")
    return meta


def load_checkpoint(path: str, **overrides) -> tuple[nn.Module, dict]:
    """Rebuild the model saved in directory ``path``; return ``(model, config)``.

    ``overrides`` replace :class:`GSBCfg` fields (e.g. ``per_image=True`` for golden
    vectors) or :class:`ViTCfg` fields that do not change parameter shapes.

    Raises
    ------
    VitsimError
        Missing directory or file, invalid JSON, unknown model or field, weights whose
        size or hash differ from ``config.json`` (truncated or damaged), or a state dict
        whose names or shapes differ from the rebuilt model.
    """
    from models.registry import create_model, is_model

    meta = read_config(path)
    source = os.path.join(path, CONFIG_FILE)
    if not is_model(meta["model"]):
        raise VitsimError(f"{source}: field 'model': unknown model {meta['model']!r}")
    vit = ViTCfg.from_dict(meta["vit"], source=f"{source} field 'vit'")
    fields = {k: v for k, v in vit.to_dict().items() if k != "kind"}
    if meta.get("gsb") is not None:
        gsb = GSBCfg.from_dict(meta["gsb"], source=f"{source} field 'gsb'")
        fields.update({k: v for k, v in gsb.to_dict().items() if k != "kind"})
    fields.update(overrides)
    model = create_model(meta["model"], **fields)
    if meta.get("lowrank") is not None:  # mixed-rank: rebuild the two-GEMM layers
        from models.lowrank_layers import apply_lowrank_record

        apply_lowrank_record(model, meta["lowrank"], source=f"{source} field 'lowrank'")

    weights = os.path.join(path, meta["weights"]["file"])
    if not os.path.isfile(weights):
        raise VitsimError(f"{weights}: missing")
    size = os.path.getsize(weights)
    if size != meta["weights"]["bytes"]:
        raise VitsimError(
            f"{weights}: {size} bytes, config.json field 'weights.bytes' says "
            f"{meta['weights']['bytes']} (truncated or damaged)"
        )
    if file_sha256(weights) != meta["weights"]["sha256"]:
        raise VitsimError(f"{weights}: content does not match config.json field "
                          "'weights.sha256' (damaged)")
    try:
        state = torch.load(weights, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many kinds on a bad file
        raise VitsimError(f"{weights}: cannot read weights ({type(exc).__name__})") from None
    _check_state(weights, model.state_dict(), state)
    model.load_state_dict(state)
    return model, meta


def _check_state(source: str, expected: dict, got: dict) -> None:
    if not isinstance(got, dict):
        raise VitsimError(f"{source}: not a state dict")
    missing = [k for k in expected if k not in got]
    if missing:
        raise VitsimError(f"{source}: parameter {missing[0]!r} missing for this model")
    unexpected = [k for k in got if k not in expected]
    if unexpected:
        raise VitsimError(f"{source}: unexpected parameter {unexpected[0]!r} for this model")
    for k, v in expected.items():
        if tuple(got[k].shape) != tuple(v.shape):
            raise VitsimError(
                f"{source}: parameter {k!r} has shape {list(got[k].shape)}, "
                f"the model needs {list(v.shape)}"
            )
