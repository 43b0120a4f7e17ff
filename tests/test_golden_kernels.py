"""Integer kernels against naive references (examples) and their properties (hypothesis)."""

from fractions import Fraction

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from golden.kernels import (
    acc_bits_for_range,
    and_popcount_matmul,
    binary_matmul,
    dot_bound,
    int_matmul,
    quantize_multiplier,
    requantize,
    xnor_popcount_matmul,
)


def naive_dot(a, w):
    return [[sum(int(x) * int(y) for x, y in zip(ar, wr, strict=True)) for wr in w] for ar in a]


def test_xnor_example_by_hand():
    # a = [+1, -1, +1, +1], w = [+1, +1, -1, +1]: products +1 -1 -1 +1 -> 0
    a = np.array([[1, 0, 1, 1]], dtype=np.uint8)
    w = np.array([[1, 1, 0, 1], [1, 0, 1, 1]], dtype=np.uint8)
    assert xnor_popcount_matmul(a, w).tolist() == [[0, 4]]


def test_and_example_by_hand():
    # a = [1, 0, 1, 1] (unsigned), w = [+1, +1, -1, +1] -> 1 + 0 - 1 + 1 = 1
    a = np.array([[1, 0, 1, 1]], dtype=np.uint8)
    w = np.array([[1, 1, 0, 1]], dtype=np.uint8)
    assert and_popcount_matmul(a, w).tolist() == [[1]]


bit_mats = st.integers(1, 5).flatmap(lambda m: st.integers(1, 70).flatmap(
    lambda k: st.tuples(arrays(np.uint8, (m, k), elements=st.integers(0, 1)),
                        arrays(np.uint8, (3, k), elements=st.integers(0, 1)))))


@given(bit_mats)
def test_xnor_equals_pm1_dot_and_popcount_identity(ab):
    a, w = ab
    y = xnor_popcount_matmul(a, w)
    assert y.tolist() == naive_dot(a.astype(int) * 2 - 1, w.astype(int) * 2 - 1)
    k = a.shape[1]
    popcount = np.array([[int(np.sum(ar == wr)) for wr in w] for ar in a])
    assert np.array_equal(y, 2 * popcount - k)
    assert np.all(np.abs(y) <= k)


@given(bit_mats)
def test_and_equals_unsigned_by_pm1_dot(ab):
    a, w = ab
    y = and_popcount_matmul(a, w)
    assert y.tolist() == naive_dot(a.astype(int), w.astype(int) * 2 - 1)
    assert np.array_equal(y, binary_matmul(a, w, "and"))


def test_binary_matmul_rejects_mode():
    with pytest.raises(ValueError, match=r"^mode must be one of 'xnor', 'and', not 'or'$"):
        binary_matmul(np.zeros((1, 1)), np.zeros((1, 1)), "or")


@given(st.integers(-(1 << 40), 1 << 40), st.integers(0, 1 << 40))
def test_acc_bits_is_minimal(lo, span):
    hi = lo + span
    bits = acc_bits_for_range(lo, hi)
    assert -(1 << (bits - 1)) <= lo and hi < (1 << (bits - 1))
    if bits > 1:
        assert lo < -(1 << (bits - 2)) or hi >= (1 << (bits - 2))


operands = st.sampled_from([(1, True), (2, True), (3, False), (4, True), (8, False), (8, True)])


@given(operands, operands, st.integers(1, 40), st.data())
def test_int_matmul_exact_and_within_bound(a_spec, w_spec, k, data):
    (a_bits, a_signed), (w_bits, w_signed) = a_spec, w_spec

    def elems(bits, signed):
        if bits == 1:
            return st.sampled_from([-1, 1] if signed else [0, 1])
        lo = -(1 << (bits - 1)) if signed else 0
        hi = (1 << (bits - 1)) - 1 if signed else (1 << bits) - 1
        return st.integers(lo, hi)

    a = data.draw(arrays(np.int64, (2, k), elements=elems(a_bits, a_signed)))
    w = data.draw(arrays(np.int64, (3, k), elements=elems(w_bits, w_signed)))
    y = int_matmul(a, w, a_bits=a_bits, a_signed=a_signed, w_bits=w_bits, w_signed=w_signed)
    assert y.tolist() == naive_dot(a, w)
    lo, hi = dot_bound(k, a_bits=a_bits, a_signed=a_signed, w_bits=w_bits, w_signed=w_signed)
    assert lo <= y.min() and y.max() <= hi


def test_dot_bound_is_reached_by_corners():
    lo, hi = dot_bound(16, a_bits=8, a_signed=True, w_bits=4, w_signed=True)
    assert (lo, hi) == (16 * 127 * -8, 16 * -128 * -8)  # -1016 < -896: 127*-8 is the min
    a = np.full((1, 16), -128)
    assert int_matmul(a, np.full((1, 16), -8), a_bits=8, a_signed=True, w_bits=4,
                      w_signed=True)[0, 0] == hi


def test_int_matmul_rejects_out_of_range_and_narrow_accumulator():
    with pytest.raises(ValueError, match=r"^a out of range for s4$"):
        int_matmul(np.array([[8]]), np.array([[1]]), a_bits=4, a_signed=True, w_bits=4,
                   w_signed=True)
    with pytest.raises(ValueError, match=r"^acc_bits=8 cannot hold \[-512, 512\]; need 11$"):
        int_matmul(np.ones((1, 512), dtype=np.int64), np.ones((1, 512), dtype=np.int64),
                   a_bits=1, a_signed=True, w_bits=1, w_signed=True, acc_bits=8)


def reference_requant(acc, mult, shift, lo, hi):
    """Round half up of the exact rational acc * mult / 2**shift, then clamp."""
    exact = Fraction(int(acc) * mult, 1 << shift)
    q = (exact + Fraction(1, 2)).__floor__()
    return max(lo, min(hi, q))


@given(st.lists(st.integers(-(1 << 31) + 1, (1 << 31) - 1), min_size=1, max_size=20),
       st.integers(0, (1 << 31) - 1), st.integers(1, 62))
def test_requantize_matches_exact_rounding(accs, mult, shift):
    got = requantize(np.array(accs), mult=mult, shift=shift, lo=-128, hi=127)
    assert got.tolist() == [reference_requant(a, mult, shift, -128, 127) for a in accs]


@given(st.lists(st.integers(-(1 << 20), 1 << 20), min_size=2, max_size=30),
       st.integers(1 << 30, (1 << 31) - 1), st.integers(8, 40))
def test_requantize_is_monotone(accs, mult, shift):
    accs = np.sort(np.array(accs))
    q = requantize(accs, mult=mult, shift=shift, lo=-8, hi=7)
    assert np.all(np.diff(q) >= 0)


def test_requantize_ties_round_up():
    # 0.5 -> 1, -0.5 -> 0, 1.5 -> 2, -1.5 -> -1 (half up, toward +inf)
    q = requantize(np.array([1, -1, 3, -3]), mult=1, shift=1, lo=-128, hi=127)
    assert q.tolist() == [1, 0, 2, -1]


@given(st.floats(min_value=1e-9, max_value=1e6, allow_nan=False))
def test_quantize_multiplier_reconstructs_scale(scale):
    mult, shift = quantize_multiplier(scale)
    assume(shift <= 62)
    assert (1 << 30) <= mult < (1 << 31)
    assert abs(Fraction(mult, 1 << shift) - Fraction(scale)) <= Fraction(1, 1 << shift) / 2


@pytest.mark.parametrize("bad", [0.0, -1.0, float("inf"), float("nan")])
def test_quantize_multiplier_rejects(bad):
    with pytest.raises(ValueError, match=r"^scale must be a positive finite number"):
        quantize_multiplier(bad)
