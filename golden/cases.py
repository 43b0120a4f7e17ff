"""Unit-level golden cases: one package per hardware unit test, from a seed or given operands.

A case holds an op's integer inputs and the output computed by its golden kernel, in the
package format of :mod:`golden.package`. ``<unit>_case`` draws the operands from a seed;
``write_<unit>_case`` takes explicit ones (:mod:`golden.cut` cuts them from trained models'
network packages, checking the kernel against the recorded output); benches read both alike.
"""

from __future__ import annotations

import numpy as np

from golden.bitpack import pack_bits, pack_int, unpack_bits, unpack_int
from golden.errors import VitsimError
from golden.kernels import binary_matmul, code_range, int_matmul, requantize
from golden.package import Package, PackageError, read_package, write_package
from golden.residual import residual_add
from golden.spec import (
    BinaryArrayCfg,
    MacArrayCfg,
    QuantSpec,
    RequantCfg,
    ResidualCfg,
)
from golden.streams import (
    BINARY_ARRAY_PAYLOAD,
    MAC_ARRAY_PAYLOAD,
    REQUANT_PAYLOAD,
    RESIDUAL_PAYLOAD,
)
from golden.unit_spec import UnitSpec, register_unit
from golden.version import producer

__all__ = [
    "CORNERS",
    "EXPLICIT",
    "REQUANT_STIMULI",
    "RESIDUAL_STIMULI",
    "binary_array_case",
    "case_op",
    "check_fits",
    "check_expected",
    "load_binary_array_case",
    "load_mac_array_case",
    "load_requant_case",
    "load_residual_case",
    "read_case_config",
    "mac_array_case",
    "requant_case",
    "residual_case",
    "write_binary_array_case",
    "write_mac_array_case",
    "write_requant_case",
    "write_residual_case",
]

#: Stimulus kinds: random bits, or the corners that reach the accumulator bound.
CORNERS = ("random", "max", "min", "alternating")

#: ``stimulus`` recorded by a case written from explicit operands (not drawn from a seed).
EXPLICIT = "explicit"


def _op_record(kind: str, name: str, op_meta: dict | None, **fields) -> dict:
    """A case's op record: ``kind``, then ``op_meta`` (``name``, ``layer``, ``head`` and any
    provenance a cut adds) over the defaults, then the unit's ``fields``."""
    meta = dict(op_meta or {})
    return {"name": meta.pop("name", name), "kind": kind, "layer": meta.pop("layer", None),
            "head": meta.pop("head", None), **meta, **fields}


def _case_manifest(cfg, op: dict, *, seed, stimulus: str, source: dict | None) -> dict:
    """The manifest of a one-op case; ``source`` (where the operands came from, e.g. a
    network package, op, layer, head and image) is recorded when given."""
    manifest = {"producer": producer(), "seed": seed, "stimulus": stimulus,
                "config": cfg.to_dict(), "ops": [op]}
    if source is not None:
        manifest["source"] = source
    return manifest


def check_expected(op: dict, got: np.ndarray, expected) -> None:
    """Raise :class:`VitsimError` naming ``op`` unless the golden kernel's ``got`` equals the
    ``expected`` output recorded elsewhere (a network package) with ``==``; ``expected``
    ``None`` checks nothing."""
    if expected is None:
        return
    expected = np.asarray(expected)
    where = f"op {op['name']!r} (layer {op.get('layer')}, head {op.get('head')})"
    if got.shape != expected.shape:
        raise VitsimError(f"{where}: the golden kernel gives shape {list(got.shape)}, the "
                          f"recorded output has {list(expected.shape)}")
    if not np.array_equal(got, expected):
        idx = tuple(int(i) for i in np.argwhere(got != expected)[0])
        raise VitsimError(f"{where}: the recorded output differs from the golden kernel at "
                          f"{list(idx)}: recorded {int(expected[idx])}, kernel {int(got[idx])} "
                          f"({int(np.sum(got != expected))} elements differ)")


def case_op(pkg: Package, kind: str) -> dict:
    """The op record of kind ``kind`` in a one-unit case (its name may be a network op's)."""
    for op in pkg.manifest["ops"]:
        if op.get("kind") == kind:
            return op
    raise PackageError(f"{pkg.path / 'manifest.json'}: field 'ops': no op of kind {kind!r}")


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
    cfg.cycles(m=m, n=n, k=k)  # validates the shape before drawing
    a, w = _stimulus(stimulus, np.random.default_rng(seed), m, n, k)
    return write_binary_array_case(cfg, path, a=a, w=w, seed=seed, stimulus=stimulus)


def write_binary_array_case(cfg: BinaryArrayCfg, path, *, a, w, expected=None,
                            op_meta: dict | None = None, seed=0, stimulus: str = EXPLICIT,
                            source: dict | None = None) -> Package:
    """Write a binary-array case of explicit bit operands ``a [m, k]``, ``w [n, k]`` ({0,1}).

    The expected ``y`` is :func:`golden.kernels.binary_matmul`; given ``expected`` (an output
    recorded elsewhere) it must equal ``y`` (:func:`check_expected`, nothing is written
    otherwise). ``op_meta`` names the op (``name``, ``layer``, ``head``...), ``source`` is
    recorded in the manifest.
    """
    a, w = np.asarray(a, dtype=np.uint8), np.asarray(w, dtype=np.uint8)
    (m, k), n = a.shape, w.shape[0]
    cycles = cfg.cycles(m=m, n=n, k=k)  # validates the shape against the array
    y = binary_matmul(a, w, cfg.mode)
    op = _op_record("binary_matmul", "binary_matmul", op_meta, inputs=["a_bits", "w_bits"],
                    outputs=["y"], mode=cfg.mode, m=m, n=n, k=k, packing="bits_lsb_first",
                    acc_bound=[-k, k], acc_bits=cfg.acc_bits, cycles=cycles)
    check_expected(op, y, expected)
    tensors = {"a_bits": pack_bits(a), "w_bits": pack_bits(w), "y": y.astype(np.int64)}
    write_package(path, manifest=_case_manifest(cfg, op, seed=seed, stimulus=stimulus,
                                                source=source), tensors=tensors)
    return read_package(path)


def read_case_config(pkg: Package, cls):
    """The ``cls`` config a case package records (:class:`PackageError` naming the field)."""
    where = pkg.path / "manifest.json"
    data = pkg.manifest.get("config", {})
    if not isinstance(data, dict) or data.get("kind") != cls.kind:
        raise PackageError(f"{where}: field 'config.kind': not a {cls.kind} case")
    try:
        return cls.from_dict(data, source=f"{where}: field 'config'")
    except VitsimError as exc:
        raise PackageError(str(exc)) from None


def load_binary_array_case(pkg: Package):
    """Return ``(cfg, op, a_bits, w_bits, y)`` of a binary-array case, unpacked."""
    cfg = read_case_config(pkg, BinaryArrayCfg)
    op = case_op(pkg, "binary_matmul")
    a = unpack_bits(pkg.tensors["a_bits"], op["k"])
    w = unpack_bits(pkg.tensors["w_bits"], op["k"])
    return cfg, op, a, w, pkg.tensors["y"]


#: Requantiser stimuli: random accumulators, multipliers and biases; the extremes of all
#: three (both clamps); exact ties with ``mult=1, shift=1, bias=0`` (odd accumulators); or
#: ties at any ``mult`` and ``shift`` made by the bias (``tie_bias``), landing near the
#: clamp range so the rounding shows in the outputs.
REQUANT_STIMULI = ("random", "extremes", "ties", "tie_bias")


def check_fits(name: str, values, bits: int, field: str) -> None:
    """Raise :class:`VitsimError` unless every element of ``values`` fits ``bits`` signed:
    ``"<name> must lie in [lo, hi] (<field> <bits>)"``."""
    lo, hi = code_range(bits)
    values = np.asarray(values)
    if values.size and (values.min() < lo or values.max() > hi):
        raise VitsimError(f"{name} must lie in [{lo}, {hi}] ({field} {bits})")


def _lane_param(name: str, value, bits: int, shape) -> np.ndarray:
    """``value`` (int or array) broadcast to ``shape``, checked against ``bits`` signed."""
    lo, hi = code_range(bits)
    try:
        arr = np.broadcast_to(np.asarray(value, dtype=np.int64), shape)
    except ValueError:
        raise VitsimError(f"{name} must broadcast to [beats, lanes] {list(shape)}") from None
    if arr.min() < lo or arr.max() > hi:
        raise VitsimError(f"{name} must lie in [{lo}, {hi}] ({name}_bits), not "
                          f"{int(arr.min()) if arr.min() < lo else int(arr.max())}")
    return arr.copy()


def requant_case(cfg: RequantCfg, path, *, beats: int, shift: int, bits: int, signed: bool,
                 mult=None, bias=None, seed: int = 0, stimulus: str = "random") -> Package:
    """Write a case for :class:`hw.requantizer.Requantizer` to ``path`` and read it back.

    ``acc``, ``mult`` and ``bias`` are ``[beats, lanes]`` (each lane, each beat its own
    multiplier and bias). ``mult``/``bias`` given as an int or an array broadcast to that
    shape; left ``None`` they are drawn by ``stimulus`` (see :data:`REQUANT_STIMULI`):
    ``mult`` over the signed ``mult_bits`` range, ``bias`` within about two output ranges
    (``|bias| < 2**min(bias_bits-1, shift+bits)``) or at its extremes. The expected ``y`` is
    :func:`golden.kernels.requantize` with the clamp range of ``bits``/``signed``.
    """
    if not 2 <= bits <= cfg.out_bits:
        raise VitsimError(f"bits must be between 2 and out_bits ({cfg.out_bits}), not {bits!r}")
    if not isinstance(shift, int) or not 1 <= shift <= 62:
        raise VitsimError(f"shift must be between 1 and 62, not {shift!r}")
    if stimulus not in REQUANT_STIMULI:
        raise VitsimError(f"stimulus must be one of {', '.join(REQUANT_STIMULI)}, "
                          f"not {stimulus!r}")
    cfg.cycles(beats=beats)  # validates beats before drawing
    lo_acc, hi_acc = code_range(cfg.acc_bits)
    lo_m, hi_m = code_range(cfg.mult_bits)
    lo_b, hi_b = code_range(cfg.bias_bits)
    spec = QuantSpec(bits=bits, signed=signed)
    rng = np.random.default_rng(seed)
    shape = (beats, cfg.lanes)
    if stimulus == "ties":  # odd acc with mult=1, shift=1: acc/2 ends in .5 exactly
        if mult != 1 or shift != 1 or bias not in (None, 0):
            raise VitsimError("stimulus 'ties' needs mult=1 and shift=1 (acc/2 exactly .5) "
                              "and no bias")
        bias = 0
        acc = 2 * rng.integers(lo_acc // 2, hi_acc // 2, shape) + 1
    elif stimulus == "extremes":
        acc = rng.choice(np.array([lo_acc, lo_acc + 1, -1, 0, 1, hi_acc - 1, hi_acc]), shape)
        if mult is None:
            mult = rng.choice(np.array([lo_m, lo_m + 1, -1, 0, 1, hi_m]), shape)
        if bias is None:
            bias = rng.choice(np.array([lo_b, -1, 0, 1, hi_b]), shape)
    else:
        acc = rng.integers(lo_acc, hi_acc, shape, endpoint=True)
    if mult is None:
        mult = rng.integers(lo_m, hi_m, shape, endpoint=True)
    mult = _lane_param("mult", mult, cfg.mult_bits, shape)
    if stimulus == "tie_bias":
        if bias is not None:
            raise VitsimError("stimulus 'tie_bias' draws the bias itself; give no bias")
        if shift > cfg.bias_bits - 2:
            raise VitsimError(f"stimulus 'tie_bias' needs shift <= bias_bits - 2 "
                              f"({cfg.bias_bits - 2}), not {shift}")
        prod = acc * mult  # |prod| <= 2**62: int64 holds every step below
        one = np.int64(1 << shift)
        tie = (one // 2 - prod) % one  # prod + tie ends in exactly .5 of a step
        target = rng.integers(spec.lo - 2, spec.hi + 2, shape, endpoint=True)
        steps = target - (prod + tie + one // 2) // one  # output steps the bias adds
        steps = np.clip(steps, lo_b // one, (hi_b - tie) // one)
        bias = tie + steps * one
    elif bias is None:
        reach = 1 << min(cfg.bias_bits - 1, shift + bits)
        bias = rng.integers(-reach, reach, shape)
    bias = _lane_param("bias", bias, cfg.bias_bits, shape)
    return write_requant_case(cfg, path, acc=acc, mult=mult, bias=bias, shift=shift, bits=bits,
                              signed=signed, seed=seed, stimulus=stimulus)


def write_requant_case(cfg: RequantCfg, path, *, acc, mult, bias, shift: int, bits: int,
                       signed: bool, expected=None, op_meta: dict | None = None, seed=0,
                       stimulus: str = EXPLICIT, source: dict | None = None) -> Package:
    """Write a requantiser case of explicit ``acc [beats, lanes]`` (``mult`` and ``bias``
    broadcast to it, each checked against ``mult_bits``/``bias_bits``).

    The expected ``y`` is :func:`golden.kernels.requantize` with the clamp range of
    ``bits``/``signed``; ``expected``, ``op_meta``, ``source`` as
    :func:`write_binary_array_case`.
    """
    if not 2 <= bits <= cfg.out_bits:
        raise VitsimError(f"bits must be between 2 and out_bits ({cfg.out_bits}), not {bits!r}")
    if not isinstance(shift, int) or not 1 <= shift <= 62:
        raise VitsimError(f"shift must be between 1 and 62, not {shift!r}")
    acc = np.asarray(acc, dtype=np.int64)
    if acc.ndim != 2 or acc.shape[1] != cfg.lanes:
        raise VitsimError(f"acc must be [beats, lanes ({cfg.lanes})], not {list(acc.shape)}")
    check_fits("acc", acc, cfg.acc_bits, "acc_bits")
    cycles = cfg.cycles(beats=acc.shape[0])
    mult = _lane_param("mult", mult, cfg.mult_bits, acc.shape)
    bias = _lane_param("bias", bias, cfg.bias_bits, acc.shape)
    spec = QuantSpec(bits=bits, signed=signed)
    y = requantize(acc, mult=mult, shift=shift, lo=spec.lo, hi=spec.hi, bias=bias)
    op = _op_record("requantize", "requantize", op_meta, inputs=["acc", "mult", "bias"],
                    outputs=["y"], beats=acc.shape[0], shift=shift, bits=bits, signed=signed,
                    lo=spec.lo, hi=spec.hi, cycles=cycles)
    check_expected(op, y, expected)
    write_package(path, manifest=_case_manifest(cfg, op, seed=seed, stimulus=stimulus,
                                                source=source),
                  tensors={"acc": acc, "mult": mult, "bias": bias, "y": y.astype(np.int64)})
    return read_package(path)


def load_requant_case(pkg: Package):
    """Return ``(cfg, op, acc, mult, bias, y)`` of a requantiser case (``[beats, lanes]``
    each)."""
    cfg = read_case_config(pkg, RequantCfg)
    t = pkg.tensors
    return cfg, case_op(pkg, "requantize"), t["acc"], t["mult"], t["bias"], t["y"]


#: Residual stimuli: random operands, or their extremes (both saturations when
#: ``out_bits <= in_bits``).
RESIDUAL_STIMULI = ("random", "extremes")


def residual_case(cfg: ResidualCfg, path, *, beats: int, seed: int = 0,
                  stimulus: str = "random") -> Package:
    """Write a case for :class:`hw.residual.ResidualAdd` to ``path`` and read it back.

    ``a`` and ``b`` are ``[beats, lanes]`` over the signed ``in_bits`` range (``extremes``:
    drawn from its ends, zero and one); the expected ``y`` is
    :func:`golden.residual.residual_add` at ``out_bits``.
    """
    if stimulus not in RESIDUAL_STIMULI:
        raise VitsimError(f"stimulus must be one of {', '.join(RESIDUAL_STIMULI)}, "
                          f"not {stimulus!r}")
    cfg.cycles(beats=beats)  # validates beats before drawing
    lo, hi = code_range(cfg.in_bits)
    rng = np.random.default_rng(seed)
    shape = (beats, cfg.lanes)
    if stimulus == "random":
        a, b = (rng.integers(lo, hi, shape, endpoint=True) for _ in range(2))
    else:
        corners = np.array([lo, lo + 1, -1, 0, 1, hi - 1, hi])
        a, b = (rng.choice(corners, shape) for _ in range(2))
    return write_residual_case(cfg, path, a=a, b=b, seed=seed, stimulus=stimulus)


def write_residual_case(cfg: ResidualCfg, path, *, a, b, expected=None,
                        op_meta: dict | None = None, seed=0, stimulus: str = EXPLICIT,
                        source: dict | None = None) -> Package:
    """Write a residual case of explicit operands ``a, b [beats, lanes]`` (signed
    ``in_bits``); the expected ``y`` is :func:`golden.residual.residual_add` at ``out_bits``;
    ``expected``, ``op_meta``, ``source`` as :func:`write_binary_array_case`."""
    a, b = np.asarray(a, dtype=np.int64), np.asarray(b, dtype=np.int64)
    if a.shape != b.shape or a.ndim != 2 or a.shape[1] != cfg.lanes:
        raise VitsimError(f"a and b must both be [beats, lanes ({cfg.lanes})], not "
                          f"{list(a.shape)} and {list(b.shape)}")
    check_fits("a and b", np.stack([a, b]), cfg.in_bits, "in_bits")
    cycles = cfg.cycles(beats=a.shape[0])
    y = residual_add(a, b, out_bits=cfg.out_bits)
    op = _op_record("residual_add", "residual_add", op_meta, inputs=["a", "b"], outputs=["y"],
                    beats=a.shape[0], in_bits=cfg.in_bits, out_bits=cfg.out_bits,
                    cycles=cycles)
    check_expected(op, y, expected)
    write_package(path, manifest=_case_manifest(cfg, op, seed=seed, stimulus=stimulus,
                                                source=source),
                  tensors={"a": a, "b": b, "y": y.astype(np.int64)})
    return read_package(path)


def load_residual_case(pkg: Package):
    """Return ``(cfg, op, a, b, y)`` of a residual case (``[beats, lanes]`` each)."""
    cfg = read_case_config(pkg, ResidualCfg)
    t = pkg.tensors
    return cfg, case_op(pkg, "residual_add"), t["a"], t["b"], t["y"]


def _operand_range(bits: int, signed: bool) -> tuple[int, int]:
    return (-(1 << (bits - 1)), (1 << (bits - 1)) - 1) if signed else (0, (1 << bits) - 1)


def mac_array_case(cfg: MacArrayCfg, path, *, m: int, n: int, k: int, w_bits: int,
                   a_bits: int, a_signed: bool, w_signed: bool = True, seed: int = 0,
                   stimulus: str = "random") -> Package:
    """Write a case for :class:`hw.mac_array.MacArray` to ``path`` and read it back.

    Operands are two's complement (a signed operand needs at least 2 bits; 1-bit {-1,+1}
    products belong to the binary array). ``a`` and ``w`` are stored packed at their widths
    (:func:`golden.bitpack.pack_int`); ``y`` is :func:`golden.kernels.int_matmul`. Stimuli:
    ``random``, or ``max``/``min`` (the operand corners that reach the accumulator bound).
    """
    cfg.cycles(m=m, n=n, k=k, w_bits=w_bits, a_bits=a_bits)  # validates before drawing
    a_lo, a_hi = _operand_range(a_bits, a_signed)
    w_lo, w_hi = _operand_range(w_bits, w_signed)
    rng = np.random.default_rng(seed)
    if stimulus == "random":
        a = rng.integers(a_lo, a_hi, (m, k), endpoint=True)
        w = rng.integers(w_lo, w_hi, (n, k), endpoint=True)
    elif stimulus in ("max", "min"):  # the corner products that set dot_bound
        corners = [(x, y) for x in (a_lo, a_hi) for y in (w_lo, w_hi)]
        pick = max if stimulus == "max" else min
        x, y = pick(corners, key=lambda c: c[0] * c[1])
        a, w = np.full((m, k), x), np.full((n, k), y)
    else:
        raise VitsimError(f"stimulus must be one of random, max, min, not {stimulus!r}")
    return write_mac_array_case(cfg, path, a=a, w=w, w_bits=w_bits, a_bits=a_bits,
                                a_signed=a_signed, w_signed=w_signed, seed=seed,
                                stimulus=stimulus)


def write_mac_array_case(cfg: MacArrayCfg, path, *, a, w, w_bits: int, a_bits: int,
                         a_signed: bool, w_signed: bool = True, expected=None,
                         op_meta: dict | None = None, seed=0, stimulus: str = EXPLICIT,
                         source: dict | None = None) -> Package:
    """Write a MAC-array case of explicit codes ``a [m, k]``, ``w [n, k]`` at the given widths.

    The expected ``y`` is :func:`golden.kernels.int_matmul` (which checks every operand
    against its width); ``expected``, ``op_meta``, ``source`` as
    :func:`write_binary_array_case`.
    """
    for name, bits, sgn in (("w_bits", w_bits, w_signed), ("a_bits", a_bits, a_signed)):
        if bits == 1 and sgn:
            raise VitsimError(f"{name}=1 must be unsigned on the MAC array (two's complement)")
    a, w = np.asarray(a, dtype=np.int64), np.asarray(w, dtype=np.int64)
    (m, k), n = a.shape, w.shape[0]
    cycles = cfg.cycles(m=m, n=n, k=k, w_bits=w_bits, a_bits=a_bits)
    y = int_matmul(a, w, a_bits=a_bits, a_signed=a_signed, w_bits=w_bits, w_signed=w_signed,
                   acc_bits=cfg.acc_bits)
    op = _op_record("int_matmul", "int_matmul", op_meta, inputs=["a", "w"], outputs=["y"],
                    m=m, n=n, k=k, w_bits=w_bits, a_bits=a_bits, w_signed=w_signed,
                    a_signed=a_signed, packing="int_lsb_first", acc_bits=cfg.acc_bits,
                    cycles=cycles)
    check_expected(op, y, expected)
    tensors = {"a": pack_int(a, a_bits, signed=a_signed), "w": pack_int(w, w_bits,
                                                                        signed=w_signed),
               "y": y.astype(np.int64)}
    write_package(path, manifest=_case_manifest(cfg, op, seed=seed, stimulus=stimulus,
                                                source=source), tensors=tensors)
    return read_package(path)


def load_mac_array_case(pkg: Package):
    """Return ``(cfg, op, a, w, y)`` of a MAC-array case, operands unpacked."""
    cfg = read_case_config(pkg, MacArrayCfg)
    op = case_op(pkg, "int_matmul")
    a = unpack_int(pkg.tensors["a"], op["k"], op["a_bits"], signed=op["a_signed"])
    w = unpack_int(pkg.tensors["w"], op["k"], op["w_bits"], signed=op["w_signed"])
    return cfg, op, a, w, pkg.tensors["y"]


def _verify_mac(pkg: Package):
    cfg, op, a, w, y = load_mac_array_case(pkg)
    return op, int_matmul(a, w, a_bits=op["a_bits"], a_signed=op["a_signed"],
                          w_bits=op["w_bits"], w_signed=op["w_signed"],
                          acc_bits=cfg.acc_bits), y


def _verify_binary(pkg: Package):
    cfg, op, a, w, y = load_binary_array_case(pkg)
    return op, binary_matmul(a, w, cfg.mode), y


def _verify_requant(pkg: Package):
    _, op, acc, mult, bias, y = load_requant_case(pkg)
    return op, requantize(acc, mult=mult, shift=op["shift"], lo=op["lo"], hi=op["hi"],
                          bias=bias), y


def _verify_residual(pkg: Package):
    cfg, op, a, b, y = load_residual_case(pkg)
    return op, residual_add(a, b, out_bits=cfg.out_bits), y


register_unit(UnitSpec(
    kind=BinaryArrayCfg.kind, config=BinaryArrayCfg, kernel=binary_matmul,
    payload=BINARY_ARRAY_PAYLOAD, op_kinds=("binary_matmul",),
    slots={"binary_xnor": 3, "binary_and": 4}, top="binary_array",
    example={"rows": 8, "cols": 64, "mode": "xnor", "max_k": 512},
    case=binary_array_case, write_case=write_binary_array_case, verify=_verify_binary))
register_unit(UnitSpec(
    kind=MacArrayCfg.kind, config=MacArrayCfg, kernel=int_matmul, payload=MAC_ARRAY_PAYLOAD,
    op_kinds=("patch_matmul", "int_matmul", "int_bmm", "group_matmul"), slots={"mac": 5},
    top="mac_array", example={"rows": 4, "cols": 16, "max_k": 256},
    case=mac_array_case, write_case=write_mac_array_case, verify=_verify_mac))
register_unit(UnitSpec(
    kind=RequantCfg.kind, config=RequantCfg, kernel=requantize, payload=REQUANT_PAYLOAD,
    op_kinds=("requant",), slots={"requant": 6}, top="requantizer",
    example={"lanes": 4, "acc_bits": 24, "out_bits": 8},
    case=requant_case, write_case=write_requant_case, verify=_verify_requant))
register_unit(UnitSpec(
    kind=ResidualCfg.kind, config=ResidualCfg, kernel=residual_add, payload=RESIDUAL_PAYLOAD,
    op_kinds=("add",), slots={"residual": 7}, top="residual",
    example={"lanes": 16, "in_bits": 16, "out_bits": 16},
    case=residual_case, write_case=write_residual_case, verify=_verify_residual))
