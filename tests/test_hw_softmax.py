# amaranth: UnusedElaboratable=no
"""Softmax in Amaranth's simulator against golden.nonlinear.int_softmax."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pysim_stream import run_stream

from golden.cases_softmax import (
    SoftmaxCfg,
    load_softmax_case,
    softmax_beats,
    softmax_case,
    softmax_results,
)
from golden.nonlinear import int_softmax, softmax_params
from golden.spec import ConfigError
from hw.softmax import Softmax

CFG = SoftmaxCfg(max_len=24, x_bits=16, scale_exp=16, out_bits=16)
# (rows, row_len, scale, out_bits, stimulus): attention-like logits at two scales and
# widths, the whole x range (clamped at floor_q * x0), equal rows, one spike per row,
# rows of one element, rows of max_len, and the coarsest and finest accepted scales.
PARAMS = [
    (3, 11, 1 / 64, 8, "random"),
    (2, 17, 2.0 ** -10, 16, "random"),
    (2, 13, 2.0 ** -12, 12, "uniform"),
    (3, 6, 1 / 100, 8, "equal"),
    (3, 9, 1 / 64, 8, "spike"),
    (5, 1, 1 / 64, 8, "random"),
    (2, 24, 1 / 32, 4, "random"),
    (2, 10, 0.75, 8, "random"),
    (2, 10, 2.0 ** -16, 8, "uniform"),
]


def run(cfg, pkg, **gaps):
    cfg, _, p, x, y = load_softmax_case(pkg)
    beats = softmax_beats(cfg, x, p)
    words, cycles = run_stream(Softmax(cfg), beats, len(beats), **gaps)
    return softmax_results(cfg, words, row_len=x.shape[1]), y, cycles


@pytest.mark.parametrize("rows,row_len,scale,out_bits,stimulus", PARAMS)
def test_matches_golden(tmp_path, rows, row_len, scale, out_bits, stimulus):
    pkg = softmax_case(CFG, tmp_path / "c", rows=rows, row_len=row_len, scale=scale,
                       out_bits=out_bits, stimulus=stimulus, seed=7)
    got, y, cycles = run(CFG, pkg)
    assert np.array_equal(got, y), f"got\n{got}\nexpected\n{y}"
    # a lone row's 3 * beats + 39, then the slowest engine's period a row: the load
    # engine's beats + 1 or the divider's 18 + 1
    assert cycles == CFG.cycles(rows=rows, row_len=row_len) == (
        3 * row_len + 39 + (rows - 1) * max(row_len + 1, 19))


@pytest.mark.parametrize("cfg,case", [
    (SoftmaxCfg(max_len=1, x_bits=2, scale_exp=1, out_bits=2),
     dict(rows=3, row_len=1, scale=0.5, out_bits=2, stimulus="uniform")),
    (SoftmaxCfg(max_len=5, x_bits=2, scale_exp=1, out_bits=4),
     dict(rows=4, row_len=5, scale=0.5, out_bits=4, stimulus="uniform")),
    (SoftmaxCfg(max_len=7, x_bits=32, scale_exp=20, out_bits=16),
     dict(rows=3, row_len=7, scale=2.0 ** -20, out_bits=16, stimulus="random")),
    (SoftmaxCfg(max_len=7, x_bits=32, scale_exp=20, out_bits=16),
     dict(rows=3, row_len=7, scale=0.999, out_bits=16, stimulus="uniform")),
], ids=["smallest", "2-bit-logits", "widest-random", "widest-coarse"])
def test_extreme_configs(tmp_path, cfg, case):
    pkg = softmax_case(cfg, tmp_path / "c", seed=3, **case)
    got, y, _ = run(cfg, pkg, backpressure=0.3, seed=1)
    assert np.array_equal(got, y)


@settings(max_examples=25)
@given(st.integers(1, 3), st.integers(1, 12), st.floats(2.0 ** -14, 0.99), st.integers(2, 16),
       st.integers(0, 2**32 - 1), st.integers(1, 4))
def test_any_scale_width_and_logits(rows, row_len, scale, out_bits, seed, div_bits):
    cfg = SoftmaxCfg(max_len=12, x_bits=18, scale_exp=14, out_bits=16, div_bits=div_bits)
    p = softmax_params(scale, out_bits=out_bits)
    x = np.random.default_rng(seed).integers(-2**17, 2**17, (rows, row_len)) >> (seed % 17)
    words, cycles = run_stream(Softmax(cfg), softmax_beats(cfg, x, p), x.size)
    assert np.array_equal(softmax_results(cfg, words, row_len=row_len), int_softmax(x, p))
    assert cycles == cfg.cycles(rows=rows, row_len=row_len)


def test_cases_reach_the_interesting_outputs(tmp_path):
    spike = softmax_case(CFG, tmp_path / "s", rows=2, row_len=9, scale=1 / 64,
                         stimulus="spike").tensors["y"]
    assert sorted(set(spike.ravel().tolist())) == [0, 255]  # 1.0 clamps to 2**8 - 1
    equal = softmax_case(CFG, tmp_path / "e", rows=2, row_len=6, scale=1 / 100,
                         stimulus="equal").tensors["y"]
    assert len(set(equal.ravel().tolist())) == 1 and equal[0, 0] in (42, 43)
    rand = softmax_case(CFG, tmp_path / "r", rows=3, row_len=11, scale=1 / 64).tensors["y"]
    assert len(np.unique(rand)) > 4


@pytest.mark.parametrize("seed", [1, 2])
def test_matches_golden_under_gaps(tmp_path, seed):
    pkg = softmax_case(CFG, tmp_path / "c", rows=3, row_len=14, scale=1 / 64, seed=seed)
    got, y, cycles = run(CFG, pkg, idle=0.3, backpressure=0.4, seed=seed)
    assert np.array_equal(got, y)
    assert cycles > CFG.cycles(rows=3, row_len=14)  # the gaps really were injected


def test_rows_of_different_lengths_and_scales_back_to_back():
    cfg = SoftmaxCfg(max_len=16, x_bits=12, scale_exp=12, out_bits=8)
    rng = np.random.default_rng(3)
    rows = [(rng.integers(-2000, 2000, (1, 5)), softmax_params(1 / 64)),
            (rng.integers(-2000, 2000, (1, 16)), softmax_params(2.0 ** -10, out_bits=6)),
            (rng.integers(-50, 50, (1, 1)), softmax_params(0.5, out_bits=3)),
            (rng.integers(-2048, 2047, (1, 7)), softmax_params(2.0 ** -12))]
    beats = [w for x, p in rows for w in softmax_beats(cfg, x, p)]
    words, cycles = run_stream(Softmax(cfg), beats, len(beats), backpressure=0.3, seed=4)
    at = 0
    for x, p in rows:
        n = x.shape[1]
        assert np.array_equal(softmax_results(cfg, words[at:at + n], row_len=n),
                              int_softmax(x, p))
        at += n


def test_the_max_len_th_beat_ends_a_row():
    cfg = SoftmaxCfg(max_len=8, x_bits=10, scale_exp=8)
    p = softmax_params(1 / 32)
    x = np.random.default_rng(0).integers(-300, 300, (2, 8))
    last_bit = 1 << (cfg.in_bits - 1)
    beats = [w & ~last_bit for w in softmax_beats(cfg, x, p)]  # no last flags at all
    words, cycles = run_stream(Softmax(cfg), beats, len(beats))
    assert np.array_equal(softmax_results(cfg, words, row_len=8), int_softmax(x, p))
    assert cycles == cfg.cycles(rows=2, row_len=8)


def test_a_misplaced_last_flag_decodes_as_a_mismatch():
    cfg = SoftmaxCfg(max_len=4)
    last = 1 << cfg.out_bits
    words = [5, 6 | last, 7 | last, 8 | last]
    assert softmax_results(cfg, words, row_len=2).tolist() == [[5, 6], [-1, 8]]


def test_latency_comes_from_the_config():
    cfg = SoftmaxCfg(max_len=16)
    assert Softmax(cfg).latency == cfg.latency == 39
    assert [Softmax(SoftmaxCfg(max_len=16, div_bits=d)).latency for d in (2, 3, 4)] == [
        13 + 9 + 8, 13 + 6 + 8, 13 + 5 + 8]
    assert SoftmaxCfg(max_len=16, lanes=8).row_cycles(13) == 18 + 1  # the divider's
    assert SoftmaxCfg(max_len=16, lanes=8, div_bits=4).row_cycles(13) == 5 + 1
    assert SoftmaxCfg(max_len=16, lanes=2, div_bits=4).row_cycles(13) == 7 + 1  # load
    with pytest.raises(ConfigError, match=r"^lanes must be between 1 and 64, not 0$"):
        SoftmaxCfg(lanes=0)


def test_rejects_non_config():
    with pytest.raises(TypeError, match=r"^cfg must be a SoftmaxCfg, not 3$"):
        Softmax(3)


# ------------------------------------------------------------------------ lanes > 1


@pytest.mark.parametrize("lanes,rows,row_len,scale,stimulus", [
    (4, 3, 11, 1 / 64, "random"),  # last beat: 3 lanes of 4
    (4, 2, 24, 2.0 ** -10, "uniform"),  # whole beats, the row at max_len
    (8, 3, 9, 1 / 64, "spike"),  # last beat: 1 lane of 8
    (3, 5, 1, 1 / 64, "random"),  # rows of one logit
    (8, 3, 6, 1 / 100, "equal"),  # one beat a row
], ids=str)
def test_lanes_match_golden(tmp_path, lanes, rows, row_len, scale, stimulus):
    cfg = SoftmaxCfg(max_len=24, x_bits=16, scale_exp=16, out_bits=16, lanes=lanes)
    pkg = softmax_case(cfg, tmp_path / "c", rows=rows, row_len=row_len, scale=scale,
                       stimulus=stimulus, seed=5)
    _, _, p, x, y = load_softmax_case(pkg)
    # the lanes past the row carry the largest logit: ignored by the max and the sum
    beats = softmax_beats(cfg, x, p, fill=(1 << 15) - 1)
    words, cycles = run_stream(Softmax(cfg), beats, len(beats))
    got = softmax_results(cfg, words, row_len=row_len)
    assert np.array_equal(got, y), f"got\n{got}\nexpected\n{y}"
    nb = -(-row_len // lanes)
    assert len(words) == rows * nb
    assert cycles == cfg.cycles(rows=rows, row_len=row_len) == (
        3 * nb + 39 + (rows - 1) * max(nb + 1, 19))
    pad = nb * lanes - row_len
    mask = (1 << cfg.out_bits) - 1
    padding = [(w >> (cfg.out_bits * e)) & mask for w in words[nb - 1::nb]
               for e in range(lanes - pad, lanes)]
    assert padding == [0] * (rows * pad)  # lanes past the row leave as 0


def test_lanes_under_gaps_and_rows_of_different_lengths():
    cfg = SoftmaxCfg(max_len=16, x_bits=12, scale_exp=12, out_bits=8, lanes=4)
    rng = np.random.default_rng(8)
    rows = [(rng.integers(-2000, 2000, (1, 5)), softmax_params(1 / 64)),
            (rng.integers(-2000, 2000, (2, 16)), softmax_params(2.0 ** -10, out_bits=6)),
            (rng.integers(-50, 50, (1, 1)), softmax_params(0.5, out_bits=3)),
            (rng.integers(-2048, 2047, (1, 7)), softmax_params(2.0 ** -12))]
    beats = [w for x, p in rows for w in softmax_beats(cfg, x, p, fill=-7)]
    words, cycles = run_stream(Softmax(cfg), beats, len(beats), idle=0.3, backpressure=0.4,
                               seed=6)
    at = 0
    for x, p in rows:
        n = cfg.beats(x.shape[1]) * x.shape[0]
        assert np.array_equal(softmax_results(cfg, words[at:at + n], row_len=x.shape[1]),
                              int_softmax(x, p))
        at += n
    assert at == len(words)
    # the rows are short, so the divider (19 cycles a row) sets the pace and the engines
    # absorb these gaps: never faster than with none
    _, free = run_stream(Softmax(cfg), beats, len(beats))
    assert cycles >= free


def test_lanes_the_max_len_th_logit_ends_a_row():
    cfg = SoftmaxCfg(max_len=10, x_bits=10, scale_exp=8, lanes=4)
    p = softmax_params(1 / 32)
    x = np.random.default_rng(1).integers(-300, 300, (2, 10))
    last_bit = 1 << (cfg.in_bits - 1)
    tail_bits = ((1 << cfg.tail_bits) - 1) << (cfg.in_bits - 1 - cfg.tail_bits)
    # no last flags and no tail: the beat holding the 10th logit ends the row
    beats = [w & ~last_bit & ~tail_bits for w in softmax_beats(cfg, x, p)]
    words, cycles = run_stream(Softmax(cfg), beats, len(beats))
    assert np.array_equal(softmax_results(cfg, words, row_len=10), int_softmax(x, p))
    assert cycles == cfg.cycles(rows=2, row_len=10) == 3 * 3 + 39 + 19


# ------------------------------------------------------------------------ overlapping rows


@pytest.mark.parametrize("lanes,div_bits,row_len", [(1, 1, 7), (2, 2, 18), (4, 4, 24)])
def test_rows_overlap(lanes, div_bits, row_len):
    """Row r + 1 is loaded while row r is still in the exp pipeline, and rows leave one
    period apart: a unit that took one row at a time fails both."""
    cfg = SoftmaxCfg(max_len=24, x_bits=16, scale_exp=16, out_bits=16, lanes=lanes,
                     div_bits=div_bits)
    p = softmax_params(1 / 64)
    x = np.random.default_rng(lanes).integers(-3000, 3000, (6, row_len))
    seen = {}
    words, cycles = run_stream(Softmax(cfg), softmax_beats(cfg, x, p), 6 * cfg.beats(row_len),
                               timeline=seen)
    assert np.array_equal(softmax_results(cfg, words, row_len=row_len), int_softmax(x, p))
    nb, period = cfg.beats(row_len), cfg.row_cycles(row_len)
    first_in = seen["in"][::nb]  # each row's first beat
    last_out = seen["out"][nb - 1::nb]  # each row's last result
    assert first_in[1] - first_in[0] == nb + 1  # loaded right after the first row
    assert first_in[1] < last_out[0] - 3 * nb  # long before the first row's results
    assert np.diff(last_out).tolist() == [period] * 5
    assert period < 3 * nb + cfg.latency and cycles < 6 * cfg.cycles(rows=1, row_len=row_len)


@settings(max_examples=30, deadline=None)
@given(st.integers(1, 4), st.integers(1, 4), st.integers(1, 14), st.integers(1, 6),
       st.integers(1, 4))
def test_beats_offered_apart_take_the_model_cycles(lanes, div_bits, row_len, rows, beat_cycles):
    """Beats offered as the accelerator's gatherer offers them (each ``beat_cycles`` after
    the one before is taken), results taken as they appear: the cycles are the model's,
    whichever engine sets the period."""
    cfg = SoftmaxCfg(max_len=14, x_bits=12, scale_exp=10, out_bits=8, lanes=lanes,
                     div_bits=div_bits)
    p = softmax_params(1 / 32)
    x = np.random.default_rng(row_len).integers(-2048, 2048, (rows, row_len))
    words, cycles = run_stream(Softmax(cfg), softmax_beats(cfg, x, p), rows * cfg.beats(row_len),
                               beat_cycles=beat_cycles)
    assert np.array_equal(softmax_results(cfg, words, row_len=row_len), int_softmax(x, p))
    assert cycles == cfg.cycles(rows=rows, row_len=row_len, beat_cycles=beat_cycles)


@pytest.mark.parametrize("backpressure,idle", [(0.0, 0.0), (0.7, 0.0), (0.3, 0.5)])
def test_short_and_long_rows_fill_every_bank(backpressure, idle):
    """Runs of one-beat rows between long ones, each row with its own constants: the exp
    pipeline holds several rows, every bank and e slot is used, the divider and the scale
    engine fall behind; every result is still the golden one, in order."""
    cfg = SoftmaxCfg(max_len=24, x_bits=12, scale_exp=12, out_bits=8, lanes=2, div_bits=1)
    rng = np.random.default_rng(11)
    scales = [(1 / 64, 8), (2.0 ** -10, 6), (0.5, 3), (2.0 ** -12, 8), (1 / 16, 5)]
    lengths = [24, 1, 2, 1, 1, 2, 1, 1, 1, 17, 2, 1, 24, 3, 1, 2]
    rows = [(rng.integers(-2048, 2048, (1, n)), softmax_params(scales[i % 5][0],
                                                               out_bits=scales[i % 5][1]))
            for i, n in enumerate(lengths)]
    beats = [w for x, p in rows for w in softmax_beats(cfg, x, p, fill=2047)]
    words, _ = run_stream(Softmax(cfg), beats, len(beats), idle=idle,
                          backpressure=backpressure, seed=9)
    at = 0
    for x, p in rows:
        n = cfg.beats(x.shape[1])
        assert np.array_equal(softmax_results(cfg, words[at:at + n], row_len=x.shape[1]),
                              int_softmax(x, p))
        at += n
    assert at == len(words)
