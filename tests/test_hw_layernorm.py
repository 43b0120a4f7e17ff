# amaranth: UnusedElaboratable=no
"""LayerNorm in Amaranth's simulator against golden.nonlinear.int_layernorm."""

import numpy as np
import pytest
from pysim_stream import run_stream

from golden.cases_layernorm import (
    LayerNormCfg,
    layernorm_beats,
    layernorm_case,
    layernorm_results,
)
from golden.errors import VitsimError
from golden.nonlinear import int_layernorm
from golden.spec import ConfigError
from golden.units import config_from_dict, verify_package
from hw.layernorm import LayerNorm


def run(cfg, x, fill=0, **gaps):
    beats = layernorm_beats(cfg, x, fill=fill)
    words, cycles = run_stream(LayerNorm(cfg), beats, len(beats), **gaps)
    return layernorm_results(cfg, words), words, cycles


@pytest.mark.parametrize("cfg,stimulus", [
    (LayerNormCfg(dim=8), "mixed"),
    (LayerNormCfg(dim=8), "extremes"),
    (LayerNormCfg(dim=5, in_bits=16), "constant"),
    (LayerNormCfg(dim=13, in_bits=9), "random"),
    (LayerNormCfg(dim=2, in_bits=2), "mixed"),
], ids=str)
def test_matches_golden(tmp_path, cfg, stimulus):
    pkg = layernorm_case(cfg, tmp_path / "c", rows=4, stimulus=stimulus, seed=7)
    got, _, cycles = run(cfg, pkg.tensors["x"])
    assert np.array_equal(got, pkg.tensors["y"]), f"got\n{got}\nexpected\n{pkg.tensors['y']}"
    assert cycles == cfg.cycles(rows=4)
    assert verify_package(pkg) == []


@pytest.mark.parametrize("cfg,stimulus", [
    (LayerNormCfg(dim=16, lanes=4), "mixed"),
    (LayerNormCfg(dim=13, in_bits=9, lanes=4), "random"),  # last beat: 1 lane of 4
    (LayerNormCfg(dim=7, lanes=8), "mixed"),  # one beat a row, 7 lanes of 8
    (LayerNormCfg(dim=10, in_bits=16, lanes=3), "extremes"),
], ids=str)
def test_lanes_match_golden(tmp_path, cfg, stimulus):
    pkg = layernorm_case(cfg, tmp_path / "c", rows=4, stimulus=stimulus, seed=11)
    # the lanes past the row in a row's last beat carry the extreme code: ignored
    got, words, cycles = run(cfg, pkg.tensors["x"], fill=-(1 << (cfg.in_bits - 1)))
    assert np.array_equal(got, pkg.tensors["y"]), f"got\n{got}\nexpected\n{pkg.tensors['y']}"
    assert cycles == cfg.cycles(rows=4) == 2 * cfg.beats + cfg.latency - 1 + 3 * cfg.row_cycles
    assert len(words) == 4 * -(-cfg.dim // cfg.lanes)
    pad = cfg.beats * cfg.lanes - cfg.dim
    if pad:  # the padding lanes of every row's last beat are 0
        lanes = [(w >> (32 * i)) & 0xFFFFFFFF for w in words[cfg.beats - 1::cfg.beats]
                 for i in range(cfg.lanes - pad, cfg.lanes)]
        assert lanes == [0] * (4 * pad)


@pytest.mark.parametrize("cfg", [
    LayerNormCfg(dim=16, lanes=8, step_bits=2),
    LayerNormCfg(dim=13, in_bits=9, lanes=4, step_bits=3),  # 9, 16, 8 and 31 bits: padded
    LayerNormCfg(dim=6, in_bits=7, step_bits=4),
    LayerNormCfg(dim=2, in_bits=2, lanes=2, step_bits=2),
], ids=str)
def test_step_bits_match_golden(tmp_path, cfg):
    for stimulus in ("mixed", "extremes"):
        pkg = layernorm_case(cfg, tmp_path / stimulus, rows=4, stimulus=stimulus, seed=12)
        got, _, cycles = run(cfg, pkg.tensors["x"])
        assert np.array_equal(got, pkg.tensors["y"]), f"got\n{got}\nexpected\n{pkg.tensors['y']}"
        assert cycles == cfg.cycles(rows=4)
    one = LayerNormCfg(dim=cfg.dim, in_bits=cfg.in_bits, lanes=cfg.lanes)
    assert cfg.compute_cycles < one.compute_cycles


def test_step_bits_every_row_of_a_narrow_unit():
    cfg = LayerNormCfg(dim=3, in_bits=3, step_bits=2)
    x = np.array(np.meshgrid(*[np.arange(-4, 4)] * 3, indexing="ij")).reshape(3, -1).T
    got, _, cycles = run(cfg, x)
    assert np.array_equal(got, int_layernorm(x, cfg.params))
    assert cycles == cfg.cycles(rows=512)


def test_lanes_under_gaps(tmp_path):
    cfg = LayerNormCfg(dim=20, lanes=8)
    pkg = layernorm_case(cfg, tmp_path / "c", rows=6, stimulus="mixed", seed=4)
    got, _, cycles = run(cfg, pkg.tensors["x"], fill=5, idle=0.3, backpressure=0.4, seed=2)
    assert np.array_equal(got, pkg.tensors["y"])
    assert cycles > cfg.cycles(rows=6)


def test_matches_golden_under_gaps(tmp_path):
    cfg = LayerNormCfg(dim=12)
    pkg = layernorm_case(cfg, tmp_path / "c", rows=6, stimulus="mixed", seed=3)
    got, _, cycles = run(cfg, pkg.tensors["x"], idle=0.3, backpressure=0.4, seed=5)
    assert np.array_equal(got, pkg.tensors["y"])
    assert cycles > cfg.cycles(rows=6)


def test_full_twos_complement_range():
    # Beyond the kernel's contract (-2**15 included): the widths still hold every value.
    cfg = LayerNormCfg(dim=4)
    x = np.array([[-(1 << 15)] * 2 + [(1 << 15) - 1] * 2, [-(1 << 15)] * 4,
                  [-(1 << 15), 0, 0, 0], [(1 << 15) - 1, 0, 0, -(1 << 15)]])
    got, _, _ = run(cfg, x)
    assert np.array_equal(got, int_layernorm(x, cfg.params))


def test_cycle_model():
    cfg = LayerNormCfg(dim=768)
    assert cfg.compute_cycles == 4 * 16 + 35 and cfg.latency == 4 * 16 + 40
    assert (cfg.stats_cycles, cfg.root_cycles) == (3 * 16 + 3, 16 + 32)
    assert cfg.row_cycles == 768  # LOAD and OUT are the slowest engines
    assert cfg.cycles(rows=1) == 2 * 768 + 4 * 16 + 39
    assert cfg.cycles(rows=3) == cfg.cycles(rows=1) + 2 * 768
    wide = LayerNormCfg(dim=770, lanes=16)
    assert wide.beats == 49 and wide.row_cycles == wide.stats_cycles == 51
    assert wide.cycles(rows=2) == 2 * 49 + 4 * 16 + 39 + 51
    fast = LayerNormCfg(dim=64, lanes=8, step_bits=2)  # 16, 30, 15 and 31 bits in 2s
    assert (fast.stats_cycles, fast.root_cycles) == (8 + 15 + 5, 8 + 16 + 2)
    assert fast.compute_cycles == 54 and fast.row_cycles == 28
    assert fast.cycles(rows=1) == 16 + 54 + 4 and fast.cycles(rows=4) == 74 + 3 * 28
    # beats offered 3 cycles apart: LOAD takes 24 cycles a row, STATS still the slowest
    assert fast.cycles(rows=4, beat_cycles=3) == 7 * 3 + 54 + 8 + 5 + 3 * 28
    assert fast.cycles(rows=4, beat_cycles=4) == 7 * 4 + 54 + 8 + 5 + 3 * 32
    with pytest.raises(ConfigError, match=r"^rows must be a positive integer, not 0$"):
        cfg.cycles(rows=0)
    with pytest.raises(ConfigError, match=r"^beat_cycles must be a positive integer, not 0$"):
        cfg.cycles(rows=1, beat_cycles=0)


@pytest.mark.parametrize("cfg", [
    LayerNormCfg(dim=64, lanes=8, step_bits=2),  # the digits accelerator's: STATS slowest
    LayerNormCfg(dim=13, in_bits=9, lanes=4),  # ROOT slowest
    LayerNormCfg(dim=40, in_bits=8, step_bits=4),  # LOAD and OUT slowest
], ids=str)
def test_rows_overlap(tmp_path, cfg):
    pkg = layernorm_case(cfg, tmp_path / "c", rows=6, stimulus="mixed", seed=9)
    got, _, cycles = run(cfg, pkg.tensors["x"])
    assert np.array_equal(got, pkg.tensors["y"])
    _, _, one = run(cfg, pkg.tensors["x"][:1])
    assert one == cfg.cycles(rows=1) == 2 * cfg.beats + cfg.latency - 1
    # each row after the first costs only the slowest engine, well under a whole row
    assert cycles == cfg.cycles(rows=6) == one + 5 * cfg.row_cycles
    assert cycles < 6 * one - 5 * cfg.beats


@pytest.mark.parametrize("bc", [2, 3, 4, 6])
def test_spaced_beats_match_the_model(tmp_path, bc):
    # a source offering each beat bc cycles after the last was taken (the accelerator's
    # gatherer at beat_cycles bc): ROOT, then LOAD, is the slowest engine
    cfg = LayerNormCfg(dim=29, in_bits=12, lanes=4, step_bits=2)
    pkg = layernorm_case(cfg, tmp_path / "c", rows=5, stimulus="mixed", seed=bc - 1)
    got, _, cycles = run(cfg, pkg.tensors["x"], beat_cycles=bc)
    assert np.array_equal(got, pkg.tensors["y"])
    assert cycles == cfg.cycles(rows=5, beat_cycles=bc)


@pytest.mark.parametrize("lanes", range(1, 9))
def test_every_lane_count_matches_golden(tmp_path, lanes):
    # 7 rows of 21: a row is not whole beats except at 1, 3 and 7 lanes
    cfg = LayerNormCfg(dim=21, in_bits=10, lanes=lanes, step_bits=2)
    pkg = layernorm_case(cfg, tmp_path / "c", rows=7, stimulus="mixed", seed=lanes)
    got, _, cycles = run(cfg, pkg.tensors["x"], fill=3)
    assert np.array_equal(got, pkg.tensors["y"])
    assert cycles == cfg.cycles(rows=7)
    got, _, cycles = run(cfg, pkg.tensors["x"], idle=0.3, backpressure=0.5, seed=lanes)
    assert np.array_equal(got, pkg.tensors["y"]) and cycles > cfg.cycles(rows=7)


def test_digits_unit_under_gaps(tmp_path):
    cfg = LayerNormCfg(dim=64, lanes=8, step_bits=2)
    pkg = layernorm_case(cfg, tmp_path / "c", rows=9, stimulus="mixed", seed=6)
    for idle, bp, seed in ((0.0, 0.7, 1), (0.6, 0.0, 2), (0.2, 0.3, 3), (0.0, 0.95, 4)):
        got, _, cycles = run(cfg, pkg.tensors["x"], idle=idle, backpressure=bp, seed=seed)
        assert np.array_equal(got, pkg.tensors["y"]), (idle, bp)
        assert cycles > cfg.cycles(rows=9)


@pytest.mark.parametrize("field,value,message", [
    ("dim", 1, r"^dim must be between 2 and 4096, not 1$"),
    ("dim", 4097, r"^dim must be between 2 and 4096, not 4097$"),
    ("in_bits", 17, r"^in_bits must be between 2 and 16, not 17$"),
    ("in_bits", 1, r"^in_bits must be between 2 and 16, not 1$"),
    ("lanes", 0, r"^lanes must be between 1 and 64, not 0$"),
    ("lanes", 65, r"^lanes must be between 1 and 64, not 65$"),
    ("step_bits", 5, r"^step_bits must be between 1 and 4, not 5$"),
])
def test_bad_config_values(field, value, message):
    with pytest.raises(ConfigError, match=message):
        LayerNormCfg(**{"dim": 8, field: value})


def test_config_round_trip_and_bad_inputs(tmp_path):
    assert config_from_dict({"kind": "layernorm", "dim": 8}) == LayerNormCfg(dim=8)
    with pytest.raises(VitsimError, match=r"^stimulus must be one of random, extremes, "):
        layernorm_case(LayerNormCfg(dim=8), tmp_path / "c", rows=1, stimulus="ramp")
    with pytest.raises(VitsimError, match=r"^x must have shape \[rows, 8\], not \[2, 4\]$"):
        layernorm_beats(LayerNormCfg(dim=8), np.zeros((2, 4), dtype=np.int64))


def test_rejects_non_config():
    with pytest.raises(TypeError, match=r"^cfg must be a LayerNormCfg, not 3$"):
        LayerNorm(3)


def test_every_row_of_a_narrow_unit():
    cfg = LayerNormCfg(dim=3, in_bits=3)
    x = np.array(np.meshgrid(*[np.arange(-4, 4)] * 3, indexing="ij")).reshape(3, -1).T
    got, _, cycles = run(cfg, x)
    assert np.array_equal(got, int_layernorm(x, cfg.params))
    assert cycles == cfg.cycles(rows=512)
