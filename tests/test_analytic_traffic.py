"""Analytic off-chip traffic: the MemoryCfg policy, checked by hand on the digits ViT (int8)."""

import pytest

from golden.accel_spec import AnalyticAccelCfg, MemoryCfg
from sim.analytic import analyze, evaluate, model_cfg, scheme_preset

DIGITS = model_cfg("vit_digits")
INT8 = scheme_preset("int8")
# fc1 of the digits ViT at int8: weight 256 x 64 bytes, fp32 per-tensor scale, 256 fp32
# biases, fp32 input scale; input 18 x 64 bytes, output 18 x 256 bytes
FC1_W = 256 * 64 + 4 + 256 * 4 + 4
FC1_IN, FC1_OUT = 18 * 64, 18 * 256


def _fc1(**mem):
    report = analyze(DIGITS, INT8, AnalyticAccelCfg(memory=MemoryCfg(weights="streamed", **mem)))
    return next(r for r in report["layers"] if r["name"] == "blocks.0.mlp.fc1")


def test_fc1_figures_by_hand():
    rec = _fc1()
    assert (rec["weight_bytes"], rec["act_in_bytes"], rec["act_out_bytes"]) == (
        FC1_W, FC1_IN, FC1_OUT) == (17_416, 1_152, 4_608)


def test_fitting_weights_are_fetched_once_and_fitting_activations_stay():
    rec = _fc1(weight_kib=32, act_kib=8)
    assert (rec["offchip_weight_bytes"], rec["offchip_act_bytes"], rec["spilled"]) == (
        FC1_W, 0, False)


def test_weights_outer_rereads_spilled_inputs_per_weight_tile():
    rec = _fc1(weight_kib=16, act_kib=4)  # 17,416 B > 16 KiB: 2 tiles; 5,760 B > 4 KiB
    assert rec["spilled"]
    assert rec["offchip_weight_bytes"] == FC1_W
    assert rec["offchip_act_bytes"] == 2 * FC1_IN + FC1_OUT


def test_tokens_outer_refetches_weights_per_token_tile():
    rec = _fc1(weight_kib=16, act_kib=4, loop_order="tokens_outer", token_tile=4)
    assert rec["offchip_weight_bytes"] == 5 * FC1_W  # ceil(18 / 4) token tiles
    assert rec["offchip_act_bytes"] == FC1_IN + FC1_OUT
    whole = _fc1(weight_kib=16, act_kib=4, loop_order="tokens_outer")  # all 18 tokens
    assert whole["offchip_weight_bytes"] == FC1_W


def test_resident_weights_cost_nothing_per_frame():
    total = evaluate(DIGITS, INT8, AnalyticAccelCfg())["weight_bytes"]
    kib = -(-total // 1024)
    fits = evaluate(DIGITS, INT8, AnalyticAccelCfg(memory=MemoryCfg(weight_kib=kib, act_kib=64)))
    assert fits["weights_resident"]
    # all activations fit too: only the image (16 patches x 4 pixels, 8 bit) in and the
    # two heads' fp32 logits out
    assert fits["offchip_bytes"] == 16 * 4 + 2 * 10 * 4
    short = evaluate(DIGITS, INT8,
                     AnalyticAccelCfg(memory=MemoryCfg(weight_kib=kib - 1, act_kib=64)))
    assert not short["weights_resident"]
    assert short["offchip_bytes"] == total + 16 * 4 + 2 * 10 * 4


@pytest.mark.parametrize("weights", ["resident", "streamed"])
def test_forced_weight_modes(weights):
    t = evaluate(DIGITS, INT8, AnalyticAccelCfg(memory=MemoryCfg(weight_kib=0, act_kib=64,
                                                         weights=weights)))
    assert t["weights_resident"] is (weights == "resident")


def test_smaller_buffers_never_cost_less_traffic():
    vit = model_cfg("deit_small_patch16_224")
    for name in ("int8", "gsb"):
        s = scheme_preset(name, vit)
        traffic = [evaluate(vit, s, AnalyticAccelCfg(
            memory=MemoryCfg(weight_kib=kib, act_kib=kib)))["offchip_bytes"]
            for kib in (64, 128, 256, 512, 1024)]
        assert traffic == sorted(traffic, reverse=True) and traffic[0] > traffic[-1]


@pytest.mark.parametrize("scheme", ["fp32", "int8", "qvit4", "binary", "gsb", "gsb_lowrank"])
@pytest.mark.parametrize("mem", [MemoryCfg(), MemoryCfg(weight_kib=8, act_kib=8,
                                                        loop_order="tokens_outer", token_tile=5),
                                 MemoryCfg(weight_kib=4096, act_kib=1024)], ids=str)
def test_fast_totals_equal_the_per_layer_report(scheme, mem):
    accel = AnalyticAccelCfg(memory=mem)
    s = scheme_preset(scheme, DIGITS)
    report = analyze(DIGITS, s, accel)
    fast = evaluate(DIGITS, s, accel)
    for key in ("weight_bits", "weight_bytes", "act_bytes", "offchip_bytes", "cycles", "macs",
                "bitops", "weights_resident"):
        assert fast[key] == report["totals"][key], key
    assert report["totals"]["offchip_bytes"] == sum(r["offchip_bytes"] for r in report["layers"])
