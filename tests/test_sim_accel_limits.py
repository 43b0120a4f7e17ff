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


def test_softmax_logits_too_fine_for_the_descriptor_are_one_line(small_package, tmp_path,
                                                                  capsys):
    """An untrained fp model compressed without scaled-up weights has attention logits of
    scale ~2**-18: the softmax constant ``c = floor(0.36 / S**2)`` then needs 37 bits, the
    descriptor carries 32. The compile names the op and the field, and says what to do."""
    import json
    import math
    import shutil

    from golden.nonlinear import softmax_params
    from golden.package import DIGESTS, manifest_digests
    from sim.cli import main
    from sim.compiler.registry import desc_k

    pkg = tmp_path / "pkg"
    shutil.copytree(small_package, pkg)
    manifest = json.loads((pkg / "manifest.json").read_text())
    ops = [op for op in manifest["ops"] if op["kind"] == "softmax"]
    assert ops
    fine = softmax_params(2.0**-18, out_bits=ops[0]["out_bits"])
    assert fine.c >= 1 << 31
    ops[0].update(x0=fine.x0, b=fine.b, c=fine.c, n=fine.n)
    manifest[DIGESTS] = manifest_digests(manifest)  # as the exporter would have written it
    (pkg / "manifest.json").write_text(json.dumps(manifest))
    assert main(["compile", str(pkg), "--out", str(tmp_path / "prog")]) == 2
    err = capsys.readouterr().err
    finest = 2.0**-18 * math.sqrt(fine.c / (2**31 - 1))
    assert err == (f"vitsim: error: op {ops[0]['name']!r}: field c: the softmax constant "
                   f"c={fine.c} (at the logits' scale 2**-18.0) does not fit the "
                   "descriptor's 32-bit signed constant; the accelerator takes logit scales "
                   f"down to 2**{math.log2(finest):.1f}: train the checkpoint first, or scale "
                   "up its weights (an untrained model's attention logits are this small)\n")
    assert not (tmp_path / "prog").exists()
    # any unit's constant: the descriptor's field, by the constant's name
    ok = softmax_params(2.0**-7, out_bits=16)
    consts = dict(x0=ok.x0, b=ok.b, c=ok.c, n=ok.n, floor_q=ok.floor_q, out_bits=16, tail=1)
    assert desc_k("softmax", **consts)[:3] == (ok.x0, ok.b, ok.c)
    with pytest.raises(Exception, match=r"^field b: the softmax constant b=2147483648 does "
                       r"not fit the descriptor's 32-bit signed constant k1$"):
        desc_k("softmax", **{**consts, "b": 1 << 31})
