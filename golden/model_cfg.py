"""Frozen configs of the model vocabulary: ViT geometry, GSB binarisation, training.

numpy-free and torch-free: ``models/`` builds networks from these, the checkpoint JSON
stores them with :meth:`ConfigBase.to_dict`, and later exporters and the analytic model read
the same fields (``embed_dim``, ``num_heads``, ``depth``, ``w_bits``, ``a_bits``...).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, ClassVar

from golden.spec import ConfigBase, ConfigError, check_int, check_multiple

__all__ = [
    "GSB_SCHEMES",
    "QVIT_SCHEMES",
    "SCHEMES",
    "GSBCfg",
    "QViTCfg",
    "TrainCfg",
    "ViTCfg",
]

#: Schemes built from :class:`GSBCfg` (or float): teacher, plain binarisation, GSB.
GSB_SCHEMES = ("fp", "binary", "gsb")
#: Schemes built from :class:`QViTCfg`: uniform LSQ (baseline) and Q-ViT (learned widths).
QVIT_SCHEMES = ("lsq", "qvit")
#: Compression schemes of ``vitsim train``.
SCHEMES = GSB_SCHEMES + QVIT_SCHEMES


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
class ViTCfg(ConfigBase):
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
        check_int("img_size", self.img_size, 1, 4096)
        check_int("patch_size", self.patch_size, 1, self.img_size)
        check_multiple("img_size", self.img_size, "patch_size", self.patch_size)
        check_int("in_chans", self.in_chans, 1, 64)
        check_int("num_classes", self.num_classes, 1)
        check_int("embed_dim", self.embed_dim, 1)
        check_int("depth", self.depth, 1, 256)
        check_int("num_heads", self.num_heads, 1, self.embed_dim)
        check_multiple("embed_dim", self.embed_dim, "num_heads", self.num_heads)
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
class GSBCfg(ConfigBase):
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
        check_int("stage", self.stage, 1, 2)
        _check_bool("per_image", self.per_image)
        _check_bool("residual_init", self.residual_init)
        check_int("w_bits", self.w_bits, 1, 1)
        check_int("a_bits", self.a_bits, 1, 1)
        check_int("embed_bits", self.embed_bits, 2, 16)
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
class TrainCfg(ConfigBase):
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
        check_int("epochs", self.epochs, 0, 100_000)
        check_int("batch_size", self.batch_size, 1, 1 << 16)
        _check_float("lr", self.lr, 0.0, open_lo=True)
        _check_float("min_lr", self.min_lr, 0.0)
        _check_float("weight_decay", self.weight_decay, 0.0)
        check_int("warmup_epochs", self.warmup_epochs, 0, 100_000)
        _check_float("distill_weight", self.distill_weight, 0.0, 1.0)
        check_int("seed", self.seed, 0, 2**32 - 1)

    def __str__(self) -> str:
        return f"e{self.epochs}_b{self.batch_size}_lr{self.lr:g}_s{self.seed}"


@dataclass(frozen=True, kw_only=True)
class QViTCfg(ConfigBase):
    """Multi-bit quantization of a ViT: uniform LSQ or Q-ViT (Zhexin Li et al.).

    Every encoder weight and activation gets a learnable-scale quantizer with a table of
    seven scales, one per width 2..8 (the switchable scale). ``learn_bits=False`` is the
    uniform LSQ baseline (widths fixed at ``w_bits``/``a_bits``); ``learn_bits=True`` is
    Q-ViT: widths start at ``init_bits``, are learned (head-wise for the attention) under
    ``bitops_weight * max(0, BitOPs - budget)^2`` and frozen from epoch
    ``int(freeze_ratio * epochs)``. Patch embedding and classifier stay at ``embed_bits``.

    Parameters
    ----------
    learn_bits : bool
        Q-ViT (learnable widths) or uniform LSQ.
    w_bits, a_bits : int
        LSQ widths. For Q-ViT with ``budget == 0`` the budget is the BitOPs of this model
        quantized uniformly at ``w_bits``/``a_bits`` (the paper's "4-bit" Q-ViT).
    init_bits : int
        Q-ViT starting width of every learnable quantizer (the reference scripts use 5).
    budget : float
        BitOPs budget in GBitOPs; 0 selects the uniform ``w_bits``/``a_bits`` BitOPs.
    bitops_weight : float
        lambda of the penalty, with BitOPs in units that give this model's uniform W4A4
        cost the value 21.455413248 (GBitOPs exactly on DeiT-T, as the reference).
    freeze_ratio : float
        Fraction of the epochs after which the widths stop learning (reference 0.9).
    bits_lr_scale : float
        Learning rate of the widths over the others' (reference 1: it trains for ~10^5
        steps; a few hundred steps on small data need a larger one to move a width by 1).
    head_wise : bool
        One width per head for W_q/W_k/W_v/W_proj and q, k, v, attention, A*V output.
    weight_axis : str
        ``"head"``: head h owns output rows of W_q/W_k/W_v and input columns of W_proj.
        ``"reference"``: the reference code's axes (input columns of W_q/W_k/W_v, output
        rows of W_proj), kept to reproduce its runs.
    gelu_offset : bool
        The GELU output (fc2 input) is unsigned with a learnable offset beta.
    embed_bits : int
        Fixed width of the patch embedding and classifier (weights and inputs).
    eps : float
        Lower clamp of every scale in the forward pass (reference 1e-4).
    """

    kind: ClassVar[str] = "qvit"
    learn_bits: bool = True  # Q-ViT (True) or uniform LSQ (False)
    w_bits: int = 4  # LSQ weight width; Q-ViT: names the budget when budget == 0
    a_bits: int = 4  # LSQ activation width; Q-ViT: names the budget when budget == 0
    init_bits: int = 5  # Q-ViT starting width of every learnable quantizer
    budget: float = 0.0  # GBitOPs; 0: uniform W{w_bits}A{a_bits} BitOPs of the model
    bitops_weight: float = 0.1  # lambda of max(0, BitOPs - budget)^2
    freeze_ratio: float = 0.9  # widths frozen from epoch int(freeze_ratio * epochs)
    bits_lr_scale: float = 1.0  # learning rate of the widths / the base learning rate
    head_wise: bool = True  # per-head widths in the attention
    weight_axis: str = "head"  # "head" (rows of Wq/k/v, cols of Wproj) or "reference"
    gelu_offset: bool = True  # unsigned GELU output with learnable offset
    embed_bits: int = 8  # patch embedding and classifier width
    eps: float = 1e-4  # lower clamp of scales

    def __post_init__(self):
        _check_bool("learn_bits", self.learn_bits)
        check_int("w_bits", self.w_bits, 2, 8)
        check_int("a_bits", self.a_bits, 2, 8)
        check_int("init_bits", self.init_bits, 2, 8)
        _check_float("budget", self.budget, 0.0)
        _check_float("bitops_weight", self.bitops_weight, 0.0)
        _check_float("freeze_ratio", self.freeze_ratio, 0.0, 1.0)
        _check_float("bits_lr_scale", self.bits_lr_scale, 0.0, open_lo=True)
        _check_bool("head_wise", self.head_wise)
        if self.weight_axis not in ("head", "reference"):
            raise ConfigError(f"weight_axis must be one of 'head', 'reference', "
                              f"not {self.weight_axis!r}")
        _check_bool("gelu_offset", self.gelu_offset)
        check_int("embed_bits", self.embed_bits, 2, 8)
        _check_float("eps", self.eps, 0.0, open_lo=True)

    @property
    def scheme(self) -> str:
        """``"qvit"`` with learnable widths, ``"lsq"`` without."""
        return "qvit" if self.learn_bits else "lsq"

    def __str__(self) -> str:
        if not self.learn_bits:
            return f"lsq_w{self.w_bits}a{self.a_bits}"
        target = f"{self.budget:g}G" if self.budget else f"w{self.w_bits}a{self.a_bits}"
        return f"qvit_{target}_i{self.init_bits}{'_hw' if self.head_wise else ''}"
