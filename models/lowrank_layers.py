"""The two-GEMM low-rank linear layer of mixed-rank compression (PAPERS.md 3.2, 3.5).

``y = (x @ [A; C]^T) @ [B | D]^T + b``: the first GEMM maps ``in -> rank + rank_k``, the
second ``rank + rank_k -> out``. Weights follow torch's ``[out, in]`` convention, so
``weight_a`` is ``[rank + rank_k, in]`` and ``weight_b`` is ``[out, rank + rank_k]``: the
factor pair ``weight_a``/``weight_b`` of the analytic model
(:func:`sim.analytic.footprint.effective_rank`). The principal pair is the first ``rank``
rows of ``weight_a`` and columns of ``weight_b``; the residual (error-compensation) pair is
the last ``rank_k``. With ``w_bits=8`` both factors are LSQ-quantized, one scale per output
channel (rows of ``weight_a``, rows of ``weight_b``); the intermediate stays float.

State-dict names: ``weight_a``, ``weight_b``, ``bias`` and, when quantized,
``quant_a.alpha``/``quant_a.initialized``/``quant_b.alpha``/``quant_b.initialized``.
"""

from __future__ import annotations

import fnmatch

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from golden.errors import VitsimError
from models.layers import LSQQuantizer

__all__ = ["COMPRESSIBLE", "LowRankLinear", "apply_lowrank_record", "compressible_linears",
           "lowrank_params", "replace_linears"]

#: Layers that mixed-rank compression factorises (shell patterns on module names).
COMPRESSIBLE = ("blocks.*.attn.qkv", "blocks.*.attn.proj", "blocks.*.mlp.fc1",
                "blocks.*.mlp.fc2")


def lowrank_params(in_features: int, out_features: int, rank: int, rank_k: int = 0) -> int:
    """Weights of a layer at ``rank`` (0: dense ``in * out``), without the bias."""
    if rank == 0:
        return in_features * out_features
    return (rank + rank_k) * (in_features + out_features)


class LowRankLinear(nn.Module):
    """``nn.Linear`` replacement that runs as two chained matmuls.

    Parameters
    ----------
    in_features, out_features : int
        As ``nn.Linear``.
    rank : int
        Rank of the principal pair ``A [rank, in]``, ``B [out, rank]`` (at least 1).
    rank_k : int
        Rank of the residual pair ``C [rank_k, in]``, ``D [out, rank_k]``.
    bias : bool
        Output bias (kept from the dense layer).
    w_bits : int
        32: float factors; 2..16: LSQ-quantized factors, per output channel.
    """

    def __init__(self, in_features: int, out_features: int, rank: int, rank_k: int = 0,
                 bias: bool = True, *, w_bits: int = 32, device=None, dtype=None):
        super().__init__()
        if rank < 1 or rank_k < 0:
            raise ValueError(f"rank must be at least 1 and rank_k at least 0, not "
                             f"{rank} and {rank_k}")
        dd = {"device": device, "dtype": dtype}
        self.in_features, self.out_features = in_features, out_features
        self.rank, self.rank_k, self.w_bits = rank, rank_k, w_bits
        width = rank + rank_k
        self.weight_a = nn.Parameter(torch.zeros(width, in_features, **dd))
        self.weight_b = nn.Parameter(torch.zeros(out_features, width, **dd))
        self.bias = nn.Parameter(torch.zeros(out_features, **dd)) if bias else None
        if w_bits < 32:
            self.quant_a = LSQQuantizer(w_bits, width)
            self.quant_b = LSQQuantizer(w_bits, out_features)

    @property
    def width(self) -> int:
        """Inner width of the two GEMMs: ``rank + rank_k``."""
        return self.rank + self.rank_k

    @property
    def quantized(self) -> bool:
        """Whether the factors are LSQ-quantized."""
        return self.w_bits < 32

    def factors(self) -> tuple[Tensor, Tensor]:
        """Return the effective ``(weight_a, weight_b)`` (quantized when ``w_bits < 32``)."""
        if not self.quantized:
            return self.weight_a, self.weight_b
        return self.quant_a(self.weight_a), self.quant_b(self.weight_b)

    def forward(self, x: Tensor) -> Tensor:
        a, b = self.factors()
        return F.linear(F.linear(x, a), b, self.bias)

    def dense_weight(self) -> Tensor:
        """The ``[out, in]`` product ``weight_b @ weight_a`` of the effective factors."""
        a, b = self.factors()
        return b @ a

    @torch.no_grad()
    def set_factors(self, a: Tensor, b: Tensor, c: Tensor | None = None,
                    d: Tensor | None = None) -> LowRankLinear:
        """Load ``A [rank, in]``, ``B [out, rank]`` and the residual ``C``, ``D`` (or zeros)."""
        self.weight_a[: self.rank].copy_(a)
        self.weight_b[:, : self.rank].copy_(b)
        if self.rank_k:
            self.weight_a[self.rank:].copy_(c if c is not None else 0.0)
            self.weight_b[:, self.rank:].copy_(d if d is not None else 0.0)
        return self

    @torch.no_grad()
    def quantize(self, w_bits: int = 8) -> LowRankLinear:
        """Quantize the factors to ``w_bits`` with LSQ, scales at ``max|row| / Qp``."""
        qp = (1 << (w_bits - 1)) - 1
        self.w_bits = w_bits
        self.quant_a = LSQQuantizer(w_bits, self.width).to(self.weight_a.device)
        self.quant_b = LSQQuantizer(w_bits, self.out_features).to(self.weight_b.device)
        for q, w in ((self.quant_a, self.weight_a), (self.quant_b, self.weight_b)):
            q.alpha.copy_(w.abs().amax(dim=1).clamp_min(q.eps * qp) / qp)
            q.initialized.fill_(True)
        return self

    def extra_repr(self) -> str:
        return (f"in_features={self.in_features}, out_features={self.out_features}, "
                f"rank={self.rank}, rank_k={self.rank_k}, bias={self.bias is not None}, "
                f"w_bits={self.w_bits}")


def compressible_linears(model: nn.Module) -> list[tuple[str, nn.Linear]]:
    """``(name, module)`` of the encoder linears (qkv, proj, fc1, fc2), in network order."""
    return [(name, m) for name, m in model.named_modules()
            if isinstance(m, nn.Linear) and any(fnmatch.fnmatchcase(name, p) for p in COMPRESSIBLE)]


def _set_module(model: nn.Module, name: str, module: nn.Module) -> None:
    parent, _, leaf = name.rpartition(".")
    setattr(model.get_submodule(parent) if parent else model, leaf, module)


def replace_linears(model: nn.Module, ranks: dict, *, rank_k: int = 0, w_bits: int = 32,
                    source: str = "ranks") -> dict[str, LowRankLinear]:
    """Swap each encoder linear named in ``ranks`` with rank > 0 for a :class:`LowRankLinear`.

    ``ranks`` maps every compressible layer name to its rank (0: stays dense). The new
    layers are zero-initialised (load a state dict or call ``set_factors``). Returns them.

    Raises
    ------
    VitsimError
        A name that is not an encoder linear of ``model``, a missing layer, or a rank
        outside ``1 .. in * out / (in + out)`` (the break-even rank).
    """
    linears = dict(compressible_linears(model))
    unknown = sorted(set(ranks) - set(linears))
    if unknown:
        raise VitsimError(f"{source}: {unknown[0]!r} is not an encoder linear of this model")
    missing = [n for n in linears if n not in ranks]
    if missing:
        raise VitsimError(f"{source}: no rank for layer {missing[0]!r}")
    out = {}
    for name, lin in linears.items():
        rank = ranks[name]
        if isinstance(rank, bool) or not isinstance(rank, int) or rank < 0:
            raise VitsimError(f"{source}: rank of {name!r} must be an integer >= 0, not {rank!r}")
        if rank == 0:
            continue
        k, n = lin.in_features, lin.out_features
        if lowrank_params(k, n, rank, rank_k) >= k * n:
            raise VitsimError(f"{source}: rank {rank} (+{rank_k}) of {name!r} is at or above "
                              f"the break-even of a [{n}, {k}] layer")
        new = LowRankLinear(k, n, rank, rank_k, lin.bias is not None, w_bits=w_bits,
                            device=lin.weight.device, dtype=lin.weight.dtype)
        _set_module(model, name, new)
        out[name] = new
    return out


def apply_lowrank_record(model: nn.Module, record: dict, *, source: str = "lowrank") -> dict:
    """Rebuild the layers of a compressed checkpoint's ``lowrank`` record in ``model``.

    The record holds ``cfg`` (a :class:`golden.lowrank_cfg.LowRankCfg` dict: ``rank_k``,
    ``w_bits``) and ``layer_ranks`` (every encoder linear, 0 = dense). Returns the new
    layers (zero-initialised; the caller loads the state dict).

    Raises
    ------
    VitsimError
        A record that is not an object, a missing or invalid field, or ranks that do not
        fit the model (naming ``source`` and the field).
    """
    from golden.lowrank_cfg import LowRankCfg

    if not isinstance(record, dict):
        raise VitsimError(f"{source} must be an object, not {record!r}")
    for key in ("cfg", "layer_ranks"):
        if not isinstance(record.get(key), dict):
            raise VitsimError(f"{source}: field {key!r} must be an object, "
                              f"not {record.get(key)!r}")
    cfg = LowRankCfg.from_dict(record["cfg"], source=f"{source} field 'cfg'")
    return replace_linears(model, record["layer_ranks"], rank_k=cfg.rank_k, w_bits=cfg.w_bits,
                           source=f"{source} field 'layer_ranks'")
