"""Units are found by their files' names: a unit added as the five files of the convention
(``golden/cases_<unit>.py``, ``golden/casemakers/<unit>.py``, ``hw/<top>.py``,
``sim/benches/<top>_bench.py``, ``sim/compiler/parts/<unit>.py``) is in every layer with no
import line anywhere, and the cross-layer check (:func:`sim.registry_check.layer_gaps`) names
the file that is missing.

Each case copies the source tree to a temporary folder, writes a toy unit there and runs a
fresh interpreter on the copy (the registry is filled once per process).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

TOY = {
    "golden/cases_toy.py": '''
        """A toy unit (test fixture): y = x + 1 on one lane."""
        from dataclasses import dataclass

        from golden.unit_spec import Payload, PayloadField, UnitSpec, register_unit


        @dataclass(frozen=True)
        class ToyCfg:
            kind = "toy"
            lanes: int = 1


        def _nothing(*args, **kwargs):
            raise NotImplementedError


        register_unit(UnitSpec(
            kind="toy", config=ToyCfg, kernel=lambda x: x + 1,
            payload=Payload((PayloadField("x", 8, signed=True, bind=0),)),
            op_kinds=("toy_op",), slots={"toy": 99}, top="toy_top", example={},
            case=_nothing, write_case=_nothing, verify=_nothing))
        ''',
    "golden/casemakers/toy.py": '''
        from golden.casemakers import case_flags, cutter


        @cutter("toy")
        def cut(net, op, image, head, path, common):
            raise NotImplementedError


        @case_flags("toy", k=None)
        def flags(cfg, f):
            return dict(beats=f.m, width=f.k or cfg.lanes)
        ''',
    "hw/toy_top.py": '''
        from golden.cases_toy import ToyCfg
        from golden.unit_spec import attach


        @attach("toy", "component")
        class Toy:
            config_class = ToyCfg
        ''',
    "sim/benches/toy_top_bench.py": '''
        import sys

        from golden.unit_spec import attach

        attach("toy", "bench", sys.modules[__name__])
        ''',
    "sim/compiler/parts/toy.py": '''
        from golden.cases_toy import ToyCfg
        from sim.compiler.registry import compiles, cycle_model, sizes


        @compiles("toy", "toy_op")
        def toy(c, op):
            raise NotImplementedError


        @sizes("toy")
        def _size(net, by_kind):
            return {"toy": ToyCfg()} if "toy_op" in by_kind else {}


        @cycle_model("toy")
        def _cycles(desc, u, beats, bc, c0, outs):
            return c0 + beats
        ''',
}

#: Run in the copy: what each layer's lookups see of the toy unit, and the gaps.
PROBE = '''
import json
from golden.unit_spec import attached_kinds
from golden.units import op_kinds, slot_ids, units
from sim.registry_check import layer_gaps
gaps = layer_gaps()
out = {"gaps": gaps, "units": list(units()), "op": op_kinds().get("toy_op"),
       "slot": slot_ids().get("toy"),
       "roles": {r: "toy" in attached_kinds(r)
                 for r in ("cutter", "case_flags", "component", "bench", "op_compiler",
                           "sizing", "cycles")}}
if not gaps:
    from golden.casemakers import case_flags_of
    from golden.units import unit
    from hw.units import component_for
    from sim.analytic.accel_cycles import GSB_UNITS
    from sim.compiler.registry import op_compilers
    from sim.units import UNITS
    out.update(component=component_for("toy").__name__, bench=UNITS["toy"].bench,
               compiler=op_compilers()["toy_op"].__module__, cycle_slot="toy" in GSB_UNITS,
               flags=case_flags_of("toy").arguments(unit("toy").config(), {"m": 3}))
print(json.dumps(out))
'''


@pytest.fixture(scope="module")
def tree(tmp_path_factory):
    """The source tree (golden, hw, sim, models) copied, with the toy unit's five files."""
    root = tmp_path_factory.mktemp("tree")
    for layer in ("golden", "hw", "sim", "models"):
        shutil.copytree(ROOT / layer, root / layer,
                        ignore=shutil.ignore_patterns("__pycache__"))
    for rel, text in TOY.items():
        (root / rel).write_text(textwrap.dedent(text).lstrip())
    return root


def _copy(root: Path, name: str, drop=(), add=None) -> Path:
    """A copy of ``root`` without the files ``drop``, with the files ``add``."""
    copy = root.parent / f"{root.name}-{name}"
    shutil.copytree(root, copy)
    for rel in drop:
        (copy / rel).unlink()
    for rel, text in (add or {}).items():
        (copy / rel).write_text(textwrap.dedent(text).lstrip())
    return copy


def _run(root: Path):
    env = {**os.environ, "PYTHONPATH": str(root), "PYTHONDONTWRITEBYTECODE": "1"}
    return subprocess.run([sys.executable, "-c", PROBE], cwd=root, env=env,
                          capture_output=True, text=True, timeout=300)


def _probe(root: Path) -> dict:
    """Run :data:`PROBE` on ``root``; its report."""
    res = _run(root)
    assert res.returncode == 0, res.stderr[-3000:]
    return json.loads(res.stdout.strip().splitlines()[-1])


def test_a_unit_of_five_files_is_in_every_layer(tree):
    got = _probe(tree)
    assert got["gaps"] == []
    assert "toy" in got["units"] and got["op"] == "toy" and got["slot"] == 99
    assert got["roles"] == dict.fromkeys(got["roles"], True)
    assert got["component"] == "Toy" and got["bench"] == "sim.benches.toy_top_bench"
    assert got["compiler"] == "sim.compiler.parts.toy" and got["cycle_slot"]
    assert got["flags"] == {"beats": 3, "width": 1}


@pytest.mark.parametrize("without, roles", [
    ("golden/casemakers/toy.py", ["cutter", "case_flags"]),
    ("hw/toy_top.py", ["component"]),
    ("sim/benches/toy_top_bench.py", ["bench"]),
    ("sim/compiler/parts/toy.py", ["op_compiler", "sizing", "cycles"]),
])
def test_the_cross_layer_check_names_a_missing_file(tree, without, roles):
    got = _probe(_copy(tree, without.replace("/", "-"), drop=[without]))
    assert "toy" in got["units"]
    assert len(got["gaps"]) == len(roles)
    for role, line in zip(roles, got["gaps"], strict=True):
        assert f"unit 'toy' has no {role} attached" in line and f"expected in {without}" in line
    assert got["roles"] == {r: r not in roles for r in got["roles"]}


def test_a_part_without_its_golden_module_fails_naming_it(tree):
    res = _run(_copy(tree, "no-golden", drop=["golden/cases_toy.py"]))
    assert res.returncode != 0
    assert "No module named 'golden.cases_toy'" in res.stderr
    assert "sim/compiler/parts/toy.py" in res.stderr


@pytest.mark.parametrize("rel, text, role", [
    ("sim/compiler/parts/ghost.py", '''
        from sim.compiler.registry import cycle_model

        cycle_model("ghost")(lambda desc, u, beats, bc, c0, outs: 0)
        ''', "cycles"),
    ("golden/casemakers/ghost.py", '''
        from golden.casemakers import cutter

        cutter("ghost")(lambda net, op, image, head, path, common: None)
        ''', "cutter"),
])
def test_an_attachment_to_an_unregistered_unit_is_a_gap(tree, rel, text, role):
    got = _probe(_copy(tree, f"ghost-{role}", add={rel: text}))
    assert got["gaps"] == [f"a {role} is attached to unit 'ghost', which no golden/cases*.py "
                           "registers"]
