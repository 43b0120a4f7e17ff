"""BinaryMatmulArray's Verilog under cocotb, on Verilator and Icarus, against golden cases."""

import pytest

from golden.cases import binary_array_case
from golden.package import write_package
from golden.spec import BinaryArrayCfg
from hw.binary_array import BinaryMatmulArray
from hw.export import export_verilog
from sim.runner import run_bench

pytestmark = pytest.mark.sim
BENCH = "sim.benches.binary_array_bench"
CONFIGS = [
    (BinaryArrayCfg(rows=4, cols=16, mode="xnor", max_k=64), dict(m=3, n=8, k=64)),
    (BinaryArrayCfg(rows=3, cols=32, mode="and", max_k=128), dict(m=2, n=6, k=96)),
    (BinaryArrayCfg(rows=8, cols=64, mode="xnor", max_k=256), dict(m=2, n=16, k=256)),
]


def build_and_run(cfg, case, tmp_path, simulator, **kw):
    vdir = export_verilog(BinaryMatmulArray(cfg), tmp_path / "v", name="binary_array")
    return run_bench(verilog_dir=vdir, top="binary_array", bench=BENCH, case_dir=case,
                     build_dir=tmp_path / "build", sim=simulator, **kw)


@pytest.mark.parametrize("cfg,shape", CONFIGS, ids=[str(c) for c, _ in CONFIGS])
def test_bit_exact_with_gaps(cfg, shape, tmp_path, simulator):
    binary_array_case(cfg, tmp_path / "case", seed=11, **shape)
    result = build_and_run(cfg, tmp_path / "case", tmp_path, simulator)
    assert result.passed, result.summary()
    by_name = {r["name"]: r for r in result.records}
    assert set(by_name) == {"check-idle0-bp0", "check-idle0-bp1", "check-idle1-bp0",
                            "check-idle1-bp1", "speed"}
    model = cfg.cycles(**shape)
    assert by_name["speed"]["cycles"] == model == by_name["check-idle0-bp0"]["cycles"]
    assert by_name["check-idle1-bp1"]["cycles"] > model  # the gaps really were injected


@pytest.mark.parametrize("stimulus", ["max", "min"])
def test_accumulator_corners(stimulus, tmp_path, simulator):
    cfg = BinaryArrayCfg(rows=2, cols=16, mode="xnor", max_k=128)
    binary_array_case(cfg, tmp_path / "case", m=1, n=2, k=128, stimulus=stimulus)
    result = build_and_run(cfg, tmp_path / "case", tmp_path, simulator, test_filter="speed")
    assert result.passed, result.summary()


def test_a_wrong_expectation_is_caught_and_located(tmp_path, simulator):
    cfg = BinaryArrayCfg(rows=4, cols=16, mode="xnor", max_k=64)
    pkg = binary_array_case(cfg, tmp_path / "good", m=2, n=8, k=32, seed=3)
    y = pkg.tensors["y"].copy()
    y[1, 5] += 2
    manifest = {k: v for k, v in pkg.manifest.items() if k not in ("tensors", "files")}
    write_package(tmp_path / "bad", manifest=manifest, tensors={**pkg.tensors, "y": y})
    result = build_and_run(cfg, tmp_path / "bad", tmp_path, simulator, test_filter="speed")
    assert not result.passed and result.num_failed == 1
    mismatch = result.records[0]["mismatch"]
    assert mismatch["element"] == [1, 5] and mismatch["tile"] == 3 and mismatch["lane"] == 1
    assert (mismatch["expected"], mismatch["got"]) == (int(y[1, 5]), int(y[1, 5]) - 2)
    assert mismatch["cycle"] is not None and mismatch["op"] == "binary_matmul"


def test_waveform_on_request(tmp_path, simulator):
    cfg = BinaryArrayCfg(rows=2, cols=8, mode="and", max_k=16)
    binary_array_case(cfg, tmp_path / "case", m=1, n=2, k=16)
    result = build_and_run(cfg, tmp_path / "case", tmp_path, simulator, waves=True,
                           test_filter="speed")
    assert result.passed, result.summary()
    assert result.waves is not None and result.waves.stat().st_size > 0
    assert result.records[0]["cycles"] == cfg.cycles(m=1, n=2, k=16)
