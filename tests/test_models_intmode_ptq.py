"""8-bit integer mode of float and mixed-rank (low-rank) models: torch == numpy, bounds."""

import numpy as np
import pytest
import torch

from golden.network import run_network
from models.intmode import to_integer
from models.lowrank_layers import replace_linears
from models.registry import create_model


def _images(n: int, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, 17, (n, 1, 8, 8), generator=g).float() / 8 - 1


def _model(lowrank: bool, w_bits: int = 32):
    torch.manual_seed(0)
    model = create_model("fp_vit_digits", depth=2)
    if lowrank:
        ranks = {"blocks.0.attn.qkv": 8, "blocks.0.mlp.fc1": 16, "blocks.1.mlp.fc2": 8,
                 "blocks.0.attn.proj": 0, "blocks.0.mlp.fc2": 0, "blocks.1.attn.qkv": 0,
                 "blocks.1.attn.proj": 0, "blocks.1.mlp.fc1": 0}
        for layer in replace_linears(model, ranks, rank_k=4).values():
            with torch.no_grad():
                layer.weight_a.normal_(0, 0.1)
                layer.weight_b.normal_(0, 0.1)
            if w_bits < 32:
                layer.quantize(w_bits)
    return model.eval()


@pytest.mark.parametrize("lowrank,w_bits", [(False, 32), (True, 32), (True, 8)],
                         ids=["float", "lowrank", "lowrank-w8"])
def test_torch_equals_numpy_and_logits_track_float(lowrank, w_bits, torch_one_thread):
    model = _model(lowrank, w_bits)
    int_model = to_integer(model, _images(32, 1))
    x = _images(6, 2)
    codes = int_model.codes(x)
    trace = int_model.trace(codes)
    out = run_network(int_model.net.ops, {**int_model.net.params, "image": codes.numpy()})
    assert trace.keys() == out.keys()
    for name, t in trace.items():
        assert np.array_equal(t.numpy(), out[name]), name
    kinds = [op.kind for op in int_model.ops]
    assert kinds.count("int_matmul") == 4 * 2 + 2 + (3 if lowrank else 0)
    with torch.no_grad():
        ref = model(x).double()
    got = trace["logits"].double() * int_model.net.meta["logit_scale"]
    assert (got - ref).abs().max() <= 0.1 * ref.abs().max()  # 8 bits: close, not exact


def test_lowrank_layers_run_as_two_chained_matmuls(torch_one_thread):
    int_model = to_integer(_model(True), _images(16, 1))
    names = [op.name for op in int_model.ops]
    i = names.index("blocks.0.attn.qkv.a")
    assert names[i + 1:i + 3] == ["blocks.0.attn.qkv.mid", "blocks.0.attn.qkv.b"]
    widths = int_model.net.widths
    assert widths["blocks.0.attn.qkv.a.w"] == (8, True)
    assert int_model.net.params["blocks.0.attn.qkv.a.w"].shape == (8 + 4, 64)
