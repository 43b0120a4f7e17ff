"""On-chip buffers sized by a budget (``--onchip-kib``): weights streamed from external memory.

Fast tests check the streamed program's layout against what it must be (every op's
parameters loaded by a ``dma_in`` just before it into one reused weight region, every
external data word loaded once, the scratchpad depth the budget), the exact external
bytes of :mod:`sim.analytic.accel_traffic`, and the refusal of a budget one word too
small. The simulated runs compile a digits GSB package (and a Q-ViT one) for a budget,
run it on Verilator and compare every tensor intact at the end and the logits (``==``),
and every descriptor's cycle counter with the analytic count.
"""

import json

import numpy as np
import pytest
from netpkgs import BIG_RTL, check_accel_run, untrained_package

from golden.accel_program import OpDesc
from sim.analytic.accel_cycles import program_cycles, run_cycles
from sim.analytic.accel_traffic import desc_bytes, frame_traffic, op_traffic
from sim.cli import main
from sim.compiler import CompileError, compile_network

KIB = 64


@pytest.fixture(scope="module")
def demo_package(tmp_path_factory):
    """The digits demo architecture (4 GSB blocks), untrained, one image."""
    return untrained_package(tmp_path_factory.mktemp("stream-d4"), images=1)


@pytest.fixture(scope="module")
def streamed(demo_package):
    return compile_network(demo_package, image=0, onchip_kib=KIB)


# ------------------------------------------------------------------------ fast tests


def test_the_scratchpad_is_the_budget_and_weights_come_in_before_each_op(demo_package,
                                                                         streamed):
    prog, plain = streamed, compile_network(demo_package, image=0)
    L = prog.cfg.lanes
    assert prog.cfg.depth * L * 4 == KIB * 1024
    assert prog.used <= prog.cfg.depth * L < plain.used
    assert prog.names[-1] == "dma_out" and "dma_in" not in prog.names
    # the compute descriptors are the plain program's, in order, only their addresses moved
    compute = [(n, d.unit, d.rn, d.wn) for n, d in zip(prog.names, prog.descs, strict=True)
               if not d.unit.startswith("dma")]
    assert compute == [(n, d.unit, d.rn, d.wn) for n, d in zip(plain.names, plain.descs,
                                                               strict=True)
                       if not d.unit.startswith("dma")]
    weight_loads = 0
    for i, (name, d) in enumerate(zip(prog.names, prog.descs, strict=True)):
        if d.unit != "dma_in":
            continue
        # a load carries the name of the op it is for, which runs right after it
        nxt = next(j for j in range(i + 1, len(prog.descs)) if prog.descs[j].unit != "dma_in")
        assert prog.names[nxt] == name
        assert d.wbase % L == 0
        if d.wbase == 0:  # the weight region
            weight_loads += 1
            assert d.rn[3] * L <= prog.preload
        else:  # the image or token rows: an activation region
            assert prog.preload <= d.wbase and d.wbase + d.rn[3] * L <= prog.used
    assert weight_loads > 0
    # what the plain program preloads at once (parameters, image, token rows) comes in
    # piece by piece, each word once
    assert sum(d.rn[3] for d in prog.descs if d.unit == "dma_in") * L == plain.preload
    # every operand and written address lies inside the used scratchpad
    for d in prog.descs[:-1]:
        assert all(0 <= o.base < prog.used for o in d.ops)
        assert 0 <= d.wbase < prog.used


def test_external_bytes_are_exact_to_the_dma_descriptors(streamed):
    prog = streamed
    L, word = prog.cfg.lanes, prog.cfg.lanes * 4
    frame = frame_traffic(prog.names, prog.descs, prog.cfg)
    # every data word the compiler laid out after the descriptors is loaded exactly once
    first_data = min(d.k[0] for d in prog.descs if d.unit == "dma_in")
    assert frame["read_bytes"] == (prog.dump_word - first_data) * word
    spans = sorted((d.k[0], d.k[0] + d.rn[3]) for d in prog.descs if d.unit == "dma_in")
    assert all(a[1] == b[0] for a, b in zip(spans[:-1], spans[1:], strict=True))
    assert spans[-1][1] == prog.dump_word
    assert frame["written_bytes"] == prog.used * 4  # the final dump of the used scratchpad
    assert frame["fetch_bytes"] == (1 + len(prog.descs) * _dwords(prog)) * word
    assert frame["cycles"] == sum(program_cycles(prog.descs, prog.cfg))
    rows = op_traffic(prog.names, prog.descs, prog.cfg)
    assert [r["op"] for r in rows] == list(dict.fromkeys(prog.names))
    assert sum(r["read_bytes"] for r in rows) == frame["read_bytes"]
    fc1 = next(r for r in rows if r["op"] == "blocks.0.mlp.fc1.out")
    loads = [d for n, d in zip(prog.names, prog.descs, strict=True)
             if n == "blocks.0.mlp.fc1.out" and d.unit == "dma_in"]
    assert fc1["read_bytes"] == sum(d.rn[3] for d in loads) * L * 4 > 0
    assert desc_bytes(OpDesc(unit="dma_in", rn=(1, 1, 1, 5)), prog.cfg) == (5 * word, 0)
    assert desc_bytes(OpDesc(unit="dma_out", rn=(1, 1, 1, 3)), prog.cfg) == (0, 3 * word)
    assert desc_bytes(OpDesc(unit="requant", rn=(1, 1, 1, 9)), prog.cfg) == (0, 0)


@pytest.fixture(scope="module")
def qvit_streamed(tmp_path_factory):
    """A one-block Q-ViT digits package compiled for the budget."""
    pkg = untrained_package(tmp_path_factory.mktemp("stream-qvit"), model="qvit_vit_digits",
                            depth=1)
    return compile_network(pkg, image=0, onchip_kib=KIB)


def test_a_qvit_program_streams_with_bytes_but_no_cycle_model(qvit_streamed):
    prog = qvit_streamed
    assert prog.cfg.depth * prog.cfg.lanes * 4 == KIB * 1024
    frame = frame_traffic(prog.names, prog.descs, prog.cfg)
    first_data = min(d.k[0] for d in prog.descs if d.unit == "dma_in")
    assert frame["read_bytes"] == (prog.dump_word - first_data) * prog.cfg.lanes * 4
    assert frame["cycles"] is None
    assert all(r["cycles"] is None for r in op_traffic(prog.names, prog.descs, prog.cfg))


def _dwords(prog):
    from golden.accel_program import desc_words

    return desc_words(prog.cfg)


def test_the_smallest_budget_runs_and_one_word_less_names_the_op(demo_package, streamed):
    word_kib = streamed.cfg.lanes * 4 / 1024
    smallest = streamed.used * 4 / 1024
    prog = compile_network(demo_package, image=0, onchip_kib=smallest)
    assert prog.used == streamed.used and prog.cfg.depth * prog.cfg.lanes == prog.used
    with pytest.raises(CompileError) as err:
        compile_network(demo_package, image=0, onchip_kib=smallest - word_kib)
    msg = str(err.value)
    assert msg.startswith("op '") and f"needs {smallest:.2f} KiB on chip" in msg
    assert f"the budget --onchip-kib is {smallest - word_kib:g} KiB" in msg
    for bad in (0, -1.0, float("nan"), float("inf")):
        with pytest.raises(CompileError, match="--onchip-kib must be a positive number"):
            compile_network(demo_package, image=0, onchip_kib=bad)


def test_compile_and_memory_commands_report_the_streamed_figures(demo_package, streamed,
                                                                 tmp_path, capsys):
    out = tmp_path / "prog"
    assert main(["compile", str(demo_package), "--out", str(out), "--onchip-kib",
                 str(KIB)]) == 0
    record = json.loads((out / "program.json").read_text())
    mem = record["memory"]
    assert record["onchip_kib"] == KIB and record["config"]["depth"] == streamed.cfg.depth
    frame = frame_traffic(streamed.names, streamed.descs, streamed.cfg)
    assert (mem["offchip_in_bytes"], mem["offchip_out_bytes"]) == (frame["read_bytes"],
                                                                   frame["written_bytes"])
    assert np.array_equal(np.load(out / "ext_image.npy"), streamed.ext)
    capsys.readouterr()
    memory = ["memory", "--model", "vit_digits", "--scheme", "gsb", "--accel-package",
              str(demo_package), "--onchip-kib", str(KIB)]
    assert main([*memory, "--json"]) == 0
    rep = json.loads(capsys.readouterr().out)["accel_stream"]
    assert rep["frame"] == frame and rep["scratch_bytes"] == streamed.used * 4
    assert main(memory) == 0
    assert f"{frame['read_bytes']:,} bytes read" in capsys.readouterr().out


def test_double_buffering_alternates_halves_and_prefetches_under_compute(demo_package,
                                                                        streamed, double):
    """Two weight halves; each prefetched load goes to the half its op reads, after that
    half's previous user ended, carried by a compute descriptor that hides it whole at
    latency 256; everything else is the single-buffered program's."""
    from sim.compiler.budget import prefetch_ok

    prog, L = double, double.cfg.lanes
    half = streamed.preload
    assert prog.preload == 2 * half and prog.meta["prefetched"] > 0
    compute = [(n, d.unit, d.rn, d.wn) for n, d in zip(prog.names, prog.descs, strict=True)
               if not d.unit.startswith("dma")]
    assert compute == [(n, d.unit, d.rn, d.wn) for n, d in zip(streamed.names,
                                                               streamed.descs, strict=True)
                       if not d.unit.startswith("dma")]
    assert _dma_reads(prog) == _dma_reads(streamed)  # every word once, as before
    last_use = {0: -1, half: -1}  # half -> last descriptor reading it
    pending = {}  # op name -> (position of its load, half)
    for i, (name, d) in enumerate(zip(prog.names, prog.descs, strict=True)):
        if d.unit in ("dma_pre", "dma_in") and d.wbase < 2 * half:
            assert d.wbase in (0, half) and d.rn[3] * L <= half
            assert last_use[d.wbase] < i  # the half's previous user has ended
            pending[name] = d.wbase
            if d.unit == "dma_pre":
                carrier = prog.descs[i + 1]
                assert not carrier.unit.startswith("dma") and prog.names[i + 1] != name
                assert prefetch_ok(carrier, d.rn[3], prog.cfg, 256)
            continue
        if d.unit.startswith("dma"):
            continue
        reads = [o.base for o in d.ops if o.base < 2 * half]
        for base in reads:  # an op reads only the half its weights were loaded into
            h = half if base >= half else 0
            assert pending.get(name) == h
            last_use[h] = i
    single, dbl = (run_cycles(p.descs, p.cfg, latency=20) for p in (streamed, prog))
    assert dbl < single
    with pytest.raises(CompileError, match="two halves"):
        compile_network(demo_package, image=0, onchip_kib=KIB, double_buffer=True)
    with pytest.raises(CompileError, match="^double buffering needs an on-chip budget"):
        compile_network(demo_package, image=0, double_buffer=True)


def test_simulate_runs_what_compile_wrote_and_compiles_image_0_once(demo_package, double,
                                                                    tmp_path, monkeypatch,
                                                                    capsys):
    """``simulate --golden --program DIR`` runs the program ``compile`` wrote (no compile
    at all); ``--onchip-kib`` alone compiles image 0 once. The run itself is replaced by
    one that records what it was handed and stops (the RTL tests run the real one)."""
    import sim.accel_run
    import sim.compiler
    from sim.accel_cli import load_program
    from sim.cli import main as cli

    out = tmp_path / "prog"
    flags = ["--onchip-kib", str(DOUBLE_KIB), "--double-buffer"]
    assert cli(["compile", str(demo_package), "--out", str(out), *flags]) == 0
    assert "loads prefetched under compute" in capsys.readouterr().out
    from golden.netpkg import read_network

    pkg = read_network(demo_package)
    loaded = load_program(out, pkg, reuse=False, onchip_kib=DOUBLE_KIB, double_buffer=True)
    assert loaded.descs == double.descs and np.array_equal(loaded.ext, double.ext)
    with pytest.raises(Exception, match="field 'reuse_key.double_buffer' is True, not False"):
        load_program(out, pkg, reuse=False, onchip_kib=DOUBLE_KIB, double_buffer=False)

    compiled, handed = [], []
    real = sim.compiler.compile_network

    class Stop(Exception):
        pass

    def counting(*a, **kw):
        compiled.append(kw.get("image"))
        return real(*a, **kw)

    def fake_run(program, *a, **kw):
        handed.append(program)
        raise Stop

    monkeypatch.setattr(sim.compiler, "compile_network", counting)
    monkeypatch.setattr(sim.accel_run, "run_program", fake_run)
    sim_args = ["simulate", "--golden", str(demo_package), *flags,
                "--build-dir", str(tmp_path / "b")]
    with pytest.raises(Stop):
        cli([*sim_args, "--program", str(out)])
    assert compiled == [] and handed[0].descs == double.descs
    with pytest.raises(Stop):
        cli(sim_args)
    assert compiled == [0] and handed[1].descs == double.descs


# ------------------------------------------------------------------------ RTL


def _run(prog, work, *, cycles=True):
    from sim.accel_run import run_program

    res = run_program(prog, work, sim="verilator")
    check_accel_run(prog, res)
    if not cycles:
        return res
    model = program_cycles(prog.descs, prog.cfg)
    bad = [(prog.names[i], m, r) for i, (m, r) in enumerate(zip(model[:-1], res.op_cycles[:-1],
                                                                strict=True)) if m != r]
    assert not bad, f"{len(bad)} descriptors differ (name, model, rtl): {bad[:5]}"
    print(f"{len(prog.descs)} descriptors, {res.cycles} cycles, scratchpad "
          f"{prog.used * 4 / 1024:.2f} KiB of {prog.cfg.depth * prog.cfg.lanes * 4 / 1024:g}")
    return res


@pytest.mark.sim
@pytest.mark.slow
@pytest.mark.skipif(not BIG_RTL,
                    reason="benchmark: set VITSIM_BIG_RTL=1 (CI runs the double-buffered "
                    "program of the same budget, which streams the same way plus prefetches)")
def test_streamed_digits_network_is_bit_exact_with_the_analytic_cycles(demo_package, streamed,
                                                                       tmp_path, capsys):
    # one RTL run, through the command line (it compiles the same program as ``streamed``);
    # the bench's count: the header read, each descriptor's count and two cycles between
    capsys.readouterr()
    assert main(["simulate", "--golden", str(demo_package), "--onchip-kib", str(KIB),
                 "--build-dir", str(tmp_path / "cli")]) == 0
    out = capsys.readouterr().out
    want = run_cycles(streamed.descs, streamed.cfg)
    assert f"1 images, all bit-exact, {want} cycles per image" in out
    assert "logits match: yes" in out


@pytest.mark.sim
@pytest.mark.slow
def test_streamed_qvit_network_is_bit_exact(qvit_streamed, tmp_path):
    # the cycle model prices GSB programs only (Q-ViT's MAC writers scatter)
    _run(qvit_streamed, tmp_path / "run", cycles=False)


# ------------------------------------------------------------------------ double buffering

DOUBLE_KIB = 72


@pytest.fixture(scope="module")
def double(demo_package):
    return compile_network(demo_package, image=0, onchip_kib=DOUBLE_KIB, double_buffer=True)


def _dma_reads(prog) -> int:
    """Words the program's loads read (``dma_in`` and ``dma_pre``)."""
    return sum(d.rn[3] for d in prog.descs if d.unit in ("dma_in", "dma_pre"))


@pytest.mark.sim
@pytest.mark.slow
def test_double_buffered_digits_network_is_bit_exact_and_counted_exactly(double, streamed,
                                                                         tmp_path):
    """Prefetched loads under compute: bit-exact; at latency 1 and 20 with no wait states
    every counter and the run equal the analytic count; at latency 20 with 30 % wait
    states the run is that count plus the wait states the memory model counted (those
    under a prefetch's compute cost nothing and are not counted); the bytes are the
    program's; and the run is shorter than the single-buffered program's."""
    from golden.accel_program import desc_words
    from sim.accel_mem import MemModel
    from sim.accel_run import run_program

    prog = double
    assert prog.meta["prefetched"] > 0
    word = prog.cfg.word_bits // 8
    want_rd = (1 + len(prog.descs) * desc_words(prog.cfg) + _dma_reads(prog)) * word
    for latency, stall in ((1, 0.0), (20, 0.0), (20, 0.3)):
        res = run_program(prog, tmp_path / f"L{latency}-{stall}", sim="verilator",
                          mem=MemModel(latency=latency, stall=stall, seed=7))
        check_accel_run(prog, res)
        model = program_cycles(prog.descs, prog.cfg, latency=latency)
        stalls = res.stalls_read + res.stalls_written
        if stall == 0:
            assert res.op_cycles[:-1] == model[:-1] and stalls == 0
        else:
            assert res.stalls_read > 100 and res.stalls_written > 100
        assert res.cycles == run_cycles(prog.descs, prog.cfg, latency=latency) + stalls
        assert res.bytes_read == want_rd
        single = run_cycles(streamed.descs, streamed.cfg, latency=latency)
        assert run_cycles(prog.descs, prog.cfg, latency=latency) < single
        print(f"double-buffered at latency {latency}, {stall:.0%} wait states: {res.cycles} "
              f"cycles ({res.stalls_read} + {res.stalls_written} wait states), single "
              f"{single} by the exact model")
