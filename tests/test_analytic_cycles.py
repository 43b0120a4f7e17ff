"""Analytic cycles: hand-checked tiling and non-GEMM units, and exact agreement with the RTL's
measured cycles."""

import dataclasses

import pytest

from golden.accel_spec import AnalyticAccelCfg
from golden.cases import binary_array_case
from golden.cases_gsb import GsbAvCfg, GsbEncoderCfg
from golden.cases_layernorm import LayerNormCfg
from golden.cases_softmax import SoftmaxCfg
from golden.spec import BinaryArrayCfg, ConfigError, MacArrayCfg
from sim.analytic import analyze, evaluate, model_cfg, scheme_preset, vit_ops
from sim.analytic.cycles import array_cycles, pass_cycles
from sim.analytic.footprint import op_cost
from sim.analytic.units import UNIT_CYCLE_KEYS

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


def _array(layer):
    return layer["unit_cycles"]["array"]


def test_gsb_deit_tiny_layer_cycles_by_hand():
    vit = model_cfg("deit_tiny_patch16_224")
    layers = _layers(vit, scheme_preset("gsb"), AnalyticAccelCfg())  # binary 64 x 256, max_k 4096
    # qkv: 576 outputs = 9 row tiles, k 192 padded to one 256-bit beat
    assert AnalyticAccelCfg().binary.latency == 14  # 256 columns
    assert _array(layers["blocks.0.attn.qkv"]) == 197 * 9 * 1 + 14 == 1787
    # fc2: 192 outputs = 3 tiles, k 768 = 3 beats
    assert _array(layers["blocks.0.mlp.fc2"]) == 197 * 3 * 3 + 14
    # A.V on the binary array would take, per head and per (attention plane, V plane) pair,
    # 64 outputs, k 197 -> 1 beat; GSB runs it on the A.V unit instead: per head, 64 V
    # columns, then 197 rows x 16 blocks of 4 lanes x 9 plane pairs, latency 5
    av = layers["blocks.0.attn.av"]
    pass_ = op_cost(vit_ops(vit)[4], vit, scheme_preset("gsb"))
    accel = AnalyticAccelCfg()
    assert pass_cycles(pass_.passes[0], accel.binary, accel.mac) == 3 * 9 * (
        197 * 1 * 1 + 14) == 5697
    assert _array(av) == 0
    assert av["unit_cycles"]["gsb_av"] == 3 * (64 + 197 * 16 * 9 + 5) == 85_311
    # patch embedding on the 64 x 64 mixed-bit array at 8 x 8 bits (16 passes)
    assert _array(layers["patch_embed"]) == 196 * 3 * 12 * 16 + 8  # 64 columns: latency 8
    # LayerNorm: 197 rows overlapped, the first 2 * 192 + 4 * 16 + 39 cycles, each next 192
    # (loading and streaming out a row take longer than its compute); the 1-bit codes:
    # 197 x 3 beats, latency 1
    norm = layers["blocks.0.norm1"]
    assert norm["cycles"] == (2 * 192 + 4 * 16 + 39 + 196 * 192) + (197 * 3 + 1) == 38_711


def test_float_has_no_cycle_count():
    report = analyze(model_cfg("vit_digits"), scheme_preset("fp32"), AnalyticAccelCfg())
    assert report["totals"]["cycles"] is None
    assert report["layers"][2]["cycles"] is None


def test_digits_fc2_cycles_by_hand():
    accel = dataclasses.replace(AnalyticAccelCfg(), binary=DIGITS_ARRAY)
    fc2 = _layers(model_cfg("vit_digits"), scheme_preset("gsb"), accel)["blocks.0.mlp.fc2"]
    # 18 tokens, 64 outputs = 8 row tiles, k 256 = 4 beats of 64, latency 2
    assert (fc2["m"], fc2["n"], fc2["k"]) == (18, 64, 256)
    assert _array(fc2) == 18 * 8 * 4 + 10 == 586  # 64 columns: latency 10
    # then the requantiser (18 x 1 beat of 64 lanes, latency 5) and the residual add
    # (18 beats, latency 1)
    assert fc2["cycles"] == 586 + (18 + 5) + (18 + 1) == 628


@pytest.mark.sim
def test_digits_fc2_cycles_equal_the_rtl(tmp_path, simulator):
    """The analytic cycles of the demo model's fc2 equal the cocotb-measured cycles."""
    from hw.binary_array import BinaryMatmulArray
    from hw.export import export_verilog
    from sim.runner import run_bench

    accel = dataclasses.replace(AnalyticAccelCfg(), binary=DIGITS_ARRAY)
    fc2 = _layers(model_cfg("vit_digits"), scheme_preset("gsb"), accel)["blocks.0.mlp.fc2"]
    cfg = dataclasses.replace(DIGITS_ARRAY, mode="and")  # fc2 reads the unsigned GELU bits
    binary_array_case(cfg, tmp_path / "case", m=fc2["m"], n=fc2["n"], k=fc2["k"], seed=5)
    vdir = export_verilog(BinaryMatmulArray(cfg), tmp_path / "v", name="binary_array")
    result = run_bench(verilog_dir=vdir, top="binary_array", bench="sim.benches.binary_array_bench",
                       case_dir=tmp_path / "case", build_dir=tmp_path / "build", sim=simulator,
                       test_filter="speed")
    assert result.passed, result.summary()
    assert [r["cycles"] for r in result.records] == [_array(fc2)]


# The digits model: 18 tokens, embed 64, 2 heads of 32, MLP 256, on the default AnalyticAccelCfg.
# Unit formulas, from their configs' docstrings: LayerNorm rows * (2 dim + 4 in_bits + 38)
# (in_bits 16); softmax 3 row_len + 39 + (rows - 1) max(row_len + 1, 19), the rows
# overlapping; GSB encoder 2 ceil(elems / 4) + 4; GSB A.V
# d + n ceil(d / 4) P R + 5; beat units beats + latency with 64 lanes: requantiser 5 (32-bit
# accumulator and multiplier: 4 partial products, 3 adder levels), GELU 5, threshold 1,
# residual 1. Binary array 64 x 256: latency 14; MAC array 64 x 64: latency 8.


def _digits(scheme):
    return _layers(model_cfg("vit_digits"), scheme_preset(scheme), AnalyticAccelCfg())


def test_digits_norm_row_by_hand():
    norm = _digits("gsb")["blocks.0.norm1"]
    assert norm["unit_cycles"] == {**dict.fromkeys(UNIT_CYCLE_KEYS, 0),
                                   # 18 rows overlapped: the first
                                   # 2 * 64 + 4 * 16 + 39, each next 64 (its load)
                                   "layernorm": 2 * 64 + 4 * 16 + 39 + 17 * 64,  # 1319
                                   "threshold": 18 * 1 + 1}  # 1-bit qkv input codes
    assert norm["cycles"] == 1319 + 19 == 1338
    # int8: the same LayerNorm, then the requantiser to the 8-bit codes
    assert _digits("int8")["blocks.0.norm1"]["cycles"] == 1319 + (18 + 5)
    # the final norm codes the head input at embed_bits (8): requantiser
    assert _digits("gsb")["norm"]["cycles"] == 1319 + (18 + 5)


def test_digits_qk_softmax_row_by_hand():
    qk = _digits("gsb")["blocks.0.attn.qk"]
    # binary array per head: 18 tokens x 1 row tile x 1 beat (k 32 padded to 256) + 14
    # softmax 2 * 18 rows of 18, a row every 19 cycles (load engine and divider) after the
    # first; attention shift on the residual adder, 2 * 18 rows of one beat; GSB encoder
    # over the 2 x 18 x 18 attention tensor, 4 lanes
    expect = {"array": 2 * (18 * 1 * 1 + 14), "softmax": 3 * 18 + 39 + 35 * 19,
              "residual": 2 * 18 * 1 + 1, "gsb_encoder": 2 * (2 * 18 * 18 // 4) + 4}
    assert expect == {"array": 64, "softmax": 758, "residual": 37, "gsb_encoder": 328}
    assert qk["unit_cycles"] == {**dict.fromkeys(UNIT_CYCLE_KEYS, 0), **expect}
    assert qk["cycles"] == 64 + 758 + 37 + 328 == 1187
    # int8: MAC array per head 18 x 1 tile x 1 beat x 16 digit passes + 8; requantise the
    # 2 * 18 logit rows; softmax; requantise the 2 * 18 probability rows
    qk8 = _digits("int8")["blocks.0.attn.qk"]
    assert qk8["cycles"] == 2 * (18 * 16 + 8) + (36 + 5) + 758 + (36 + 5)


def test_digits_fc1_gelu_row_by_hand():
    fc1 = _digits("gsb")["blocks.0.mlp.fc1"]
    # binary array: 256 outputs = 4 row tiles, k 64 -> 1 beat; then 18 rows of 256 = 4 beats
    # each through the requantiser, GELU and the threshold (fc2's 1-bit input)
    expect = {"array": 18 * 4 * 1 + 14, "requant": 18 * 4 + 5, "gelu": 18 * 4 + 5,
              "threshold": 18 * 4 + 1}
    assert fc1["unit_cycles"] == {**dict.fromkeys(UNIT_CYCLE_KEYS, 0), **expect}
    assert fc1["cycles"] == 86 + 77 + 77 + 73 == 313


def test_digits_gsb_qkv_and_av_rows_by_hand():
    layers = _digits("gsb")
    qkv, av = layers["blocks.0.attn.qkv"], layers["blocks.0.attn.av"]
    # qkv: 192 outputs = 3 tiles; q, k thresholded (36 rows), V requantised (18 rows) and
    # coded into planes (18 x 64 elements, 4 lanes, two passes)
    assert qkv["cycles"] == (18 * 3 + 14) + (36 + 1) + (18 + 5) + (2 * 18 * 64 // 4 + 4)
    # A.V: per head 32 V columns + 18 rows x 8 blocks x 3 x 3 plane pairs + 5; then the
    # proj input codes (18 rows of one beat, threshold)
    assert av["unit_cycles"]["gsb_av"] == 2 * (32 + 18 * 8 * 9 + 5) == 2666
    assert av["cycles"] == 2666 + 19
    # per head: the units are shared evenly (rounded down)
    assert [h["cycles"] for h in av["per_head"]] == [2685 // 2] * 2


@pytest.mark.parametrize("model", ["vit_digits", "deit_tiny_distilled_patch16_224"])
@pytest.mark.parametrize("scheme", ["int8", "qvit4", "binary", "gsb", "gsb_lowrank"])
def test_totals_are_the_sum_of_the_rows(model, scheme):
    vit = model_cfg(model)
    s = scheme_preset(scheme, vit)
    report = analyze(vit, s, AnalyticAccelCfg())
    layers, totals = report["layers"], report["totals"]
    for r in layers:
        assert r["cycles"] == sum(r["unit_cycles"].values()) > 0
    assert totals["cycles"] == sum(r["cycles"] for r in layers)
    assert totals["unit_cycles"] == {k: sum(r["unit_cycles"][k] for r in layers)
                                     for k in UNIT_CYCLE_KEYS}
    fast = evaluate(vit, s, AnalyticAccelCfg())
    assert (fast["cycles"], fast["unit_cycles"]) == (totals["cycles"], totals["unit_cycles"])


def test_explicit_units_must_fit_the_model():
    vit, s = model_cfg("vit_digits"), scheme_preset("gsb")
    with pytest.raises(ConfigError, match=r"^layernorm dim must equal the model's embed_dim "
                                          r"\(64\), not 384$"):
        evaluate(vit, s, AnalyticAccelCfg(layernorm=LayerNormCfg(dim=384)))
    with pytest.raises(ConfigError, match=r"^gsb_av a_planes must equal the scheme's groups "
                                          r"\(3\), not 2$"):
        evaluate(vit, s, AnalyticAccelCfg(gsb_av=GsbAvCfg(a_planes=2)))
    with pytest.raises(ConfigError, match=r"^row_len must be between 1 and max_len \(16\), "
                                          r"not 18$"):
        analyze(vit, s, AnalyticAccelCfg(softmax=SoftmaxCfg(max_len=16)))
    with pytest.raises(ConfigError, match=r"^a_planes must be between 1 and 4, not 5$"):
        evaluate(vit, scheme_preset("gsb", groups=5), AnalyticAccelCfg())
    # explicit units that fit price exactly as the sized ones; more lanes, fewer cycles
    sized = evaluate(vit, s, AnalyticAccelCfg())["cycles"]
    fit = AnalyticAccelCfg(layernorm=LayerNormCfg(dim=64), softmax=SoftmaxCfg(max_len=18))
    assert evaluate(vit, s, fit)["cycles"] == sized
    wide = AnalyticAccelCfg(gsb_encoder=GsbEncoderCfg(lanes=8, max_elems=1152))
    enc = evaluate(vit, s, wide)["unit_cycles"]["gsb_encoder"]
    assert enc == 4 * ((2 * 1152 // 8 + 4) + (2 * 648 // 8 + 4))  # 4 blocks: V, attention
