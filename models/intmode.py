"""Integer mode in PyTorch: a trained binary/GSB/LSQ/Q-ViT ViT with every float island replaced.

:func:`to_integer` exports the model (:func:`models.int_export.export_int_network` for
binary/GSB, :func:`models.int_export_qvit.export_qvit_int_network` for lsq/qvit) and
returns an :class:`IntegerViT`, an ``nn.Module`` whose forward runs only integer torch ops
(:mod:`models.int_kernels`) from image codes to integer logits. Its ``trace`` returns every
intermediate tensor by name; those equal ``golden.network.run_network`` on the exported
package with ``==``. :func:`evaluate_int` gives integer-mode top-1 on a dataset.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor, nn
from torch.utils.data import DataLoader, Dataset

from golden.errors import VitsimError
from golden.netspec import as_op
from models.int_export import IntNet, export_int_network
from models.int_kernels import TORCH_OPS
from models.vit import set_per_image

__all__ = ["IntegerViT", "calibration_images", "evaluate_int", "to_integer"]


class IntegerViT(nn.Module):
    """Runs an :class:`IntNet` with torch integer kernels; parameters are int buffers."""

    def __init__(self, net: IntNet):
        super().__init__()
        self.net = net
        self.ops = [as_op(op) for op in net.ops]
        self._names = {}  # parameter name -> buffer name (param names hold dots)
        for i, (name, arr) in enumerate(sorted(net.params.items())):
            self._names[name] = f"p{i}"
            self.register_buffer(f"p{i}", torch.from_numpy(np.ascontiguousarray(arr)))

    def codes(self, images: Tensor) -> Tensor:
        """Image codes (int8) of float images."""
        s = self.net.meta["s_img"]
        return torch.clamp(torch.round(images.double() / s), -128, 127).to(torch.int8)

    def trace(self, codes: Tensor, *, stop_at: str | None = None) -> dict[str, Tensor]:
        """Every op output for image ``codes`` ``[B, C, H, W]`` (int8), by name."""
        env = {name: getattr(self, buf) for name, buf in self._names.items()}
        env["image"] = codes
        out = {}
        for op in self.ops:
            fn = TORCH_OPS.get(op.kind)
            if fn is None:
                raise VitsimError(f"op {op.name!r}: unknown kind {op.kind!r}")
            res = fn(op, *[env[name] for name in op.inputs])
            res = res if isinstance(res, tuple) else (res,)
            for name, val in zip(op.outputs, res, strict=True):
                env[name] = out[name] = val
            if op.name == stop_at:
                break
        return out

    def forward(self, images: Tensor) -> Tensor:
        """Integer logits of float images (multiply by ``meta['logit_scale']`` for floats)."""
        return self.trace(self.codes(images))[self.net.meta["outputs"]]


def calibration_images(dataset: Dataset, n: int = 256, *, seed: int = 0) -> Tensor:
    """``n`` training images drawn with a fixed seed (the export's calibration set)."""
    g = torch.Generator().manual_seed(seed)
    idx = torch.randperm(len(dataset), generator=g)[:n].tolist()
    return torch.stack([dataset[i][0] for i in idx])


def to_integer(model: nn.Module, calib: Tensor) -> IntegerViT:
    """Integer mode of ``model``: an lsq/qvit model (it has ``qvit_cfg``), exported by
    :func:`models.int_export_qvit.export_qvit_int_network`; a float or mixed-rank model,
    quantised to 8 bits by :func:`models.int_export_ptq.export_ptq_int_network`; or a
    stage-2 binary/GSB model (switched to per-image reductions), exported by
    :func:`export_int_network`."""
    model.eval()
    if getattr(model, "qvit_cfg", None) is not None:
        from models.int_export_qvit import export_qvit_int_network

        with torch.no_grad():
            return IntegerViT(export_qvit_int_network(model, calib))
    if getattr(model, "gsb_cfg", None) is None:  # float / mixed-rank: 8-bit PTQ
        from models.int_export_ptq import export_ptq_int_network

        with torch.no_grad():
            return IntegerViT(export_ptq_int_network(model, calib))
    set_per_image(model, True)
    with torch.no_grad():
        return IntegerViT(export_int_network(model, calib))


@torch.no_grad()
def evaluate_int(int_model: IntegerViT, dataset: Dataset, *, batch_size: int = 128) -> float:
    """Integer-mode top-1 accuracy (%) on ``dataset``."""
    correct = total = 0
    for x, y in DataLoader(dataset, batch_size=batch_size):
        pred = int_model(x).argmax(-1)
        correct += int((pred == y).sum())
        total += len(y)
    return 100.0 * correct / max(total, 1)
