"""The ``vitsim`` command line: the hardware flow and one clear line for every bad input."""

import json
import subprocess
import sys

import pytest

from golden.cases import binary_array_case
from golden.spec import BinaryArrayCfg
from sim.cli import main


def run_cli(*args):
    """Run ``vitsim`` in a subprocess (as a user would); return (status, stdout, stderr)."""
    proc = subprocess.run([sys.executable, "-m", "sim.cli", *args], capture_output=True,
                          text=True)
    return proc.returncode, proc.stdout, proc.stderr


def test_unknown_subcommand():
    status, _, err = run_cli("frobnicate")
    assert status == 2
    assert err.strip().splitlines() == [
        err.strip().splitlines()[0]] and "invalid choice: 'frobnicate'" in err


def test_out_of_range_width_is_one_line_and_writes_nothing(tmp_path):
    status, _, err = run_cli("verilog", "--cols", "2048", "--out", str(tmp_path / "v"))
    assert status == 2
    assert err == ("vitsim: error: --cols: cols must be between 1 and 1024, "
                   "not 2048\n")
    assert not (tmp_path / "v").exists()


def test_bad_config_file_names_file_and_field(tmp_path, capsys):
    cfg = tmp_path / "arr.json"
    cfg.write_text(json.dumps({"kind": "binary_array", "rows": 4, "cols": 8, "max_k": 12}))
    assert main(["verilog", "--config", str(cfg), "--out", str(tmp_path / "v")]) == 2
    err = capsys.readouterr().err
    assert err == f"vitsim: error: {cfg}: max_k must be a multiple of cols (8), not 12\n"
    assert not (tmp_path / "v").exists()


def test_unknown_simulator(tmp_path, capsys):
    binary_array_case(BinaryArrayCfg(rows=2, cols=8, max_k=16), tmp_path / "c", m=1, n=2, k=16)
    assert main(["simulate", "--case", str(tmp_path / "c"), "--sim", "modelsim"]) == 2
    assert capsys.readouterr().err == ("vitsim: error: unknown simulator 'modelsim'; "
                                       "choose one of verilator, icarus\n")


def test_missing_verilog_file(tmp_path, capsys):
    cfg = BinaryArrayCfg(rows=2, cols=8, max_k=16)
    binary_array_case(cfg, tmp_path / "c", m=1, n=2, k=16)
    assert main(["simulate", "--case", str(tmp_path / "c"), "--sim", "icarus",
                 "--verilog", str(tmp_path / "nowhere")]) == 2
    err = capsys.readouterr().err
    assert err == (f"vitsim: error: {tmp_path / 'nowhere' / 'binary_array.json'}: "
                   "missing Verilog sidecar (run 'vitsim verilog')\n")


def test_missing_case_package(tmp_path, capsys):
    assert main(["simulate", "--case", str(tmp_path / "none"), "--sim", "icarus"]) == 2
    assert capsys.readouterr().err == (f"vitsim: error: {tmp_path / 'none'}: "
                                       "no such package directory\n")


def test_golden_verify(tmp_path, capsys):
    assert main(["golden", "--rows", "4", "--cols", "8", "--max-k", "32", "--m", "2",
                 "--n", "8", "--out", str(tmp_path / "c")]) == 0
    assert main(["golden", "--verify", str(tmp_path / "c")]) == 0
    assert capsys.readouterr().out.strip().endswith(f"{tmp_path / 'c'}: OK")
    (tmp_path / "c" / "tensors.npz").write_bytes(b"junk")
    assert main(["golden", "--verify", str(tmp_path / "c")]) == 2
    assert "tensors.npz: content hash does not match field 'files'" in capsys.readouterr().err


@pytest.mark.sim
def test_verilog_then_simulate(tmp_path, simulator, capsys):
    assert main(["verilog", "--rows", "2", "--cols", "16", "--mode", "and", "--max-k", "64",
                 "--out", str(tmp_path / "v")]) == 0
    sidecar = json.loads((tmp_path / "v" / "binary_array.json").read_text())
    assert sidecar["latency"] == 6 and sidecar["config"]["mode"] == "and"  # 16 columns
    binary_array_case(BinaryArrayCfg(rows=2, cols=16, mode="and", max_k=64), tmp_path / "c",
                      m=2, n=4, k=64)
    status = main(["simulate", "--case", str(tmp_path / "c"), "--verilog",
                   str(tmp_path / "v"), "--sim", simulator, "--build-dir", str(tmp_path / "b")])
    out = capsys.readouterr().out
    assert status == 0, out
    assert f"{simulator}: PASS (5/5 bench tests bit-exact)" in out


@pytest.mark.sim
@pytest.mark.slow
def test_demo_runs_a_trained_gsb_model_through_the_accelerator(tmp_path):
    """The README's main job, end to end with a short training budget: train, golden
    vectors, compile, Verilog, Verilator, verdict and report."""
    import json

    status, out, err = run_cli("demo", "--out", str(tmp_path / "demo"), "--epochs", "4",
                               "--images", "2", "--cache", str(tmp_path / "cache"))
    assert status == 0, out + err
    assert "verdict: BIT-EXACT: 2 images" in out
    report = json.loads((tmp_path / "demo" / "report.json").read_text())
    assert report["bit_exact"] and len(report["images"]) == 2
    from golden.netpkg import read_network
    from sim.analytic.accel_cycles import run_cycles
    from sim.compiler import compile_network

    pkg = read_network(tmp_path / "demo" / "golden")
    for image in report["images"]:
        assert image["bit_exact"] and image["tensors"] > 100
        prog = compile_network(pkg, image=image["image"])  # the RTL total is the exact count
        assert image["cycles"] == run_cycles(prog.descs, prog.cfg)
    assert (tmp_path / "demo" / "cycles.png").stat().st_size > 10_000
    assert "| image | label | predicted |" in (tmp_path / "demo" / "report.md").read_text()


def test_sim_environment_variable_picks_the_simulator(tmp_path, monkeypatch, capsys):
    binary_array_case(BinaryArrayCfg(rows=2, cols=8, max_k=16), tmp_path / "c", m=1, n=2, k=16)
    monkeypatch.setenv("SIM", "xcelium")
    assert main(["simulate", "--case", str(tmp_path / "c")]) == 2
    assert "unknown simulator 'xcelium'" in capsys.readouterr().err


@pytest.mark.sim
def test_golden_then_simulate_every_unit(tmp_path, capsys):
    from golden.cases_gelu import GeluCfg
    from golden.cases_gsb import GsbAvCfg, GsbEncoderCfg
    from golden.cases_layernorm import LayerNormCfg
    from golden.cases_softmax import SoftmaxCfg
    from golden.cases_threshold import ThresholdCfg
    from golden.spec import BinaryArrayCfg, MacArrayCfg, RequantCfg, ResidualCfg
    from sim.units import UNITS
    cases = [
        (BinaryArrayCfg(rows=2, cols=8, max_k=16), ["--m", "2", "--n", "4"]),
        (MacArrayCfg(rows=2, cols=4, max_k=16), ["--w-bits", "3", "--a-bits", "5",
                                                 "--a-unsigned", "--n", "4", "--m", "2"]),
        (RequantCfg(lanes=2, acc_bits=16), ["--mult", str((1 << 30) + 3), "--shift", "36",
                                            "--bits", "4", "--stimulus", "extremes"]),
        (ResidualCfg(lanes=2), ["--m", "5"]),
        (SoftmaxCfg(max_len=8, out_bits=16), ["--m", "2", "--k", "6", "--bits", "16"]),
        (LayerNormCfg(dim=8), ["--m", "2", "--stimulus", "constant"]),
        (GeluCfg(lanes=2, in_bits=12), ["--m", "4", "--scale", str(2.0**-10)]),
        (GsbEncoderCfg(lanes=4, max_elems=64), ["--m", "2", "--n", "3", "--k", "4"]),
        (GsbAvCfg(lanes=4, max_n=8, max_d=8), ["--m", "5", "--k", "8"]),
        (ThresholdCfg(lanes=3, x_bits=12), ["--m", "7", "--stimulus", "ties"]),
    ]
    assert {cfg.kind for cfg, _ in cases} == set(UNITS)
    for cfg, extra in cases:
        conf = tmp_path / f"{cfg.kind}.json"
        conf.write_text(json.dumps(cfg.to_dict()))
        case = tmp_path / f"case-{cfg.kind}"
        assert main(["golden", "--config", str(conf), "--out", str(case), *extra]) == 0
        assert main(["golden", "--verify", str(case)]) == 0
        assert main(["simulate", "--case", str(case), "--sim", "icarus"]) == 0
        assert "icarus: PASS (5/5 bench tests bit-exact)" in capsys.readouterr().out


def test_golden_rejects_a_bad_unit_parameter(tmp_path, capsys):
    from golden.spec import RequantCfg
    conf = tmp_path / "rq.json"
    conf.write_text(json.dumps(RequantCfg(lanes=2, acc_bits=16, out_bits=8).to_dict()))
    assert main(["golden", "--config", str(conf), "--out", str(tmp_path / "c"), "--bits",
                 "12"]) == 2
    assert capsys.readouterr().err == ("vitsim: error: --bits: bits must be between 2 and "
                                       "out_bits (8), not 12\n")
    assert not (tmp_path / "c").exists()


def test_verilog_by_unit_name_and_unknown_units(tmp_path, capsys):
    from sim.units import EXAMPLES, UNITS

    assert set(EXAMPLES) <= set(UNITS)
    assert main(["verilog", "layernorm", "--out", str(tmp_path / "v")]) == 0
    assert (tmp_path / "v" / "layernorm.v").is_file()
    assert main(["synth", "nosuchunit", "--out", str(tmp_path / "s")]) == 2
    assert "no hardware unit for config kind 'nosuchunit'" in capsys.readouterr().err
    assert not (tmp_path / "s").exists()
