"""Fitting the accelerator of a network package to an ECP5 part (:mod:`sim.fit`,
``vitsim synth --golden PKG --device``): candidates, the scratchpad's block RAMs, and the
one-line answer when nothing fits. The place-and-route runs themselves are slow (tens of
minutes): ``python benchmarks/hw_units.py --accel PKG`` measures them."""

import dataclasses
import math

import pytest
from netpkgs import BIG_RTL, untrained_package

from golden.accel_program import NUM_OPERANDS, AccelTopCfg
from golden.errors import VitsimError
from hw.synth import CAPACITY, netlist_counts
from sim.analytic.accel_cycles import run_cycles
from sim.cli import main
from sim.compiler import compile_network
from sim.fit import LANES, candidates, fit, scratch_bram


@pytest.fixture(scope="module")
def pkg(tmp_path_factory):
    return untrained_package(tmp_path_factory.mktemp("fit"), images=1, depth=1)


def test_candidates_are_the_streamed_programs_at_the_smallest_budget(pkg):
    cands = candidates(pkg)
    assert [c.cfg.lanes for c in cands] == list(LANES)
    for c in cands:
        L = c.cfg.lanes
        # no unit beat is wider than the word (it would be written an element a cycle,
        # which the cycle model refuses: cycles None), and no array writes more outputs a
        # beat than the word holds (the writer stores a vector's first L elements only)
        assert all(getattr(u, "lanes", 0) <= L for u in c.cfg.units.values())
        assert all(getattr(u, "rows", 0) <= L for u in c.cfg.units.values())
        assert c.cycles is not None
        base = dataclasses.replace(c.cfg, depth=1)
        prog = compile_network(pkg, cfg=base, onchip_kib=c.onchip_kib)
        # the scratchpad is exactly what the program uses (whole words), and a word less
        # is refused
        assert prog.cfg.depth == c.cfg.depth == -(-prog.used // L)
        assert c.cycles == run_cycles(prog.descs, prog.cfg)
        with pytest.raises(Exception, match="needs"):
            compile_network(pkg, cfg=base, onchip_kib=(c.cfg.depth - 1) * L * 4 / 1024)
    pinned = candidates(pkg, onchip_kib=64, lanes=16)
    assert [(c.cfg.lanes, c.cfg.depth) for c in pinned] == [(16, 64 * 1024 // 64)]


def test_a_narrow_word_narrows_gsb_av_v_columns_and_the_arrays_rows(pkg):
    """GSB A·V takes 8 V columns a beat on the digits network; a 4-lane word (below the
    command line's 8, as ``benchmarks/place_route.py --lanes 4`` asks) narrows the unit's
    lanes and its V columns with them, and the arrays' rows (their outputs a beat) to the
    word, and the program compiles at its exact cycles."""
    (c8,) = candidates(pkg, onchip_kib=64, lanes=8)
    assert c8.cfg.units["gsb_av"].v_cols == 8
    (c4,) = candidates(pkg, onchip_kib=64, lanes=4)
    av = c4.cfg.units["gsb_av"]
    assert (av.lanes, av.v_cols) == (4, 4)
    assert {c4.cfg.units[s].rows for s in ("mac", "binary_xnor", "binary_and")} == {4}
    assert c4.cycles is not None and c4.cycles > c8.cycles


@pytest.mark.parametrize("slot", ["mac", "binary_xnor"])
def test_an_array_wider_than_the_word_is_refused_by_the_compiler(pkg, slot):
    """An array whose outputs a beat exceed the word (the configuration the narrower
    candidates once had, which the writer truncated silently) is one error naming the op
    and the word, not a program that loses outputs."""
    from sim.compiler import CompileError

    (c8,) = candidates(pkg, onchip_kib=64, lanes=8)
    units = dict(c8.cfg.units)
    units[slot] = dataclasses.replace(units[slot], rows=16)
    wide = dataclasses.replace(c8.cfg, units=units, depth=1)
    with pytest.raises(CompileError, match=r"writes 16 elements a beat as one vector from "
                                           r"lane 0, past the end of the 8-lane word"):
        compile_network(pkg, cfg=wide, onchip_kib=64)
    compile_network(pkg, cfg=dataclasses.replace(c8.cfg, depth=1), onchip_kib=64)


def test_scratch_bram_is_a_copy_per_read_port_in_the_best_block_shape(pkg):
    cfg = candidates(pkg, onchip_kib=64, lanes=32)[0].cfg  # 512 words of 1,024 bits
    assert cfg.depth == 512 and scratch_bram(cfg) == NUM_OPERANDS * math.ceil(1024 / 36)
    deep = dataclasses.replace(cfg, lanes=8, depth=2048)  # 256 bits: 2048 x 9 in 29 blocks
    assert scratch_bram(deep) == NUM_OPERANDS * min(8 * 4, 15 * 2, 29, 64)


# Yosys 0.70 ``stat`` after synth_ecp5 of the demo accelerator at 8 lanes, 2,048 words
STAT = """=== accelerator ===

        +----------Local Count, excluding submodules.
    34392 wires
   199601 wire bits
    66206 cells
       17   $scopeinfo
     4851   CCU2C
      104   DP16KD
    45005   LUT4
      109   MULT18X18D
      136   TRELLIS_DPR16X4
    15984   TRELLIS_FF
"""


def test_netlist_counts_read_yosys_stat():
    assert netlist_counts(STAT) == {"TRELLIS_COMB": 45005 + 2 * 4851 + 2 * 136,
                                    "TRELLIS_FF": 15984, "DP16KD": 104, "MULT18X18D": 109}
    # that scratchpad is three copies of 2,048 x 256 bits in 2048 x 9 blocks; the units
    # take the other 17
    assert scratch_bram(AccelTopCfg(lanes=8, depth=2048)) == 3 * 29


def test_nothing_fits_is_one_line_with_the_smallest_needs(pkg, tmp_path, capsys):
    cands = candidates(pkg)
    assert all(scratch_bram(c.cfg) > CAPACITY["25k"]["DP16KD"] for c in cands)
    with pytest.raises(VitsimError, match=r"^nothing fits LFE5U-25K: the smallest "
                       r"configuration \(lanes=8 depth=\d+ .*\) needs DP16KD \d+/56"):
        fit(cands, tmp_path / "s", device="25k", log=lambda line: None)
    assert not (tmp_path / "s").exists()
    assert main(["synth", "--golden", str(pkg), "--device", "25k", "--out",
                 str(tmp_path / "cli")]) != 0
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].endswith("(used/available)") and "nothing fits LFE5U-25K" in err[-1]
    assert not (tmp_path / "cli").exists()


_GATED = pytest.mark.skipif(not BIG_RTL, reason="benchmark: set VITSIM_BIG_RTL=1 (CI runs "
                            "the 8-lane candidate; about a minute each here)")


# CI runs the narrowest command-line word: the wider arrays' rows once went past it
# unnoticed while all of these were gated
@pytest.mark.sim
@pytest.mark.slow
@pytest.mark.parametrize("lanes", [pytest.param(16, marks=_GATED), 8,
                                   pytest.param(4, marks=_GATED)])  # 4: for P&R
def test_the_narrower_candidates_run_bit_exact_at_their_exact_cycles(lanes, tmp_path):
    """The demo architecture's candidate of ``lanes`` (the smallest streamed budget) on
    Verilator: every intact tensor ``==``, every descriptor's counter and the run's cycles
    equal to the exact model."""
    from netpkgs import run_checked

    from sim.analytic.accel_cycles import program_cycles

    pkg = untrained_package(tmp_path / "pkg", images=1)
    cand = candidates(pkg, lanes=lanes)[0]
    prog, res = run_checked(pkg, tmp_path / "run", "verilator",
                            cfg=dataclasses.replace(cand.cfg, depth=1),
                            onchip_kib=cand.onchip_kib)
    assert prog.cfg == cand.cfg
    assert res.op_cycles[:-1] == program_cycles(prog.descs, prog.cfg)[:-1]
    assert res.cycles == cand.cycles == run_cycles(prog.descs, prog.cfg)
