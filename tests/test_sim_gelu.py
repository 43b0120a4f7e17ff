"""Gelu's Verilog under cocotb on Verilator and Icarus, through ``vitsim simulate``."""

import json

import pytest
from sim_cli import simulate

from golden.cases_gelu import GeluCfg, gelu_case
from golden.package import write_package
from sim.cli import main

pytestmark = pytest.mark.sim


@pytest.mark.parametrize("cfg,params", [
    (GeluCfg(lanes=4, in_bits=22), dict(scale=2**-10, stimulus="random")),
    (GeluCfg(lanes=2, in_bits=16, b_bits=13, c_bits=24, one_bits=10),
     dict(scale=2**-10, stimulus="extremes", clip=10**7)),
    (GeluCfg(lanes=1, in_bits=24), dict(scale=2**-13, stimulus="extremes")),
], ids=str)
def test_bit_exact_through_vitsim_simulate(cfg, params, tmp_path, simulator, capsys):
    gelu_case(cfg, tmp_path / "case", beats=40, seed=5, **params)
    status, records = simulate(tmp_path / "case", tmp_path, simulator)
    out = capsys.readouterr().out
    assert status == 0, out
    assert f"{simulator}: PASS (5/5 bench tests bit-exact)" in out
    speed = records["speed"]
    assert speed["cycles"] == speed["model_cycles"] == cfg.cycles(beats=40)
    assert records["check-idle1-bp1"]["cycles"] > speed["cycles"]


def test_a_wrong_expectation_is_a_mismatch(tmp_path, simulator, capsys):
    cfg = GeluCfg(lanes=3, in_bits=16)
    pkg = gelu_case(cfg, tmp_path / "good", beats=12, scale=2**-10, seed=1)
    y = pkg.tensors["y"].copy()
    y[7, 2] += 1
    manifest = {k: v for k, v in pkg.manifest.items() if k not in ("tensors", "files")}
    write_package(tmp_path / "bad", manifest=manifest, tensors={**pkg.tensors, "y": y})
    status, records = simulate(tmp_path / "bad", tmp_path, simulator)
    assert status == 1, capsys.readouterr().out
    mismatch = records["speed"]["mismatch"]
    assert mismatch["element"] == [7, 2] and mismatch["tile"] == 7 and mismatch["lane"] == 2
    assert (mismatch["expected"], mismatch["got"]) == (int(y[7, 2]), int(y[7, 2]) - 1)
    assert mismatch["op"] == "gelu" and mismatch["cycle"] is not None


def test_verilog_from_a_config_file(tmp_path, capsys):
    cfg_file = tmp_path / "gelu.json"
    cfg = GeluCfg(lanes=2, in_bits=16)
    cfg_file.write_text(json.dumps(cfg.to_dict()))
    assert main(["verilog", "--config", str(cfg_file), "--out", str(tmp_path / "v")]) == 0
    sidecar = json.loads((tmp_path / "v" / "gelu.json").read_text())
    assert sidecar["unit"] == "Gelu" and sidecar["latency"] == 5
    ports = {p["name"]: p["width"] for p in sidecar["ports"]}
    assert ports["i_stream__payload"] == 2 * 16 + 16 + 32 + 16 + cfg.clip_bits
    assert ports["o_stream__payload"] == 2 * cfg.out_bits
