# amaranth: UnusedElaboratable=no
"""Verilog export: reproducible bytes, no machine paths, a sidecar that describes the ports."""

import json

import pytest

from golden.spec import BinaryArrayCfg, MacArrayCfg, RequantCfg
from hw.export import export_verilog
from sim.units import UNITS, unit_for

CONFIGS = [BinaryArrayCfg(rows=2, cols=8, max_k=16), MacArrayCfg(rows=2, cols=4, max_k=16),
           RequantCfg(lanes=2, acc_bits=12)]


@pytest.mark.parametrize("cfg", CONFIGS, ids=lambda c: c.kind)
def test_export_is_reproducible_and_path_free(cfg, tmp_path):
    unit = unit_for(cfg.kind)
    for name in ("a", "b"):
        export_verilog(unit.build(cfg), tmp_path / name, name=unit.top)
    for suffix in (".v", ".json"):
        first = (tmp_path / "a" / f"{unit.top}{suffix}").read_bytes()
        assert first == (tmp_path / "b" / f"{unit.top}{suffix}").read_bytes()
        assert str(tmp_path).encode() not in first and b"/work/" not in first
    sidecar = json.loads((tmp_path / "a" / f"{unit.top}.json").read_text())
    assert sidecar["config"] == cfg.to_dict() and sidecar["latency"] == cfg.latency
    verilog = (tmp_path / "a" / f"{unit.top}.v").read_text()
    for port in sidecar["ports"]:  # every sidecar port is a port of the module, same width
        decl = f"{'input' if port['dir'] == 'in' else 'output'} "
        decl += f"[{port['width'] - 1}:0] " if port["width"] > 1 else ""
        assert f"{decl}{port['name']};" in verilog, port


def test_every_unit_kind_has_a_config_class():
    from golden.units import known_configs
    assert set(UNITS) <= set(known_configs())
