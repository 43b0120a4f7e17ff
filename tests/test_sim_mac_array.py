"""MacArray's Verilog under cocotb on Verilator and Icarus, and its cycles vs the analytic model."""


import pytest
from sim_cli import simulate

from golden.cases import mac_array_case
from golden.spec import MacArrayCfg
from sim.analytic.cycles import array_cycles

pytestmark = pytest.mark.sim
CFG = MacArrayCfg(rows=4, cols=8, digit_bits=2, max_bits=8, max_k=64)
CFG4 = MacArrayCfg(rows=4, cols=8, digit_bits=4, max_bits=8, max_k=64)  # DeiT's digit width


@pytest.mark.parametrize("cfg,w_bits,a_bits,a_signed",
                         [(CFG, 8, 8, False), (CFG, 4, 3, True), (CFG, 2, 2, True),
                          (CFG4, 8, 8, True), (CFG4, 6, 3, False)],
                         ids=["w8a8u", "w4a3s", "w2a2s", "d4-w8a8s", "d4-w6a3u"])
def test_bit_exact_and_cycles_equal_analytic(tmp_path, simulator, capsys, cfg, w_bits, a_bits,
                                             a_signed):
    shape = dict(m=3, n=8, k=32)
    mac_array_case(cfg, tmp_path / "case", w_bits=w_bits, a_bits=a_bits, a_signed=a_signed,
                   seed=2, **shape)
    status, records = simulate(tmp_path / "case", tmp_path, simulator)
    out = capsys.readouterr().out
    assert status == 0, out
    speed = records["speed"]
    assert speed["cycles"] == array_cycles(cfg, w_bits=w_bits, a_bits=a_bits, **shape)
