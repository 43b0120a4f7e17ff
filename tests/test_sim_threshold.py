"""Threshold's Verilog under cocotb on Verilator and Icarus, through ``vitsim simulate``."""

import json

import pytest
from sim_cli import simulate

from golden.cases_threshold import ThresholdCfg, threshold_case
from sim.cli import main

pytestmark = pytest.mark.sim


@pytest.mark.parametrize("cfg,stimulus", [
    (ThresholdCfg(lanes=8, x_bits=8), "ties"),
    (ThresholdCfg(lanes=2, x_bits=32), "random"),
], ids=str)
def test_bit_exact_through_vitsim_simulate(cfg, stimulus, tmp_path, simulator, capsys):
    threshold_case(cfg, tmp_path / "case", beats=60, seed=2, stimulus=stimulus)
    status, records = simulate(tmp_path / "case", tmp_path, simulator)
    out = capsys.readouterr().out
    assert status == 0, out
    assert f"{simulator}: PASS (5/5 bench tests bit-exact)" in out
    speed = records["speed"]
    assert speed["cycles"] == speed["model_cycles"] == cfg.cycles(beats=60) == 61


def test_verilog_from_a_config_file(tmp_path):
    cfg_file = tmp_path / "thr.json"
    cfg_file.write_text(json.dumps(ThresholdCfg(lanes=4, x_bits=9).to_dict()))
    assert main(["verilog", "--config", str(cfg_file), "--out", str(tmp_path / "v")]) == 0
    sidecar = json.loads((tmp_path / "v" / "threshold.json").read_text())
    assert sidecar["unit"] == "Threshold" and sidecar["latency"] == 1
    ports = {p["name"]: p["width"] for p in sidecar["ports"]}
    assert ports["i_stream__payload"] == 4 * 9 + 4 * 10 + 4 and ports["o_stream__payload"] == 4
