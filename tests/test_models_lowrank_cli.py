"""Compressed checkpoints: ``vitsim compress``, ``load_checkpoint``, ``vitsim eval``, analytic."""

import json
import os

import pytest
import torch

from golden.errors import VitsimError
from golden.lowrank_cfg import LowRankCfg
from models import create_model
from models.checkpoint import CONFIG_FILE, load_checkpoint, save_checkpoint
from models.lowrank import analytic_scheme, compress_model, model_params
from models.lowrank_layers import LowRankLinear, compressible_linears
from sim.analytic.footprint import effective_rank, op_cost
from sim.analytic.workload import vit_ops
from sim.cli import main

LINEARS = ("qkv", "proj", "fc1", "fc2")


pytestmark = pytest.mark.usefixtures("torch_one_thread")


@pytest.fixture(scope="module")
def fp_model():
    torch.manual_seed(0)
    return create_model("fp_vit_digits", depth=2).eval()


@pytest.fixture(scope="module")
def images():
    return torch.rand(48, 1, 8, 8, generator=torch.Generator().manual_seed(0)) * 2 - 1


@pytest.fixture
def fp_ckpt(tmp_path, fp_model):
    return save_checkpoint(str(tmp_path / "fp"), fp_model, extra={"data": "digits"})


@pytest.mark.parametrize("cfg", [
    LowRankCfg(target=0.5, rank_k=4, steps=5, samples=48),
    LowRankCfg(target=0.5, scheme="svd", w_bits=8),
], ids=str)
def test_compressed_checkpoint_round_trips(tmp_path, fp_model, images, cfg):
    model, record = compress_model(fp_model, cfg, images if cfg.needs_data else None)
    assert record["params"]["compressed"] <= record["params"]["budget"]
    assert record["params"]["budget"] == int(0.5 * model_params(fp_model))
    assert set(record["layer_ranks"]) == {n for n, _ in compressible_linears(fp_model)}
    assert any(isinstance(m, LowRankLinear) for m in model.modules())
    out = save_checkpoint(str(tmp_path / "c"), model, extra={"data": "digits",
                                                             "lowrank": record})
    loaded, meta = load_checkpoint(out)
    assert meta["lowrank"]["layer_ranks"] == record["layer_ranks"]
    x = images[:8]
    with torch.no_grad():
        torch.testing.assert_close(loaded(x), model(x), rtol=0, atol=0)
    for name, lay in loaded.named_modules():
        if isinstance(lay, LowRankLinear):
            assert lay.rank == record["layer_ranks"][name] and lay.rank_k == cfg.rank_k
            assert lay.w_bits == cfg.w_bits


def test_compressed_model_approaches_dense_as_target_shrinks(fp_model, images):
    cfg = LowRankCfg(target=0.2, rank_step=4)
    model, _ = compress_model(fp_model, cfg, images)
    with torch.no_grad():
        y, yc = fp_model(images), model(images)
    assert float(((y - yc) ** 2).mean() / (y**2).mean()) < 0.05


def test_analytic_model_counts_the_same_factor_weights(fp_model, images):
    model, record = compress_model(fp_model, LowRankCfg(target=0.45, rank_k=2, steps=0),
                                   images)
    scheme = analytic_scheme(record, a_bits=8)
    modules = dict(model.named_modules())
    for op in vit_ops(model.vit_cfg):
        if op.role not in LINEARS:
            continue
        lay = modules[op.name]
        rank = effective_rank(scheme, op.name, op.k, op.n)
        shapes = {t.name: t.shape for t in op_cost(op, model.vit_cfg, scheme, rank).tensors}
        if isinstance(lay, LowRankLinear):
            assert rank == lay.width
            assert shapes["weight_a"] == tuple(lay.weight_a.shape)
            assert shapes["weight_b"] == tuple(lay.weight_b.shape)
        else:
            assert rank == 0 and record["layer_ranks"][op.name] == 0


def test_cli_compress_then_eval(tmp_path, fp_ckpt, capsys):
    out = str(tmp_path / "lr")
    argv = ["compress", "--scheme", "lowrank", "--ckpt", fp_ckpt, "--target", "0.4",
            "--out", out, "--samples", "32", "--steps", "3", "--rank-k", "2",
            "--rank-step", "4", "--no-progress"]
    assert main(argv) == 0
    assert "-> " + out in capsys.readouterr().out
    with open(os.path.join(out, CONFIG_FILE)) as f:
        meta = json.load(f)
    lowrank = meta["lowrank"]
    assert len(lowrank["layer_ranks"]) == 8 and lowrank["cfg"]["target"] == 0.4
    assert meta["metrics"]["test_top1"] >= 0
    assert meta["run"] == {"seed": LowRankCfg.field_default("seed"),
                           "threads": torch.get_num_threads(), "torch": torch.__version__}
    assert main(["eval", "--ckpt", out]) == 0
    assert "top-1" in capsys.readouterr().out


@pytest.mark.parametrize("target,message", [
    ("0", "--target: target must be > 0.0 and < 1.0, not 0.0"),
    ("1", "--target: target must be > 0.0 and < 1.0, not 1.0"),
    ("-0.5", "--target: target must be > 0.0 and < 1.0, not -0.5"),
    ("0.985", "--target: target 0.985 unreachable: the layers that stay dense alone hold"),
    ("0.9", "--target: target unreachable: the compressible layers need at least"),
])
def test_cli_rejects_bad_targets_and_writes_nothing(tmp_path, fp_ckpt, capsys, target, message):
    out = str(tmp_path / "bad")
    argv = ["compress", "--scheme", "svd", "--ckpt", fp_ckpt, f"--target={target}",
            "--out", out, "--no-progress"]
    assert main(argv) == 2
    assert f"vitsim: error: {message}" in capsys.readouterr().err
    assert not os.path.exists(out)


def test_cli_rejects_a_binarised_checkpoint(tmp_path, capsys):
    torch.manual_seed(0)
    gsb = create_model("gsb_vit_digits", depth=1)
    gsb(torch.randn(2, 1, 8, 8))
    src = save_checkpoint(str(tmp_path / "gsb"), gsb, extra={"data": "digits"})
    argv = ["compress", "--scheme", "svd", "--ckpt", src, "--target", "0.5", "--out",
            str(tmp_path / "x")]
    assert main(argv) == 2
    assert "compress needs a float checkpoint, this one is binarised" in capsys.readouterr().err


def test_load_rejects_a_bad_rank_record(tmp_path, fp_model):
    model, record = compress_model(fp_model, LowRankCfg(target=0.5, scheme="svd"))
    out = save_checkpoint(str(tmp_path / "c"), model, extra={"lowrank": record})
    path = os.path.join(out, CONFIG_FILE)
    with open(path) as f:
        meta = json.load(f)
    meta["lowrank"]["layer_ranks"]["blocks.0.attn.proj"] = 40  # above break-even (32)
    with open(path, "w") as f:
        json.dump(meta, f)
    with pytest.raises(VitsimError, match=r"field 'lowrank' field 'layer_ranks': rank 40 "
                       r"\(\+0\) of 'blocks.0.attn.proj' is at or above the break-even"):
        load_checkpoint(out)
    del meta["lowrank"]["layer_ranks"]["blocks.0.attn.proj"]
    with open(path, "w") as f:
        json.dump(meta, f)
    with pytest.raises(VitsimError, match=r"no rank for layer 'blocks.0.attn.proj'$"):
        load_checkpoint(out)
