"""Cut a network package into unit cases: one op of a trained model -> the case of its unit.

A network package (:mod:`golden.netpkg`) records every op's inputs and outputs for each
image. :func:`cut_op` takes one op, one image (and, for per-head ops, one head) and writes
the golden case of the hardware unit that computes it, so the unit's cocotb bench runs on a
trained model's real operands instead of drawn ones. The unit config is sized to the op:
lanes (at most 8), rows (at most 4) and columns (at most 16 binary, 32 MAC) are the largest
that divide its shape, buffer and reduction lengths are the op's, and widths come from the
op and its declared tensor widths, rounded up to a multiple of 8 bits (of 16 for biases) so
that ops of one network share a few configs (each config is one Verilog build). The case's
expected output is recomputed by the unit's golden
kernel and must equal the network's recorded output (``==``); otherwise nothing is written
and :class:`golden.errors.VitsimError` names the op. The case manifest records ``source``:
the network package (path, ``manifest_sha256``, seed, model name), the op, its kind, layer,
head and image, and the case's op record carries the network op's name, layer and head, so
a mismatch report names them.

======================================  =====================================================
network op kind                         unit (config kind): operands of the case
======================================  =====================================================
binary_matmul                           binary_array: ``a [m, k]``, weights (or one head's
                                        ``k``) ``[n, k]``
patch_matmul, int_matmul, int_bmm,      mac_array: im2col patches / rows / one head's
group_matmul (equal multipliers of 1)   operands (``v`` transposed), widths from the op
requant                                 requant: per-lane mult and bias, one shift, the
                                        clamp as ``bits``/signed (at most 16 bits)
add                                     residual
layernorm                               layernorm: rows of ``dim``
softmax                                 softmax: rows of logits ``<< in_shift``
gelu                                    gelu: with the op's ``clip``
threshold                               threshold: per-lane theta (clamped) and flip
gsb_value_planes, gsb_attn_planes       gsb_encoder: the whole image (per-image max/min)
gsb_av                                  gsb_av: one head
split_heads, to_heads, merge_heads,     none (data movement): :data:`NO_UNIT`
prepend, take_token
======================================  =====================================================
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np

from golden.cases import (
    write_binary_array_case,
    write_mac_array_case,
    write_requant_case,
    write_residual_case,
)
from golden.errors import VitsimError
from golden.kernels import clamp_width, grid_width, signed_bits
from golden.netpkg import NetworkData, read_network
from golden.netspec import Op
from golden.network import im2col, softmax_params_of
from golden.package import Package
from golden.spec import BinaryArrayCfg, ConfigError, MacArrayCfg, RequantCfg, ResidualCfg
from golden.units import unit_for_op

__all__ = ["NO_UNIT", "PER_HEAD", "CutError", "cut_network", "cut_op", "network_source"]

#: Op kinds that only move data: no unit computes them, so they are not cut.
NO_UNIT = frozenset({"split_heads", "to_heads", "merge_heads", "prepend", "take_token"})
#: Op kinds cut one head at a time (``head=None`` means head 0).
PER_HEAD = frozenset({"int_bmm", "gsb_av"})
#: Unit kind -> ``cut(net, op, image, head, path, common)`` writing that unit's case; the
#: op kinds each unit serves come from the registry (:func:`golden.units.unit_for_op`).
_CUTTERS: dict = {}
_CAPS = {"binary_rows": 4, "binary_cols": 16, "mac_rows": 4, "mac_cols": 32, "lanes": 8}


def _cutter(kind: str):
    """Register the decorated function as the cutter of unit ``kind``."""
    def deco(fn):
        _CUTTERS[kind] = fn
        return fn
    return deco


class CutError(VitsimError):
    """An op has no hardware unit, or its operands do not fit any config of its unit."""


class _Net(NetworkData):
    """A decoded network package with its ops by name and its provenance."""

    def __init__(self, pkg: Package):
        super().__init__(pkg)
        self.by_name = {op.name: op for op in self.ops}
        self.source = network_source(pkg)

    def op(self, name: str) -> Op:
        if name not in self.by_name:
            raise CutError(f"{self.pkg.path}: no op named {name!r}")
        return self.by_name[name]


def network_source(pkg: Package) -> dict:
    """Provenance of cases cut from ``pkg``: its path, the sha256 of its manifest file, its
    seed and its model's name."""
    digest = hashlib.sha256((pkg.path / "manifest.json").read_bytes()).hexdigest()
    model = pkg.manifest.get("model") or {}
    return {"package": str(pkg.path), "manifest_sha256": digest,
            "seed": pkg.manifest.get("seed"), "model": model.get("name")}


def _divisor(n: int, cap: int) -> int:
    """The largest divisor of ``n`` that is at most ``cap``."""
    return max(d for d in range(1, min(n, cap) + 1) if n % d == 0)


def _config(op: Op, cls, **fields):
    try:
        return cls(**fields)
    except (ConfigError, TypeError, ValueError) as exc:
        raise CutError(f"op {op.name!r}: no {cls.kind} config fits it ({exc})") from None


def _head_slice(op: Op, arr: np.ndarray, head) -> np.ndarray:
    """``arr[head]`` of a ``[H, ...]`` image tensor (elementwise ops), or all of it."""
    if head is None:
        return arr
    if arr.ndim < 3 or not 0 <= head < arr.shape[0]:
        raise CutError(f"op {op.name!r}: no head {head} in a tensor of shape "
                       f"{list(arr.shape)}")
    return arr[head]


def _no_head(op: Op, head) -> None:
    if head is not None:
        raise CutError(f"op {op.name!r}: its tensors have no heads; cut it without one")


def _lanes(op, arrays, head, cap=_CAPS["lanes"]):
    """Image tensors (broadcast to the first one, head-sliced) as ``[beats, lanes]``."""
    shape = arrays[0].shape
    full = [np.broadcast_to(np.asarray(a), shape) for a in arrays]
    full = [_head_slice(op, a, head) for a in full]
    lanes = _divisor(full[0].size, cap)  # elementwise: lanes may span rows
    return lanes, [a.reshape(-1, lanes) for a in full]


# ---------------------------------------------------------------- one cutter per op kind


@_cutter("binary_array")
def _binary(net, op, image, head, path, common):
    a, w = (net.get(n, image) for n in op.inputs)
    y = net.get(op.outputs[0], image)
    if a.ndim == 3:  # per head: q @ k^T
        head = 0 if head is None else head
        a, y = a[head], y[head]
        w = w[head] if w.ndim == 3 else w
    else:
        _no_head(op, head)
    k, n = a.shape[1], w.shape[0]
    cfg = _config(op, BinaryArrayCfg, rows=_divisor(n, _CAPS["binary_rows"]),
                  cols=_divisor(k, _CAPS["binary_cols"]), mode=op.mode, max_k=k)
    return write_binary_array_case(cfg, path, a=a, w=w, expected=y, **common(head))


def _per_head_bits(bits, head: int) -> int:
    return int(bits) if np.ndim(bits) == 0 else int(bits[head])


@_cutter("mac_array")
def _mac(net, op, image, head, path, common):
    kind, y = op.kind, net.get(op.outputs[0], image)
    a_signed, w_signed = True, True
    if kind == "patch_matmul":
        _no_head(op, head)
        a = im2col(net.get(op.inputs[0], image)[None], op.patch)[0]
        w = net.get(op.inputs[1], image)
        a_bits, w_bits = op.a_bits, op.w_bits
    elif kind == "int_bmm":
        head = 0 if head is None else head
        a, b = (net.get(n, image)[head] for n in op.inputs)
        w, y = (b if op.trans_b else b.T), y[head]
        a_bits, w_bits = (_per_head_bits(getattr(op, f), head) for f in ("a_bits", "b_bits"))
        a_signed, w_signed = op.a_signed, op.b_signed
    else:
        _no_head(op, head)
        a, w = net.get(op.inputs[0], image), net.get(op.inputs[1], image)
        a_bits, w_bits = op.a_bits, op.w_bits
        if kind == "group_matmul":
            gmult = net.get(op.inputs[2], image)
            if not (np.all(gmult == 1) and np.ndim(a_bits) == 0 and np.ndim(w_bits) == 0):
                raise CutError(f"op {op.name!r}: group multipliers {gmult.tolist()} or "
                               f"per-group widths: no unit weights a grouped reduction")
            a_signed, w_signed = op.a_signed, op.w_signed
    a = a.reshape(-1, a.shape[-1])
    y = y.reshape(a.shape[0], -1)
    k, n = a.shape[1], w.shape[0]
    cfg = _config(op, MacArrayCfg, rows=_divisor(n, _CAPS["mac_rows"]),
                  cols=_divisor(k, _CAPS["mac_cols"]), digit_bits=2,
                  max_bits=grid_width(max(a_bits, w_bits), 16), max_k=k)
    return write_mac_array_case(cfg, path, a=a, w=w, w_bits=w_bits, a_bits=a_bits,
                                      a_signed=a_signed, w_signed=w_signed, expected=y,
                                      **common(head))


def _clamp_bits(op: Op, lo, hi) -> tuple[int, bool]:
    """``(bits, signed)`` whose full range is the op's single clamp ``[lo, hi]``."""
    lo, hi = np.unique(np.asarray(lo)), np.unique(np.asarray(hi))
    if lo.size != 1 or hi.size != 1:
        raise CutError(f"op {op.name!r}: its clamps differ across the cut (cut one head); "
                       f"the requantiser takes one output width a beat")
    lo, hi = int(lo[0]), int(hi[0])
    width = clamp_width(lo, hi)
    if width is None:
        raise CutError(f"op {op.name!r}: clamp [{lo}, {hi}] is not the range of a width")
    return width


@_cutter("requant")
def _requant(net, op, image, head, path, common):
    x, mult, bias = (net.get(n, image) for n in op.inputs)
    y = _head_slice(op, net.get(op.outputs[0], image), head)
    lanes, (acc, mult, bias, lo, hi) = _lanes(op, [x, mult, bias, op.lo, op.hi], head)
    bits, signed = _clamp_bits(op, lo, hi)
    cfg = _config(op, RequantCfg, lanes=lanes, acc_bits=grid_width(net.width(op.inputs[0]), 32),
                  out_bits=grid_width(bits, 31), mult_bits=grid_width(signed_bits(mult), 32),
                  bias_bits=grid_width(signed_bits(bias), 60, 16))
    return write_requant_case(cfg, path, acc=acc, mult=mult, bias=bias,
                                    shift=op.shift, bits=bits, signed=signed,
                                    expected=y.reshape(acc.shape), **common(head))


@_cutter("residual")
def _add(net, op, image, head, path, common):
    y = net.get(op.outputs[0], image)
    a, b = (net.get(n, image) for n in op.inputs)
    lanes, (y, a, b) = _lanes(op, [y, a, b], head)
    in_bits = grid_width(max(net.width(n) for n in op.inputs), 32)
    cfg = _config(op, ResidualCfg, lanes=lanes, in_bits=in_bits, out_bits=op.out_bits)
    return write_residual_case(cfg, path, a=a, b=b, expected=y, **common(head))


@_cutter("layernorm")
def _layernorm(net, op, image, head, path, common):
    from golden.cases_layernorm import LayerNormCfg, write_layernorm_case

    _no_head(op, head)
    dim = op.dim
    x = net.get(op.inputs[0], image).reshape(-1, dim)
    y = net.get(op.outputs[0], image).reshape(-1, dim)
    cfg = _config(op, LayerNormCfg, dim=dim, in_bits=grid_width(net.width(op.inputs[0]), 16))
    return write_layernorm_case(cfg, path, x=x, expected=y, **common(None))


@_cutter("softmax")
def _softmax(net, op, image, head, path, common):
    from golden.cases_softmax import SoftmaxCfg, write_softmax_case

    x = _head_slice(op, net.get(op.inputs[0], image), head)
    y = _head_slice(op, net.get(op.outputs[0], image), head)
    row_len = x.shape[-1]
    x = x.reshape(-1, row_len) << op.in_shift
    p = softmax_params_of(op)
    x_bits = grid_width(net.width(op.inputs[0]) + op.in_shift, 32)
    try:
        cfg = SoftmaxCfg.fitting([p], max_len=row_len, x_bits=x_bits, out_bits=p.out_bits)
    except (ConfigError, TypeError, ValueError) as exc:
        raise CutError(f"op {op.name!r}: no softmax config fits it ({exc})") from None
    if cfg is None:
        raise CutError(f"op {op.name!r}: its softmax constants fit no softmax config")
    return write_softmax_case(cfg, path, x=x, params=p, expected=y.reshape(x.shape),
                                    **common(head))


@_cutter("gelu")
def _gelu(net, op, image, head, path, common):
    from golden.cases_gelu import GeluCfg, write_gelu_case
    from golden.network import gelu_params_of

    x, y = net.get(op.inputs[0], image), net.get(op.outputs[0], image)
    lanes, (x, y) = _lanes(op, [x, y], head)
    cfg = _config(op, GeluCfg, lanes=lanes, in_bits=grid_width(net.width(op.inputs[0]), 24))
    try:
        cfg.check_params(gelu_params_of(op), op.clip)
    except VitsimError as exc:
        raise CutError(f"op {op.name!r}: no gelu config fits it ({exc})") from None
    return write_gelu_case(cfg, path, x=x, params=gelu_params_of(op), clip=op.clip,
                                 expected=y, **common(head))


@_cutter("threshold")
def _threshold(net, op, image, head, path, common):
    from golden.cases_threshold import ThresholdCfg, clamp_theta, write_threshold_case

    x, theta, flip = (net.get(n, image) for n in op.inputs)
    y = net.get(op.outputs[0], image)
    lanes, (x, theta, flip, y) = _lanes(op, [x, theta, flip, y], head)
    cfg = _config(op, ThresholdCfg, lanes=lanes, x_bits=grid_width(net.width(op.inputs[0]), 32))
    return write_threshold_case(cfg, path, x=x, theta=clamp_theta(cfg, theta),
                                      flip=flip, expected=y, **common(head))


@_cutter("gsb_encoder")
def _encoder(net, op, image, head, path, common):
    from golden.cases_gsb import GsbEncoderCfg, write_gsb_encoder_case

    if head is not None:
        raise CutError(f"op {op.name!r}: GSB planes use the whole image's max/min; cut it "
                       f"without a head")
    x = net.get(op.inputs[0], image)
    outs = [net.tensors[o] for o in op.outputs]
    if op.kind == "gsb_value_planes":
        planes = np.concatenate([outs[0][image][None], outs[1][:, image]])
    else:
        planes = outs[0][:, image]
    lanes = _divisor(x.shape[-1], _CAPS["lanes"])
    cfg = _config(op, GsbEncoderCfg, lanes=lanes, x_bits=grid_width(net.width(op.inputs[0]), 32),
                  max_elems=int(x.size), ratios=tuple(tuple(r) for r in op.ratios))
    mode = "value" if op.kind == "gsb_value_planes" else "attn"
    theta = int(op.params.get("base_theta") or 0)
    return write_gsb_encoder_case(cfg, path, x=x[None], mode=mode, theta=theta,
                                        expected=planes[:, None], **common(None))


@_cutter("gsb_av")
def _gsb_av(net, op, image, head, path, common):
    from golden.cases_gsb import GsbAvCfg, write_gsb_av_case

    head = 0 if head is None else head
    planes, sign, masks, weights = (net.tensors[n] for n in op.inputs)
    a, sign, masks = planes[:, image, head], sign[image, head], masks[:, image, head]
    y = net.get(op.outputs[0], image)[head]
    n, d = sign.shape
    cfg = _config(op, GsbAvCfg, lanes=_divisor(d, _CAPS["lanes"]), max_n=n, max_d=d,
                  a_planes=weights.shape[0], v_planes=weights.shape[1],
                  w_bits=grid_width(signed_bits(weights), 16))
    return write_gsb_av_case(cfg, path, a_planes=a, v_sign=sign, v_masks=masks,
                                   weights=weights, expected=y, **common(head))


def _cut(net: _Net, op: Op, out, *, image: int, head) -> Package:
    if op.kind in NO_UNIT:
        raise CutError(f"op {op.name!r}: {op.kind} only moves data; no unit computes it")
    spec = unit_for_op(op.kind)
    if spec is None:
        raise CutError(f"op {op.name!r}: no unit computes kind {op.kind!r}")
    if not isinstance(image, int) or not 0 <= image < net.images():
        raise CutError(f"image must be between 0 and {net.images() - 1}, not {image!r}")
    if head is not None and (not isinstance(head, int) or head < 0):
        raise CutError(f"head must be a non-negative integer or None, not {head!r}")

    def common(cut_head):
        source = {**net.source, "op": op.name, "kind": op.kind, "layer": op.layer,
                  "head": cut_head, "image": image}
        meta = {"name": op.name, "layer": op.layer, "head": cut_head}
        return {"op_meta": meta, "source": source, "seed": net.source["seed"],
                "stimulus": "network"}

    try:
        return _CUTTERS[spec.kind](net, op, image, head, Path(out), common)
    except IndexError:
        raise CutError(f"op {op.name!r}: no head {head} in its tensors") from None


def cut_op(pkg: Package, op_name: str, out, *, image: int = 0, head: int | None = None
           ) -> Package:
    """Write the unit case of op ``op_name`` of network package ``pkg`` to ``out``.

    Parameters
    ----------
    pkg : Package
        A network package (:func:`golden.netpkg.read_network`).
    op_name : str
        The op to cut; its kind picks the unit (see the module table).
    out : path
        Case directory to write (atomically).
    image : int
        Which recorded image's operands to take.
    head : int or None
        For per-head ops (:data:`PER_HEAD`, ``binary_matmul`` on ``q @ k^T``) the head
        (``None``: head 0); for elementwise ops on ``[H, ...]`` tensors, restrict the case
        to that head (``None``: every head).

    Returns
    -------
    Package
        The case, read back; ``manifest["source"]`` names the network, op, layer, head and
        image.

    Raises
    ------
    CutError
        The op only moves data, or does not fit its unit (e.g. a requantiser wider than 31
        bits), or ``image``/``head`` is out of range.
    VitsimError
        The network's recorded output differs from the unit's golden kernel (naming the op);
        nothing is written.
    """
    net = _Net(pkg)
    return _cut(net, net.op(op_name), out, image=image, head=head)


def _dirname(name: str, head) -> str:
    safe = "".join(c if c.isalnum() or c in "._-" else "_" for c in name)
    return safe if head is None else f"{safe}.h{head}"


def cut_network(pkg: Package | str | Path, out_dir, *, image: int = 0, layers=None,
                heads=None) -> list[tuple[str, Path]]:
    """Cut every op of ``pkg`` that a unit computes into ``out_dir/<op name>[.h<head>]``.

    ``layers`` (a collection of layer indices, ``None`` for the ops outside blocks) keeps
    only those ops; ``None`` keeps all. ``heads``: the heads cut for per-head ops (default
    ``[0]``); a head past the network's heads, or any head when no op is cut per head,
    raises :class:`CutError` before anything is written, as does an ``image`` out of
    range. Ops that only move data are left out; ops that fit no config of their unit
    are listed with the reason in ``out_dir/index.json`` (beside the cases). Returns
    ``[(op name, case path)]`` in network order; a recorded output that differs from its
    kernel raises (see :func:`cut_op`).
    """
    pkg = pkg if isinstance(pkg, Package) else read_network(pkg)
    net, out_dir = _Net(pkg), Path(out_dir)
    if not isinstance(image, int) or not 0 <= image < net.images():
        raise CutError(f"image must be between 0 and {net.images() - 1}, not {image!r}")

    def per_head(op):
        return op.kind in PER_HEAD or (
            op.kind == "binary_matmul" and net.get(op.inputs[0], image).ndim == 3)

    counts = {int(net.get(op.outputs[0], image).shape[0]) for op in net.ops
              if op.kind not in NO_UNIT and per_head(op)}
    for head in heads or []:  # a head no op has would only be skipped everywhere
        if not counts:
            raise CutError(f"head {head!r}: no op of {pkg.path} is cut per head")
        if type(head) is not int or not 0 <= head < max(counts):
            raise CutError(f"head must be between 0 and {max(counts) - 1} (the network's "
                           f"heads), not {head!r}")
    cases, skipped = [], []
    for op in net.ops:
        if op.kind in NO_UNIT or (layers is not None and op.layer not in layers):
            continue
        for head in (list(heads or [0]) if per_head(op) else [None]):
            path = out_dir / _dirname(op.name, head)
            try:
                _cut(net, op, path, image=image, head=head)
            except CutError as exc:
                skipped.append({"op": op.name, "kind": op.kind, "reason": str(exc)})
                continue
            cases.append((op.name, path))
    out_dir.mkdir(parents=True, exist_ok=True)
    index = {"source": net.source, "image": image,
             "cases": [{"op": name, "case": path.name} for name, path in cases],
             "skipped": skipped}
    (out_dir / "index.json").write_text(json.dumps(index, indent=2, sort_keys=True) + "\n")
    return cases
