"""``vitsim golden --ckpt`` packages: verify, determinism, and rejection of damage."""

import json
import zipfile

import numpy as np
import pytest
from netpkgs import untrained_checkpoint

from golden.netpkg import load_network, read_network, verify_network
from golden.package import read_package, write_package
from models.checkpoint import save_checkpoint
from models.registry import create_model
from sim.cli import main


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory):
    return untrained_checkpoint(tmp_path_factory.mktemp("ck"), depth=1)


@pytest.fixture(scope="module")
def package(ckpt, tmp_path_factory):
    out = tmp_path_factory.mktemp("pkg") / "net"
    assert main(["golden", "--ckpt", ckpt, "--out", str(out), "--images", "2",
                 "--seed", "3"]) == 0
    return out


def test_verify_passes_and_same_seed_gives_same_bytes(package, ckpt, tmp_path, capsys):
    assert main(["golden", "--verify", str(package)]) == 0
    assert capsys.readouterr().out.strip().endswith("OK")
    again = tmp_path / "again"
    assert main(["golden", "--ckpt", ckpt, "--out", str(again), "--images", "2",
                 "--seed", "3"]) == 0
    for name in ("manifest.json", "tensors.npz"):
        assert (again / name).read_bytes() == (package / name).read_bytes()


def test_manifest_records_ops_widths_and_packing(package):
    pkg = read_network(package)
    ops, env, expected = load_network(pkg)
    man = pkg.manifest
    assert man["config"]["kind"] == "int_network" and man["format_version"] == 1
    assert len(man["images"]["labels"]) == 2 and env["image"].shape == (2, 1, 8, 8)
    for op in ops:
        assert {"name", "kind", "layer", "head", "inputs", "outputs"} <= op.to_dict().keys()
    req = next(op for op in ops if op.kind == "requant")
    assert {"shift", "lo", "hi", "acc_bound"} <= req.params.keys()
    enc = man["encoding"]["blocks.0.attn.qkv.w"]
    assert enc["packed"] and enc["bits"] == 1 and enc["shape"] == [192, 64]
    assert pkg.tensors["blocks.0.attn.qkv.w"].shape == (192, 8)  # 64 bits -> 8 bytes
    assert man["encoding"]["blocks.0.attn.a_planes"]["packed"]


def _rewrite(src, dst, change):
    """Copy package ``src`` to ``dst`` with ``change(manifest, tensors)`` applied and the
    hashes recomputed (a consistent package whose content is wrong)."""
    pkg = read_package(src)
    man = {k: v for k, v in pkg.manifest.items()
           if k not in ("format_version", "tensors", "files")}
    tensors = dict(pkg.tensors)
    change(man, tensors)
    write_package(dst, manifest=man, tensors=tensors)
    return dst


def test_a_wrong_intermediate_is_named_by_op_and_element(package, tmp_path, capsys):
    def flip(_man, t):
        arr = t["blocks.0.res1"].copy()
        arr[1, 4, 7] += 1
        t["blocks.0.res1"] = arr
    bad = _rewrite(package, tmp_path / "bad", flip)
    lines = verify_network(read_network(bad))
    assert lines[0].startswith("op blocks.0.res1: blocks.0.res1[1, 4, 7] =")
    assert main(["golden", "--verify", str(bad)]) == 1
    assert "FAIL" in capsys.readouterr().out


@pytest.mark.parametrize("damage,message", [
    ("flip", "tensors.npz: content hash does not match field 'files'"),
    ("truncate", "tensors.npz: content hash does not match field 'files'"),
    ("version", "field 'format_version': 99 is not supported"),
    ("missing", "field 'tensors.blocks.0.norm1': tensor missing from tensors.npz"),
    ("encoding", "field 'encoding.image': missing"),
])
def test_damaged_packages_are_rejected_naming_file_and_field(package, tmp_path, capsys,
                                                              damage, message):
    bad = tmp_path / "bad"
    if damage == "encoding":
        _rewrite(package, bad, lambda man, t: man["encoding"].pop("image"))
    else:
        _rewrite(package, bad, lambda man, t: None)
    npz, manifest = bad / "tensors.npz", bad / "manifest.json"
    if damage == "flip":
        data = bytearray(npz.read_bytes())
        data[len(data) // 2] ^= 0x40
        npz.write_bytes(bytes(data))
    elif damage == "truncate":
        npz.write_bytes(npz.read_bytes()[:-100])
    elif damage == "version":
        man = json.loads(manifest.read_text())
        man["format_version"] = 99
        manifest.write_text(json.dumps(man))
    elif damage == "missing":
        with zipfile.ZipFile(npz) as zf:
            keep = {n: zf.read(n) for n in zf.namelist() if n != "blocks.0.norm1.npy"}
        with zipfile.ZipFile(npz, "w") as zf:
            for name, blob in keep.items():
                zf.writestr(name, blob)
        man = json.loads(manifest.read_text())
        import hashlib
        man["files"]["tensors.npz"] = hashlib.sha256(npz.read_bytes()).hexdigest()
        manifest.write_text(json.dumps(man))
    before = {p.name: p.read_bytes() for p in bad.iterdir()}
    assert main(["golden", "--verify", str(bad)]) == 2
    err = capsys.readouterr().err
    assert message in err and err.startswith("vitsim: error: ")
    assert {p.name: p.read_bytes() for p in bad.iterdir()} == before  # nothing rewritten


def test_bad_checkpoints_fail_clearly_and_leave_the_output_alone(tmp_path, capsys):
    stage1 = save_checkpoint(str(tmp_path / "s1"),
                             create_model("gsb_vit_digits", depth=1, stage=1),
                             extra={"data": "digits"})
    out = tmp_path / "out"
    assert main(["golden", "--ckpt", stage1, "--out", str(out)]) == 2
    assert "integer mode needs a binary or gsb model at stage 2" in capsys.readouterr().err
    assert main(["golden", "--ckpt", str(tmp_path / "nope"), "--out", str(out)]) == 2
    assert "nope" in capsys.readouterr().err
    assert not out.exists()
    out.mkdir()  # a user's directory is refused before the checkpoint is even read
    (out / "keep.txt").write_text("old")
    assert main(["golden", "--ckpt", stage1, "--out", str(out)]) == 2
    assert "not empty and not a vitsim output" in capsys.readouterr().err
    assert [p.name for p in out.iterdir()] == ["keep.txt"]


def test_images_out_of_range(ckpt, tmp_path, capsys):
    assert main(["golden", "--ckpt", ckpt, "--out", str(tmp_path / "o"), "--images", "0"]) == 2
    assert "--images must be between 1 and 4096, not 0" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


def test_eval_int_reports_float_and_integer_top1(ckpt, capsys):
    assert main(["eval", "--int", "--ckpt", ckpt]) == 0
    line = capsys.readouterr().out
    assert "top-1 float (per-image)" in line and "integer" in line and "gap" in line


def test_numpy_reference_reproduces_the_recorded_predictions(package):
    """The package alone reproduces the logits: recorded predictions equal numpy's argmax."""
    pkg = read_network(package)
    ops, env, expected = load_network(pkg)
    from golden.network import run_network

    out = run_network(ops, env)
    preds = np.argmax(out["logits"], axis=-1).tolist()
    assert preds == pkg.manifest["images"]["predictions"]
