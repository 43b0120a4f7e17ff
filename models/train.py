"""Training and evaluation: two-stage binarisation with hard distillation.

A float teacher (``fp``) trains on the labels, with both heads (class and distillation
token) against ``y``. ``binary`` and ``gsb`` train in two stages as the GSB code: stage 1
binarises only the MLP weights; stage 2 starts from stage 1 and binarises everything.
With a teacher the loss is ``(1 - w) CE(head, y) + w CE(head_dist, argmax teacher)``
(DeiT hard distillation, ``w = TrainCfg.distill_weight = 0.5``). AdamW (no decay on
biases, shifts, scales, tokens and position embedding) with a per-step cosine schedule.
"""

from __future__ import annotations

import dataclasses
import math
import time

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, Dataset

from golden.errors import VitsimError
from golden.model_cfg import SCHEMES, TrainCfg
from models.data import DataSplit

__all__ = ["evaluate", "predict", "train_scheme", "train_stage"]


class _Indexed(Dataset):
    def __init__(self, base: Dataset):
        self.base = base

    def __len__(self):
        return len(self.base)

    def __getitem__(self, i):
        x, y = self.base[i]
        return x, y, i


@torch.no_grad()
def predict(model: nn.Module, dataset: Dataset, *, batch_size: int = 64) -> torch.Tensor:
    """Return the predicted class of every sample of ``dataset`` (eval mode, in order)."""
    model.eval()
    out = []
    for x, _ in DataLoader(dataset, batch_size=batch_size, shuffle=False):
        out.append(model(x).argmax(-1))
    return torch.cat(out) if out else torch.zeros(0, dtype=torch.long)


@torch.no_grad()
def evaluate(model: nn.Module, dataset: Dataset, *, batch_size: int = 64) -> float:
    """Return top-1 accuracy (0..1) of ``model`` on ``dataset``.

    Batch-wide GSB reductions make the result depend on ``batch_size``; a model built
    with ``per_image=True`` does not.
    """
    labels = torch.as_tensor([int(y) for _, y in dataset])
    if len(labels) == 0:
        raise VitsimError("evaluation dataset is empty")
    return (predict(model, dataset, batch_size=batch_size) == labels).float().mean().item()


def _param_groups(model: nn.Module, weight_decay: float) -> list[dict]:
    skip = set(getattr(model, "no_weight_decay", lambda: set())())
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        if p.ndim <= 1 or name.endswith(".bias") or name in skip:
            no_decay.append(p)
        else:
            decay.append(p)
    return [{"params": decay, "weight_decay": weight_decay},
            {"params": no_decay, "weight_decay": 0.0}]


def _lr_at(step: int, total: int, warmup: int, cfg: TrainCfg) -> float:
    if step < warmup:
        return cfg.lr * (step + 1) / warmup
    t = (step - warmup) / max(1, total - warmup)
    return cfg.min_lr + 0.5 * (cfg.lr - cfg.min_lr) * (1 + math.cos(math.pi * t))


def _loss(out, y: torch.Tensor, t: torch.Tensor | None, w: float) -> torch.Tensor:
    target = y if t is None else t
    if isinstance(out, tuple):  # distilled: (head, head_dist)
        return (1 - w) * F.cross_entropy(out[0], y) + w * F.cross_entropy(out[1], target)
    if t is None:
        return F.cross_entropy(out, y)
    return (1 - w) * F.cross_entropy(out, y) + w * F.cross_entropy(out, target)


def train_stage(
    model: nn.Module,
    data: DataSplit,
    cfg: TrainCfg,
    *,
    teacher: nn.Module | None = None,
    progress: bool = True,
    desc: str = "train",
) -> dict:
    """Train ``model`` in place for ``cfg.epochs``; return a summary dict.

    The summary holds ``seconds`` (wall time of the loop), ``loss`` (last epoch mean) and
    ``train_top1`` (running accuracy of the class head over the last epoch).
    """
    from tqdm.auto import tqdm

    torch.manual_seed(cfg.seed)
    gen = torch.Generator().manual_seed(cfg.seed)
    targets = predict(teacher, data.train, batch_size=256) if teacher is not None else None
    loader = DataLoader(_Indexed(data.train), batch_size=cfg.batch_size, shuffle=True,
                        generator=gen, drop_last=len(data.train) > cfg.batch_size)
    opt = torch.optim.AdamW(_param_groups(model, cfg.weight_decay), lr=cfg.lr, eps=1e-8)
    total = cfg.epochs * len(loader)
    warmup = cfg.warmup_epochs * len(loader)
    if hasattr(model, "set_distilled_training"):
        model.set_distilled_training(True)
    step, loss_sum, correct, seen = 0, 0.0, 0, 0
    start = time.perf_counter()
    bar = tqdm(total=total, desc=desc, unit="step", disable=None if progress else True,
               leave=False)
    for epoch in range(cfg.epochs):
        model.train()
        loss_sum, correct, seen = 0.0, 0, 0
        for x, y, idx in loader:
            for group in opt.param_groups:
                group["lr"] = _lr_at(step, total, warmup, cfg)
            out = model(x)
            loss = _loss(out, y, None if targets is None else targets[idx], cfg.distill_weight)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            step += 1
            loss_sum += loss.item() * len(y)
            logits = out[0] if isinstance(out, tuple) else out
            correct += (logits.argmax(-1) == y).sum().item()
            seen += len(y)
            bar.update(1)
        bar.set_postfix(epoch=epoch + 1, loss=f"{loss_sum / max(seen, 1):.3f}",
                        acc=f"{correct / max(seen, 1):.3f}")
    bar.close()
    if hasattr(model, "set_distilled_training"):
        model.set_distilled_training(False)
    model.eval()
    return {"seconds": time.perf_counter() - start, "loss": loss_sum / max(seen, 1),
            "train_top1": correct / max(seen, 1), "epochs": cfg.epochs, "steps": step}


def train_scheme(
    scheme: str,
    data: DataSplit,
    cfg: TrainCfg,
    *,
    arch: str = "vit_digits",
    teacher: nn.Module | None = None,
    stage1_epochs: int | None = None,
    progress: bool = True,
    **overrides,
) -> tuple[nn.Module, dict]:
    """Build ``{scheme}_{arch}`` for ``data`` and train it; return ``(model, info)``.

    ``fp`` trains one stage of ``cfg.epochs``. ``binary``/``gsb`` train stage 1 for
    ``stage1_epochs`` (default ``cfg.epochs``), then stage 2 for ``cfg.epochs`` from the
    stage-1 weights. ``overrides`` are model config fields (e.g. ``depth``,
    ``per_image``). ``info`` holds per-stage summaries and the test top-1.
    """
    from models.registry import create_model

    if scheme not in SCHEMES:
        raise VitsimError(f"scheme must be one of {', '.join(SCHEMES)}, not {scheme!r}")
    name = f"{scheme}_{arch}"
    geometry = dict(num_classes=data.num_classes, img_size=data.img_size,
                    in_chans=data.in_chans)
    if teacher is not None:
        for key, want in geometry.items():
            got = getattr(teacher.vit_cfg, key)
            if got != want:
                raise VitsimError(f"teacher field {key!r} is {got}, the data needs {want}")
    torch.manual_seed(cfg.seed)
    info: dict = {"model": name, "data": data.name, "stages": []}
    if scheme == "fp":
        model = create_model(name, **geometry, **overrides)
        info["stages"].append(train_stage(model, data, cfg, teacher=teacher,
                                          progress=progress, desc="fp"))
    else:
        stage1 = create_model(name, **geometry, **{**overrides, "stage": 1})
        c1 = cfg if stage1_epochs is None else dataclasses.replace(cfg, epochs=stage1_epochs)
        info["stages"].append(train_stage(stage1, data, c1, teacher=teacher,
                                          progress=progress, desc=f"{scheme} stage 1"))
        torch.manual_seed(cfg.seed)
        model = create_model(name, **geometry, **{**overrides, "stage": 2})
        model.load_state_dict(stage1.state_dict())
        info["stages"].append(train_stage(model, data, cfg, teacher=teacher,
                                          progress=progress, desc=f"{scheme} stage 2"))
    info["seconds"] = sum(s["seconds"] for s in info["stages"])
    info["test_top1"] = evaluate(model, data.test, batch_size=cfg.batch_size)
    return model, info
