"""ResidualAdd's Verilog under cocotb on Verilator and Icarus, through ``vitsim simulate``."""

import json

import pytest
from sim_cli import simulate

from golden.cases import residual_case
from golden.spec import ResidualCfg
from sim.cli import main

pytestmark = pytest.mark.sim


@pytest.mark.parametrize("cfg,stimulus", [
    (ResidualCfg(lanes=8, in_bits=8, out_bits=8), "extremes"),
    (ResidualCfg(lanes=3, in_bits=16, out_bits=17), "random"),
    (ResidualCfg(lanes=2, in_bits=32, out_bits=12), "random"),
], ids=str)
def test_bit_exact_through_vitsim_simulate(cfg, stimulus, tmp_path, simulator, capsys):
    residual_case(cfg, tmp_path / "case", beats=60, seed=2, stimulus=stimulus)
    status, records = simulate(tmp_path / "case", tmp_path, simulator)
    out = capsys.readouterr().out
    assert status == 0, out
    assert f"{simulator}: PASS (5/5 bench tests bit-exact)" in out
    speed = records["speed"]
    assert speed["cycles"] == speed["model_cycles"] == cfg.cycles(beats=60) == 61


def test_verilog_from_a_config_file(tmp_path):
    cfg_file = tmp_path / "res.json"
    cfg_file.write_text(json.dumps(ResidualCfg(lanes=4, in_bits=9, out_bits=8).to_dict()))
    assert main(["verilog", "--config", str(cfg_file), "--out", str(tmp_path / "v")]) == 0
    sidecar = json.loads((tmp_path / "v" / "residual.json").read_text())
    assert sidecar["unit"] == "ResidualAdd" and sidecar["latency"] == 1
    ports = {p["name"]: p["width"] for p in sidecar["ports"]}
    assert ports["i_stream__payload"] == 2 * 4 * 9 and ports["o_stream__payload"] == 4 * 8
