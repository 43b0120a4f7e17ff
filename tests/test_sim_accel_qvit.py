"""Q-ViT networks on the accelerator: per-head ``int_bmm`` on the MAC array.

The package is a depth-1 Q-ViT digits model (no training: perturbed biases) whose heads
get different widths (``q``: 3 and 6 bits, ``v``: 6 and 3, attention probabilities: 4 and
7), so the per-head descriptors, the head-wise requantiser clamps and the zero-padded
``attn @ v`` reduction (17 tokens on the 32-column array sized for its linears) and the
zero-padded patch embedding (a 2x2 patch in 4 of the 32 columns) are all exercised. The simulated
run compares every tensor the program produces with the package (``==``).
"""


import numpy as np
import pytest
import torch
from netpkgs import run_checked, untrained_package

from golden.netspec import Op
from sim.compiler import compile_network
from sim.compiler.bmm import bmm_widths
from sim.compiler.parts.requant import clamp_runs
from sim.compiler.sizing import linear_mac_cols

# per-head widths the untrained model is given (parameter name suffix -> widths)
HEAD_BITS = {"attn.quant_q.bits": [3, 6], "attn.quant_k.bits": [4, 4],
             "attn.quant_v.bits": [6, 3], "attn.quant_attn.bits": [4, 7],
             "attn.q.w_quant.bits": [3, 6]}


@pytest.fixture(scope="module")
def qvit_package(tmp_path_factory):
    """A one-block Q-ViT digits package of one image, head-wise widths of HEAD_BITS."""

    def widths(name, p):
        for suffix, bits in HEAD_BITS.items():
            if name.endswith(suffix):
                p.copy_(torch.tensor(bits, dtype=p.dtype))

    return untrained_package(tmp_path_factory.mktemp("accel-qvit"), model="qvit_vit_digits",
                             depth=1, setup=widths)


# ------------------------------------------------------------------------ fast tests


def test_qvit_package_compiles_with_one_mac_descriptor_per_head_width(qvit_package):
    prog = compile_network(qvit_package)
    mac = prog.cfg.units["mac"]
    # the integer linears set the shape, not the 2x2 patch: 8 x 32, q @ k^T's 32-element
    # head rows one beat; attn @ v's 17 tokens padded to one beat of 32
    assert (mac.rows, mac.cols) == (8, 32)
    assert mac.max_k == 256  # fc2
    pe = prog.descs[prog.names.index("patch_embed")]
    assert pe.rn[-2:] == (64 // 8, 1)  # one zero-padded beat a patch and 8 outputs
    descs = {}
    for name, d in zip(prog.names, prog.descs, strict=True):
        descs.setdefault(name, []).append(d)
    qk, av = descs["blocks.0.attn.qk"], descs["blocks.0.attn.av"]
    # q @ k^T: heads at (a 3, b 4) and (a 6, b 4) bits, one descriptor each
    assert [(d.unit, d.k) for d in qk] == [("mac", (4, 3, 1, 1)), ("mac", (4, 6, 1, 1))]
    # attn @ v: the transposed, zero-padded copy of v, then one descriptor a head
    # (unsigned probabilities as activations, signed v as weights)
    assert [(d.unit, d.k) for d in av] == [("requant", (1, 6, 1)), ("mac", (6, 4, 1, 0)),
                                           ("mac", (3, 7, 1, 0))]
    assert all(d.rn[-1] == 1 for d in av[1:])  # 17 tokens zero-padded to one beat
    # head-wise clamps: one requantiser descriptor per head
    assert len(descs["blocks.0.attn.q.codes"]) == 2
    assert [d.k[1:] for d in descs["blocks.0.attn.a"]] == [(4, 0), (7, 0)]
    assert set(prog.expected) >= {"logits"}


def _op(kind, **params):
    return Op(kind, "r", (), (), params=params)


def _mac_k(w_bits, a_bits, w_signed, a_signed):
    return {"w_bits": w_bits, "a_bits": a_bits, "w_signed": w_signed, "a_signed": a_signed}


def test_bmm_widths_send_unsigned_weights_one_bit_wider():
    op = _op("int_bmm", a_bits=[3, 6], b_bits=5, a_signed=False, b_signed=False)
    assert bmm_widths(op, 2) == [_mac_k(6, 3, 1, 0), _mac_k(6, 6, 1, 0)]
    op = _op("int_bmm", a_bits=8, b_bits=[4, 8], a_signed=True, b_signed=True)
    assert bmm_widths(op, 2) == [_mac_k(4, 8, 1, 1), _mac_k(8, 8, 1, 1)]


def test_clamp_runs_split_one_axis_into_heads():
    op = _op("requant", lo=np.array([[[0]], [[0]]]), hi=np.array([[[15]], [[127]]]))
    assert clamp_runs(op, (2, 3, 3)) == [(0, 0, 1, 4, False), (0, 1, 1, 7, False)]
    op = _op("requant", lo=[-4] * 4 + [-32] * 4, hi=[3] * 4 + [31] * 4)
    assert clamp_runs(op, (3, 8)) == [(1, 0, 4, 3, True), (1, 4, 4, 6, True)]
    assert clamp_runs(_op("requant", lo=-8, hi=7), (3, 8)) == [(0, 0, 3, 4, True)]


@pytest.mark.parametrize("red, qk, want", [
    ([64, 64, 256, 64], [32], 32),   # Q-ViT digits: 32-element head rows
    ([64, 24, 16, 256, 8], [32], 32),  # low-rank factors: ranks padded to one beat
    ([64, 256], [16], 16),           # 16-element head rows set the columns
    ([8, 16], [], 16),               # no wider than the longest reduction
    ([192, 768], [64], 32),          # DeiT widths: capped
])
def test_linear_mac_cols_divide_every_head_row(red, qk, want):
    cols = linear_mac_cols(red, qk)
    assert cols == want
    assert all(k % cols == 0 for k in qk)


def test_the_zero_padded_patch_embedding_reads_its_patches(qvit_package):
    """The patch embedding on the 32-column array: the beats the gatherer reads from the
    preloaded scratchpad are the 2x2 patches in lanes 0..3 and zeros after, the weight
    tiles zero past column 4, and their products the package's own patch embedding."""
    from test_accel_deit_shapes import _fields, _gather

    from golden.netpkg import NetworkData, read_network
    from golden.network import im2col

    prog = compile_network(qvit_package)
    net = NetworkData(read_network(qvit_package))
    mac, L = prog.cfg.units["mac"], prog.cfg.lanes
    desc = prog.descs[prog.names.index("patch_embed")]
    scratch = prog.ext[prog.dump_word - prog.preload // L:prog.dump_word].reshape(-1)
    fb, R, C = mac.field_bits, mac.rows, mac.cols
    acts = _gather(desc, scratch.astype(np.int64), 0)
    assert acts.shape[1] == 4  # one 2x2 patch a beat: the gatherer zero-fills the rest
    a = np.zeros((acts.shape[0], C), np.int64)
    a[:, :4] = ((acts & ((1 << fb) - 1)) ^ (1 << (fb - 1))) - (1 << (fb - 1))
    w = _fields(_gather(desc, scratch.astype(np.int64), 1), fb, R * C)
    hp, wp, nt, kt = desc.rn
    assert kt == 1
    a = a.reshape(hp * wp, nt, C)[:, 0]
    w = w.reshape(hp * wp, nt, R, C)[0]
    assert not w[..., 4:].any()  # padded at pack time
    x = np.asarray(net.get("image", 0))
    assert np.array_equal(a[:, :4], im2col(x[None], 2)[0])
    got = np.einsum("pc,nrc->pnr", a, w).reshape(hp * wp, -1)
    want = np.asarray(net.get("patch_embed", 0))
    assert np.array_equal(got[:, :want.shape[-1]], want.reshape(hp * wp, -1))


# ------------------------------------------------------------------------ simulated


@pytest.mark.sim
@pytest.mark.slow
@pytest.mark.parametrize("simulator", ["verilator"], indirect=True)
def test_qvit_network_runs_bit_exact_on_verilator(simulator, qvit_package, tmp_path):
    run_checked(qvit_package, tmp_path / "run", simulator)
