# amaranth: UnusedElaboratable=no
"""ResidualAdd in Amaranth's simulator against golden.residual.residual_add."""

import numpy as np
import pytest
from pysim_stream import run_stream

from golden.cases import load_residual_case, residual_case
from golden.errors import VitsimError
from golden.residual import residual_add
from golden.spec import ConfigError, ResidualCfg
from golden.streams import residual_beats, residual_results
from golden.units import config_from_dict, verify_package
from hw.residual import ResidualAdd

# Saturating (out_bits <= in_bits), exact (out_bits = in_bits + 1), narrowing and widest.
CONFIGS = [ResidualCfg(lanes=4, in_bits=8, out_bits=8), ResidualCfg(lanes=3, in_bits=6,
                                                                     out_bits=7),
           ResidualCfg(lanes=2, in_bits=12, out_bits=5), ResidualCfg(lanes=1, in_bits=32,
                                                                     out_bits=32)]


def run(pkg, **gaps):
    cfg, _, a, b, y = load_residual_case(pkg)
    words, cycles = run_stream(ResidualAdd(cfg), residual_beats(cfg, a, b), len(y), **gaps)
    return residual_results(cfg, words), y, cycles


@pytest.mark.parametrize("cfg", CONFIGS, ids=str)
@pytest.mark.parametrize("stimulus", ["random", "extremes"])
def test_matches_golden(tmp_path, cfg, stimulus):
    pkg = residual_case(cfg, tmp_path / "c", beats=25, stimulus=stimulus, seed=3)
    got, y, cycles = run(pkg)
    assert np.array_equal(got, y), f"got\n{got}\nexpected\n{y}"
    assert cycles == cfg.cycles(beats=25) == 25 + 1
    assert verify_package(pkg) == []


def test_matches_golden_under_gaps(tmp_path):
    pkg = residual_case(CONFIGS[0], tmp_path / "c", beats=40, stimulus="extremes", seed=8)
    got, y, _ = run(pkg, idle=0.3, backpressure=0.4, seed=1)
    assert np.array_equal(got, y)


def test_saturates_both_ways_by_hand():
    cfg = ResidualCfg(lanes=4, in_bits=8, out_bits=8)
    a, b = np.array([[100, -100, 3, 127]]), np.array([[100, -100, -4, -128]])
    words, _ = run_stream(ResidualAdd(cfg), residual_beats(cfg, a, b), 1)
    assert residual_results(cfg, words).tolist() == [[127, -128, -1, -1]]
    assert residual_add(a, b, out_bits=8).tolist() == [[127, -128, -1, -1]]


def test_extremes_reach_both_saturations(tmp_path):
    pkg = residual_case(CONFIGS[0], tmp_path / "c", beats=40, stimulus="extremes")
    y = pkg.tensors["y"]
    assert y.min() == -128 and y.max() == 127


def test_config_and_case_errors(tmp_path):
    cfg = ResidualCfg(lanes=2)
    assert (cfg.in_bits, cfg.out_bits, cfg.latency, cfg.cycles(beats=7), str(cfg)) == (
        8, 8, 1, 8, "res_l2i8o8")
    assert config_from_dict(cfg.to_dict()) == cfg and ResidualAdd(cfg).latency == 1
    with pytest.raises(ConfigError, match=r"^in_bits must be between 2 and 32, not 33$"):
        ResidualCfg(lanes=2, in_bits=33)
    with pytest.raises(ConfigError, match=r"^lanes must be between 1 and 256, not 0$"):
        ResidualCfg(lanes=0)
    with pytest.raises(ConfigError, match=r"^beats must be a positive integer, not 0$"):
        cfg.cycles(beats=0)
    with pytest.raises(VitsimError, match=r"^stimulus must be one of random, extremes, "
                                          r"not 'max'$"):
        residual_case(cfg, tmp_path / "c", beats=2, stimulus="max")
    assert not (tmp_path / "c").exists()


def test_rejects_non_config():
    with pytest.raises(TypeError, match=r"^cfg must be a ResidualCfg, not 3$"):
        ResidualAdd(3)
