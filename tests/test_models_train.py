"""Training, checkpoints and the ``vitsim train`` / ``vitsim eval`` commands."""

import json
import os

import pytest
import torch
from torch.utils.data import TensorDataset

from golden.errors import VitsimError
from golden.model_cfg import TrainCfg
from models import create_model
from models.checkpoint import load_checkpoint, read_config, save_checkpoint
from models.data import DataSplit, load_data
from models.train import evaluate, train_scheme
from sim.cli import main

pytestmark = pytest.mark.usefixtures("torch_one_thread")


@pytest.fixture(scope="module")
def digits():
    return load_data("digits")


@pytest.fixture(scope="module")
def small(digits):
    """The first 256 training and 64 test digits (for cheap mechanics tests)."""
    tr, te = digits.train.tensors, digits.test.tensors
    return DataSplit("digits[:256]", TensorDataset(tr[0][:256], tr[1][:256]),
                     TensorDataset(te[0][:64], te[1][:64]), 10, 8, 1)


@pytest.fixture
def ckpt(tmp_path):
    torch.manual_seed(0)
    model = create_model("gsb_vit_digits", depth=1)
    model(torch.randn(2, 1, 8, 8))  # initialise scales
    return save_checkpoint(str(tmp_path / "ckpt"), model, extra={"data": "digits"}), model


def test_digits_split_is_fixed_and_stratified(digits):
    assert (len(digits.train), len(digits.test)) == (1437, 360)  # 80/20 of 1797
    ys = torch.stack([y for _, y in digits.test])
    counts = torch.bincount(ys, minlength=10)
    assert counts.min() >= 35 and counts.max() <= 37  # ~ 178..183 per class / 5
    again = load_data("digits")
    assert torch.equal(digits.test.tensors[0], again.test.tensors[0])
    x, _ = digits.train[0]
    assert x.shape == (1, 8, 8) and -1 <= x.min() and x.max() <= 1


def test_short_fp_training_is_well_above_chance(digits):
    cfg = TrainCfg(epochs=8, batch_size=32, lr=3e-3, seed=0)
    model, info = train_scheme("fp", digits, cfg, depth=1, progress=False)
    assert info["test_top1"] > 0.5  # chance is 0.1
    assert info["test_top1"] == evaluate(model, digits.test, batch_size=32)


def test_two_stage_gsb_with_teacher_runs_and_initialises_scales(small):
    teacher = create_model("fp_vit_digits", depth=1).eval()
    cfg = TrainCfg(epochs=1, batch_size=128, seed=0)
    model, info = train_scheme("gsb", small, cfg, depth=1, teacher=teacher, progress=False)
    assert len(info["stages"]) == 2 and model.gsb_cfg.stage == 2
    attn = model.blocks[0].attn
    assert bool(attn.attn_quant.initialized) and bool(attn.v_quant.initialized)
    assert 0.0 <= info["test_top1"] <= 1.0


def test_training_is_deterministic_for_a_seed(small):
    cfg = TrainCfg(epochs=1, batch_size=64, seed=3)
    a, _ = train_scheme("binary", small, cfg, depth=1, stage1_epochs=1, progress=False)
    b, _ = train_scheme("binary", small, cfg, depth=1, stage1_epochs=1, progress=False)
    for (k, va), vb in zip(a.state_dict().items(), b.state_dict().values(), strict=True):
        assert torch.equal(va, vb), k


def test_checkpoint_round_trip(ckpt):
    path, model = ckpt
    assert sorted(os.listdir(path)) == [".vitsim-output", "config.json", "model.pt"]
    assert not [n for n in os.listdir(os.path.dirname(path)) if n.startswith(".")]
    loaded, meta = load_checkpoint(path)
    assert meta["model"] == "gsb_vit_digits" and loaded.gsb_cfg == model.gsb_cfg
    x = torch.randn(2, 1, 8, 8)
    model.eval()
    assert torch.equal(loaded.eval()(x), model(x))
    assert load_checkpoint(path, per_image=True)[0].gsb_cfg.per_image


def test_checkpoint_overwrite_replaces_whole_directory(ckpt):
    path, model = ckpt
    open(os.path.join(path, "stale.txt"), "w").close()
    save_checkpoint(path, model)
    assert sorted(os.listdir(path)) == [".vitsim-output", "config.json", "model.pt"]


def test_missing_checkpoint(tmp_path):
    with pytest.raises(VitsimError, match=r"nope: checkpoint directory not found$"):
        load_checkpoint(str(tmp_path / "nope"))
    with pytest.raises(VitsimError, match=r"config.json: missing"):
        load_checkpoint(str(tmp_path))


def test_truncated_weights(ckpt):
    path, _ = ckpt
    weights = os.path.join(path, "model.pt")
    size = os.path.getsize(weights)
    with open(weights, "r+b") as f:
        f.truncate(size // 2)
    with pytest.raises(VitsimError, match=r"model.pt: \d+ bytes, config.json field "
                       r"'weights.bytes' says \d+ \(truncated or damaged\)"):
        load_checkpoint(path)


def test_damaged_weights(ckpt):
    path, _ = ckpt
    weights = os.path.join(path, "model.pt")
    with open(weights, "r+b") as f:
        f.seek(100)
        byte = f.read(1)
        f.seek(100)
        f.write(bytes([byte[0] ^ 0xFF]))
    with pytest.raises(VitsimError, match=r"model.pt: content does not match config.json "
                       r"field 'weights.sha256'"):
        load_checkpoint(path)


def _edit_config(path, fn):
    cfg_file = os.path.join(path, "config.json")
    with open(cfg_file) as f:
        meta = json.load(f)
    fn(meta)
    with open(cfg_file, "w") as f:
        json.dump(meta, f)


def test_mismatched_config_names_field(ckpt):
    path, _ = ckpt
    _edit_config(path, lambda m: m["vit"].update(embed_dim=128))
    with pytest.raises(VitsimError, match=r"model.pt: parameter 'cls_token' has shape "
                       r"\[1, 1, 64\], the model needs \[1, 1, 128\]"):
        load_checkpoint(path)


def test_mismatched_model_name(ckpt):
    path, _ = ckpt
    _edit_config(path, lambda m: m.update(model="binary_vit_digits"))
    with pytest.raises(VitsimError, match=r"binary models have no groups"):
        load_checkpoint(path)
    _edit_config(path, lambda m: m.update(model="gsb_vit_cifar"))
    with pytest.raises(VitsimError, match=r"config.json: field 'model': unknown model"):
        load_checkpoint(path)


def test_bad_config_fields(ckpt):
    path, _ = ckpt
    _edit_config(path, lambda m: m["gsb"].update(thresholds=[0.9, 0.7]))
    with pytest.raises(VitsimError, match=r"config.json field 'gsb': thresholds must be "
                       r"strictly increasing"):
        load_checkpoint(path)
    _edit_config(path, lambda m: m.pop("weights"))
    with pytest.raises(VitsimError, match=r"config.json: missing field 'weights'$"):
        read_config(path)
    with open(os.path.join(path, "config.json"), "w") as f:
        f.write("{not json")
    with pytest.raises(VitsimError, match=r"config.json: not valid JSON"):
        read_config(path)


# --- command line ---


def test_cli_train_eval_and_errors(tmp_path, capsys):
    teacher = str(tmp_path / "teacher")
    assert main(["train", "--scheme", "fp", "--epochs", "1", "--batch-size", "256",
                 "--no-progress", "--out", teacher]) == 0
    assert "fp_vit_digits: test top-1" in capsys.readouterr().out
    student = str(tmp_path / "gsb")
    assert main(["train", "--scheme", "gsb", "--epochs", "1", "--batch-size", "256",
                 "--teacher", teacher, "--no-progress", "--out", student]) == 0
    meta = read_config(student)
    assert meta["teacher"] == teacher and meta["gsb"]["stage"] == 2
    assert main(["eval", "--ckpt", teacher, student, "--per-image"]) == 0
    out = capsys.readouterr().out
    assert "fp_vit_digits" in out and "gsb_vit_digits" in out and "per-image" in out
    assert main(["train", "--scheme", "gsb", "--teacher", student, "--epochs", "1",
                 "--out", str(tmp_path / "x")]) == 2
    assert "must name an fp teacher" in capsys.readouterr().err
    assert not os.path.exists(tmp_path / "x")


def test_cli_train_records_seed_threads_and_torch_version(tmp_path):
    """Weights depend on the thread count (reductions split differently), so a checkpoint
    records it beside the seed; the fixture runs torch on 1 thread, the command asks 2."""
    out = str(tmp_path / "fp")
    assert main(["train", "--scheme", "fp", "--epochs", "1", "--batch-size", "256",
                 "--seed", "5", "--threads", "2", "--no-progress", "--out", out]) == 0
    assert read_config(out)["run"] == {"seed": 5, "threads": 2, "torch": torch.__version__}


def test_cli_bad_input_exits_2_with_one_line(tmp_path, capsys):
    assert main(["train", "--scheme", "ternary", "--out", str(tmp_path / "x")]) == 2
    err = capsys.readouterr().err
    assert "--scheme must be one of fp, binary, gsb, lsq, qvit, not 'ternary'" in err
    assert main(["train", "--scheme", "gsb", "--model", "resnet50",
                 "--out", str(tmp_path / "x")]) == 2
    assert "unknown architecture 'resnet50'" in capsys.readouterr().err
    assert main(["train", "--scheme", "gsb", "--teacher", str(tmp_path / "t"),
                 "--out", str(tmp_path / "x")]) == 2
    assert "t: checkpoint directory not found" in capsys.readouterr().err
    assert main(["eval", "--ckpt", str(tmp_path / "missing")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("vitsim: error: ") and err.count("\n") == 1
    assert main(["train", "--scheme", "fp", "--data", str(tmp_path / "nodata"),
                 "--out", str(tmp_path / "x")]) == 2
    assert "dataset folder not found" in capsys.readouterr().err
    assert not os.path.exists(tmp_path / "x")  # no partial output after errors


def _image_folder(root, sizes=(12, 16)):
    from PIL import Image

    gen = torch.Generator().manual_seed(0)
    for split in ("train", "test"):
        for cls in ("cat", "dog"):
            os.makedirs(root / split / cls)
            for i, s in enumerate(sizes):
                pixels = (torch.rand(s, s, 3, generator=gen) * 255).to(torch.uint8).numpy()
                Image.fromarray(pixels).save(root / split / cls / f"{i}.png")
    return str(root)


def test_image_folder_dataset(tmp_path):
    path = _image_folder(tmp_path / "imgs")
    data = load_data(path, img_size=8, in_chans=1)
    assert (data.num_classes, len(data.train), len(data.test)) == (2, 4, 4)
    x, y = data.train[0]
    assert x.shape == (1, 8, 8) and int(y) == 0
    os.rename(tmp_path / "imgs" / "test", tmp_path / "imgs" / "holdout")
    with pytest.raises(VitsimError, match=r"an image folder needs 'train/' and 'test/'"):
        load_data(path, img_size=8, in_chans=1)


def test_cli_trains_on_image_folder(tmp_path, capsys):
    path = _image_folder(tmp_path / "imgs")
    out = str(tmp_path / "fp")
    assert main(["train", "--scheme", "fp", "--data", path, "--epochs", "1",
                 "--no-progress", "--out", out]) == 0
    assert read_config(out)["vit"]["num_classes"] == 2
    assert main(["eval", "--ckpt", out]) == 0
    assert f"on {path} test (4 images" in capsys.readouterr().out


def test_teacher_of_other_geometry_is_rejected(small):
    teacher = create_model("fp_vit_digits", num_classes=7, depth=1)
    with pytest.raises(VitsimError, match=r"^teacher field 'num_classes' is 7, the data needs 10$"):
        train_scheme("gsb", small, TrainCfg(epochs=1), teacher=teacher, progress=False)


def test_cli_module_and_configs_do_not_import_torch():
    import subprocess
    import sys

    code = ("import sys, golden.model_cfg, models.cli, sim.cli; sim.cli.build_parser(); "
            "print(sorted(m for m in ('torch', 'timm') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, cwd=os.path.dirname(os.path.dirname(__file__)))
    assert out.stdout.strip() == "[]"
