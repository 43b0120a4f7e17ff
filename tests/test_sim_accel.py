"""The whole-network accelerator: descriptor encoding, compile errors, and real runs.

The simulated runs compile a GSB network package (no training: a fresh model with perturbed
biases) for one image, run it on the accelerator RTL and compare every tensor the program
produces with the package's recorded value (``==``).
"""

import dataclasses
import time

import numpy as np
import pytest
from netpkgs import BIG_RTL, check_accel_run, run_checked, untrained_package

from golden.accel_program import (
    AccelTopCfg,
    OpDesc,
    Operand,
    decode_desc,
    desc_fields,
    encode_desc,
)
from golden.errors import VitsimError
from sim.accel_run import _scratch, compare, read_hex, run_program
from sim.cli import main
from sim.compiler import CompileError, compile_network
from sim.compiler.cycles import desc_cycles

FIELDS = {name: (bits, signed) for name, bits, signed in desc_fields()}


def _package(tmp_path_factory, depth, images):
    """A GSB digits package of ``images`` images from an untrained model of ``depth``."""
    kwargs = {} if depth is None else {"depth": depth}
    return untrained_package(tmp_path_factory.mktemp(f"accel-d{depth}"), images=images,
                             **kwargs)


@pytest.fixture(scope="module")
def demo_package(tmp_path_factory):
    """The demo architecture (default depth, 4 blocks), 3 images."""
    return _package(tmp_path_factory, None, 3)


@pytest.fixture(scope="module")
def small_package(tmp_path_factory):
    """One encoder block plus patch embedding and heads, 1 image."""
    return _package(tmp_path_factory, 1, 1)


# ------------------------------------------------------------------------ fast tests


def _demo_desc():
    ops = (Operand(base=96, s=(-64, 0, 8, -1), n_in=4, d_in=-3, n_out=2, d_out=-32,
                   vl_log=3, ebits=8, shift=5, planes=2, pstride=16),
           Operand(base=7, s=(0, 1, 0, 0), n_in=1, ebits=1))
    return OpDesc(unit="mac", rn=(2, 3, 4, 5), last_level=2, beat_cycles=8, ops=ops,
                  wn=(1, 2, 3, 4), wbase=1000, ws=(-100, 0, 10, -1), wc=32, wt=-2,
                  wvec=False, wpack=True, wwidth=12, wsigned=False,
                  k=(-1, 2**31 - 1, -(2**31), 0, 5), cnt_addr=4095)


def test_descriptor_round_trip_keeps_negative_strides_and_constants():
    got = decode_desc(encode_desc(_demo_desc()))
    assert set(got) == set(FIELDS)
    want = {"unit": 5, "rn0": 2, "rn1": 3, "rn2": 4, "rn3": 5, "last_level": 2,
            "beat_cycles": 8,
            "o0_base": 96, "o0_s0": -64, "o0_s1": 0, "o0_s2": 8, "o0_s3": -1, "o0_n_in": 4,
            "o0_d_in": -3, "o0_n_out": 2, "o0_d_out": -32, "o0_vl_log": 3, "o0_ebits": 8,
            "o0_shift": 5, "o0_planes": 2, "o0_pstride": 16,
            "o1_base": 7, "o1_s0": 0, "o1_s1": 1, "o1_s2": 0, "o1_s3": 0, "o1_n_in": 1,
            "o1_d_in": 0, "o1_n_out": 1, "o1_d_out": 0, "o1_vl_log": 0, "o1_ebits": 1,
            "o1_shift": 0, "o1_planes": 0, "o1_pstride": 0,
            # operand 2 is unused: Operand()'s defaults
            "o2_base": 0, "o2_s0": 0, "o2_s1": 0, "o2_s2": 0, "o2_s3": 0, "o2_n_in": 0,
            "o2_d_in": 0, "o2_n_out": 1, "o2_d_out": 0, "o2_vl_log": 0, "o2_ebits": 32,
            "o2_shift": 0, "o2_planes": 0, "o2_pstride": 0,
            "wn0": 1, "wn1": 2, "wn2": 3, "wn3": 4, "wbase": 1000, "ws0": -100, "ws1": 0,
            "ws2": 10, "ws3": -1, "wc": 32, "wt": -2, "wvec": 0, "wpack": 1, "wwidth": 12,
            "wsigned": 0,
            "k0": -1, "k1": 2**31 - 1, "k2": -(2**31), "k3": 0, "k4": 5, "k5": 0, "k6": 0,
            "k7": 0, "cnt_addr": 4095}
    assert got == want


def test_descriptor_fields_are_packed_lsb_first_without_gaps():
    desc = OpDesc(unit="dma_in", rn=(0, 0, 0, 0), last_level=0, beat_cycles=0, wt=0,
                  wwidth=0, wsigned=False, ops=(Operand(n_out=0, ebits=0),) * 3)
    assert encode_desc(desc) == 1  # only the unit id, in the lowest bits
    pos = sum(FIELDS[f"rn{i}"][0] for i in range(3)) + FIELDS["unit"][0]
    rn3 = encode_desc(dataclasses.replace(desc, rn=(0, 0, 0, 3)))
    assert rn3 == 1 | (3 << pos)


@pytest.mark.parametrize("change,field", [
    (lambda d: dataclasses.replace(d, wc=2**FIELDS["wc"][0]), "wc"),
    (lambda d: dataclasses.replace(d, cnt_addr=-1), "cnt_addr"),
    (lambda d: dataclasses.replace(d, ws=(0, -(2 ** (FIELDS["ws1"][0] - 1)) - 1, 0, 0)),
     "ws1"),
    (lambda d: dataclasses.replace(d, k=(0, 0, 0, 2**31)), "k3"),
    (lambda d: dataclasses.replace(
        d, ops=(d.ops[0], dataclasses.replace(d.ops[1], d_out=2 ** (FIELDS["o1_d_out"][0]
                                                                   - 1)))), "o1_d_out"),
], ids=["wc", "cnt_addr", "ws1", "k3", "o1_d_out"])
def test_a_value_that_does_not_fit_names_its_field(change, field):
    with pytest.raises(VitsimError, match=rf"field {field}=-?\d+ does not fit"):
        encode_desc(change(_demo_desc()))


def test_the_extreme_values_that_do_fit_round_trip():
    bits = FIELDS["o1_d_out"][0]
    lo, hi = -(2 ** (bits - 1)), 2 ** (bits - 1) - 1
    d = _demo_desc()
    for v in (lo, hi):
        desc = dataclasses.replace(d, ops=(d.ops[0], dataclasses.replace(d.ops[1], d_out=v)),
                                   wc=2 ** FIELDS["wc"][0] - 1)
        got = decode_desc(encode_desc(desc))
        assert got["o1_d_out"] == v and got["wc"] == 2 ** FIELDS["wc"][0] - 1
        assert got["o1_d_in"] == 0 and got["o0_d_out"] == -32  # neighbours untouched


def test_compiling_for_an_accelerator_without_a_unit_names_the_op(small_package):
    with pytest.raises(CompileError, match=r"^op '[^']+': the accelerator has no \w+ unit"):
        compile_network(small_package, image=0, cfg=AccelTopCfg(lanes=32, depth=1, units={}))


def test_an_image_out_of_range_is_rejected(small_package):
    with pytest.raises(CompileError, match=r"image must be between 0 and 0, not 1"):
        compile_network(small_package, image=1)


def test_compiled_program_lists_its_descriptors_and_expected_tensors(small_package):
    prog = compile_network(small_package, image=0)
    assert len(prog.names) == len(prog.descs) == len(prog.layers)
    assert prog.names[0] == "dma_in" and prog.names[-1] == "dma_out"
    assert [d.cnt_addr for d in prog.descs] == list(range(prog.cnt_base,
                                                          prog.cnt_base + len(prog.descs)))
    assert "logits" in prog.expected and set(prog.expected) == set(prog.outputs)


def test_compile_command_writes_the_reused_program(small_package, tmp_path, capsys):
    import json

    sizes = {}
    for flag in ([], ["--reuse"]):
        out = tmp_path / ("reuse" if flag else "plain")
        assert main(["compile", str(small_package), "--out", str(out), *flag]) == 0
        record = json.loads((out / "program.json").read_text())
        assert record["reuse"] == bool(flag)
        sizes[bool(flag)] = record["memory"]["scratch_bytes"]
        assert f"scratchpad {sizes[bool(flag)] / 1024:.1f} KiB" in capsys.readouterr().out
    assert sizes[True] < sizes[False]


def test_buffer_reuse_shrinks_the_scratchpad_and_only_moves_addresses(demo_package):
    plain = compile_network(demo_package, image=0)
    reused = compile_network(demo_package, image=0, reuse=True)
    assert reused.preload == plain.preload
    assert reused.used < plain.used and reused.cfg.depth <= plain.cfg.depth
    assert reused.names == plain.names

    def shape(d):  # everything but the addresses
        return dataclasses.replace(d, wbase=0, cnt_addr=0, ops=tuple(
            dataclasses.replace(o, base=0) for o in d.ops))

    # the final dma_out dumps only the used scratchpad
    assert [shape(d) for d in reused.descs[:-1]] == [shape(d) for d in plain.descs[:-1]]
    assert reused.descs[-1].rn[-1] * reused.cfg.lanes == reused.used
    moved = sum(a.wbase != b.wbase for a, b in zip(plain.descs, reused.descs, strict=True))
    assert moved > len(plain.descs) // 2
    # only tensors nothing overwrites are checked at the end; the logits always are
    assert "logits" in reused.outputs and set(reused.outputs) < set(plain.outputs)
    assert set(reused.expected) == set(reused.outputs)


# ------------------------------------------------------------------------ simulated runs


def _flip_logit(prog, scratch):
    """``compare`` on a copy of ``prog`` whose expected logit 0 is off by one."""
    want = {k: np.array(v, copy=True) for k, v in prog.expected.items()}
    flat = want["logits"].reshape(-1)
    flat[0] += 1
    return compare(dataclasses.replace(prog, expected=want), scratch), int(flat[0])


@pytest.mark.sim
@pytest.mark.slow
@pytest.mark.parametrize("simulator", ["verilator"], indirect=True)
def test_demo_network_runs_its_images_on_verilator(simulator, demo_package, tmp_path):
    """Image 1 in CI (image 0 of the same architecture runs in test_analytic_accel's
    counter check, and the demo's images in test_sim_cli); all 3 with VITSIM_BIG_RTL=1."""
    for image in (range(3) if BIG_RTL else [1]):
        prog = compile_network(demo_package, image=image)
        work = tmp_path / f"img{image}"
        t0 = time.perf_counter()
        res = run_program(prog, work, sim=simulator)
        print(f"image {image}: {len(prog.descs)} descriptors, {res.cycles} cycles, "
              f"{time.perf_counter() - t0:.1f} s")
        check_accel_run(prog, res)
        if image == (0 if BIG_RTL else 1):
            # the comparison is real: one wrong expected logit is found, and only it
            dump = read_hex(work / "dram_out.hex", prog.cfg.lanes, prog.cfg.ext_words)
            scratch = _scratch(prog, dump)
            assert all(t["equal"] for t in compare(prog, scratch).values())
            verdicts, wrong = _flip_logit(prog, scratch)
            assert [n for n, t in verdicts.items() if not t["equal"]] == ["logits"]
            first = verdicts["logits"]["first"]
            assert first["mismatches"] == 1 and first["expected"] == wrong
            assert first["got"] == wrong - 1
            assert first["index"] == [0] * np.ndim(prog.expected["logits"])


@pytest.mark.sim
@pytest.mark.slow
@pytest.mark.skipif(not BIG_RTL, reason="benchmark: set VITSIM_BIG_RTL=1 (~10 min of Icarus; "
                    "CI's whole-network Icarus run is test_sim_accel_waves' mismatch window)")
@pytest.mark.parametrize("simulator", ["icarus"], indirect=True)
def test_one_block_network_runs_on_icarus(simulator, small_package, tmp_path):
    run_checked(small_package, tmp_path / "run", simulator)


@pytest.mark.sim
@pytest.mark.slow
@pytest.mark.parametrize("simulator", ["verilator"], indirect=True)
def test_buffer_reuse_runs_bit_exact_with_the_same_counters(simulator, small_package,
                                                            tmp_path):
    """Buffers shared by liveness: a region freed too early would corrupt a later layer
    and with it the logits; the per-op counters do not depend on addresses. In CI the
    counters are checked against the exact model of the plain program (itself checked
    against the RTL in test_analytic_accel); with VITSIM_BIG_RTL=1 the plain program runs
    on the RTL too."""
    plain = compile_network(small_package, image=0)
    reused = compile_network(small_package, image=0, reuse=True)
    res = run_program(reused, tmp_path / "reuse", sim=simulator)
    check_accel_run(reused, res)
    assert res.op_cycles[:-1] == [desc_cycles(d, plain.cfg) for d in plain.descs[:-1]]
    if BIG_RTL:
        ref = run_program(plain, tmp_path / "plain", sim=simulator)
        check_accel_run(plain, ref)
        assert res.op_cycles[:-1] == ref.op_cycles[:-1]
    print(f"scratchpad {plain.used * 4 / 1024:.1f} KiB -> {reused.used * 4 / 1024:.1f} KiB; "
          f"{len(reused.outputs)} of {len(plain.outputs)} tensors intact at the end")
