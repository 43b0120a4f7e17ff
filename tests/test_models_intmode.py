"""PyTorch integer mode == numpy golden network, on every intermediate, for binary and GSB."""

import numpy as np
import pytest
import torch

from golden.network import run_network
from models.intmode import to_integer
from models.registry import create_model


def _random_model(name: str, seed: int = 0, **fields):
    """A stage-2 model with random (non-zero) shifts and biases, scales initialised."""
    torch.manual_seed(seed)
    model = create_model(name, depth=fields.pop("depth", 2), **fields)
    with torch.no_grad():
        for pname, p in model.named_parameters():
            if pname.endswith("bias"):
                p.add_(torch.randn_like(p) * 0.05)
        model(_images(8, seed))
    return model


def _images(n: int, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, 17, (n, 1, 8, 8), generator=g).float() / 8 - 1  # digits grid


def _assert_same(trace: dict, out: dict) -> None:
    assert trace.keys() == out.keys()
    for name, t in trace.items():
        a = t.numpy()
        assert a.shape == out[name].shape, name
        assert np.array_equal(a, out[name]), f"{name}: first difference at " \
            f"{np.argwhere(a != out[name])[0].tolist()}"


@pytest.mark.parametrize("name,fields", [
    ("gsb_vit_digits", {}),
    ("gsb_vit_digits", {"thresholds": (0.5,), "depth": 1}),
    ("binary_vit_digits", {}),
], ids=["gsb", "gsb-one-threshold", "binary"])
def test_torch_integer_mode_equals_numpy_on_every_tensor(name, fields, torch_one_thread):
    model = _random_model(name, **fields)
    int_model = to_integer(model, _images(32, 1))
    codes = int_model.codes(_images(5, 2))
    trace = int_model.trace(codes)
    env = {**int_model.net.params, "image": codes.numpy()}
    out = run_network(int_model.net.ops, env)
    _assert_same(trace, out)
    kinds = {op.kind for op in int_model.ops}
    assert {"layernorm", "softmax", "gelu", "gsb_av", "gsb_attn_planes", "threshold",
            "binary_matmul", "requant", "add", "int_matmul", "patch_matmul"} <= kinds


def test_corner_images_stay_inside_every_static_bound(torch_one_thread):
    """All-max, all-min and checkerboard images: every accumulator within its bound."""
    int_model = to_integer(_random_model("gsb_vit_digits", seed=3), _images(32, 1))
    codes = torch.stack([torch.full((1, 8, 8), 127), torch.full((1, 8, 8), -128),
                         (torch.arange(64).reshape(1, 8, 8) % 2) * 255 - 128]).to(torch.int8)
    trace = int_model.trace(codes)
    out = run_network(int_model.net.ops, {**int_model.net.params, "image": codes.numpy()})
    _assert_same(trace, out)
    checked = 0
    for op in int_model.ops:
        if "acc_bound" in op.params:
            lo, hi = op.acc_bound
            if op.kind == "requant":  # the bound covers |acc * mult| + |bias|
                p = int_model.net.params
                acc = trace[op.inputs[0]].abs().max().item()
                worst = acc * int(np.abs(p[op.inputs[1]]).max()) \
                    + int(np.abs(p[op.inputs[2]]).max())
                assert worst <= hi, op["name"]
            else:
                y = trace[op.outputs[0]]
                assert lo <= int(y.min()) and int(y.max()) <= hi, op["name"]
            checked += 1
    assert checked >= 20


def test_float_and_integer_binarisers_agree(torch_one_thread):
    """With non-zero shifts, the integer thresholds code the same signs as the float model.

    The qkv input's signs agree except at near-ties (|LN(x) + move| <= 1e-3, where the
    LayerNorm eps and the integer square root's floor decide: seed 4 has one, -5.4e-5, at
    image 1 token 11); q and V agree on every token whose qkv input agrees.
    """
    model = _random_model("gsb_vit_digits", seed=4)
    x = _images(6, 5)
    int_model = to_integer(model, _images(32, 1))
    trace = int_model.trace(int_model.codes(x))
    got = {}
    attn = model.blocks[0].attn
    hooks = [attn.qkv.act_quant.register_forward_pre_hook(
                 lambda m, a: got.__setitem__("qkv", a[0].detach())),
             attn.q_quant.register_forward_hook(lambda m, a, o: got.__setitem__("q", o)),
             attn.v_quant.register_forward_pre_hook(lambda m, a: got.__setitem__("v", a[0]))]
    with torch.no_grad():
        model(x)
    for h in hooks:
        h.remove()
    bits = trace["blocks.0.attn.qkv.in"].long() * 2 - 1
    want = torch.sign(got["qkv"]).long()
    tie = got["qkv"].abs() <= 1e-3
    assert tie.float().mean() <= 1e-3
    assert torch.equal(bits[~tie], want[~tie])
    token_ok = (bits == want).all(-1)[:, None, :, None]  # [B, 1, N, 1] over [B, H, N, d]
    assert token_ok.float().mean() >= 0.95
    for key, val in (("blocks.0.attn.q", got["q"]), ("blocks.0.attn.v_sign", got["v"])):
        sign = trace[key].long() * 2 - 1
        ok = token_ok.expand_as(sign)
        assert torch.equal(sign[ok], torch.sign(val).long()[ok]), key


def test_stage1_models_are_refused():
    from golden.errors import VitsimError

    stage1 = create_model("gsb_vit_digits", depth=1, stage=1)
    with pytest.raises(VitsimError, match="at stage 2"):
        to_integer(stage1, _images(4, 0))
