"""Greedy mixed-rank allocation to a parameter budget (PAPERS.md 3.2, step 2). numpy only.

Every layer starts dense. Each move lowers one layer to its next smaller candidate rank
(dense -> the largest rank below break-even -> ... -> ``rank_step``), choosing the move
with the smallest increase of normalised output error per weight saved, until the layers
hold at most ``budget`` weights. Ranks are multiples of ``rank_step``; a layer whose
factor pair ``(rank + rank_k) * (in + out)`` would hold at least ``in * out`` weights has
no such rank and stays dense (the "selective" part).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from golden.errors import VitsimError

__all__ = ["LayerCurve", "allocate_ranks", "candidate_ranks", "tail_errors"]


def tail_errors(energy: np.ndarray) -> np.ndarray:
    """``err[r] = sum(energy[r:]) / sum(energy)`` for ``r = 0 .. len(energy)``.

    ``energy`` is the output energy along each basis direction, most important first; the
    result falls from 1 to 0 (all zeros if the layer has no output energy).
    """
    e = np.clip(np.asarray(energy, dtype=np.float64), 0.0, None)
    tail = np.concatenate([np.cumsum(e[::-1])[::-1], [0.0]])
    return tail / tail[0] if tail[0] > 0 else np.zeros_like(tail)


@dataclass(frozen=True)
class LayerCurve:
    """One layer's shape and its error at each rank (``errors[r]``, ``r = 0..len - 1``)."""

    name: str  # module name, e.g. "blocks.0.attn.qkv"
    in_features: int  # K
    out_features: int  # N
    errors: np.ndarray  # normalised output error at rank r (1 at r = 0, 0 at full rank)

    @property
    def dense(self) -> int:
        """Weights of the dense layer."""
        return self.in_features * self.out_features

    def error(self, rank: int, rank_k: int = 0) -> float:
        """Error at ``rank`` plus a residual of ``rank_k`` (0 for dense, ``rank == 0``)."""
        if rank == 0:
            return 0.0
        return float(self.errors[min(rank + rank_k, len(self.errors) - 1)])


def candidate_ranks(in_features: int, out_features: int, rank_step: int,
                    rank_k: int = 0) -> list[int]:
    """Ranks below break-even, largest first: multiples of ``rank_step`` with
    ``(rank + rank_k) * (in + out) < in * out``."""
    top = (in_features * out_features - 1) // (in_features + out_features) - rank_k
    return list(range(top - top % rank_step, 0, -rank_step)) if top >= rank_step else []


def allocate_ranks(layers: list[LayerCurve], budget: int, *, rank_step: int,
                   rank_k: int = 0) -> dict[str, int]:
    """Ranks (0: dense) holding at most ``budget`` weights in ``layers``, chosen greedily.

    The result is within one move of the budget: it holds more than ``budget`` minus the
    largest saving of one move (at most ``rank_step * (in + out)`` of some layer).

    Raises
    ------
    VitsimError
        ``budget`` is below what every layer at its smallest rank holds (unreachable).
    """
    options = []  # per layer: (rank, weights, error), dense first
    for lay in layers:
        opts = [(0, lay.dense, 0.0)]
        opts += [(r, (r + rank_k) * (lay.in_features + lay.out_features), lay.error(r, rank_k))
                 for r in candidate_ranks(lay.in_features, lay.out_features, rank_step, rank_k)]
        options.append(opts)
    floor = sum(opts[-1][1] for opts in options)
    if budget < floor:
        raise VitsimError(f"target unreachable: the compressible layers need at least {floor} "
                          f"weights at rank {rank_step} (+{rank_k}), the budget is {budget}")
    pos = [0] * len(layers)
    total = sum(opts[0][1] for opts in options)
    while total > budget:
        best, best_cost = -1, np.inf
        for i, opts in enumerate(options):
            if pos[i] + 1 < len(opts):
                (_, p0, e0), (_, p1, e1) = opts[pos[i]], opts[pos[i] + 1]
                cost = (e1 - e0) / (p0 - p1)
                if cost < best_cost:
                    best, best_cost = i, cost
        total -= options[best][pos[best]][1] - options[best][pos[best] + 1][1]
        pos[best] += 1
    return {lay.name: options[i][pos[i]][0] for i, lay in enumerate(layers)}
