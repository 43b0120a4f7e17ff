"""The memos of the accelerator-exact cycle model (:func:`sim.analytic.accel_cycles.
layer_cycles`): the memoised answer equals the unmemoised one over varied networks and
accelerators, in any order, and after :func:`forget`. (That the unmemoised answer equals
the compiled program's and the RTL counters is ``test_analytic_accel``.)"""

import dataclasses
import json
import random

import pytest
from netpkgs import untrained_package

from golden.model_cfg import GSBCfg, ViTCfg
from golden.netpkg import NetworkData, read_network
from golden.spec import ConfigError
from sim.analytic.accel_cycles import forget, layer_cycles
from sim.compiler import accel_config_for


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    """``(vit, gsb, accelerator)`` of an untrained one-block digits GSB package."""
    pkg = untrained_package(tmp_path_factory.mktemp("memo"), depth=1)
    model = json.loads((pkg / "manifest.json").read_text())["model"]
    top = accel_config_for(NetworkData(read_network(pkg)))
    return ViTCfg.from_dict(model["vit"]), GSBCfg.from_dict(model["gsb"]), top


def _variants(vit, gsb, top) -> list:
    """Networks and accelerators around the base: depths, heads, classes, distillation,
    embedding widths, and unit configs changed one at a time (some outside the modelled
    tiling: both paths must refuse them alike)."""
    units = top.units
    tops = [top, dataclasses.replace(top, units=dict(units))]  # equal value, other object
    for slot, field, value in (("requant", "lanes", 4), ("gelu", "lanes", 16),
                               ("residual", "lanes", 4), ("binary_xnor", "rows", 4),
                               ("binary_and", "rows", 16), ("threshold", "lanes", 16)):
        try:
            changed = dataclasses.replace(units[slot], **{field: value})
        except ConfigError:  # a value the unit refuses: not a variant
            continue
        tops.append(dataclasses.replace(top, units={**units, slot: changed}))
    vits = [dataclasses.replace(vit, depth=d) for d in (1, 2, 3, 7, 12)]
    vits += [dataclasses.replace(vit, num_heads=h) for h in (1, 2, 8)]
    vits += [dataclasses.replace(vit, num_classes=c, distilled=dist)
             for c in (3, 10) for dist in (False, True)]
    vits += [dataclasses.replace(vit, embed_dim=e, depth=2) for e in (32, 96)]
    return [(v, t, g, e) for v in vits for t in tops
            for g, e in ((gsb.groups, gsb.embed_bits), (gsb.groups, 4))]


def _price(v, t, g, e, memo):
    try:
        return layer_cycles(v, t, groups=g, embed_bits=e, memo=memo)
    except ValueError as exc:
        return ("refused", str(exc))


def test_memoised_equals_unmemoised_in_any_order(base):
    vit, gsb, top = base
    cases = _variants(vit, gsb, top)
    truth = [_price(*c, memo=False) for c in cases]
    assert sum(isinstance(x, dict) for x in truth) > len(cases) // 2  # mostly priced
    assert any(isinstance(x, tuple) for x in truth)  # and some refused
    order = list(range(len(cases)))
    for seed in range(3):
        forget()
        random.Random(seed).shuffle(order)
        for _ in range(2):  # cold, then every answer a memo hit
            for i in order:
                got = _price(*cases[i], memo=True)
                assert got == truth[i], cases[i][0]
                if isinstance(got, dict):  # same op order too
                    assert list(got) == list(truth[i])


def test_the_memo_hands_out_copies_and_forget_empties_it(base):
    vit, gsb, top = base
    args = dict(groups=gsb.groups, embed_bits=gsb.embed_bits)
    first = layer_cycles(vit, top, **args)
    first["blocks.0.norm1"] = -1
    assert layer_cycles(vit, top, **args)["blocks.0.norm1"] > 0
    # a config changed in place is stale until forget()
    deeper = dataclasses.replace(vit, depth=3)
    before = layer_cycles(deeper, top, **args)
    units = dict(top.units)
    changed = dataclasses.replace(top, units=units)
    assert layer_cycles(deeper, changed, **args) == before
    units["requant"] = dataclasses.replace(units["requant"], lanes=4)
    forget()
    assert layer_cycles(deeper, changed, **args) == layer_cycles(deeper, changed, **args,
                                                                 memo=False)
    assert layer_cycles(deeper, changed, **args) != before
