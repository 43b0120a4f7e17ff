"""``benchmarks/hw_units.py``'s one unit filter, ``--unit`` (repeatable), whose names are
the unit table's, or with ``--lanes`` the lane units': a wrong name is refused before any
synthesis (the measurements themselves are the benchmark's, minutes each)."""

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import hw_units as bench  # noqa: E402


@pytest.mark.parametrize("argv,fragment", [
    (["--unit", "nope"], "--unit: no unit 'nope'; choose from binary array, binary array "
     "(digits, 8 x 32), binary array (digits, 32 x 32), MAC array,"),
    # LayerNorm-s2 is a lane unit only; the MAC array is no lane unit
    (["--unit", "LayerNorm-s2"], "--unit: no unit 'LayerNorm-s2'; choose from"),
    (["--lanes", "2", "--unit", "MAC array"],
     "--unit: no unit 'MAC array' with --lanes; choose from LayerNorm, LayerNorm-s2, "
     "LayerNorm-s3, LayerNorm-s4, softmax, softmax-d2, GELU"),
    (["--accel", "pkg", "--unit", "GELU"], "--unit: not with --accel"),
    (["--lanes", "2", "--units", "softmax"], "unrecognized arguments: --units softmax"),
])
def test_a_wrong_unit_is_refused_before_any_work(argv, fragment, capsys, monkeypatch):
    def no_work(*args, **kwargs):
        raise AssertionError("measured despite a wrong flag")

    monkeypatch.setattr(bench, "measure", no_work)
    monkeypatch.setattr(bench, "measure_lanes", no_work)
    with pytest.raises(SystemExit) as exc:
        bench.main(argv)
    assert exc.value.code == 2
    assert fragment in capsys.readouterr().err


def test_unit_selects_in_the_table_of_the_mode(monkeypatch, capsys):
    seen = {}

    def lanes(work, lanes, units):
        seen["lanes"] = (lanes, units)
        return []

    monkeypatch.setattr(bench, "measure_lanes", lanes)
    assert bench.main(["--lanes", "4,8", "--unit", "LayerNorm", "--unit", "softmax"]) == 0
    assert seen["lanes"] == ([4, 8], ["LayerNorm", "softmax"])
