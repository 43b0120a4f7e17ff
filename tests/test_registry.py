# amaranth: UnusedElaboratable=no
"""The unit registry: every unit is in every layer, and the tables derived from it are the
ones the hardware and the programs were built with."""

import numpy as np
import pytest

from golden.accel_program import UNIT_IDS, UNIT_KINDS
from golden.cut import NO_UNIT
from golden.network import OPS
from golden.unit_spec import (
    Payload,
    PayloadField,
    RegistryError,
    attach,
    attached,
    attached_kinds,
)
from golden.units import known_configs, op_kinds, unit, units
from hw.accel.bind import BIND, OUT_FIELD
from hw.units import component_for, component_kinds
from sim.analytic.units import UNIT_CYCLE_KEYS as ANALYTIC_UNITS
from sim.analytic.units import Units
from sim.units import EXAMPLES, UNITS, bench_kinds

ARRAYS = {"binary_array", "mac_array"}  # priced as "array" by the analytic model


def test_every_unit_has_its_part_in_every_layer():
    import golden.cut  # noqa: F401  imports every unit's cutter and case flags

    kinds = set(units())
    assert kinds == {"binary_array", "mac_array", "requant", "residual", "threshold",
                     "layernorm", "softmax", "gelu", "gsb_encoder", "gsb_av"}
    assert component_kinds() == kinds, "a unit without an hw Component (or vice versa)"
    assert bench_kinds() == kinds, "a unit without a cocotb bench (or vice versa)"
    assert attached_kinds("case_flags") == kinds, "a unit `vitsim golden` cannot write"
    assert attached_kinds("cutter") == kinds, "a unit golden.cut cannot cut"
    assert set(UNITS) == kinds and set(known_configs()) == kinds | {"quant"}
    for kind in kinds:
        assert component_for(kind).config_class is unit(kind).config
    from sim.registry_check import layer_gaps  # the check a new unit's files must pass

    assert layer_gaps() == []


def test_every_accelerator_unit_has_its_op_compilers_sizing_and_cycle_model():
    from sim.analytic.accel_cycles import PIPELINED
    from sim.compiler.registry import op_compilers, unserved

    slotted = {k for k, u in units().items() if u.slots}
    assert slotted == set(units()), "a unit the accelerator does not instantiate"
    for role in ("op_compiler", "sizing", "cycles"):
        assert attached_kinds(role) == slotted, f"a unit without its {role} (or vice versa)"
    for kind in slotted:  # each compiles only its own op kinds
        assert set(attached(kind, "op_compiler")) <= set(unit(kind).op_kinds), kind
    # the op kinds no accelerator program runs; a new one fails here until it compiles
    assert unserved() == {"group_matmul"}
    assert set(op_compilers()) == set(op_kinds()) - unserved()
    assert PIPELINED == {"binary_xnor", "binary_and", "requant", "residual", "threshold",
                         "gelu"}
    with pytest.raises(RegistryError, match=r"unit 'nosuch' has no op_compiler attached in "
                                            r"sim/ \(after importing sim.compiler"):
        attached("nosuch", "op_compiler")
    with pytest.raises(RegistryError, match=r"no cycles attached in sim/"):
        attached("nosuch", "cycles")


def test_desc_k_fills_the_payload_constants_in_their_order():
    from sim.compiler.registry import desc_k

    for slot, kind in UNIT_KINDS.items():
        names = unit(kind).payload.consts()
        values = {n: i + 10 for i, n in enumerate(names)}
        assert desc_k(slot, **dict(reversed(values.items()))) == tuple(values.values())
    with pytest.raises(ValueError, match="requant takes the constants shift, bits, signed"):
        desc_k("requant", shift=1, bits=8)


def test_a_missing_attachment_names_the_unit_role_and_layer():
    with pytest.raises(RegistryError, match=r"unit 'nosuch' has no component attached in hw/"):
        attached("nosuch", "component")
    with pytest.raises(RegistryError, match="no hardware unit of kind 'nosuch'"):
        component_for("nosuch")
    with pytest.raises(RegistryError, match="role must be one of"):
        attach("gelu", "firmware")
    with pytest.raises(RegistryError, match="already has a component attached"):
        attach("gelu", "component", object)


def test_unit_ids_are_the_hardware_encoding():
    # Literal: descriptors in memory images and the RTL decode these numbers.
    assert UNIT_IDS == {"dma_in": 1, "dma_out": 2, "binary_xnor": 3, "binary_and": 4,
                        "mac": 5, "requant": 6, "residual": 7, "threshold": 8,
                        "layernorm": 9, "softmax": 10, "gelu": 11, "gsb_encoder": 12,
                        "gsb_av": 13, "dma_pre": 15}
    assert list(UNIT_IDS) == sorted(UNIT_IDS, key=UNIT_IDS.get)
    assert UNIT_KINDS == {"binary_xnor": "binary_array", "binary_and": "binary_array",
                          "mac": "mac_array", "requant": "requant", "residual": "residual",
                          "threshold": "threshold", "layernorm": "layernorm",
                          "softmax": "softmax", "gelu": "gelu", "gsb_encoder": "gsb_encoder",
                          "gsb_av": "gsb_av"}


def test_the_accelerator_binding_is_the_one_the_rtl_was_built_with():
    binary = {"a": 0, "w": 1, "last": "last"}
    assert BIND == {
        "binary_xnor": binary, "binary_and": binary,
        "mac": {"a": 0, "w": 1, "w_bits": "k0", "a_bits": "k1", "w_signed": "k2",
                "a_signed": "k3", "last": "last"},
        "requant": {"acc": 0, "mult": 1, "bias": 2, "shift": "k0", "bits": "k1",
                    "signed": "k2"},
        "residual": {"a": 0, "b": 1},
        "threshold": {"x": 0, "theta": 1, "flip": 2},
        "layernorm": {None: 0},
        "softmax": {"x": 0, "x0": "k0", "b": "k1", "c": "k2", "n": "k3", "floor_q": "k4",
                    "out_bits": "k5", "tail": "k6", "last": "last"},
        "gelu": {"x": 0, "b": "k0", "c": "k1", "one": "k2", "clip": "k3"},
        "gsb_encoder": {"x": 0, "theta": "k0", "two_tailed": "k1", "last": "last"},
        "gsb_av": {"bits": 0, "w": 1, "last": "last"},
    }
    assert OUT_FIELD == {"softmax": "y", "gsb_encoder": "planes"}
    for slot, fields in BIND.items():  # every bound field is one of the payload's, in order
        spec = unit(UNIT_KINDS[slot])
        assert list(fields) == [f.name for f in spec.payload.fields if f.bind is not None]


def test_the_examples_are_the_ones_the_command_line_had():
    assert EXAMPLES == {
        "binary_array": {"rows": 8, "cols": 64, "mode": "xnor", "max_k": 512},
        "mac_array": {"rows": 4, "cols": 16, "max_k": 256},
        "requant": {"lanes": 4, "acc_bits": 24, "out_bits": 8},
        "residual": {"lanes": 16, "in_bits": 16, "out_bits": 16},
        "softmax": {"max_len": 32, "out_bits": 16},
        "layernorm": {"dim": 64},
        "gelu": {"lanes": 4},
        "gsb_encoder": {"lanes": 8, "max_elems": 2048},
        "gsb_av": {"lanes": 8, "max_n": 32, "max_d": 32},
        "threshold": {"lanes": 8, "x_bits": 32},
    }
    assert {k: u.top for k, u in UNITS.items()} == {
        "binary_array": "binary_array", "mac_array": "mac_array", "requant": "requantizer",
        "residual": "residual", "softmax": "softmax", "layernorm": "layernorm",
        "gelu": "gelu", "gsb_encoder": "gsb_encoder", "gsb_av": "gsb_av",
        "threshold": "threshold"}


def test_the_interpreters_cover_exactly_the_registry_op_kinds_and_data_movement():
    from models.int_kernels import TORCH_OPS

    served = set(op_kinds())
    assert not served & NO_UNIT
    assert set(OPS) == served | NO_UNIT
    assert set(TORCH_OPS) == served | NO_UNIT


def test_the_analytic_breakdown_has_every_non_array_unit():
    assert ANALYTIC_UNITS[0] == "array"
    assert set(ANALYTIC_UNITS[1:]) == set(units()) - ARRAYS
    assert list(Units.__dataclass_fields__) == list(ANALYTIC_UNITS[1:])


@pytest.mark.parametrize("kind", sorted(EXAMPLES))
def test_the_hw_payload_is_the_golden_declaration(kind):
    cfg = known_configs()[kind].from_dict(EXAMPLES[kind])
    layout = component_for(kind)(cfg).i_stream.payload.shape()
    payload = unit(kind).payload
    assert layout.size == payload.size(cfg)
    offsets = payload.offsets(cfg)
    if None in offsets:
        assert offsets == {None: (0, payload.fields[0].width(cfg), 1)}
        return
    assert {name: f.offset for name, f in layout} == {n: at for n, (at, _, _) in offsets.items()}


def test_payload_pack_puts_fields_lsb_first_and_cuts_them_to_width():
    class Cfg:
        lanes = 2

    p = Payload((PayloadField("x", 4, signed=True, dims=("lanes",)), PayloadField("k", 3),
                 PayloadField("last", 1)))
    words = p.pack(Cfg, 2, {"x": np.array([[1, -1], [-8, 7]]), "k": 9, "last": [0, 1]})
    assert words == [0x1 | 0xF << 4 | 1 << 8, 0x8 | 0x7 << 4 | 1 << 8 | 1 << 11]
    assert p.consts() == ()
    with pytest.raises(RegistryError, match="fill k0.. in order"):
        Payload((PayloadField("a", 1, bind="k1"),)).consts()
    with pytest.raises(RegistryError, match="fill k0.. in order"):
        Payload((PayloadField("a", 1, bind="k0"), PayloadField("b", 1, bind="k0"))).consts()


@pytest.mark.slow
def test_the_compiler_fills_the_constants_in_the_registry_order(tmp_path):
    """Each descriptor's ``k`` holds its unit's constant fields in :meth:`Payload.consts`
    order: by name, every constant the op record also carries equals it."""
    from netpkgs import untrained_package

    from golden.netpkg import load_network, read_network
    from sim.compiler import compile_network

    pkg = read_network(untrained_package(tmp_path, depth=1))
    ops = {op.name: op for op in load_network(pkg)[0]}
    prog = compile_network(pkg)
    checked = {}
    for name, desc in zip(prog.names, prog.descs, strict=True):
        if desc.unit not in UNIT_KINDS:
            continue
        consts = unit(UNIT_KINDS[desc.unit]).payload.consts()
        assert len(desc.k) == len(consts), (name, desc.unit, desc.k)
        op, got = ops[name], dict(zip(consts, desc.k, strict=True))
        fields = {n: getattr(op, n, op.params.get(n)) for n in consts}
        want = {n: v for n, v in fields.items() if isinstance(v, (int, np.integer))}
        if desc.unit == "requant":  # the writer cuts to the same width and signedness
            want |= {"bits": desc.wwidth, "signed": int(desc.wsigned)}
        if desc.unit == "gsb_encoder":
            want |= {"two_tailed": int(op.kind == "gsb_value_planes")}
        assert {n: got[n] for n in want} == want, (name, desc.unit)
        checked[desc.unit] = checked.get(desc.unit, 0) + len(want)
    with_consts = {s for s, k in UNIT_KINDS.items() if unit(k).payload.consts()}
    assert {s for s, n in checked.items() if n} == with_consts & set(checked)
    assert {"mac", "requant", "softmax", "gelu", "gsb_encoder"} <= set(checked), checked
    assert checked["softmax"] and checked["gelu"] and checked["gsb_encoder"], checked


def test_hw_finds_its_units_without_sim():
    """The accelerator builds its units through ``hw.units``: no ``sim`` module is loaded."""
    import subprocess
    import sys

    code = ("import sys; from golden.accel_program import AccelTopCfg; "
            "from golden.spec import ResidualCfg; from hw.accel.top import Accelerator; "
            "Accelerator(AccelTopCfg(lanes=4, depth=64, units={'residual': "
            "ResidualCfg(lanes=4)}, ext_words=64)); "
            "print(sorted(m for m in sys.modules if m == 'sim' or m.startswith('sim.')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "[]", out.stdout + out.stderr
