"""Golden packages: round trip, determinism, atomic writes, rejection of damage."""

import json

import numpy as np
import pytest

from golden.cases import (
    binary_array_case,
    load_binary_array_case,
    load_mac_array_case,
    mac_array_case,
    requant_case,
)
from golden.errors import VitsimError
from golden.package import PackageError, read_package, write_package
from golden.spec import BinaryArrayCfg, MacArrayCfg, RequantCfg
from golden.units import verify_package

CFG = BinaryArrayCfg(rows=4, cols=8, mode="xnor", max_k=64)


def test_case_round_trip(tmp_path):
    pkg = binary_array_case(CFG, tmp_path / "c", m=3, n=8, k=32, seed=1)
    cfg, op, a, w, y = load_binary_array_case(read_package(tmp_path / "c"))
    assert cfg == CFG and (op["m"], op["n"], op["k"]) == (3, 8, 32)
    assert np.array_equal(y, (2 * a.astype(int) - 1) @ (2 * w.astype(int) - 1).T)
    assert verify_package(pkg) == []
    assert op["acc_bound"] == [-32, 32] and op["cycles"] == CFG.cycles(m=3, n=8, k=32)


def test_same_seed_same_bytes(tmp_path):
    for name in ("a", "b"):
        binary_array_case(CFG, tmp_path / name, m=2, n=4, k=16, seed=5)
    for f in ("manifest.json", "tensors.npz"):
        assert (tmp_path / "a" / f).read_bytes() == (tmp_path / "b" / f).read_bytes()
    binary_array_case(CFG, tmp_path / "c", m=2, n=4, k=16, seed=6)
    assert (tmp_path / "a" / "tensors.npz").read_bytes() != (tmp_path / "c" /
                                                             "tensors.npz").read_bytes()


@pytest.mark.parametrize("stimulus,value", [("max", 64), ("min", -64), ("alternating", 0)])
def test_corner_stimuli_reach_bounds(tmp_path, stimulus, value):
    pkg = binary_array_case(CFG, tmp_path / "c", m=1, n=4, k=64, stimulus=stimulus)
    assert np.all(pkg.tensors["y"] == value)


def test_failed_write_leaves_nothing(tmp_path):
    with pytest.raises(PackageError, match=r"tensor 'x' must be an integer ndarray"):
        write_package(tmp_path / "p", manifest={"ops": []},
                      tensors={"x": np.zeros(3, dtype=np.float32)})
    assert list(tmp_path.iterdir()) == []


def _damage(path, how):
    mpath = path / "manifest.json"
    if how == "manifest-missing":
        mpath.unlink()
    elif how == "manifest-garbage":
        mpath.write_text("{not json")
    elif how == "version":
        m = json.loads(mpath.read_text())
        m["format_version"] = 99
        mpath.write_text(json.dumps(m))
    elif how == "npz-truncated":
        blob = (path / "tensors.npz").read_bytes()
        (path / "tensors.npz").write_bytes(blob[: len(blob) // 2])
    elif how == "tensor-hash":
        m = json.loads(mpath.read_text())
        m["tensors"]["y"]["sha256"] = "0" * 64
        mpath.write_text(json.dumps(m))


@pytest.mark.parametrize("how,message", [
    ("manifest-missing", r"manifest.json: missing manifest"),
    ("manifest-garbage", r"manifest.json: not valid JSON"),
    ("version", r"manifest.json: field 'format_version': 99 is not supported"),
    ("npz-truncated", r"tensors.npz: content hash does not match field 'files'"),
    ("tensor-hash", r"manifest.json: field 'tensors.y': content hash mismatch"),
])
def test_damaged_package_is_rejected(tmp_path, how, message):
    binary_array_case(CFG, tmp_path / "c", m=2, n=4, k=16)
    _damage(tmp_path / "c", how)
    with pytest.raises(PackageError, match=message):
        read_package(tmp_path / "c")


def test_verify_catches_a_wrong_recorded_output(tmp_path):
    pkg = binary_array_case(CFG, tmp_path / "c", m=2, n=4, k=16)
    y = pkg.tensors["y"].copy()
    y[1, 2] += 2
    write_package(tmp_path / "bad", manifest={k: v for k, v in pkg.manifest.items()
                                              if k not in ("tensors", "files")},
                  tensors={**pkg.tensors, "y": y})
    assert verify_package(read_package(tmp_path / "bad")) == [
        "op binary_matmul: recorded output differs from the kernel first at (1, 2)"]


def test_requant_case_and_its_errors(tmp_path):
    cfg = RequantCfg(lanes=2, acc_bits=8, out_bits=4)
    pkg = requant_case(cfg, tmp_path / "c", beats=5, mult=1, shift=1, bits=4, signed=True,
                       stimulus="ties")
    acc, y = pkg.tensors["acc"], pkg.tensors["y"]
    assert np.all(acc % 2 == 1)  # odd: every acc/2 is a tie
    assert np.array_equal(y, np.clip((acc + 1) // 2, -8, 7))  # ties round up, then clamp
    assert verify_package(pkg) == []
    with pytest.raises(VitsimError, match=r"^bits must be between 2 and out_bits \(4\), not 5$"):
        requant_case(cfg, tmp_path / "d", beats=1, mult=1, shift=1, bits=5, signed=True)
    with pytest.raises(VitsimError, match=r"^stimulus 'ties' needs mult=1 and shift=1"):
        requant_case(cfg, tmp_path / "d", beats=1, mult=3, shift=1, bits=4, signed=True,
                     stimulus="ties")
    assert not (tmp_path / "d").exists()


def test_mac_case_packs_operands_at_their_widths(tmp_path):
    cfg = MacArrayCfg(rows=2, cols=4, max_k=16)
    pkg = mac_array_case(cfg, tmp_path / "c", m=2, n=2, k=16, w_bits=3, a_bits=5,
                         a_signed=False)
    assert pkg.tensors["w"].shape == (2, 6)  # 16 x 3 bits = 48 bits = 6 bytes per row
    assert pkg.tensors["a"].shape == (2, 10)  # 16 x 5 bits = 80 bits
    _, op, a, w, y = load_mac_array_case(pkg)
    assert a.min() >= 0 and a.max() <= 31 and w.min() >= -4 and w.max() <= 3
    assert np.array_equal(y, a @ w.T) and verify_package(pkg) == []
