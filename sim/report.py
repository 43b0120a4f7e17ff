"""Exact comparison of RTL results with golden tensors, and the mismatch report."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

__all__ = ["first_mismatch", "format_mismatch"]


def first_mismatch(expected: np.ndarray, got: np.ndarray, *, op: dict,
                   locate: Callable[[tuple], dict] | None = None) -> dict | None:
    """Return ``None`` if ``got == expected`` everywhere, else a report of the first difference.

    The report names the op (``op``, ``layer``, ``head`` from the op record), the
    ``element`` index, ``expected`` and ``got``, plus whatever ``locate(element)`` adds
    (for instance ``tile`` and ``cycle``). Shapes must match; a shape difference is
    reported as such.
    """
    base = {"op": op.get("name"), "layer": op.get("layer"), "head": op.get("head")}
    if expected.shape != got.shape:
        return {**base, "element": None, "expected": list(expected.shape),
                "got": list(got.shape), "what": "shape"}
    diff = np.argwhere(expected != got)
    if diff.size == 0:
        return None
    element = tuple(int(i) for i in diff[0])
    report = {**base, "element": list(element), "expected": int(expected[element]),
              "got": int(got[element]), "mismatches": int(len(diff))}
    if locate is not None:
        report.update(locate(element))
    return report


def format_mismatch(report: dict) -> str:
    """One line for a mismatch report."""
    where = ", ".join(f"{k}={report[k]}" for k in ("op", "layer", "head", "tile", "element",
                                                    "cycle") if report.get(k) is not None)
    return (f"mismatch at {where}: expected {report['expected']}, got {report['got']}"
            f" ({report.get('mismatches', 1)} elements differ)")
