"""SoftmaxCfg, softmax golden cases and their stream formats: exact messages, widths, layout."""

import math

import numpy as np
import pytest

from golden.cases_softmax import (
    DIV_STEPS,
    SoftmaxCfg,
    load_softmax_case,
    softmax_beats,
    softmax_case,
    softmax_results,
)
from golden.errors import VitsimError
from golden.nonlinear import SoftmaxParams, int_softmax, softmax_params
from golden.package import read_package, write_package
from golden.spec import ConfigError
from golden.units import case_config, config_from_dict, known_configs, verify_package

CFG = SoftmaxCfg(max_len=16, x_bits=12, scale_exp=10, out_bits=8)


def test_defaults_widths_and_cycle_model():
    cfg = SoftmaxCfg()
    assert (cfg.max_len, cfg.x_bits, cfg.scale_exp, cfg.out_bits) == (256, 16, 16, 8)
    widest = softmax_params(2.0 ** -16)  # the finest scale sets every constant's width
    assert widest.x0 == -45427 and cfg.x0_bits == 17  # [-45427, -1], two's complement
    assert (cfg.b_bits, cfg.c_bits) == (widest.b.bit_length(), widest.c.bit_length()) == (18,
                                                                                         34)
    assert widest.n == -18 and cfg.n_bits == 6  # [-18, 14]
    assert cfg.sum_bits == 24  # 256 terms below 2**16
    assert cfg.in_bits == 16 + 17 + 18 + 34 + 6 + 5 + 5 + 1 + 1  # x .. out_bits, tail, last
    assert SoftmaxCfg(lanes=8).in_bits == 8 * 16 + 17 + 18 + 34 + 6 + 5 + 5 + 3 + 1
    assert cfg.latency == 13 + 18 + 8 and cfg.exp_stages == 13
    # the period is the load engine's (197 beats and the exp engine's take), rows overlap
    assert cfg.row_cycles(197) == 197 + 1
    assert cfg.cycles(rows=197, row_len=197) == 3 * 197 + 39 + 196 * 198
    assert str(cfg) == "sm_l256x16s16o8"
    eight = SoftmaxCfg(lanes=8)
    # 25 beats: the load engine's 26 cycles a row; 3 beats: the divider's 18 + 1
    assert eight.row_cycles(197) == 26 and eight.row_cycles(17) == 19
    assert eight.cycles(rows=3, row_len=17) == 3 * 3 + 39 + 2 * 19
    assert str(eight) == "sm_l256x16s16o8n8"
    assert cfg.div_bits == 1 and cfg.div_cycles == DIV_STEPS == 18


@pytest.mark.parametrize("div_bits,div_cycles", [(1, 18), (2, 9), (3, 6), (4, 5)])
def test_div_bits_set_the_divide_phase(div_bits, div_cycles):
    cfg = SoftmaxCfg(max_len=18, lanes=2, div_bits=div_bits)
    assert cfg.div_cycles == div_cycles == math.ceil(DIV_STEPS / div_bits)
    assert cfg.latency == 13 + div_cycles + 8
    assert cfg.row_cycles(18) == max(9 + 1, div_cycles + 1)  # 19, then 10 (9 beats)
    assert cfg.cycles(rows=36, row_len=18) == 3 * 9 + cfg.latency + 35 * cfg.row_cycles(18)
    name = "sm_l18x16s16o8n2" + (f"d{div_bits}" if div_bits > 1 else "")
    assert str(cfg) == name  # the divider's bits are part of the unit's name


def test_round_trip_through_the_config_registry():
    assert known_configs()["softmax"] is SoftmaxCfg
    assert config_from_dict(CFG.to_dict()) == CFG
    assert CFG.to_dict() == {"kind": "softmax", "max_len": 16, "x_bits": 12, "scale_exp": 10,
                             "out_bits": 8, "lanes": 1, "div_bits": 1}
    fast = SoftmaxCfg(max_len=16, lanes=2, div_bits=3)
    assert config_from_dict(fast.to_dict()) == fast and fast.to_dict()["div_bits"] == 3
    old = {k: v for k, v in CFG.to_dict().items() if k != "div_bits"}  # written before it
    assert config_from_dict(old) == CFG


@pytest.mark.parametrize("kwargs,message", [
    (dict(max_len=0), r"^max_len must be between 1 and 65535, not 0$"),
    (dict(max_len=65536), r"^max_len must be between 1 and 65535, not 65536$"),
    (dict(x_bits=1), r"^x_bits must be between 2 and 32, not 1$"),
    (dict(scale_exp=21), r"^scale_exp must be between 1 and 20, not 21$"),
    (dict(out_bits=17), r"^out_bits must be between 2 and 16, not 17$"),
    (dict(lanes=65), r"^lanes must be between 1 and 64, not 65$"),
    (dict(div_bits=0), r"^div_bits must be between 1 and 4, not 0$"),
    (dict(div_bits=5), r"^div_bits must be between 1 and 4, not 5$"),
])
def test_rejects_bad_fields(kwargs, message):
    with pytest.raises(ConfigError, match=message):
        SoftmaxCfg(**kwargs)


def test_rejects_non_integers_and_bad_dicts():
    with pytest.raises(TypeError, match=r"^max_len must be an integer, not 2.5$"):
        SoftmaxCfg(max_len=2.5)
    with pytest.raises(TypeError, match=r"^div_bits must be an integer, not True$"):
        SoftmaxCfg(div_bits=True)
    with pytest.raises(ConfigError, match=r"^cfg\.json: unknown field 'rows' for SoftmaxCfg$"):
        config_from_dict({"kind": "softmax", "rows": 2}, source="cfg.json")
    with pytest.raises(ConfigError, match=r"^cfg\.json: x_bits must be between 2 and 32, "
                                          r"not 40$"):
        config_from_dict({"kind": "softmax", "x_bits": 40}, source="cfg.json")


def test_shape_errors_are_exact():
    with pytest.raises(ConfigError, match=r"^row_len must be between 1 and max_len \(16\), "
                                          r"not 17$"):
        CFG.cycles(rows=1, row_len=17)
    with pytest.raises(ConfigError, match=r"^rows must be a positive integer, not 0$"):
        CFG.cycles(rows=0, row_len=4)
    with pytest.raises(ConfigError, match=r"^beat_cycles must be at least 1, not 0$"):
        CFG.cycles(rows=1, row_len=4, beat_cycles=0)


@pytest.mark.parametrize("row_len,beat_cycles,period", [
    (16, 1, 19),  # 16 beats back to back: the divider's 18 + 1 over the load engine's 17
    (16, 2, 32),  # 2 apart: the load engine's 15 * 2 + 2
    (5, 3, 19),  # 5 beats 3 apart take 15 cycles a row: the divider's 19 again
    (12, 3, 36),  # 12 beats 3 apart: the exp engine's take hides in the gap after the last
])
def test_beats_offered_apart_stretch_the_load_engine_only(row_len, beat_cycles, period):
    assert CFG.row_cycles(row_len, beat_cycles=beat_cycles) == period
    first = 3 * row_len + CFG.latency + (row_len - 1) * (beat_cycles - 1)
    assert CFG.cycles(rows=1, row_len=row_len, beat_cycles=beat_cycles) == first
    assert CFG.cycles(rows=5, row_len=row_len, beat_cycles=beat_cycles) == first + 4 * period


def test_constants_must_fit_the_unit():
    with pytest.raises(ConfigError, match=r"^x0 must be between -710 and -1 \(scale at least "
                                          r"2\*\*-10\), not -2840$"):
        CFG.check_params(softmax_params(2.0 ** -12))
    with pytest.raises(ConfigError, match=r"^out_bits must be between 2 and 8, not 12$"):
        CFG.check_params(softmax_params(1 / 64, out_bits=12))
    bad_q = SoftmaxParams(**{**softmax_params(1 / 64).to_dict(), "floor_q": 32})
    with pytest.raises(ConfigError, match=r"^floor_q must be between 0 and 31, not 32$"):
        CFG.check_params(bad_q)


def test_case_round_trip_and_verify(tmp_path):
    pkg = softmax_case(CFG, tmp_path / "c", rows=3, row_len=10, scale=1 / 64, seed=1)
    cfg, op, p, x, y = load_softmax_case(read_package(tmp_path / "c"))
    assert cfg == CFG == case_config(pkg) and p == softmax_params(1 / 64)
    assert x.shape == y.shape == (3, 10) and np.array_equal(y, int_softmax(x, p))
    assert op["cycles"] == CFG.cycles(rows=3, row_len=10) and op["scale"] == 1 / 64
    assert verify_package(pkg) == []
    # Attention-like logits: dot products of +-1 vectors of 32 (even), shifted left by 5.
    assert np.all(x % 64 == 0) and np.abs(x).max() <= 32 * 32


def test_verify_catches_a_wrong_recorded_output(tmp_path):
    pkg = softmax_case(CFG, tmp_path / "c", rows=2, row_len=8, scale=1 / 64)
    y = pkg.tensors["y"].copy()
    y[1, 3] += 1
    write_package(tmp_path / "bad", manifest={k: v for k, v in pkg.manifest.items()
                                              if k not in ("tensors", "files")},
                  tensors={**pkg.tensors, "y": y})
    assert verify_package(read_package(tmp_path / "bad")) == [
        "op int_softmax: recorded output differs from the kernel first at (1, 3)"]


def test_same_seed_same_bytes(tmp_path):
    for name in ("a", "b"):
        softmax_case(CFG, tmp_path / name, rows=2, row_len=5, scale=1 / 50, seed=3,
                     stimulus="uniform")
    for f in ("manifest.json", "tensors.npz"):
        assert (tmp_path / "a" / f).read_bytes() == (tmp_path / "b" / f).read_bytes()


def test_case_errors_are_exact(tmp_path):
    with pytest.raises(ConfigError, match=r"^scale must be in \[2\*\*-10, 1\), not 0\.0001$"):
        softmax_case(CFG, tmp_path / "c", rows=1, row_len=4, scale=1e-4)
    with pytest.raises(ConfigError, match=r"^out_bits must be between 2 and 8, not 9$"):
        softmax_case(CFG, tmp_path / "c", rows=1, row_len=4, scale=0.01, out_bits=9)
    with pytest.raises(ConfigError, match=r"^row_len must be between 1 and max_len"):
        softmax_case(CFG, tmp_path / "c", rows=1, row_len=32, scale=0.01)
    with pytest.raises(VitsimError, match=r"^stimulus must be one of random, uniform, equal, "
                                          r"spike, not 'ramp'$"):
        softmax_case(CFG, tmp_path / "c", rows=1, row_len=4, scale=0.01, stimulus="ramp")
    assert not (tmp_path / "c").exists()


def test_beat_layout_by_hand():
    cfg = SoftmaxCfg(max_len=4, x_bits=8, scale_exp=4, out_bits=8)
    p = softmax_params(1 / 8)  # x0=-6, b=21, c=178, n=8
    assert (p.x0, p.b, p.c, p.n) == (-6, 21, 178, 8)
    assert (cfg.x0_bits, cfg.b_bits, cfg.c_bits, cfg.n_bits) == (5, 6, 10, 5)
    beats = softmax_beats(cfg, np.array([[-3, 5]]), p)
    params = ((-6 & 31) | (21 << 5) | (178 << 11) | (8 << 21) | (30 << 26) | (8 << 31))
    # tail (bit 44) is 0: the last beat's one lane
    assert beats == [(-3 & 255) | (params << 8), 5 | (params << 8) | (1 << 45)]
    assert cfg.in_bits == 46
    assert softmax_results(cfg, [200, 55 | 256], row_len=2).tolist() == [[200, 55]]
