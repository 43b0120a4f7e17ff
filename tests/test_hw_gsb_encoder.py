# amaranth: UnusedElaboratable=no
"""GsbEncoder in Amaranth's simulator against golden.intops GSB planes, and its config."""

import numpy as np
import pytest
from pysim_stream import run_stream

from golden.cases_gsb import (
    GSB_ENCODER_STIMULI,
    GsbEncoderCfg,
    gsb_encoder_beats,
    gsb_encoder_case,
    gsb_encoder_results,
    load_gsb_encoder_case,
)
from golden.spec import ConfigError
from golden.units import config_from_dict, verify_package
from hw.gsb_encoder import GsbEncoder

CFG = GsbEncoderCfg(lanes=3, x_bits=8, max_elems=30)


def run(cfg, pkg, **gaps):
    cfg, op, x, planes = load_gsb_encoder_case(pkg)
    beats = gsb_encoder_beats(cfg, x, two_tailed=op["two_tailed"], theta=op["base_theta"] or 0)
    words, cycles = run_stream(GsbEncoder(cfg), beats, len(beats), **gaps)
    return gsb_encoder_results(cfg, words, shape=op["shape"]), planes, cycles


@pytest.mark.parametrize("mode", ["value", "attn"])
@pytest.mark.parametrize("stimulus", GSB_ENCODER_STIMULI)
def test_matches_golden(tmp_path, mode, stimulus):
    # 2 images of 2x5 = 10 elements: 4 beats each, the last one partial (padded).
    pkg = gsb_encoder_case(CFG, tmp_path / "c", shape=(2, 5), mode=mode, theta=-3, images=2,
                           stimulus=stimulus, seed=7)
    assert verify_package(pkg) == []
    got, planes, cycles = run(CFG, pkg)
    assert np.array_equal(got, planes), f"got\n{got}\nexpected\n{planes}"
    assert cycles == CFG.cycles(10, 2) == 2 * (2 * 4 + 4)


@pytest.mark.parametrize("mode", ["value", "attn"])
def test_matches_golden_under_gaps(tmp_path, mode):
    cfg = GsbEncoderCfg(lanes=2, x_bits=6, max_elems=16, ratios=((7, 10), (9, 10), (1, 3)))
    pkg = gsb_encoder_case(cfg, tmp_path / "c", shape=(16,), mode=mode, theta=4, images=3,
                           stimulus="ties", seed=2)
    got, planes, _ = run(cfg, pkg, idle=0.3, backpressure=0.4, seed=5)
    assert np.array_equal(got, planes)
    assert 0 < planes[1:].sum() < planes[1:].size  # the masks are neither empty nor full


def test_ties_are_strict_by_hand():
    # max 10, min -10: 0.7 * 10 = 7 exactly, so 7 is not above it and -7 not below.
    cfg = GsbEncoderCfg(lanes=4, x_bits=8, max_elems=8, ratios=((7, 10),))
    x = np.array([[10, 7, 8, -7, -8, -10, 0, 6]])
    words, _ = run_stream(GsbEncoder(cfg), gsb_encoder_beats(cfg, x, two_tailed=True), 2)
    planes = gsb_encoder_results(cfg, words, shape=(8,))[:, 0]
    assert planes[0].tolist() == [1, 1, 1, 0, 0, 0, 1, 1]  # sign: x >= 0
    assert planes[1].tolist() == [1, 0, 1, 0, 1, 1, 0, 0]


def test_misplaced_last_decodes_as_mismatch():
    cfg = GsbEncoderCfg(lanes=2, x_bits=8, max_elems=8)
    words = [0, 0, 1 << (2 * cfg.planes)]  # last on the 3rd beat of an image of 2 beats
    got = gsb_encoder_results(cfg, words[:2], shape=(4,))
    assert (got == -1).all()


def test_config_round_trips_through_json():
    cfg = GsbEncoderCfg(lanes=2, max_elems=8, ratios=[[1, 2], [3, 4]])
    assert cfg.ratios == ((1, 2), (3, 4))
    assert config_from_dict(cfg.to_dict()) == cfg


@pytest.mark.parametrize("kwargs,message", [
    (dict(lanes=0), "lanes must be between 1 and 64, not 0"),
    (dict(x_bits=1), "x_bits must be between 2 and 32, not 1"),
    (dict(lanes=4, max_elems=10), "max_elems must be a multiple of lanes (4), not 10"),
    (dict(ratios=((1, 2),) * 5), "ratios must be a sequence of at most 4 (num, den) pairs"),
    (dict(ratios=((1, 2, 3),)), "ratios[0] must be a (num, den) pair, not (1, 2, 3)"),
    (dict(ratios=((1, 0),)), "ratios[0] den must be between 1 and 65535, not 0"),
    (dict(ratios=((7, 10), (-1, 2))), "ratios[1] num must be between 0 and 65535, not -1"),
])
def test_config_validation(kwargs, message):
    with pytest.raises(ConfigError) as info:
        GsbEncoderCfg(**kwargs)
    assert str(info.value).startswith(message)


def test_cycle_model_and_size_errors():
    cfg = GsbEncoderCfg(lanes=4, max_elems=64)
    assert cfg.cycles(10) == 2 * 3 + 4 and cfg.cycles(64, 3) == 3 * (2 * 16 + 4)
    with pytest.raises(ConfigError, match=r"^elems must be between 1 and max_elems \(64\)"):
        cfg.cycles(65)
    with pytest.raises(ConfigError, match=r"^images must be a positive integer, not 0$"):
        cfg.cycles(4, 0)


def test_rejects_non_config():
    with pytest.raises(TypeError, match=r"^cfg must be a GsbEncoderCfg, not 3$"):
        GsbEncoder(3)
