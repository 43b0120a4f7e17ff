"""Model registry, construction on timm's hooks, stages and parameter counts."""

import pytest
import torch
import torch.nn.functional as F

from golden.errors import VitsimError
from golden.model_cfg import GSB_SCHEMES
from golden.spec import ConfigError
from models import create_model, gsb, list_models
from models.layers import BinaryLinear, QAttention
from models.vit import set_per_image

# GSB-family models (fp/binary/gsb); lsq/qvit are tested in test_models_qvit_model.py
GSB_FAMILY = [n for n in list_models() if n.split("_")[0] in GSB_SCHEMES]
DIGITS = [n for n in GSB_FAMILY if n.endswith("_vit_digits")]
DEIT = [n for n in GSB_FAMILY if "_deit_" in n]


def _params(model):
    return sum(p.numel() for p in model.parameters())


def expected_params(scheme, *, e, h, depth, img, patch, chans, classes, groups=3):
    """Parameter count derived by hand from the layer list (weights [out, in] + biases)."""
    n = (img // patch) ** 2 + 2  # patches + cls + dist
    block = 4 * e + (3 * e * e + 3 * e) + (e * e + e) + (4 * e * e + 4 * e) + (4 * e * e + e)
    head = e * classes + classes
    total = (chans * patch * patch * e + e) + 2 * e + n * e + depth * block + 2 * e + 2 * head
    if scheme == "fp":
        return total
    g = 1 if scheme == "binary" else groups
    # input shifts of qkv, proj, fc1 (e each) and fc2 (4e), one scale each; q/k/v shifts
    # [H,1,d]; attention shift [H,N,N]; q, k scales; V and attention: g scales each
    extra = (e + e + e + 4 * e + 4) + 3 * e + h * n * n + 2 + 2 * g
    # patch LSQ scale per output channel; per head: input shift + weight and input scales
    return total + depth * extra + e + 2 * (e + 2)


def test_registry_lists_every_scheme_and_architecture():
    for scheme in ("fp", "binary", "gsb"):
        for arch in ("vit_digits", "deit_tiny_distilled_patch16_224",
                     "deit_small_distilled_patch16_224", "deit_base_distilled_patch16_224"):
            assert f"{scheme}_{arch}" in list_models()
    assert list_models("gsb_*") == [n for n in list_models() if n.startswith("gsb_")]


def test_unknown_model_and_field_raise_vitsim_error():
    with pytest.raises(VitsimError, match=r"^unknown model 'gsb_vit_nope'"):
        create_model("gsb_vit_nope")
    with pytest.raises(ConfigError, match=r"^unknown model field 'colour'"):
        create_model("gsb_vit_digits", colour=3)
    with pytest.raises(ConfigError, match=r"^fp models take no binarisation field"):
        create_model("fp_vit_digits", per_image=True)
    with pytest.raises(ConfigError, match=r"^binary models have no groups"):
        create_model("binary_vit_digits", thresholds=(0.7,))
    with pytest.raises(ConfigError, match=r"^pretrained weights are not available"):
        create_model("fp_vit_digits", pretrained=True)


@pytest.mark.parametrize("name", DIGITS)
@pytest.mark.parametrize("stage", [1, 2])
def test_digits_models_forward_and_backward(name, stage):
    torch.manual_seed(0)
    kw = {} if name.startswith("fp") else {"stage": stage}
    model = create_model(name, **kw)
    cfg = model.vit_cfg
    assert cfg.embed_dim % 64 == 0 and cfg.head_dim in (32, 64)  # hardware tiles
    x = torch.randn(3, 1, 8, 8)
    model.train()
    model.set_distilled_training(True)
    out, out_dist = model(x)
    assert out.shape == out_dist.shape == (3, 10)
    (F.cross_entropy(out, torch.tensor([0, 1, 2])) + out_dist.sum()).backward()
    grads = [p.grad for p in model.blocks[0].mlp.parameters() if p.requires_grad]
    assert any(g is not None and g.abs().sum() > 0 for g in grads)
    model.eval()
    assert model(x).shape == (3, 10)


@pytest.mark.parametrize("name", DIGITS)
def test_digits_parameter_count(name):
    scheme = name.split("_")[0]
    got = _params(create_model(name))
    assert got == expected_params(scheme, e=64, h=2, depth=4, img=8, patch=2, chans=1,
                                  classes=10)


@pytest.mark.parametrize("name", DEIT)
def test_deit_shapes_one_block_forward(name):
    """Full-width DeiT at 224 with depth 1 (cheap), one image."""
    scheme, arch = name.split("_", 1)
    e, h = {"tiny": (192, 3), "small": (384, 6), "base": (768, 12)}[arch.split("_")[1]]
    assert "_distilled_" in arch
    torch.manual_seed(0)
    model = create_model(name, depth=1).eval()
    assert _params(model) == expected_params(scheme, e=e, h=h, depth=1, img=224, patch=16,
                                             chans=3, classes=1000)
    with torch.no_grad():
        assert model(torch.randn(1, 3, 224, 224)).shape == (1, 1000)


def test_full_deit_small_parameter_counts():
    # DeiT-S distilled: 22,436,432 (the published timm count); GSB adds the shifts and scales
    assert _params(create_model("fp_deit_small_distilled_patch16_224")) == 22_436_432
    got = _params(create_model("gsb_deit_small_distilled_patch16_224"))
    assert got == expected_params("gsb", e=384, h=6, depth=12, img=224, patch=16, chans=3,
                                  classes=1000)


def test_attention_uses_explicit_matmul_not_sdpa(monkeypatch):
    def boom(*a, **k):
        raise AssertionError("fused attention used")

    monkeypatch.setattr(F, "scaled_dot_product_attention", boom)
    model = create_model("fp_vit_digits").eval()
    assert isinstance(model.blocks[0].attn, QAttention)
    model(torch.randn(1, 1, 8, 8))


def test_stage1_binarises_only_mlp_weights():
    torch.manual_seed(0)
    model = create_model("gsb_vit_digits", stage=1).eval()
    blk = model.blocks[0]
    x = torch.randn(2, 18, 64)
    fc1 = blk.mlp.fc1
    assert torch.equal(fc1(x), F.linear(x, gsb.bwn(fc1.weight), fc1.bias))
    qkv = blk.attn.qkv
    assert torch.equal(qkv(x), F.linear(x, qkv.weight, qkv.bias))
    assert not blk.attn.binarized
    assert not bool(blk.mlp.fc1.act_quant.initialized)  # activations untouched in stage 1


def test_stage2_binarises_linear_inputs_and_weights():
    torch.manual_seed(0)
    model = create_model("gsb_vit_digits", stage=2).eval()
    model(torch.randn(4, 1, 8, 8))  # initialise scales
    for layer in model.modules():
        if isinstance(layer, BinaryLinear):
            signs, scale = layer.binary_weight()
            assert signs.shape == layer.weight.shape  # [out, in]
            assert torch.equal(signs.float() * scale, gsb.bwn(layer.weight))
            assert bool(layer.act_quant.initialized)
            xb = layer.act_quant(layer.move(torch.randn(5, layer.in_features)))
            assert len(torch.unique(xb)) <= 3  # {-a, 0, a} or {0, a}


def test_stage2_model_loads_stage1_state_strictly():
    s1 = create_model("gsb_vit_digits", stage=1)
    s2 = create_model("gsb_vit_digits", stage=2)
    s2.load_state_dict(s1.state_dict())  # strict: same parameter names and shapes


def test_per_image_mode_makes_outputs_batch_independent():
    torch.manual_seed(0)
    model = create_model("gsb_vit_digits", per_image=True).eval()
    x = torch.randn(6, 1, 8, 8)
    model(x)  # initialise scales on the batch
    with torch.no_grad():
        together = model(x)
        alone = torch.cat([model(x[i:i + 1]) for i in range(6)])
    torch.testing.assert_close(together, alone)
    set_per_image(model, False)  # batch-wide max: outputs now differ
    assert not model.gsb_cfg.per_image
    with torch.no_grad():
        assert not torch.allclose(model(x), together)
