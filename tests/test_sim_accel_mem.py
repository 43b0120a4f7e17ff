"""The accelerator's external memory model (sim/accel_mem.py) on the whole accelerator: a
GSB digits package bit-exact with latency and random wait states, the model's byte counters
against the program's transfers, and the run length against the analytic count."""

from __future__ import annotations

import pytest
from netpkgs import BIG_RTL, check_accel_run, untrained_package

from golden.accel_program import desc_words
from golden.errors import VitsimError
from sim.accel_mem import MAX_LATENCY, MemModel
from sim.analytic.accel_cycles import program_cycles, run_cycles
from sim.compiler import compile_network


@pytest.fixture(scope="module")
def small_package(tmp_path_factory):
    """One encoder block plus patch embedding and heads, 1 image."""
    return untrained_package(tmp_path_factory.mktemp("accel-mem"), images=1, depth=1)


def test_settings_are_checked_and_become_plusargs():
    assert MemModel().plusargs(128) == ["+mem_latency=1", "+mem_bw=128", "+mem_stall=0",
                                        "+mem_seed=1"]
    m = MemModel(latency=20, bw=16, stall=0.3, seed=9)
    assert m.threshold == 19661 and not m.full_rate(128) and MemModel(bw=200).full_rate(128)
    assert m.plusargs(128) == ["+mem_latency=20", "+mem_bw=16", "+mem_stall=19661",
                               "+mem_seed=9"]
    assert MemModel(bw=500).plusargs(128)[1] == "+mem_bw=128"  # a word a cycle at most
    for kw, flag in (({"latency": 0}, "--mem-latency"), ({"latency": MAX_LATENCY + 1},
                     "--mem-latency"), ({"latency": 1.5}, "--mem-latency"),
                     ({"bw": 0}, "--mem-bw"), ({"stall": 1.0}, "--mem-stall"),
                     ({"stall": float("nan")}, "--mem-stall"), ({"seed": 2**31}, "--mem-seed"),
                     ({"seed": True}, "--mem-seed")):
        with pytest.raises(VitsimError, match=f"^{flag} must be"):
            MemModel(**kw)


def test_dma_counts_grow_by_the_latency_twice(small_package):
    prog = compile_network(small_package, image=0)
    dw = desc_words(prog.cfg)
    one, late = (program_cycles(prog.descs, prog.cfg, latency=lat) for lat in (1, 20))
    for d, a, b in zip(prog.descs, one, late, strict=True):
        if d.unit in ("dma_in", "dma_out"):  # fetch + DISPATCH + n + L + 1
            assert (a, b) == (dw + 4 + d.rn[3], dw + 42 + d.rn[3])
        else:
            assert b - a == 19  # the fetch waits the latency once
    assert run_cycles(prog.descs, prog.cfg, latency=20) - run_cycles(prog.descs, prog.cfg) \
        == sum(b - a for a, b in zip(one, late, strict=True)) + 19
    with pytest.raises(ValueError, match="^latency must be an integer of at least 1, not 0$"):
        program_cycles(prog.descs, prog.cfg, latency=0)


def _transfers(prog) -> tuple[int, int]:
    """Bytes the program moves: read (the header word, every descriptor, the dma_in
    words) and written (the dma_out words)."""
    word = prog.cfg.word_bits // 8
    rd = 1 + len(prog.descs) * desc_words(prog.cfg)
    rd += sum(d.rn[3] for d in prog.descs if d.unit == "dma_in")
    return rd * word, word * sum(d.rn[3] for d in prog.descs if d.unit == "dma_out")


@pytest.mark.sim
@pytest.mark.slow
@pytest.mark.parametrize("simulator", ["verilator"], indirect=True)
def test_bit_exact_with_latency_and_wait_states_and_counted_exactly(simulator, small_package,
                                                                   tmp_path):
    """Latency 1 without wait states (with VITSIM_BIG_RTL=1; in CI the latency-1 counters
    are checked by test_analytic_accel and the reuse run): every counter and the run length
    equal the analytic model. Latency 20 and 30 % wait states on both channels: still
    bit-exact, the run is the stall-free count plus the counted wait states, the bytes those
    of the program; the C++ harness runs the same model to the same cycle and counters."""
    from sim.accel_run import run_program

    prog = compile_network(small_package, image=0)
    want_rd, want_wr = _transfers(prog)
    if BIG_RTL:
        plain = run_program(prog, tmp_path / "plain", sim=simulator)
        check_accel_run(prog, plain)
        assert plain.op_cycles[:-1] == program_cycles(prog.descs, prog.cfg)[:-1]
        assert plain.cycles == run_cycles(prog.descs, prog.cfg)
        assert (plain.stalls_read, plain.stalls_written) == (0, 0)
        assert (plain.bytes_read, plain.bytes_written) == (want_rd, want_wr)

    mem = MemModel(latency=20, stall=0.3, seed=5)
    slow = run_program(prog, tmp_path / "slow", sim=simulator, mem=mem)
    check_accel_run(prog, slow)
    assert slow.stalls_read > 100 and slow.stalls_written > 100
    assert slow.cycles == (run_cycles(prog.descs, prog.cfg, latency=20) + slow.stalls_read
                           + slow.stalls_written)
    assert (slow.bytes_read, slow.bytes_written) == (want_rd, want_wr)
    print(f"{len(prog.descs)} descriptors: {run_cycles(prog.descs, prog.cfg)} cycles at "
          f"latency 1, {slow.cycles} at latency 20 with {slow.stalls_read} + "
          f"{slow.stalls_written} wait states")

    cxx = run_program(prog, tmp_path / "cxx", sim=simulator, harness=True, mem=mem)
    check_accel_run(prog, cxx)
    assert (cxx.cycles, cxx.op_cycles, cxx.bytes_read, cxx.bytes_written, cxx.stalls_read,
            cxx.stalls_written) == (slow.cycles, slow.op_cycles, slow.bytes_read,
                                    slow.bytes_written, slow.stalls_read, slow.stalls_written)


@pytest.mark.sim
@pytest.mark.slow
@pytest.mark.parametrize("simulator", ["verilator"], indirect=True)
def test_a_narrow_port_is_bit_exact_and_slower(simulator, small_package, tmp_path):
    """A port of an eighth of a word a cycle: the same tensors, more cycles (the analytic
    model prices a full-rate port only)."""
    from sim.accel_run import run_program

    prog = compile_network(small_package, image=0)
    word = prog.cfg.word_bits // 8
    res = run_program(prog, tmp_path / "narrow", sim=simulator,
                      mem=MemModel(bw=word // 8, stall=0.1, seed=3))
    check_accel_run(prog, res)
    assert (res.bytes_read, res.bytes_written) == _transfers(prog)
    assert res.cycles > run_cycles(prog.descs, prog.cfg) + 6 * sum(_transfers(prog)) // word
