"""Analytic cycles: hand-checked tiling, and exact agreement with the RTL's measured cycles."""

import dataclasses

import pytest

from golden.accel_spec import AccelCfg
from golden.cases import binary_array_case
from golden.spec import BinaryArrayCfg, MacArrayCfg
from sim.analytic import analyze, model_cfg, scheme_preset
from sim.analytic.cycles import array_cycles

DIGITS_ARRAY = BinaryArrayCfg(rows=8, cols=64, mode="xnor", max_k=256)


def _layers(vit, scheme, accel):
    return {r["name"]: r for r in analyze(vit, scheme, accel)["layers"]}


def test_padding_and_reduction_chunks():
    cfg = BinaryArrayCfg(rows=4, cols=16, max_k=64)
    # n 5 -> 8 (2 row tiles); k 100 -> 112 -> chunks 64 + 48 (4 + 3 beats), latency 6 each
    # (16 columns: 5 registered compressor levels plus the accumulator)
    assert cfg.latency == 6
    assert array_cycles(cfg, m=2, n=5, k=100) == (2 * 2 * 4 + 6) + (2 * 2 * 3 + 6) == 40
    assert array_cycles(cfg, m=3, n=8, k=64) == cfg.cycles(m=3, n=8, k=64) == 3 * 2 * 4 + 6


def test_mac_array_digit_serial_cycles():
    cfg = MacArrayCfg(rows=4, cols=8, max_k=64)
    # 8 x 4 bits in 2-bit digits: 4 * 2 passes; 3 tokens, 2 row tiles, 2 beats, latency 7
    # (5 stages plus the 3-level adder tree registered every 2 levels)
    assert cfg.cycles(m=3, n=8, k=16, w_bits=8, a_bits=4) == 3 * 2 * 2 * 8 + 7 == 103
    assert cfg.passes(w_bits=3, a_bits=3) == cfg.passes(w_bits=4, a_bits=4) == 4
    assert cfg.passes(w_bits=2, a_bits=1) == 1


def test_gsb_deit_tiny_layer_cycles_by_hand():
    vit = model_cfg("deit_tiny_patch16_224")
    layers = _layers(vit, scheme_preset("gsb"), AccelCfg())  # binary 64 x 256, max_k 4096
    # qkv: 576 outputs = 9 row tiles, k 192 padded to one 256-bit beat
    assert AccelCfg().binary.latency == 14  # 256 columns
    assert layers["blocks.0.attn.qkv"]["cycles"] == 197 * 9 * 1 + 14 == 1787
    # fc2: 192 outputs = 3 tiles, k 768 = 3 beats
    assert layers["blocks.0.mlp.fc2"]["cycles"] == 197 * 3 * 3 + 14
    # A.V: per head and per (attention plane, V plane) pair, 64 outputs, k 197 -> 1 beat
    assert layers["blocks.0.attn.av"]["cycles"] == 3 * 9 * (197 * 1 * 1 + 14) == 5697
    # patch embedding on the 64 x 64 mixed-bit array at 8 x 8 bits (16 passes)
    assert layers["patch_embed"]["cycles"] == 196 * 3 * 12 * 16 + 8  # 64 columns: latency 8
    assert layers["blocks.0.norm1"]["cycles"] == 0


def test_float_has_no_cycle_count():
    report = analyze(model_cfg("vit_digits"), scheme_preset("fp32"), AccelCfg())
    assert report["totals"]["cycles"] is None
    assert report["layers"][2]["cycles"] is None


def test_digits_fc2_cycles_by_hand():
    accel = dataclasses.replace(AccelCfg(), binary=DIGITS_ARRAY)
    fc2 = _layers(model_cfg("vit_digits"), scheme_preset("gsb"), accel)["blocks.0.mlp.fc2"]
    # 18 tokens, 64 outputs = 8 row tiles, k 256 = 4 beats of 64, latency 2
    assert (fc2["m"], fc2["n"], fc2["k"]) == (18, 64, 256)
    assert fc2["cycles"] == 18 * 8 * 4 + 10 == 586  # 64 columns: latency 10


@pytest.mark.sim
def test_digits_fc2_cycles_equal_the_rtl(tmp_path, simulator):
    """The analytic cycles of the demo model's fc2 equal the cocotb-measured cycles."""
    from hw.binary_array import BinaryMatmulArray
    from hw.export import export_verilog
    from sim.runner import run_bench

    accel = dataclasses.replace(AccelCfg(), binary=DIGITS_ARRAY)
    fc2 = _layers(model_cfg("vit_digits"), scheme_preset("gsb"), accel)["blocks.0.mlp.fc2"]
    cfg = dataclasses.replace(DIGITS_ARRAY, mode="and")  # fc2 reads the unsigned GELU bits
    binary_array_case(cfg, tmp_path / "case", m=fc2["m"], n=fc2["n"], k=fc2["k"], seed=5)
    vdir = export_verilog(BinaryMatmulArray(cfg), tmp_path / "v", name="binary_array")
    result = run_bench(verilog_dir=vdir, top="binary_array", bench="sim.benches.binary_array_bench",
                       case_dir=tmp_path / "case", build_dir=tmp_path / "build", sim=simulator,
                       test_filter="speed")
    assert result.passed, result.summary()
    assert [r["cycles"] for r in result.records] == [fc2["cycles"]]
