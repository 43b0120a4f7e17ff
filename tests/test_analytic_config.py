"""Analytic configs (golden.accel_spec): exact messages, round trips, the shared BitOPs."""

import json

import pytest

from golden.accel_spec import AnalyticAccelCfg, MemoryCfg, SchemeCfg
from golden.bitops import attention_bitops, bitops, gemm_macs, linear_bitops
from golden.cases_gelu import GeluCfg
from golden.cases_gsb import GsbEncoderCfg
from golden.cases_layernorm import LayerNormCfg
from golden.spec import ConfigError, MacArrayCfg
from golden.units import config_from_dict


@pytest.mark.parametrize("cfg", [SchemeCfg(name="q", w_bits=4, head_a_bits=(4, 3)),
                                 SchemeCfg(layer_ranks={"blocks.*.mlp.fc1": 64}),
                                 MemoryCfg(weight_kib=512, loop_order="tokens_outer"),
                                 MacArrayCfg(rows=8, cols=16, max_k=64), AnalyticAccelCfg(),
                                 AnalyticAccelCfg(layernorm=LayerNormCfg(dim=64),
                                          gsb_encoder=GsbEncoderCfg(lanes=8, max_elems=64),
                                          gelu=GeluCfg(lanes=16))], ids=str)
def test_round_trip(cfg):
    assert type(cfg).from_dict(cfg.to_dict()) == cfg
    hash(cfg)


def test_json_lists_become_tuples():
    s = SchemeCfg.from_dict({"head_w_bits": [4, 3], "layer_ranks": [["blocks.0.*", 8]]})
    assert s.head_w_bits == (4, 3) and s.layer_ranks == (("blocks.0.*", 8),)


@pytest.mark.parametrize("kwargs,message", [
    (dict(w_bits=17), r"^w_bits must be between 1 and 16, or 32 \(float\), not 17$"),
    (dict(a_bits=0), r"^a_bits must be between 1 and 16, or 32 \(float\), not 0$"),
    (dict(head_w_bits=(4, 20)), r"^head_w_bits must be between 1 and 16, or 32"),
    (dict(groups=3), r"^groups needs a_bits 1, not 8$"),
    (dict(rank=-1), r"^rank must be at least 0, not -1$"),
])
def test_scheme_errors(kwargs, message):
    with pytest.raises(ConfigError, match=message):
        SchemeCfg(**kwargs)


def test_scheme_type_errors():
    with pytest.raises(TypeError, match=r"^w_bits must be an integer, not 4.0$"):
        SchemeCfg(w_bits=4.0)
    with pytest.raises(TypeError, match=r"^layer_ranks entries must be \(pattern, rank\) pairs"):
        SchemeCfg(layer_ranks=(("x", 1, 2),))


def test_memory_and_array_errors():
    with pytest.raises(ConfigError, match=r"^loop_order must be one of 'weights_outer', "
                                          r"'tokens_outer', not 'zigzag'$"):
        MemoryCfg(loop_order="zigzag")
    with pytest.raises(ConfigError, match=r"^max_k must be a multiple of cols \(16\), not 40$"):
        MacArrayCfg(rows=4, cols=16, max_k=40)
    with pytest.raises(ConfigError, match=r"^w_bits must be between 1 and 8, not 9$"):
        MacArrayCfg(rows=4, cols=16).passes(w_bits=9, a_bits=8)
    with pytest.raises(ConfigError, match=r"^n must be a positive multiple of rows \(4\)"):
        MacArrayCfg(rows=4, cols=16).cycles(m=1, n=6, k=16, w_bits=8, a_bits=8)


def test_accel_from_dict_names_the_source_and_part():
    with pytest.raises(ConfigError, match=r"^hw.json: field 'mac': missing field 'cols'"):
        AnalyticAccelCfg.from_dict({"mac": {"rows": 4}}, source="hw.json")
    with pytest.raises(ConfigError, match=r"^hw.json: unknown field 'dram' for AnalyticAccelCfg$"):
        AnalyticAccelCfg.from_dict({"dram": {}}, source="hw.json")
    part = AnalyticAccelCfg.from_dict({"memory": {"act_kib": 128}})
    assert part.memory.act_kib == 128 and part.mac == AnalyticAccelCfg().mac


def test_accel_units_parts():
    cfg = AnalyticAccelCfg.from_dict({"softmax": None, "gsb_av": {"lanes": 8}, "requant": {
        "lanes": 16, "acc_bits": 24}})
    assert cfg.softmax is None and cfg.gsb_av.lanes == 8 and cfg.requant.lanes == 16
    assert json.loads(json.dumps(cfg.to_dict()))["layernorm"] is None
    with pytest.raises(ConfigError, match=r"^hw.json: field 'layernorm' must be an object or "
                                          r"null$"):
        AnalyticAccelCfg.from_dict({"layernorm": 64}, source="hw.json")
    with pytest.raises(ConfigError, match=r"^hw.json: field 'gelu' must be an object$"):
        AnalyticAccelCfg.from_dict({"gelu": None}, source="hw.json")
    with pytest.raises(ConfigError, match=r"^hw.json: field 'layernorm': missing field 'dim'"):
        AnalyticAccelCfg.from_dict({"layernorm": {}}, source="hw.json")
    with pytest.raises(TypeError, match=r"^softmax must be a SoftmaxCfg or None, not 3$"):
        AnalyticAccelCfg(softmax=3)
    with pytest.raises(TypeError, match=r"^requant must be a RequantCfg, not None$"):
        AnalyticAccelCfg(requant=None)


def test_mac_array_accumulator_width():
    # 4096 products of s8 x s8: |.| <= 4096 * 2^14 = 2^26 -> 28 signed bits
    assert MacArrayCfg(rows=1, cols=1, max_k=4096).acc_bits == 28


def test_spec_configs_still_load_by_kind():
    assert config_from_dict({"kind": "binary_array", "rows": 2, "cols": 8}).rows == 2


def test_bitops_definition():
    assert gemm_macs(m=2, n=3, k=4, count=5) == 120
    assert bitops(10, w_bits=3, a_bits=5) == 150
    assert linear_bitops(tokens=196, weights=147_456, w_bits=8, a_bits=8) == 1_849_688_064
    # Q-ViT's N^2 * C * mean_h(b_q * b_k) with N 10, C 2 * 4, widths (2, 2) and (4, 8)
    assert attention_bitops(tokens=10, head_dim=4, bits=[(2, 2), (4, 8)]) == 100 * 8 * (
        (4 + 32) // 2)
    with pytest.raises(ValueError, match=r"^w_bits must be an integer >= 1, not 0$"):
        bitops(1, w_bits=0, a_bits=1)
