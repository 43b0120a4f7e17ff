"""The GSB units' Verilog (threshold encoder, A x V) under cocotb on Verilator and Icarus,
through ``vitsim simulate``."""

import json

import pytest
from sim_cli import simulate

from golden.cases_gsb import GsbAvCfg, GsbEncoderCfg, gsb_av_case, gsb_encoder_case
from golden.package import write_package
from sim.cli import main
from sim.commands import simulate_case

pytestmark = pytest.mark.sim

# (cfg, case): V-style random with a partial last beat and two images; attention-style with
# ties at the ratios; a negative-only tensor; an all-equal one with three ratios.
ENCODER_CASES = [
    (GsbEncoderCfg(lanes=4, x_bits=12, max_elems=64),
     dict(shape=(3, 6), mode="value", images=2, stimulus="random")),
    (GsbEncoderCfg(lanes=3, x_bits=8, max_elems=48),
     dict(shape=(2, 4, 5), mode="attn", theta=9, stimulus="ties")),
    (GsbEncoderCfg(lanes=2, x_bits=8, max_elems=32),
     dict(shape=(16,), mode="value", stimulus="negative")),
    (GsbEncoderCfg(lanes=1, x_bits=6, max_elems=8, ratios=((1, 2), (7, 10), (9, 10))),
     dict(shape=(8,), mode="attn", theta=0, images=2, stimulus="equal")),
]

AV_CASES = [
    (GsbAvCfg(lanes=4, max_n=12, max_d=8, w_bits=6, v_cols=4),  # the last V beat half past d
     dict(n=10, d=6, stimulus="random")),
    (GsbAvCfg(lanes=3, max_n=8, max_d=8, a_planes=3, v_planes=3), dict(n=8, d=7,
                                                                      stimulus="encoded")),
    (GsbAvCfg(lanes=2, max_n=6, max_d=4, a_planes=2, v_planes=3, w_bits=4),
     dict(n=6, d=4, stimulus="min")),
]


def _simulate(tmp_path, simulator, capsys):
    status, records = simulate(tmp_path / "case", tmp_path, simulator)
    out = capsys.readouterr().out
    assert status == 0, out
    assert f"{simulator}: PASS (5/5 bench tests bit-exact)" in out
    speed, gaps = records["speed"], records["check-idle1-bp1"]
    assert gaps["passed"] and gaps["cycles"] > speed["cycles"]  # the gaps really were injected
    return speed


@pytest.mark.parametrize("cfg,case", ENCODER_CASES,
                         ids=[f"{k['mode']}-{k['stimulus']}" for _, k in ENCODER_CASES])
def test_encoder_bit_exact_through_vitsim_simulate(cfg, case, tmp_path, simulator, capsys):
    pkg = gsb_encoder_case(cfg, tmp_path / "case", seed=5, **case)
    speed = _simulate(tmp_path, simulator, capsys)
    op = pkg.manifest["ops"][0]
    assert speed["cycles"] == speed["model_cycles"] == cfg.cycles(op["elems"], op["images"])


@pytest.mark.parametrize("cfg,case", AV_CASES, ids=[k["stimulus"] for _, k in AV_CASES])
def test_av_bit_exact_through_vitsim_simulate(cfg, case, tmp_path, simulator, capsys):
    gsb_av_case(cfg, tmp_path / "case", seed=5, **case)
    speed = _simulate(tmp_path, simulator, capsys)
    assert speed["cycles"] == speed["model_cycles"] == cfg.cycles(n=case["n"], d=case["d"])


def _corrupt(pkg, path, name, element, delta):
    tensor = pkg.tensors[name].copy()
    tensor[element] += delta
    manifest = {k: v for k, v in pkg.manifest.items() if k not in ("tensors", "files")}
    write_package(path, manifest=manifest, tensors={**pkg.tensors, name: tensor})
    return tensor


def test_encoder_wrong_expectation_is_caught_and_located(tmp_path, simulator):
    cfg, case = ENCODER_CASES[0]
    pkg = gsb_encoder_case(cfg, tmp_path / "good", seed=5, **case)
    planes = _corrupt(pkg, tmp_path / "bad", "planes", (1, 1, 2, 3), 1)
    result = simulate_case(tmp_path / "bad", sim=simulator, build_dir=tmp_path / "b")
    assert not result.passed and result.num_failed == result.num_tests == 5
    mismatch = next(r for r in result.records if r["name"] == "speed")["mismatch"]
    flat = 2 * 6 + 3  # element (2, 3) of a 3x6 image: beat 3, lane 3 of the second image
    assert mismatch["element"] == [1, 1, 2, 3] and mismatch["tile"] == 5 + flat // 4
    assert mismatch["lane"] == flat % 4 and mismatch["mismatches"] == 1
    assert mismatch["expected"] == int(planes[1, 1, 2, 3]) == mismatch["got"] + 1
    assert mismatch["op"] == "gsb_value_planes" and mismatch["cycle"] is not None


def test_av_wrong_expectation_is_caught_and_located(tmp_path, simulator):
    cfg, case = AV_CASES[0]
    pkg = gsb_av_case(cfg, tmp_path / "good", seed=5, **case)
    y = _corrupt(pkg, tmp_path / "bad", "y", (3, 5), -7)
    result = simulate_case(tmp_path / "bad", sim=simulator, build_dir=tmp_path / "b")
    assert not result.passed and result.num_failed == result.num_tests == 5
    mismatch = next(r for r in result.records if r["name"] == "speed")["mismatch"]
    assert mismatch["element"] == [3, 5] and mismatch["tile"] == 3 * 2 + 1
    assert mismatch["lane"] == 1 and mismatch["mismatches"] == 1
    assert mismatch["expected"] == int(y[3, 5]) == mismatch["got"] - 7
    assert mismatch["op"] == "gsb_av" and mismatch["cycle"] is not None


def test_verilog_from_config_files(tmp_path, capsys):
    enc = GsbEncoderCfg(lanes=4, x_bits=8, max_elems=64)
    av = GsbAvCfg(lanes=2, max_n=16, max_d=8)
    for cfg, top in ((enc, "gsb_encoder"), (av, "gsb_av")):
        cfg_file = tmp_path / f"{top}.json"
        cfg_file.write_text(json.dumps(cfg.to_dict()))
        assert main(["verilog", "--config", str(cfg_file), "--out", str(tmp_path / top)]) == 0
        sidecar = json.loads((tmp_path / top / f"{top}.json").read_text())
        assert sidecar["latency"] == cfg.latency and sidecar["config"] == cfg.to_dict()
        ports = {p["name"]: p["width"] for p in sidecar["ports"]}
        if cfg is enc:
            assert ports["i_stream__payload"] == 4 * 8 + 9 + 2
            assert ports["o_stream__payload"] == 4 * 3 + 1
        else:
            assert ports["i_stream__payload"] == 16 * 3 + 9 * 8 + 1
            assert ports["o_stream__payload"] == 2 * cfg.acc_bits


def test_prebuilt_verilog_config_matches_the_case(tmp_path, simulator):
    # The sidecar's config (JSON) must equal the case's config for --verilog to accept it.
    cfg, case = ENCODER_CASES[3]
    gsb_encoder_case(cfg, tmp_path / "case", seed=1, **case)
    cfg_file = tmp_path / "enc.json"
    cfg_file.write_text(json.dumps(cfg.to_dict()))
    assert main(["verilog", "--config", str(cfg_file), "--out", str(tmp_path / "v")]) == 0
    result = simulate_case(tmp_path / "case", sim=simulator, build_dir=tmp_path / "b",
                           verilog_dir=tmp_path / "v")
    assert result.passed, result.summary()
