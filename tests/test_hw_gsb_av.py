# amaranth: UnusedElaboratable=no
"""GsbAv in Amaranth's simulator against golden.intops.gsb_av, and its config."""

import re

import numpy as np
import pytest
from pysim_stream import run_stream

from golden.cases_gsb import (
    GSB_AV_STIMULI,
    GsbAvCfg,
    gsb_av_beats,
    gsb_av_case,
    gsb_av_results,
    load_gsb_av_case,
)
from golden.errors import VitsimError
from golden.intops import gsb_av
from golden.spec import ConfigError
from golden.units import config_from_dict, verify_package
from hw.gsb_av import GsbAv

# (cfg, n, d): a partial last column block; one plane pair per block (P = R = 1) with
# n = max_n; more planes than lanes with a single column.
GEOMETRIES = [
    (GsbAvCfg(lanes=3, max_n=8, max_d=8, w_bits=5), 7, 5),
    (GsbAvCfg(lanes=2, max_n=6, max_d=4, a_planes=1, v_planes=1, w_bits=3), 6, 4),
    (GsbAvCfg(lanes=1, max_n=5, max_d=3, a_planes=4, v_planes=2, w_bits=8), 3, 1),
    # several V columns a beat: the last beat half past d; a last block of one beat
    (GsbAvCfg(lanes=4, max_n=7, max_d=12, w_bits=5, v_cols=4), 7, 10),
    (GsbAvCfg(lanes=8, max_n=5, max_d=16, a_planes=2, v_planes=3, w_bits=4, v_cols=2), 4, 12),
]


def run(pkg, **gaps):
    cfg, op, a, sign, masks, w, y = load_gsb_av_case(pkg)
    n, d = op["n"], op["d"]
    words, cycles = run_stream(GsbAv(cfg), gsb_av_beats(cfg, a, sign, masks, w),
                               n * cfg.blocks(d), **gaps)
    return gsb_av_results(cfg, words, n=n, d=d), y, cycles


@pytest.mark.parametrize("stimulus", GSB_AV_STIMULI)
@pytest.mark.parametrize("cfg,n,d", GEOMETRIES, ids=str)
def test_matches_golden(tmp_path, cfg, n, d, stimulus):
    pkg = gsb_av_case(cfg, tmp_path / "c", n=n, d=d, stimulus=stimulus, seed=11)
    assert verify_package(pkg) == []
    got, y, cycles = run(pkg)
    assert np.array_equal(got, y), f"got\n{got}\nexpected\n{y}"
    assert cycles == cfg.cycles(n=n, d=d)
    if stimulus in ("max", "min"):  # all-ones planes at the extreme weights: the bound
        bound = pkg.op("gsb_av")["acc_bound"]
        assert (y == (bound[1] if stimulus == "max" else bound[0])).all()


@pytest.mark.parametrize("v_cols", [1, 2])
def test_matches_golden_under_gaps(tmp_path, v_cols):
    cfg = GsbAvCfg(lanes=2, max_n=9, max_d=5, w_bits=4, v_cols=v_cols)
    pkg = gsb_av_case(cfg, tmp_path / "c", n=9, d=5, stimulus="random", seed=3)
    got, y, _ = run(pkg, idle=0.3, backpressure=0.4, seed=8)
    assert np.array_equal(got, y)


def test_v_columns_a_beat_take_fewer_beats():
    # the same head in 10 V beats at 1 column a beat, 3 at 4 (the last half past d)
    one, four = GsbAvCfg(lanes=4, max_n=7, max_d=12), GsbAvCfg(lanes=4, max_n=7, max_d=12,
                                                               v_cols=4)
    assert one.cycles(n=7, d=10) - four.cycles(n=7, d=10) == 10 - 3
    assert four.bits_width == 3 * 7 * 4 and one.bits_width == 3 * 7
    assert str(four).endswith("c4") and not str(one).endswith("c1")
    rng = np.random.default_rng(4)
    args = (rng.integers(0, 2, (3, 7, 7)), rng.integers(0, 2, (7, 10)),
            rng.integers(0, 2, (2, 7, 10)), rng.integers(-8, 8, (3, 3)))
    assert len(gsb_av_beats(four, *args)) == 3 + 7


def test_two_heads_back_to_back():
    # The unit returns to the V phase after a head's last output; the second head brings new
    # weights, a narrower V and fewer tokens.
    cfg = GsbAvCfg(lanes=2, max_n=6, max_d=5, w_bits=4)
    rng = np.random.default_rng(1)
    beats, expected = [], []
    for n, d in ((6, 5), (4, 2)):
        a = rng.integers(0, 2, (3, n, n))
        sign, masks = rng.integers(0, 2, (n, d)), rng.integers(0, 2, (2, n, d))
        w = rng.integers(-8, 8, (3, 3))
        beats += gsb_av_beats(cfg, a, sign, masks, w)
        expected.append((n, d, gsb_av(a, sign, masks, w)))
    words, _ = run_stream(GsbAv(cfg), beats, 6 * 3 + 4 * 1, idle=0.2, backpressure=0.2)
    assert np.array_equal(gsb_av_results(cfg, words[:18], n=6, d=5), expected[0][2])
    assert np.array_equal(gsb_av_results(cfg, words[18:], n=4, d=2), expected[1][2])


def test_acc_bits_from_the_bound():
    cfg = GsbAvCfg(max_n=64, a_planes=3, v_planes=3, w_bits=8)
    assert cfg.acc_bound == 64 * 9 * 128 and cfg.acc_bits == 18
    assert GsbAvCfg(lanes=4, max_d=10).depth == 3
    assert cfg.cycles(n=10, d=6) == 6 + 10 * 2 * 9 + 5


def test_config_round_trips_through_json():
    cfg = GsbAvCfg(lanes=2, max_n=16, max_d=8, a_planes=2, v_planes=4, w_bits=6)
    assert config_from_dict(cfg.to_dict()) == cfg


@pytest.mark.parametrize("kwargs,message", [
    (dict(lanes=65), "lanes must be between 1 and 64, not 65"),
    (dict(max_n=0), "max_n must be between 1 and 1024, not 0"),
    (dict(max_d=2000), "max_d must be between 1 and 1024, not 2000"),
    (dict(a_planes=5), "a_planes must be between 1 and 4, not 5"),
    (dict(v_planes=0), "v_planes must be between 1 and 4, not 0"),
    (dict(w_bits=1), "w_bits must be between 2 and 16, not 1"),
    (dict(lanes=4, v_cols=3), "v_cols must be a power of two dividing lanes (4), not 3"),
    (dict(lanes=4, v_cols=8), "v_cols must be a power of two dividing lanes (4), not 8"),
])
def test_config_validation(kwargs, message):
    with pytest.raises(ConfigError, match=f"^{re.escape(message)}$"):
        GsbAvCfg(**kwargs)


def test_shape_and_weight_errors(tmp_path):
    cfg = GsbAvCfg(lanes=2, max_n=4, max_d=4, w_bits=4)
    with pytest.raises(ConfigError, match=r"^n must be between 1 and max_n \(4\), not 5$"):
        cfg.cycles(n=5, d=2)
    with pytest.raises(ConfigError, match=r"^d must be between 1 and max_d \(4\), not 0$"):
        cfg.cycles(n=2, d=0)
    with pytest.raises(VitsimError, match=r"^weights must lie in \[-8, 7\] \(w_bits 4\)$"):
        gsb_av_case(cfg, tmp_path / "c", n=4, d=4, weights=np.full((3, 3), 8))


def test_rejects_non_config():
    with pytest.raises(TypeError, match=r"^cfg must be a GsbAvCfg, not 3$"):
        GsbAv(3)


def test_rows_longer_than_one_popcount_chunk(tmp_path):
    # max_n = 40 > POP_CHUNK: three chunks, the last one partial.
    cfg = GsbAvCfg(lanes=2, max_n=40, max_d=3, w_bits=6)
    pkg = gsb_av_case(cfg, tmp_path / "c", n=37, d=3, stimulus="random", seed=4)
    got, y, cycles = run(pkg)
    assert np.array_equal(got, y) and cycles == cfg.cycles(n=37, d=3)
