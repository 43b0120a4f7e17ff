"""Q-ViT/LSQ models: registry, head-wise layers, BitOPs, calibration, training, CLI."""

import json
import os

import pytest
import torch

from golden.bitops import qvit_block_bitops, qvit_vit_bitops, uniform_block_bits
from golden.errors import VitsimError
from golden.model_cfg import TrainCfg
from golden.spec import ConfigError
from models import create_model, list_models
from models.checkpoint import read_config
from models.qvit_layers import (
    QViTAttention,
    bit_map,
    budget_bitops,
    calibrate,
    model_bitops,
    penalty_unit,
    quantizers,
    uniform_bitops,
)
from sim.cli import main

QVIT = [n for n in list_models() if n.split("_")[0] in ("lsq", "qvit")]


def _digits(name="qvit_vit_digits", **kw):
    torch.manual_seed(0)
    return create_model(name, **kw)


def test_registry_has_lsq_and_qvit_presets_for_every_shape():
    for preset in ("lsq_w4a4", "lsq_w3a3", "qvit_w4a4", "qvit_w3a3", "lsq", "qvit"):
        for arch in ("vit_digits", "deit_tiny_patch16_224", "deit_small_patch16_224",
                     "deit_base_patch16_224"):
            assert f"{preset}_{arch}" in QVIT
    assert create_model("lsq_w3a3_vit_digits").qvit_cfg.w_bits == 3
    assert create_model("qvit_w3a3_vit_digits").qvit_cfg.learn_bits


def test_bad_qvit_model_fields():
    with pytest.raises(ConfigError, match=r"^lsq models need learn_bits=False"):
        create_model("lsq_vit_digits", learn_bits=True)
    with pytest.raises(ConfigError, match=r"^lsq/qvit models are not distilled"):
        create_model("qvit_vit_digits", distilled=True)
    with pytest.raises(ConfigError, match=r"^unknown model field 'stage'"):
        create_model("qvit_vit_digits", stage=2)


def test_golden_bitops_reproduce_the_reference_budget_and_per_head_sums():
    blk = uniform_block_bits(num_heads=3, w_bits=4, a_bits=4)
    total = qvit_vit_bitops(num_patches=196, patch_weights=16 * 16 * 3 * 192, num_classes=1000,
                            embed_dim=192, hidden_dim=768, num_heads=3, blocks=[blk] * 12)
    assert total == 21_455_413_248  # PAPERS.md §2.7, equal to the analytic model's figure
    # 2 tokens, C = 4, 2 heads (d = 2), hidden 8; head 0 at 2 bits, head 1 at 8 everywhere
    bits = {k: [2, 8] for k in blk}
    bits.update(a_in=4, a_fc1=3, w_fc1=5, a_fc2=6, w_fc2=7)
    # qkv: 2*4*2 MACs per head and linear: 16 * (3*2*4 + 3*8*4) = 1920
    # QK^T + AV: 2*2*2 = 8 MACs per head: 8 * (4 + 4) + 8 * (64 + 64) = 1088
    # proj: 16 * (2*2 + 8*8) = 1088; fc1: 2*4*8 = 64 * 15; fc2: 64 * 42
    want = 1920 + 1088 + 1088 + 64 * 15 + 64 * 42
    assert qvit_block_bitops(tokens=2, embed_dim=4, hidden_dim=8, num_heads=2,
                             bits=bits) == want


def test_model_bitops_equal_golden_and_budgets_are_uniform_lsq():
    cfg = create_model("lsq_w4a4_deit_tiny_patch16_224").vit_cfg
    m = create_model("lsq_w4a4_deit_tiny_patch16_224", depth=1)
    assert int(model_bitops(m)) == uniform_bitops(m.vit_cfg, w_bits=4, a_bits=4)
    assert budget_bitops(cfg, create_model("qvit_w4a4_vit_digits").qvit_cfg) == \
        uniform_bitops(cfg, w_bits=4, a_bits=4) == 21_455_413_248
    assert penalty_unit(cfg, m.qvit_cfg) == pytest.approx(1e9)


def test_bitops_gradient_reaches_every_width_by_hand():
    m = _digits()
    model_bitops(m).backward()
    # digits: N = 17, C = 64, d = 32, all widths 5. dB/d a_in = sum_h N*C*d*(5+5+5)
    attn = m.blocks[0].attn
    assert attn.quant_input.bits.grad.item() == 2 * 17 * 64 * 32 * 15
    # dB/d w_q[h] = N*C*d * a_in = 34816 * 5; dB/d a_q[h] = N^2 * d * a_k[h]
    assert attn.q.w_quant.bits.grad.tolist() == [34816.0 * 5] * 2
    assert attn.quant_q.bits.grad.tolist() == [17 * 17 * 32 * 5.0] * 2
    assert m.blocks[0].mlp.quant_gelu.bits.grad.item() == 17 * 256 * 64 * 5


def test_head_axis_quantizes_rows_of_wq_and_columns_of_wproj():
    for axis, rows in (("head", True), ("reference", False)):
        m = _digits(weight_axis=axis)
        attn = m.blocks[0].attn
        for lin, q_rows in ((attn.q, rows), (attn.proj, not rows)):
            with torch.no_grad():
                lin.w_quant.bits.copy_(torch.tensor([2.0, 8.0]))
            w = lin.w_quant(lin.weight).detach()
            coarse, fine = (w[:32], w[32:]) if q_rows else (w[:, :32], w[:, 32:])
            assert len(torch.unique(coarse)) <= 4 < len(torch.unique(fine))


def test_forward_backward_and_what_is_learned():
    m = _digits()
    assert all(isinstance(b.attn, QViTAttention) for b in m.blocks)
    x = torch.randn(8, 1, 8, 8)
    calibrate(m, x)
    assert all(bool(q.initialized) for q in quantizers(m))
    m.train()
    out = m(x)
    assert out.shape == (8, 10)
    out.logsumexp(-1).sum().backward()
    attn = m.blocks[0].attn
    assert attn.quant_q.bits.shape == (2,) and attn.quant_input.bits.shape == (1,)
    assert attn.quant_v.alpha.grad[3] != 0  # width 5 -> entry 3 only
    assert (attn.quant_v.alpha.grad[[0, 1, 2, 4, 5, 6]] == 0).all()
    assert m.head.w_quant.bits.item() == 8 and not m.head.w_quant.bits.requires_grad
    lsq = _digits("lsq_w3a3_vit_digits")
    assert all(not q.bits.requires_grad for q in quantizers(lsq))
    assert bit_map(lsq)["blocks"][0]["w_q"] == [3, 3]


def test_quantized_training_lowers_bitops_and_freezes_widths():
    from models.data import load_data
    from models.train import train_scheme

    data = load_data("digits")
    cfg = TrainCfg(epochs=2, batch_size=256, seed=0)
    model, info = train_scheme("qvit", data, cfg, stage1_epochs=1, progress=False, depth=1,
                               bits_lr_scale=300.0)
    last = info["stages"][-1]
    assert last["budget"] == uniform_bitops(model.vit_cfg, w_bits=4, a_bits=4)
    assert last["bitops"] < int(uniform_bitops(model.vit_cfg, w_bits=5, a_bits=5))
    assert all(not q.bits.requires_grad for q in quantizers(model))  # frozen at epoch 1
    with pytest.raises(VitsimError, match=r"trains without a teacher"):
        train_scheme("lsq", data, cfg, teacher=model, progress=False)


def test_cli_qvit_train_eval_bit_map(tmp_path, capsys):
    ckpt = str(tmp_path / "q")
    assert main(["train", "--scheme", "qvit", "--epochs", "1", "--stage1-epochs", "0",
                 "--batch-size", "256", "--budget", "0.05", "--no-progress",
                 "--out", ckpt]) == 0
    assert "qvit_vit_digits: test top-1" in capsys.readouterr().out
    meta = read_config(ckpt)
    assert meta["qvit"]["budget"] == 0.05 and meta["budget"] == 50_000_000
    assert len(meta["bit_map"]["blocks"]) == 4
    out_dir = tmp_path / "map"
    assert main(["eval", "--ckpt", ckpt, "--bit-map-out", str(out_dir)]) == 0
    out = capsys.readouterr().out
    assert "| block | a_in | w_q |" in out and "budget 0.05" in out
    assert sorted(os.listdir(out_dir)) == [".vitsim-output", "bit_map.json", "bit_map.png"]
    assert json.loads((out_dir / "bit_map.json").read_text()) == meta["bit_map"]


@pytest.mark.parametrize("argv, message", [
    (["train", "--scheme", "lsq", "--budget", "3"], "--budget is a qvit option, not for lsq"),
    (["train", "--scheme", "qvit", "--a-bits", "1"], "--a-bits must be between 2 and 8"),
    (["train", "--scheme", "gsb", "--w-bits", "4"], "--w-bits is an lsq/qvit option"),
    (["train", "--scheme", "qvit", "--model", "deit_tiny_distilled_patch16_224"],
     "unknown architecture 'deit_tiny_distilled_patch16_224'"),
    (["train", "--scheme", "lsq", "--model", "deit_tiny_patch16_224", "--per-image"],
     "--per-image is a GSB option, not for lsq"),
    (["train", "--scheme", "lsq", "--model", "deit_tiny_patch16_224", "--data", "nope"],
     "nope: dataset folder not found"),
])
def test_cli_bad_qvit_input(tmp_path, capsys, argv, message):
    assert main([*argv, "--out", str(tmp_path / "x")]) == 2
    assert message in capsys.readouterr().err
    assert not os.path.exists(tmp_path / "x")
