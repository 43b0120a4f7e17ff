"""``vitsim golden --config FILE``: each unit's case takes the flags its file
``golden/casemakers/<kind>.py`` declares and refuses every other unit's flag, naming it.

For every registered unit (its example config): the case written with no unit flag passes
``--verify``; each of its own flags is accepted; the first flag of another unit that it
does not take is refused with one line naming the flag, and nothing is written.
"""

import json

import pytest

from golden.casemakers import COMMON_FLAGS, case_flags_of
from golden.unit_spec import attached_kinds
from golden.units import units
from sim.cli import build_parser, main
from sim.units import EXAMPLES

KINDS = sorted(units())
#: A value each unit flag is given with (a store_true flag: True; ``--n``/``--k``: the
#: example config's rows and longest reduction, row or head width).
GIVEN = {"n": None, "k": None, "w_bits": 4, "a_bits": 3, "a_unsigned": True, "scale": 0.03125,
         "gsb_attention": True, "theta": 1, "mult": 1 << 20, "shift": 30, "bits": 6,
         "out_unsigned": True}


def _argv(name: str, value) -> list[str]:
    flag = f"--{name.replace('_', '-')}"
    return [flag] if value is True else [flag, str(value)]


def _value(name: str, example: dict):
    if name == "n":
        return example["rows"]
    if name == "k":
        return next(example[f] for f in ("max_k", "max_len", "max_d") if f in example)
    return GIVEN[name]


def _all_flags() -> set[str]:
    import golden.cut  # noqa: F401  every unit's case flags

    return {n for k in attached_kinds("case_flags") for n in case_flags_of(k).defaults}


def test_every_declared_flag_is_a_golden_flag_with_a_test_value():
    golden = next(a for a in build_parser()._actions if a.dest == "command").choices["golden"]
    dests = {a.dest for a in golden._actions}
    assert set(COMMON_FLAGS) <= dests
    assert _all_flags() <= dests, "a unit declares a flag `vitsim golden` does not have"
    assert _all_flags() == set(GIVEN)
    assert attached_kinds("case_flags") == set(KINDS)


@pytest.mark.parametrize("kind", KINDS)
def test_a_unit_case_takes_its_flags_and_refuses_the_others(kind, tmp_path, capsys):
    cfg = tmp_path / "cfg.json"
    cfg.write_text(json.dumps({"kind": kind, **EXAMPLES[kind]}))
    base = ["golden", "--config", str(cfg), "--m", "2"]
    assert main([*base, "--out", str(tmp_path / "plain")]) == 0
    assert main(["golden", "--verify", str(tmp_path / "plain")]) == 0
    own = case_flags_of(kind).defaults
    for name in own:
        if kind == "gsb_encoder" and name in ("n", "k"):
            continue  # the shape must fit max_elems; --m/--n/--k are checked together below
        out = tmp_path / f"with-{name}"
        value = _value(name, EXAMPLES[kind])
        assert main([*base, *_argv(name, value), "--out", str(out)]) == 0, name
    capsys.readouterr()
    other = sorted(_all_flags() - set(own))
    if not other:
        return
    out = tmp_path / "refused"
    assert main([*base, *_argv(other[0], 2 if GIVEN[other[0]] is None else GIVEN[other[0]]),
                 "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert f"--{other[0].replace('_', '-')}: {kind} cases do not take it" in err
    assert not out.exists()
