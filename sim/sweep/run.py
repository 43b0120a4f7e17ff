"""Run a sweep's points as tasks on dask.distributed, resumably.

A ``LocalCluster`` of ``workers`` processes (one thread each) by default; with
``scheduler="tcp://HOST:PORT"`` the points go to a running cluster instead::

    dask scheduler --port 8786                       # on the head machine
    dask worker tcp://HEAD:8786 --nthreads 1          # on each machine (same vitsim,
                                                      # same paths to the inputs and --out)

Every point is a task running :func:`sim.sweep.points.run_point`; it stores its result
under the hash of its inputs in the output directory, so a rerun submits only the points
whose result is missing. A worker lost mid-point (killed, out of memory, its machine gone)
is rescheduled by the scheduler on another worker (the task is idempotent); a point that
raises is retried ``retries`` times, then the sweep fails naming it.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from golden.atomic import MARKER, output_kind
from golden.errors import VitsimError
from sim.sweep.points import load_result, point_key, point_label, run_point, source_version
from sim.sweep.spec import SweepSpec, points

__all__ = ["check_out", "prepare_out", "run_sweep"]


def check_out(out) -> Path:
    """Refuse (writing nothing) a sweep output ``out`` that is a file, a non-empty
    directory that is not a sweep's, or lies in no directory."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise VitsimError(f"--out {out}: is a file, not a directory")
    if out.is_dir() and any(out.iterdir()) and output_kind(out) != "sweep":
        raise VitsimError(f"--out {out}: a non-empty directory that is not a sweep's "
                          f"output (no {MARKER} 'sweep' marker); choose another")
    if not out.parent.is_dir():
        raise VitsimError(f"--out {out}: {out.parent} is not a directory")
    return out


def prepare_out(out) -> Path:
    """Make (or reuse) sweep output directory ``out`` (:func:`check_out` first)."""
    out = check_out(out)
    out.mkdir(exist_ok=True)
    (out / "points").mkdir(exist_ok=True)
    if output_kind(out) != "sweep":
        (out / MARKER).write_text("sweep\n")
    return out


def _client(workers: int, scheduler: str | None):
    from distributed import Client, LocalCluster

    if scheduler is not None:
        try:
            return Client(scheduler, timeout="10s"), None
        except (OSError, TimeoutError) as exc:
            raise VitsimError(f"--scheduler {scheduler}: cannot connect: {exc}") from None
    cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                           dashboard_address=None, silence_logs=50)
    return Client(cluster), cluster


def run_sweep(spec: SweepSpec, out, *, workers: int = 2, scheduler: str | None = None,
              progress: bool = True, retries: int = 2) -> dict:
    """Run every point of ``spec`` not yet stored under ``out``; return a summary.

    The summary holds ``rows`` (every point's result, in :func:`sim.sweep.spec.points`
    order), ``computed`` and ``cached`` (point counts) and ``wall_s``.
    """
    t0 = time.perf_counter()
    out = check_out(out)
    version = source_version()
    pts = points(spec)
    keys = [point_key(p, version) for p in pts]
    todo = {k: p for k, p in zip(keys, pts, strict=True) if load_result(out, k) is None}
    if todo:  # connect first: a scheduler out of reach leaves nothing behind
        client, cluster = _client(workers, scheduler)
        try:
            _submit(client, todo, prepare_out(out), progress, retries)
        finally:
            client.close()
            if cluster is not None:
                cluster.close()
    prepare_out(out)
    rows = [load_result(out, k) for k in keys]
    missing = [k for k, r in zip(keys, rows, strict=True) if r is None]
    if missing:  # a task reported done whose result is not there: a bug, not bad input
        raise RuntimeError(f"sweep points without a result: {missing[:3]}")
    return {"rows": rows, "computed": len(todo), "cached": len(keys) - len(todo),
            "wall_s": time.perf_counter() - t0}


def _submit(client, todo: dict, out: Path, progress: bool, retries: int) -> None:
    from distributed import as_completed
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

    futures = {client.submit(run_point, p, str(os.path.abspath(out)), k,
                             key=f"vitsim-point-{k}", pure=False, retries=retries): k
               for k, p in todo.items()}
    with Progress("[progress.description]{task.description}", BarColumn(),
                  MofNCompleteColumn(), TimeElapsedColumn(),
                  disable=not progress) as bar:
        task = bar.add_task("sweep points", total=len(futures))
        for fut in as_completed(futures):
            if fut.status == "error":
                exc = fut.exception()
                label = point_label(todo[futures[fut]])
                if isinstance(exc, VitsimError):
                    raise VitsimError(f"sweep point {label}: {exc}") from None
                raise exc
            bar.advance(task)
