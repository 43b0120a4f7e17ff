"""The analytic model's weight bytes equal the packed weights of a network package."""

import pytest
import torch

from golden.model_cfg import ViTCfg
from golden.netpkg import read_network
from models.checkpoint import save_checkpoint
from models.golden_export import export_golden
from models.registry import create_model
from sim.analytic.footprint import op_cost
from sim.analytic.schemes import scheme_preset
from sim.analytic.workload import vit_ops


@pytest.mark.parametrize("name,preset", [("gsb_vit_digits", "gsb"),
                                         ("binary_vit_digits", "binary")])
def test_weight_bytes_equal_the_package_tensor_by_tensor(name, preset, tmp_path,
                                                         torch_one_thread):
    torch.manual_seed(0)
    model = create_model(name, depth=2)
    with torch.no_grad():
        model(torch.rand(4, 1, 8, 8) * 2 - 1)
    ckpt = save_checkpoint(str(tmp_path / "ck"), model, extra={"data": "digits"})
    pkg = read_network(export_golden(ckpt, tmp_path / "pkg", images=1, calib=16).path)
    vit = ViTCfg.from_dict(pkg.manifest["model"]["vit"])
    gsb = pkg.manifest["model"]["gsb"]
    scheme = scheme_preset(preset, embed_bits=gsb["embed_bits"])
    assert scheme.groups == 1 + len(gsb["thresholds"])
    compared = 0
    for op in vit_ops(vit):
        if op.role == "norm":  # LayerNorm's affine is folded into the next op's thresholds
            continue
        for t in op_cost(op, vit, scheme).tensors:
            if t.name == "weight":
                stored = pkg.tensors[f"{op.name}.w"]
                assert t.nbytes == stored.nbytes, op.name
                assert pkg.manifest["encoding"][f"{op.name}.w"]["bits"] == t.bits, op.name
                compared += 1
    # patch embedding, 4 linears per block, two heads
    assert compared == 1 + 4 * vit.depth + 2
