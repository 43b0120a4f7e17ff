"""Softmax's Verilog under cocotb on Verilator and Icarus, through ``vitsim simulate``."""

import json

import pytest
from sim_cli import simulate

from golden.cases_softmax import SoftmaxCfg, softmax_case
from golden.package import write_package
from sim.cli import main
from sim.commands import simulate_case

pytestmark = pytest.mark.sim

# (cfg, case): attention-like logits; the whole x range with 16-bit outputs at the finest
# scale; rows of one element; rows of max_len with one spike each (the sum about one exp),
# its divider at 4 bits a cycle (20 quotient bits in 5 cycles).
CASES = [
    (SoftmaxCfg(max_len=32, x_bits=16, scale_exp=12, out_bits=8),
     dict(rows=3, row_len=20, scale=1 / 64, out_bits=8, stimulus="random")),
    (SoftmaxCfg(max_len=16, x_bits=16, scale_exp=16, out_bits=16),
     dict(rows=2, row_len=13, scale=2.0 ** -16, out_bits=16, stimulus="uniform")),
    (SoftmaxCfg(max_len=16, x_bits=16, scale_exp=16, out_bits=16),
     dict(rows=4, row_len=1, scale=1 / 100, out_bits=8, stimulus="random")),
    (SoftmaxCfg(max_len=16, x_bits=16, scale_exp=16, out_bits=16, div_bits=4),
     dict(rows=2, row_len=16, scale=2.0 ** -10, out_bits=12, stimulus="spike")),
    # four lanes, the last beat of a row filling 3 of them
    (SoftmaxCfg(max_len=24, x_bits=16, scale_exp=12, out_bits=8, lanes=4),
     dict(rows=3, row_len=19, scale=1 / 64, out_bits=8, stimulus="random")),
    # two lanes, the divider at 3 bits a cycle (6 cycles)
    (SoftmaxCfg(max_len=8, x_bits=12, scale_exp=10, out_bits=8, lanes=2, div_bits=3),
     dict(rows=3, row_len=7, scale=1 / 64, out_bits=8, stimulus="random")),
    # rows of one beat at the fastest divider: several rows in the exp pipeline at once,
    # every row bank in use, a row every 6 cycles
    (SoftmaxCfg(max_len=8, x_bits=12, scale_exp=10, out_bits=8, lanes=2, div_bits=4),
     dict(rows=12, row_len=2, scale=1 / 64, out_bits=8, stimulus="random")),
]


@pytest.mark.parametrize("cfg,case", CASES, ids=[f"{c}-{k['stimulus']}-{k['row_len']}"
                                                 for c, k in CASES])
def test_bit_exact_through_vitsim_simulate(cfg, case, tmp_path, simulator, capsys):
    softmax_case(cfg, tmp_path / "case", seed=5, **case)
    status, records = simulate(tmp_path / "case", tmp_path, simulator)
    out = capsys.readouterr().out
    assert status == 0, out
    assert f"{simulator}: PASS (5/5 bench tests bit-exact)" in out
    speed = records["speed"]
    model = cfg.cycles(rows=case["rows"], row_len=case["row_len"])
    assert speed["cycles"] == speed["model_cycles"] == model
    gaps = records["check-idle1-bp1"]
    # the gaps really were injected: they stretch the run, unless the rows are so short
    # that the divider sets the pace and its slack absorbs them
    paced = cfg.row_cycles(case["row_len"]) > cfg.beats(case["row_len"]) + 1
    assert gaps["passed"] and (gaps["cycles"] >= model if paced else gaps["cycles"] > model)


def test_a_wrong_expectation_is_caught_and_located(tmp_path, simulator):
    cfg, case = CASES[0]
    pkg = softmax_case(cfg, tmp_path / "good", seed=5, **case)
    y = pkg.tensors["y"].copy()
    y[2, 7] += 3
    manifest = {k: v for k, v in pkg.manifest.items() if k not in ("tensors", "files")}
    write_package(tmp_path / "bad", manifest=manifest, tensors={**pkg.tensors, "y": y})
    result = simulate_case(tmp_path / "bad", sim=simulator, build_dir=tmp_path / "b")
    assert not result.passed and result.num_failed == result.num_tests == 5
    mismatch = next(r for r in result.records if r["name"] == "speed")["mismatch"]
    assert mismatch["element"] == [2, 7] and mismatch["tile"] == 2 * 20 + 7
    assert (mismatch["expected"], mismatch["got"]) == (int(y[2, 7]), int(y[2, 7]) - 3)
    assert mismatch["cycle"] is not None and mismatch["op"] == "int_softmax"
    assert mismatch["mismatches"] == 1


def test_verilog_from_a_config_file(tmp_path, capsys):
    cfg = SoftmaxCfg(max_len=64, x_bits=8, scale_exp=8, out_bits=8)
    cfg_file = tmp_path / "sm.json"
    cfg_file.write_text(json.dumps(cfg.to_dict()))
    assert main(["verilog", "--config", str(cfg_file), "--out", str(tmp_path / "v")]) == 0
    sidecar = json.loads((tmp_path / "v" / "softmax.json").read_text())
    assert sidecar["unit"] == "Softmax" and sidecar["latency"] == cfg.latency == 39
    ports = {p["name"]: p["width"] for p in sidecar["ports"]}
    assert ports["i_stream__payload"] == cfg.in_bits
    assert ports["o_stream__payload"] == cfg.out_bits + 1
