"""Integer non-linear kernels: exactness where the math is exact, stated error bounds elsewhere."""

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from golden.nonlinear import (
    gelu_params,
    int_exp,
    int_gelu,
    int_layernorm,
    int_softmax,
    isqrt,
    layernorm_params,
    softmax_params,
)

RNG = np.random.default_rng(0)


@given(st.lists(st.integers(0, (1 << 62) - 1), min_size=1, max_size=50))
def test_isqrt_is_exact(values):
    assert isqrt(np.array(values)).tolist() == [math.isqrt(v) for v in values]


def test_isqrt_around_perfect_squares():
    roots = np.array([1, 2, 3, 1000, 46340, 3037000499])
    for delta, expect in ((-1, roots - 1), (0, roots), (1, roots)):
        assert np.array_equal(isqrt(roots * roots + delta), expect)
    with pytest.raises(ValueError, match=r"^isqrt needs non-negative inputs$"):
        isqrt(np.array([-1]))


def float_softmax(x):
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


@pytest.mark.parametrize("scale,bound", [(1 / 16, 0.075), (1 / 64, 0.02), (1 / 256, 0.008)])
def test_softmax_error_bound(scale, bound):
    p = softmax_params(scale)
    x = np.round(RNG.normal(0, 3, (100, 197)) / scale).astype(np.int64)
    got = int_softmax(x, p) / 2**p.out_bits
    assert np.abs(got - float_softmax(x * scale)).max() <= bound
    assert got.min() >= 0 and got.max() < 1


def test_exp_range_and_monotone():
    p = softmax_params(1 / 64)
    x = np.arange(-3000, 1)
    e = int_exp(x, p)
    assert e.max() < 1 << 16 and e.min() >= 0 and np.all(np.diff(e) >= 0)
    assert int_exp(np.array([0]), p)[0] == p.c << p.n  # exp(0) = c * 2**n exactly


@given(arrays(np.int64, (3, 17), elements=st.integers(-2000, 2000)), st.integers(-5000, 5000))
def test_softmax_ignores_a_row_offset_exactly(x, offset):
    p = softmax_params(1 / 64)
    assert np.array_equal(int_softmax(x, p), int_softmax(x + offset, p))


def test_softmax_params_by_hand():
    p = softmax_params(1 / 64)
    # x0 = floor(-ln2 * 64) = floor(-44.36); b = floor(2.7073 * 64) = floor(173.27);
    # c = floor(2.7921 * 4096) = floor(11436.4); n = 16 - bitlen(11436) = 16 - 14
    assert (p.x0, p.b, p.c, p.n) == (-45, 173, 11436, 2)
    with pytest.raises(ValueError, match=r"^scale must be in \(0, 1\), not 2$"):
        softmax_params(2)


def float_gelu(x):
    return 0.5 * x * (1 + np.vectorize(math.erf)(x / math.sqrt(2)))


@pytest.mark.parametrize("scale,bound", [(2**-8, 0.12), (2**-10, 0.025), (2**-12, 0.02)])
def test_gelu_error_bound(scale, bound):
    p = gelu_params(scale)
    x = np.round(np.linspace(-6, 6, 4001) / scale).astype(np.int64)
    assert np.abs(int_gelu(x, p) * p.out_scale - float_gelu(x * scale)).max() <= bound


def test_gelu_fixed_points():
    p = gelu_params(2**-10)
    assert int_gelu(np.array([0]), p)[0] == 0
    big = np.array([8 * 1024])  # x = 8: gelu(x) = x to float precision
    assert abs(int_gelu(big, p)[0] * p.out_scale - 8.0) < 0.02


@pytest.mark.parametrize("dim", [64, 192, 768])
def test_layernorm_error_bound_and_range(dim):
    p = layernorm_params(dim)
    x = (RNG.integers(-2**15, 2**15, (40, dim)) * RNG.random((40, 1))).astype(np.int64)
    out = int_layernorm(x, p)
    ref = (x - x.mean(-1, keepdims=True)) / x.std(-1, keepdims=True)
    assert np.abs(out * p.out_scale - ref).max() <= 0.01
    spike = np.full((1, dim), -2**15)
    spike[0, 0] = 2**15 - 1  # the largest |y|/std a row can have: sqrt(dim - 1)
    assert np.abs(int_layernorm(spike, p)).max() < 2**31


@given(arrays(np.int64, (2, 64), elements=st.integers(-2**14, 2**14)),
       st.integers(-2**14, 2**14))
def test_layernorm_ignores_a_row_offset_exactly(x, offset):
    p = layernorm_params(64)
    assert np.array_equal(int_layernorm(x, p), int_layernorm(x + offset, p))


def test_layernorm_params_and_errors():
    assert layernorm_params(192).guard == 5  # ceil(log2(sqrt(192))) + 1 = ceil(3.79) + 1
    with pytest.raises(ValueError, match=r"^last axis is 3, params are for dim 64$"):
        int_layernorm(np.zeros((1, 3), dtype=np.int64), layernorm_params(64))
