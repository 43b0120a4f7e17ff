"""Frozen config of activation-aware mixed-rank compression (PAPERS.md section 3).

torch-free: ``models.lowrank`` compresses with it, the checkpoint JSON stores it with
:meth:`ConfigBase.to_dict`, and the analytic model reads the same vocabulary (``rank``,
``rank_k``, ``w_bits``; factor pairs ``A [rank + rank_k, in]``, ``B [out, rank + rank_k]``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, ClassVar

from golden.spec import ConfigBase, ConfigError, check_choice, check_int

__all__ = ["LOWRANK_METRICS", "LOWRANK_SCHEMES", "LowRankCfg"]

#: ``svd``: plain truncated SVD of W (data-free baseline); ``lowrank``: activation-aware.
LOWRANK_SCHEMES = ("svd", "lowrank")
#: Allocation error metrics: ``full`` ``||X dW||^2 / ||X W||^2``, ``mean`` at the mean input.
LOWRANK_METRICS = ("full", "mean")
#: Factor widths: 32 keeps float factors, 8 quantizes them with LSQ (per output channel).
FACTOR_BITS = (8, 32)


def _check_number(name: str, value: Any, lo: float, hi: float | None = None, *,
                  open_lo: bool = False, open_hi: bool = False) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise TypeError(f"{name} must be a finite number, not {value!r}")
    low = value <= lo if open_lo else value < lo
    high = hi is not None and (value >= hi if open_hi else value > hi)
    if low or high:
        bound = f"{'>' if open_lo else '>='} {lo}"
        if hi is not None:
            bound += f" and {'<' if open_hi else '<='} {hi}"
        raise ConfigError(f"{name} must be {bound}, not {value!r}")


@dataclass(frozen=True, kw_only=True)
class LowRankCfg(ConfigBase):
    """Mixed-rank compression of the encoder linears (qkv, proj, fc1, fc2) of a ViT.

    Each linear ``W [out, in]`` becomes ``[B | D] @ [A; C]``: a principal factor pair of
    rank ``r`` (chosen per layer) plus a residual pair of rank ``rank_k`` fitted by
    gradient descent against the inputs of the already-compressed network. Ranks are
    allocated greedily until the whole model holds at most ``(1 - target)`` of its
    parameters; a layer whose pair would hold at least ``in * out`` weights stays dense.

    Parameters
    ----------
    target : float
        Fraction of the model's parameters to remove, in (0, 1).
    scheme : str
        ``"lowrank"`` (activation-aware SVD, default) or ``"svd"`` (plain SVD of W).
    rank_step : int
        Ranks are multiples of this (the hardware tile), 1..1024.
    metric : str
        Allocation error: ``"full"`` (``||X(W - W_r)||^2 / ||XW||^2`` over all calibration
        tokens, default) or ``"mean"`` (the same at the mean input vector).
    rank_k : int
        Rank of the residual (error-compensation) pair, 0..1024; 0 skips compensation.
    steps : int
        Full-batch Adam steps of each layer's compensation.
    lr : float
        Adam learning rate of the compensation.
    samples : int
        Proxy (calibration) images drawn from the training split.
    damping : float
        ``X^T X + damping * mean(diag(X^T X)) * I`` before the eigensolve.
    w_bits : int
        Factor width: 32 (float) or 8 (LSQ, one scale per output channel).
    seed : int
        Seeds the proxy-image draw.
    """

    kind: ClassVar[str] = "lowrank"
    target: float  # fraction of parameters removed
    scheme: str = "lowrank"  # "lowrank" (activation-aware) or "svd" (plain)
    rank_step: int = 8  # ranks are multiples of this
    metric: str = "full"  # allocation error: "full" or "mean"
    rank_k: int = 0  # residual (compensation) rank
    steps: int = 200  # Adam steps per layer (compensation)
    lr: float = 1e-2  # Adam learning rate (compensation)
    samples: int = 512  # proxy images
    damping: float = 1e-6  # relative damping of X^T X
    w_bits: int = 32  # factor width: 32 float, 8 LSQ
    seed: int = 0  # proxy-image draw

    def __post_init__(self):
        _check_number("target", self.target, 0.0, 1.0, open_lo=True, open_hi=True)
        check_choice("scheme", self.scheme, LOWRANK_SCHEMES)
        check_int("rank_step", self.rank_step, 1, 1024)
        check_choice("metric", self.metric, LOWRANK_METRICS)
        check_int("rank_k", self.rank_k, 0, 1024)
        check_int("steps", self.steps, 0, 1_000_000)
        _check_number("lr", self.lr, 0.0, open_lo=True)
        check_int("samples", self.samples, 1, 1 << 24)
        _check_number("damping", self.damping, 0.0)
        check_choice("w_bits", self.w_bits, FACTOR_BITS)
        check_int("seed", self.seed, 0, 2**32 - 1)

    @property
    def aware(self) -> bool:
        """Whether the factors are activation-aware (needs calibration data)."""
        return self.scheme == "lowrank"

    @property
    def needs_data(self) -> bool:
        """Whether compression reads proxy images (activation-aware or compensated)."""
        return self.aware or self.rank_k > 0

    def __str__(self) -> str:
        return (f"{self.scheme}_t{self.target:g}_s{self.rank_step}_{self.metric}"
                f"_k{self.rank_k}_w{self.w_bits}")
