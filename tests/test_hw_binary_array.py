# amaranth: UnusedElaboratable=no
"""BinaryMatmulArray in Amaranth's simulator against golden.kernels.binary_matmul."""

import numpy as np
import pytest
from amaranth.hdl import Module, Signal
from amaranth.sim import Simulator
from pysim_stream import run_stream

from golden.kernels import binary_matmul
from golden.spec import BinaryArrayCfg
from golden.streams import binary_array_beats, tile_results
from hw.adder_tree import compress, compressed_popcount
from hw.binary_array import BinaryMatmulArray

CONFIGS = [
    BinaryArrayCfg(rows=4, cols=8, mode="xnor", max_k=64),
    BinaryArrayCfg(rows=3, cols=16, mode="and", max_k=64),
    BinaryArrayCfg(rows=1, cols=1, mode="xnor", max_k=4),
    BinaryArrayCfg(rows=2, cols=64, mode="xnor", max_k=128),  # the benchmark's lanes
    BinaryArrayCfg(rows=20, cols=4, mode="xnor", max_k=8),  # two shared carry chains
    BinaryArrayCfg(rows=3, cols=5, mode="xnor", max_k=20),  # odd cols, two-row tree
    BinaryArrayCfg(rows=2, cols=6, mode="xnor", max_k=12),  # half sums, cols not 2**n
    BinaryArrayCfg(rows=2, cols=2, mode="xnor", max_k=8),  # no tree levels
    BinaryArrayCfg(rows=2, cols=12, mode="and", max_k=24),
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
    assert BinaryMatmulArray(cfg).latency == cfg.latency == cfg.tree_levels + 1


@pytest.mark.parametrize("cols", [1, 2, 3, 4, 5, 7, 8, 9, 16, 31, 33, 64, 100, 256, 1024])
def test_tree_levels_mirror_the_compressor(cols):
    m = Module()
    a, w = Signal(cols), Signal(cols)
    stats = {}
    columns = compress(m, [], [[(a[i], w[i]) for i in range(cols)]], lambda x, y: x ^ y,
                       stats=stats)
    assert stats["levels"] == BinaryArrayCfg(rows=1, cols=cols, max_k=cols).tree_levels
    assert all(len(c) <= 2 for c in columns)
    assert sum(len(c) << j for j, c in enumerate(columns)) >= cols  # can still reach cols


def test_compressor_counts_exactly():
    # every input pattern of a 7-bit popcount with 3 folded pairs, in the simulator
    m = Module()
    bits, x, y = Signal(4), Signal(3), Signal(3)
    out = Signal(4)
    cnt = compressed_popcount(m, list(bits), [(x[i], y[i]) for i in range(3)],
                              lambda p, q: p & q)
    m.d.comb += out.eq(cnt)
    sim = Simulator(m)
    seen = []

    async def bench(ctx):
        for v in range(1 << 10):
            ctx.set(bits, v & 15)
            ctx.set(x, (v >> 4) & 7)
            ctx.set(y, v >> 7)
            expected = bin(v & 15).count("1") + bin(((v >> 4) & 7) & (v >> 7)).count("1")
            seen.append(ctx.get(out) == expected)

    sim.add_testbench(bench)
    sim.run()
    assert len(seen) == 1 << 10 and all(seen)


def test_rejects_non_config():
    with pytest.raises(TypeError, match=r"^cfg must be a BinaryArrayCfg, not 3$"):
        BinaryMatmulArray(3)


def test_verilog_grows_with_the_tree_not_with_lanes_times_the_tree():
    # one bit-sliced tree serves every lane: 4x the lanes adds only the per-lane
    # accumulators (the per-lane trees of before made the 32-row Verilog 3.9x the 8-row's)
    from amaranth.back import verilog

    lines = {rows: verilog.convert(BinaryMatmulArray(BinaryArrayCfg(
        rows=rows, cols=32, mode="xnor", max_k=64)), name="binary_array",
        emit_src=False).count("\n") for rows in (8, 32)}
    assert lines[32] < 1.5 * lines[8], lines
