"""The memos of the accelerator-exact cycle model (:func:`sim.analytic.accel_cycles.
layer_cycles`): the memoised answer equals the unmemoised one over varied networks and
accelerators, in any order, and after :func:`forget`. (That the unmemoised answer equals
the compiled program's and the RTL counters is ``test_analytic_accel``.)"""

import dataclasses
import json
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from netpkgs import untrained_package

from golden.model_cfg import GSBCfg, ViTCfg
from golden.netpkg import NetworkData, read_network
from golden.spec import ConfigError
from sim.analytic.accel_cycles import accel_descs, desc_cycles, forget, layer_cycles
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


def _reference(v, t, g, e):
    """Every descriptor of :func:`accel_descs` priced on its own (:func:`desc_cycles`, no
    shared records, no block repeated), summed per op name; or the refusal."""
    try:
        out: dict = {}
        for name, desc in accel_descs(v, t, groups=g, embed_bits=e):
            out[name] = out.get(name, 0) + desc_cycles(desc, t)
        return out
    except ValueError as exc:
        return ("refused", str(exc))


def _fitted(top, vit):
    """``top`` with its LayerNorm and softmax sized to ``vit`` where the units allow it
    (else as it was: the model must then refuse the shape)."""
    units = dict(top.units)
    t = vit.num_tokens
    for slot, fields in (("layernorm", {"dim": vit.embed_dim}),
                         ("softmax", {"max_len": t,
                                      "lanes": max(x for x in (1, 2, 3, 6, 9, 18) if t % x == 0)})):
        try:
            units[slot] = dataclasses.replace(units[slot], **fields)
        except ConfigError:
            pass
    return dataclasses.replace(top, units=units)


@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_fast_path_equals_every_descriptor_priced(base, data):
    """Over many network shapes and accelerators, the memoised path cold (memos emptied,
    constants too, and warm) equals the unmemoised path and each descriptor priced on its
    own, the op order included, or all refuse alike."""
    vit, gsb, top = base
    d_head = data.draw(st.sampled_from([32, 64, 32, 8]), "head_dim")
    v = dataclasses.replace(
        vit, depth=data.draw(st.integers(1, 12), "depth"),
        num_heads=(h := data.draw(st.sampled_from([1, 2, 3, 4]), "heads")),
        embed_dim=h * d_head,
        mlp_ratio=data.draw(st.sampled_from([1.0, 2.0, 4.0]), "mlp_ratio"),
        num_classes=data.draw(st.integers(1, 24), "classes"),
        distilled=data.draw(st.booleans(), "distilled"),
        img_size=data.draw(st.sampled_from([4, 8, 12, 16]), "img"),
        patch_size=data.draw(st.sampled_from([2, 4]), "patch"))
    t = _fitted(top, v)
    for slot, field, values in (("requant", "lanes", (4, 8, 16)),
                                ("residual", "lanes", (4, 8)),
                                ("threshold", "lanes", (8, 16)),
                                ("binary_xnor", "rows", (4, 8, 16)),
                                ("binary_and", "rows", (8, 16))):
        value = data.draw(st.sampled_from(values), f"{slot}.{field}")
        try:
            t.units[slot] = dataclasses.replace(t.units[slot], **{field: value})
        except ConfigError:
            pass
    e = data.draw(st.sampled_from([2, 4, 8]), "embed_bits")
    truth = _reference(v, t, gsb.groups, e)
    assert _price(v, t, gsb.groups, e, memo=False) == truth
    for constants in (True, False):
        forget(constants=constants)
        for _ in range(2):  # cold, then a memo hit
            got = _price(v, t, gsb.groups, e, memo=True)
            assert got == truth
            if isinstance(got, dict):
                assert list(got) == list(truth)


def _grid(top) -> list:
    """Accelerators around ``top`` changing several unit configs at once (scratchpad
    lanes, MAC rows and digit width, binary-array rows, LayerNorm and elementwise lanes),
    each unit config a fresh object: the configurations of one what-if grid. The MAC's
    digit width changes its count and not its records (the memo must key on the unit's
    value)."""
    from itertools import product

    out = []
    for lanes, mac, digit, arr, ln, ew in product((16, 64), (8, 32), (1, 4), (4, 16), (4, 16),
                                                  (8, 16)):
        changes = {"mac": {"rows": mac, "digit_bits": digit}, "binary_xnor": {"rows": arr},
                   "binary_and": {"rows": arr}, "layernorm": {"lanes": ln},
                   "requant": {"lanes": ew}, "residual": {"lanes": ew}, "gelu": {"lanes": ew}}
        units = {slot: dataclasses.replace(u, **changes.get(slot, {}))
                 for slot, u in top.units.items()}
        out.append(dataclasses.replace(top, lanes=lanes, units=units))
    return out


def test_a_grid_pass_shares_only_equal_parts(base):
    """One pass over a what-if grid (records, counts and unit latencies remembered from
    one configuration to the next, :func:`forget` only before the pass) gives each
    configuration the answer of every descriptor priced on its own, in either order."""
    vit, gsb, top = base
    cases = [(dataclasses.replace(vit, depth=d), t, gsb.groups, e)
             for t in _grid(top) for d in (1, 3) for e in (gsb.embed_bits, 4)]
    truth = [_reference(*c) for c in cases]
    assert sum(isinstance(x, dict) for x in truth) > len(cases) // 2
    assert len({str(x) for x in truth}) > len(cases) // 4  # the grid changes the answers
    for order in (cases, cases[::-1]):
        forget(constants=True)
        got = [_price(*c, memo=True) for c in order]
        assert got == (truth if order is cases else truth[::-1])
