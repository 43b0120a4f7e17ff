"""Balanced adder trees for popcounts (a helper for the binary units, not a component)."""

from __future__ import annotations

from amaranth.hdl import Value

__all__ = ["popcount"]


def popcount(value: Value) -> Value:
    """Return the number of set bits of ``value`` as a balanced tree of additions.

    A balanced tree keeps the logic depth at ``log2(width)`` adders; Amaranth's ``+`` widens
    each sum by one bit, so the result never overflows.
    """
    terms = [value[i] for i in range(len(value))]
    if not terms:
        return value[0:0] + 0
    while len(terms) > 1:
        paired = [terms[i] + terms[i + 1] for i in range(0, len(terms) - 1, 2)]
        if len(terms) % 2:
            paired.append(terms[-1])
        terms = paired
    return terms[0]
