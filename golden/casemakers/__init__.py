"""How a unit's case is made from outside its own writer, one file per unit:
``golden/casemakers/<unit kind>.py`` holds the unit's cutter (:func:`cutter`: one op of a
network package -> the unit's case, :mod:`golden.cut`) and its ``vitsim golden`` flags
(:func:`case_flags`: the command line -> the arguments of the unit's seeded case writer,
:attr:`golden.unit_spec.UnitSpec.case`).

The modules are found by their place, not listed: :func:`load` imports every module of
this folder (:mod:`golden.cut` and :func:`case_flags_of` call it), and the cross-layer
check (:func:`sim.registry_check.layer_gaps`) names the unit whose file lacks a part.
Adding a unit: its file here, no import line. The helpers below are shared by the cutters.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType, SimpleNamespace

import numpy as np

from golden.discover import import_modules
from golden.errors import VitsimError
from golden.spec import ConfigError
from golden.unit_spec import attach, attached

__all__ = ["CAPS", "COMMON_FLAGS", "CaseFlags", "CutError", "case_flags", "case_flags_of",
           "config_for", "cutter", "divisor", "head_slice", "lanes_of", "load", "no_head"]

#: Largest config sizes a cutter picks: array rows and columns, elementwise lanes.
CAPS = MappingProxyType({"binary_rows": 4, "binary_cols": 16, "mac_rows": 4, "mac_cols": 32,
                         "lanes": 8})
#: The ``vitsim golden`` flags every unit's case takes (besides its own) -> the value a flag
#: not given takes (the parser leaves them ``None``, so that modes which ignore them can
#: refuse them when given).
COMMON_FLAGS = MappingProxyType({"m": 4, "seed": 0, "stimulus": "random"})


class CutError(VitsimError):
    """An op has no hardware unit, or its operands do not fit any config of its unit."""


def load() -> tuple[str, ...]:
    """Import every unit's module of this folder; return their names."""
    return tuple(import_modules(__name__))


def cutter(kind: str):
    """Decorator: ``f(net, op, image, head, path, common)`` writes unit ``kind``'s case of
    network op ``op`` (:func:`golden.cut.cut_op`)."""
    return lambda fn: attach(kind, "cutter", fn)


@dataclass(frozen=True)
class CaseFlags:
    """The ``vitsim golden`` flags of one unit's seeded case.

    Parameters
    ----------
    defaults : mapping
        The unit's own flags (argparse ``dest`` names) -> the value a flag not given takes
        (``None``: the function picks one from the config). Every other flag but
        :data:`COMMON_FLAGS` is refused for the unit's cases.
    kwargs : callable
        ``kwargs(cfg, flags) -> dict``: the case writer's keyword arguments (``seed`` and
        ``stimulus`` are added); ``flags`` has exactly the common and the unit's flags.
    """

    defaults: Mapping
    kwargs: Callable

    def arguments(self, cfg, given: Mapping) -> dict:
        """The case writer's keyword arguments for ``given`` ({flag dest: value}, ``None``
        for a flag not given)."""
        values = {name: given.get(name) for name in COMMON_FLAGS}
        for name, default in self.defaults.items():
            value = given.get(name)
            values[name] = default if value is None or value is False else value
        return self.kwargs(cfg, SimpleNamespace(**values))


def case_flags(kind: str, **defaults):
    """Decorator: ``f(cfg, flags) -> dict`` maps the ``vitsim golden`` flags to unit
    ``kind``'s case writer arguments; ``defaults`` are the unit's own flags (see
    :class:`CaseFlags`)."""
    return lambda fn: attach(kind, "case_flags", CaseFlags(MappingProxyType(defaults), fn))


def case_flags_of(kind: str) -> CaseFlags:
    """Unit ``kind``'s :class:`CaseFlags` (:class:`golden.unit_spec.RegistryError` naming
    the file when it has none)."""
    load()
    return attached(kind, "case_flags")


# ------------------------------------------------------------- helpers of the cutters


def divisor(n: int, cap: int) -> int:
    """The largest divisor of ``n`` that is at most ``cap``."""
    return max(d for d in range(1, min(n, cap) + 1) if n % d == 0)


def config_for(op, cls, **fields):
    """``cls(**fields)``, or :class:`CutError` naming op ``op`` when no config fits."""
    try:
        return cls(**fields)
    except (ConfigError, TypeError, ValueError) as exc:
        raise CutError(f"op {op.name!r}: no {cls.kind} config fits it ({exc})") from None


def head_slice(op, arr: np.ndarray, head) -> np.ndarray:
    """``arr[head]`` of a ``[H, ...]`` image tensor (elementwise ops), or all of it."""
    if head is None:
        return arr
    if arr.ndim < 3 or not 0 <= head < arr.shape[0]:
        raise CutError(f"op {op.name!r}: no head {head} in a tensor of shape "
                       f"{list(arr.shape)}")
    return arr[head]


def no_head(op, head) -> None:
    """:class:`CutError` when a head is asked of an op whose tensors have none."""
    if head is not None:
        raise CutError(f"op {op.name!r}: its tensors have no heads; cut it without one")


def lanes_of(op, arrays, head, cap=CAPS["lanes"]):
    """Image tensors (broadcast to the first one, head-sliced) as ``[beats, lanes]``."""
    shape = arrays[0].shape
    full = [np.broadcast_to(np.asarray(a), shape) for a in arrays]
    full = [head_slice(op, a, head) for a in full]
    lanes = divisor(full[0].size, cap)  # elementwise: lanes may span rows
    return lanes, [a.reshape(-1, lanes) for a in full]
