"""The compiler: a network golden package -> a program of the whole-network accelerator.

numpy and golden only (no torch, amaranth or cocotb). Layers, each importing only those
above it in this list:

- :mod:`~sim.compiler.program`: :class:`Program`, :class:`View`, :class:`TensorLoc`,
  :class:`CompileError`, the scratchpad allocator and :func:`read_back`;
- :mod:`~sim.compiler.tiling`: the loop nests of every op kind, from shapes alone (also
  what :mod:`sim.analytic.accel_cycles` prices);
- :mod:`~sim.compiler.timing`: the cycle rules the units' cycle models share;
- :mod:`~sim.compiler.registry`: the compiler's part of the unit registry (op compilers,
  sizing, cycle models, descriptor constants in payload order), read after importing
  every unit's part (:func:`sim.compiler.parts.load`);
- :mod:`~sim.compiler.context` and :mod:`~sim.compiler.operands`: the state of one
  compilation, operands and the elementwise descriptor;
- what several units' op compilers share: :mod:`~sim.compiler.matmul` (weight tiles,
  chunk-major keys), :mod:`~sim.compiler.bmm` (``int_bmm``), and
  :mod:`~sim.compiler.movement` (data movement, no unit);
- :mod:`~sim.compiler.sizing` (:func:`accel_config_for`) and :mod:`~sim.compiler.reuse`;
- each unit's part, ``sim/compiler/parts/<unit>.py`` (:mod:`sim.compiler.parts`): its op
  compilers, sizing and cycle model, found by their place;
- :mod:`~sim.compiler.compile`: :func:`compile_network`.
"""

from sim.compiler.compile import compile_network
from sim.compiler.program import CompileError, Program, TensorLoc, View, read_back
from sim.compiler.sizing import accel_config_for

__all__ = ["CompileError", "Program", "TensorLoc", "View", "accel_config_for",
           "compile_network", "read_back"]
