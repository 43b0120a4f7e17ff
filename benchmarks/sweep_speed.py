"""Wall time of one ``vitsim sweep`` spec with 1, 2, ... LocalCluster workers, side by side.

Each worker count runs the whole spec from an empty output directory (nothing stored
before), in this one session, then once more over the finished directory (the rerun:
every point stored, nothing computed)::

    python benchmarks/sweep_speed.py SPEC.toml --workers 1 2 --work /tmp/sweep-speed

Prints a table: workers, points, wall s of the sweep (cluster start included), wall s of
the rerun, and the sum of the points' own seconds (``point_s``).
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main(argv=None) -> int:
    from sim.sweep.results import write_tables
    from sim.sweep.run import run_sweep
    from sim.sweep.spec import load_spec

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("spec", type=Path)
    p.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    p.add_argument("--work", type=Path, help="scratch directory (default: a temporary one)")
    args = p.parse_args(argv)
    spec = load_spec(args.spec)
    work = args.work or Path(tempfile.mkdtemp(prefix="sweep-speed-"))
    rows = []
    for n in args.workers:
        out = work / f"w{n}"
        shutil.rmtree(out, ignore_errors=True)
        t0 = time.perf_counter()
        first = run_sweep(spec, out, workers=n, progress=False)
        wall = time.perf_counter() - t0
        write_tables(first["rows"], out)
        t0 = time.perf_counter()
        again = run_sweep(spec, out, workers=n, progress=False)
        rerun = time.perf_counter() - t0
        assert again["computed"] == 0
        rows.append((n, len(first["rows"]), first["computed"], wall, rerun,
                     sum(r["point_s"] for r in first["rows"])))
    print("| workers | points | computed | sweep wall s | rerun wall s | sum of point s |")
    print("| ---: | ---: | ---: | ---: | ---: | ---: |")
    for n, pts, comp, wall, rerun, tot in rows:
        print(f"| {n} | {pts} | {comp} | {wall:.1f} | {rerun:.2f} | {tot:.1f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
