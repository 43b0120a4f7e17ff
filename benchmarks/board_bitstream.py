"""Bitstreams of the ULX3S 85F board top: resources, fmax, the ``.bit``, and the times.

``--flow-check``: the board top with an accelerator that has no units (sequencer,
scratchpad, gatherer and writer only: 4 lanes, 64 words; a 256-word external memory), the
smallest design that exercises the whole flow (pins from the LPF, Yosys, nextpnr,
ecppack); it runs no network. ``PKG``: the board top sized for image 0 of a network
package (``--onchip-kib`` and ``--lanes``, as ``vitsim board build``)::

    /usr/bin/time -v python benchmarks/board_bitstream.py --flow-check --out /tmp/bit
    python benchmarks/board_bitstream.py PKG --onchip-kib 64 --lanes 4 --out /tmp/bit
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("package", nargs="?", type=Path)
    ap.add_argument("--flow-check", action="store_true")
    ap.add_argument("--onchip-kib", type=float, default=64.0)
    ap.add_argument("--lanes", type=int, default=None, help="word width (vitsim board --lanes)")
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args(argv)
    if (args.package is None) == (not args.flow_check):
        ap.error("give a package or --flow-check")

    from golden.accel_program import AccelTopCfg
    from hw.board.ulx3s import BoardCfg
    from sim.board.bitstream import build_bitstream

    if args.flow_check:
        cfg = BoardCfg(accel=AccelTopCfg(lanes=4, depth=64, units={}, ext_words=256))
        label = "flow check (no units)"
    else:
        from sim.board.build import board_for_program, board_program

        prog = board_program(args.package, onchip_kib=args.onchip_kib, lanes=args.lanes)
        cfg = board_for_program(prog)
        label = f"{args.package.name} at {args.onchip_kib:g} KiB, {prog.cfg.lanes} lanes"
    r = build_bitstream(cfg, args.out, overwrite=True)
    u = r["utilisation"]

    def cell(bel):
        return f"{u[bel]['used']:,} / {u[bel]['available']:,}" if bel in u else "-"

    print("| design | LUT4+carry (TRELLIS_COMB) | FF | DP16KD | MULT18X18D | fmax MHz "
          "(clock 25) | .bit | Yosys s | nextpnr s | ecppack s |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | --- | ---: | ---: | ---: |")
    bit = args.out / "board.bit"
    print(f"| {label} | {cell('TRELLIS_COMB')} | {cell('TRELLIS_FF')} | {cell('DP16KD')} | "
          f"{cell('MULT18X18D')} | {r['fmax_mhz'] or '-'} | "
          f"{f'{bit.stat().st_size:,} B' if r['placed'] else 'does not fit'} | "
          f"{r['yosys_s']} | {r['nextpnr_s']} | {r['ecppack_s']} |")
    return 0 if r["placed"] else 1


if __name__ == "__main__":
    sys.exit(main())
