"""A sweep's results: one table (CSV and Parquet) and Pareto plots (matplotlib).

Every file is written through a temporary name and a rename.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

from golden.atomic import atomic_write_text

__all__ = ["PARETO_AXES", "columns", "pareto_front", "pareto_plot", "write_tables"]

#: Pareto x axes: column, its scale, its label, whether larger is better.
PARETO_AXES = (("frames_s", 1.0, "frames / s", True),
               ("luts", 1.0, "LUTs", False),
               ("dram_mb_frame", 1.0, "DRAM MB / frame", False))


def columns(rows: list[dict]) -> list[str]:
    """Every column of ``rows``, in first-seen order."""
    seen: dict = {}
    for r in rows:
        for k in r:
            seen.setdefault(k, None)
    return list(seen)


def _arrow(rows: list[dict]):
    import pyarrow as pa

    data = {}
    for col in columns(rows):
        values = [r.get(col) for r in rows]
        try:
            data[col] = pa.array(values)
        except (pa.ArrowInvalid, pa.ArrowTypeError):  # mixed kinds: keep them as text
            data[col] = pa.array([None if v is None else str(v) for v in values])
    return pa.table(data)


def write_tables(rows: list[dict], out_dir) -> tuple[Path, Path]:
    """Write ``results.csv`` and ``results.parquet`` of ``rows`` under ``out_dir``."""
    import os
    import tempfile

    import pyarrow.parquet as pq

    out_dir = Path(out_dir)
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=columns(rows), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    atomic_write_text(out_dir / "results.csv", buf.getvalue())
    fd, tmp = tempfile.mkstemp(prefix=".results.parquet.tmp-", dir=out_dir)
    os.close(fd)
    try:
        pq.write_table(_arrow(rows), tmp)
        os.replace(tmp, out_dir / "results.parquet")
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return out_dir / "results.csv", out_dir / "results.parquet"


def pareto_front(points: list[tuple], *, larger_better: bool) -> list[tuple]:
    """The Pareto-optimal ``(x, accuracy, ...)`` tuples: no other point has a better or
    equal x and a higher accuracy. Sorted from the best x."""
    pts = sorted(points, key=lambda p: (-p[0] if larger_better else p[0], -p[1]))
    front, best = [], float("-inf")
    for p in pts:
        if p[1] > best:
            front.append(p)
            best = p[1]
    return front


def pareto_plot(rows: list[dict], path) -> Path | None:
    """Accuracy against each :data:`PARETO_AXES` column that some row with an accuracy
    has, one panel each, the Pareto front joined; ``None`` when no panel has data."""
    from sim.analytic.plots import _pyplot, _save

    panels = []
    for col, scale, label, larger in PARETO_AXES:
        pts = [(r[col] / scale, 100 * r["accuracy"], r["label"]) for r in rows
               if r.get("accuracy") is not None and r.get(col) is not None]
        if pts:
            panels.append((pts, label, larger))
    if not panels:
        return None
    plt = _pyplot()
    fig, axes = plt.subplots(1, len(panels), figsize=(5 * len(panels), 4), squeeze=False)
    for ax, (pts, label, larger) in zip(axes[0], panels, strict=True):
        for xv, yv, name in pts:
            ax.scatter(xv, yv, color="tab:blue", s=14)
            ax.annotate(name, (xv, yv), fontsize=6, xytext=(3, 3), textcoords="offset points")
        front = pareto_front(pts, larger_better=larger)
        ax.plot([f[0] for f in front], [f[1] for f in front], color="tab:red", lw=1)
        ax.set_xlabel(label + (" (higher is better)" if larger else ""))
        ax.set_ylabel("top-1 %")
        if max(p[0] for p in pts) > 50 * max(min(p[0] for p in pts), 1e-12):
            ax.set_xscale("log")
    return _save(fig, path)
