"""Integer mode of uniform-LSQ and Q-ViT models: torch == numpy on every tensor, static
bounds, golden packages, head-wise kernels, and agreement with the fake-quant model."""

import json

import numpy as np
import pytest
import torch

from golden.headwise import group_matmul, group_matmul_bound, int_bmm, int_bmm_bound
from golden.netpkg import load_network, read_network
from golden.netspec import Op
from golden.network import OPS, run_network
from models.checkpoint import save_checkpoint
from models.int_export_qvit import quantizer_params
from models.int_kernels import TORCH_OPS
from models.intmode import to_integer
from models.registry import create_model
from sim.cli import main

#: Non-uniform head widths (2 heads) set on a Q-ViT model before export.
HEAD_BITS = {"quant_q": [2, 8], "quant_k": [3, 5], "quant_v": [4, 3], "quant_attn": [3, 8],
             "quant_output": [8, 2], "q.w_quant": [3, 5], "k.w_quant": [8, 2],
             "v.w_quant": [6, 4], "proj.w_quant": [2, 7]}


def _images(n: int, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, 17, (n, 1, 8, 8), generator=g).float() / 8 - 1  # digits grid


def _random_model(name: str, seed: int = 0, head_bits: bool = False, **fields):
    """A model with random biases, its scale tables initialised by one forward; with
    ``head_bits``, block 0's attention gets the widths of :data:`HEAD_BITS`."""
    torch.manual_seed(seed)
    model = create_model(name, depth=fields.pop("depth", 2), **fields)
    with torch.no_grad():
        for pname, p in model.named_parameters():
            if pname.endswith(".bias") and "quant" not in pname:
                p.add_(torch.randn_like(p) * 0.05)
        model(_images(8, seed))
        if head_bits:
            attn = model.blocks[0].attn
            for path, bits in HEAD_BITS.items():
                q = attn.get_submodule(path)
                q.bits.copy_(torch.tensor(bits, dtype=torch.float32))
            model.blocks[-1].mlp.quant_gelu.bits.fill_(3.0)
    return model


def _assert_same(trace: dict, out: dict) -> None:
    assert trace.keys() == out.keys()
    for name, t in trace.items():
        a = t.numpy()
        assert a.shape == out[name].shape, name
        assert np.array_equal(a, out[name]), f"{name}: first difference at " \
            f"{np.argwhere(a != out[name])[0].tolist()}"


CASES = {
    "lsq-w4a4": ("lsq_w4a4_vit_digits", {}, False),
    "lsq-w3a3-depth1": ("lsq_w3a3_vit_digits", {"depth": 1}, False),
    "lsq-embed6": ("lsq_w4a4_vit_digits", {"embed_bits": 6, "depth": 1}, False),
    "qvit-head-bits": ("qvit_vit_digits", {}, True),
    "qvit-reference-axis": ("qvit_vit_digits", {"weight_axis": "reference", "depth": 1}, True),
    "qvit-signed-gelu": ("qvit_vit_digits", {"gelu_offset": False, "depth": 1}, True),
    "qvit-not-head-wise": ("qvit_vit_digits", {"head_wise": False, "depth": 1}, False),
}


@pytest.mark.parametrize("case", list(CASES))
def test_torch_integer_mode_equals_numpy_on_every_tensor(case, torch_one_thread):
    name, fields, head_bits = CASES[case]
    model = _random_model(name, head_bits=head_bits, **fields)
    int_model = to_integer(model, _images(32, 1))
    codes = int_model.codes(_images(5, 2))
    trace = int_model.trace(codes)
    out = run_network(int_model.net.ops, {**int_model.net.params, "image": codes.numpy()})
    _assert_same(trace, out)
    kinds = {op.kind for op in int_model.ops}
    assert {"patch_matmul", "int_matmul", "int_bmm", "requant", "layernorm", "softmax",
            "gelu", "add", "to_heads", "merge_heads"} <= kinds
    assert ("group_matmul" in kinds) == head_bits  # head-wise scales on a reduction axis
    assert int_model.net.meta["scheme"] == name.split("_")[0]
    if fields.get("embed_bits", 8) < 8:  # int8 image codes clamped to embed_bits first
        assert int(trace["image.codes"].min()) >= -32 and int(trace["image.codes"].max()) <= 31


def test_head_widths_are_recorded_and_respected(torch_one_thread):
    model = _random_model("qvit_vit_digits", head_bits=True)
    int_model = to_integer(model, _images(32, 1))
    ops = {op.name: op for op in int_model.ops}
    q = ops["blocks.0.attn.q.codes"]
    assert q.q_bits == [2, 8] and q.out_bits == 8 and q.q_signed
    assert q.lo[:32] == [-2] * 32 and q.hi[32:] == [127] * 32  # per channel clamps
    a = ops["blocks.0.attn.a"]
    assert a.q_bits == [3, 8] and not a.out_signed and a.out_bits == 8
    assert a.hi == [[[7]], [[255]]]  # per head clamps of [B, H, N, N]
    qk = ops["blocks.0.attn.qk"]
    assert qk.kind == "int_bmm" and qk.a_bits == [2, 8] and qk.b_bits == [3, 5]
    assert ops["blocks.0.attn.q"].w_head_bits == [3, 5]
    proj = ops["blocks.0.attn.proj"]
    assert proj.kind == "group_matmul" and proj.a_bits == [8, 2]
    assert proj.w_bits == [2, 7] and proj.groups == 2
    fc2 = ops["blocks.1.mlp.fc2"]
    assert fc2.a_bits == 3 and fc2.a_head_bits == [3]  # shifted unsigned GELU codes
    trace = int_model.trace(int_model.codes(_images(6, 3)))
    for name, want in (("blocks.0.attn.q.codes", [(-2, 1), (-128, 127)]),
                       ("blocks.0.attn.a", [(0, 7), (0, 255)])):
        t = trace[name]
        parts = t.reshape(*t.shape[:-1], 2, -1).movedim(-2, 0) if t.dim() == 3 \
            else t.movedim(1, 0)
        for part, (lo, hi) in zip(parts, want, strict=True):
            assert lo <= int(part.min()) and int(part.max()) <= hi, name
    assert int(trace["blocks.1.mlp.fc2.in"].min()) >= -4
    assert int(trace["blocks.1.mlp.fc2.in"].max()) <= 3


def test_corner_images_stay_inside_every_static_bound(torch_one_thread):
    """All-max, all-min and checkerboard images: every accumulator within its bound."""
    int_model = to_integer(_random_model("qvit_vit_digits", seed=3, head_bits=True),
                           _images(32, 1))
    codes = torch.stack([torch.full((1, 8, 8), 127), torch.full((1, 8, 8), -128),
                         (torch.arange(64).reshape(1, 8, 8) % 2) * 255 - 128]).to(torch.int8)
    trace = int_model.trace(codes)
    out = run_network(int_model.net.ops, {**int_model.net.params, "image": codes.numpy()})
    _assert_same(trace, out)
    p = int_model.net.params
    checked = 0
    for op in int_model.ops:
        if "acc_bound" not in op.params:
            continue
        lo, hi = op.acc_bound
        if op.kind == "requant":  # the bound covers |acc * mult| + |bias|
            acc = trace.get(op.inputs[0], codes.long()).abs().max().item()
            worst = acc * int(np.abs(p[op.inputs[1]]).max()) \
                + int(np.abs(p[op.inputs[2]]).max())
            assert worst <= hi, op["name"]
        else:
            y = trace[op.outputs[0]]
            assert lo <= int(y.min()) and int(y.max()) <= hi, op["name"]
            assert hi < 2**31 and lo >= -2**31, op["name"]  # requantiser inputs are 32-bit
        checked += 1
    assert checked >= 30


def test_first_quantizers_agree_with_the_fake_quant_model(torch_one_thread):
    """The integer codes of the first quantizers equal the fake-quant codes but for rare
    rounding differences of one step, and the classes mostly agree."""
    model = _random_model("qvit_vit_digits", seed=4, head_bits=True)
    x = _images(64, 5)
    int_model = to_integer(model, _images(64, 1))
    trace = int_model.trace(int_model.codes(x))
    got = {}
    attn = model.blocks[0].attn
    hooks = [q.register_forward_hook(lambda m, a, o, key=key: got.__setitem__(key, o))
             for key, q in (("in", attn.quant_input), ("q", attn.quant_q))]
    with torch.no_grad():
        logits = model(x)
    for h in hooks:
        h.remove()
    qp = quantizer_params(attn.quant_input)
    want = torch.round(got["in"].double() / qp.alpha[0]).long()
    t = trace["blocks.0.attn.in"]
    assert (want - t).abs().max() <= 1 and (want == t).double().mean() >= 0.99
    qp = quantizer_params(attn.quant_q)
    alpha = torch.tensor(qp.alpha).reshape(1, 2, 1, 1)
    want = torch.round(got["q"].double() / alpha).long().transpose(1, 2).reshape(64, 17, 64)
    t = trace["blocks.0.attn.q.codes"]
    head0, head1 = (want - t)[..., :32], (want - t)[..., 32:]  # 2 and 8 bits
    assert head0.abs().max() <= 1 and (head0 == 0).double().mean() >= 0.99
    assert head1.abs().max() <= 4 and (head1 == 0).double().mean() >= 0.9
    scale = int_model.net.meta["logit_scale"]
    ints = trace["logits"].double() * scale
    assert (ints.argmax(-1) == logits.argmax(-1)).double().mean() >= 0.9
    assert (ints - logits.double()).abs().max() < 0.25 * logits.abs().max()


def test_each_scheme_takes_its_own_export():
    from golden.errors import VitsimError

    fp = to_integer(create_model("fp_vit_digits", depth=1), _images(4, 0))
    assert fp.net.meta["scheme"] == "int8"  # float: 8-bit post-training
    with pytest.raises(VitsimError, match="integer mode needs a binary or gsb model"):
        to_integer(create_model("gsb_vit_digits", depth=1, stage=1), _images(4, 0))


# --- head-wise golden kernels and their torch twins -------------------------------------


def test_int_bmm_checks_each_head_width_and_matches_matmul():
    rng = np.random.default_rng(0)
    a = np.stack([rng.integers(-2, 2, (2, 3, 4)), rng.integers(-8, 8, (2, 3, 4))], axis=1)
    b = np.stack([rng.integers(0, 4, (2, 5, 4)), rng.integers(0, 16, (2, 5, 4))], axis=1)
    out = int_bmm(a, b, a_bits=[2, 4], a_signed=True, b_bits=[2, 4], b_signed=False,
                  trans_b=True)
    assert np.array_equal(out, a @ b.swapaxes(-1, -2))
    lo, hi = int_bmm_bound(4, a_bits=[2, 4], a_signed=True, b_bits=[2, 4], b_signed=False,
                           heads=2)
    assert (lo, hi) == (-4 * 8 * 15, 4 * 7 * 15)
    with pytest.raises(ValueError, match="a head 1 out of range for s2"):
        int_bmm(a, b, a_bits=[2, 2], a_signed=True, b_bits=4, b_signed=False, trans_b=True)
    with pytest.raises(ValueError, match="b head 1 out of range for u2"):
        int_bmm(a, b, a_bits=[4, 4], a_signed=True, b_bits=2, b_signed=False, trans_b=True)
    op = Op("int_bmm", "q", (), (), params={"a_bits": [2, 4], "a_signed": True,
                                            "b_bits": [2, 4], "b_signed": False,
                                            "trans_b": False})
    bt = b.swapaxes(-1, -2).copy()
    want = OPS["int_bmm"](op, a, bt)
    got = TORCH_OPS["int_bmm"](op, torch.from_numpy(a), torch.from_numpy(bt))
    assert np.array_equal(got.numpy(), want) and np.array_equal(want, out)


def test_group_matmul_weights_each_group_and_matches_torch():
    rng = np.random.default_rng(1)
    x = np.concatenate([rng.integers(-128, 128, (2, 3, 4)), rng.integers(-2, 2, (2, 3, 4))],
                       axis=-1)
    w = np.concatenate([rng.integers(-2, 2, (5, 4)), rng.integers(-64, 64, (5, 4))], axis=-1)
    gmult = np.array([3, 1000])
    kw = dict(a_bits=[8, 2], a_signed=True, w_bits=[2, 7], w_signed=True)
    out = group_matmul(x, w, gmult, **kw)
    want = 3 * x[..., :4] @ w[:, :4].T + 1000 * x[..., 4:] @ w[:, 4:].T
    assert np.array_equal(out, want)
    lo, hi = group_matmul_bound(8, gmult, **kw)
    # group 0: s8 x s2, corners -254..256; group 1: s2 x s7, corners -126..128
    assert (lo, hi) == (3 * 4 * -254 + 1000 * 4 * -126, 3 * 4 * 256 + 1000 * 4 * 128)
    with pytest.raises(ValueError, match="a out of range for s2"):
        group_matmul(x, w, gmult, **{**kw, "a_bits": [2, 2]})
    op = Op("group_matmul", "g", (), (), params=kw)
    got = TORCH_OPS["group_matmul"](op, torch.from_numpy(x), torch.from_numpy(w),
                                    torch.from_numpy(gmult))
    assert np.array_equal(got.numpy(), OPS["group_matmul"](op, x, w, gmult))


def test_requant_with_per_head_clamps_matches_numpy():
    x = np.tile(np.arange(-20, 20), 2).reshape(1, 2, 5, 8)
    op = Op("requant", "r", (), (), params={"shift": 2, "lo": [[[-2]], [[0]]],
                                            "hi": [[[1]], [[255]]]})
    mult, bias = np.array([[[1]], [[8]]]), np.array(0)
    want = OPS["requant"](op, x, mult, bias)
    got = TORCH_OPS["requant"](op, torch.from_numpy(x), torch.from_numpy(mult),
                               torch.from_numpy(bias))
    assert np.array_equal(got.numpy(), want)
    assert (want[0, 0].min(), want[0, 0].max(), want[0, 1].min(), want[0, 1].max()) == \
        (-2, 1, 0, 38)


# --- golden packages of lsq/qvit checkpoints ---------------------------------------------


@pytest.fixture(scope="module", params=["lsq", "qvit"])
def ckpt(request, tmp_path_factory):
    torch.set_num_threads(1)
    if request.param == "lsq":
        model = _random_model("lsq_w4a4_vit_digits", depth=1)
    else:
        model = _random_model("qvit_vit_digits", depth=1, head_bits=True)
    return save_checkpoint(str(tmp_path_factory.mktemp("ck") / request.param), model,
                           extra={"data": "digits", "qvit": model.qvit_cfg.to_dict()})


def test_golden_package_of_a_quantized_checkpoint_verifies(ckpt, tmp_path, capsys):
    out = tmp_path / "net"
    assert main(["golden", "--ckpt", ckpt, "--out", str(out), "--images", "2",
                 "--seed", "1"]) == 0
    assert main(["golden", "--verify", str(out)]) == 0
    assert capsys.readouterr().out.strip().endswith("OK")
    pkg = read_network(out)
    man = pkg.manifest
    assert man["model"]["qvit"]["learn_bits"] == ckpt.endswith("qvit")
    assert man["meta"]["scheme"] == ("qvit" if ckpt.endswith("qvit") else "lsq")
    ops, env, expected = load_network(pkg)
    assert np.array_equal(run_network(ops, env)["logits"], expected["logits"])
    enc = man["encoding"]
    w = enc["blocks.0.attn.q.w"]
    assert not w["packed"] and w["bits"] == (5 if ckpt.endswith("qvit") else 4)
    attn = enc["blocks.0.attn.a"]
    assert not attn["signed"] and attn["bits"] == (8 if ckpt.endswith("qvit") else 4)
    assert attn["bits"] == max(next(op for op in ops if op.name == "blocks.0.attn.a")
                               .q_bits)
    json.dumps([op.to_dict() for op in ops])  # the records (per-head clamps too) are JSON
    again = tmp_path / "again"
    assert main(["golden", "--ckpt", ckpt, "--out", str(again), "--images", "2",
                 "--seed", "1"]) == 0
    for name in ("manifest.json", "tensors.npz"):
        assert (again / name).read_bytes() == (out / name).read_bytes()


def test_eval_int_accepts_a_quantized_checkpoint(ckpt, capsys):
    assert main(["eval", "--int", "--ckpt", ckpt]) == 0
    line = capsys.readouterr().out
    assert "integer" in line and "gap" in line
