"""The hardware units vitsim can generate and simulate, keyed by their config ``kind``.

One table ties a config class to its Amaranth component, its Verilog top name and its
cocotb bench, so the command line, the tests and the benchmarks never restate the pairing.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass

from golden.errors import VitsimError

__all__ = ["UNITS", "Unit", "unit_for"]


@dataclass(frozen=True)
class Unit:
    """One generatable, simulatable unit."""

    kind: str  # config kind (golden.spec), also the name used on the command line
    component: str  # "module:Class" of the Amaranth component
    top: str  # Verilog module name
    bench: str  # cocotb bench module

    def build(self, cfg):
        """Instantiate the component for ``cfg`` (imports amaranth on first use)."""
        module, cls = self.component.split(":")
        return getattr(importlib.import_module(module), cls)(cfg)


UNITS = {
    u.kind: u
    for u in (
        Unit("binary_array", "hw.binary_array:BinaryMatmulArray", "binary_array",
             "sim.benches.binary_array_bench"),
        Unit("requant", "hw.requantizer:Requantizer", "requantizer",
             "sim.benches.requantizer_bench"),
        Unit("mac_array", "hw.mac_array:MacArray", "mac_array", "sim.benches.mac_array_bench"),
        Unit("softmax", "hw.softmax:Softmax", "softmax", "sim.benches.softmax_bench"),
        Unit("layernorm", "hw.layernorm:LayerNorm", "layernorm", "sim.benches.layernorm_bench"),
        Unit("gelu", "hw.gelu:Gelu", "gelu", "sim.benches.gelu_bench"),
        Unit("residual", "hw.residual:ResidualAdd", "residual", "sim.benches.residual_bench"),
        Unit("gsb_encoder", "hw.gsb_encoder:GsbEncoder", "gsb_encoder",
             "sim.benches.gsb_encoder_bench"),
        Unit("gsb_av", "hw.gsb_av:GsbAv", "gsb_av", "sim.benches.gsb_av_bench"),
    )
}


def unit_for(kind: str) -> Unit:
    """The unit whose config kind is ``kind`` (:class:`VitsimError` if none)."""
    if kind not in UNITS:
        raise VitsimError(f"no hardware unit for config kind {kind!r}; "
                          f"known: {', '.join(UNITS)}")
    return UNITS[kind]
