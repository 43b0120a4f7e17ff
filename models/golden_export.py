"""``vitsim golden --ckpt``: a trained checkpoint to a network golden-vector package.

The checkpoint (binary/GSB with per-image reductions, or lsq/qvit) is loaded, exported to
an integer network (calibrated on training images drawn with ``seed``), run in PyTorch
integer mode on ``images`` test images (also drawn with ``seed``), and written with every
intermediate by :func:`golden.netpkg.write_network_package`. The same checkpoint, arguments
and seed give the same package byte for byte.
"""

from __future__ import annotations

import numpy as np
import torch

from golden.errors import VitsimError
from golden.netpkg import write_network_package
from golden.package import Package
from golden.version import producer

__all__ = ["export_golden", "load_int_model"]


def load_int_model(ckpt: str, *, calib: int = 256, seed: int = 0, data: str | None = None):
    """Return ``(int_model, float_model, meta, data)`` for any checkpoint.

    Binary/GSB models load with per-image reductions; lsq/qvit models with the
    ``QViTCfg`` recorded in the checkpoint's ``qvit`` field; float and mixed-rank (low-rank)
    models are quantised to 8 bits after training (:mod:`models.int_export_ptq`).
    """
    from models.checkpoint import load_checkpoint, read_config
    from models.data import load_data
    from models.intmode import calibration_images, to_integer

    meta = read_config(ckpt)
    qvit = meta.get("qvit")
    if qvit is not None:  # lsq/qvit: rebuilt with the recorded QViTCfg (as vitsim eval)
        if not isinstance(qvit, dict):
            raise VitsimError(f"{ckpt}: field 'qvit' must be a dict, not {qvit!r}")
        model, meta = load_checkpoint(ckpt, **{k: v for k, v in qvit.items() if k != "kind"})
    elif meta.get("gsb") is None:  # float or mixed-rank: 8-bit post-training quantisation
        model, meta = load_checkpoint(ckpt)
    else:
        model, meta = load_checkpoint(ckpt, per_image=True)
    cfg = model.vit_cfg
    split = load_data(data or meta.get("data", "digits"), img_size=cfg.img_size,
                      in_chans=cfg.in_chans)
    with torch.no_grad():
        int_model = to_integer(model, calibration_images(split.train, calib, seed=seed))
    return int_model, model, meta, split


def export_golden(ckpt: str, out, *, images: int = 4, seed: int = 0, calib: int = 256,
                  data: str | None = None) -> Package:
    """Write the network package of ``images`` test images of ``ckpt`` to ``out``."""
    if not 1 <= images <= 4096:
        raise VitsimError(f"--images must be between 1 and 4096, not {images}")
    torch.manual_seed(seed)
    int_model, _, meta, split = load_int_model(ckpt, calib=calib, seed=seed, data=data)
    g = torch.Generator().manual_seed(seed)
    idx = torch.randperm(len(split.test), generator=g)[:images].tolist()
    x = torch.stack([split.test[i][0] for i in idx])
    labels = [int(split.test[i][1]) for i in idx]
    codes = int_model.codes(x)
    with torch.no_grad():
        trace = int_model.trace(codes)
    outputs = {k: v.cpu().numpy() for k, v in trace.items()}
    logits = outputs[int_model.net.meta["outputs"]]
    manifest = {
        "producer": producer(torch=torch.__version__),
        "seed": seed,
        "model": {"name": meta["model"], "vit": meta["vit"], "gsb": meta["gsb"],
                  "qvit": meta.get("qvit"), "weights_sha256": meta["weights"]["sha256"]},
        "data": split.name,
        "images": {"test_indices": idx, "labels": labels,
                   "predictions": [int(p) for p in np.argmax(logits, axis=-1)]},
        "calibration": {"images": calib, "seed": seed},
    }
    return write_network_package(out, ops=int_model.net.ops, params=int_model.net.params,
                                 image=codes.numpy(), outputs=outputs,
                                 meta=int_model.net.meta, manifest=manifest,
                                 param_widths=int_model.net.widths)
