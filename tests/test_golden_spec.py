"""Config dataclasses: validation with exact messages, (de)serialisation, derived fields."""

import dataclasses

import pytest

from golden.spec import BinaryArrayCfg, ConfigError, QuantSpec, RequantCfg
from golden.units import config_from_dict


def test_binary_array_defaults_and_derived_fields():
    cfg = BinaryArrayCfg(rows=8, cols=64, max_k=512)
    assert cfg.mode == "xnor"
    assert cfg.acc_bits == 11  # [-512, 512] needs 11 bits two's complement
    assert cfg.beats(192) == 3
    assert cfg.cycles(m=4, n=16, k=512) == 4 * 2 * 8 + cfg.latency
    assert str(cfg) == "xnor_r8c64k512"


@pytest.mark.parametrize("kwargs,message", [
    (dict(rows=0, cols=8), r"^rows must be between 1 and 256, not 0$"),
    (dict(rows=4, cols=2048), r"^cols must be between 1 and 1024, not 2048$"),
    (dict(rows=4, cols=8, mode="or"), r"^mode must be one of 'xnor', 'and', not 'or'$"),
    (dict(rows=4, cols=8, max_k=12), r"^max_k must be a multiple of cols \(8\), not 12$"),
])
def test_binary_array_rejects(kwargs, message):
    with pytest.raises(ConfigError, match=message):
        BinaryArrayCfg(**kwargs)


def test_binary_array_rejects_non_integer():
    with pytest.raises(TypeError, match=r"^rows must be an integer, not 2.5$"):
        BinaryArrayCfg(rows=2.5, cols=8)


def test_tiling_errors_are_exact():
    cfg = BinaryArrayCfg(rows=4, cols=8, max_k=64)
    with pytest.raises(ConfigError, match=r"^k must be a positive multiple of cols \(8\) up to"
                                          r" max_k \(64\), not 12$"):
        cfg.beats(12)
    with pytest.raises(ConfigError, match=r"^n must be a positive multiple of rows \(4\)"):
        cfg.cycles(m=1, n=6, k=8)


def test_frozen_and_hashable():
    cfg = BinaryArrayCfg(rows=4, cols=8)
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.rows = 5
    assert len({cfg, BinaryArrayCfg(rows=4, cols=8)}) == 1


def test_round_trip_and_errors_name_the_source():
    cfg = BinaryArrayCfg(rows=4, cols=8, mode="and", max_k=64)
    assert config_from_dict(cfg.to_dict()) == cfg
    with pytest.raises(ConfigError, match=r"^f.json: unknown field 'colz' for BinaryArrayCfg$"):
        BinaryArrayCfg.from_dict({"rows": 4, "colz": 8}, source="f.json")
    with pytest.raises(ConfigError, match=r"^f.json: missing field 'cols' for BinaryArrayCfg$"):
        BinaryArrayCfg.from_dict({"rows": 4}, source="f.json")
    with pytest.raises(ConfigError, match=r"^f.json: cols must be between 1 and 1024, not 0$"):
        BinaryArrayCfg.from_dict({"rows": 4, "cols": 0}, source="f.json")
    with pytest.raises(ConfigError, match=r"^f.json: field 'kind' must be one of"):
        config_from_dict({"kind": "nope"}, source="f.json")


def test_quant_spec_ranges():
    assert (QuantSpec(bits=1).lo, QuantSpec(bits=1).hi) == (-1, 1)
    assert (QuantSpec(bits=1, signed=False).lo, QuantSpec(bits=1, signed=False).hi) == (0, 1)
    assert (QuantSpec(bits=4).lo, QuantSpec(bits=4).hi) == (-8, 7)
    assert (QuantSpec(bits=3, signed=False).lo, QuantSpec(bits=3, signed=False).hi) == (0, 7)
    with pytest.raises(ConfigError, match=r"^bits must be between 1 and 32, not 33$"):
        QuantSpec(bits=33)


def test_requant_config():
    cfg = RequantCfg(lanes=4, acc_bits=24)
    assert (cfg.out_bits, cfg.latency, cfg.cycles(beats=10), str(cfg)) == (8, 5, 15, "l4a24o8")
    assert config_from_dict(cfg.to_dict()) == cfg
    with pytest.raises(ConfigError, match=r"^acc_bits must be between 2 and 32, not 33$"):
        RequantCfg(lanes=4, acc_bits=33)
    with pytest.raises(ConfigError, match=r"^out_bits must be between 2 and 31, not 1$"):
        RequantCfg(lanes=4, acc_bits=8, out_bits=1)
    with pytest.raises(ConfigError, match=r"^beats must be a positive integer, not 0$"):
        cfg.cycles(beats=0)
