"""Every unit's RTL fed from trained models: the ops of a GSB and a Q-ViT network, cut.

One-block digits models (GSB and Q-ViT, trained briefly, one image exported) are cut op by
op into unit cases (:func:`golden.cut.cut_network`: every op of the block and of the
classifier heads that a unit computes), and each case's cocotb bench runs on Verilator and
on Icarus. Every case must be bit-exact, and with no gaps the measured cycles must equal
the config's cycle model (recorded in the case at cut time, read from the config, never
restated here). To keep CI time modest each bench runs its ``speed`` test (no gaps) and
its idle-and-backpressure test only; one case also goes through ``vitsim simulate``
(all five bench tests).
"""

import pytest
from test_golden_cut import network_package

from golden.cut import cut_network
from golden.package import read_package
from golden.units import case_config
from hw.export import export_verilog
from sim.cli import main
from sim.runner import run_bench
from sim.units import unit_for

pytestmark = pytest.mark.sim
TESTS = "speed|idle=True/backpressure=True"  # cocotb test filter: no gaps, both gaps


@pytest.fixture(scope="module", params=["gsb", "qvit"])
def cut_cases(request, tmp_path_factory):
    pkg = network_package(request.param, tmp_path_factory)
    cases = cut_network(pkg, tmp_path_factory.mktemp(f"cut_{request.param}"))
    return request.param, cases


def test_every_cut_op_is_bit_exact_on_the_rtl(cut_cases, simulator, tmp_path):
    scheme, cases = cut_cases
    failures, kinds = [], set()
    for name, path in cases:
        case = read_package(path)
        cfg, op = case_config(case), case.manifest["ops"][0]
        kinds.add(cfg.kind)
        unit = unit_for(cfg.kind)
        work = tmp_path / path.name
        vdir = export_verilog(unit.build(cfg), work / "v", name=unit.top)
        result = run_bench(verilog_dir=vdir, top=unit.top, bench=unit.bench, case_dir=path,
                           build_dir=work / simulator, sim=simulator, test_filter=TESTS)
        by_name = {r["name"]: r for r in result.records}
        speed = by_name.get("speed", {})
        if not result.passed or set(by_name) != {"speed", "check-idle1-bp1"}:
            bad = [r.get("mismatch") for r in result.records if not r.get("passed")]
            failures.append(f"{name} ({cfg.kind} {cfg}): {result.summary()} {bad}")
        elif not speed["cycles"] == speed["model_cycles"] == op["cycles"]:
            failures.append(f"{name} ({cfg.kind} {cfg}): {speed['cycles']} cycles measured, "
                            f"{op['cycles']} by the model")
    assert not failures, f"{scheme} on {simulator}:\n" + "\n".join(failures)
    assert len(cases) >= 25 and "requant" in kinds and "layernorm" in kinds


def test_a_cut_case_through_vitsim_simulate(cut_cases, simulator, tmp_path, capsys):
    _, cases = cut_cases
    name, path = next((n, p) for n, p in cases if n == "blocks.0.res1")
    status = main(["simulate", "--case", str(path), "--sim", simulator, "--build-dir",
                   str(tmp_path / "b")])
    out = capsys.readouterr().out
    assert status == 0, out
    assert f"{simulator}: PASS (5/5 bench tests bit-exact)" in out
