"""Simulation, analysis and the ``vitsim`` command line (the top of the dependency graph)."""
