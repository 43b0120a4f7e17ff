"""The accelerator of a network package fitted to an ECP5 device (``vitsim synth --golden PKG
--device 25k|45k|85k``).

The candidates, fastest first: the word of 32, 16 or 8 lanes (``--lanes`` pins one), each
with the program streamed at the on-chip budget ``--onchip-kib`` (default: the smallest
budget that program runs in, whole words) -- the scratchpad is exactly that deep. Each
unit keeps the size the package's shapes ask for (:func:`sim.compiler.sizing
.accel_config_for`). A candidate whose scratchpad alone needs more ``DP16KD`` than the
device has (:func:`scratch_bram`) is not synthesised; the others go through Yosys, and
those whose netlist fits go on to nextpnr (:func:`hw.synth.synthesize`). The first that
places and routes is the answer, with its frames/s at fmax from the exact cycle count
(:func:`sim.analytic.accel_cycles.run_cycles`, the count the RTL's counters give).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from golden.accel_program import NUM_OPERANDS, AccelTopCfg
from golden.errors import VitsimError

__all__ = ["LANES", "Candidate", "FitResult", "candidates", "fit", "scratch_bram"]

#: Word widths tried, in elements of 32 bits, fastest first.
LANES = (32, 16, 8)
#: The shapes of a DP16KD block RAM with one write and one read port: (words, bits).
BRAM_SHAPES = ((512, 36), (1024, 18), (2048, 9), (4096, 4), (8192, 2), (16384, 1))


def scratch_bram(cfg: AccelTopCfg) -> int:
    """The fewest DP16KD blocks the scratchpad can take: a copy per read port (each copy
    uses one write and one read port of its block RAMs, so the three operand reads and
    the writer's store all happen in one cycle, as the cycle model counts them), each
    copy tiled by the block shape (:data:`BRAM_SHAPES`) that needs fewest blocks."""
    return NUM_OPERANDS * min(math.ceil(cfg.word_bits / bits) * math.ceil(cfg.depth / words)
                              for words, bits in BRAM_SHAPES)


@dataclass(frozen=True)
class Candidate:
    """One accelerator configuration and its compiled program.

    ``onchip_kib``: the scratchpad in KiB; ``cycles``: the exact frame count (``None``
    for a program outside the cycle model, such as a Q-ViT one)."""

    cfg: AccelTopCfg
    onchip_kib: float
    cycles: int | None

    @property
    def label(self) -> str:
        return (f"lanes={self.cfg.lanes} depth={self.cfg.depth} "
                f"({self.onchip_kib:g} KiB scratchpad)")


def _cycles(prog) -> int | None:
    from sim.analytic.accel_cycles import run_cycles

    try:
        return run_cycles(prog.descs, prog.cfg)
    except ValueError:
        return None


def candidates(pkg, *, onchip_kib: float | None = None, lanes=None) -> list[Candidate]:
    """The candidates for network package ``pkg`` (a path or a read package), fastest first
    (see the module doc); a budget too small for every word width raises the compiler's
    message for the narrowest."""
    from golden.netpkg import NetworkData, read_network
    from sim.compiler import CompileError, compile_network
    from sim.compiler.sizing import accel_config_for, word_cfg

    pkg = pkg if hasattr(pkg, "manifest") else read_network(pkg)
    base = accel_config_for(NetworkData(pkg))
    out, error = [], None
    for L in (LANES if lanes is None else (lanes,)):
        cfg = word_cfg(base, L)
        kib = onchip_kib
        try:
            if kib is None:  # the smallest budget: what the program uses at any budget
                roomy = compile_network(pkg, cfg=cfg, reuse=True)
                big = compile_network(pkg, cfg=cfg, onchip_kib=roomy.used * 8 / 1024)
                kib = big.used * 4 / 1024
            prog = compile_network(pkg, cfg=cfg, onchip_kib=kib)
        except CompileError as exc:
            error = exc
            continue
        out.append(Candidate(cfg=prog.cfg, onchip_kib=prog.cfg.depth * L * 4 / 1024,
                             cycles=_cycles(prog)))
    if not out:
        raise VitsimError(f"--onchip-kib: {error}")
    return out


@dataclass(frozen=True)
class FitResult:
    """The fitting candidate's :class:`hw.synth.SynthReport` (``None`` when nothing fits)
    and, for every candidate tried, ``(candidate, what it needs or None)``."""

    report: object
    chosen: Candidate | None
    tried: list

    @property
    def frames_per_s(self) -> float | None:
        if self.report is None or self.chosen.cycles is None or not self.report.fmax_mhz:
            return None
        return self.report.fmax_mhz * 1e6 / self.chosen.cycles


def _needs(util: dict, have: dict) -> str:
    """``"TRELLIS_COMB 90,000/83,640, ..."``: what is known to be needed, against ``have``."""
    return ", ".join(f"{bel} {util[bel]:,}/{have[bel]:,}" for bel in have if bel in util)


def fit(cands: list[Candidate], out_dir, *, device: str, freq_mhz: float = 100.0,
        nodsp: bool = False, log=print) -> FitResult:
    """Synthesise ``cands`` in order into ``out_dir`` (one run: the last candidate tried)
    until one places and routes on ``device``; raises :class:`VitsimError` with one line
    (what the smallest candidate needs against what the device has) when none does."""
    import json

    from hw.accel.top import Accelerator
    from hw.synth import capacity, synthesize

    have = capacity(device)
    tried, needs = [], {}
    for cand in cands:
        bram = scratch_bram(cand.cfg)
        if bram > have["DP16KD"]:
            needs = {"DP16KD": bram}  # nothing else known: Yosys was not run
            log(f"{cand.label}: its scratchpad alone needs {bram} DP16KD of "
                f"{have['DP16KD']}; not synthesised")
            tried.append((cand, dict(needs)))
            continue
        log(f"{cand.label}: synthesising (Yosys, then nextpnr if the netlist fits)")
        report = synthesize(Accelerator(cand.cfg), out_dir, name="accelerator", device=device,
                            freq_mhz=freq_mhz, nodsp=nodsp)
        if report.placed:
            tried.append((cand, None))
            return FitResult(report=report, chosen=cand, tried=tried)
        util = json.loads((out_dir / "synth_report.json").read_text())["utilisation"]
        needs = {bel: int(u["used"]) for bel, u in util.items()}
        log(f"{cand.label}: does not fit ({_needs(needs, have)})")
        tried.append((cand, needs))
    smallest = cands[-1]
    raise VitsimError(f"nothing fits LFE5U-{device.upper()}: the smallest configuration "
                      f"({smallest.label}) needs {_needs(needs, have)} (used/available)")
