"""Co-design sweeps: design points (checkpoints, packages, models x schemes, on-chip
budgets, memory latency, analytic fields) as dask.distributed tasks, stored resumably.

:mod:`sim.sweep.spec` reads the TOML spec and expands its points, :mod:`sim.sweep.points`
runs one point (analytic, rtl, synth stages), :mod:`sim.sweep.run` runs them on a
cluster, :mod:`sim.sweep.results` writes the table and the Pareto plots.
"""

from sim.sweep.spec import STAGES, SweepSpec, load_spec, points

__all__ = ["STAGES", "SweepSpec", "load_spec", "points"]
