"""benchmarks/accuracy_qvit.py: its variant names and the merge of per-seed results."""

import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import accuracy_qvit as bench  # noqa: E402


def test_variant_names_map_to_a_scheme_and_widths():
    assert bench.variant_model("qvit_w2a2", "vit_mnist") == (
        "qvit_vit_mnist", {"w_bits": 2, "a_bits": 2})
    assert bench.variant_model("lsq_w4a3", "vit_digits") == (
        "lsq_vit_digits", {"w_bits": 4, "a_bits": 3})
    for bad in ("qvit_w1a1", "lsq_w9a4", "gsb_w2a2", "qvit_w2a2x", "w2a2"):
        with pytest.raises(ValueError, match=f"--variants: '{bad}' is not"):
            bench.variant_model(bad, "vit_mnist")


def test_the_two_bit_budget_is_uniform_w2a2_bitops():
    from models import create_model
    from models.qvit_layers import budget_bitops, uniform_bitops

    name, over = bench.variant_model("qvit_w2a2", "vit_mnist")
    model = create_model(name, **over)
    assert model.qvit_cfg.learn_bits
    budget = budget_bitops(model.vit_cfg, model.qvit_cfg)
    assert budget == uniform_bitops(model.vit_cfg, w_bits=2, a_bits=2,
                                    embed_bits=model.qvit_cfg.embed_bits)
    assert budget < uniform_bitops(model.vit_cfg, w_bits=3, a_bits=3,
                                   embed_bits=model.qvit_cfg.embed_bits)


def _run(path, seed, top1):
    rows = {"float": [{"seed": seed, "top1": top1 - 0.1, "seconds": 1.0}],
            "lsq_w2a2": [{"seed": seed, "top1": top1, "seconds": 2.0, "bitops": 34e6,
                          "budget": 34e6, "bit_map": {}}]}
    path.write_text(json.dumps({"args": {"seeds": [seed]}, "results": rows}))
    return str(path)


def test_merge_prints_mean_and_std_over_the_files(tmp_path, capsys):
    a, b = _run(tmp_path / "a.json", 0, 0.80), _run(tmp_path / "b.json", 1, 0.90)
    assert bench.main(["--merge", a, b]) == 0
    out = capsys.readouterr().out
    assert "| lsq_w2a2 | 0 1 | 85.0 ± 7.1 | 34.000 ± 0.000 | 34.000 | 2 ± 0 |" in out
    assert "| float (same network, quantizers off) | 0 1 | 75.0 ± 7.1 |" in out


def test_merge_of_a_file_without_results_is_one_line_and_status_2(tmp_path, capsys):
    good = _run(tmp_path / "a.json", 0, 0.8)
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"args": {"seeds": [1]},
                               "results": {"lsq_w2a2": [{"seed": 1, "top1": 0.5}]}}))
    assert bench.main(["--merge", good, str(bad)]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    err = captured.err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"--merge: {bad}: not a results file")
    assert "lsq_w2a2: a row without bitops" in err[0]
