"""Golden-vector packages: a versioned, self-describing directory of integer tensors.

Layout of a package directory::

    manifest.json   format version, producer (tool versions), seed, config, ops, tensors
    tensors.npz     the integer arrays, one entry per tensor name

``manifest["tensors"][name]`` records ``shape``, ``dtype`` and the ``sha256`` of the
array's raw bytes (C order); ``manifest["files"][file]`` the ``sha256`` of each file.
``manifest["ops"]`` lists the operations, each with ``name``, ``kind``, ``layer``, ``head``,
``inputs``, ``outputs`` and the op's integer parameters (widths, mult/shift, bounds).
``manifest["digests"]`` covers every other field that gives the data its meaning: the
``sha256`` of each top-level field's canonical JSON, and of each entry of ``ops`` (by
index) and of ``encoding`` (by tensor name), so an edit is reported with the field it
touched. ``tensors`` and ``files`` are left out: they are checked against the bytes.

Writing is atomic (temporary directory, then rename) and deterministic: the same
manifest and arrays give the same bytes (the npz is written with fixed zip timestamps).
Reading validates the version (an int this vitsim knows), the manifest digests, every
hash, shape and dtype, confines ``files`` to the package directory, refuses npz members
the manifest does not list, and rejects a damaged or mismatched package with
:class:`PackageError` naming the file and field.
"""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from pathlib import Path

import numpy as np

from golden.atomic import atomic_dir
from golden.errors import VitsimError
from golden.jsonio import read_json_object

__all__ = ["FORMAT_VERSION", "Package", "PackageError", "read_package", "write_package"]

#: Version of the package layout; readers reject any other.
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
DIGESTS = "digests"
#: Fields the digests leave out: they are checked against the bytes they describe.
_SELF_CHECKED = ("tensors", "files", DIGESTS)
#: Fields whose entries get a digest each (so an edit names the entry).
_PER_ENTRY = ("ops", "encoding")
TENSOR_FILE = "tensors.npz"
_DTYPES = ("int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64")
_ZIP_DATE = (1980, 1, 1, 0, 0, 0)


class PackageError(VitsimError):
    """A golden package is missing, damaged or does not match what was asked for."""


class Package:
    """A loaded package: ``manifest`` (dict) and ``tensors`` (name -> int ndarray)."""

    def __init__(self, path: Path, manifest: dict, tensors: dict[str, np.ndarray]):
        self.path = path
        self.manifest = manifest
        self.tensors = tensors

    def op(self, name: str) -> dict:
        """Return the op record called ``name`` (``PackageError`` if absent)."""
        for op in self.manifest["ops"]:
            if op["name"] == name:
                return op
        raise PackageError(f"{self.path / MANIFEST}: field 'ops': no op named {name!r}")


def _array_hash(arr: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(arr).tobytes()).hexdigest()


def _json_hash(value) -> str:
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), allow_nan=False)
    return hashlib.sha256(text.encode()).hexdigest()


def manifest_digests(manifest: dict) -> dict:
    """The ``digests`` record of ``manifest`` (see the module doc)."""
    out = {}
    for key, value in manifest.items():
        if key in _SELF_CHECKED:
            continue
        if key in _PER_ENTRY and isinstance(value, list):
            out[key] = [_json_hash(v) for v in value]
        elif key in _PER_ENTRY and isinstance(value, dict):
            out[key] = {k: _json_hash(v) for k, v in value.items()}
        else:
            out[key] = _json_hash(value)
    return out


def _check_digests(manifest: dict, mpath: Path) -> None:
    have = manifest.get(DIGESTS)
    if not isinstance(have, dict):
        raise PackageError(f"{mpath}: field {DIGESTS!r}: missing or not an object (a package "
                           "from an older vitsim: write it again)")
    want = manifest_digests(manifest)
    for key in sorted(set(have) | set(want)):
        if key not in want:
            raise PackageError(f"{mpath}: field {key!r}: missing (dropped from the manifest)")
        if key not in have:
            raise PackageError(f"{mpath}: field {key!r}: not covered by field {DIGESTS!r} "
                               "(added to the manifest)")
        got, ref = want[key], have[key]
        if got == ref:
            continue
        if isinstance(got, list) and isinstance(ref, list) and len(got) == len(ref):
            i = next(i for i, (a, b) in enumerate(zip(got, ref, strict=True)) if a != b)
            name = manifest[key][i].get("name") if isinstance(manifest[key][i], dict) else None
            what = f" (op {name!r})" if name is not None else ""
            raise PackageError(f"{mpath}: field '{key}[{i}]'{what}: does not match its digest "
                               "(edited after it was written)")
        if isinstance(got, dict) and isinstance(ref, dict) and set(got) == set(ref):
            k = next(k for k in sorted(got) if got[k] != ref[k])
            raise PackageError(f"{mpath}: field '{key}.{k}': does not match its digest "
                               "(edited after it was written)")
        raise PackageError(f"{mpath}: field {key!r}: does not match its digest (edited after "
                           "it was written)")


def _confined(name, where: str) -> None:
    """Raise unless ``name`` is a plain relative path inside the package directory."""
    parts = Path(name).parts if isinstance(name, str) else ()
    if (not isinstance(name, str) or not name or "\\" in name or Path(name).is_absolute()
            or any(p in ("..", ".") for p in parts) or "\n" in name):
        raise PackageError(f"{where}: {name!r} is not a file name inside the package")


def _npz_bytes(tensors: dict[str, np.ndarray]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_STORED) as zf:
        for name in sorted(tensors):
            info = zipfile.ZipInfo(f"{name}.npy", date_time=_ZIP_DATE)
            data = io.BytesIO()
            np.lib.format.write_array(data, np.ascontiguousarray(tensors[name]),
                                      allow_pickle=False)
            zf.writestr(info, data.getvalue())
    return buf.getvalue()


def write_package(path, *, manifest: dict, tensors: dict[str, np.ndarray],
                  overwrite: bool = True) -> Path:
    """Write a package to ``path`` atomically and return the path.

    ``manifest`` holds everything but the format version, the tensor table, the file
    hashes and the digests, which are added here (given ones are replaced). Every tensor
    must be an integer array. An existing package at ``path`` is replaced when
    ``overwrite`` is true; anything else there is refused (see :mod:`golden.atomic`).
    """
    for name, arr in tensors.items():
        if not isinstance(arr, np.ndarray) or arr.dtype.name not in _DTYPES:
            raise PackageError(f"tensor {name!r} must be an integer ndarray")
    blob = _npz_bytes(tensors)
    manifest = {k: v for k, v in manifest.items() if k not in _SELF_CHECKED}
    full = {
        **manifest,
        "format_version": FORMAT_VERSION,
        "tensors": {
            name: {"shape": list(arr.shape), "dtype": arr.dtype.name,
                   "sha256": _array_hash(arr)}
            for name, arr in sorted(tensors.items())
        },
        "files": {TENSOR_FILE: hashlib.sha256(blob).hexdigest()},
    }
    full[DIGESTS] = manifest_digests(full)
    text = json.dumps(full, indent=2, sort_keys=True) + "\n"
    with atomic_dir(path, kind="package", overwrite=overwrite) as tmp:
        (tmp / TENSOR_FILE).write_bytes(blob)
        (tmp / MANIFEST).write_text(text)
    return Path(path)


def read_package(path) -> Package:
    """Read and fully validate the package at ``path`` (see module doc)."""
    path = Path(path)
    mpath = path / MANIFEST
    if not path.is_dir():
        raise PackageError(f"{path}: no such package directory")
    if mpath.exists() and not mpath.is_file():
        raise PackageError(f"{mpath}: not a file")
    manifest = read_json_object(mpath, missing="missing manifest", error=PackageError)
    for field in ("format_version", "tensors", "files", "ops"):
        if field not in manifest:
            raise PackageError(f"{mpath}: field {field!r}: missing")
    version = manifest["format_version"]
    if type(version) is not int or version != FORMAT_VERSION:
        raise PackageError(
            f"{mpath}: field 'format_version': {version!r} is not supported (this vitsim "
            f"reads {FORMAT_VERSION})")
    for field, kind in (("tensors", dict), ("files", dict), ("ops", list)):
        if not isinstance(manifest[field], kind):
            raise PackageError(f"{mpath}: field {field!r}: must be a JSON "
                               f"{'object' if kind is dict else 'array'}, not "
                               f"{type(manifest[field]).__name__}")
    if any(not isinstance(op, dict) for op in manifest["ops"]):
        raise PackageError(f"{mpath}: field 'ops': every op must be a JSON object")
    _check_digests(manifest, mpath)
    if TENSOR_FILE not in manifest["files"]:
        raise PackageError(f"{mpath}: field 'files': {TENSOR_FILE} not listed")
    for fname, digest in manifest["files"].items():
        _confined(fname, f"{mpath}: field 'files'")
        fpath = path / fname
        if not fpath.is_file():
            raise PackageError(f"{fpath}: missing file listed in field 'files'")
        if hashlib.sha256(fpath.read_bytes()).hexdigest() != digest:
            raise PackageError(f"{fpath}: content hash does not match field 'files'")
    try:
        with np.load(path / TENSOR_FILE, allow_pickle=False) as npz:
            arrays = {name: npz[name] for name in npz.files}
    except (OSError, ValueError, zipfile.BadZipFile) as exc:
        raise PackageError(f"{path / TENSOR_FILE}: unreadable ({exc})") from None
    extra = sorted(set(arrays) - set(manifest["tensors"]))
    if extra:
        raise PackageError(f"{path / TENSOR_FILE}: member {extra[0]!r} is not listed in "
                           f"field 'tensors' of {MANIFEST}")
    tensors = {}
    for name, rec in manifest["tensors"].items():
        where = f"{mpath}: field 'tensors.{name}'"
        if name not in arrays:
            raise PackageError(f"{where}: tensor missing from {TENSOR_FILE}")
        if not isinstance(rec, dict):
            raise PackageError(f"{where}: must be a JSON object")
        arr = arrays[name]
        if list(arr.shape) != rec.get("shape") or arr.dtype.name != rec.get("dtype"):
            raise PackageError(f"{where}: shape/dtype {list(arr.shape)}/{arr.dtype.name} "
                               f"does not match {rec.get('shape')}/{rec.get('dtype')}")
        if arr.dtype.name not in _DTYPES:
            raise PackageError(f"{where}: dtype {arr.dtype.name} is not an integer type")
        if _array_hash(arr) != rec.get("sha256"):
            raise PackageError(f"{where}: content hash mismatch")
        tensors[name] = arr
    return Package(path, manifest, tensors)
