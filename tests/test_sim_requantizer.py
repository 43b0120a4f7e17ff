"""Requantizer's Verilog under cocotb on Verilator and Icarus, and through ``vitsim``."""

import json

import pytest
from sim_cli import simulate

from golden.cases import requant_case
from golden.spec import RequantCfg
from sim.cli import main

pytestmark = pytest.mark.sim


@pytest.mark.parametrize("cfg,params", [
    (RequantCfg(lanes=4, acc_bits=24, out_bits=8),
     dict(shift=50, bits=8, signed=True, stimulus="random")),
    (RequantCfg(lanes=2, acc_bits=12, out_bits=4),
     dict(mult=(1 << 31) - 1, shift=38, bits=3, signed=False, stimulus="extremes")),
    (RequantCfg(lanes=3, acc_bits=32, out_bits=16),
     dict(mult=1, shift=1, bits=16, signed=True, stimulus="ties")),
    (RequantCfg(lanes=2, acc_bits=16, out_bits=8, mult_bits=18, bias_bits=40),
     dict(shift=24, bits=8, signed=True, stimulus="tie_bias")),
], ids=str)
def test_bit_exact_through_vitsim_simulate(cfg, params, tmp_path, simulator, capsys):
    requant_case(cfg, tmp_path / "case", beats=40, seed=5, **params)
    status, records = simulate(tmp_path / "case", tmp_path, simulator)
    out = capsys.readouterr().out
    assert status == 0, out
    assert f"{simulator}: PASS (5/5 bench tests bit-exact)" in out
    speed = records["speed"]
    assert speed["cycles"] == speed["model_cycles"] == cfg.cycles(beats=40)


def test_verilog_from_a_config_file(tmp_path, capsys):
    cfg_file = tmp_path / "rq.json"
    cfg_file.write_text(json.dumps(RequantCfg(lanes=2, acc_bits=16).to_dict()))
    assert main(["verilog", "--config", str(cfg_file), "--out", str(tmp_path / "v")]) == 0
    sidecar = json.loads((tmp_path / "v" / "requantizer.json").read_text())
    cfg = RequantCfg(lanes=2, acc_bits=16)
    assert sidecar["unit"] == "Requantizer" and sidecar["latency"] == cfg.latency == 4
    ports = {p["name"]: p["width"] for p in sidecar["ports"]}
    assert ports["i_stream__payload"] == 2 * (16 + 32 + 48) + 6 + 5 + 1
    assert ports["o_stream__payload"] == 2 * 8
