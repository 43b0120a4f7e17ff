"""The typed integer network: :class:`Op` records and the :class:`Network` they form.

A network package (:mod:`golden.netpkg`) stores its ops as JSON objects in the manifest's
``ops`` list; :meth:`Op.from_dict` reads one and :meth:`Op.to_dict` gives back exactly
the same object (same keys, same values), so a package written from :class:`Op` records
is byte-identical to one written from the plain records. numpy-free and import-free: every
layer may use it.

Design: the fields every op kind has (``kind``, ``name``, ``inputs``, ``outputs``,
``layer``, ``head``) are dataclass attributes; the kind-specific fields (``shift``,
``lo``/``hi``, ``mode``, ``num_heads``, ``ratios``, the softmax and GELU constants...)
are one read-only mapping, :attr:`Op.params`, also readable as attributes
(``op.shift``; a missing one is an :class:`AttributeError` naming the op, its kind and the
field). Per-kind subclasses were weighed and not taken: the exporters add fields per model
family (a Q-ViT requant carries its quantiser's ``q_scale``/``q_bits``..., a head-wise
matmul ``w_head_bits``), which the tools pass through untouched; a class per kind would
have to restate every exporter's optional fields, and a new exporter field would become a
change of the reader. The kernels that read a field name it once (``op.shift``), and an
absent field fails there with the op's name.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from golden.errors import VitsimError

__all__ = ["COMMON", "Network", "Op", "as_op"]

#: The op record fields every kind has, in :class:`Op` attribute order.
COMMON = ("kind", "name", "inputs", "outputs", "layer", "head")
_REQUIRED = ("kind", "name", "inputs", "outputs")


@dataclass(frozen=True, eq=True)
class Op:
    """One op of an integer network.

    Parameters
    ----------
    kind : str
        The op kind (:data:`golden.network.OPS`).
    name : str
        Unique within the network.
    inputs, outputs : tuple of str
        Environment tensor names read and written.
    layer : int or None
        Encoder block index (``None``: outside the blocks).
    head : object
        The exporter's head record (``None`` in every exporter so far).
    params : mapping
        The kind-specific fields, by name (JSON values as stored).
    """

    kind: str
    name: str
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    layer: int | None = None
    head: Any = None
    params: Mapping[str, Any] = field(default_factory=dict)
    # which of layer/head the record had: a record without them round-trips without them
    _present: frozenset = field(default=frozenset({"layer", "head"}), repr=False,
                                compare=False)

    def __post_init__(self):
        object.__setattr__(self, "inputs", tuple(self.inputs))
        object.__setattr__(self, "outputs", tuple(self.outputs))
        object.__setattr__(self, "params", MappingProxyType(dict(self.params)))

    def __getattr__(self, key: str):
        if key.startswith("_") or key == "params":
            raise AttributeError(key)
        try:
            return self.params[key]
        except KeyError:
            raise AttributeError(f"op {self.name!r} ({self.kind}) has no field {key!r}") from None

    def to_dict(self) -> dict:
        """The plain JSON record, exactly as :meth:`from_dict` read it."""
        out = {"name": self.name, "kind": self.kind}
        for key in ("layer", "head"):
            if key in self._present:
                out[key] = getattr(self, key)
        out |= {"inputs": list(self.inputs), "outputs": list(self.outputs), **self.params}
        return out

    @classmethod
    def from_dict(cls, data: Mapping, *, source: str = "op") -> Op:
        """The op of plain record ``data`` (:class:`VitsimError` naming ``source`` and the
        field when a required one is missing or not of its type)."""
        if not isinstance(data, Mapping):
            raise VitsimError(f"{source}: an op must be an object, not {type(data).__name__}")
        for key in _REQUIRED:
            if key not in data:
                raise VitsimError(f"{source}: field {key!r} missing")
        for key in ("kind", "name"):
            if not isinstance(data[key], str):
                raise VitsimError(f"{source}: field {key!r} must be a string")
        for key in ("inputs", "outputs"):
            if (not isinstance(data[key], (list, tuple))
                    or not all(isinstance(x, str) for x in data[key])):
                raise VitsimError(f"{source}: field {key!r} must be a list of names")
        return cls(kind=data["kind"], name=data["name"], inputs=data["inputs"],
                   outputs=data["outputs"], layer=data.get("layer"), head=data.get("head"),
                   params={k: v for k, v in data.items() if k not in COMMON},
                   _present=frozenset(k for k in ("layer", "head") if k in data))

    def with_params(self, **changes) -> Op:
        """A copy with kind-specific fields changed or added."""
        return Op(self.kind, self.name, self.inputs, self.outputs, self.layer, self.head,
                  {**self.params, **changes}, self._present)


def as_op(op: Op | Mapping, *, source: str = "op") -> Op:
    """``op`` itself, or the :class:`Op` of a plain record."""
    return op if isinstance(op, Op) else Op.from_dict(op, source=source)


@dataclass(frozen=True)
class Network:
    """The ops of an integer network, in program order (the ``ops`` of a package)."""

    ops: tuple[Op, ...]

    def __post_init__(self):
        object.__setattr__(self, "ops", tuple(self.ops))
        names = [op.name for op in self.ops]
        if len(set(names)) != len(names):
            dup = next(n for n in names if names.count(n) > 1)
            raise VitsimError(f"ops: name {dup!r} is used twice")

    def __iter__(self) -> Iterator[Op]:
        return iter(self.ops)

    def __len__(self) -> int:
        return len(self.ops)

    def by_name(self) -> dict[str, Op]:
        """Every op by name."""
        return {op.name: op for op in self.ops}

    def to_list(self) -> list[dict]:
        """The plain records (the manifest's ``ops``)."""
        return [op.to_dict() for op in self.ops]

    @classmethod
    def from_list(cls, records, *, source: str = "ops") -> Network:
        """The network of plain records (errors name ``source[i]``)."""
        if not isinstance(records, (list, tuple)):
            raise VitsimError(f"{source}: must be a list of ops")
        return cls(tuple(as_op(r, source=f"{source}[{i}]") for i, r in enumerate(records)))
