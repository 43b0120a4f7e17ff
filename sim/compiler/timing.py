"""Cycle rules shared by the units' accelerator-exact cycle models.

Each unit's cycle model (``f(desc, u, beats, bc, c0, outs) -> t``, attached with
:func:`sim.compiler.registry.cycle_model` in its part, ``sim/compiler/parts/<unit>.py``)
gives ``t``, the ``RUN``-relative cycle of the descriptor's last store (see
:mod:`sim.analytic.accel_cycles`, which adds the fetch cost): ``u`` is the slot's config,
``bc`` the beat cycles, ``c0`` the cycle beat 0 is offered, ``outs`` the writer's element
count. Shapes and configs only: no tensor data.
"""

from __future__ import annotations

__all__ = ["forget", "last_beat", "latency", "pipelined", "row_unit"]


def last_beat(c0: int, beats: int, period: int) -> int:
    """Cycle the last of ``beats`` beats is taken, one every ``period`` cycles from ``c0``."""
    return c0 + (beats - 1) * period


_LATENCIES: dict = {}  # id(u) -> (u, u.latency); u held so that ids stay unique
_BY_VALUE: dict = {}  # u (a frozen config, equal by value) -> u.latency


def latency(u) -> int:
    """``u.latency``, remembered per unit config object and per config value (frozen, so
    it cannot change): some are computed from an adder tree's shape and take longer than
    the rest of a descriptor's count, and the configs of a what-if grid share values."""
    got = _LATENCIES.get(id(u))
    if got is not None and got[0] is u:
        return got[1]
    if len(_LATENCIES) > 4096:
        _LATENCIES.clear()
    try:
        value = _BY_VALUE.get(u)
    except TypeError:  # a config with an unhashable field: per object only
        value = u.latency
    else:
        if value is None:
            if len(_BY_VALUE) > 4096:
                _BY_VALUE.clear()
            value = _BY_VALUE[u] = u.latency
    _LATENCIES[id(u)] = (u, value)
    return value


def forget() -> None:
    """Empty the remembered latencies (they cannot go stale; for timing cold runs)."""
    _LATENCIES.clear()
    _BY_VALUE.clear()


def pipelined(desc, u, beats, bc, c0, outs):
    """A beat taken every cycle, its result handed over ``latency`` edges later."""
    return last_beat(c0, beats, bc) + latency(u)


def row_unit(desc, beats: int, c0: int, n: int, count) -> int:
    """A row unit of ``n``-beat rows whose rows overlap in its engines: ``count(rows)`` is
    the unit's own stall-free count (first input to last output, both included) at the
    gatherer's beat spacing, which the unit sees from beat 0 at ``c0`` on, since a unit
    that is not ready freezes the gatherer and the writer takes every result the cycle it
    appears (:class:`ValueError` when the beats are not whole rows)."""
    if beats % n:
        raise ValueError(f"{desc.unit}: {beats} beats are not whole rows of {n}")
    return c0 + count(beats // n) - 1
