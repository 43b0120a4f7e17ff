"""golden/ stays numpy-only: importing all of it loads no torch, timm, amaranth or cocotb."""

import pkgutil
import subprocess
import sys

import golden


def test_golden_imports_no_heavy_library():
    modules = [f"golden.{m.name}" for m in pkgutil.iter_modules(golden.__path__)]
    assert "golden.kernels" in modules and "golden.package" in modules
    code = (
        "import sys, importlib\n"
        f"for m in {modules!r}: importlib.import_module(m)\n"
        "print(' '.join(m for m in ('torch', 'timm', 'amaranth', 'cocotb') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == ""
