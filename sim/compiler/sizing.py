"""The accelerator sized to a network package: :func:`accel_config_for`.

Each unit's sizing attaches itself to the unit with :func:`sim.compiler.registry.sizes`:
``f(net, by_kind) -> {slot: config}`` from the network's ops of the unit's op kinds.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from golden.accel_program import AccelTopCfg
from golden.kernels import grid_width
from golden.spec import BinaryArrayCfg, MacArrayCfg
from sim.compiler import tiling
from sim.compiler.program import CompileError
from sim.compiler.registry import sizers

__all__ = ["COLS", "LANES", "LN_STEP_BITS", "MAC_DIGIT_BITS", "MAC_LINEAR_COLS",
           "MAC_LINEAR_ROWS", "MAC_MAX_COLS", "MAC_PATCH_LANES", "MAC_ROWS",
           "MAC_WIDE_DIGIT_BITS", "MAC_WIDE_DIGIT_LANES", "MAX_ROWS", "ROWS", "ROW_LANES",
           "SM_DIV_BITS", "accel_config_for", "binary_cfg", "binary_rows", "linear_mac_cols",
           "mac_cols", "patch_digit_bits", "patch_mac_rows", "row_lanes", "widest",
           "word_cfg"]

#: Lanes of the elementwise units (requantiser, threshold, GELU, residual add, GSB encoder
#: and A.V output): 16 takes the digits GSB demo from 67,706 to 57,652 cycles an image
#: (`benchmarks/cycle_breakdown.py`); 32 would save only 1,438 more (the thresholds and
#: requantisers are then bound by their gathers).
LANES = 16
#: Most lanes of the row units (LayerNorm, softmax): past 8 their fixed per-row compute
#: (dividers, square root, exp pipeline) dominates a row, so more lanes buy little.
ROW_LANES = 8
#: LayerNorm's divider and square-root bits a cycle: its per-row compute in about half the
#: cycles (99 -> 54 at 16-bit inputs). Rows overlap in the unit's engines, so a digits row
#: adds 28 cycles (its STATS engine) at 2 bits. 3 and 4 bits, measured before the rows
#: overlapped, cost fmax (76.6 -> 61.2 and 44.3 MHz, ECP5 out of context, `benchmarks/
#: hw_units.py --lanes 8 --unit LayerNorm-s3 --unit LayerNorm-s4`).
LN_STEP_BITS = 2
#: The binary arrays: ``COLS`` bits a beat; at least ``ROWS`` rows, up to ``MAX_ROWS`` where
#: every weight's output count fills them (:func:`binary_rows`). 32 rows take the digits GSB
#: demo's binary matmuls from 14,596 to 4,084 cycles an image for about 3,800 more LUTs; the
#: array's Verilog grows with its compressor tree, not rows x tree (one bit-sliced tree for
#: all rows), so the digits accelerator's Verilator build is 54 s at 32 rows (47 s at 8).
ROWS, COLS, MAX_ROWS = 8, 32, 32
MAC_ROWS = 4
#: Lanes (rows x columns) of a MAC array sized for the patch embedding, at least: a narrow
#: patch beat (digits: a 2x2 patch, 4 columns) gets more rows, up to the widest output
#: (DeiT's 64-column beat keeps ``MAC_ROWS``). 64 lanes, as hw_units' 4 x 16 reference
#: array: digits 16 x 4, its patch embedding in 4x fewer cycles.
MAC_PATCH_LANES = 64
#: Most columns of the MAC array (a 64-column beat is 4 rows of a 16x16 patch).
MAC_MAX_COLS = 64
#: Digit widths of the MAC array (:class:`golden.spec.MacArrayCfg`): 2 bits, so every width
#: from 2 to 8 runs on 3x3-bit lanes; a patch-embedding array of at least
#: ``MAC_WIDE_DIGIT_LANES`` lanes (DeiT's 4 x 64) takes ``MAC_WIDE_DIGIT_BITS``: its 8-bit
#: products in 4 passes instead of 16, as many cycles as the beat's 2,048 weight bits take
#: to gather at 16 lanes. DeiT-T's frame drops from 6,026,063 to 4,653,311 cycles (the
#: patch embedding from 1,830,389 to 457,637) for 12,553 more LUT4 (Yosys ``synth_ecp5``
#: of the 4 x 64 array: 7,231 -> 19,784). The digits 16 x 4 array keeps 2-bit digits:
#: 4-bit ones would save 1,152 cycles an image (4 %) for 2,926 more LUT4 (2,535 -> 5,461).
MAC_DIGIT_BITS, MAC_WIDE_DIGIT_BITS, MAC_WIDE_DIGIT_LANES = 2, 4, 256
#: The MAC array of a network whose integer linears carry most of its MACs (Q-ViT,
#: low-rank): ``MAC_LINEAR_ROWS x`` at most ``MAC_LINEAR_COLS`` (256 lanes, as the 4 x 64
#: DeiT array; the columns one scratchpad word of activations, so a ``q @ k^T`` key row
#: is one vector read).
MAC_LINEAR_ROWS, MAC_LINEAR_COLS = 8, 32
#: Softmax's factor-divider bits a cycle: with rows overlapping in the unit's engines, a
#: digits row (18 logits, 2 lanes) adds ``max(beats + 1, div_cycles + 1)`` cycles: 10 at 2
#: bits, 19 at 1 (87.3 and 108.5 MHz, `benchmarks/hw_units.py --lanes 2`, ECP5 out of
#: context); 3 and 4 bits fell to 58.6 and 46.6 MHz before the rows overlapped.
SM_DIV_BITS = 2


def widest(net, ops, idx=0, top=32):
    """The widest input ``idx`` of ``ops`` on the width grid up to ``top``."""
    return grid_width(max(net.width(op.inputs[idx]) for op in ops), top)


def row_lanes(rows, top: int = ROW_LANES, word_lanes: int = 32) -> int:
    """Lanes of a row unit for row lengths ``rows``: the largest power of two up to ``top``
    and the scratchpad word's ``word_lanes`` that divides every row (whole, aligned beats;
    1 when a row is odd)."""
    ln = 1
    while ln * 2 <= min(top, word_lanes) and all(r % (ln * 2) == 0 for r in rows):
        ln *= 2
    return ln


def binary_rows(outs, top: int = MAX_ROWS) -> int:
    """Rows of a binary array for weights of output counts ``outs``: the largest power of
    two up to ``top`` that divides every count (no padded output tile), at least ``ROWS``
    (a few padded rows cost less than a narrower array)."""
    r = ROWS
    while r * 2 <= top and all(n % (r * 2) == 0 for n in outs):
        r *= 2
    return r


def mac_cols(red, patches, qk=()) -> int:
    """Columns of the MAC array for matmul reductions ``red``, patch embeddings
    ``patches`` (``(patch, chans)`` each: :func:`sim.compiler.tiling.patch_rows` must fit)
    and ``q @ k^T`` reductions ``qk`` (padded to whole beats): the shortest matmul
    reduction when it divides every one, fits every patch and is at most
    ``MAC_MAX_COLS``; else the largest common divisor of the reductions up to
    ``MAC_MAX_COLS`` that fits every patch; without matmuls the shortest ``q @ k^T``
    reduction (16 without any).

    Raises
    ------
    CompileError
        No column count fits (a patch side that is not a power of two, say).
    """
    def fits(c):
        return (all(k % c == 0 for k in red)
                and all(tiling.patch_rows(c, p, ch) for p, ch in patches))

    if not red:
        return min(qk or [16])
    if min(red) <= MAC_MAX_COLS and fits(min(red)):
        return min(red)
    g = int(np.gcd.reduce(np.asarray(red, dtype=np.int64)))
    for c in range(min(g, MAC_MAX_COLS), 0, -1):
        if g % c == 0 and fits(c):
            return c
    raise CompileError(f"no MAC array width fits the reductions {sorted(set(red))} and the "
                       f"patches {sorted(set(patches))} (patch sides must be powers of two)")


def patch_mac_rows(cols: int, outs, lanes: int = MAC_PATCH_LANES) -> int:
    """Rows of a MAC array of ``cols`` columns sized for the patch embedding: ``MAC_ROWS``,
    doubled while the array stays within ``lanes`` lanes and a row tile is narrower than
    the widest of the matmuls' output counts ``outs``."""
    rows = MAC_ROWS
    while rows * 2 * cols <= lanes and rows < max(outs, default=0):
        rows *= 2
    return rows


def patch_digit_bits(rows: int, cols: int) -> int:
    """Digit width of a ``rows x cols`` MAC array sized for the patch embedding:
    ``MAC_WIDE_DIGIT_BITS`` from ``MAC_WIDE_DIGIT_LANES`` lanes up, else ``MAC_DIGIT_BITS``."""
    return MAC_WIDE_DIGIT_BITS if rows * cols >= MAC_WIDE_DIGIT_LANES else MAC_DIGIT_BITS


def linear_mac_cols(red, qk=(), top: int = MAC_LINEAR_COLS) -> int:
    """Columns of a MAC array sized for integer linears of reductions ``red`` and
    ``q @ k^T`` reductions ``qk``: the largest power of two up to ``top`` that divides
    every ``q @ k^T`` reduction (a key row is a weight row of the array, read from the
    scratchpad as is), halved while half of it still holds the longest reduction in one
    beat. Linear reductions it does not divide are zero-padded (weights padded at pack
    time), and so is the patch embedding (one whole patch a beat)."""
    c = top
    while c > 1 and any(k % c for k in qk):
        c //= 2
    longest = max([*red, *qk], default=c)
    while c > 1 and c // 2 >= longest:  # no wider than the longest reduction
        c //= 2
    return c


def word_cfg(cfg: AccelTopCfg, lanes: int, depth: int = 1) -> AccelTopCfg:
    """``cfg`` with a scratchpad word of ``lanes`` elements and ``depth`` words, each unit
    whose output beat is wider than the word narrowed to it (:func:`_narrowed`): the
    writer stores a vector beat's first ``lanes`` elements only, and a beat written one
    element a cycle stalls the unit, which the cycle model refuses."""
    units = {slot: _narrowed(u, lanes) for slot, u in cfg.units.items()}
    return dataclasses.replace(cfg, lanes=lanes, depth=depth, units=units)


def _narrowed(unit, lanes: int):
    """``unit`` with no output beat wider than a word of ``lanes``: a unit's lanes (GSB
    A·V's V columns a beat, which divide them, with them) and an array's rows (its
    outputs a beat, written as one vector) at most ``lanes``."""
    if isinstance(unit, (BinaryArrayCfg, MacArrayCfg)):
        return dataclasses.replace(unit, rows=lanes) if unit.rows > lanes else unit
    if getattr(unit, "lanes", 0) <= lanes:
        return unit
    if getattr(unit, "v_cols", 1) > lanes:
        return dataclasses.replace(unit, lanes=lanes, v_cols=lanes)
    return dataclasses.replace(unit, lanes=lanes)


def binary_cfg(cfg: AccelTopCfg, rows: int) -> AccelTopCfg:
    """``cfg`` with binary arrays of ``rows`` rows (a what-if beside what
    :func:`binary_rows` picks; the compiler lays out and reads the keys of ``q @ k^T`` for
    any row count)."""
    units = {slot: dataclasses.replace(u, rows=rows) if isinstance(u, BinaryArrayCfg) else u
             for slot, u in cfg.units.items()}
    return dataclasses.replace(cfg, units=units)


def accel_config_for(net) -> AccelTopCfg:
    """Unit configs sized to the ops of network ``net`` (a
    :class:`golden.netpkg.NetworkData`): each unit's attached sizing, in unit-id order."""
    by_kind: dict[str, list] = {}
    for op in net.ops:
        by_kind.setdefault(op.kind, []).append(op)
    units = {}
    for size in sizers():
        units.update(size(net, by_kind))
    return AccelTopCfg(lanes=32, depth=1, units=units, ext_words=2)
