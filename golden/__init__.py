"""Integer reference of vitsim: configs, kernels and golden-vector packages.

This package depends on numpy only. Importing it must never load torch, timm, amaranth or
cocotb (``tests/test_golden_imports.py`` checks this), so that the analytic model, the
package reader and the numpy reference run anywhere.
"""

from golden.spec import BinaryArrayCfg, QuantSpec

__all__ = ["BinaryArrayCfg", "QuantSpec"]
