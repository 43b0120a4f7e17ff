"""The shared tiling (:mod:`sim.compiler.tiling`): the loop nests both the compiler and the
accelerator-exact cycle model build their descriptors from."""

import pytest

from golden.accel_program import NUM_LOOPS, OpDesc
from sim.compiler import CompileError, tiling
from sim.compiler.parts.gsb_av import v_cols
from sim.compiler.sizing import MAX_ROWS, ROWS, binary_rows


def test_loops_fill_the_outer_levels_and_refuse_too_many():
    assert tiling.loops([3, 5]) == (1,) * (NUM_LOOPS - 2) + (3, 5)
    assert tiling.pad([7]) == (0,) * (NUM_LOOPS - 1) + (7,)
    with pytest.raises(CompileError, match=f"{NUM_LOOPS + 1} loop levels; the sequencer "
                                           f"has {NUM_LOOPS}"):
        tiling.loops([1] * (NUM_LOOPS + 1))


def test_elementwise_beats_run_along_the_last_axis_or_the_flat_tensor():
    nest, structured = tiling.elementwise((3, 16), 8)
    assert structured and nest.rn == tiling.loops([3, 2]) and nest.wn == nest.rn
    assert nest.wc == 8
    nest, structured = tiling.elementwise((3, 12), 8)  # 36 elements: 5 beats, the last padded
    assert not structured and nest.rn == tiling.loops([5])


def test_matmul_writes_one_beat_of_rows_per_reduction():
    nest = tiling.matmul([2, 5], 9, 64, 4, 32)  # 9 outputs on 4 rows: 3 tiles, 2 beats each
    assert nest.rn == (2, 5, 3, 2)
    assert nest.wn == (1, 2, 5, 3) and nest.wc == 4 and nest.last_level == NUM_LOOPS - 1


def test_rows_and_gsb_av():
    nest = tiling.rows((2, 10), last_level=NUM_LOOPS - 1)
    assert nest.rn == nest.wn == tiling.loops([2, 10]) and nest.wc == 1
    cols, arows = tiling.gsb_av(17, 20, 8)
    assert cols.rn == tiling.loops([20]) and cols.wn == (0,) * NUM_LOOPS
    assert arows.rn == tiling.loops([17]) and arows.wn == tiling.loops([17, 3])
    assert arows.wc == 8
    assert tiling.gsb_av(17, 20, 8, 4)[0].rn == tiling.loops([5])  # 4 V columns a beat


def test_v_columns_a_beat():
    # digits GSB: 18 tokens, 3 planes, heads of 32, 16 lanes: 8 columns (432 bits <= 512)
    assert v_cols(18, 3, [32], 16) == 8
    assert v_cols(18, 3, [32, 12], 16) == 4  # every head width divides
    assert v_cols(198, 3, [64], 16) == 1  # DeiT: 396 > the 8-bit plane stride
    assert v_cols(8, 1, [64], 4) == 4  # up to the lanes


def test_nest_fields_make_a_descriptor():
    nest = tiling.matmul([1], 4, 32, 4, 32)
    desc = OpDesc(unit="mac", **nest.fields())
    assert (desc.rn, desc.wn, desc.wc, desc.last_level) == tuple(nest)


def test_keys_chunk_major_only_when_a_row_spans_whole_chunks():
    assert tiling.chunked_keys(64, 32, 8)
    assert not tiling.chunked_keys(32, 32, 8)  # one chunk: row-major is one read already
    assert not tiling.chunked_keys(48, 32, 8)  # not whole chunks
    assert not tiling.chunked_keys(64, 36, 8)  # a chunk is not whole packed elements
    assert tiling.key_reads(4, 4, 8, 32) == 1
    assert tiling.key_reads(4, 4, 16, 32) == 2  # two whole words
    assert tiling.key_reads(8, 4, 8, 32) is None  # rows apart: a row a sub-cycle
    assert tiling.key_reads(4, 4, 8, 16) == 2  # wider than the scratchpad word: two reads
    assert tiling.key_reads(4, 4, 6, 16) is None  # ends inside a word


def test_runs():
    assert tiling.runs([3, 3, 5, 3]) == [(0, 2), (2, 1), (3, 1)]
    assert tiling.runs([]) == []


def test_binary_rows_fill_every_output_count():
    assert binary_rows([192, 64, 128, 64], top=32) == 32  # digits GSB
    assert binary_rows([576, 192, 768, 48], top=32) == 16  # 48 outputs: no padded tile
    assert binary_rows([10], top=32) == ROWS  # never below the old 8 rows
    assert binary_rows([192, 64]) == MAX_ROWS == 32  # the default cap
