"""Network golden-vector packages: an integer network, its inputs and every intermediate.

Layout (a :mod:`golden.package` directory, format version 1)::

    manifest.json   producer, seed, model (name, vit/gsb configs, checkpoint hash),
                    config {"kind": "int_network"}, meta (scales: s_img, s_x, logit_scale),
                    labels, ops (the network's op records, see golden/network.py), and
                    encoding {tensor: {bits, signed, shape, packed}} for every tensor
    tensors.npz     parameters ("<op>.w", "<op>.theta", ...), the input "image" codes and
                    every op output under its name, images on axis 0

Bit planes (weights, binarised activations, GSB planes) are packed along their last axis,
LSB first (:func:`golden.bitpack.pack_bits`: element ``j`` is bit ``j % 8`` of byte
``j // 8``); other integers are stored in the smallest of int8/16/32/64 that holds their
declared width. :func:`verify_network` re-runs :func:`golden.network.run_network` from the
package alone and compares every recorded output with ``==``.
"""

from __future__ import annotations

import numpy as np

from golden.bitpack import pack_bits, unpack_bits
from golden.errors import VitsimError
from golden.kernels import acc_bits_for_range
from golden.netspec import Network, Op, as_op
from golden.network import run_network
from golden.package import Package, PackageError, read_package, write_package

__all__ = ["NETWORK_KIND", "NetworkData", "load_network", "read_network", "verify_network",
           "write_network_package"]

NETWORK_KIND = "int_network"
_BIT_KINDS = {"threshold", "gsb_value_planes", "gsb_attn_planes"}
_SAME_WIDTH = {"split_heads", "merge_heads", "take_token", "prepend"}


def _dtype(bits: int, signed: bool) -> np.dtype:
    """The smallest signed numpy integer that holds ``bits`` (one more if unsigned)."""
    need = bits if signed else bits + 1
    return np.dtype(next(f"int{n}" for n in (8, 16, 32, 64) if need <= n or n == 64))


def _encode(name: str, arr: np.ndarray, bits: int, signed: bool) -> tuple[np.ndarray, dict]:
    arr = np.asarray(arr)
    lo, hi = (-(1 << (bits - 1)), (1 << (bits - 1)) - 1) if signed else (0, (1 << bits) - 1)
    if arr.size and (int(arr.min()) < lo or int(arr.max()) > hi):
        raise PackageError(f"tensor {name!r}: values [{int(arr.min())}, {int(arr.max())}] "
                           f"exceed its declared {'s' if signed else 'u'}{bits} width")
    rec = {"bits": bits, "signed": signed, "shape": list(arr.shape)}
    if bits == 1 and not signed:
        return pack_bits(arr), {**rec, "packed": True}
    return arr.astype(_dtype(bits, signed)), {**rec, "packed": False}


def _decode(arr: np.ndarray, rec: dict) -> np.ndarray:
    if rec["packed"]:
        return unpack_bits(arr, rec["shape"][-1]).reshape(rec["shape"])
    return arr.astype(np.int64)


def _widths(ops: list[dict], params: dict[str, np.ndarray],
            declared: dict) -> dict[str, tuple[int, bool]]:
    """Declared ``(bits, signed)`` of every tensor: given, op widths, bounds, or data range."""
    widths = {}
    for name, arr in params.items():
        if name in declared:
            widths[name] = tuple(declared[name])
        elif arr.dtype == np.uint8 and arr.size and arr.max() <= 1:
            widths[name] = (1, False)
        else:
            lo, hi = (int(arr.min()), int(arr.max())) if arr.size else (0, 0)
            widths[name] = (acc_bits_for_range(min(lo, -1), max(hi, 0)), True)
    widths["image"] = (8, True)
    for op in ops:
        p = op.params
        for out in op.outputs:
            if op.kind in _BIT_KINDS:
                widths[out] = (1, False)
            elif op.kind in _SAME_WIDTH:
                widths[out] = widths[op.inputs[0]]
            elif "out_bits" in p:
                widths[out] = (p["out_bits"], p.get("out_signed", True))
            elif "acc_bound" in p:
                widths[out] = (acc_bits_for_range(*p["acc_bound"]), True)
            else:
                widths[out] = (32, True)
    return widths


def write_network_package(path, *, ops: list[Op], params: dict[str, np.ndarray],
                          image: np.ndarray, outputs: dict[str, np.ndarray], meta: dict,
                          manifest: dict, param_widths: dict | None = None) -> Package:
    """Write a network package atomically to ``path`` and read it back.

    ``outputs`` must hold every op output (as :func:`golden.network.run_network` returns
    them); ``manifest`` adds producer, seed, model and labels; ``param_widths`` declares
    ``(bits, signed)`` of parameters (others take the width of their value range).
    """
    ops = [as_op(op) for op in ops]
    widths = _widths(ops, params, param_widths or {})
    tensors, encoding = {}, {}
    missing = [o for op in ops for o in op.outputs if o not in outputs]
    if missing:
        raise PackageError(f"{path}: output {missing[0]!r} was not recorded")
    for name, arr in [*params.items(), ("image", image), *outputs.items()]:
        tensors[name], encoding[name] = _encode(name, np.asarray(arr), *widths[name])
    full = {**manifest, "config": {"kind": NETWORK_KIND}, "meta": meta,
            "ops": [op.to_dict() for op in ops],
            "encoding": encoding}
    write_package(path, manifest=full, tensors=tensors)
    return read_package(path)


def _check_record(name: str, rec, arr: np.ndarray, where) -> None:
    """Raise unless ``rec`` is a well-formed encoding record that fits the stored ``arr``."""
    base = f"encoding.{name}"
    field = f"{where}: field '{base}'"
    if not isinstance(rec, dict):
        raise PackageError(f"{field}: must be a JSON object")
    bits, signed, shape, packed = (rec.get(k) for k in ("bits", "signed", "shape", "packed"))
    if type(bits) is not int or not 1 <= bits <= 64:
        raise PackageError(f"{where}: field '{base}.bits': {bits!r} is not a width in 1..64")
    if type(signed) is not bool or type(packed) is not bool:
        raise PackageError(f"{field}: 'signed' and 'packed' must be true or false")
    if (not isinstance(shape, list) or not shape
            or any(type(d) is not int or d < 0 for d in shape)):
        raise PackageError(f"{where}: field '{base}.shape': {shape!r} is not a shape")
    if packed:
        if bits != 1 or signed or arr.dtype != np.uint8:
            raise PackageError(f"{field}: packed planes are unsigned 1-bit uint8")
        if list(arr.shape) != [*shape[:-1], (shape[-1] + 7) // 8]:
            raise PackageError(f"{where}: field '{base}.shape': {shape} does not match the "
                               f"stored {list(arr.shape)} (packed)")
    elif list(arr.shape) != shape:
        raise PackageError(f"{where}: field '{base}.shape': {shape} does not match the "
                           f"stored {list(arr.shape)}")
    elif arr.dtype != _dtype(bits, signed):
        raise PackageError(f"{field}: dtype {arr.dtype.name} is not the one a "
                           f"{'s' if signed else 'u'}{bits} tensor is stored in "
                           f"({_dtype(bits, signed).name})")


def _check_range(name: str, arr: np.ndarray, lo: int, hi: int, what: str, where) -> None:
    if arr.size and (int(arr.min()) < lo or int(arr.max()) > hi):
        raise PackageError(f"{where}: tensor {name!r}: values [{int(arr.min())}, "
                           f"{int(arr.max())}] exceed {what} [{lo}, {hi}]")


def load_network(pkg: Package) -> tuple[list[Op], dict[str, np.ndarray], dict]:
    """Return ``(ops, env, expected)``: the op records (:class:`golden.netspec.Op`),
    parameters plus ``image`` (the inputs of :func:`golden.network.run_network`), and every
    recorded op output.

    Every tensor is checked against its declared encoding (width, signedness, shape) and
    every accumulator output against its op's ``acc_bound``.
    """
    cached = getattr(pkg, "_network", None)
    if cached is not None:
        return cached
    enc = pkg.manifest.get("encoding")
    where = pkg.path / "manifest.json"
    if not isinstance(enc, dict):
        raise PackageError(f"{where}: field 'encoding': missing")
    decoded = {}
    for name, arr in pkg.tensors.items():
        if name not in enc:
            raise PackageError(f"{where}: field 'encoding.{name}': missing")
        rec = enc[name]
        _check_record(name, rec, arr, where)
        decoded[name] = _decode(arr, rec)
        bits, signed = rec["bits"], rec["signed"]
        lo, hi = (-(1 << (bits - 1)), (1 << (bits - 1)) - 1) if signed else (0, (1 << bits) - 1)
        _check_range(name, decoded[name], lo, hi,
                     f"its declared {'s' if signed else 'u'}{bits} range", where)
    ops = pkg.manifest["ops"]
    # checked on the plain records, so that a message names the manifest field itself
    for i, op in enumerate(ops):
        for key, kind in (("name", str), ("kind", str), ("inputs", list), ("outputs", list)):
            if not isinstance(op.get(key), kind):
                raise PackageError(f"{where}: field 'ops[{i}].{key}': missing or not a "
                                   f"{kind.__name__}")
        name = op["name"]  # cases are written to directories named after ops
        if name in ("", ".", "..") or any(ch in name for ch in "/\\") or not name.isprintable():
            raise PackageError(f"{where}: field 'ops[{i}].name': {name!r} is not a usable "
                               "op name")
    try:
        ops = list(Network.from_list(ops, source=f"{where}: field 'ops'"))
    except VitsimError as exc:
        raise PackageError(str(exc)) from None
    outs = {o for op in ops for o in op.outputs}
    for name in outs:
        if name not in decoded:
            raise PackageError(f"{where}: field 'tensors.{name}': output not recorded")
    for i, op in enumerate(ops):
        bound = op.params.get("acc_bound")
        if bound is None or "out_bits" in op.params or op.kind in _BIT_KINDS | _SAME_WIDTH:
            continue
        if (not isinstance(bound, list) or len(bound) != 2
                or any(type(b) is not int for b in bound) or bound[0] > bound[1]):
            raise PackageError(f"{where}: field 'ops[{i}].acc_bound': {bound!r} is not "
                               "[lo, hi]")
        for name in op.outputs:
            _check_range(name, decoded[name], bound[0], bound[1],
                         f"op {op.name!r}'s acc_bound", where)
    env = {k: v for k, v in decoded.items() if k not in outs}
    pkg._network = (ops, env, {k: v for k, v in decoded.items() if k in outs})
    return pkg._network


class NetworkData:
    """A decoded network package: its op records, every tensor (parameters, ``image`` and
    the recorded op outputs, images on axis 0) and the declared widths.

    Attributes
    ----------
    pkg : Package
    ops : list of golden.netspec.Op
        The op records, in program order.
    tensors : dict
        Every tensor by name, decoded to integers.
    outputs : dict
        The recorded op outputs by name (a subset of ``tensors``).
    encoding : dict
        The manifest's ``encoding`` record of every tensor.
    """

    def __init__(self, pkg: Package):
        self.pkg = pkg
        self.ops, env, self.outputs = load_network(pkg)
        self.tensors = {**env, **self.outputs}
        self.encoding = pkg.manifest["encoding"]

    def images(self) -> int:
        return int(self.tensors["image"].shape[0])

    def get(self, name: str, image: int) -> np.ndarray:
        """Tensor ``name`` of one image (activations), or as stored (parameters)."""
        arr = self.tensors[name]
        return arr[image] if name == "image" or name in self.outputs else arr

    def width(self, name: str) -> int:
        """Signed width that holds tensor ``name`` as declared in the package."""
        rec = self.encoding[name]
        return rec["bits"] + (0 if rec["signed"] else 1)


def verify_network(pkg: Package) -> list[str]:
    """Re-run the integer network from ``pkg``; one line per op output that differs."""
    ops, env, expected = load_network(pkg)
    got = run_network(ops, env)
    lines = []
    for op in ops:
        for name in op.outputs:
            g, e = got[name], expected[name]
            if g.shape != e.shape:
                lines.append(f"op {op.name}: {name} shape {list(g.shape)} != recorded "
                             f"{list(e.shape)}")
            elif not np.array_equal(g, e):
                idx = tuple(int(i) for i in np.argwhere(g != e)[0])
                lines.append(f"op {op.name}: {name}{list(idx)} = {int(g[idx])}, recorded "
                             f"{int(e[idx])} (layer {op.layer}, image {idx[0]})")
    return lines


def read_network(path) -> Package:
    """Read a package and check that it holds a network whose every tensor fits its
    declared encoding (see :func:`load_network`)."""
    pkg = read_package(path)
    config = pkg.manifest.get("config")
    kind = config.get("kind") if isinstance(config, dict) else None
    if kind != NETWORK_KIND:
        raise PackageError(f"{pkg.path / 'manifest.json'}: field 'config.kind': "
                           f"{kind!r} is not {NETWORK_KIND!r}")
    load_network(pkg)
    return pkg
