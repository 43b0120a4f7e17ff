"""``vitsim import``: state dicts in the timm, Q-ViT and GSB layouts -> vitsim checkpoints.

Each layout's state dict is written out here from the names and shapes in the public code
(timm's VisionTransformer; Q-ViT DeiT's ``quantvit_mixpre.py`` / ``_quan_base.py``; GSB's
``One_bit_vit_new.py`` / ``quant_new_new.py``), with random values, on a small geometry
(8x8 digits, patch 2, embed 64, 2 heads, depth 1). The imported checkpoint's float forward
is compared with a timm ViT holding the same float weights, built here from the foreign
names (for Q-ViT and GSB with the quantizers switched off, so that only the mapping of the
weights is compared). Tolerance 1e-5 absolute: vitsim's attention computes
``(q @ k^T) * scale`` explicitly, timm's fused or ``(q * scale) @ k^T``.
"""

import argparse
import os
from functools import partial

import pytest
import timm
import torch
from torch import nn

from models.checkpoint import load_checkpoint, read_config
from models.layers import BinaryLinear, QAttention, QHead, _QConv2d
from models.qvit_layers import set_quant
from sim.cli import main

D, H, DEPTH, C, P, CLASSES, HIDDEN = 64, 2, 1, 1, 2, 10, 256
GEO = dict(img_size=8, patch_size=P, in_chans=C, num_classes=CLASSES, embed_dim=D,
           depth=DEPTH, num_heads=H)
ATOL = 1e-5


def _rand(*shape, scale=0.2, offset=0.0):
    return torch.randn(*shape) * scale + offset


def _timm_layout(*, distilled=True, depth=DEPTH, classes=CLASSES) -> dict:
    name = "deit_tiny_distilled_patch16_224" if distilled else "deit_tiny_patch16_224"
    geo = dict(GEO, depth=depth, num_classes=classes)
    model = timm.create_model(name, pretrained=False, **geo)
    return {k: _rand(*v.shape, offset=1.0 if k.endswith("norm1.weight") else 0.0)
            for k, v in model.state_dict().items()}


def _qvit_quant(prefix: str, *, heads=1, bits=5.0, offset=False) -> dict:
    out = {f"{prefix}.nbits": torch.full((heads,), bits),
           f"{prefix}.alpha": torch.rand(7) * 0.2 + 0.02,
           f"{prefix}.init_state": torch.ones(1)}
    if offset:
        out[f"{prefix}.beta"] = -torch.rand(7) * 0.2
    return out


def _qvit_layout(*, head_wise=True) -> dict:
    """Q-ViT DeiT (``QuantVisionTransformer``, mixpre, head-wise) parameter names."""
    h = H if head_wise else 1
    n = (8 // P) ** 2 + 1
    sd = {"cls_token": _rand(1, 1, D), "pos_embed": _rand(1, n, D),
          "patch_embed.proj.weight": _rand(D, C, P, P), "patch_embed.proj.bias": _rand(D),
          **_qvit_quant("patch_embed.quant", bits=8.0),
          **_qvit_quant("patch_embed.proj", bits=8.0)}
    for i in range(DEPTH):
        b = f"blocks.{i}"
        for norm in ("norm1", "norm2"):
            sd.update({f"{b}.{norm}.weight": _rand(D, offset=1.0), f"{b}.{norm}.bias": _rand(D)})
        sd.update(_qvit_quant(f"{b}.attn.quant_input"))
        for lin in ("proj_q", "proj_k", "proj_v", "proj"):
            sd.update({f"{b}.attn.{lin}.weight": _rand(D, D), f"{b}.attn.{lin}.bias": _rand(D),
                       **_qvit_quant(f"{b}.attn.{lin}", heads=h, bits=4.4)})
        for act in ("quant_q", "quant_k", "quant_v", "quant_attn", "quant_output"):
            sd.update(_qvit_quant(f"{b}.attn.{act}", heads=h, bits=3.0))
        sd.update({**_qvit_quant(f"{b}.mlp.quant1"),
                   f"{b}.mlp.fc1.weight": _rand(HIDDEN, D), f"{b}.mlp.fc1.bias": _rand(HIDDEN),
                   **_qvit_quant(f"{b}.mlp.fc1"), **_qvit_quant(f"{b}.mlp.quant2", offset=True),
                   f"{b}.mlp.fc2.weight": _rand(D, HIDDEN), f"{b}.mlp.fc2.bias": _rand(D),
                   **_qvit_quant(f"{b}.mlp.fc2")})
    sd.update({"norm.weight": _rand(D, offset=1.0), "norm.bias": _rand(D),
               **_qvit_quant("quant", bits=8.0), "head.weight": _rand(CLASSES, D),
               "head.bias": _rand(CLASSES), **_qvit_quant("head", bits=8.0)})
    return sd


def _gsb_layout() -> dict:
    """GSB stage-2 DeiT (``lowbit_VisionTransformer``, distilled) parameter names."""
    n = (8 // P) ** 2 + 2
    scalar = lambda: torch.rand(()) * 0.5 + 0.05  # noqa: E731 - AlphaInit: 0-dim
    sd = {"cls_token": _rand(1, 1, D), "dist_token": _rand(1, 1, D),
          "pos_embed": _rand(1, n, D), "patch_embed.proj.weight": _rand(D, C, P, P),
          "patch_embed.proj.bias": _rand(D), "patch_embed.proj.alpha": torch.rand(D) * 0.01,
          "patch_embed.proj.init_state": torch.ones(1)}
    for i in range(DEPTH):
        b = f"blocks.{i}"
        for norm in ("norm1", "norm2"):
            sd.update({f"{b}.{norm}.weight": _rand(D, offset=1.0), f"{b}.{norm}.bias": _rand(D)})
        for clip in ("query", "key", "value", "value2", "value3", "attn", "attn2", "attn3"):
            sd[f"{b}.attn.clip_{clip}"] = scalar()
        for lin, (o, i_) in (("attn.qkv", (3 * D, D)), ("attn.proj", (D, D)),
                             ("mlp.fc1", (HIDDEN, D)), ("mlp.fc2", (D, HIDDEN))):
            sd.update({f"{b}.{lin}.weight": _rand(o, i_), f"{b}.{lin}.bias": _rand(o),
                       f"{b}.{lin}.input_clip_val": scalar(), f"{b}.{lin}.move.bias": _rand(i_)})
        for mv in ("move_q", "move_k", "move_v"):
            sd[f"{b}.attn.{mv}.bias"] = _rand(H, 1, D // H)
        sd[f"{b}.attn.move_att.bias"] = _rand(H, n, n, scale=0.01)
    sd.update({"norm.weight": _rand(D, offset=1.0), "norm.bias": _rand(D)})
    for head in ("head", "head_dist"):
        sd.update({f"{head}.weight": _rand(CLASSES, D), f"{head}.bias": _rand(CLASSES),
                   f"{head}.weight_clip_val": scalar(), f"{head}.input_clip_val": scalar(),
                   f"{head}.move.bias": _rand(D)})
    return sd


def _timm_twin(sd: dict, layout: str) -> torch.nn.Module:
    """A timm ViT holding the float weights of the foreign state dict ``sd``.

    The GSB layout's twin has the authors' LayerNorm eps (1e-12, ``Q_OVitLayerNorm``).
    """
    distilled = "dist_token" in sd
    name = "deit_tiny_distilled_patch16_224" if distilled else "deit_tiny_patch16_224"
    eps = 1e-12 if layout == "gsb" else 1e-6
    model = timm.create_model(name, pretrained=False, norm_layer=partial(nn.LayerNorm, eps=eps),
                              **GEO)
    state = {}
    for k in model.state_dict():
        if layout == "qvit" and k.rsplit(".", 1)[0].endswith("attn.qkv"):
            leaf = k.rsplit(".", 1)[1]
            base = k[: -len(f"qkv.{leaf}")]
            state[k] = torch.cat([sd[f"{base}proj_{x}.{leaf}"] for x in "qkv"])
        else:
            state[k] = sd[k]
    model.load_state_dict(state)
    return model.eval()


def _float_view(model) -> torch.nn.Module:
    """Switch every quantizer of an imported Q-ViT or GSB model off (float forward)."""
    set_quant(model, False)
    for m in model.modules():
        if isinstance(m, BinaryLinear):
            m.quant_weight = m.quant_act = False
        elif isinstance(m, QAttention):
            m.qcfg = None
        elif isinstance(m, (QHead, _QConv2d)):
            m.enabled = False
    return model.eval()


CASES = {  # layout -> (vitsim model, foreign state dict, --cfg)
    "timm": ("fp_vit_digits", _timm_layout, ["depth=1"]),
    "qvit": ("qvit_vit_digits", _qvit_layout, ["depth=1"]),
    "gsb": ("gsb_vit_digits", _gsb_layout, ["depth=1"]),
}


def _argv(layout, model, pth, out, cfg):
    return ["import", "--from", layout, "--model", model, str(pth), "--out", str(out),
            *[a for c in cfg for a in ("--cfg", c)]]


@pytest.mark.parametrize("layout", list(CASES))
def test_import_then_eval_forward_equals_the_same_weights(layout, tmp_path, capsys):
    torch.manual_seed(1)
    model_name, build, cfg = CASES[layout]
    sd = build()
    pth, out = tmp_path / f"{layout}.pth", tmp_path / "ckpt"
    # as the DeiT-style scripts save it: Q-ViT's args hold act_layer = nn.GELU (a class)
    args = argparse.Namespace(lr=5e-4, act_layer=torch.nn.GELU, output_dir="out")
    torch.save({"model": sd, "optimizer": {"state": {}, "param_groups": []}, "epoch": 3,
                "args": args}, pth)
    assert main(_argv(layout, model_name, pth, out, cfg)) == 0
    assert f"{model_name}: " in capsys.readouterr().out
    meta = read_config(str(out))
    assert meta["imported"]["from"] == layout and meta["vit"]["depth"] == DEPTH

    over = {k: v for k, v in meta["qvit"].items() if k != "kind"} if layout == "qvit" else {}
    model, _ = load_checkpoint(str(out), **over)
    if layout != "timm":
        model = _float_view(model)
    x = torch.randn(5, C, 8, 8)
    with torch.no_grad():
        got, want = model.eval()(x), _timm_twin(sd, layout)(x)
    torch.testing.assert_close(got, want, atol=ATOL, rtol=0)

    assert main(["eval", "--ckpt", str(out)]) == 0  # the quantized model, on digits
    assert "top-1" in capsys.readouterr().out


def test_qvit_quantizer_tables_land_on_their_quantizers(tmp_path):
    torch.manual_seed(2)
    sd = _qvit_layout()
    # saved from a DistributedDataParallel wrapper: every name starts with "module."
    torch.save({f"module.{k}": v for k, v in sd.items()}, tmp_path / "q.pth")
    assert main(_argv("qvit", "qvit_vit_digits", tmp_path / "q.pth", tmp_path / "c",
                      ["depth=1"])) == 0
    meta = read_config(str(tmp_path / "c"))
    assert meta["qvit"]["weight_axis"] == "reference"  # the authors' head axis
    model, _ = load_checkpoint(str(tmp_path / "c"),
                               **{k: v for k, v in meta["qvit"].items() if k != "kind"})
    blk = model.blocks[0]
    pairs = [(model.patch_embed.proj.x_quant, "patch_embed.quant"),
             (model.patch_embed.proj.w_quant, "patch_embed.proj"),
             (blk.attn.q.w_quant, "blocks.0.attn.proj_q"), (blk.attn.proj.w_quant,
                                                            "blocks.0.attn.proj"),
             (blk.attn.quant_attn, "blocks.0.attn.quant_attn"),
             (blk.mlp.quant_in, "blocks.0.mlp.quant1"), (blk.mlp.quant_gelu,
                                                         "blocks.0.mlp.quant2"),
             (model.head.x_quant, "quant"), (model.head.w_quant, "head")]
    for q, key in pairs:
        assert torch.equal(q.alpha, sd[f"{key}.alpha"]) and torch.equal(q.bits, sd[f"{key}.nbits"])
        assert bool(q.initialized)
    assert torch.equal(blk.mlp.quant_gelu.beta, sd["blocks.0.mlp.quant2.beta"])
    assert meta["bit_map"]["blocks"][0]["w_q"] == [4, 4]


def test_gsb_scales_are_stacked_in_plane_order(tmp_path):
    torch.manual_seed(3)
    sd = _gsb_layout()
    torch.save({"state_dict": sd}, tmp_path / "g.pth")
    assert main(_argv("gsb", "gsb_vit_digits", tmp_path / "g.pth", tmp_path / "c",
                      ["depth=1"])) == 0
    model, _ = load_checkpoint(str(tmp_path / "c"))
    attn = model.blocks[0].attn
    a = "blocks.0.attn."
    assert torch.equal(attn.v_quant.alpha, torch.stack([sd[a + "clip_value"],
                                                        sd[a + "clip_value2"],
                                                        sd[a + "clip_value3"]]))
    assert torch.equal(attn.attn_quant.alpha, torch.stack([sd[a + "clip_attn"],
                                                           sd[a + "clip_attn2"],
                                                           sd[a + "clip_attn3"]]))
    assert torch.equal(attn.q_quant.alpha, sd[a + "clip_query"])
    assert torch.equal(attn.move_attn.bias, sd[a + "move_att.bias"])
    assert torch.equal(model.head_dist.w_quant.alpha, sd["head_dist.weight_clip_val"])
    assert torch.equal(model.patch_embed.proj.w_quant.alpha, sd["patch_embed.proj.alpha"])
    assert all(bool(m.initialized) for m in model.modules() if hasattr(m, "initialized"))


@pytest.mark.parametrize("layout", list(CASES))
def test_imported_checkpoint_writes_and_verifies_a_golden_package(layout, tmp_path, capsys):
    torch.manual_seed(4)
    model_name, build, cfg = CASES[layout]
    torch.save(build(), tmp_path / "in.pth")
    assert main(_argv(layout, model_name, tmp_path / "in.pth", tmp_path / "c", cfg)) == 0
    pkg = tmp_path / "pkg"
    assert main(["golden", "--ckpt", str(tmp_path / "c"), "--out", str(pkg),
                 "--images", "1"]) == 0
    assert main(["golden", "--verify", str(pkg)]) == 0
    capsys.readouterr()


def _drop(key):
    return lambda sd: {k: v for k, v in sd.items() if k != key}


def _reshape(key, shape):
    return lambda sd: {**sd, key: torch.zeros(shape)}


BAD = [  # id, layout, model, --cfg, how the file is made, message
    ("another-model", "timm", "fp_vit_digits", ["depth=1"], _reshape("head.weight", (5, D)),
     "parameter 'head.weight' has shape [5, 64], the model needs [10, 64]"),
    ("missing-key", "timm", "fp_vit_digits", ["depth=1"], _drop("blocks.0.norm2.bias"),
     "missing parameter 'blocks.0.norm2.bias' (vitsim 'blocks.0.norm2.bias')"),
    ("deeper-model", "timm", "fp_vit_digits", ["depth=1"],
     lambda sd: _timm_layout(depth=2), "unexpected parameter 'blocks.1.norm1.weight'"),
    ("qvit-missing-offset", "qvit", "qvit_vit_digits", ["depth=1"],
     _drop("blocks.0.mlp.quant2.beta"),
     "missing parameter 'blocks.0.mlp.quant2.beta' (vitsim 'blocks.0.mlp.quant_gelu.beta')"),
    ("qvit-per-tensor-widths", "qvit", "qvit_vit_digits", ["depth=1"],
     lambda sd: _qvit_layout(head_wise=False),
     "parameter 'blocks.0.attn.proj_q.nbits' has shape [1], the model needs [2]"),
    ("qvit-embed-bits", "qvit", "qvit_vit_digits", ["depth=1"],
     lambda sd: {**sd, "head.nbits": torch.tensor([6.0])},
     "parameter 'head.nbits' rounds to 6 bits, the model has embed_bits=8"),
    ("qvit-use-offset", "qvit", "qvit_vit_digits", ["depth=1"],
     lambda sd: {**sd, "blocks.0.attn.quant_input.beta": torch.zeros(7)},
     "unexpected parameter 'blocks.0.attn.quant_input.beta' for this model in the qvit layout"),
    ("gsb-missing-plane", "gsb", "gsb_vit_digits", ["depth=1"],
     _drop("blocks.0.attn.clip_value3"),
     "missing parameter 'blocks.0.attn.clip_value3' (vitsim 'blocks.0.attn.v_quant.alpha')"),
    ("gsb-into-fp", "gsb", "fp_vit_digits", ["depth=1"], lambda sd: sd,
     "--model: --from gsb imports into a gsb_* model, not 'fp_vit_digits'"),
    ("bad-cfg", "timm", "fp_vit_digits", ["depth=0"], lambda sd: sd, "depth"),
    ("list", "timm", "fp_vit_digits", ["depth=1"], lambda sd: [1, 2, 3],
     "not a state dict (holds list)"),
    ("non-tensor", "timm", "fp_vit_digits", ["depth=1"], lambda sd: {"model": {"a": 1}},
     "not a state dict (entry 'a' is a int, not a tensor)"),
    ("pickled-code", "timm", "fp_vit_digits", ["depth=1"],
     lambda sd: {"model": sd, "when": os.stat_result((0,) * 10)},
     "holds Python objects (os.stat_result) that a weights-only load refuses to unpickle"),
    ("text-file", "timm", "fp_vit_digits", ["depth=1"], None, "not a torch file ("),
    ("no-file", "timm", "fp_vit_digits", ["depth=1"], "missing", "no such file"),
]


@pytest.mark.parametrize("case", BAD, ids=[c[0] for c in BAD])
def test_bad_input_is_one_line_exit_2_nothing_written(case, tmp_path, capsys):
    _, layout, model, cfg, make, message = case
    torch.manual_seed(5)
    pth = tmp_path / "in.pth"
    if make is None:
        pth.write_text("not a torch file\n")
    elif make != "missing":
        torch.save(make(CASES[layout][1]()), pth)
    out = tmp_path / "out" / "ckpt"
    assert main(_argv(layout, model, pth, out, cfg)) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err, err
    assert not (tmp_path / "out").exists() or os.listdir(tmp_path / "out") == []
