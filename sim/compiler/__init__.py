"""The compiler: a network golden package -> a program of the whole-network accelerator.

numpy and golden only (no torch, amaranth or cocotb). Layers, each importing only those
above it in this list:

- :mod:`~sim.compiler.program`: :class:`Program`, :class:`View`, :class:`TensorLoc`,
  :class:`CompileError`, the scratchpad allocator and :func:`read_back`;
- :mod:`~sim.compiler.tiling`: the loop nests of every op kind, from shapes alone (also
  what :mod:`sim.analytic.accel_cycles` prices);
- :mod:`~sim.compiler.registry`: the compiler's part of the unit registry (op compilers,
  sizing, descriptor constants in payload order);
- :mod:`~sim.compiler.context` and :mod:`~sim.compiler.operands`: the state of one
  compilation, operands and the elementwise descriptor;
- the op compilers: :mod:`~sim.compiler.elementwise`, :mod:`~sim.compiler.rows`,
  :mod:`~sim.compiler.matmul`, :mod:`~sim.compiler.bmm`, :mod:`~sim.compiler.movement`;
- :mod:`~sim.compiler.sizing` (:func:`accel_config_for`) and :mod:`~sim.compiler.reuse`;
- :mod:`~sim.compiler.compile`: :func:`compile_network`.
"""

from sim.compiler.compile import compile_network
from sim.compiler.program import CompileError, Program, TensorLoc, View, read_back
from sim.compiler.sizing import accel_config_for

__all__ = ["CompileError", "Program", "TensorLoc", "View", "accel_config_for",
           "compile_network", "read_back"]
