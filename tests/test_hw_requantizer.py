# amaranth: UnusedElaboratable=no
"""Requantizer in Amaranth's simulator against golden.kernels.requantize."""

import numpy as np
import pytest
from pysim_stream import run_stream

from golden.cases import requant_case
from golden.spec import RequantCfg
from golden.streams import requant_beats, requant_results
from hw.requantizer import Requantizer

CFG = RequantCfg(lanes=3, acc_bits=20, out_bits=8)
# (mult, shift, bits, signed, stimulus): a mid-range scale, a scale near 1, the
# narrowest width, unsigned outputs, exact ties, and the accumulator extremes.
PARAMS = [
    ((1 << 30) + 12345, 42, 8, True, "random"),
    ((1 << 31) - 1, 31, 8, True, "extremes"),
    (1518500250, 45, 2, True, "random"),
    (1518500250, 41, 5, False, "random"),
    (1, 1, 8, True, "ties"),
    ((1 << 30) + 7, 33, 3, False, "extremes"),
]


def run(cfg, pkg, **gaps):
    op, acc, y = pkg.op("requantize"), pkg.tensors["acc"], pkg.tensors["y"]
    beats = requant_beats(cfg, acc, mult=op["mult"], shift=op["shift"], bits=op["bits"],
                          signed=op["signed"])
    words, cycles = run_stream(Requantizer(cfg), beats, len(beats), **gaps)
    return requant_results(cfg, words, signed=op["signed"]), y, cycles


@pytest.mark.parametrize("mult,shift,bits,signed,stimulus", PARAMS)
def test_matches_golden(tmp_path, mult, shift, bits, signed, stimulus):
    pkg = requant_case(CFG, tmp_path / "c", beats=24, mult=mult, shift=shift, bits=bits,
                       signed=signed, stimulus=stimulus, seed=4)
    got, y, cycles = run(CFG, pkg)
    assert np.array_equal(got, y), f"got\n{got}\nexpected\n{y}"
    assert cycles == CFG.cycles(beats=24)
    assert len(np.unique(y)) > 1  # the case exercises more than one output value


def test_matches_golden_under_gaps(tmp_path):
    pkg = requant_case(CFG, tmp_path / "c", beats=30, mult=(1 << 30) + 99, shift=42, bits=6,
                       signed=True, seed=9)
    got, y, _ = run(CFG, pkg, idle=0.3, backpressure=0.4, seed=2)
    assert np.array_equal(got, y)


def test_ties_round_up_by_hand(tmp_path):
    cfg = RequantCfg(lanes=4, acc_bits=8, out_bits=8)
    acc = np.array([[1, -1, 3, -3]])
    words, _ = run_stream(Requantizer(cfg), requant_beats(cfg, acc, mult=1, shift=1, bits=8,
                                                          signed=True), 1)
    # 0.5 -> 1, -0.5 -> 0, 1.5 -> 2, -1.5 -> -1
    assert requant_results(cfg, words, signed=True).tolist() == [[1, 0, 2, -1]]


def test_rejects_non_config():
    with pytest.raises(TypeError, match=r"^cfg must be a RequantCfg, not 3$"):
        Requantizer(3)
