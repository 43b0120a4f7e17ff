"""The analytic model is pure Python + numpy: it loads no torch, timm, amaranth, cocotb or
matplotlib (matplotlib only inside the plotting functions)."""

import pkgutil
import subprocess
import sys

import sim.analytic


def test_analytic_imports_no_heavy_library():
    modules = [f"sim.analytic.{m.name}" for m in pkgutil.iter_modules(sim.analytic.__path__)]
    modules += ["sim.memory_cli", "golden.bitops", "golden.accel_spec"]
    assert "sim.analytic.plots" in modules and "sim.analytic.footprint" in modules
    code = (
        "import sys, importlib\n"
        f"for m in {modules!r}: importlib.import_module(m)\n"
        "print(' '.join(m for m in ('torch', 'timm', 'amaranth', 'cocotb', 'matplotlib')"
        " if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == ""
