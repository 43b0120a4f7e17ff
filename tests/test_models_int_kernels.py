"""The torch integer kernels equal the numpy golden kernels (``==``) on generated inputs."""

import numpy as np
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from golden import kernels, nonlinear
from golden.netspec import Op
from golden.network import OPS
from models import int_kernels
from models.int_kernels import TORCH_OPS


def test_every_golden_op_kind_has_a_torch_kernel():
    assert set(TORCH_OPS) == set(OPS)


@given(arrays(np.int64, (3, 7), elements=st.integers(-2**31, 2**31 - 1)),
       st.integers(-2**15, 2**15 - 1), st.integers(-2**40, 2**40), st.integers(1, 30))
def test_requantize(acc, mult, bias, shift):
    want = kernels.requantize(acc, mult=mult, bias=bias, shift=shift, lo=-2**20, hi=2**20)
    got = int_kernels.requantize(torch.from_numpy(acc), torch.tensor(mult), torch.tensor(bias),
                                 shift, -2**20, 2**20)
    assert np.array_equal(got.numpy(), want)


@given(arrays(np.int64, st.integers(0, 20), elements=st.integers(0, 2**62)))
def test_isqrt(n):
    assert np.array_equal(int_kernels.isqrt(torch.from_numpy(n)).numpy(), nonlinear.isqrt(n))


@settings(max_examples=50)
@given(st.sampled_from([2, 3, 64, 100, 192, 768]), st.integers(0, 2**31))
def test_layernorm(dim, seed):
    x = np.random.default_rng(seed).integers(-2**15 + 1, 2**15, (4, dim))
    x[0] = x[0, 0]  # a constant row: variance 0
    want = nonlinear.int_layernorm(x, nonlinear.layernorm_params(dim))
    assert np.array_equal(int_kernels.int_layernorm(torch.from_numpy(x), dim).numpy(), want)


@settings(max_examples=50)
@given(st.floats(1e-3, 0.5), st.integers(0, 4), st.integers(0, 2**31))
def test_softmax(scale, in_shift, seed):
    x = np.random.default_rng(seed).integers(-64, 65, (3, 18))
    p = nonlinear.softmax_params(scale, out_bits=16)
    op = Op("softmax", "s", (), (), params={"in_shift": in_shift, **p.to_dict()})
    want = nonlinear.int_softmax(x << in_shift, p)
    assert np.array_equal(int_kernels.int_softmax(torch.from_numpy(x), op).numpy(), want)


@given(arrays(np.int64, 50, elements=st.integers(-2**21, 2**21)), st.integers(1, 2**40))
def test_gelu_with_clip(x, clip):
    p = nonlinear.gelu_params(2.0**-10)
    op = Op("gelu", "g", (), (), params={"clip": clip, **p.to_dict()})
    assert np.array_equal(TORCH_OPS["gelu"](op, torch.from_numpy(x)).numpy(),
                          OPS["gelu"](op, x))


@given(st.integers(0, 2**31), st.sampled_from(["xnor", "and"]))
def test_binary_matmul_and_gsb_planes(seed, mode):
    rng = np.random.default_rng(seed)
    a = rng.integers(0, 2, (2, 3, 6, 16)).astype(np.uint8)
    w = rng.integers(0, 2, (2, 3, 5, 16)).astype(np.uint8)
    op = Op("binary_matmul", "m", (), (), params={"mode": mode})
    assert np.array_equal(TORCH_OPS["binary_matmul"](op, torch.from_numpy(a),
                                                     torch.from_numpy(w)).numpy(),
                          OPS["binary_matmul"](op, a, w))
    v = rng.integers(-500, 500, (2, 3, 6, 4))
    op = Op("gsb_attn_planes", "p", (), (), params={"ratios": [[7, 10], [9, 10]],
                                                      "base_theta": 3})
    for got, want in zip(TORCH_OPS["gsb_value_planes"](op, torch.from_numpy(v)),
                         OPS["gsb_value_planes"](op, v), strict=True):
        assert np.array_equal(got.numpy(), want)
    assert np.array_equal(TORCH_OPS["gsb_attn_planes"](op, torch.from_numpy(v)).numpy(),
                          OPS["gsb_attn_planes"](op, v))
