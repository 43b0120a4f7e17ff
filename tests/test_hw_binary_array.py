# amaranth: UnusedElaboratable=no
"""BinaryMatmulArray in Amaranth's simulator against golden.kernels.binary_matmul."""

import numpy as np
import pytest
from pysim_stream import run_stream

from golden.kernels import binary_matmul
from golden.spec import BinaryArrayCfg
from golden.streams import binary_array_beats, tile_results
from hw.binary_array import BinaryMatmulArray

CONFIGS = [
    BinaryArrayCfg(rows=4, cols=8, mode="xnor", max_k=64),
    BinaryArrayCfg(rows=3, cols=16, mode="and", max_k=64),
    BinaryArrayCfg(rows=1, cols=1, mode="xnor", max_k=4),
]


def run_pysim(cfg, a, w, *, idle=0.0, backpressure=0.0, seed=0):
    """Stream the product through the array; return (results [m, n], cycles)."""
    beats = binary_array_beats(cfg, a, w)
    n_out = len(beats) // cfg.beats(a.shape[1])
    words, cycles = run_stream(BinaryMatmulArray(cfg), beats, n_out, idle=idle,
                               backpressure=backpressure, seed=seed)
    return tile_results(cfg, words, m=a.shape[0], n=w.shape[0]), cycles


@pytest.mark.parametrize("cfg", CONFIGS, ids=str)
@pytest.mark.parametrize("idle,backpressure", [(0.0, 0.0), (0.3, 0.0), (0.0, 0.4), (0.3, 0.4)])
def test_matches_golden_under_gaps(cfg, idle, backpressure):
    rng = np.random.default_rng(7)
    m, n, k = 3, 2 * cfg.rows, 2 * cfg.cols
    a = rng.integers(0, 2, (m, k), dtype=np.uint8)
    w = rng.integers(0, 2, (n, k), dtype=np.uint8)
    y, cycles = run_pysim(cfg, a, w, idle=idle, backpressure=backpressure, seed=3)
    expected = binary_matmul(a, w, cfg.mode)
    assert np.array_equal(y, expected), f"got\n{y}\nexpected\n{expected}"
    if idle == backpressure == 0.0:
        assert cycles == cfg.cycles(m=m, n=n, k=k)


@pytest.mark.parametrize("cfg", CONFIGS, ids=str)
def test_accumulator_bound_corners(cfg):
    k = cfg.max_k
    a = np.ones((1, k), dtype=np.uint8)
    for w_fill, expected in ((1, k), (0, -k)):
        w = np.full((cfg.rows, k), w_fill, dtype=np.uint8)
        y, _ = run_pysim(cfg, a, w)
        assert np.all(y == expected) and np.array_equal(y, binary_matmul(a, w, cfg.mode))


def test_latency_comes_from_config():
    cfg = CONFIGS[0]
    assert BinaryMatmulArray(cfg).latency == cfg.latency


def test_rejects_non_config():
    with pytest.raises(TypeError, match=r"^cfg must be a BinaryArrayCfg, not 3$"):
        BinaryMatmulArray(3)
