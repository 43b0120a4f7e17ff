"""Helpers shared by the benchmark scripts (run as ``python benchmarks/<name>.py``)."""

from __future__ import annotations

import statistics

__all__ = ["mean_std"]


def mean_std(values: list[float], scale: float = 1.0, digits: int = 1) -> str:
    """``"mean ± sample std"`` of ``values`` times ``scale`` (std 0 for one value)."""
    mean = statistics.fmean(values) * scale
    std = statistics.stdev(values) * scale if len(values) > 1 else 0.0
    return f"{mean:.{digits}f} ± {std:.{digits}f}"
