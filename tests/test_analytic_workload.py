"""Analytic workload: hand-checked DeiT numbers (HW_ANCHORS.md 1-2) and timm's shapes."""

import pytest

from golden.accel_spec import SchemeCfg
from sim.analytic import MODELS, analyze, model_cfg, scheme_preset
from sim.analytic.workload import vit_ops

DEIT = {"T": "deit_tiny_patch16_224", "S": "deit_small_patch16_224",
        "B": "deit_base_patch16_224"}
LINEARS = ("qkv", "proj", "fc1", "fc2")


def _report(model, scheme):
    from golden.accel_spec import AnalyticAccelCfg

    vit = model_cfg(model)
    return analyze(vit, scheme if isinstance(scheme, SchemeCfg) else scheme_preset(scheme, vit),
                   AnalyticAccelCfg())


def _block_linear_weights(report):
    return [t for r in report["layers"] if r["role"] in LINEARS for t in r["tensors"]
            if t["name"] == "weight"]


def test_deit_small_block_linears_hold_21233664_weights():
    # 12 blocks x (qkv 3D^2 + proj D^2 + fc1 4D^2 + fc2 4D^2), D = 384
    assert 12 * 12 * 384 * 384 == 21_233_664
    tensors = _block_linear_weights(_report(DEIT["S"], "int8"))
    count = 0
    for t in tensors:
        n = 1
        for d in t["shape"]:
            n *= d
        count += n
    assert count == 21_233_664


@pytest.mark.parametrize("size,bits,kib", [
    ("T", 1, 648), ("T", 3, 1944), ("T", 4, 2592), ("T", 8, 5184),
    ("S", 1, 2592), ("S", 3, 7776), ("S", 4, 10368), ("S", 8, 20736),
    ("B", 1, 12 * 864), ("B", 4, 12 * 3456), ("B", 8, 12 * 6912),
])
def test_block_linear_kib_matches_hw_anchors(size, bits, kib):
    scheme = SchemeCfg(name=f"w{bits}", w_bits=bits, a_bits=8)
    tensors = _block_linear_weights(_report(DEIT[size], scheme))
    assert sum(t["bytes"] for t in tensors) == kib * 1024


@pytest.mark.parametrize("size,total,linear,attn,patch", [
    ("T", 1_253_683_200, 87_146_496, 14_902_656, 28_901_376),
    ("S", 4_598_882_304, 348_585_984, 29_805_312, 57_802_752),
    ("B", 17_563_828_224, 1_394_343_936, 59_610_624, 115_605_504),
])
def test_macs_match_hw_anchors(size, total, linear, attn, patch):
    # HW_ANCHORS 2: 1.2537 / 4.5989 / 17.5638 GMAC; per block linear 87.15 / 348.59 /
    # 1394.34 M, attention 14.90 / 29.81 / 59.61 M; patch 28.9 / 57.8 / 115.6 M
    layers = _report(DEIT[size], "int8")["layers"]
    block0 = {r["role"]: r["macs"] for r in layers if r["block"] == 0}
    assert sum(block0[r] for r in LINEARS) == linear
    assert block0["qk"] + block0["av"] == attn
    assert layers[0]["macs"] == patch
    assert sum(r["macs"] for r in layers) == total
    assert round(total / 1e9, 4) == {"T": 1.2537, "S": 4.5989, "B": 17.5638}[size]


@pytest.mark.parametrize("model,params", [
    ("deit_tiny_patch16_224", 5_717_416), ("deit_small_patch16_224", 22_050_664),
    ("deit_base_patch16_224", 86_567_656), ("vit_large_patch16_224", 304_326_632),
])
def test_float_parameter_counts_match_hw_anchors(model, params):
    report = _report(model, "fp32")
    assert report["totals"]["weight_bits"] == 32 * params
    assert report["totals"]["weight_bytes"] == 4 * params


def test_deit_tiny_int8_activation_buffers_match_hw_anchors():
    layers = {r["name"]: r for r in _report(DEIT["T"], "int8")["layers"]}
    n, d = 197, 192
    qkv = layers["blocks.0.attn.qkv"]
    assert qkv["act_in_bytes"] == n * d == 37_824  # X: 36.9 KiB
    assert qkv["act_out_bytes"] == 3 * n * d == 113_472  # QKV: 110.8 KiB
    assert layers["blocks.0.mlp.fc1"]["act_out_bytes"] == n * 4 * d == 151_296  # 147.8 KiB
    assert layers["blocks.0.attn.qk"]["act_out_bytes"] == 3 * n * n == 116_427  # 113.7 KiB


def test_gsb_attention_bias_of_distilled_deit_small():
    # PAPERS 1.3(d): 6 * 198 * 198 = 235,224 values per block (about 2.82 M over 12)
    report = _report("deit_small_distilled_patch16_224", "gsb")
    bias = [t for r in report["layers"] for t in r["tensors"] if t["name"] == "attn_bias"]
    assert len(bias) == 12 and all(t["shape"] == [6, 198, 198] for t in bias)
    assert sum(t["bytes"] for t in bias) == 12 * 235_224 * 4


@pytest.mark.parametrize("name,tokens", [("vit_digits", 18), ("vit_mnist", 38)])
def test_small_geometries_are_the_trained_models(name, tokens):
    """The what-if model's digits and MNIST-5k ViTs: the geometry and per-layer parameter
    counts of ``models.vit``'s ``fp_{name}`` (the model ``vitsim train`` builds)."""
    torch = pytest.importorskip("torch")
    from models import create_model
    from models.vit import ARCHS

    assert model_cfg(name) == model_cfg(name, **ARCHS[name])
    vit = model_cfg(name)
    assert (vit.num_tokens, vit.embed_dim, vit.hidden_dim) == (tokens, 64, 256)
    with torch.device("meta"):
        model = create_model(f"fp_{name}")
    _assert_parameters_per_layer(name, model)
    # 36 patches of 4x4 pixels: the patch GEMM is [36, 16] x [16, 64]
    patch = vit_ops(vit)[0]
    assert (patch.m, patch.k, patch.n) == (vit.num_patches, vit.patch_size**2, 64)


def _assert_parameters_per_layer(name, model):
    """The what-if report's weights per layer equal ``model``'s parameter counts."""
    report = _report(name, "fp32")
    layer_names = sorted((r["name"] for r in report["layers"]), key=len, reverse=True)
    counts: dict = {}
    for pname, param in model.named_parameters():
        layer = next((ln for ln in layer_names if pname.startswith(ln + ".")), "patch_embed")
        counts[layer] = counts.get(layer, 0) + param.numel()
    ours = {r["name"]: r["weight_bits"] // 32 for r in report["layers"] if r["weight_bits"]}
    assert ours == counts


@pytest.mark.parametrize("name", sorted(set(MODELS) - {"vit_digits", "vit_mnist"}))
def test_parameters_per_layer_equal_timm(name):
    torch = pytest.importorskip("torch")
    timm = pytest.importorskip("timm")
    with torch.device("meta"):
        model = timm.create_model(name, pretrained=False)
    _assert_parameters_per_layer(name, model)


def test_ops_are_in_execution_order():
    roles = [op.role for op in vit_ops(model_cfg("vit_digits"))]
    assert roles[:9] == ["patch", "norm", "qkv", "qk", "av", "proj", "norm", "fc1", "fc2"]
    assert roles[-3:] == ["norm", "head", "head"]  # distilled: head and head_dist


def test_unknown_model_names_the_known_ones():
    from golden.errors import VitsimError

    with pytest.raises(VitsimError, match=r"^unknown model 'deit_huge'; known models: deit_"):
        model_cfg("deit_huge")
    with pytest.raises(VitsimError, match=r"model vit_digits: .*depth must be"):
        model_cfg("vit_digits", depth=0)
