# amaranth: UnusedElaboratable=no
"""Requantizer in Amaranth's simulator against golden.kernels.requantize."""

import numpy as np
import pytest
from pysim_stream import run_stream

from golden.cases import load_requant_case, requant_case
from golden.errors import VitsimError
from golden.kernels import requantize
from golden.spec import ConfigError, RequantCfg
from golden.streams import requant_beats, requant_results
from hw.requantizer import Requantizer

CFG = RequantCfg(lanes=3, acc_bits=20, out_bits=8)
# (mult, shift, bits, signed, stimulus); mult None draws a signed mult per lane and beat,
# and every case draws its biases: per-lane random scales, a fixed scale near 1, the
# narrowest width, unsigned outputs, the most negative mult, exact ties (bias 0 and made
# by the bias), and the extremes of acc, mult and bias together.
PARAMS = [
    (None, 45, 8, True, "random"),
    ((1 << 31) - 1, 31, 8, True, "extremes"),
    (None, 48, 2, True, "random"),
    (None, 44, 5, False, "random"),
    (-(1 << 31), 46, 8, True, "random"),
    (1, 1, 8, True, "ties"),
    (None, 40, 8, True, "tie_bias"),
    (None, 33, 3, False, "extremes"),
    (None, 50, 8, True, "extremes"),
]
# Geometries with 1, 2, 4 and 4 partial products per lane (latency 3, 4, 5, 5).
GEOMETRIES = [
    (RequantCfg(lanes=2, acc_bits=12, out_bits=4, mult_bits=16, bias_bits=24), 3),
    (RequantCfg(lanes=2, acc_bits=16, out_bits=8), 4),
    (RequantCfg(lanes=1, acc_bits=32, out_bits=16), 5),
    (RequantCfg(lanes=2, acc_bits=24, out_bits=6, mult_bits=20, bias_bits=60), 5),
]


def run(pkg, **gaps):
    cfg, op, acc, mult, bias, y = load_requant_case(pkg)
    beats = requant_beats(cfg, acc, mult=mult, bias=bias, shift=op["shift"], bits=op["bits"],
                          signed=op["signed"])
    words, cycles = run_stream(Requantizer(cfg), beats, len(beats), **gaps)
    return requant_results(cfg, words, signed=op["signed"]), y, cycles


@pytest.mark.parametrize("mult,shift,bits,signed,stimulus", PARAMS)
def test_matches_golden(tmp_path, mult, shift, bits, signed, stimulus):
    pkg = requant_case(CFG, tmp_path / "c", beats=24, mult=mult, shift=shift, bits=bits,
                       signed=signed, stimulus=stimulus, seed=4)
    got, y, cycles = run(pkg)
    assert np.array_equal(got, y), f"got\n{got}\nexpected\n{y}"
    assert cycles == CFG.cycles(beats=24)
    assert len(np.unique(y)) > 1  # the case exercises more than one output value


@pytest.mark.parametrize("cfg,latency", GEOMETRIES, ids=str)
@pytest.mark.parametrize("stimulus", ["random", "extremes", "tie_bias"])
def test_every_pipeline_depth(tmp_path, cfg, latency, stimulus):
    assert cfg.latency == latency
    shift = min(cfg.acc_bits + cfg.mult_bits - 4, cfg.bias_bits - 2)
    pkg = requant_case(cfg, tmp_path / "c", beats=20, shift=shift, bits=cfg.out_bits,
                       signed=True, stimulus=stimulus, seed=7)
    got, y, cycles = run(pkg)
    assert np.array_equal(got, y), f"got\n{got}\nexpected\n{y}"
    assert cycles == cfg.cycles(beats=20) == 20 + latency


def test_matches_golden_under_gaps(tmp_path):
    pkg = requant_case(CFG, tmp_path / "c", beats=30, shift=45, bits=6, signed=True, seed=9)
    got, y, _ = run(pkg, idle=0.3, backpressure=0.4, seed=2)
    assert np.array_equal(got, y)


def test_tie_bias_makes_exact_ties_in_range(tmp_path):
    pkg = requant_case(CFG, tmp_path / "c", beats=40, shift=40, bits=8, signed=True,
                       stimulus="tie_bias", seed=1)
    _, op, acc, mult, bias, y = load_requant_case(pkg)
    rest = (acc.astype(object) * mult + bias) % (1 << 40)
    assert np.all(rest == 1 << 39)  # every value ends in exactly .5 of an output step
    assert np.mean((y > -128) & (y < 127)) > 0.5  # most land inside the clamp range
    assert len(np.unique(mult)) > 10  # per-lane, per-beat multipliers


def test_ties_round_up_by_hand():
    cfg = RequantCfg(lanes=4, acc_bits=8, out_bits=8)
    acc = np.array([[1, -1, 3, -3]])
    words, _ = run_stream(Requantizer(cfg), requant_beats(cfg, acc, mult=1, shift=1, bits=8,
                                                          signed=True), 1)
    # 0.5 -> 1, -0.5 -> 0, 1.5 -> 2, -1.5 -> -1
    assert requant_results(cfg, words, signed=True).tolist() == [[1, 0, 2, -1]]


def test_negative_mult_and_bias_per_lane_by_hand():
    cfg = RequantCfg(lanes=4, acc_bits=8, out_bits=8)
    acc = np.array([[10, 10, -7, 100]])
    mult, bias = np.array([-3, 3, -1, 1 << 20]), np.array([0, -8, 4, 0])
    words, _ = run_stream(Requantizer(cfg), requant_beats(cfg, acc, mult=mult, bias=bias,
                                                          shift=2, bits=8, signed=True), 1)
    # (-30+2)>>2 = -7, (30-8+2)>>2 = 6, (7+4+2)>>2 = 3, clamped 127
    got = requant_results(cfg, words, signed=True)
    assert got.tolist() == [[-7, 6, 3, 127]]
    assert np.array_equal(got, requantize(acc, mult=mult, bias=bias, shift=2, lo=-128, hi=127))


def test_config_fields_and_latency():
    cfg = RequantCfg(lanes=4, acc_bits=24)
    assert (cfg.mult_bits, cfg.bias_bits, cfg.partial_products, cfg.sum_stages) == (32, 48, 4, 3)
    assert (cfg.latency, cfg.cycles(beats=10), str(cfg)) == (5, 15, "l4a24o8")
    assert str(RequantCfg(lanes=1, acc_bits=8, mult_bits=16)) == "l1a8o8m16"
    assert [RequantCfg.pieces(b) for b in (2, 18, 19, 35, 36)] == [1, 1, 2, 2, 3]
    assert Requantizer(cfg).latency == cfg.latency
    with pytest.raises(ConfigError, match=r"^mult_bits must be between 2 and 32, not 33$"):
        RequantCfg(lanes=1, acc_bits=8, mult_bits=33)
    with pytest.raises(ConfigError, match=r"^bias_bits must be between 2 and 60, not 61$"):
        RequantCfg(lanes=1, acc_bits=8, bias_bits=61)


def test_case_rejects_bad_parameters(tmp_path):
    cfg = RequantCfg(lanes=2, acc_bits=8, out_bits=8, mult_bits=8, bias_bits=16)
    with pytest.raises(VitsimError, match=r"^mult must lie in \[-128, 127\] \(mult_bits\), "
                                          r"not 128$"):
        requant_case(cfg, tmp_path / "c", beats=2, mult=128, shift=4, bits=8, signed=True)
    with pytest.raises(VitsimError, match=r"^bias must broadcast to \[beats, lanes\] \[2, 2\]$"):
        requant_case(cfg, tmp_path / "c", beats=2, bias=[1, 2, 3], shift=4, bits=8,
                     signed=True)
    with pytest.raises(VitsimError, match=r"^stimulus 'tie_bias' needs shift <= bias_bits - 2 "
                                          r"\(14\), not 15$"):
        requant_case(cfg, tmp_path / "c", beats=2, shift=15, bits=8, signed=True,
                     stimulus="tie_bias")
    with pytest.raises(VitsimError, match=r"^shift must be between 1 and 62, not 0$"):
        requant_case(cfg, tmp_path / "c", beats=2, shift=0, bits=8, signed=True)
    with pytest.raises(VitsimError, match=r"^stimulus must be one of random, extremes, ties, "
                                          r"tie_bias, not 'odd'$"):
        requant_case(cfg, tmp_path / "c", beats=2, shift=4, bits=8, signed=True,
                     stimulus="odd")
    assert not (tmp_path / "c").exists()


def test_rejects_non_config():
    with pytest.raises(TypeError, match=r"^cfg must be a RequantCfg, not 3$"):
        Requantizer(3)
