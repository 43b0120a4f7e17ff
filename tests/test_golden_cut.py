"""Cutting trained models' network packages into unit cases (golden only: no simulator).

A one-block digits GSB model and a Q-ViT model are trained briefly, exported with one
image, and every op is cut into the case of its unit: each case verifies against its
golden kernel, records where it came from, and covers every unit the scheme uses. A
package whose recorded output was tampered with (hashes made consistent again) cannot be
cut: the error names the op and nothing is written.
"""

import json

import numpy as np
import pytest

from golden.cut import NO_UNIT, CutError, cut_network, cut_op
from golden.errors import VitsimError
from golden.netpkg import read_network
from golden.package import read_package, write_package
from golden.units import case_config, verify_package
from sim.cli import main

pytestmark = pytest.mark.slow

#: The units each scheme's network needs (requantisers wider than 16 bits are skipped).
UNITS = {"gsb": {"mac_array", "requant", "layernorm", "threshold", "binary_array",
                 "gsb_encoder", "softmax", "residual", "gsb_av", "gelu"},
         "qvit": {"mac_array", "requant", "layernorm", "softmax", "residual", "gelu"}}


_PACKAGES: dict = {}  # scheme -> network package, shared by the modules of one process


def network_package(scheme: str, tmp_path_factory):
    """The network package of a briefly trained one-block digits model of ``scheme``
    (trained once per test process; ``tests/test_sim_network_cases.py`` shares it)."""
    if scheme not in _PACKAGES:
        root = tmp_path_factory.mktemp(f"net_{scheme}")
        _PACKAGES[scheme] = read_network(train_and_export(scheme, root).path)
    return _PACKAGES[scheme]


def train_and_export(scheme: str, root):
    """Train a one-block digits model of ``scheme`` briefly and export one image."""
    import torch

    from golden.model_cfg import TrainCfg
    from models.checkpoint import save_checkpoint
    from models.data import load_digits_split
    from models.golden_export import export_golden
    from models.train import train_scheme

    torch.set_num_threads(1)
    over = {"per_image": True} if scheme == "gsb" else {}
    model, _ = train_scheme(scheme, load_digits_split(), TrainCfg(epochs=10, batch_size=64,
                                                                  seed=0),
                            stage1_epochs=10, progress=False, depth=1, **over)
    extra = {"data": "digits"}
    if scheme == "qvit":
        extra["qvit"] = model.qvit_cfg.to_dict()
    ckpt = save_checkpoint(str(root / f"{scheme}_ckpt"), model, extra=extra)
    return export_golden(ckpt, root / f"{scheme}_pkg", images=1, calib=64)


@pytest.fixture(scope="module", params=["gsb", "qvit"])
def network(request, tmp_path_factory):
    return request.param, network_package(request.param, tmp_path_factory)


def test_every_op_cuts_into_a_verified_case(network, tmp_path):
    scheme, pkg = network
    cases = cut_network(pkg, tmp_path / "cases")
    index = json.loads((tmp_path / "cases" / "index.json").read_text())
    kinds = set()
    for name, path in cases:
        case = read_package(path)
        assert verify_package(case) == [], name
        kinds.add(case_config(case).kind)
        src, op = case.manifest["source"], case.manifest["ops"][0]
        assert (src["op"], op["name"], case.manifest["stimulus"]) == (name, name, "network")
        assert src["model"] == pkg.manifest["model"]["name"] and src["image"] == 0
        assert len(src["manifest_sha256"]) == 64 and src["seed"] == pkg.manifest["seed"]
        assert op["layer"] == src["layer"] == pkg.op(name)["layer"]
    assert kinds == UNITS[scheme]
    cut = {name for name, _ in cases} | {s["op"] for s in index["skipped"]}
    assert cut == {op["name"] for op in pkg.manifest["ops"] if op["kind"] not in NO_UNIT}
    assert index["skipped"] == []  # every op with a unit is cut (requantisers up to 31 bits)


def test_per_head_and_elementwise_heads(network, tmp_path):
    scheme, pkg = network
    qk = "blocks.0.attn.qk"
    for head in (0, 1):
        case = cut_op(pkg, qk, tmp_path / f"qk{head}", head=head)
        assert case.manifest["ops"][0]["head"] == case.manifest["source"]["head"] == head
        assert verify_package(case) == []
    whole = cut_op(pkg, "blocks.0.attn.softmax", tmp_path / "sm")
    one = cut_op(pkg, "blocks.0.attn.softmax", tmp_path / "sm1", head=1)
    assert whole.tensors["y"].shape[0] == 2 * one.tensors["y"].shape[0]
    assert np.array_equal(whole.tensors["y"][one.tensors["y"].shape[0]:], one.tensors["y"])
    with pytest.raises(CutError, match=r"no head 5"):
        cut_op(pkg, qk, tmp_path / "bad", head=5)
    with pytest.raises(CutError, match=r"^op 'blocks.0.norm1': its tensors have no heads"):
        cut_op(pkg, "blocks.0.norm1", tmp_path / "bad", head=0)
    with pytest.raises(CutError, match=r"only moves data"):
        cut_op(pkg, "blocks.0.attn.merge", tmp_path / "bad")
    with pytest.raises(CutError, match=r"image must be between 0 and 0, not 1"):
        cut_op(pkg, qk, tmp_path / "bad", image=1)
    with pytest.raises(CutError, match=r"no op named 'nope'"):
        cut_op(pkg, "nope", tmp_path / "bad")
    assert not (tmp_path / "bad").exists()


def _tampered(pkg, out, name: str):
    """A copy of ``pkg`` with one element of tensor ``name`` changed, hashes consistent."""
    tensors = {k: v.copy() for k, v in pkg.tensors.items()}
    flat = tensors[name].reshape(-1)
    flat[0] = flat[0] + 1 if flat[0] < np.iinfo(flat.dtype).max else flat[0] - 1
    manifest = {k: v for k, v in pkg.manifest.items()
                if k not in ("format_version", "tensors", "files")}
    write_package(out, manifest=manifest, tensors=tensors)
    return read_network(out)


@pytest.mark.parametrize("op_name", ["blocks.0.res1", "blocks.0.norm2", "blocks.0.mlp.gelu"])
def test_tampered_output_names_the_op(network, tmp_path, op_name):
    _, pkg = network
    bad = _tampered(pkg, tmp_path / "bad_pkg", op_name)
    with pytest.raises(VitsimError, match=rf"^op '{op_name}' \(layer 0, head None\): the "
                                          r"recorded output differs from the golden kernel"):
        cut_op(bad, op_name, tmp_path / "case")
    assert not (tmp_path / "case").exists()
    with pytest.raises(VitsimError, match=rf"op '{op_name}'"):
        cut_network(bad, tmp_path / "all")


def test_vitsim_golden_cut(network, tmp_path, capsys):
    _, pkg = network
    assert main(["golden", "--cut", str(pkg.path), "--op", "blocks.0.norm1", "--out",
                 str(tmp_path / "ln")]) == 0
    out = capsys.readouterr().out
    assert "blocks.0.norm1 (layer 0, head None, image 0) as a layernorm case" in out
    assert main(["golden", "--verify", str(tmp_path / "ln")]) == 0
    assert main(["golden", "--cut", str(pkg.path), "--op", "all", "--out",
                 str(tmp_path / "all")]) == 0
    out = capsys.readouterr().out
    assert "cases under" in out and (tmp_path / "all" / "blocks.0.res2").is_dir()
    assert main(["golden", "--cut", str(pkg.path), "--out", str(tmp_path / "x")]) == 2
    assert "give --op NAME" in capsys.readouterr().err
