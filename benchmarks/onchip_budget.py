"""On-chip KiB, cycles and external-memory bytes of a network package: preloaded vs streamed.

For a network package (``vitsim golden --ckpt``), compiles image 0 three ways -- every
weight preloaded (``vitsim compile``), preloaded with buffer reuse (``--reuse``), and
streamed for each ``--onchip-kib`` budget -- and prints per program: the scratchpad used,
the analytic cycles of a frame as the bench counts them (header, every descriptor's count,
two cycles between descriptors: :func:`sim.analytic.accel_cycles.run_cycles`, equal to
the RTL where it was run), the external bytes the DMA descriptors read and write
(:func:`sim.analytic.accel_traffic.frame_traffic`; written: the final dump of the used
scratchpad) and the smallest budget a streamed program runs in::

    python benchmarks/onchip_budget.py PKG --onchip-kib 64 128
    python benchmarks/onchip_budget.py --untrained --depth 12 --embed-dim 192 --onchip-kib 256
    python benchmarks/onchip_budget.py PKG --onchip-kib 72 --double-buffer --streamed-only

``--double-buffer``: each budget also double-buffered (two weight halves, loads
prefetched under compute, :mod:`sim.compiler.budget`), side by side with the single
buffer; the cycles are given at memory latency 1 and 20 (no wait states).

``--untrained``: build an untrained GSB digits package of that shape under ``--work``
first (the figures depend on shapes only, not on weights).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))


def figures(prog) -> dict:
    """One program's figures (see the module doc)."""
    from sim.analytic.accel_cycles import run_cycles
    from sim.analytic.accel_traffic import frame_traffic

    frame = frame_traffic(prog.names, prog.descs, prog.cfg)
    try:
        cycles = f"{run_cycles(prog.descs, prog.cfg):,}"
    except ValueError:  # a descriptor outside the cycle model (Q-ViT)
        cycles = "-"
    try:
        late = f"{run_cycles(prog.descs, prog.cfg, latency=20):,}"
    except ValueError:
        late = "-"
    return {"kib": prog.used * 4 / 1024, "weights_kib": prog.preload * 4 / 1024,
            "cycles": cycles, "cycles20": late, "prefetched": prog.meta.get("prefetched", 0),
            "read": frame["read_bytes"], "written": frame["written_bytes"],
            "descs": len(prog.descs)}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("package", nargs="?", type=Path, help="network package")
    ap.add_argument("--onchip-kib", type=float, nargs="+", default=[64.0])
    ap.add_argument("--untrained", action="store_true",
                    help="build an untrained GSB digits package (--depth, --embed-dim, "
                    "--num-heads)")
    ap.add_argument("--depth", type=int, default=4)
    ap.add_argument("--embed-dim", type=int, default=64)
    ap.add_argument("--num-heads", type=int, default=None)
    ap.add_argument("--work", type=Path, default=None)
    ap.add_argument("--double-buffer", action="store_true",
                    help="each budget also double-buffered, side by side")
    ap.add_argument("--streamed-only", action="store_true",
                    help="skip the two preloaded programs")
    args = ap.parse_args(argv)
    from sim.compiler import CompileError, compile_network

    pkg = args.package
    if args.untrained:
        from netpkgs import untrained_package

        kw = {"depth": args.depth, "embed_dim": args.embed_dim}
        if args.num_heads is not None:
            kw["num_heads"] = args.num_heads
        root = args.work or Path(tempfile.mkdtemp(prefix="onchip-"))
        pkg = untrained_package(root / f"d{args.depth}e{args.embed_dim}", **kw)
    if pkg is None:
        ap.error("give a package or --untrained")
    rows = [] if args.streamed_only else [
        ("preloaded", compile_network(pkg, image=0)),
        ("preloaded, --reuse", compile_network(pkg, image=0, reuse=True))]
    smallest = None
    for kib in args.onchip_kib:
        for double in (False, True) if args.double_buffer else (False,):
            label = f"--onchip-kib {kib:g}" + (", double" if double else "")
            try:
                prog = compile_network(pkg, image=0, onchip_kib=kib, double_buffer=double)
            except CompileError as exc:
                print(f"{label}: {exc}")
                continue
            rows.append((label, prog))
            if not double:
                smallest = prog.used * 4 / 1024
    print(f"{'program':<26} {'on-chip KiB':>12} {'weights KiB':>12} {'cycles':>10} "
          f"{'cycles L=20':>11} {'prefetched':>10} {'DRAM read B':>12} {'written B':>11} "
          f"{'descs':>6}")
    for label, prog in rows:
        f = figures(prog)
        print(f"{label:<26} {f['kib']:>12.2f} {f['weights_kib']:>12.2f} {f['cycles']:>10} "
              f"{f['cycles20']:>11} {f['prefetched']:>10} {f['read']:>12,} "
              f"{f['written']:>11,} {f['descs']:>6}", flush=True)
    if smallest is not None:
        print(f"smallest budget a streamed program runs in: {smallest:.2f} KiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
