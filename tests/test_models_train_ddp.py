"""``vitsim train`` under ``torchrun --nproc_per_node 2`` (DDP, gloo, two CPU processes)
matches the one-process run for the same global batch.

Tolerance: every parameter within 1e-4 absolute of the one-process checkpoint's (measured:
5.4e-6 after one epoch of fp_vit_digits, 22 AdamW steps of 64 images; the two processes
reduce each batch's gradient in another order), and the epoch's mean loss within 1e-5.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from sim.cli import main

ARGS = ["train", "--scheme", "fp", "--data", "digits", "--epochs", "1", "--threads", "1",
        "--no-progress"]


@pytest.mark.slow
def test_torchrun_two_processes_match_one_process(tmp_path, torch_one_thread):
    assert main([*ARGS, "--out", str(tmp_path / "one")]) == 0
    env = {**os.environ, "OMP_NUM_THREADS": "1",
           "PYTHONPATH": os.pathsep.join([str(Path(__file__).parents[1]),
                                          os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node",
         "2", "-m", "sim.cli", *ARGS, "--out", str(tmp_path / "two")],
        env=env, capture_output=True, text=True, timeout=600, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.count("test top-1") == 1  # rank 0 alone writes and reports

    one = torch.load(tmp_path / "one" / "model.pt")
    two = torch.load(tmp_path / "two" / "model.pt")
    assert one.keys() == two.keys()
    diff = max((one[k].double() - two[k].double()).abs().max().item() for k in one)
    moved = max((one[k].double() - init).abs().max().item()
                for k, init in _init_params().items())
    assert diff <= 1e-4, diff
    assert moved > 100 * diff  # training moved the weights far more than the two runs differ
    meta = [json.loads((tmp_path / d / "config.json").read_text()) for d in ("one", "two")]
    assert meta[1]["run"]["world_size"] == 2 and "world_size" not in meta[0]["run"]
    s1, s2 = meta[0]["stages"][0], meta[1]["stages"][0]
    assert s1["steps"] == s2["steps"]
    assert abs(s1["loss"] - s2["loss"]) <= 1e-5


def _init_params() -> dict:
    from models.data import load_data
    from models.registry import create_model

    data = load_data("digits", img_size=8, in_chans=1)
    torch.manual_seed(0)
    net = create_model("fp_vit_digits", num_classes=data.num_classes, img_size=8, in_chans=1)
    return net.state_dict()
