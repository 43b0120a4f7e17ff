"""GSB integer kernels against naive definitions (exact rationals, explicit loops)."""

from fractions import Fraction

import numpy as np
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from golden.intops import (
    batched_binary_matmul,
    gsb_attn_planes,
    gsb_av,
    gsb_value_planes,
    ratio,
    ratio_masks,
    threshold,
)
from golden.kernels import binary_matmul

ints = arrays(np.int64, st.tuples(st.integers(1, 3), st.integers(1, 4), st.integers(1, 5)),
              elements=st.integers(-1000, 1000))


@given(ints, st.sampled_from([0.5, 0.7, 0.9, 0.25, 0.33]))
def test_ratio_masks_are_exact_rational_comparisons(x, t):
    num, den = ratio(t)
    assert Fraction(num, den) == Fraction(repr(t))
    masks = ratio_masks(x, [(num, den)], two_tailed=True)[0]
    for i in range(x.shape[0]):
        hi, lo = Fraction(int(x[i].max())), Fraction(int(x[i].min()))
        want = [(Fraction(int(v)) > Fraction(repr(t)) * hi) or
                (Fraction(int(v)) < Fraction(repr(t)) * lo) for v in x[i].ravel()]
        assert masks[i].ravel().tolist() == [int(w) for w in want]


def test_masks_use_each_image_alone():
    x = np.array([[[10, 8, 1]], [[100, 80, 95]]])
    masks = ratio_masks(x, [(9, 10)], two_tailed=False)[0]
    assert masks.tolist() == [[[1, 0, 0]], [[1, 0, 1]]]


@given(ints)
def test_value_planes_sign_and_nesting(v):
    sign, masks = gsb_value_planes(v, [(7, 10), (9, 10)])
    assert np.array_equal(sign, (v >= 0).astype(np.uint8))
    assert np.all(masks[1] <= masks[0])  # T_0.9 inside T_0.7


@given(ints, st.integers(-50, 500))
def test_attention_planes(a, theta):
    planes = gsb_attn_planes(a, theta, [(7, 10)])
    assert np.array_equal(planes[0], (a > theta).astype(np.uint8))
    assert planes.shape == (2, *a.shape)


def test_threshold_directions():
    x = np.array([[-3, -1, 0, 2]])
    assert threshold(x, np.array([0, 0, 0, 0]), np.zeros(4, bool)).tolist() == [[0, 0, 1, 1]]
    assert threshold(x, np.array([-1, -1, -1, -1]), np.ones(4, bool)).tolist() == [[1, 1, 0, 0]]


@given(st.integers(0, 2**31), st.integers(1, 3), st.integers(1, 4))
def test_gsb_av_equals_the_plane_sum_by_loops(seed, groups, d):
    rng = np.random.default_rng(seed)
    h, n = 2, 5
    a_planes = rng.integers(0, 2, (groups, h, n, n)).astype(np.uint8)
    v_sign = rng.integers(0, 2, (h, n, d)).astype(np.uint8)
    v_masks = rng.integers(0, 2, (groups - 1, h, n, d)).astype(np.uint8)
    w = rng.integers(-100, 100, (groups, groups))
    got = gsb_av(a_planes, v_sign, v_masks, w)
    want = np.zeros((h, n, d), np.int64)
    for p in range(groups):
        for r in range(groups):
            for hh in range(h):
                for i in range(n):
                    for j in range(d):
                        acc = 0
                        for t in range(n):
                            sv = 2 * int(v_sign[hh, t, j]) - 1
                            mv = 1 if r == 0 else int(v_masks[r - 1, hh, t, j])
                            acc += int(a_planes[p, hh, i, t]) * sv * mv
                        want[hh, i, j] += int(w[p, r]) * acc
    assert np.array_equal(got, want)


def test_batched_binary_matmul_matches_the_2d_kernel():
    rng = np.random.default_rng(1)
    a = rng.integers(0, 2, (3, 2, 4, 16)).astype(np.uint8)
    w = rng.integers(0, 2, (3, 2, 5, 16)).astype(np.uint8)
    got = batched_binary_matmul(a, w, "xnor")
    assert got.shape == (3, 2, 4, 5)
    assert np.array_equal(got[2, 1], binary_matmul(a[2, 1], w[2, 1], "xnor"))
    shared = rng.integers(0, 2, (5, 16)).astype(np.uint8)
    assert np.array_equal(batched_binary_matmul(a, shared, "and")[1, 0],
                          binary_matmul(a[1, 0], shared, "and"))
