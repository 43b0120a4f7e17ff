"""Where a simulation works: never inside its inputs.

A simulation reads its case or package and writes its build and run files in a work
directory of its own: ``--build-dir`` when given (new, empty, or one a simulation used
before), else a fresh directory under the build cache, unique to the run.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from golden.atomic import MARKER, check_out, output_kind
from sim.runner import cache_root

__all__ = ["work_dir"]


def work_dir(args, source: Path) -> Path:
    """The work directory of a simulation of ``source`` (a case or package, only read):
    ``--build-dir`` (a new or empty directory, or one a simulation used before), else a
    fresh one under the build cache, unique to this run. Neither may overlap an input."""
    inputs = [args.case, args.golden, args.verilog]
    if args.build_dir is not None:
        check_out(args.build_dir, "run", force=True, inputs=inputs, flag="--build-dir")
        args.build_dir.mkdir(parents=True, exist_ok=True)
        if output_kind(args.build_dir) is None:
            (args.build_dir / MARKER).write_text("run\n")
        return args.build_dir
    root = cache_root() / "runs"
    root.mkdir(parents=True, exist_ok=True)
    safe = "".join(ch if ch.isalnum() or ch in "._-" else "_" for ch in Path(source).name)
    return Path(tempfile.mkdtemp(prefix=f"{safe or 'run'}-", dir=root))
