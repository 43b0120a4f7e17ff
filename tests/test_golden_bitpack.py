"""Bit-planes and sub-byte packing: documented bit order, round trips, range errors."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from golden.bitpack import (
    binarize_sign,
    binarize_threshold,
    pack_bits,
    pack_int,
    packed_nbytes,
    rows_from_words,
    unpack_bits,
    unpack_int,
    words_from_rows,
)


def test_bit_order_lsb_first_by_hand():
    bits = np.array([1, 1, 0, 0, 0, 0, 0, 0, 0, 1])
    assert pack_bits(bits).tolist() == [0b00000011, 0b00000010]


def test_int_packing_by_hand():
    # s4 values [-1, 2, 7]: codes 0xF, 0x2, 0x7 -> bytes 0x2F, 0x07
    assert pack_int(np.array([-1, 2, 7]), 4, signed=True).tolist() == [0x2F, 0x07]
    # u3 values [5, 1, 7]: bits 101 100 111 (LSB first) -> 0b11_001_101, 0b1
    assert pack_int(np.array([5, 1, 7]), 3, signed=False).tolist() == [0b11001101, 0b1]


def test_binarisers_and_ties():
    assert binarize_sign(np.array([-1, 0, 1])).tolist() == [0, 1, 1]
    assert binarize_threshold(np.array([4, 5, 6]), 5).tolist() == [0, 0, 1]


@given(st.integers(1, 8), st.booleans(), st.data())
def test_pack_int_round_trip(bits, signed, data):
    lo, hi = (-(1 << (bits - 1)), (1 << (bits - 1)) - 1) if signed else (0, (1 << bits) - 1)
    x = data.draw(arrays(np.int64, data.draw(st.tuples(st.integers(1, 3), st.integers(1, 40))),
                         elements=st.integers(lo, hi)))
    packed = pack_int(x, bits, signed=signed)
    assert packed.nbytes == packed_nbytes(x.shape, bits)
    assert np.array_equal(unpack_int(packed, x.shape[-1], bits, signed=signed), x)


@given(arrays(np.uint8, st.tuples(st.integers(1, 4), st.integers(1, 70)),
              elements=st.integers(0, 1)))
def test_pack_bits_round_trip(bits):
    assert np.array_equal(unpack_bits(pack_bits(bits), bits.shape[-1]), bits)


@given(st.integers(1, 12), st.data())
def test_words_round_trip(bits, data):
    lo, hi = -(1 << (bits - 1)), (1 << (bits - 1)) - 1
    x = data.draw(arrays(np.int64, (3, 5), elements=st.integers(lo, hi)))
    assert np.array_equal(rows_from_words(words_from_rows(x, bits), 5, bits, signed=True), x)


def test_range_errors():
    with pytest.raises(ValueError, match=r"^values out of range for s4: \[-8, 7\]$"):
        pack_int(np.array([8]), 4, signed=True)
    with pytest.raises(ValueError, match=r"^bit-plane elements must be 0 or 1$"):
        pack_bits(np.array([2]))
