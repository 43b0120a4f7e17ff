"""Packages are verified on every load: every manifest edit is rejected by compile (and
simulate, cut) naming the file and field; data outside its declared width or acc_bound,
paths escaping the package and extra npz members are refused."""

import hashlib
import io
import json
import shutil
import zipfile

import numpy as np
import pytest

from golden.package import read_package, write_package
from sim.cli import main


@pytest.fixture(scope="module")
def package(tmp_path_factory):
    from netpkgs import untrained_package

    return untrained_package(tmp_path_factory.mktemp("net"), images=1, depth=1)


def _op(m, name):
    return next(i for i, op in enumerate(m["ops"]) if op["name"] == name)


def _set(path, value):
    """An edit setting ``m[path...]`` (an op named by its name) to ``value`` (or
    ``value(old)``)."""
    def edit(m):
        *keys, last = path
        d = m
        for k in keys:
            d = d[_op(m, k)] if isinstance(d, list) else d[k]
        d[last] = value(d[last]) if callable(value) else value
    return edit


def _pop(key):
    return lambda m: m.pop(key)


#: (row id, manifest edit, fragment of the one-line error). Each edit changes what the
#: data means, or the package's structure; compile must name the field.
EDITS = [
    ("op-shift", _set(["ops", "patch_embed.out", "shift"], lambda v: v + 1),
     "field 'ops[1]' (op 'patch_embed.out'): does not match its digest"),
    ("op-mult-lo", _set(["ops", "blocks.0.attn.out", "lo"], -1),
     "(op 'blocks.0.attn.out'): does not match its digest"),
    ("op-acc-bound", _set(["ops", "patch_embed", "acc_bound"], [-1, 1]),
     "field 'ops[0]' (op 'patch_embed'): does not match its digest"),
    ("op-mode", _set(["ops", "blocks.0.mlp.fc2", "mode"], "xnor"),
     "(op 'blocks.0.mlp.fc2'): does not match its digest"),
    ("op-kind", _set(["ops", "blocks.0.norm1", "kind"], "gelu"),
     "(op 'blocks.0.norm1'): does not match its digest"),
    ("op-inputs", _set(["ops", "blocks.0.res1", "inputs"], lambda v: v[::-1]),
     "(op 'blocks.0.res1'): does not match its digest"),
    ("op-name-dotdot", _set(["ops", "blocks.0.res1", "name"], ".."),
     "field 'ops[20]' (op '..'): does not match its digest"),
    ("op-softmax-param", _set(["ops", "blocks.0.attn.softmax", "b"], lambda v: v + 1),
     "(op 'blocks.0.attn.softmax'): does not match its digest"),
    ("op-threshold-theta", _set(["ops", "blocks.0.attn.a_planes", "base_theta"], 0),
     "(op 'blocks.0.attn.a_planes'): does not match its digest"),
    ("op-dropped", lambda m: m["ops"].pop(3), "field 'ops': does not match its digest"),
    ("enc-bits", _set(["encoding", "blocks.0.attn.qk", "bits"], 8),
     "field 'encoding.blocks.0.attn.qk': does not match its digest"),
    ("enc-signed", _set(["encoding", "blocks.0.attn.av", "signed"], False),
     "field 'encoding.blocks.0.attn.av': does not match its digest"),
    ("enc-shape", _set(["encoding", "image", "shape"], lambda v: v[::-1]),
     "field 'encoding.image': does not match its digest"),
    ("enc-dropped", lambda m: m["encoding"].pop("image"),
     "field 'encoding': does not match its digest"),
    ("meta-scale", _set(["meta", "s_img"], 1.0), "field 'meta': does not match its digest"),
    ("meta-depth", _set(["meta", "depth"], 2), "field 'meta': does not match its digest"),
    ("labels", _set(["images", "labels"], [7]), "field 'images': does not match its digest"),
    ("seed", _set(["seed"], 4), "field 'seed': does not match its digest"),
    ("model-name", _set(["model", "name"], "other"), "field 'model': does not match"),
    ("config-kind", _set(["config", "kind"], "binary_array"), "field 'config': does not match"),
    ("producer", _set(["producer"], {}), "field 'producer': does not match its digest"),
    ("calibration", _set(["calibration"], None), "field 'calibration': does not match"),
    ("field-added", lambda m: m.update(labels=[1]),
     "field 'labels': not covered by field 'digests' (added to the manifest)"),
    ("field-dropped", _pop("meta"), "field 'meta': missing (dropped from the manifest)"),
    ("digests-dropped", _pop("digests"), "field 'digests': missing or not an object"),
    ("digest-edited", _set(["digests", "seed"], "0" * 64),
     "field 'seed': does not match its digest"),
    ("version-bool", _set(["format_version"], True),
     "field 'format_version': True is not supported"),
    ("version-str", _set(["format_version"], "1"),
     "field 'format_version': '1' is not supported"),
    ("version-next", _set(["format_version"], 2), "field 'format_version': 2 is not supported"),
    ("version-dropped", _pop("format_version"), "field 'format_version': missing"),
    ("files-list", _set(["files"], ["tensors.npz"]),
     "field 'files': must be a JSON object, not list"),
    ("files-escape", lambda m: m["files"].update({"../x.npz": "0" * 64}),
     "field 'files': '../x.npz' is not a file name inside the package"),
    ("files-absolute", lambda m: m["files"].update({"/etc/hostname": "0" * 64}),
     "field 'files': '/etc/hostname' is not a file name inside the package"),
    ("files-unlisted", lambda m: m.update(files={}),
     "field 'files': tensors.npz not listed"),
    ("tensors-list", _set(["tensors"], []), "field 'tensors': must be a JSON object"),
    ("tensor-record-dropped", lambda m: m["tensors"].pop("image"),
     "tensors.npz: member 'image' is not listed in field 'tensors'"),
    ("tensor-shape", _set(["tensors", "image", "shape"], [1]),
     "field 'tensors.image': shape/dtype"),
    ("ops-object", _set(["ops"], {}), "field 'ops': must be a JSON array"),
    ("op-not-object", lambda m: m["ops"].__setitem__(0, "patch_embed"),
     "field 'ops': every op must be a JSON object"),
]


def _edited(package, tmp_path, edit):
    bad = tmp_path / "bad"
    shutil.copytree(package, bad)
    mpath = bad / "manifest.json"
    m = json.loads(mpath.read_text())
    edit(m)
    mpath.write_text(json.dumps(m))
    return bad


def _one_line(err):
    assert err.startswith("vitsim: error: ") and err.count("\n") == 1, err
    assert "Traceback" not in err


@pytest.mark.parametrize("edit,message", [e[1:] for e in EDITS], ids=[e[0] for e in EDITS])
def test_compile_rejects_every_manifest_edit_naming_the_field(package, tmp_path, capsys,
                                                              edit, message):
    bad = _edited(package, tmp_path, edit)
    before = {p.name: p.read_bytes() for p in bad.iterdir()}
    assert main(["compile", str(bad), "--out", str(tmp_path / "prog")]) == 2
    err = capsys.readouterr().err
    _one_line(err)
    assert f"{bad / 'manifest.json'}: " in err or f"{bad / 'tensors.npz'}: " in err, err
    assert message in err
    assert not (tmp_path / "prog").exists()
    assert {p.name: p.read_bytes() for p in bad.iterdir()} == before


@pytest.mark.parametrize("argv", [
    ["simulate", "--golden", "{bad}"],
    ["golden", "--cut", "{bad}", "--op", "all", "--out", "{out}"],
    ["golden", "--cut", "{bad}", "--op", "patch_embed", "--out", "{out}"],
    ["golden", "--verify", "{bad}"],
    ["synth", "--golden", "{bad}", "--out", "{out}"],
    ["memory", "--accel-package", "{bad}"],
], ids=["simulate", "cut-all", "cut-op", "verify", "synth", "memory"])
def test_every_reader_verifies_the_manifest(package, tmp_path, capsys, argv):
    bad = _edited(package, tmp_path, EDITS[0][1])
    out = tmp_path / "out"
    assert main([a.format(bad=bad, out=out) for a in argv]) == 2
    err = capsys.readouterr().err
    _one_line(err)
    assert EDITS[0][2] in err and not out.exists()


def _rewrite(package, dst, change):
    pkg = read_package(package)
    man = {k: v for k, v in pkg.manifest.items() if k not in ("tensors", "files", "digests")}
    tensors = dict(pkg.tensors)
    change(man, tensors)
    write_package(dst, manifest=man, tensors=tensors)
    return dst


def _bump(name, value, dtype=None):
    def change(_man, t):
        arr = t[name].astype(dtype or t[name].dtype)
        arr.flat[0] = value
        t[name] = arr
    return change


@pytest.mark.parametrize("change,message", [
    (_bump("blocks.0.attn.q.theta", 8),  # s4, stored in int8
     "tensor 'blocks.0.attn.q.theta': values [-"),
    (_bump("blocks.0.attn.q.theta", 1 << 20, np.int32),  # in a wider dtype than declared
     "field 'encoding.blocks.0.attn.q.theta': dtype int32 is not the one"),
    (_bump("blocks.0.attn.qk", 63),  # fits s7, beyond the op's [-32, 32]
     "tensor 'blocks.0.attn.qk': values [-"),
    (_bump("image", -128), None),  # the extreme code is legal
    (lambda _m, t: t.update(image=t["image"].astype(np.int16)),
     "field 'encoding.image': dtype int16 is not the one a s8 tensor is stored in (int8)"),
    (lambda _m, t: t.update(evil=np.zeros(3, np.int8)), "field 'encoding.evil': missing"),
    (lambda m, _t: m["encoding"]["image"].update(bits=0),
     "field 'encoding.image.bits': 0 is not a width in 1..64"),
    (lambda m, _t: m["encoding"]["image"].update(bits=4),
     "tensor 'image': values ["),
], ids=["theta-range", "theta-dtype", "acc-bound", "extreme-ok", "image-dtype",
        "extra-tensor", "bits-0", "bits-narrow"])
def test_data_is_checked_against_declared_widths_and_acc_bound(package, tmp_path, capsys,
                                                               change, message):
    bad = _rewrite(package, tmp_path / "bad", change)
    status = main(["compile", str(bad), "--out", str(tmp_path / "prog")])
    err = capsys.readouterr().err
    if message is None:
        assert status == 0, err
        return
    assert status == 2
    _one_line(err)
    assert message in err, err
    if "theta': values" in message:
        assert "8] exceed its declared s4 range [-8, 7]" in err
    if "qk': values" in message:
        assert "exceed op 'blocks.0.attn.qk''s acc_bound [-32, 32]" in err


def test_an_extra_npz_member_is_refused(package, tmp_path, capsys):
    bad = tmp_path / "bad"
    shutil.copytree(package, bad)
    npz = bad / "tensors.npz"
    buf = io.BytesIO()
    np.lib.format.write_array(buf, np.zeros(2, np.int8))
    with zipfile.ZipFile(npz, "a") as zf:
        zf.writestr("evil.npy", buf.getvalue())
    m = json.loads((bad / "manifest.json").read_text())
    m["files"]["tensors.npz"] = hashlib.sha256(npz.read_bytes()).hexdigest()
    (bad / "manifest.json").write_text(json.dumps(m))
    assert main(["compile", str(bad), "--out", str(tmp_path / "prog")]) == 2
    assert "tensors.npz: member 'evil' is not listed in field 'tensors'" in \
        capsys.readouterr().err


def test_a_manifest_that_is_a_directory_is_one_line(package, tmp_path, capsys):
    bad = tmp_path / "bad"
    shutil.copytree(package, bad)
    (bad / "manifest.json").unlink()
    (bad / "manifest.json").mkdir()
    for argv in (["compile", str(bad), "--out", str(tmp_path / "p")],
                 ["golden", "--verify", str(bad)]):
        assert main(argv) == 2
        err = capsys.readouterr().err
        _one_line(err)
        assert "manifest.json" in err
