"""``vitsim memory``: JSON report, table, sweeps as CSV, plots, checkpoints, clear errors."""

import csv
import io
import json

import pytest

from sim.cli import main


def run(capsys, *argv):
    status = main(["memory", *argv])
    out = capsys.readouterr()
    return status, out.out, out.err


def test_json_report_has_layers_and_totals(capsys):
    status, out, _ = run(capsys, "--model", "vit_digits", "--scheme", "gsb", "--json")
    assert status == 0
    report = json.loads(out)
    keys = {"name", "weight_bits", "weight_bytes", "act_bytes", "offchip_bytes", "cycles"}
    assert all(keys <= set(r) for r in report["layers"])
    assert keys - {"name"} <= set(report["totals"])
    assert report["totals"]["weight_bytes"] == sum(r["weight_bytes"] for r in report["layers"])
    assert report["layers"][0]["name"] == "patch_embed"


def test_set_overrides_fields(capsys):
    _, out, _ = run(capsys, "--model", "deit_tiny_patch16_224", "--scheme", "int8", "--json",
                    "--set", "w_bits=4", "--set", "memory.act_kib=64")
    report = json.loads(out)
    assert report["scheme"]["w_bits"] == 4 and report["accel"]["memory"]["act_kib"] == 64


def test_table_output(capsys):
    status, out, _ = run(capsys, "--model", "deit_small_patch16_224", "--scheme", "fp32")
    assert status == 0 and out.splitlines()[0].startswith("layer")
    assert "cycles n/a (float)" in out and "4.5989 GMAC" in out


def test_sweep_writes_a_csv_grid(capsys, tmp_path):
    out_file = tmp_path / "grid.csv"
    status, _, err = run(capsys, "--model", "deit_tiny_patch16_224", "--sweep",
                         "scheme=int8,qvit4", "--sweep", "w_bits=2,4", "--sweep",
                         "act_kib=64,512", "--out", str(out_file), "--plot",
                         str(tmp_path / "grid.png"))
    assert status == 0, err
    rows = list(csv.DictReader(io.StringIO(out_file.read_text())))
    assert len(rows) == 8
    assert list(rows[0])[:3] == ["scheme", "scheme.w_bits", "memory.act_kib"]
    assert {r["scheme.w_bits"] for r in rows} == {"2", "4"}
    assert (tmp_path / "grid.png").stat().st_size > 0


def test_layer_plot(capsys, tmp_path):
    status, _, _ = run(capsys, "--model", "vit_digits", "--plot", str(tmp_path / "l.png"))
    assert status == 0 and (tmp_path / "l.png").read_bytes()[:4] == b"\x89PNG"


def test_checkpoints_give_a_pareto_plot(capsys, tmp_path):
    from sim.analytic import model_cfg

    vit = model_cfg("vit_digits").to_dict()
    for name, gsb, top1 in (("fp_vit_digits", None, 0.97),
                            ("gsb_vit_digits", {"thresholds": [0.7, 0.9]}, 0.91)):
        (tmp_path / name).mkdir()
        meta = {"model": name, "vit": vit, "gsb": gsb, "metrics": {"test_top1": top1}}
        (tmp_path / name / "config.json").write_text(json.dumps(meta))
    status, out, err = run(capsys, "--checkpoint", str(tmp_path / "fp_vit_digits"),
                           "--checkpoint", str(tmp_path / "gsb_vit_digits"),
                           "--plot", str(tmp_path / "pareto.png"))
    assert status == 0, err
    assert "gsb_vit_digits" in out and "91.00%" in out
    assert (tmp_path / "pareto.png").stat().st_size > 0


@pytest.mark.parametrize("argv,message", [
    (["--model", "deit_huge"], "unknown model 'deit_huge'"),
    (["--scheme", "ternary"], "unknown scheme 'ternary'"),
    (["--sweep", "wbits=1,2"], "--sweep: unknown field 'wbits'"),
    (["--sweep", "cols=8"], "field 'cols' is ambiguous; say binary.cols, mac.cols"),
    (["--set", "memory.loop_order=zigzag"],
     "--set memory.loop_order=zigzag: loop_order must be one of"),
    (["--set", "w_bits=1,2"], "--set takes one value"),
    (["--hw", "/nonexistent/hw.json"], "/nonexistent/hw.json: no such file"),
])
def test_bad_input_fails_with_one_line(capsys, argv, message):
    status, out, err = run(capsys, *argv)
    assert status == 2
    assert err.startswith("vitsim: error: ") and message in err and err.count("\n") == 1


def test_hw_file_is_read(capsys, tmp_path):
    hw = tmp_path / "hw.json"
    hw.write_text(json.dumps({"binary": {"rows": 8, "cols": 64, "max_k": 256}}))
    _, out, _ = run(capsys, "--model", "vit_digits", "--json", "--hw", str(hw))
    layers = {r["name"]: r for r in json.loads(out)["layers"]}
    fc2 = layers["blocks.0.mlp.fc2"]
    assert fc2["unit_cycles"]["array"] == 18 * 8 * 4 + 10  # 64 columns: latency 10
    assert fc2["cycles"] == 18 * 8 * 4 + 10 + (18 + 5) + (18 + 1)  # requantiser, residual
    hw.write_text(json.dumps({"binary": {"rows": 8, "cols": 64, "max_k": 100}}))
    status, _, err = run(capsys, "--model", "vit_digits", "--hw", str(hw))
    assert status == 2 and "field 'binary': max_k must be a multiple of cols" in err
