"""Golden-vector packages: a versioned, self-describing directory of integer tensors.

Layout of a package directory::

    manifest.json   format version, producer (tool versions), seed, config, ops, tensors
    tensors.npz     the integer arrays, one entry per tensor name

``manifest["tensors"][name]`` records ``shape``, ``dtype`` and the ``sha256`` of the
array's raw bytes (C order); ``manifest["files"][file]`` the ``sha256`` of each file.
``manifest["ops"]`` lists the operations, each with ``name``, ``kind``, ``layer``, ``head``,
``inputs``, ``outputs`` and the op's integer parameters (widths, mult/shift, bounds).

Writing is atomic (temporary directory, then rename) and deterministic: the same
manifest and arrays give the same bytes (the npz is written with fixed zip timestamps).
Reading validates the version, every hash, shape and dtype, and rejects a damaged or
mismatched package with :class:`PackageError` naming the file and field.
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


def write_package(path, *, manifest: dict, tensors: dict[str, np.ndarray]) -> Path:
    """Write a package to ``path`` atomically and return the path.

    ``manifest`` holds everything but the format version, the tensor table and the file
    hashes, which are added here. Every tensor must be an integer array.
    """
    for name, arr in tensors.items():
        if not isinstance(arr, np.ndarray) or arr.dtype.name not in _DTYPES:
            raise PackageError(f"tensor {name!r} must be an integer ndarray")
    blob = _npz_bytes(tensors)
    full = {
        "format_version": FORMAT_VERSION,
        **manifest,
        "tensors": {
            name: {"shape": list(arr.shape), "dtype": arr.dtype.name,
                   "sha256": _array_hash(arr)}
            for name, arr in sorted(tensors.items())
        },
        "files": {TENSOR_FILE: hashlib.sha256(blob).hexdigest()},
    }
    text = json.dumps(full, indent=2, sort_keys=True) + "\n"
    with atomic_dir(path) as tmp:
        (tmp / TENSOR_FILE).write_bytes(blob)
        (tmp / MANIFEST).write_text(text)
    return Path(path)


def read_package(path) -> Package:
    """Read and fully validate the package at ``path`` (see module doc)."""
    path = Path(path)
    mpath = path / MANIFEST
    if not path.is_dir():
        raise PackageError(f"{path}: no such package directory")
    manifest = read_json_object(mpath, missing="missing manifest", error=PackageError)
    for field in ("format_version", "tensors", "files", "ops"):
        if field not in manifest:
            raise PackageError(f"{mpath}: field {field!r}: missing")
    if manifest["format_version"] != FORMAT_VERSION:
        raise PackageError(
            f"{mpath}: field 'format_version': {manifest['format_version']!r} is not "
            f"supported (this vitsim reads {FORMAT_VERSION})"
        )
    for fname, digest in manifest["files"].items():
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
    tensors = {}
    for name, rec in manifest["tensors"].items():
        where = f"{mpath}: field 'tensors.{name}'"
        if name not in arrays:
            raise PackageError(f"{where}: tensor missing from {TENSOR_FILE}")
        arr = arrays[name]
        if list(arr.shape) != rec.get("shape") or arr.dtype.name != rec.get("dtype"):
            raise PackageError(f"{where}: shape/dtype {list(arr.shape)}/{arr.dtype.name} "
                               f"does not match {rec.get('shape')}/{rec.get('dtype')}")
        if _array_hash(arr) != rec.get("sha256"):
            raise PackageError(f"{where}: content hash mismatch")
        tensors[name] = arr
    return Package(path, manifest, tensors)
