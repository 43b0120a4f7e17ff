"""matplotlib figures of the analytic model: per-layer stacked bars, Pareto fronts.

matplotlib is imported inside the functions (Agg backend), and every figure is written
through a temporary file and a rename, so a failure leaves no partial PNG behind.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

__all__ = ["design_space", "layer_bars", "pareto", "whatif_bars"]


def _save(fig, path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.tmp-", suffix=path.suffix or ".png",
                               dir=path.parent)
    os.close(fd)
    umask = os.umask(0)
    os.umask(umask)
    try:
        fig.savefig(tmp, dpi=120, bbox_inches="tight")
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp's 0600 is not what a plain file gets
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    finally:
        import matplotlib.pyplot as plt

        plt.close(fig)
    return path


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def layer_bars(report: dict, path) -> Path:
    """Per-layer stacked bars of one :func:`~sim.analytic.analyze` report.

    Top: on-chip KiB per layer (packed weights, live activations). Bottom: DRAM KB per
    frame per layer (weight fetches, activation spills). LayerNorms are left out.
    """
    plt = _pyplot()
    layers = [r for r in report["layers"] if r["role"] != "norm"]
    x = range(len(layers))
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(max(8, len(layers) * 0.12), 6),
                                      sharex=True)
    w = [r["weight_bytes"] / 1024 for r in layers]
    a = [r["act_bytes"] / 1024 for r in layers]
    top.bar(x, w, label="weights (packed)", color="tab:blue")
    top.bar(x, a, bottom=w, label="live activations", color="tab:orange")
    top.set_ylabel("on-chip KiB")
    top.legend(loc="upper right", fontsize=8)
    ow = [r["offchip_weight_bytes"] / 1e3 for r in layers]
    oa = [r["offchip_act_bytes"] / 1e3 for r in layers]
    bottom.bar(x, ow, label="weight fetches", color="tab:blue")
    bottom.bar(x, oa, bottom=ow, label="activation spills", color="tab:red")
    bottom.set_ylabel("DRAM kB / frame")
    bottom.legend(loc="upper right", fontsize=8)
    bottom.set_xticks(list(x))
    bottom.set_xticklabels([r["name"] for r in layers], rotation=90, fontsize=5)
    mem = report["accel"]["memory"]
    fig.suptitle(f"{report['scheme']['name']}, {report['model']['embed_dim']}-wide ViT, "
                 f"buffers {mem['weight_kib']}+{mem['act_kib']} KiB "
                 f"({report['totals']['offchip_bytes'] / 1e6:.2f} MB/frame)")
    return _save(fig, path)


def whatif_bars(rows: list[dict], path) -> Path:
    """Grouped bars of on-chip weight KiB and DRAM MB/frame per (model, scheme) row.

    ``rows`` hold ``model``, ``scheme``, ``weight_bytes`` and ``offchip_bytes``.
    """
    plt = _pyplot()
    models = list(dict.fromkeys(r["model"] for r in rows))
    schemes = list(dict.fromkeys(r["scheme"] for r in rows))
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    width = 0.8 / len(schemes)
    for i, s in enumerate(schemes):
        for ax, key, scale in ((axes[0], "weight_bytes", 1024), (axes[1], "offchip_bytes", 1e6)):
            vals = [next(r[key] for r in rows if r["model"] == m and r["scheme"] == s) / scale
                    for m in models]
            ax.bar([j + i * width for j in range(len(models))], vals, width, label=s)
    for ax, label in ((axes[0], "weights on chip, KiB"), (axes[1], "DRAM MB / frame")):
        ax.set_yscale("log")
        ax.set_ylabel(label)
        ax.set_xticks([j + 0.4 - width / 2 for j in range(len(models))])
        ax.set_xticklabels(models, fontsize=8)
    axes[0].legend(fontsize=8)
    return _save(fig, path)


def pareto(points: list[dict], path) -> Path:
    """Accuracy against on-chip weight KiB and DRAM MB/frame, one point per checkpoint.

    ``points`` hold ``label``, ``weight_bytes``, ``offchip_bytes`` and ``accuracy``
    (0..1); the Pareto-optimal points (smaller cost, higher accuracy) are joined.
    """
    plt = _pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for ax, key, scale, label in ((axes[0], "weight_bytes", 1024, "weights on chip, KiB"),
                                  (axes[1], "offchip_bytes", 1e6, "DRAM MB / frame")):
        pts = sorted((p[key] / scale, 100 * p["accuracy"], p["label"]) for p in points)
        for xv, yv, name in pts:
            ax.scatter(xv, yv, color="tab:blue")
            ax.annotate(name, (xv, yv), fontsize=7, xytext=(3, 3), textcoords="offset points")
        front, best = [], float("-inf")
        for xv, yv, _ in pts:
            if yv > best:
                front.append((xv, yv))
                best = yv
        ax.plot([f[0] for f in front], [f[1] for f in front], color="tab:red", lw=1)
        ax.set_xlabel(label)
        ax.set_ylabel("top-1 %")
    return _save(fig, path)


def design_space(rows: list[dict], path, *, label_keys: list[str]) -> Path:
    """Scatter of a sweep: weights on chip (KiB) against DRAM MB/frame, log-log.

    Each point is labelled with its values of ``label_keys``.
    """
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 5))
    for r in rows:
        xv, yv = r["weight_bytes"] / 1024, max(r["offchip_bytes"], 1) / 1e6
        ax.scatter(xv, yv, color="tab:blue", s=12)
        if len(rows) <= 40:
            name = ",".join(str(r[k]) for k in label_keys)
            ax.annotate(name, (xv, yv), fontsize=6, xytext=(2, 2), textcoords="offset points")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("weights on chip, KiB")
    ax.set_ylabel("DRAM MB / frame")
    ax.set_title(f"{len(rows)} configurations")
    return _save(fig, path)
