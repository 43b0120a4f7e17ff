"""The verdict of one program run, shared by the simulated and the board runs.

:class:`sim.accel_run.AccelResult` (RTL simulation) and :class:`sim.board.host.BoardResult`
(a board or its simulation) both carry ``finished`` and ``tensors`` (as
:func:`sim.accel_run.compare` returns them); :class:`RunVerdict` gives both the one
``passed``. Imports nothing, so either module may use it at no cost.
"""

from __future__ import annotations

__all__ = ["RunVerdict"]


class RunVerdict:
    """Mixin for a result dataclass with ``finished`` and ``tensors`` fields."""

    finished: bool
    tensors: dict

    @property
    def passed(self) -> bool:
        """Whether the run passed: it finished, compared at least one tensor, and every
        compared tensor is ``==`` the golden package's (``tensors``: name ->
        ``{"equal": bool, ...}``)."""
        return (bool(self.finished) and bool(self.tensors)
                and all(t["equal"] for t in self.tensors.values()))
