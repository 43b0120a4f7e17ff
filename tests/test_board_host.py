"""The board host driver's refusals and read-back plan, on scripted transports (no board,
no simulator; the driver's run against the board top itself is tests/test_sim_board.py)."""

import struct
from types import SimpleNamespace

import numpy as np
import pytest

from golden.accel_program import AccelTopCfg
from sim.board.host import BoardError, HostLink, readback_spans, run_on_board
from sim.compiler.program import TensorLoc, View


class Scripted:
    """Answers each write with the next scripted answer; records what was written."""

    def __init__(self, answers):
        self.answers, self.sent, self.buf = list(answers), [], b""

    def write(self, data):
        self.sent.append(bytes(data))
        if self.answers:
            self.buf += self.answers.pop(0)

    def read(self, n):
        if len(self.buf) < n:
            raise BoardError(f"scripted: {len(self.buf)} of {n} bytes")
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def pause(self):
        pass


def _program(lanes=4, used=64, dump_word=10):
    cfg = AccelTopCfg(lanes=lanes, depth=64, ext_words=64)
    ext = np.arange(64 * lanes, dtype=np.uint32).reshape(64, lanes)
    return SimpleNamespace(cfg=cfg, ext=ext, dump_word=dump_word, used=used, cnt_base=48,
                           descs=[None] * 3,
                           outputs={"logits": TensorLoc(View(20, (2, 3), (8, 1)))},
                           expected={"logits": np.zeros((2, 3), dtype=np.int64)})


def test_readback_spans_cover_tensors_and_counters():
    # logits at elements 20..22 and 28..30 (words 5, 7), counters 48..50 (word 12)
    assert readback_spans(_program()) == [(5, 1), (7, 1), (12, 1)]


def test_ident_mismatch_is_refused_before_any_write():
    prog = _program()
    t = Scripted([b"VB" + struct.pack("<HI", 128, 4096)])
    with pytest.raises(BoardError, match="the board's memory words are 128 bytes; the "
                       "program's are 16 \\(4 lanes\\)"):
        run_on_board(prog, t)
    assert t.sent == [b"I"]
    t = Scripted([b"VB" + struct.pack("<HI", 16, 20)])
    with pytest.raises(BoardError, match="the board's memory has 20 words; the program "
                       "needs 26"):
        run_on_board(prog, t)


def test_not_a_board_and_a_missing_ack():
    with pytest.raises(BoardError, match="not a vitsim board top"):
        HostLink(Scripted([b"hello wo"])).ident()
    link = HostLink(Scripted([b"?"]))
    with pytest.raises(BoardError, match="answered b'\\?' to W, not b'K'"):
        link.write_words(0, np.zeros((1, 4), dtype=np.uint32))


def test_write_commands_carry_addresses_counts_and_little_endian_words():
    link = HostLink(Scripted([b"K", b"K"]))
    words = np.arange(12, dtype=np.uint32).reshape(3, 4) | np.uint32(0x80000000)
    link.write_words(5, words, chunk=2)
    first, second = link.t.sent
    assert first[:9] == b"W" + struct.pack("<II", 5, 2)
    assert first[9:] == words[:2].astype("<u4").tobytes() and len(first) == 9 + 32
    assert second[:9] == b"W" + struct.pack("<II", 7, 1)


def test_a_run_that_never_finishes_is_reported_not_compared():
    prog = _program()
    busy = struct.pack("<BI", 2, 77)
    t = Scripted([b"VB" + struct.pack("<HI", 16, 64), b"K", b"K"] + [busy] * 3)
    res = run_on_board(prog, t, max_polls=3)
    assert not res.finished and res.cycles == 77 and res.tensors == {} and not res.passed


@pytest.mark.parametrize("finished,tensors,want", [
    (True, {"a": {"equal": True}, "b": {"equal": True}}, True),
    (False, {"a": {"equal": True}}, False),  # not finished
    (True, {}, False),  # nothing compared
    (True, {"a": {"equal": True}, "b": {"equal": False}}, False),  # one tensor differs
])
def test_a_board_run_and_a_simulated_run_share_one_verdict(finished, tensors, want):
    from sim.accel_run import AccelResult
    from sim.board.host import BoardResult
    from sim.verdict import RunVerdict

    board = BoardResult(finished=finished, cycles=1, op_cycles=[], tensors=tensors)
    sim = AccelResult(sim="verilator", finished=finished, cycles=1, op_cycles=[],
                      tensors=tensors)
    assert board.passed is sim.passed is want
    assert BoardResult.passed is AccelResult.passed is RunVerdict.passed  # one definition


def test_the_board_host_loads_no_simulation_for_its_verdict():
    import subprocess
    import sys

    code = ("import sys, sim.board.host; "
            "print(sorted(m for m in ('sim.accel_run', 'cocotb', 'amaranth', 'torch') "
            "if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert out.strip() == "[]"
