# amaranth: UnusedElaboratable=no
"""MacArray in Amaranth's simulator against golden.kernels.int_matmul, every width 1..8."""

import numpy as np
import pytest
from pysim_stream import run_stream

from golden.cases import load_mac_array_case, mac_array_case
from golden.spec import MacArrayCfg
from golden.streams import mac_array_beats, tile_results
from hw.mac_array import MacArray

CFG = MacArrayCfg(rows=2, cols=4, digit_bits=2, max_bits=8, max_k=32)
#: DeiT's patch-embedding array takes 4-bit digits (sim.compiler.sizing.patch_digit_bits)
CFG4 = MacArrayCfg(rows=2, cols=4, digit_bits=4, max_bits=8, max_k=32)
DIGITS = pytest.mark.parametrize("cfg", [CFG, CFG4], ids=["d2", "d4"])
SHAPE = dict(m=3, n=4, k=8)


def run(cfg, pkg, **gaps):
    cfg, op, a, w, y = load_mac_array_case(pkg)
    beats = mac_array_beats(cfg, a, w, w_bits=op["w_bits"], a_bits=op["a_bits"],
                            w_signed=op["w_signed"], a_signed=op["a_signed"])
    words, cycles = run_stream(MacArray(cfg), beats, op["m"] * (op["n"] // cfg.rows), **gaps)
    return tile_results(cfg, words, m=op["m"], n=op["n"]), y, cycles


@DIGITS
@pytest.mark.parametrize("bits", range(2, 9))
@pytest.mark.parametrize("a_signed", [True, False], ids=["sxs", "uxs"])
def test_every_width(tmp_path, cfg, bits, a_signed):
    pkg = mac_array_case(cfg, tmp_path / "c", w_bits=bits, a_bits=bits, a_signed=a_signed,
                         seed=bits, **SHAPE)
    got, y, cycles = run(cfg, pkg)
    assert np.array_equal(got, y), f"got\n{got}\nexpected\n{y}"
    assert cycles == cfg.cycles(w_bits=bits, a_bits=bits, **SHAPE)


@pytest.mark.parametrize("w_bits,a_bits,a_signed", [(3, 5, False), (8, 1, False), (2, 7, True),
                                                    (6, 3, True)])
def test_mixed_widths(tmp_path, w_bits, a_bits, a_signed):
    pkg = mac_array_case(CFG, tmp_path / "c", w_bits=w_bits, a_bits=a_bits, a_signed=a_signed,
                         **SHAPE)
    got, y, cycles = run(CFG, pkg)
    assert np.array_equal(got, y)
    assert cycles == CFG.cycles(w_bits=w_bits, a_bits=a_bits, **SHAPE)


@DIGITS
@pytest.mark.parametrize("stimulus", ["max", "min"])
@pytest.mark.parametrize("a_signed", [True, False])
def test_accumulator_corners(tmp_path, cfg, stimulus, a_signed):
    pkg = mac_array_case(cfg, tmp_path / "c", m=1, n=2, k=32, w_bits=8, a_bits=8,
                         a_signed=a_signed, stimulus=stimulus)
    got, y, _ = run(cfg, pkg)
    assert np.array_equal(got, y)
    corner = {(True, "max"): -128 * -128, (True, "min"): -128 * 127,
              (False, "max"): 255 * 127, (False, "min"): 255 * -128}[(a_signed, stimulus)]
    assert np.all(y == 32 * corner)


def test_gaps(tmp_path):
    pkg = mac_array_case(CFG, tmp_path / "c", w_bits=4, a_bits=3, a_signed=True, seed=1,
                         **SHAPE)
    got, y, _ = run(CFG, pkg, idle=0.3, backpressure=0.4, seed=5)
    assert np.array_equal(got, y)


def test_throughput_grows_as_widths_shrink():
    assert [CFG4.passes(w_bits=b, a_bits=b) for b in (8, 6, 4, 2)] == [4, 4, 1, 1]
    passes = [CFG.passes(w_bits=b, a_bits=b) for b in (8, 6, 4, 2)]
    assert passes == [16, 9, 4, 1]
    assert CFG.acc_bits == 21  # 32 * 255 * -128 = -1,044,480 needs 21 bits


def test_rejects_signed_single_bit(tmp_path):
    from golden.errors import VitsimError
    with pytest.raises(VitsimError, match=r"^a_bits=1 must be unsigned on the MAC array"):
        mac_array_case(CFG, tmp_path / "c", w_bits=2, a_bits=1, a_signed=True, **SHAPE)


@pytest.mark.parametrize("cols,tree_stages", [(1, 0), (2, 1), (3, 1), (4, 1), (5, 2), (8, 2),
                                              (16, 2), (32, 3)])
def test_pipeline_depth_follows_cols(tmp_path, cols, tree_stages):
    cfg = MacArrayCfg(rows=2, cols=cols, max_k=4 * cols)
    assert cfg.tree_stages == tree_stages and cfg.latency == 5 + tree_stages
    assert MacArray(cfg).latency == cfg.latency
    pkg = mac_array_case(cfg, tmp_path / "c", m=2, n=2, k=2 * cols, w_bits=5, a_bits=4,
                         a_signed=True, seed=cols)
    got, y, cycles = run(cfg, pkg)
    assert np.array_equal(got, y)
    assert cycles == cfg.cycles(m=2, n=2, k=2 * cols, w_bits=5, a_bits=4)
