"""Balanced adder trees (helpers for the array units, not components)."""

from __future__ import annotations

from amaranth.hdl import Value

__all__ = ["popcount", "tree_sum"]


def tree_sum(terms: list[Value]) -> Value:
    """Return the sum of ``terms`` as a balanced tree of additions.

    A balanced tree keeps the logic depth at ``log2(len(terms))`` adders; Amaranth's ``+``
    widens each sum by one bit, so the result never overflows.
    """
    if not terms:
        raise ValueError("tree_sum needs at least one term")
    while len(terms) > 1:
        paired = [terms[i] + terms[i + 1] for i in range(0, len(terms) - 1, 2)]
        if len(terms) % 2:
            paired.append(terms[-1])
        terms = paired
    return terms[0]


def popcount(value: Value) -> Value:
    """Return the number of set bits of ``value`` (a balanced tree over its bits)."""
    return tree_sum([value[i] for i in range(len(value))])
