"""LayerNorm's Verilog under cocotb on Verilator and Icarus, through ``vitsim simulate``."""

import json

import pytest
from sim_cli import simulate

from golden.cases_layernorm import LayerNormCfg, layernorm_case
from golden.package import write_package
from sim.cli import main

pytestmark = pytest.mark.sim


@pytest.mark.parametrize("cfg,rows,stimulus", [
    (LayerNormCfg(dim=24), 8, "mixed"),
    (LayerNormCfg(dim=16), 3, "extremes"),
    (LayerNormCfg(dim=7, in_bits=10, step_bits=4), 5, "random"),  # 4 divider bits a cycle
    # last beat: 1 lane of 4; 2 divider bits a cycle (12, 22, 11 and 31 bits: padded)
    (LayerNormCfg(dim=13, in_bits=12, lanes=4, step_bits=2), 5, "mixed"),
    # the digits accelerator's unit: 8 lanes, STATS the slowest engine, 11 rows overlapped
    (LayerNormCfg(dim=64, lanes=8, step_bits=2), 11, "mixed"),
    (LayerNormCfg(dim=21, in_bits=10, lanes=8, step_bits=2), 7, "extremes"),  # 5 of 8 lanes
], ids=str)
def test_bit_exact_through_vitsim_simulate(cfg, rows, stimulus, tmp_path, simulator, capsys):
    layernorm_case(cfg, tmp_path / "case", rows=rows, stimulus=stimulus, seed=5)
    status, records = simulate(tmp_path / "case", tmp_path, simulator)
    out = capsys.readouterr().out
    assert status == 0, out
    assert f"{simulator}: PASS (5/5 bench tests bit-exact)" in out
    speed = records["speed"]
    assert speed["cycles"] == speed["model_cycles"] == cfg.cycles(rows=rows)
    assert speed["cycles"] == cfg.cycles(rows=1) + (rows - 1) * cfg.row_cycles
    # gaps can cost nothing: the rows behind the slowest engine absorb them
    assert records["check-idle1-bp1"]["cycles"] >= speed["cycles"]


def test_a_wrong_expectation_is_a_mismatch(tmp_path, simulator, capsys):
    cfg = LayerNormCfg(dim=8)
    pkg = layernorm_case(cfg, tmp_path / "good", rows=3, stimulus="mixed", seed=1)
    y = pkg.tensors["y"].copy()
    y[2, 5] -= 3
    manifest = {k: v for k, v in pkg.manifest.items() if k not in ("tensors", "files")}
    write_package(tmp_path / "bad", manifest=manifest, tensors={**pkg.tensors, "y": y})
    status, records = simulate(tmp_path / "bad", tmp_path, simulator)
    assert status == 1, capsys.readouterr().out
    mismatch = records["speed"]["mismatch"]
    assert mismatch["element"] == [2, 5] and mismatch["tile"] == 2 * 8 + 5
    assert (mismatch["expected"], mismatch["got"]) == (int(y[2, 5]), int(y[2, 5]) + 3)
    assert mismatch["op"] == "layernorm" and mismatch["cycle"] is not None


def test_verilog_from_a_config_file(tmp_path):
    cfg_file = tmp_path / "ln.json"
    cfg = LayerNormCfg(dim=192, in_bits=12)
    cfg_file.write_text(json.dumps(cfg.to_dict()))
    assert main(["verilog", "--config", str(cfg_file), "--out", str(tmp_path / "v")]) == 0
    sidecar = json.loads((tmp_path / "v" / "layernorm.json").read_text())
    assert sidecar["unit"] == "LayerNorm" and sidecar["latency"] == cfg.latency == 4 * 12 + 40
    ports = {p["name"]: p["width"] for p in sidecar["ports"]}
    assert ports["i_stream__payload"] == 12 and ports["o_stream__payload"] == 32
