"""The plain C++ Verilator harness (the no-Python peer of the benches) checks exactly too."""

import pytest

from golden.cases import binary_array_case, load_binary_array_case
from golden.spec import BinaryArrayCfg
from golden.streams import binary_array_beats, tile_expected_words, tile_results
from hw.binary_array import BinaryMatmulArray
from hw.export import export_verilog
from sim.cxx_harness import build_harness, run_harness, write_stimulus
from sim.toolchain import simulator_available

pytestmark = pytest.mark.sim


def test_expected_words_invert_results():
    cfg = BinaryArrayCfg(rows=2, cols=8, max_k=16)
    import numpy as np
    y = np.array([[3, -16], [0, 16]])
    words = tile_expected_words(cfg, y)
    assert np.array_equal(tile_results(cfg, words, m=2, n=2), y)


def test_harness_passes_good_and_fails_wrong_expectations(tmp_path):
    if not simulator_available("verilator"):
        pytest.fail("verilator is required for the C++ harness")
    cfg = BinaryArrayCfg(rows=4, cols=32, mode="xnor", max_k=128)
    pkg = binary_array_case(cfg, tmp_path / "case", m=5, n=8, k=128, seed=2)
    _, op, a, w, y = load_binary_array_case(pkg)
    vdir = export_verilog(BinaryMatmulArray(cfg), tmp_path / "v", name="binary_array")
    exe = build_harness(vdir / "binary_array.v", top="binary_array", build_dir=tmp_path / "h")
    beats = binary_array_beats(cfg, a, w)
    good = run_harness(exe, write_stimulus(tmp_path / "good.txt", beats,
                                           tile_expected_words(cfg, y)))
    assert good.passed and good.outputs == 10 and good.cycles == op["cycles"]
    bad_y = y.copy()
    bad_y[3, 6] += 2  # transfer 3 * 2 + 1 = 7
    bad = run_harness(exe, write_stimulus(tmp_path / "bad.txt", beats,
                                          tile_expected_words(cfg, bad_y)))
    assert not bad.passed and bad.mismatches == 1 and bad.first_mismatch == 7
