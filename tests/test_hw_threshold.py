# amaranth: UnusedElaboratable=no
"""Threshold in Amaranth's simulator against golden.intops.threshold."""

import numpy as np
import pytest
from pysim_stream import run_stream

from golden.cases_threshold import (
    ThresholdCfg,
    clamp_theta,
    load_threshold_case,
    threshold_beats,
    threshold_case,
    threshold_results,
    write_threshold_case,
)
from golden.errors import VitsimError
from golden.intops import threshold
from golden.spec import ConfigError
from golden.units import config_from_dict, verify_package
from hw.threshold import Threshold

CONFIGS = [ThresholdCfg(lanes=4, x_bits=8), ThresholdCfg(lanes=3, x_bits=2),
           ThresholdCfg(lanes=1, x_bits=32)]


def run(pkg, **gaps):
    cfg, _, x, theta, flip, y = load_threshold_case(pkg)
    words, cycles = run_stream(Threshold(cfg), threshold_beats(cfg, x, theta, flip), len(y),
                               **gaps)
    return threshold_results(cfg, words), y, cycles


@pytest.mark.parametrize("cfg", CONFIGS, ids=str)
@pytest.mark.parametrize("stimulus", ["random", "ties"])
def test_matches_golden(tmp_path, cfg, stimulus):
    pkg = threshold_case(cfg, tmp_path / "c", beats=30, stimulus=stimulus, seed=4)
    got, y, cycles = run(pkg)
    assert np.array_equal(got, y), f"got\n{got}\nexpected\n{y}"
    assert cycles == cfg.cycles(beats=30) == 31
    assert verify_package(pkg) == []


def test_matches_golden_under_gaps(tmp_path):
    pkg = threshold_case(CONFIGS[0], tmp_path / "c", beats=40, stimulus="ties", seed=8)
    got, y, _ = run(pkg, idle=0.3, backpressure=0.4, seed=1)
    assert np.array_equal(got, y)


def test_by_hand_and_theta_clamp(tmp_path):
    cfg = ThresholdCfg(lanes=4, x_bits=4)  # x in [-8, 7], theta in [-9, 8]
    x = np.array([[-8, 7, 3, 3]])
    theta = clamp_theta(cfg, [[-(1 << 62), 1 << 62, 3, 3]])
    flip = np.array([[0, 1, 0, 1]])
    assert theta.tolist() == [[-9, 8, 3, 3]]
    words, _ = run_stream(Threshold(cfg), threshold_beats(cfg, x, theta, flip), 1)
    assert threshold_results(cfg, words).tolist() == [[1, 1, 1, 1]]
    assert threshold(x, theta, flip.astype(bool)).tolist() == [[1, 1, 1, 1]]
    with pytest.raises(VitsimError, match=r"^op 'blocks.0.q' \(layer 0, head None\): the "
                                          r"recorded output differs"):
        write_threshold_case(cfg, tmp_path / "c", x=x, theta=theta, flip=flip,
                             expected=[[1, 1, 0, 1]], op_meta={"name": "blocks.0.q",
                                                               "layer": 0})
    assert not (tmp_path / "c").exists()


def test_config_and_case_errors(tmp_path):
    cfg = ThresholdCfg(lanes=2, x_bits=8)
    assert (cfg.theta_bits, cfg.latency, cfg.cycles(beats=7), str(cfg)) == (9, 1, 8,
                                                                            "thr_l2x8")
    assert config_from_dict(cfg.to_dict()) == cfg and Threshold(cfg).latency == 1
    with pytest.raises(ConfigError, match=r"^x_bits must be between 2 and 32, not 33$"):
        ThresholdCfg(lanes=2, x_bits=33)
    with pytest.raises(ConfigError, match=r"^beats must be a positive integer, not 0$"):
        cfg.cycles(beats=0)
    with pytest.raises(VitsimError, match=r"^stimulus must be one of random, ties, "
                                          r"not 'max'$"):
        threshold_case(cfg, tmp_path / "c", beats=2, stimulus="max")
    with pytest.raises(VitsimError, match=r"^theta must lie in \[-129, 128\]"):
        write_threshold_case(cfg, tmp_path / "c", x=[[0, 0]], theta=[[0, 200]], flip=[[0, 0]])
    assert not (tmp_path / "c").exists()
    with pytest.raises(TypeError, match=r"^cfg must be a ThresholdCfg, not 3$"):
        Threshold(3)
