"""The hardware units vitsim can generate and simulate, keyed by their config ``kind``.

One table ties a config class to its Amaranth component, its Verilog top name and its
cocotb bench, so the command line, the tests and the benchmarks never restate the pairing.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass

from golden.errors import VitsimError

__all__ = ["EXAMPLES", "UNITS", "Unit", "example_config", "unit_for"]


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
        Unit("threshold", "hw.threshold:Threshold", "threshold", "sim.benches.threshold_bench"),
    )
}


def unit_for(kind: str) -> Unit:
    """The unit whose config kind is ``kind`` (:class:`VitsimError` if none)."""
    if kind not in UNITS:
        raise VitsimError(f"no hardware unit for config kind {kind!r}; "
                          f"known: {', '.join(UNITS)}")
    return UNITS[kind]


#: A representative config of each unit (the digits ViT's shapes), for ``vitsim synth UNIT``
#: and ``vitsim verilog UNIT``; ``--config FILE`` gives any other.
EXAMPLES = {
    "binary_array": {"rows": 8, "cols": 64, "mode": "xnor", "max_k": 512},
    "mac_array": {"rows": 4, "cols": 16, "max_k": 256},
    "requant": {"lanes": 4, "acc_bits": 24, "out_bits": 8},
    "residual": {"lanes": 16, "in_bits": 16, "out_bits": 16},
    "softmax": {"max_len": 32, "out_bits": 16},
    "layernorm": {"dim": 64},
    "gelu": {"lanes": 4},
    "gsb_encoder": {"lanes": 8, "max_elems": 2048},
    "gsb_av": {"lanes": 8, "max_n": 32, "max_d": 32},
    "threshold": {"lanes": 8, "x_bits": 32},
}


def example_config(kind: str):
    """The :data:`EXAMPLES` config of unit ``kind`` (:class:`VitsimError` if none)."""
    from golden.spec import config_from_dict

    unit_for(kind)
    if kind not in EXAMPLES:
        raise VitsimError(f"unit {kind!r} has no example config; give --config FILE")
    return config_from_dict({"kind": kind, **EXAMPLES[kind]}, source=f"example {kind}")
