"""Mixed-rank compression: config, activation-aware SVD, allocation, compensation, layer."""

import subprocess
import sys

import numpy as np
import pytest
import torch
from hypothesis import example, given
from hypothesis import strategies as st

from golden.errors import VitsimError
from golden.lowrank_cfg import LowRankCfg
from golden.spec import ConfigError
from models.lowrank import Moments, aa_svd, compensate, output_error, principal_basis
from models.lowrank_alloc import LayerCurve, allocate_ranks, candidate_ranks, tail_errors
from models.lowrank_layers import LowRankLinear

pytestmark = pytest.mark.usefixtures("torch_one_thread")


def _skewed_inputs(n: int, k: int, seed: int = 0) -> torch.Tensor:
    """Tokens whose channel scales span three decades, mixed by a random rotation."""
    g = torch.Generator().manual_seed(seed)
    q, _ = torch.linalg.qr(torch.randn(k, k, generator=g, dtype=torch.float64))
    scales = torch.logspace(0, -3, k, dtype=torch.float64)
    return (torch.randn(n, k, generator=g, dtype=torch.float64) * scales) @ q.T


def _weight(out: int, k: int, seed: int = 1) -> torch.Tensor:
    return torch.randn(out, k, generator=torch.Generator().manual_seed(seed),
                       dtype=torch.float64)


# --- config ---------------------------------------------------------------------------


@pytest.mark.parametrize("target", [0, 0.0, 1, 1.0, -0.2, 1.5])
def test_cfg_rejects_targets_outside_zero_one(target):
    with pytest.raises(ConfigError, match=rf"^target must be > 0.0 and < 1.0, not {target!r}$"):
        LowRankCfg(target=target)


@pytest.mark.parametrize("field,value,message", [
    ("scheme", "asvd", r"^scheme must be one of 'svd', 'lowrank', not 'asvd'$"),
    ("metric", "max", r"^metric must be one of 'full', 'mean', not 'max'$"),
    ("w_bits", 4, r"^w_bits must be one of 8, 32, not 4$"),
    ("rank_step", 0, r"^rank_step must be between 1 and 1024, not 0$"),
    ("rank_k", -1, r"^rank_k must be between 0 and 1024, not -1$"),
    ("lr", 0.0, r"^lr must be > 0.0, not 0.0$"),
])
def test_cfg_rejects_bad_fields(field, value, message):
    with pytest.raises(ConfigError, match=message):
        LowRankCfg(target=0.5, **{field: value})


def test_cfg_type_errors_and_round_trip():
    with pytest.raises(TypeError, match=r"^target must be a finite number, not '0.4'$"):
        LowRankCfg(target="0.4")
    cfg = LowRankCfg(target=0.6, scheme="svd", rank_k=4, w_bits=8)
    assert LowRankCfg.from_dict(cfg.to_dict()) == cfg
    assert str(cfg) == "svd_t0.6_s8_full_k4_w8" and cfg.needs_data and not cfg.aware
    with pytest.raises(ConfigError, match=r"^ckpt: missing field 'target' for LowRankCfg$"):
        LowRankCfg.from_dict({"scheme": "svd"}, source="ckpt")


def test_cfg_module_is_torch_free():
    code = "import sys, golden.lowrank_cfg; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "False"


# --- activation-aware SVD -------------------------------------------------------------


def test_aa_svd_beats_plain_svd_on_skewed_activations():
    x, w = _skewed_inputs(2000, 32), _weight(24, 32)
    xtx = x.T @ x
    for rank in (2, 4, 8):
        a, b = aa_svd(w, xtx, rank)
        pa, pb = aa_svd(w, None, rank)
        aware, plain = output_error(w, b @ a, xtx), output_error(w, pb @ pa, xtx)
        assert aware < 0.5 * plain, (rank, aware, plain)
        # the closed form is optimal: the error is the energy outside the top-r space
        _, errors = principal_basis(w, Moments(xtx, x.sum(0), len(x)))
        assert aware == pytest.approx(errors[rank], rel=1e-6)


def test_aa_svd_equals_plain_svd_for_white_inputs():
    w = _weight(24, 32)
    xtx = 7.0 * torch.eye(32, dtype=torch.float64)  # white inputs, any scale
    for rank in (3, 10):
        a, b = aa_svd(w, xtx, rank)
        pa, pb = aa_svd(w, None, rank)
        torch.testing.assert_close(b @ a, pb @ pa, rtol=1e-9, atol=1e-9)
        assert output_error(w, b @ a, xtx) == pytest.approx(output_error(w, pb @ pa, xtx))


def test_aa_svd_is_robust_to_singular_moments():
    # inputs in a 3-dim subspace of 16 channels: X^T X is singular
    g = torch.Generator().manual_seed(2)
    x = torch.randn(500, 3, generator=g, dtype=torch.float64) @ torch.randn(
        3, 16, generator=g, dtype=torch.float64)
    w, xtx = _weight(12, 16), x.T @ x
    a, b = aa_svd(w, xtx, 5, damping=1e-6)
    assert torch.isfinite(a).all() and torch.isfinite(b).all()
    assert output_error(w, b @ a, xtx) < 1e-10  # rank 3 already reproduces X W^T
    # the extra directions follow the damping term (plain SVD), not noise
    torch.testing.assert_close(b.T @ b, torch.eye(5, dtype=torch.float64))
    a32, b32 = aa_svd(w.float(), xtx.float(), 3)
    assert a32.dtype == b32.dtype == torch.float32


def test_mean_metric_measures_the_mean_input():
    x, w = _skewed_inputs(800, 16) + 0.5, _weight(8, 16)
    mom = Moments(x.T @ x, x.sum(0), len(x))
    v, errors = principal_basis(w, mom, metric="mean")
    y = w @ mom.mean
    for r in (0, 2, 5, 8):
        approx = v[:, :r] @ v[:, :r].T @ y
        assert errors[r] == pytest.approx(float(((y - approx) ** 2).sum() / (y**2).sum()),
                                          abs=1e-12)


# --- allocation -----------------------------------------------------------------------


def test_tail_errors_fall_from_one_to_zero():
    np.testing.assert_allclose(tail_errors(np.array([3.0, 1.0])), [1.0, 0.25, 0.0])
    np.testing.assert_array_equal(tail_errors(np.zeros(3)), np.zeros(4))


@given(k=st.integers(1, 300), n=st.integers(1, 300), step=st.integers(1, 16),
       rank_k=st.integers(0, 8))
def test_candidate_ranks_stop_below_break_even(k, n, step, rank_k):
    ranks = candidate_ranks(k, n, step, rank_k)
    for r in ranks:
        assert r % step == 0 and (r + rank_k) * (k + n) < k * n
    top = ranks[0] if ranks else 0
    assert (top + step + rank_k) * (k + n) >= k * n
    assert ranks == sorted(ranks, reverse=True)


def _curves(seed: int, count: int = 6) -> list[LayerCurve]:
    rng = np.random.default_rng(seed)
    shapes = [(64, 192), (64, 64), (64, 256), (256, 64), (48, 40), (8, 8)]
    out = []
    for i in range(count):
        k, n = shapes[i % len(shapes)]
        energy = np.sort(rng.gamma(0.5, size=min(k, n)) * rng.uniform(0.1, 10))[::-1]
        out.append(LayerCurve(f"l{i}", k, n, tail_errors(energy)))
    return out


@given(seed=st.integers(0, 1000), frac=st.floats(0.05, 1.0), step=st.sampled_from([1, 4, 8]),
       rank_k=st.sampled_from([0, 2]))
@example(seed=426, frac=0.0625, step=1, rank_k=0)  # the 8x8 layer has ranks 1-3 at step 1
def test_allocator_meets_budget_within_one_rank_step(seed, frac, step, rank_k):
    layers = _curves(seed)
    dense = sum(lay.dense for lay in layers)
    floor = sum(lay.dense if not candidate_ranks(lay.in_features, lay.out_features, step, rank_k)
                else (candidate_ranks(lay.in_features, lay.out_features, step, rank_k)[-1]
                      + rank_k) * (lay.in_features + lay.out_features) for lay in layers)
    budget = int(floor + frac * (dense - floor)) - 1
    if budget < floor:
        return
    ranks = allocate_ranks(layers, budget, rank_step=step, rank_k=rank_k)
    total = sum(lay.dense if ranks[lay.name] == 0 else
                (ranks[lay.name] + rank_k) * (lay.in_features + lay.out_features)
                for lay in layers)
    assert total <= budget
    assert budget - total < max(step * (lay.in_features + lay.out_features) for lay in layers)
    for lay in layers:  # every rank is a candidate; a layer with none stays dense
        cands = candidate_ranks(lay.in_features, lay.out_features, step, rank_k)
        r = ranks[lay.name]
        assert r == 0 or r in cands
        assert cands or r == 0


def test_allocator_prefers_the_layer_that_loses_least():
    flat = LayerCurve("flat", 64, 64, tail_errors(np.ones(64)))
    steep = LayerCurve("steep", 64, 64, tail_errors(np.exp(-np.arange(64.0))))
    ranks = allocate_ranks([flat, steep], 4096 + 8 * 128, rank_step=8)
    assert ranks == {"flat": 0, "steep": 8}


def test_allocator_rejects_unreachable_budget():
    layers = _curves(0, 2)
    with pytest.raises(VitsimError, match=r"^target unreachable: the compressible layers need "
                       r"at least 3072 weights at rank 8 \(\+0\), the budget is 100$"):
        allocate_ranks(layers, 100, rank_step=8)


# --- compensation ---------------------------------------------------------------------


def _comp_setup(rank: int = 3, rank_k: int = 2):
    x = _skewed_inputs(1500, 16, seed=3)
    g = torch.Generator().manual_seed(4)
    xt = x + 0.05 * torch.randn(x.shape, generator=g, dtype=torch.float64) @ torch.randn(
        16, 16, generator=g, dtype=torch.float64)  # the compressed network's inputs
    w = _weight(12, 16, seed=5)
    v, _ = principal_basis(w, Moments(x.T @ x, x.sum(0), len(x)))
    lay = LowRankLinear(16, 12, rank, rank_k, bias=False, dtype=torch.float64)
    vk = v[:, : rank + rank_k]
    lay.set_factors(vk[:, :rank].T @ w, vk[:, :rank], vk[:, rank:].T @ w, vk[:, rank:])
    return x, xt, w, lay


def _layer_error(x, xt, w, lay) -> float:
    with torch.no_grad():
        y = x @ w.T
        return float(((y - lay(xt)) ** 2).sum() / (y**2).sum())


def test_compensation_does_not_increase_output_error():
    x, xt, w, lay = _comp_setup()
    start = _layer_error(x, xt, w, lay)
    with torch.no_grad():
        no_residual = LowRankLinear(16, 12, 3, 2, bias=False, dtype=torch.float64)
        no_residual.set_factors(lay.weight_a[:3], lay.weight_b[:, :3])
    before, after = compensate(lay, w, p=xt.T @ xt, q=xt.T @ x, xtx=x.T @ x, steps=150,
                               lr=1e-2)
    end = _layer_error(x, xt, w, lay)
    assert before == pytest.approx(start, rel=1e-6) and end == pytest.approx(after, rel=1e-6)
    assert end < 0.9 * start  # it learns from X_tilde, not only keeps the start
    assert end <= _layer_error(x, xt, w, no_residual)


def test_compensation_with_no_steps_keeps_the_better_start():
    x, xt, w, lay = _comp_setup()
    start = _layer_error(x, xt, w, lay)
    before, after = compensate(lay, w, p=xt.T @ xt, q=xt.T @ x, xtx=x.T @ x, steps=0, lr=1e-2)
    assert after <= before and _layer_error(x, xt, w, lay) <= start * (1 + 1e-9)


# --- the two-GEMM layer ---------------------------------------------------------------


@pytest.mark.parametrize("w_bits", [32, 8])
def test_two_gemm_layer_equals_dense_product(w_bits):
    torch.manual_seed(0)
    lay = LowRankLinear(20, 12, 4, 2, w_bits=32)
    lay.set_factors(torch.randn(4, 20), torch.randn(12, 4), torch.randn(2, 20),
                    torch.randn(12, 2))
    lay.bias.data.normal_()
    if w_bits < 32:
        lay.quantize(w_bits)
    x = torch.randn(5, 7, 20)
    dense = x @ lay.dense_weight().T + lay.bias
    torch.testing.assert_close(lay(x), dense, rtol=1e-5, atol=1e-5)
    a, b = lay.factors()
    assert a.shape == (6, 20) and b.shape == (12, 6)
    if w_bits < 32:  # factors are integer codes times per-row scales
        codes = a / lay.quant_a.scales()[:, None]
        torch.testing.assert_close(codes, codes.round(), rtol=0, atol=1e-4)
        assert codes.abs().max() <= 127 + 1e-3
        torch.testing.assert_close(b, lay.weight_b, rtol=0, atol=float(lay.quant_b.scales().max()))


def test_two_gemm_layer_state_dict_names():
    lay = LowRankLinear(8, 6, 2, 1)
    assert list(lay.state_dict()) == ["weight_a", "weight_b", "bias"]
    q = LowRankLinear(8, 6, 2, 0, bias=False, w_bits=8)
    assert list(q.state_dict()) == ["weight_a", "weight_b", "quant_a.alpha",
                                    "quant_a.initialized", "quant_b.alpha",
                                    "quant_b.initialized"]
    assert (q.weight_a.shape, q.weight_b.shape) == ((2, 8), (6, 2))
