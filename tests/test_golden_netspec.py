"""The typed network records: exact round trips of the package's op records, and the
errors a bad record gets."""

import json

import pytest
from netpkgs import untrained_package

from golden.errors import VitsimError
from golden.netpkg import load_network, read_network
from golden.netspec import Network, Op


@pytest.fixture(scope="module")
def manifests(tmp_path_factory):
    """The ``ops`` of a GSB and of a Q-ViT package, as stored."""
    out = []
    for model in ("gsb_vit_digits", "qvit_w4a4_vit_digits"):
        pkg = untrained_package(tmp_path_factory.mktemp(model), model=model, depth=1)
        out.append((read_network(pkg), json.loads((pkg / "manifest.json").read_text())["ops"]))
    return out


def test_ops_round_trip_exactly(manifests):
    for pkg, records in manifests:
        net = Network.from_list(records)
        assert net.to_list() == records
        text = json.dumps(records, sort_keys=True)
        assert json.dumps(net.to_list(), sort_keys=True) == text  # the bytes on disk
        assert Network.from_list(net.to_list()) == net
        ops = load_network(pkg)[0]
        assert all(isinstance(op, Op) for op in ops) and [o.to_dict() for o in ops] == records
        kinds = {op.kind for op in ops}
        assert {"requant", "layernorm", "softmax", "gelu"} <= kinds, kinds


def test_common_fields_are_attributes_and_the_rest_params():
    rec = {"name": "r", "kind": "requant", "layer": 0, "head": None, "inputs": ["x", "m", "b"],
           "outputs": ["r"], "shift": 12, "lo": -8, "hi": 7}
    op = Op.from_dict(rec)
    assert (op.kind, op.name, op.inputs, op.outputs, op.layer) == (
        "requant", "r", ("x", "m", "b"), ("r",), 0)
    assert dict(op.params) == {"shift": 12, "lo": -8, "hi": 7} and op.shift == 12
    assert op.with_params(shift=3).to_dict() == {**rec, "shift": 3}
    bare = {"name": "t", "kind": "take_token", "inputs": ["x"], "outputs": ["t"], "index": 0}
    assert Op.from_dict(bare).to_dict() == bare  # no layer/head added
    with pytest.raises(AttributeError, match=r"op 'r' \(requant\) has no field 'mode'"):
        op.mode  # noqa: B018
    with pytest.raises(TypeError):
        op.params["shift"] = 1
    # no mapping interface: the kind-specific fields are op.params (or attributes)
    with pytest.raises(TypeError, match="not subscriptable"):
        op["shift"]  # noqa: B018
    with pytest.raises(AttributeError, match="has no field 'get'"):
        op.get("shift")
    with pytest.raises(TypeError):
        "shift" in op  # noqa: B015


@pytest.mark.parametrize("rec, msg", [
    ({"kind": "add", "inputs": [], "outputs": []}, r"ops\[0\]: field 'name' missing"),
    ({"name": 1, "kind": "add", "inputs": [], "outputs": []}, "field 'name' must be a string"),
    ({"name": "a", "kind": "add", "inputs": "x", "outputs": []},
     "field 'inputs' must be a list of names"),
])
def test_a_bad_record_names_the_op_and_field(rec, msg):
    with pytest.raises(VitsimError, match=msg):
        Network.from_list([rec])


def test_names_are_unique():
    rec = {"name": "a", "kind": "add", "inputs": [], "outputs": ["a"]}
    with pytest.raises(VitsimError, match="name 'a' is used twice"):
        Network.from_list([rec, rec])
