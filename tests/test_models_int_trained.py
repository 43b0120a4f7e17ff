"""Integer mode on briefly trained checkpoints of every quantized scheme (not random ones).

Each scheme (fp: 8-bit post-training) trains a one-block digits ViT for 10 + 10 epochs
(about 10 s on one thread), is saved as a checkpoint, exported as a network package and
checked: PyTorch integer mode equals the numpy reference on every tensor, the package
verifies, and integer mode predicts the float model's class on at least 90 % of the test
images.
"""

import numpy as np
import pytest
import torch

from golden.model_cfg import TrainCfg
from golden.netpkg import load_network, read_network, verify_network
from golden.network import run_network
from models.checkpoint import save_checkpoint
from models.data import load_digits_split
from models.golden_export import export_golden, load_int_model
from models.train import train_scheme

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module", params=["fp", "binary", "gsb", "lsq", "qvit"])
def trained(request, tmp_path_factory):
    torch.set_num_threads(1)
    data = load_digits_split()
    cfg = TrainCfg(epochs=10, batch_size=64, seed=0)
    over = {"per_image": True} if request.param in ("binary", "gsb") else {}
    model, _ = train_scheme(request.param, data, cfg, stage1_epochs=10, progress=False,
                            depth=1, **over)
    extra = {"data": "digits"}
    if request.param in ("lsq", "qvit"):
        extra["qvit"] = model.qvit_cfg.to_dict()
    path = save_checkpoint(str(tmp_path_factory.mktemp("ck") / request.param), model,
                           extra=extra)
    return request.param, path, data


def test_trained_package_verifies_and_matches_torch(trained, tmp_path):
    _, path, _ = trained
    pkg = read_network(export_golden(path, tmp_path / "pkg", images=3, calib=64).path)
    assert verify_network(pkg) == []
    int_model, _, _, _ = load_int_model(path, calib=64)
    ops, env, expected = load_network(pkg)
    trace = int_model.trace(torch.from_numpy(env["image"]).to(torch.int8))
    out = run_network(ops, env)
    for name, t in trace.items():
        assert np.array_equal(t.numpy(), out[name]), name
        assert np.array_equal(out[name], expected[name]), name


def test_integer_mode_predicts_like_the_float_model(trained):
    _, path, data = trained
    int_model, model, _, _ = load_int_model(path, calib=64)
    x = torch.stack([data.test[i][0] for i in range(len(data.test))])
    with torch.no_grad():
        agree = (model(x).argmax(-1) == int_model(x).argmax(-1)).float().mean().item()
    assert agree >= 0.9, agree
