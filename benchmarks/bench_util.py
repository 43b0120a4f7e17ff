"""Helpers shared by the benchmark scripts (run as ``python benchmarks/<name>.py``)."""

from __future__ import annotations

import statistics
from contextlib import contextmanager

__all__ = ["mean_std", "network_from_args", "package_arguments", "work_package"]


def mean_std(values: list[float], scale: float = 1.0, digits: int = 1) -> str:
    """``"mean ± sample std"`` of ``values`` times ``scale`` (std 0 for one value)."""
    mean = statistics.fmean(values) * scale
    std = statistics.stdev(values) * scale if len(values) > 1 else 0.0
    return f"{mean:.{digits}f} ± {std:.{digits}f}"


def package_arguments(ap) -> None:
    """``--work``, ``--model`` and ``--depth``: the untrained GSB package a cycle benchmark
    compiles (see :func:`work_package`)."""
    ap.add_argument("--work", default=None, help="scratch directory (default: a temp dir)")
    ap.add_argument("--model", default="gsb_vit_digits")
    ap.add_argument("--depth", type=int, default=4)


def work_package(root, model: str, depth: int):
    """The untrained ``model`` package of ``depth`` blocks under ``root``, built once: a later
    run with the same ``--work`` reuses it. Needs ``tests/`` on ``sys.path`` (netpkgs)."""
    from pathlib import Path

    from netpkgs import untrained_package

    sub = Path(root) / f"{model}_d{depth}"
    net = sub / "net"
    if (net / "manifest.json").exists():
        return net
    return untrained_package(sub, model=model, depth=depth)


@contextmanager
def network_from_args(argv, description: str):
    """Parse ``argv`` with :func:`package_arguments`; while the block runs, yield
    ``(args, network)``: the :func:`work_package` network read
    (``golden.netpkg.read_network``) under ``--work``, or under a temp directory removed after
    the block."""
    import argparse
    import tempfile

    from golden.netpkg import read_network

    ap = argparse.ArgumentParser(description=description)
    package_arguments(ap)
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        yield args, read_network(work_package(args.work or tmp, args.model, args.depth))
