"""Untrained network checkpoints and golden packages for tests (no training, no downloads).

A fresh model's biases are perturbed (so thresholds and requantisers see non-trivial
values) and one forward pass settles its data-dependent state; the same seed and
arguments give the same package, so tests that make it alike share Verilator builds.
"""

from pathlib import Path

import torch

from models.checkpoint import save_checkpoint
from models.registry import create_model
from sim.cli import main


def untrained_checkpoint(root: Path, model: str = "gsb_vit_digits", **kwargs) -> str:
    """Save an untrained ``model`` (``kwargs`` to :func:`create_model`) under ``root``."""
    torch.manual_seed(0)
    net = create_model(model, **kwargs)
    with torch.no_grad():
        for name, p in net.named_parameters():
            if name.endswith("bias"):
                p.add_(torch.randn_like(p) * 0.05)
        net(torch.rand(8, 1, 8, 8) * 2 - 1)
    return save_checkpoint(str(Path(root) / "ck"), net, extra={"data": "digits"})


def untrained_package(root: Path, *, images: int = 1, model: str = "gsb_vit_digits",
                      **kwargs) -> Path:
    """``vitsim golden`` of :func:`untrained_checkpoint` for ``images`` test images."""
    ckpt = untrained_checkpoint(root, model, **kwargs)
    out = Path(root) / "net"
    assert main(["golden", "--ckpt", ckpt, "--out", str(out), "--images", str(images),
                 "--seed", "3"]) == 0
    return out
