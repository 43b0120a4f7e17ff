"""Every timm ViT/DeiT GSB shape compiles (any head count, the distillation token, RGB 16x16
patches, odd and 2-mod-4 token counts, DeiT-T/S/B widths), and a DeiT-T-width block runs
bit-exact on Verilator.

Packages come from untrained models (``pretrained=False``, biases perturbed) on a small
local folder of random RGB images, so the golden vectors are those of the model's own
integer export; nothing here is hard-coded from a run.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from accel_checks import shapes_model_matches
from netpkgs import BIG_RTL, run_checked, untrained_package

from golden.netpkg import NetworkData, read_network
from golden.network import im2col
from sim.analytic.accel_cycles import desc_cycles
from sim.compiler import compile_network
from sim.compiler.sizing import MAC_MAX_COLS, MAC_PATCH_LANES, MAC_ROWS, mac_cols, patch_mac_rows
from sim.compiler.tiling import patch_rows

DEIT_T = "gsb_deit_tiny_distilled_patch16_224"
DEIT_S = "gsb_deit_small_distilled_patch16_224"
DEIT_B = "gsb_deit_base_distilled_patch16_224"


def image_folder(root: Path, size: int, classes: int = 2, per_class: int = 2) -> str:
    """A folder of random RGB PNGs (``train/`` and ``test/``, ``classes`` classes)."""
    from PIL import Image

    rng = np.random.default_rng(0)
    for split in ("train", "test"):
        for c in range(classes):
            d = root / split / f"c{c}"
            d.mkdir(parents=True, exist_ok=True)
            for i in range(per_class):
                px = rng.integers(0, 256, (size, size, 3), dtype=np.uint8)
                Image.fromarray(px).save(d / f"{i}.png")
    return str(root)


def deit_package(root: Path, model: str, img: int, **kw) -> Path:
    """``vitsim golden`` of an untrained depth-1 (default) GSB ``model`` at ``img`` pixels,
    two classes, on random RGB images."""
    data = image_folder(root / "imgs", img)
    kw.setdefault("depth", 1)
    return untrained_package(root, model=model, img_size=img, num_classes=2, data=data,
                             **kw)


# (id, model, image side, overrides): tokens = (side / 16)**2 + 2 (distilled) or + 1
SHAPES = [
    ("T-11tok", DEIT_T, 48, {}),                       # 3 heads, 11 tokens (odd)
    ("T-10tok-2heads", DEIT_T, 32, {"num_heads": 2}),  # 6 tokens (2 mod 4)
    ("T-51tok", DEIT_T, 112, {}),                      # 49 patches + 2
    ("T-50tok-nodist", DEIT_T, 112, {"distilled": False}),
    ("T-6heads", DEIT_T, 48, {"num_heads": 6}),
    ("S-18tok", DEIT_S, 64, {}),                       # 6 heads of 64
    ("B-11tok", DEIT_B, 48, {}),                       # 12 heads of 64, MLP 3072
]


@pytest.fixture(scope="module", params=SHAPES, ids=[s[0] for s in SHAPES])
def shape_package(request, tmp_path_factory):
    _, model, img, kw = request.param
    return deit_package(tmp_path_factory.mktemp("deit"), model, img, **kw), request.param


def _gather(desc, scratch, o):
    """The beats operand ``o`` of ``desc`` reads (the gatherer's addressing, in Python):
    ``[beats, elements]``."""
    op = desc.ops[o]
    vl = 1 << op.vl_log
    beats = []
    for idx in np.ndindex(*desc.rn):
        base = op.base + sum(i * s for i, s in zip(idx, op.s, strict=True))
        parts = [scratch[base + k1 * op.d_out + k0 * op.d_in:][:vl]
                 for k1 in range(op.n_out) for k0 in range(op.n_in)]
        beats.append(np.concatenate(parts))
    return np.stack(beats)


def _fields(words, bits, count):
    """``count`` signed ``bits``-wide fields, LSB first, of each row of 32-bit ``words``."""
    out = np.zeros((words.shape[0], count), np.int64)
    for r, row in enumerate(words):
        big = sum(int(w) << (32 * e) for e, w in enumerate(row))
        for i in range(count):
            v = (big >> (i * bits)) & ((1 << bits) - 1)
            out[r, i] = v - (1 << bits) if v >> (bits - 1) else v
    return out


def test_every_shape_compiles_and_its_patch_embedding_reads_im2col(shape_package):
    """The patch embedding's beats, read as the gatherer reads them from the preloaded
    scratchpad, multiply to the package's own patch embedding output (the RGB image
    layout, the MAC width and the wide weight beats together)."""
    pkg, (_, model, img, kw) = shape_package
    prog = compile_network(pkg, image=0)
    net = NetworkData(read_network(pkg))
    assert "logits" in prog.expected and set(prog.outputs) == set(prog.expected)
    mac = prog.cfg.units["mac"]
    assert mac.cols <= MAC_MAX_COLS and 768 % mac.cols == 0
    i = prog.names.index("patch_embed")
    desc = prog.descs[i]
    L = prog.cfg.lanes
    scratch = prog.ext[prog.dump_word - prog.preload // L:prog.dump_word].reshape(-1)
    scratch = scratch.astype(np.int64)
    fb = mac.field_bits
    acts = _gather(desc, scratch, 0)
    a = _fields(acts[:, :mac.cols], 32, mac.cols)  # one pixel an element
    a = ((a & ((1 << fb) - 1)) ^ (1 << (fb - 1))) - (1 << (fb - 1))
    w = _fields(_gather(desc, scratch, 1), fb, mac.rows * mac.cols)
    hp, wp, nt, kt = desc.rn
    a = a.reshape(hp * wp, nt, kt, mac.cols)[:, 0]  # the same patch for every row tile
    w = w.reshape(hp * wp, nt, kt, mac.rows, mac.cols)[0]
    got = np.einsum("pkc,nkrc->pnr", a, w).reshape(hp * wp, -1)
    x = np.asarray(net.get("image", 0))
    assert np.array_equal(a.reshape(hp * wp, -1), im2col(x[None], 16)[0])
    want = np.asarray(net.get("patch_embed", 0))  # the package's own output
    assert np.array_equal(got[:, :want.shape[-1]], want.reshape(hp * wp, -1))


def test_the_shapes_only_model_follows_the_compiler(shape_package):
    """The analytic model's descriptors (from shapes alone) are the compiled program's,
    the tail copy of a partial attention beat and the RGB patch beats included."""
    pkg, _ = shape_package
    prog, vit, _ = shapes_model_matches(pkg)
    t, ln = vit.num_tokens, prog.cfg.units["residual"].lanes
    tails = prog.names.count("blocks.0.attn.shift") - 1
    assert tails == int(bool(t % ln and (vit.num_heads * t * t) % ln))


@pytest.mark.parametrize("red, patches, want", [
    ([4, 64], [(2, 1)], 4),          # digits: its array as before
    ([16, 64], [(4, 1)], 16),        # MNIST 4x4 patches
    ([768, 192], [(16, 3)], 64),     # DeiT-T: capped
    ([768, 384], [(16, 3)], 64),
    ([768, 96], [(16, 3)], 48),      # 3 rows of 16 a beat
    ([48, 192], [(16, 3)], 48),
])
def test_mac_cols_divide_every_reduction_and_fit_the_patch(red, patches, want):
    cols = mac_cols(red, patches)
    assert cols == want
    assert all(k % cols == 0 for k in red)
    assert all(patch_rows(cols, p, ch) for p, ch in patches)


@pytest.mark.parametrize("cols, outs, want", [
    (4, [64, 10], 16),       # digits: 2x2 patches, 64 lanes
    (4, [128, 10], 16),      # 128-wide digits
    (4, [8, 10], 16),        # rows up to the widest output (10: 16 rows)
    (4, [6], 8),
    (16, [64, 10], 4),       # MNIST 4x4 patches: its array as before
    (64, [192, 10], 4),      # DeiT: its array as before
    (1, [64], 64),
])
def test_patch_mac_rows_fill_the_lanes_up_to_the_widest_output(cols, outs, want):
    rows = patch_mac_rows(cols, outs)
    assert rows == want
    assert rows >= MAC_ROWS and rows & (rows - 1) == 0
    assert rows == MAC_ROWS or (rows * cols <= MAC_PATCH_LANES and rows // 2 < max(outs))


def test_a_patch_side_that_is_not_a_power_of_two_is_refused():
    from sim.compiler import CompileError

    with pytest.raises(CompileError, match="patch sides must be powers of two"):
        mac_cols([147, 64], [(7, 3)])


@pytest.mark.sim
@pytest.mark.slow
@pytest.mark.parametrize("simulator", ["verilator"], indirect=True)
def test_a_deit_tiny_width_block_runs_bit_exact_on_verilator(simulator, tmp_path):
    """One DeiT-T-width GSB block (embed 192, 3 heads, RGB 16x16 patches, distillation
    token) at 48x48 (11 tokens): every layer and the logits equal (``==``)."""
    pkg = deit_package(tmp_path / "t", DEIT_T, 48)
    prog, res = run_checked(pkg, tmp_path / "run", simulator)
    assert prog.cfg.units["mac"].cols == 64
    assert prog.cfg.units["mac"].digit_bits == 4  # patch_digit_bits: 4 x 64 lanes
    assert prog.names.count("blocks.0.attn.shift") == 2  # 3 * 11 * 11 = 363: a tail copy
    _counters_equal_the_model(prog, res)


def _counters_equal_the_model(prog, res) -> None:
    """Every descriptor's counter (but the final dma_out's) is the analytic count."""
    model = [desc_cycles(d, prog.cfg) for d in prog.descs[:-1]]
    bad = [(prog.names[i], m, r) for i, (m, r) in enumerate(zip(model, res.op_cycles[:-1],
                                                                strict=True)) if m != r]
    assert not bad, f"{len(bad)} descriptors differ (name, model, rtl): {bad[:5]}"
    print(f"{len(model)} descriptors, {sum(model):,} cycles, every counter = the model")


@pytest.mark.sim
@pytest.mark.slow
@pytest.mark.skipif(not BIG_RTL,
                    reason="benchmark: set VITSIM_BIG_RTL=1 (a 224x224 block, 7-20 min)")
@pytest.mark.parametrize("simulator", ["verilator"], indirect=True)
@pytest.mark.parametrize("model", [DEIT_T, DEIT_S], ids=["tiny", "small"])
def test_a_deit_block_at_224_runs_bit_exact_on_verilator(model, simulator, tmp_path):
    """One DeiT-T (embed 192, 3 heads) or DeiT-S (384, 6 heads) block at 224x224 (198
    tokens): a benchmark, not CI."""
    pkg = deit_package(tmp_path / "t", model, 224)
    prog, res = run_checked(pkg, tmp_path / "run", simulator)
    assert prog.cfg.units["mac"].digit_bits == 4
    _counters_equal_the_model(prog, res)


def test_compile_refuses_a_patch_side_that_is_not_a_power_of_two(tmp_path, capsys):
    """12x12 patches: no beat of whole patch rows is one vector; one line, exit 2,
    nothing written."""
    from sim.cli import main

    pkg = deit_package(tmp_path / "p12", DEIT_T, 48, patch_size=12)
    capsys.readouterr()
    out = tmp_path / "prog"
    assert main(["compile", str(pkg), "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "patch sides must be powers of two" in err[0], err
    assert not out.exists()
