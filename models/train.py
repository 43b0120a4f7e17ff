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
from golden.model_cfg import QVIT_SCHEMES, SCHEMES, TrainCfg
from models.data import DataSplit

__all__ = ["bitops_penalty", "evaluate", "predict", "run_record", "train_quantized",
           "train_scheme", "train_stage", "world"]


def world(model: nn.Module | None = None) -> tuple[int, int]:
    """``(rank, world_size)`` of this process: ``(0, 1)`` alone; under ``torchrun`` (its
    ``WORLD_SIZE`` > 1) the default process group is started on first use: gloo for a
    ``model`` on the CPU (as ``vitsim train`` keeps it), nccl for one on a GPU."""
    import os

    size = int(os.environ.get("WORLD_SIZE", "1"))
    if size <= 1:
        return 0, 1
    import torch.distributed as dist

    if not dist.is_initialized():
        on_gpu = model is not None and any(p.is_cuda for p in model.parameters())
        dist.init_process_group("nccl" if on_gpu else "gloo")
    return dist.get_rank(), dist.get_world_size()


class _RankShare:
    """The batches of ``batches`` (a batch sampler: the one-process order), each cut into
    ``world`` contiguous near-equal shares; this rank's share of each. Every rank draws the
    same order from the same seeded generator, so together the ranks see exactly the
    one-process global batches (torch's DistributedSampler shuffles by its own seed)."""

    def __init__(self, batches, rank: int, world: int):
        self.batches, self.rank, self.world = batches, rank, world
        self.last = 0

    def __len__(self):
        return len(self.batches)

    def __iter__(self):
        for batch in self.batches:
            self.last = len(batch)  # the global batch of the share being yielded
            cut = [len(batch) * r // self.world for r in range(self.world + 1)]
            yield batch[cut[self.rank]:cut[self.rank + 1]]


class _Indexed(Dataset):
    def __init__(self, base: Dataset):
        self.base = base

    def __len__(self):
        return len(self.base)

    def __getitem__(self, i):
        x, y = self.base[i]
        return x, y, i


@torch.no_grad()
def run_record(seed: int) -> dict:
    """What a training or compression run needs to be repeated bit for bit, for the
    checkpoint metadata: the ``seed``, torch's CPU thread count (reductions split over
    another number of threads round differently) and the torch version."""
    return {"seed": seed, "threads": torch.get_num_threads(), "torch": torch.__version__}


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
    qcfg = getattr(model, "qvit_cfg", None)
    bits_scale = qcfg.bits_lr_scale if qcfg is not None else 1.0
    decay, no_decay, bits = [], [], []
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        if bits_scale != 1.0 and name.endswith(".bits"):  # Q-ViT widths: own learning rate
            bits.append(p)
        elif p.ndim <= 1 or name.endswith(".bias") or name in skip:
            no_decay.append(p)
        else:
            decay.append(p)
    groups = [{"params": decay, "weight_decay": weight_decay},
              {"params": no_decay, "weight_decay": 0.0}]
    if bits:
        groups.append({"params": bits, "weight_decay": 0.0, "lr_scale": bits_scale})
    return groups


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
    penalty=None,
    epoch_hook=None,
) -> dict:
    """Train ``model`` in place for ``cfg.epochs``; return a summary dict.

    The summary holds ``seconds`` (wall time of the loop), ``loss`` (last epoch mean) and
    ``train_top1`` (running accuracy of the class head over the last epoch).
    ``penalty(model)``, when given, is added to every step's loss (the Q-ViT BitOPs
    term); ``epoch_hook(epoch)`` runs before each epoch (the Q-ViT width freezing).
    """
    from tqdm.auto import tqdm

    torch.manual_seed(cfg.seed)
    gen = torch.Generator().manual_seed(cfg.seed)
    targets = predict(teacher, data.train, batch_size=256) if teacher is not None else None
    loader = DataLoader(_Indexed(data.train), batch_size=cfg.batch_size, shuffle=True,
                        generator=gen, drop_last=len(data.train) > cfg.batch_size)
    rank, size = world(model)
    net = model
    if size > 1:  # DDP: each rank a share of every global batch, gradients averaged
        from torch.nn.parallel import DistributedDataParallel

        if min(cfg.batch_size, len(data.train)) < size:
            raise VitsimError(f"batch size {cfg.batch_size} is smaller than the "
                              f"{size} processes")
        # the generator too: each epoch's iterator draws its base seed from it first
        loader = DataLoader(_Indexed(data.train), generator=gen,
                            batch_sampler=_RankShare(loader.batch_sampler, rank, size))
        net = DistributedDataParallel(model)
        progress = progress and rank == 0
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
        if epoch_hook is not None:
            epoch_hook(epoch)
        model.train()
        loss_sum, correct, seen = 0.0, 0, 0
        for x, y, idx in loader:
            for group in opt.param_groups:
                group["lr"] = _lr_at(step, total, warmup, cfg) * group.get("lr_scale", 1.0)
            out = net(x)
            loss = _loss(out, y, None if targets is None else targets[idx], cfg.distill_weight)
            # DDP averages the ranks' gradients: weigh this rank's mean by its share of the
            # global batch, so that the average is the global batch's mean
            scaled = loss if size == 1 else loss * (len(y) * size / loader.batch_sampler.last)
            if penalty is not None:
                pen = penalty(model)
                loss, scaled = loss + pen, scaled + pen
            opt.zero_grad(set_to_none=True)
            scaled.backward()
            opt.step()
            step += 1
            loss_sum += loss.item() * len(y)
            logits = out[0] if isinstance(out, tuple) else out
            correct += (logits.argmax(-1) == y).sum().item()
            seen += len(y)
            bar.update(1)
        if size > 1:  # the epoch's figures over every rank's share
            import torch.distributed as dist

            sums = torch.tensor([loss_sum, correct, seen], dtype=torch.float64)
            dist.all_reduce(sums)
            loss_sum, correct, seen = sums[0].item(), int(sums[1].item()), int(sums[2].item())
        bar.set_postfix(epoch=epoch + 1, loss=f"{loss_sum / max(seen, 1):.3f}",
                        acc=f"{correct / max(seen, 1):.3f}")
    bar.close()
    if hasattr(model, "set_distilled_training"):
        model.set_distilled_training(False)
    model.eval()
    return {"seconds": time.perf_counter() - start, "loss": loss_sum / max(seen, 1),
            "train_top1": correct / max(seen, 1), "epochs": cfg.epochs, "steps": step}


def bitops_penalty(model: nn.Module):
    """Return ``penalty(model) = lambda * max(0, (BitOPs - budget) / unit)^2`` for Q-ViT.

    ``lambda = qvit_cfg.bitops_weight``, the budget of
    :func:`models.qvit_layers.budget_bitops` and the unit of
    :func:`models.qvit_layers.penalty_unit` (GBitOPs on DeiT-T).
    """
    from models.qvit_layers import budget_bitops, model_bitops, penalty_unit

    cfg, qcfg = model.vit_cfg, model.qvit_cfg
    budget, unit = budget_bitops(cfg, qcfg), penalty_unit(cfg, qcfg)

    def penalty(m: nn.Module):
        return qcfg.bitops_weight * torch.clamp((model_bitops(m) - budget) / unit, min=0) ** 2

    return penalty


def train_quantized(
    model: nn.Module,
    data: DataSplit,
    cfg: TrainCfg,
    *,
    progress: bool = True,
    desc: str | None = None,
) -> dict:
    """Calibrate an lsq/qvit ``model`` on one training batch, then train it quantized.

    Calibration (:func:`models.qvit_layers.calibrate`) initialises every scale table by
    MSE from the weights and from the first ``cfg.batch_size`` training images (fixed by
    ``cfg.seed``). Q-ViT adds :func:`bitops_penalty` to the loss and freezes the widths
    from epoch ``int(freeze_ratio * epochs)``. Returns the :func:`train_stage` summary plus
    ``bitops``, ``budget`` and the learned ``bit_map``.
    """
    from models.qvit_layers import (
        bit_map,
        budget_bitops,
        calibrate,
        freeze_bits,
        model_bitops,
    )

    qcfg = model.qvit_cfg
    gen = torch.Generator().manual_seed(cfg.seed)
    loader = DataLoader(data.train, batch_size=cfg.batch_size, shuffle=True, generator=gen)
    calibrate(model, next(iter(loader))[0])
    penalty, hook = None, None
    if qcfg.learn_bits:
        penalty = bitops_penalty(model)
        freeze_at = int(qcfg.freeze_ratio * cfg.epochs)

        def hook(epoch: int) -> None:
            if epoch == freeze_at:
                freeze_bits(model)

    info = train_stage(model, data, cfg, progress=progress, desc=desc or qcfg.scheme,
                       penalty=penalty, epoch_hook=hook)
    with torch.no_grad():
        info["bitops"] = int(model_bitops(model).round().item())
    info["budget"] = budget_bitops(model.vit_cfg, qcfg)
    info["bit_map"] = bit_map(model)
    return info


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
    stage-1 weights. ``lsq``/``qvit`` train the same network in float (quantizers off)
    for ``stage1_epochs`` (default ``cfg.epochs``; the reference starts from a float
    checkpoint), then quantized (:func:`train_quantized`) for ``cfg.epochs``.
    ``overrides`` are model config fields (e.g. ``depth``, ``per_image``, ``budget``).
    ``info`` holds per-stage summaries and the test top-1.
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
    if scheme in QVIT_SCHEMES:
        from models.qvit_layers import set_quant

        if teacher is not None:
            raise VitsimError(f"{scheme} trains without a teacher (as the Q-ViT reference)")
        model = create_model(name, **geometry, **overrides)
        c1 = cfg if stage1_epochs is None else dataclasses.replace(cfg, epochs=stage1_epochs)
        if c1.epochs:
            set_quant(model, False)
            info["stages"].append(train_stage(model, data, c1, progress=progress,
                                              desc=f"{scheme} float"))
            set_quant(model, True)
        info["stages"].append(train_quantized(model, data, cfg, progress=progress))
    elif scheme == "fp":
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
