"""Whole-network corner cases: every input and weight at an extreme code, golden and RTL.

A GSB and a Q-ViT digits network of depth 1 (no training) get their matrix weights set,
after the forward pass that initialises the quantiser scales, to a large magnitude of
alternating sign, so every weight code is the minimum or maximum its width allows. The
package is written by the normal ``vitsim golden`` path, with the image codes replaced by
three extreme images: all -128, all 127, and the two alternating. Checked:

- the package verifier ran on it: every tensor against its declared width, every
  accumulator output against its op's ``acc_bound``;
- the numpy golden re-run equals the torch integer trace on every op output (``==``);
- the accelerator RTL on Verilator equals the golden on every compared tensor, per image.
"""

from pathlib import Path

import numpy as np
import pytest
import torch
from netpkgs import check_accel_run

import golden.netpkg as netpkg
import models.golden_export as golden_export
from golden.netpkg import read_network, verify_network
from models.checkpoint import save_checkpoint
from models.registry import create_model
from sim.cli import main

MODELS = {"gsb": "gsb_vit_digits", "qvit": "qvit_vit_digits"}
IMAGES = ("min", "max", "alternating")
BIG = 1000.0  # weight magnitude, in units of the largest initial weight


def extreme_codes(shape) -> torch.Tensor:
    """Images ``[3, *shape]`` of int8 codes: all -128, all 127, and -128/127 alternating
    along the flattened pixel order (a checkerboard on even widths)."""
    n = int(np.prod(shape))
    alt = torch.where(torch.arange(n) % 2 == 0, -128, 127).reshape(shape)
    return torch.stack([torch.full(shape, -128), torch.full(shape, 127), alt]).to(torch.int8)


def _extreme_checkpoint(root: Path, model: str) -> str:
    torch.manual_seed(0)
    net = create_model(model, depth=1)
    cfg = net.vit_cfg
    with torch.no_grad():
        for name, p in net.named_parameters():
            if name.endswith("bias"):
                p.add_(torch.randn_like(p) * 0.05)
        net(torch.rand(8, cfg.in_chans, cfg.img_size, cfg.img_size) * 2 - 1)
        for _, p in net.named_parameters():
            if p.dim() >= 2:  # matrix and convolution weights; scales stay as initialised
                sign = torch.where(torch.arange(p.numel()) % 2 == 0, 1.0, -1.0)
                p.copy_(sign.reshape(p.shape) * BIG * p.abs().max())
    return save_checkpoint(str(root / "ck"), net, extra={"data": "digits"})


def corner_package(root: Path, model: str, monkeypatch) -> Path:
    """``vitsim golden`` of the extreme checkpoint of ``model`` with :func:`extreme_codes`
    as its three images."""
    real = golden_export.load_int_model

    def load(*args, **kwargs):
        int_model, *rest = real(*args, **kwargs)
        int_model.codes = lambda x: extreme_codes(tuple(x.shape[1:]))[:len(x)]
        return (int_model, *rest)

    ckpt = _extreme_checkpoint(root, model)
    out = root / "net"
    with monkeypatch.context() as m:
        m.setattr(golden_export, "load_int_model", load)
        assert main(["golden", "--ckpt", ckpt, "--out", str(out), "--images", "3",
                     "--seed", "3"]) == 0
    return out


@pytest.fixture(scope="module", params=sorted(MODELS))
def corners(request, tmp_path_factory):
    """``(kind, package)`` for each model kind."""
    mp = pytest.MonkeyPatch()
    try:
        yield request.param, corner_package(tmp_path_factory.mktemp(f"corner-{request.param}"),
                                            MODELS[request.param], mp)
    finally:
        mp.undo()


def _weight_names(ops):
    """The weight tensors of the matrix ops (parameters named ``<op>.w``)."""
    return sorted({i for op in ops for i in op.inputs if i.endswith(".w")})


def test_corner_package_holds_extreme_images_and_weights(corners):
    kind, path = corners
    pkg = read_network(path)
    data = netpkg.NetworkData(pkg)
    image = data.tensors["image"]
    assert image.shape[0] == len(IMAGES)
    assert (image[0] == -128).all() and (image[1] == 127).all()
    assert set(np.unique(image[2])) == {-128, 127}
    weights = _weight_names(data.ops)
    assert len(weights) >= 4, weights  # patch embedding, qkv, proj, mlp, head
    for name in weights:
        rec = data.encoding[name]
        bits, signed = rec["bits"], rec["signed"]
        lo, hi = (-(1 << (bits - 1)), (1 << (bits - 1)) - 1) if signed else (0, (1 << bits) - 1)
        values = set(np.unique(data.tensors[name]).tolist())
        assert values == {lo, hi}, f"{kind} {name}: codes {sorted(values)[:6]}, not {lo}/{hi}"


def test_verifier_checks_widths_and_acc_bounds_of_the_corner_package(corners, monkeypatch):
    kind, path = corners
    checked = []
    real = netpkg._check_range

    def spy(name, arr, lo, hi, what, where):
        checked.append((name, what))
        return real(name, arr, lo, hi, what, where)

    monkeypatch.setattr(netpkg, "_check_range", spy)
    pkg = read_network(path)  # a fresh read: the verifier runs, nothing is cached
    ops = netpkg.NetworkData(pkg).ops
    declared = {n for n, what in checked if what.startswith("its declared")}
    assert declared == set(pkg.tensors), "a tensor was not checked against its width"
    bounded = [n for n, what in checked if "acc_bound" in what]
    want = [o for op in ops if op.params.get("acc_bound") is not None
            and "out_bits" not in op.params
            and op.kind not in netpkg._BIT_KINDS | netpkg._SAME_WIDTH for o in op.outputs]
    assert want and sorted(bounded) == sorted(want)
    # the corners are real: some accumulators reach their op's acc_bound exactly
    data = netpkg.NetworkData(pkg)
    bounds = {o: op.params["acc_bound"] for op in ops for o in op.outputs if o in want}
    at_bound = [n for n in want if int(data.tensors[n].min()) == bounds[n][0]
                or int(data.tensors[n].max()) == bounds[n][1]]
    print(f"{kind}: {len(declared)} tensors width-checked, {len(bounded)} accumulator "
          f"outputs checked against acc_bound, {len(at_bound)} reach it: {at_bound}")
    assert at_bound


def test_golden_equals_torch_integer_mode_on_the_corners(corners):
    kind, path = corners
    lines = verify_network(read_network(path))
    assert lines == [], f"{kind}: {len(lines)} op outputs differ; first: {lines[0]}"


@pytest.mark.sim
@pytest.mark.slow
@pytest.mark.parametrize("simulator", ["verilator"], indirect=True)
def test_accelerator_rtl_equals_golden_on_the_corners(simulator, corners, tmp_path):
    from sim.accel_run import run_program
    from sim.compiler import compile_network

    kind, path = corners
    cycles = []
    for image, label in enumerate(IMAGES):
        prog = compile_network(path, image=image)
        res = run_program(prog, tmp_path / f"img{image}", sim=simulator)
        check_accel_run(prog, res)
        cycles.append(res.cycles)
        print(f"{kind} image {label}: {len(prog.descs)} descriptors, {len(res.tensors)} "
              f"tensors bit-exact, {res.cycles} cycles (build {res.build_s:.1f} s)")
    print(f"{kind}: cycles per image {cycles}")
