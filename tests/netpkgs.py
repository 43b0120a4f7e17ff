"""Untrained network checkpoints and golden packages for tests (no training, no downloads).

A fresh model's biases are perturbed (so thresholds and requantisers see non-trivial
values) and one forward pass settles its data-dependent state; the same seed and
arguments give the same package, so tests that make it alike share Verilator builds.
"""

import os
from pathlib import Path

import torch

from models.checkpoint import save_checkpoint
from models.registry import create_model
from sim.cli import main

#: The long RTL forms (every image, the plain twins of faster runs, the big networks), run
#: with VITSIM_BIG_RTL=1; CI runs the short forms (README "The two commands").
BIG_RTL = bool(os.environ.get("VITSIM_BIG_RTL"))


def untrained_checkpoint(root: Path, model: str = "gsb_vit_digits", *, setup=None,
                         data: str = "digits", **kwargs) -> str:
    """Save an untrained ``model`` (``kwargs`` to :func:`create_model`) under ``root``,
    recorded as trained on ``data``; ``setup(name, param)``, when given, may change each
    parameter before the forward pass."""
    torch.manual_seed(0)
    net = create_model(model, **kwargs)
    with torch.no_grad():
        for name, p in net.named_parameters():
            if name.endswith("bias"):
                p.add_(torch.randn_like(p) * 0.05)
            if setup is not None:
                setup(name, p)
        cfg = net.vit_cfg
        net(torch.rand(8, cfg.in_chans, cfg.img_size, cfg.img_size) * 2 - 1)
    return save_checkpoint(str(Path(root) / "ck"), net, extra={"data": data})


def untrained_package(root: Path, *, images: int = 1, model: str = "gsb_vit_digits",
                      setup=None, data: str = "digits", **kwargs) -> Path:
    """``vitsim golden`` of :func:`untrained_checkpoint` for ``images`` test images."""
    ckpt = untrained_checkpoint(root, model, setup=setup, data=data, **kwargs)
    out = Path(root) / "net"
    assert main(["golden", "--ckpt", ckpt, "--out", str(out), "--images", str(images),
                 "--seed", "3"]) == 0
    return out


def check_accel_run(prog, res) -> None:
    """Every assertion a finished, bit-exact accelerator run (:func:`sim.accel_run.run_program`)
    of program ``prog`` must pass."""
    assert res.finished, f"the accelerator did not finish; log: {res.log}"
    assert set(res.tensors) == set(prog.expected)
    assert "logits" in res.tensors
    bad = [(name, t["first"]) for name, t in res.tensors.items() if not t["equal"]]
    assert not bad, (f"{len(bad)} of {len(res.tensors)} tensors differ; first in network "
                     f"order: {bad[0][0]}: {bad[0][1]}")
    assert len(res.op_cycles) == len(prog.descs)
    # the final dma_out dumps the scratchpad before its own counter is written, so its
    # count never reaches the dump
    assert prog.names[-1] == "dma_out"
    zero = [prog.names[i] for i, c in enumerate(res.op_cycles[:-1]) if c <= 0]
    assert not zero, f"descriptors with no cycle count: {zero[:5]}"
    assert sum(res.op_cycles) <= res.cycles


def run_checked(package: Path, work: Path, sim: str, **compile_kw):
    """Compile image 0 of ``package``, run it on ``sim``, print its figures and
    :func:`check_accel_run` it; return ``(program, result)``."""
    import time

    from sim.accel_run import run_program
    from sim.compiler import compile_network

    prog = compile_network(package, image=0, **compile_kw)
    t0 = time.perf_counter()
    res = run_program(prog, work, sim=sim)
    print(f"{len(prog.descs)} descriptors, {res.cycles} cycles, "
          f"{time.perf_counter() - t0:.1f} s (build {res.build_s:.1f} s)")
    check_accel_run(prog, res)
    return prog, res
