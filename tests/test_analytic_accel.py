"""Accelerator-exact cycles of the analytic model (:mod:`sim.analytic.accel_cycles`).

Fast tests: :func:`desc_cycles` on small descriptors checked by hand against the RTL's
timing rules, and the shape-only per-op cycles against the compiled program's
descriptors for several architectures. The ``sim`` test runs the demo architecture on the
accelerator RTL and compares every counter with the model (``==``).
"""

import dataclasses

import pytest
from accel_checks import compiled_by_op, model_of, shapes_model_matches
from netpkgs import untrained_package

from golden.accel_program import AccelTopCfg, OpDesc, desc_words
from golden.accel_spec import AnalyticAccelCfg
from golden.cases_layernorm import LayerNormCfg
from golden.netpkg import NetworkData, read_network
from golden.spec import ConfigError, MacArrayCfg, RequantCfg
from sim.analytic import analyze, scheme_preset
from sim.analytic.accel_cycles import PIPELINED, desc_cycles, layer_cycles
from sim.cli import main
from sim.compiler import compile_network
from sim.compiler.sizing import accel_config_for, binary_cfg

TOP = AccelTopCfg(lanes=8, units={
    "requant": RequantCfg(lanes=8, acc_bits=24, out_bits=8),
    "mac": MacArrayCfg(rows=4, cols=4, digit_bits=2, max_k=64),
    "layernorm": LayerNormCfg(dim=16),
})
HEAD = desc_words(TOP) + 4  # FETCH (desc_words + 1), DISPATCH, COUNT-to-RUN handover


# ------------------------------------------------------------------------ desc_cycles


def test_dma_one_word_a_cycle():
    for unit in ("dma_in", "dma_out"):
        assert desc_cycles(OpDesc(unit=unit, rn=(1, 1, 1, 10)), TOP) == HEAD + 10
        assert desc_cycles(OpDesc(unit=unit, rn=(1, 1, 1, 11)), TOP) == HEAD + 11


def test_pipelined_unit():
    lat = TOP.units["requant"].latency
    for beats, bc in ((1, 1), (6, 1), (6, 3)):
        d = OpDesc(unit="requant", rn=(1, 1, 2, beats // 2) if beats > 1 else (1, 1, 1, 1),
                   beat_cycles=bc, wn=(1, 1, 1, beats), wc=8, wvec=True)
        # beat 0 on the unit's input bc + 2 cycles into RUN, then one beat every bc
        assert desc_cycles(d, TOP) == HEAD + (bc + 2) + (beats - 1) * bc + lat
    assert "requant" in PIPELINED


def test_mac_holds_each_beat_for_its_passes():
    mac = TOP.units["mac"]
    for (wb, ab), bc in (((8, 8), 1), ((2, 2), 1), ((2, 2), 3), ((4, 4), 2)):
        p = mac.passes(w_bits=wb, a_bits=ab)
        d = OpDesc(unit="mac", rn=(1, 1, 3, 4), last_level=3, beat_cycles=bc,
                   wn=(1, 1, 1, 3), wc=4, wvec=True, k=(wb, ab, 1, 1))
        period = max(p, bc)
        assert desc_cycles(d, TOP) == HEAD + (bc + 2) + 11 * period + p + mac.latency - 1


def test_layernorm_rows_overlap():
    ln = TOP.units["layernorm"]  # 16 beats a row; STATS (51 cycles a row) the slowest engine
    assert (ln.beats, ln.stats_cycles, ln.root_cycles, ln.compute_cycles) == (16, 51, 48, 99)
    for rows in (1, 3):
        d = OpDesc(unit="layernorm", rn=(1, 1, rows, 16), wn=(1, 1, rows, 16), wc=1,
                   wvec=True)
        # c0 = 1 + 2; the last row's last beat, its compute, 16 reads and 4 stages; each
        # row before it 51 cycles
        assert desc_cycles(d, TOP) == HEAD + 3 + 2 * 16 + 99 + 4 + (rows - 1) * 51 - 1
    for bc in (3, 4):  # LOAD takes 16 * bc cycles a row: under STATS's 51 at 3, over at 4
        d = OpDesc(unit="layernorm", rn=(1, 1, 3, 16), beat_cycles=bc, wn=(1, 1, 3, 16),
                   wc=1, wvec=True)
        assert desc_cycles(d, TOP) == (HEAD + bc + 2 + 15 * bc + 99 + 16 + 4
                                       + 2 * max(16 * bc, 51))
    with pytest.raises(ValueError, match="whole rows"):
        desc_cycles(OpDesc(unit="layernorm", rn=(1, 1, 1, 15), wn=(1, 1, 1, 15), wc=1,
                           wvec=True), TOP)
    # four lanes: a row is 4 beats, and its cycles shrink with them
    top4 = dataclasses.replace(TOP, units={**TOP.units, "layernorm": LayerNormCfg(dim=16,
                                                                                lanes=4)})
    ln4 = top4.units["layernorm"]
    assert ln4.cycles(rows=1) == ln.cycles(rows=1) - 2 * 12 and ln4.row_cycles == 51
    for rows in (1, 3):
        d = OpDesc(unit="layernorm", rn=(1, 1, rows, 4), wn=(1, 1, rows, 4), wc=4, wvec=True)
        assert desc_cycles(d, top4) == HEAD + 3 + 2 * 4 + 99 + 4 + (rows - 1) * 51 - 1


def test_refused_descriptors():
    with pytest.raises(ValueError, match="scattered"):
        desc_cycles(OpDesc(unit="requant", rn=(1, 1, 1, 2), wn=(1, 1, 1, 2), wc=8), TOP)
    with pytest.raises(ValueError, match="no gelu"):
        desc_cycles(OpDesc(unit="gelu", rn=(1, 1, 1, 2), wn=(1, 1, 1, 2), wc=8,
                           wvec=True), TOP)


# ------------------------------------------------------------------------ shapes only


ARCHS = {"d1": {"depth": 1}, "d4": {"images": 3},
         "e128h2": {"depth": 1, "embed_dim": 128, "num_heads": 2},
         "e128h4": {"depth": 1, "embed_dim": 128, "num_heads": 4}}


@pytest.fixture(scope="module")
def packages(tmp_path_factory):
    return {k: untrained_package(tmp_path_factory.mktemp(k), **kw) for k, kw in ARCHS.items()}


@pytest.mark.parametrize("arch", list(ARCHS))
def test_shapes_only_equal_the_compiled_program(packages, arch):
    shapes_model_matches(packages[arch])


@pytest.mark.parametrize("arch", ["d1", "e128h2"])
def test_shapes_only_model_follows_8_row_binary_arrays(packages, arch):
    """At 8 rows (sizing.binary_cfg; the default is up to MAX_ROWS = 32, which the RTL test
    below runs) a key tile of 8 rows fits one scratchpad word: one vector read a beat, in
    the model as compiled."""
    pkg = packages[arch]
    cfg = binary_cfg(accel_config_for(NetworkData(read_network(pkg))), 8)
    prog, _, _ = shapes_model_matches(pkg, cfg)
    qk = prog.descs[prog.names.index("blocks.0.attn.qk")]
    assert qk.beat_cycles == 1 and qk.ops[1].n_in == 1


def test_analyze_reports_accel_layers(packages):
    pkg = packages["d4"]
    prog = compile_network(pkg, image=0)
    vit, gsb = model_of(pkg)
    s = scheme_preset("gsb", vit, groups=gsb.groups, embed_bits=gsb.embed_bits)
    report = analyze(vit, s, AnalyticAccelCfg(), prog.cfg)
    rows = {r["name"]: r["cycles"] for r in report["accel_layers"]}
    assert rows == compiled_by_op(prog)
    assert report["totals"]["accel_cycles"] == sum(rows.values())
    assert "accel_layers" not in analyze(vit, s, AnalyticAccelCfg())
    with pytest.raises(ConfigError, match="GSB"):
        analyze(vit, scheme_preset("int8", vit), AnalyticAccelCfg(), prog.cfg)
    small = dataclasses.replace(vit, embed_dim=96, num_heads=2)
    with pytest.raises(ConfigError, match="layernorm dim"):
        analyze(small, s, AnalyticAccelCfg(), prog.cfg)


def test_memory_cli_prints_accel_ops(packages, capsys):
    pkg = packages["d4"]
    assert main(["memory", "--model", "vit_digits", "--scheme", "gsb", "--accel-package",
                 str(pkg)]) == 0
    text = capsys.readouterr().out
    prog = compile_network(pkg, image=0)
    total = sum(compiled_by_op(prog).values())
    assert f"{total:,} cycles" in text
    assert "blocks.3.attn.av" in text


# ------------------------------------------------------------------------ RTL


@pytest.mark.sim
@pytest.mark.parametrize("arch", ["d4", "e128h2"])
def test_model_equals_rtl_counters(packages, tmp_path, arch):
    """Every descriptor's counter (but the final dma_out's, which the dump cannot hold)
    and every op's summed counters equal the model: on the demo architecture, and with
    64-bit key rows (two array chunks: the keys are laid out chunk-major)."""
    from sim.accel_run import run_program

    pkg = packages[arch]
    prog = compile_network(pkg, image=0)
    res = run_program(prog, tmp_path, sim="verilator")
    assert res.finished, res.log
    assert res.passed, [n for n, t in res.tensors.items() if not t["equal"]][:5]
    if arch == "e128h2":  # a 32-row key tile of 32 x 2 packed elements spans two words:
        # two whole-word reads a beat (the keys' rows padded to the array's: key_layout)
        qk = prog.descs[prog.names.index("blocks.0.attn.qk")]
        assert qk.beat_cycles == qk.ops[1].n_out == 2 and qk.ops[1].n_in == 1
    assert len(res.op_cycles) == len(prog.descs) and prog.names[-1] == "dma_out"
    model = [desc_cycles(d, prog.cfg) for d in prog.descs[:-1]]
    bad = [(prog.names[i], m, r) for i, (m, r) in enumerate(zip(model, res.op_cycles[:-1],
                                                                strict=True)) if m != r]
    assert not bad, f"{len(bad)} descriptors differ (name, model, rtl): {bad[:5]}"
    rtl: dict = {}
    for name, c in zip(prog.names[1:-1], res.op_cycles[1:-1], strict=True):
        rtl[name] = rtl.get(name, 0) + c
    vit, gsb = model_of(pkg)
    assert layer_cycles(vit, prog.cfg, groups=gsb.groups, embed_bits=gsb.embed_bits) == rtl
