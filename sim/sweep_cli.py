"""``vitsim sweep SPEC.toml``: a co-design sweep on dask.distributed (see :mod:`sim.sweep`).

Examples::

    vitsim sweep sweep.toml --out runs/sweep               # LocalCluster, 2 workers
    vitsim sweep sweep.toml --out runs/sweep --workers 8
    vitsim sweep sweep.toml --out runs/sweep --scheduler tcp://head:8786

The output directory holds ``points/KEY.json`` (one per finished point, the key a hash of
its inputs), ``points.log``, ``results.csv``, ``results.parquet`` and ``pareto.png``. A
rerun computes only the points whose result is missing.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from golden.argtypes import at_least

__all__ = ["register"]


def register(subparsers) -> None:
    """Add the ``sweep`` sub-command to ``subparsers``."""
    p = subparsers.add_parser(
        "sweep", help="co-design sweep of a TOML spec on dask (resumable; CSV, Parquet, "
        "Pareto plot)")
    p.add_argument("spec", type=Path, help="sweep spec (TOML; see sim/sweep/spec.py)")
    p.add_argument("--out", type=Path, required=True,
                   help="output directory (reused: finished points are skipped)")
    p.add_argument("--workers", type=at_least(1), default=2,
                   help="LocalCluster worker processes (default 2)")
    p.add_argument("--scheduler", metavar="tcp://HOST:PORT",
                   help="a running dask scheduler instead of a LocalCluster")
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    p.set_defaults(func=cmd_sweep)


def cmd_sweep(args: argparse.Namespace) -> int:
    """Handler of ``vitsim sweep``; returns the exit status."""
    from golden.errors import VitsimError
    from sim.sweep.results import pareto_plot, write_tables
    from sim.sweep.run import run_sweep
    from sim.sweep.spec import load_spec

    if args.scheduler is not None and not args.scheduler.startswith(("tcp://", "tls://")):
        raise VitsimError(f"--scheduler: expected tcp://HOST:PORT, not {args.scheduler!r}")
    spec = load_spec(args.spec)
    if args.out.resolve() in (args.spec.resolve(), args.spec.resolve().parent):
        raise VitsimError(f"--out {args.out}: is the spec file or its directory")
    summary = run_sweep(spec, args.out, workers=args.workers, scheduler=args.scheduler,
                        progress=not args.no_progress)
    rows = summary["rows"]
    csv_path, pq_path = write_tables(rows, args.out)
    plot = pareto_plot(rows, args.out / "pareto.png")
    bad = [r["label"] for r in rows if r.get("rtl_exact") is False]
    print(f"{len(rows)} points ({summary['computed']} computed, {summary['cached']} stored "
          f"before) in {summary['wall_s']:.1f} s -> {csv_path}, {pq_path}"
          + (f", {plot}" if plot else ""))
    if bad:
        print(f"RTL MISMATCH at {len(bad)} points: {', '.join(bad[:5])}")
        return 1
    return 0
