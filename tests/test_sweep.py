"""``vitsim sweep``: points on a 2-worker dask LocalCluster, a worker killed mid-point, every
point stored once, a rerun that computes nothing, and the RTL points bit-exact with the
cycles the accelerator-exact model predicts."""

import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from netpkgs import untrained_package

from models.checkpoint import save_checkpoint
from models.registry import create_model
from sim.analytic.sweep import run_grid
from sim.cli import main
from sim.sweep.points import FAULT_ENV, point_key
from sim.sweep.results import pareto_front
from sim.sweep.spec import load_spec, points

MODELS = ["deit_tiny_patch16_224", "vit_digits"]
SCHEMES = ["gsb", "int8", "qvit4"]
SPEC = """
stages = ["analytic", "rtl"]
clock_mhz = 125.0
[axes]
checkpoints = ["fp"]
packages = ["net"]
models = {models}
schemes = {schemes}
mem_latency = [1, 2]
[axes.fields]
"memory.act_kib" = [64, 256]
"mac.cols" = [32, 64]
"""


@pytest.fixture(scope="module")
def spec_file(tmp_path_factory):
    root = tmp_path_factory.mktemp("sweep")
    untrained_package(root, images=1, depth=1)  # root/net, as test_sim_accel's small one
    save_checkpoint(str(root / "fp"), create_model("fp_vit_digits", depth=1),
                    extra={"data": "digits", "metrics": {"test_top1": 0.5}})
    path = root / "sweep.toml"
    path.write_text(SPEC.format(models=json.dumps(MODELS), schemes=json.dumps(SCHEMES)))
    return path


def _log(out: Path) -> list[str]:
    return (out / "points.log").read_text().splitlines()


def test_the_spec_expands_to_every_point_once(spec_file):
    spec = load_spec(spec_file)
    pts = points(spec)
    assert len(pts) == 4 * (1 + len(MODELS) * len(SCHEMES)) + 2
    assert len({point_key(p) for p in pts}) == len(pts)
    assert [p["mem_latency"] for p in pts if p["kind"] == "package"] == [1, 2]


@pytest.mark.sim
@pytest.mark.slow
def test_sweep_survives_a_killed_worker_and_a_rerun_computes_nothing(spec_file, tmp_path,
                                                                     monkeypatch, capsys):
    marker = tmp_path / "killed"
    monkeypatch.setenv(FAULT_ENV, str(marker))  # the workers inherit it
    out = tmp_path / "out"
    assert main(["sweep", str(spec_file), "--out", str(out), "--workers", "2",
                 "--no-progress"]) == 0
    assert marker.exists(), "no worker was killed"
    pts = points(load_spec(spec_file))
    keys = {point_key(p) for p in pts}
    assert len(pts) >= 22
    log = _log(out)
    done = [line.split()[1] for line in log if line.startswith("done ")]
    assert sorted(done) == sorted(keys)  # every point finished exactly once
    starts = [line.split()[1] for line in log if line.startswith("start ")]
    assert len(starts) == len(keys) + 1  # the killed point started twice
    assert {p.stem for p in (out / "points").glob("*.json")} == keys
    assert not list((out / "points").glob(".*"))  # no temporary file left behind

    table = pq.read_table(out / "results.parquet").to_pylist()
    assert len(table) == len(pts)
    csv_rows = (out / "results.csv").read_text().splitlines()
    assert len(csv_rows) == len(pts) + 1
    assert (out / "pareto.png").stat().st_size > 0

    # the model points are the analytic grid's
    grid = run_grid([("model", MODELS), ("scheme", SCHEMES), ("memory.act_kib", [64, 256]),
                     ("mac.cols", [32, 64])], model="vit_digits", scheme="gsb")
    by = {(r["model"], r["scheme"], r["memory.act_kib"], r["mac.cols"]): r for r in table
          if r["kind"] == "model"}
    assert len(by) == len(grid)
    for g in grid:
        r = by[(g["model"], g["scheme"], g["memory.act_kib"], g["mac.cols"])]
        assert (r["cycles"], r["weight_bytes"]) == (g["cycles"], g["weight_bytes"])
        assert r["dram_mb_frame"] == g["offchip_bytes"] / 1e6
        assert r["frames_s"] == 125e6 / g["cycles"]

    # the RTL points: bit-exact, and the accelerator-exact model counts their cycles
    rtl = [r for r in table if r["kind"] == "package"]
    assert [r["mem_latency"] for r in rtl] == [1, 2]
    for r in rtl:
        assert r["rtl_exact"] is True
        assert r["rtl_cycles"] == r["cycles"], r
    assert rtl[1]["cycles"] > rtl[0]["cycles"]

    # a rerun finds every point stored: nothing computed, nothing logged
    capsys.readouterr()
    monkeypatch.delenv(FAULT_ENV)
    before = {p: p.stat().st_mtime_ns for p in (out / "points").iterdir()}
    assert main(["sweep", str(spec_file), "--out", str(out), "--no-progress"]) == 0
    assert f"({0} computed, {len(pts)} stored before)" in capsys.readouterr().out
    assert _log(out) == log
    assert {p: p.stat().st_mtime_ns for p in (out / "points").iterdir()} == before


def test_pareto_front_keeps_only_undominated_points():
    pts = [(10, 0.5), (20, 0.7), (15, 0.4), (30, 0.7), (40, 0.9)]
    assert pareto_front(pts, larger_better=False) == [(10, 0.5), (20, 0.7), (40, 0.9)]
    assert pareto_front(pts, larger_better=True) == [(40, 0.9)]
