"""Frozen configs of the model vocabulary: ViT geometry, GSB binarisation, training.

numpy-free and torch-free: ``models/`` builds networks from these, the checkpoint JSON
stores them with :meth:`_Config.to_dict`, and later exporters and the analytic model read
the same fields (``embed_dim``, ``num_heads``, ``depth``, ``w_bits``, ``a_bits``...).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, ClassVar

from golden.spec import ConfigError, _check_int, _check_multiple, _Config

__all__ = ["SCHEMES", "GSBCfg", "TrainCfg", "ViTCfg"]

#: Compression schemes of ``vitsim train``: float teacher, plain binarisation, GSB.
SCHEMES = ("fp", "binary", "gsb")


def _check_bool(name: str, value: Any) -> None:
    if not isinstance(value, bool):
        raise TypeError(f"{name} must be a bool, not {value!r}")


def _check_float(name: str, value: Any, lo: float, hi: float | None = None, *, open_lo=False):
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise TypeError(f"{name} must be a finite number, not {value!r}")
    too_low = value <= lo if open_lo else value < lo
    if too_low or (hi is not None and value > hi):
        op = ">" if open_lo else ">="
        bound = f"{op} {lo}" + (f" and <= {hi}" if hi is not None else "")
        raise ConfigError(f"{name} must be {bound}, not {value!r}")


@dataclass(frozen=True, kw_only=True)
class ViTCfg(_Config):
    """Geometry of a (DeiT-style, optionally distilled) Vision Transformer.

    Parameters
    ----------
    img_size, patch_size : int
        Square input side and patch side in pixels; ``img_size % patch_size == 0``.
    in_chans : int
        Image channels.
    num_classes : int
        Classifier outputs (per head).
    embed_dim, depth, num_heads : int
        Token width, number of encoder blocks, attention heads
        (``embed_dim % num_heads == 0``).
    mlp_ratio : float
        MLP hidden width over ``embed_dim``; the product must be an integer.
    distilled : bool
        Adds the distillation token and the second head (DeiT); both heads are averaged
        at inference.
    qkv_bias : bool
        Bias on the fused qkv projection.
    """

    kind: ClassVar[str] = "vit"
    img_size: int  # square input side (pixels)
    patch_size: int  # square patch side (pixels)
    in_chans: int = 3  # image channels
    num_classes: int  # classifier outputs
    embed_dim: int  # token width
    depth: int  # encoder blocks
    num_heads: int  # attention heads
    mlp_ratio: float = 4.0  # MLP hidden width / embed_dim
    distilled: bool = True  # distillation token + head_dist
    qkv_bias: bool = True  # bias on qkv

    def __post_init__(self):
        _check_int("img_size", self.img_size, 1, 4096)
        _check_int("patch_size", self.patch_size, 1, self.img_size)
        _check_multiple("img_size", self.img_size, "patch_size", self.patch_size)
        _check_int("in_chans", self.in_chans, 1, 64)
        _check_int("num_classes", self.num_classes, 1)
        _check_int("embed_dim", self.embed_dim, 1)
        _check_int("depth", self.depth, 1, 256)
        _check_int("num_heads", self.num_heads, 1, self.embed_dim)
        _check_multiple("embed_dim", self.embed_dim, "num_heads", self.num_heads)
        _check_float("mlp_ratio", self.mlp_ratio, 0.0, open_lo=True)
        if (self.embed_dim * self.mlp_ratio) % 1:
            raise ConfigError(
                f"embed_dim * mlp_ratio must be an integer, not {self.embed_dim * self.mlp_ratio!r}"
            )
        _check_bool("distilled", self.distilled)
        _check_bool("qkv_bias", self.qkv_bias)

    @property
    def head_dim(self) -> int:
        """Width of one attention head."""
        return self.embed_dim // self.num_heads

    @property
    def hidden_dim(self) -> int:
        """MLP hidden width."""
        return int(self.embed_dim * self.mlp_ratio)

    @property
    def num_patches(self) -> int:
        """Patch tokens per image."""
        return (self.img_size // self.patch_size) ** 2

    @property
    def num_tokens(self) -> int:
        """Sequence length N: patches plus class (and distillation) token."""
        return self.num_patches + (2 if self.distilled else 1)

    def __str__(self) -> str:
        return (
            f"i{self.img_size}p{self.patch_size}_d{self.embed_dim}h{self.num_heads}"
            f"x{self.depth}"
        )


@dataclass(frozen=True, kw_only=True)
class GSBCfg(_Config):
    """Binarisation of a ViT: plain (``thresholds=()``) or Group Superposition (GSB).

    The attention matrix and V are coded as ``groups`` binary planes: a base plane plus
    one mask plane per threshold ``t``, set where the tensor exceeds ``t`` times its max
    (V also below ``t`` times its min). ``thresholds=()`` gives one plane, i.e. plain
    binarisation with the clipped straight-through estimator (the baseline).

    Parameters
    ----------
    thresholds : tuple of float
        Strictly increasing group thresholds in (0, 1), as fractions of the tensor max
        (and min, for V). The paper's code uses ``(0.7, 0.9)``.
    stage : int
        1: only the MLP weights are binarised (BWN); 2: everything (the final model).
    per_image : bool
        Take the GSB max/min per image instead of over the whole batch. Golden vectors
        and hardware need ``True``; training follows the reference (``False``).
    w_bits, a_bits : int
        Widths of the encoder weights and activations; 1 is the only supported value.
    embed_bits : int
        LSQ width of the patch-embedding weights and of both heads (weights and inputs).
    residual_init : bool
        Store the residual first-forward scales ``a_k - a_{k-1}`` of the GSB groups (the
        apparent intent). ``False`` (default) follows the reference code: it stores the
        un-subtracted values and uses the residuals on the initialising call only.
    eps : float
        Lower clamp of every learnable scale in the forward pass.
    act_clip : float
        GELU output is clipped to ``[-act_clip, act_clip]`` before the fc2 binariser.
    """

    kind: ClassVar[str] = "gsb"
    thresholds: tuple = (0.7, 0.9)  # group thresholds, fractions of max (min for V's tail)
    stage: int = 2  # 1: MLP weights only, 2: full binarisation
    per_image: bool = False  # GSB max/min per image (golden vectors) or per batch
    w_bits: int = 1  # encoder weight width (BWN)
    a_bits: int = 1  # encoder activation width (elastic binarisers)
    embed_bits: int = 8  # LSQ width of patch embedding and heads
    residual_init: bool = False  # store residual group scales (False: as the reference code)
    eps: float = 1e-5  # lower clamp of learnable scales
    act_clip: float = 10.0  # GELU output clip before fc2

    def __post_init__(self):
        if isinstance(self.thresholds, list):
            object.__setattr__(self, "thresholds", tuple(self.thresholds))
        if not isinstance(self.thresholds, tuple):
            raise TypeError(f"thresholds must be a tuple of numbers, not {self.thresholds!r}")
        for t in self.thresholds:
            _check_float("thresholds", t, 0.0, 1.0, open_lo=True)
        if any(b <= a for a, b in zip(self.thresholds[:-1], self.thresholds[1:], strict=True)):
            raise ConfigError(f"thresholds must be strictly increasing, not {self.thresholds!r}")
        _check_int("stage", self.stage, 1, 2)
        _check_bool("per_image", self.per_image)
        _check_bool("residual_init", self.residual_init)
        _check_int("w_bits", self.w_bits, 1, 1)
        _check_int("a_bits", self.a_bits, 1, 1)
        _check_int("embed_bits", self.embed_bits, 2, 16)
        _check_float("eps", self.eps, 0.0, open_lo=True)
        _check_float("act_clip", self.act_clip, 0.0, open_lo=True)

    @property
    def groups(self) -> int:
        """Binary planes of the attention matrix and of V (base plane + one per threshold)."""
        return 1 + len(self.thresholds)

    @property
    def scheme(self) -> str:
        """``"gsb"`` with groups, ``"binary"`` without."""
        return "gsb" if self.thresholds else "binary"

    def __str__(self) -> str:
        t = "-".join(f"{x:g}" for x in self.thresholds) or "plain"
        return f"{self.scheme}_g{self.groups}_{t}_s{self.stage}{'_img' if self.per_image else ''}"


@dataclass(frozen=True, kw_only=True)
class TrainCfg(_Config):
    """One training run (one stage): optimiser, schedule, distillation.

    AdamW with cosine decay from ``lr`` to ``min_lr`` over all steps (after
    ``warmup_epochs`` of linear warm-up), as the GSB code, scaled to small data.

    Parameters
    ----------
    epochs, batch_size : int
        Passes over the training split and images per step.
    lr, min_lr, weight_decay : float
        Peak and final learning rate, AdamW decoupled weight decay.
    warmup_epochs : int
        Linear warm-up length.
    distill_weight : float
        Weight of ``CE(head_dist, argmax teacher)``; ``1 - distill_weight`` weighs
        ``CE(head, y)``. Without a teacher both heads learn the labels.
    seed : int
        Seeds parameter init, shuffling and dropout.
    """

    kind: ClassVar[str] = "train"
    epochs: int = 60  # passes over the training split (per stage)
    batch_size: int = 64  # images per step
    lr: float = 1e-3  # peak learning rate
    min_lr: float = 1e-6  # cosine floor
    weight_decay: float = 0.05  # AdamW decoupled weight decay
    warmup_epochs: int = 0  # linear warm-up
    distill_weight: float = 0.5  # hard-distillation weight (DeiT alpha)
    seed: int = 0  # seeds init, shuffling, dropout

    def __post_init__(self):
        _check_int("epochs", self.epochs, 0, 100_000)
        _check_int("batch_size", self.batch_size, 1, 1 << 16)
        _check_float("lr", self.lr, 0.0, open_lo=True)
        _check_float("min_lr", self.min_lr, 0.0)
        _check_float("weight_decay", self.weight_decay, 0.0)
        _check_int("warmup_epochs", self.warmup_epochs, 0, 100_000)
        _check_float("distill_weight", self.distill_weight, 0.0, 1.0)
        _check_int("seed", self.seed, 0, 2**32 - 1)

    def __str__(self) -> str:
        return f"e{self.epochs}_b{self.batch_size}_lr{self.lr:g}_s{self.seed}"
