"""Run a stream unit's Verilog under the plain C++ Verilator harness (no Python per cycle).

The harness (``sim/harness/stream_harness.cpp``) is the peer that cocotb benches are
measured against: same Verilog, same stimulus, same exact checks, no Python in the loop.
"""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

from golden.errors import VitsimError
from sim.toolchain import prepare

__all__ = ["HarnessResult", "build_harness", "run_harness", "write_stimulus"]

_LINE = re.compile(r"harness: (pass|FAIL) cycles=(\d+) wall_s=([\d.]+) mismatches=(\d+) "
                   r"first=(-?\d+) outputs=(\d+)")


@dataclass(frozen=True)
class HarnessResult:
    """What one harness run printed."""

    passed: bool
    cycles: int  # first input handshake to last output handshake, both included
    wall_s: float  # simulation loop only
    mismatches: int
    first_mismatch: int  # index of the first wrong output transfer, -1 if none
    outputs: int


def write_stimulus(path: Path, beats: list[int], outputs: list[int]) -> Path:
    """Write the harness stimulus file (header, input beats, expected outputs, in hex)."""
    lines = [f"{len(beats)} {len(outputs)}"]
    lines += [f"{w:x}" for w in beats] + [f"{w:x}" for w in outputs]
    path.write_text("\n".join(lines) + "\n")
    return path


def build_harness(verilog: Path, *, top: str, build_dir: Path,
                  harness: str = "stream_harness.cpp", extra_args: tuple = ()) -> Path:
    """Compile ``verilog`` with ``harness`` (a file of ``sim/harness``) into ``build_dir``;
    return the executable."""
    prepare("verilator")
    source = Path(__file__).with_name("harness") / harness
    build_dir.mkdir(parents=True, exist_ok=True)
    cmd = ["verilator", "--cc", "--exe", "--build", "-Wno-fatal", *extra_args, "--prefix", "Vtop",
           "--top-module", top, "-Mdir", str(build_dir), "-o", "harness",
           str(Path(verilog).resolve()), str(source)]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        log = build_dir / "harness_build.log"
        log.write_text(proc.stdout + proc.stderr)
        raise VitsimError(f"verilator could not build the C++ harness for {verilog}; see {log}")
    return build_dir / "harness"


def run_harness(exe: Path, stimulus: Path) -> HarnessResult:
    """Run the harness binary on ``stimulus``; parse its result line."""
    proc = subprocess.run([str(exe), str(stimulus)], capture_output=True, text=True)
    match = _LINE.search(proc.stdout)
    if match is None:
        raise VitsimError(f"{exe}: no result line (exit {proc.returncode}): {proc.stderr[-400:]}")
    ok, cycles, wall, bad, first, outs = match.groups()
    return HarnessResult(passed=ok == "pass", cycles=int(cycles), wall_s=float(wall),
                         mismatches=int(bad), first_mismatch=int(first), outputs=int(outs))
