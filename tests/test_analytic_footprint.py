"""Analytic footprint: bytes agree with golden packages; BitOPs, low-rank, head-wise by hand."""

import dataclasses

import pytest

from golden.accel_spec import AnalyticAccelCfg, SchemeCfg
from golden.bitpack import packed_nbytes
from golden.cases import binary_array_case
from golden.spec import BinaryArrayCfg, ConfigError
from sim.analytic import analyze, evaluate, model_cfg, scheme_preset

DIGITS = model_cfg("vit_digits")


def _layers(vit, scheme, accel=None):
    return {r["name"]: r for r in analyze(vit, scheme, accel or AnalyticAccelCfg())["layers"]}


@pytest.mark.parametrize("layer,mode", [("attn.qkv", "xnor"), ("attn.proj", "xnor"),
                                        ("mlp.fc1", "xnor"), ("mlp.fc2", "and")])
def test_weight_and_input_bytes_equal_a_golden_package(layer, mode, tmp_path):
    rec = _layers(DIGITS, scheme_preset("gsb"))[f"blocks.0.{layer}"]
    weight = next(t for t in rec["tensors"] if t["name"] == "weight")
    n, k = weight["shape"]
    assert (rec["m"], rec["n"], rec["k"]) == (18, n, k)
    cfg = BinaryArrayCfg(rows=8, cols=64, mode=mode, max_k=256)
    pkg = binary_array_case(cfg, tmp_path / "case", m=rec["m"], n=n, k=k, seed=1)
    assert weight["bits"] == 1
    assert weight["bytes"] == pkg.tensors["w_bits"].nbytes == n * k // 8
    assert rec["act_in_bytes"] == pkg.tensors["a_bits"].nbytes == 18 * k // 8


def test_packed_rows_are_padded_to_bytes_like_the_package(tmp_path):
    # k = 12 one-bit weights per row: 2 bytes per row, not 1.5
    cfg = BinaryArrayCfg(rows=2, cols=4, max_k=12)
    pkg = binary_array_case(cfg, tmp_path / "case", m=1, n=6, k=12)
    vit = model_cfg("vit_digits", embed_dim=12, num_heads=2, mlp_ratio=0.5)
    rec = _layers(vit, scheme_preset("gsb"))["blocks.0.mlp.fc1"]  # [6, 12]
    weight = next(t for t in rec["tensors"] if t["name"] == "weight")
    assert weight["shape"] == [6, 12]
    assert weight["bytes"] == pkg.tensors["w_bits"].nbytes == 12


def test_qvit_w4a4_bitops_are_the_budget_21_455():
    # PAPERS 2.7: uniform W4A4 DeiT-T, 8-bit patch and head = 21.455 GBitOPs:
    # blocks 12 * (87,146,496 + 14,902,656) * 16, patch 28,901,376 * 64, head 192,000 * 64
    vit = model_cfg("deit_tiny_patch16_224")
    totals = evaluate(vit, scheme_preset("qvit4"), AnalyticAccelCfg())
    expected = 12 * (87_146_496 + 14_902_656) * 16 + 28_901_376 * 64 + 192_000 * 64
    assert totals["bitops"] == expected == 21_455_413_248


def test_head_wise_widths_split_weights_and_bitops_per_head():
    vit = model_cfg("deit_tiny_patch16_224")
    s = dataclasses.replace(scheme_preset("qvit4"), head_w_bits=(4, 3, 2), head_a_bits=(8, 4, 2))
    layers = _layers(vit, s)
    qkv = layers["blocks.0.attn.qkv"]
    heads = [t for t in qkv["tensors"] if t["name"] == "weight"]
    # head h owns rows of W_q, W_k, W_v: [3 * 64, 192] at its width
    assert [(t["shape"], t["bits"], t["bytes"]) for t in heads] == [
        ([192, 192], 4, 192 * 96), ([192, 192], 3, 192 * 72), ([192, 192], 2, 192 * 48)]
    assert [h["weight_bytes"] for h in qkv["per_head"]] == [192 * 96, 192 * 72, 192 * 48]
    proj = layers["blocks.0.attn.proj"]  # head h owns 64 input columns: [192, 64]
    assert [(t["shape"], t["bits"]) for t in proj["tensors"] if t["name"] == "weight"] == [
        ([192, 64], 4), ([192, 64], 3), ([192, 64], 2)]
    per_head_macs = 197 * 197 * 64
    assert layers["blocks.0.attn.qk"]["bitops"] == per_head_macs * (64 + 16 + 4)
    assert proj["bitops"] == 197 * 192 * 64 * (4 * 8 + 3 * 4 + 2 * 2)


def test_head_wise_widths_need_one_per_head():
    s = dataclasses.replace(scheme_preset("qvit4"), head_w_bits=(4, 4))
    with pytest.raises(ConfigError, match=r"^head_w_bits must have one width per head \(3\)"):
        evaluate(model_cfg("deit_tiny_patch16_224"), s, AnalyticAccelCfg())


def test_low_rank_deit_base_rank_224_is_the_minus_60_percent_point():
    # PAPERS 3.3: rank 224 everywhere leaves DeiT-B near 34.63 M parameters. By hand:
    # per block 224 * ((768 + 2304) + (768 + 768) + 2 * (768 + 3072)) = 2,752,512,
    # plus the 86,567,656 - 84,934,656 = 1,633,000 parameters outside the block linears
    vit = model_cfg("deit_base_patch16_224")
    s = dataclasses.replace(scheme_preset("fp32"), rank=224)
    totals = evaluate(vit, s, AnalyticAccelCfg())
    assert totals["weight_bits"] == 32 * (12 * 2_752_512 + 1_633_000)
    assert totals["macs"] == (12 * 197 * 2_752_512 + 12 * 2 * 197 * 197 * 768
                              + 115_605_504 + 768_000)


def test_low_rank_at_break_even_stays_dense_and_overrides_apply():
    vit = model_cfg("deit_base_patch16_224")
    s = SchemeCfg(name="lr", w_bits=8, a_bits=8, rank=384,
                  layer_ranks={"blocks.0.mlp.*": 64})
    layers = _layers(vit, s)
    assert layers["blocks.1.attn.proj"]["rank"] == 0  # 384 * (768 + 768) = 768^2: dense
    assert layers["blocks.1.attn.qkv"]["rank"] == 384  # below 576
    assert layers["blocks.0.mlp.fc1"]["rank"] == 64 and layers["blocks.1.mlp.fc1"]["rank"] == 384
    fc1 = layers["blocks.0.mlp.fc1"]
    factors = {t["name"]: (t["shape"], t["bytes"]) for t in fc1["tensors"]}
    assert factors["weight_a"] == ([64, 768], 64 * 768)
    assert factors["weight_b"] == ([3072, 64], 3072 * 64)
    assert fc1["scratch_bytes"] == 197 * 64  # the rank-64 intermediate at 8 bits


def test_gsb_codes_attention_and_v_as_planes():
    vit = model_cfg("deit_tiny_patch16_224")
    layers = _layers(vit, scheme_preset("gsb"))
    n, h, dh = 197, 3, 64
    qk, av = layers["blocks.0.attn.qk"], layers["blocks.0.attn.av"]
    planes = packed_nbytes((3, h, n, n), 1)
    assert qk["act_out_bytes"] == planes
    assert qk["scratch_bytes"] == h * n * n  # 8-bit softmax of all heads: the global max
    assert av["act_in_bytes"] == planes + 3 * h * n * dh // 8
    assert av["macs"] == h * n * n * dh and av["bitops"] == 9 * h * n * n * dh
    assert qk["acc_bits"] == 8  # |sum of 64 products of +-1| <= 64


def test_accumulator_width_follows_the_dot_bound():
    layers = _layers(model_cfg("deit_tiny_patch16_224"), scheme_preset("int8"))
    # 192 products of s8 x s8: |.| <= 192 * 128 * 128 = 3,145,728 < 2^22 -> 23 bits
    assert layers["blocks.0.attn.qkv"]["acc_bits"] == 23
    # fc2: 768 products of u8 (GELU output) x s8: [-768*255*128, 768*255*127]
    assert layers["blocks.0.mlp.fc2"]["acc_bits"] == 26
