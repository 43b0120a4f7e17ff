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

The unit that computes an op is the registry's (:attr:`golden.unit_spec.UnitSpec.op_kinds`);
its cutter, which sizes the config and picks the operands, is in the unit's own file
``golden/casemakers/<unit kind>.py`` (:func:`golden.casemakers.cutter`). Ops that only
move data (:data:`NO_UNIT`) are not cut.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from golden.casemakers import CutError, load
from golden.netpkg import NetworkData, read_network
from golden.netspec import Op
from golden.package import Package
from golden.unit_spec import attached
from golden.units import unit_for_op

__all__ = ["NO_UNIT", "PER_HEAD", "CutError", "cut_network", "cut_op", "network_source"]

#: Op kinds that only move data: no unit computes them, so they are not cut.
NO_UNIT = frozenset({"split_heads", "to_heads", "merge_heads", "prepend", "take_token"})
#: Op kinds cut one head at a time (``head=None`` means head 0).
PER_HEAD = frozenset({"int_bmm", "gsb_av"})

load()  # every unit's cutter (golden/casemakers/<unit kind>.py)


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
        return attached(spec.kind, "cutter")(net, op, image, head, Path(out), common)
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
