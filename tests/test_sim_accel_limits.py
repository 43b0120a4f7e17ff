"""Field widths a large program needs, Verilog without per-word initialisers, and the
simulation's cycle limit from the program's analytic count."""

from __future__ import annotations

import dataclasses

import pytest
from netpkgs import untrained_package

from golden.accel_program import COUNT_BITS, OpDesc, decode_desc, encode_desc
from sim.accel_mem import MemModel
from sim.accel_run import FALLBACK_MAX_CYCLES, cycle_limit, zero_init_loops
from sim.analytic.accel_cycles import program_cycles
from sim.compiler import compile_network

# DeiT-B (86.6 M parameters, 197 tokens, MLP 3072) with 32-lane words: every parameter as
# one 32-bit element is 2.7 M words for a whole-model dma_in; its largest activation,
# 197 x 3072 elements, is one 605 k-iteration loop when flattened
DEIT_B_PARAMS = 86_567_656
DEIT_B_WORDS = -(-DEIT_B_PARAMS // 32)


@pytest.fixture(scope="module")
def small_package(tmp_path_factory):
    return untrained_package(tmp_path_factory.mktemp("limits"), depth=1)


def test_a_deit_b_sized_dma_and_loop_fit_the_descriptor():
    big = 197 * 3072
    desc = OpDesc(unit="dma_in", rn=(1, 1, big, DEIT_B_WORDS), wbase=DEIT_B_PARAMS * 2,
                  k=(DEIT_B_WORDS * 3,), cnt_addr=DEIT_B_PARAMS * 3)
    got = decode_desc(encode_desc(desc))
    assert (got["rn2"], got["rn3"]) == (big, DEIT_B_WORDS)
    assert (got["wbase"], got["k0"], got["cnt_addr"]) == (DEIT_B_PARAMS * 2,
                                                          DEIT_B_WORDS * 3,
                                                          DEIT_B_PARAMS * 3)
    with pytest.raises(Exception, match=r"field rn3=\d+ does not fit"):
        encode_desc(dataclasses.replace(desc, rn=(1, 1, 1, 1 << COUNT_BITS)))


def test_zero_initialisers_become_one_loop_and_others_stay():
    zeros = "".join(f"    mem[{i}] = 8'h00;\n" for i in range(5))
    text = f"  reg [7:0] mem [4:0];\n  initial begin\n{zeros}  end\n"
    out = zero_init_loops(text)
    assert "mem[3]" not in out
    assert ("  integer mem__zero_i;\n  initial for (mem__zero_i = 0; mem__zero_i < 5; "
            "mem__zero_i = mem__zero_i + 1) mem[mem__zero_i] = 0;\n") in out
    nonzero = text.replace("mem[2] = 8'h00", "mem[2] = 8'h01")
    assert zero_init_loops(nonzero) == nonzero
    gap = text.replace("mem[2] =", "mem[7] =")
    assert zero_init_loops(gap) == gap


def test_the_cycle_limit_follows_the_analytic_count(small_package):
    prog = compile_network(small_package, image=0)
    counts = program_cycles(prog.descs, prog.cfg)
    total = 2 + sum(c + 2 for c in counts) + 2  # header read, ops, final NEXT and dump
    assert cycle_limit(prog) == 2 * total + 10_000
    assert cycle_limit(prog) < FALLBACK_MAX_CYCLES
    # a slower memory raises the limit: latency, a narrow port, wait states
    slow = cycle_limit(prog, MemModel(latency=20, bw=prog.cfg.word_bits // 32, stall=0.5))
    long = 21 + sum(c + 2 for c in program_cycles(prog.descs, prog.cfg, latency=20)) + 2
    assert slow == int(2 * long * 4 / 0.5) + 10_000


def test_max_cycles_below_one_is_refused(small_package, tmp_path, capsys):
    from sim.cli import main

    assert main(["simulate", "--golden", str(small_package), "--max-cycles", "0",
                 "--build-dir", str(tmp_path / "b")]) == 2
    assert "--max-cycles must be at least 1, not 0" in capsys.readouterr().err
    assert not (tmp_path / "b").exists()
