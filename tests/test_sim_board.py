"""The ULX3S board top under cocotb, driven through its UART pins by the host driver.

The bench (:mod:`sim.benches.board_bench`) runs :func:`sim.board.host.run_on_board`, the
code ``vitsim board run`` uses on a serial port, against a UART model on the simulated
pins: it writes the program, weights and image into the block-RAM external memory,
starts the accelerator, polls until done, reads back the words of every tensor intact at
the end and the per-op counters, and compares with the golden package (``==``). CI runs
the one-block package (the smallest of tests/netpkgs.py) compiled for a 64 KiB scratchpad,
and the 4-block digits architecture on the 4-lane word (the board top that fits the 85F);
the 4-block one at 32 lanes runs with VITSIM_BIG_RTL=1.
"""


import pytest
from netpkgs import BIG_RTL, untrained_package

from sim.board.build import board_program, simulate_board
from sim.board.host import mem_words, readback_spans
from sim.compiler import compile_network

pytestmark = [pytest.mark.sim, pytest.mark.slow]


def _check(prog, rec):
    assert rec["error"] is None, rec["error"]
    assert rec["finished"], f"the board did not finish; log: {rec['log']}"
    assert set(rec["tensors"]) == set(prog.expected) and "logits" in rec["tensors"]
    bad = [(n, t["first"]) for n, t in rec["tensors"].items() if not t["equal"]]
    assert not bad, f"{len(bad)} tensors differ; first: {bad[0]}"
    assert rec["passed"]
    # the counters came back through the UART too: every op but the final dump counted
    assert len(rec["op_cycles"]) == len(prog.descs)
    assert all(c > 0 for c in rec["op_cycles"][:-1])
    assert sum(rec["op_cycles"]) <= rec["cycles"]
    # every byte of the image went out, and only the read-back spans came back (plus the
    # fixed answers: ident 8, one ack per write command and per start, 5 per poll)
    words = sum(n for _, n in readback_spans(prog))
    assert rec["bytes_received"] >= words * prog.cfg.lanes * 4 + 8
    assert rec["bytes_sent"] >= prog.dump_word * prog.cfg.lanes * 4


def test_board_top_over_uart_bit_exact(tmp_path_factory):
    pkg = untrained_package(tmp_path_factory.mktemp("board-d1"), images=1, depth=1)
    prog = compile_network(pkg, image=0, onchip_kib=64)
    assert mem_words(prog) <= prog.cfg.ext_words
    rec = simulate_board(prog, tmp_path_factory.mktemp("board-run"), divisor=4)
    print(f"{rec['bytes_sent']} B sent, {rec['bytes_received']} B received, "
          f"{rec['cycles']} cycles start to done, {rec['sim_cycles']} simulated, "
          f"build {rec['build_s']:.1f} s, run {rec['run_s']:.1f} s")
    _check(prog, rec)


@pytest.mark.parametrize("lanes", [
    pytest.param(32, marks=pytest.mark.skipif(
        not BIG_RTL, reason="benchmark: set VITSIM_BIG_RTL=1 (the 4-block digits image "
        "through the UART at 32 lanes)")),
    4])
def test_board_top_digits_image(lanes, tmp_path_factory):
    """The 4-block digits image; at 4 lanes (CI: about 90 s), the program and board top of
    ``vitsim board build|simulate --onchip-kib 64 --lanes 4``, the board top that places
    on the 85F and gets a bitstream."""
    pkg = untrained_package(tmp_path_factory.mktemp("board-d4"), images=1)
    prog = board_program(pkg, onchip_kib=64, lanes=lanes)
    assert prog.cfg.lanes == lanes
    rec = simulate_board(prog, tmp_path_factory.mktemp("board-run4"), divisor=4)
    print(f"{lanes} lanes: {rec['bytes_sent']} B sent, {rec['bytes_received']} B received, "
          f"{rec['cycles']} cycles start to done, build {rec['build_s']:.1f} s, "
          f"run {rec['run_s']:.1f} s")
    _check(prog, rec)
