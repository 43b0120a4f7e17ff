# amaranth: UnusedElaboratable=no
"""Gelu in Amaranth's simulator against golden.nonlinear.int_gelu (then the clamp)."""

import numpy as np
import pytest
from pysim_stream import run_stream

from golden.cases_gelu import GeluCfg, clipped_gelu, gelu_beats, gelu_case, gelu_results
from golden.errors import VitsimError
from golden.nonlinear import gelu_params
from golden.package import read_package, write_package
from golden.spec import ConfigError
from golden.units import config_from_dict, verify_package
from hw.gelu import Gelu

CFG = GeluCfg(lanes=3, in_bits=16, b_bits=13, c_bits=24, one_bits=10)


def run(cfg, x, p, clip, **gaps):
    beats = gelu_beats(cfg, x, p, clip)
    words, cycles = run_stream(Gelu(cfg), beats, len(beats), **gaps)
    return gelu_results(cfg, words), cycles


@pytest.mark.parametrize("scale,stimulus", [(2**-10, "random"), (2**-10, "extremes"),
                                            (2**-8, "random"), (2**-12, "extremes")])
def test_matches_golden(tmp_path, scale, stimulus):
    cfg = GeluCfg(lanes=2, in_bits=18)  # default constant widths: every scale fits
    pkg = gelu_case(cfg, tmp_path / "c", beats=40, scale=scale, stimulus=stimulus, seed=3)
    op, x, y = pkg.op("gelu"), pkg.tensors["x"], pkg.tensors["y"]
    got, cycles = run(cfg, x, gelu_params(scale), op["clip"])
    assert np.array_equal(got, y), f"got\n{got}\nexpected\n{y}"
    assert cycles == cfg.cycles(beats=40)
    assert len(np.unique(y)) > 4


def test_matches_golden_under_gaps_with_clamp(tmp_path):
    p = gelu_params(2**-10)
    pkg = gelu_case(CFG, tmp_path / "c", beats=50, scale=2**-10, clip=10**7, seed=8)
    y = pkg.tensors["y"]
    assert (np.abs(y) == 10**7).any() and (np.abs(y) < 10**7).any()
    got, _ = run(CFG, pkg.tensors["x"], p, 10**7, idle=0.3, backpressure=0.4, seed=2)
    assert np.array_equal(got, y)


def test_corner_constants_reach_the_static_bound():
    # The widest constants of the fields and the input extremes: no overflow anywhere.
    cfg = GeluCfg(lanes=4, in_bits=8, b_bits=6, c_bits=10, one_bits=5)
    lo, hi = -(1 << 7), (1 << 7) - 1
    x = np.array([[lo, hi, 0, -1], [1, lo + 1, 31, -32]])
    for b, c, one in [(-32, -512, -16), (-32, 511, 15), (31, -512, 15), (-1, 511, -16)]:
        p = type(gelu_params(0.01))(b=b, c=c, one=one, out_scale=1.0)
        want = clipped_gelu(x, p, cfg.clip_max)
        assert np.abs(want).max() <= cfg.out_bound
        got, _ = run(cfg, x, p, cfg.clip_max)
        assert np.array_equal(got, want), (b, c, one)


def test_zero_clip_and_out_width():
    cfg = GeluCfg(lanes=1, in_bits=22)
    assert cfg.out_bits == 40 and cfg.latency == 5 and cfg.clip_bits == 39
    x = np.array([[5000], [-5000], [0]])
    got, _ = run(cfg, x, gelu_params(2**-10), 0)
    assert got.tolist() == [[0], [0], [0]]


@pytest.mark.parametrize("field,value,message", [
    ("lanes", 0, r"^lanes must be between 1 and 256, not 0$"),
    ("in_bits", 25, r"^in_bits must be between 2 and 24, not 25$"),
    ("b_bits", 17, r"^b_bits must be between 2 and 16, not 17$"),
    ("c_bits", 33, r"^c_bits must be between 2 and 32, not 33$"),
    ("one_bits", 1, r"^one_bits must be between 2 and 16, not 1$"),
])
def test_bad_config_values(field, value, message):
    with pytest.raises(ConfigError, match=message):
        GeluCfg(**{"lanes": 2, field: value})


def test_config_round_trip_and_cycles():
    cfg = config_from_dict({"kind": "gelu", "lanes": 2, "in_bits": 16})
    assert cfg == GeluCfg(lanes=2, in_bits=16)
    with pytest.raises(ConfigError, match=r"^beats must be a positive integer, not 0$"):
        cfg.cycles(beats=0)


def test_constants_that_do_not_fit(tmp_path):
    with pytest.raises(VitsimError, match=r"^c = -7\d+ does not fit c_bits \(20\)$"):
        gelu_case(GeluCfg(lanes=1, c_bits=20), tmp_path / "c", beats=2, scale=2**-10)
    with pytest.raises(VitsimError, match=r"^clip must be between 0 and 134217727, not -1$"):
        gelu_case(CFG, tmp_path / "c", beats=2, scale=2**-10, clip=-1)


def test_rejects_non_config():
    with pytest.raises(TypeError, match=r"^cfg must be a GeluCfg, not 3$"):
        Gelu(3)


def test_every_input_of_a_narrow_unit():
    cfg = GeluCfg(lanes=4, in_bits=10, b_bits=8, c_bits=12, one_bits=2)
    p = gelu_params(2**-4)  # b=-41, c=-1773, one=-1: fits the narrow fields
    x = np.arange(-512, 512).reshape(-1, 4)
    got, _ = run(cfg, x, p, cfg.clip_max)
    assert np.array_equal(got, clipped_gelu(x, p, cfg.clip_max))


def test_verify_package_catches_a_wrong_output(tmp_path):
    pkg = gelu_case(CFG, tmp_path / "c", beats=6, scale=2**-10, seed=1)
    assert verify_package(pkg) == []
    y = pkg.tensors["y"].copy()
    y[4, 1] += 1
    manifest = {k: v for k, v in pkg.manifest.items() if k not in ("tensors", "files")}
    write_package(tmp_path / "bad", manifest=manifest, tensors={**pkg.tensors, "y": y})
    assert verify_package(read_package(tmp_path / "bad")) == [
        "op gelu: recorded output differs from the kernel first at (4, 1)"]
