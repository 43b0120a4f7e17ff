"""Unit-level golden cases: one package per hardware unit test, generated from a seed.

A case holds an op's integer inputs and the output computed by its golden kernel, in the
package format of :mod:`golden.package`. Later issues cut such cases from trained models'
network packages; the unit benches read both the same way.
"""

from __future__ import annotations

import numpy as np

from golden.bitpack import pack_bits, unpack_bits
from golden.errors import VitsimError
from golden.kernels import binary_matmul
from golden.package import Package, PackageError, read_package, write_package
from golden.spec import BinaryArrayCfg, config_from_dict
from golden.version import producer

__all__ = ["CORNERS", "binary_array_case", "load_binary_array_case", "verify_package"]

#: Stimulus kinds: random bits, or the corners that reach the accumulator bound.
CORNERS = ("random", "max", "min", "alternating")


def _stimulus(kind: str, rng: np.random.Generator, m: int, n: int, k: int):
    if kind == "random":
        return rng.integers(0, 2, (m, k), dtype=np.uint8), rng.integers(0, 2, (n, k),
                                                                        dtype=np.uint8)
    a = np.ones((m, k), dtype=np.uint8)
    if kind == "max":  # every product +1: y = +k
        return a, np.ones((n, k), dtype=np.uint8)
    if kind == "min":  # every product -1: y = -k
        return a, np.zeros((n, k), dtype=np.uint8)
    if kind == "alternating":  # +1/-1 products alternate: y = 0
        return a, np.tile(np.arange(k, dtype=np.uint8) % 2, (n, 1))
    raise VitsimError(f"stimulus must be one of {', '.join(CORNERS)}, not {kind!r}")


def binary_array_case(cfg: BinaryArrayCfg, path, *, m: int, n: int, k: int, seed: int = 0,
                      stimulus: str = "random") -> Package:
    """Write a case for :class:`hw.binary_array.BinaryMatmulArray` to ``path`` and read it back.

    Inputs ``a_bits`` ``[m, k]`` and ``w_bits`` ``[n, k]`` are stored packed (see
    :mod:`golden.bitpack`); the expected ``y`` ``[m, n]`` is
    ``golden.kernels.binary_matmul(a, w, cfg.mode)``. ``k`` and ``n`` must tile the array.
    """
    cycles = cfg.cycles(m=m, n=n, k=k)  # validates the shape against the array
    a, w = _stimulus(stimulus, np.random.default_rng(seed), m, n, k)
    y = binary_matmul(a, w, cfg.mode)
    bound = k  # |sum of k products of magnitude <= 1|
    op = {
        "name": "binary_matmul",
        "kind": "binary_matmul",
        "layer": None,
        "head": None,
        "inputs": ["a_bits", "w_bits"],
        "outputs": ["y"],
        "mode": cfg.mode,
        "m": m,
        "n": n,
        "k": k,
        "packing": "bits_lsb_first",
        "acc_bound": [-bound, bound],
        "acc_bits": cfg.acc_bits,
        "cycles": cycles,
    }
    manifest = {
        "producer": producer(),
        "seed": seed,
        "stimulus": stimulus,
        "config": cfg.to_dict(),
        "ops": [op],
    }
    tensors = {"a_bits": pack_bits(a), "w_bits": pack_bits(w), "y": y.astype(np.int64)}
    write_package(path, manifest=manifest, tensors=tensors)
    return read_package(path)


def load_binary_array_case(pkg: Package):
    """Return ``(cfg, op, a_bits, w_bits, y)`` of a binary-array case, unpacked."""
    where = pkg.path / "manifest.json"
    try:
        cfg = config_from_dict(pkg.manifest.get("config", {}), source=f"{where}: field 'config'")
    except VitsimError as exc:
        raise PackageError(str(exc)) from None
    if not isinstance(cfg, BinaryArrayCfg):
        raise PackageError(f"{where}: field 'config.kind': not a binary_array case")
    op = pkg.op("binary_matmul")
    a = unpack_bits(pkg.tensors["a_bits"], op["k"])
    w = unpack_bits(pkg.tensors["w_bits"], op["k"])
    return cfg, op, a, w, pkg.tensors["y"]


def verify_package(pkg: Package) -> list[str]:
    """Re-run the golden kernels on a package's inputs; return one line per failing op."""
    cfg, op, a, w, y = load_binary_array_case(pkg)
    got = binary_matmul(a, w, cfg.mode)
    if got.shape == y.shape and np.array_equal(got, y):
        return []
    bad = np.argwhere(got != y)[0] if got.shape == y.shape else None
    where = f" first at {tuple(int(i) for i in bad)}" if bad is not None else " (shape)"
    return [f"op {op['name']}: recorded output differs from the kernel{where}"]
