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
        for out in op["outputs"]:
            if op["kind"] in _BIT_KINDS:
                widths[out] = (1, False)
            elif op["kind"] in _SAME_WIDTH:
                widths[out] = widths[op["inputs"][0]]
            elif "out_bits" in op:
                widths[out] = (op["out_bits"], op.get("out_signed", True))
            elif "acc_bound" in op:
                widths[out] = (acc_bits_for_range(*op["acc_bound"]), True)
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
    widths = _widths(ops, params, param_widths or {})
    tensors, encoding = {}, {}
    missing = [o for op in ops for o in op["outputs"] if o not in outputs]
    if missing:
        raise PackageError(f"{path}: output {missing[0]!r} was not recorded")
    for name, arr in [*params.items(), ("image", image), *outputs.items()]:
        tensors[name], encoding[name] = _encode(name, np.asarray(arr), *widths[name])
    full = {**manifest, "config": {"kind": NETWORK_KIND}, "meta": meta,
            "ops": [as_op(op).to_dict() for op in ops],
            "encoding": encoding}
    write_package(path, manifest=full, tensors=tensors)
    return read_package(path)


def load_network(pkg: Package) -> tuple[list[Op], dict[str, np.ndarray], dict]:
    """Return ``(ops, env, expected)``: the op records (:class:`golden.netspec.Op`),
    parameters plus ``image`` (the inputs of :func:`golden.network.run_network`), and every
    recorded op output."""
    enc = pkg.manifest.get("encoding")
    where = pkg.path / "manifest.json"
    if not isinstance(enc, dict):
        raise PackageError(f"{where}: field 'encoding': missing")
    decoded = {}
    for name, arr in pkg.tensors.items():
        if name not in enc:
            raise PackageError(f"{where}: field 'encoding.{name}': missing")
        decoded[name] = _decode(arr, enc[name])
    try:
        ops = list(Network.from_list(pkg.manifest.get("ops"), source=f"{where}: field 'ops'"))
    except VitsimError as exc:
        raise PackageError(str(exc)) from None
    outs = {o for op in ops for o in op.outputs}
    for name in outs:
        if name not in decoded:
            raise PackageError(f"{where}: field 'tensors.{name}': output not recorded")
    env = {k: v for k, v in decoded.items() if k not in outs}
    return ops, env, {k: v for k, v in decoded.items() if k in outs}


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
        for name in op["outputs"]:
            g, e = got[name], expected[name]
            if g.shape != e.shape:
                lines.append(f"op {op['name']}: {name} shape {list(g.shape)} != recorded "
                             f"{list(e.shape)}")
            elif not np.array_equal(g, e):
                idx = tuple(int(i) for i in np.argwhere(g != e)[0])
                lines.append(f"op {op['name']}: {name}{list(idx)} = {int(g[idx])}, recorded "
                             f"{int(e[idx])} (layer {op.get('layer')}, image {idx[0]})")
    return lines


def read_network(path) -> Package:
    """Read a package and check that it holds a network."""
    pkg = read_package(path)
    kind = pkg.manifest.get("config", {}).get("kind")
    if kind != NETWORK_KIND:
        raise PackageError(f"{pkg.path / 'manifest.json'}: field 'config.kind': "
                           f"{kind!r} is not {NETWORK_KIND!r}")
    return pkg
