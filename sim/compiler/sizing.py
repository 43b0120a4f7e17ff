"""The accelerator sized to a network package: :func:`accel_config_for`.

Each unit's sizing attaches itself to the unit with :func:`sim.compiler.registry.sizes`:
``f(net, by_kind) -> {slot: config}`` from the network's ops of the unit's op kinds.
"""

from __future__ import annotations

import numpy as np

from golden.accel_program import AccelTopCfg
from golden.cases_gsb import GsbAvCfg, GsbEncoderCfg
from golden.cases_layernorm import LayerNormCfg
from golden.cases_softmax import SoftmaxCfg
from golden.cases_threshold import ThresholdCfg
from golden.kernels import grid_width, signed_bits
from golden.network import softmax_params_of
from golden.spec import BinaryArrayCfg, MacArrayCfg, RequantCfg, ResidualCfg
from sim.compiler.bmm import bmm_widths
from sim.compiler.elementwise import clamp_runs
from sim.compiler.program import CompileError
from sim.compiler.registry import sizers, sizes

__all__ = ["COLS", "LANES", "MAC_ROWS", "ROWS", "accel_config_for", "widest"]

LANES = 8  # elementwise units
ROWS, COLS = 8, 32  # binary array
MAC_ROWS = 4


def widest(net, ops, idx=0, top=32):
    """The widest input ``idx`` of ``ops`` on the width grid up to ``top``."""
    return grid_width(max(net.width(op.inputs[idx]) for op in ops), top)


@sizes("threshold")
def _threshold(net, by_kind):
    if "threshold" not in by_kind:
        return {}
    return {"threshold": ThresholdCfg(lanes=LANES, x_bits=widest(net, by_kind["threshold"]))}


@sizes("binary_array")
def _binary(net, by_kind):
    units = {}
    for mode, slot in (("xnor", "binary_xnor"), ("and", "binary_and")):
        ops = [op for op in by_kind.get("binary_matmul", []) if op.mode == mode]
        if ops:
            max_k = max(net.tensors[op.inputs[0]].shape[-1] for op in ops)
            units[slot] = BinaryArrayCfg(rows=ROWS, cols=COLS, mode=mode,
                                         max_k=-(-max_k // COLS) * COLS)
    return units


@sizes("mac_array")
def _mac(net, by_kind):
    """The MAC array for the integer matmuls (patch_matmul, int_matmul) and the per-head
    int_bmm ops: ``MAC_ROWS`` rows; ``cols`` the shortest matmul reduction (a patch: its
    ``p * p`` pixels), else the shortest ``q @ k^T`` reduction; ``max_bits`` the widest
    operand (an unsigned int_bmm weight one bit more, :func:`sim.compiler.bmm.bmm_widths`)
    on the 8-bit grid; ``max_k`` the longest reduction (an int_bmm one padded to whole
    ``cols``). Without int_bmm ops it is the config sized for the matmuls alone."""
    macs = by_kind.get("patch_matmul", []) + by_kind.get("int_matmul", [])
    bmms = by_kind.get("int_bmm", [])
    if not (macs or bmms):
        return {}
    red = [net.tensors[op.inputs[1]].shape[1] for op in macs]
    qk = [net.tensors[op.inputs[0]].shape[-1] for op in bmms if op.trans_b]
    cols = min(red or qk or [16])
    bits = [max(op.a_bits, op.w_bits) for op in macs]
    for op in bmms:
        heads = net.tensors[op.inputs[0]].shape[-3]
        bits += [max(k["w_bits"], k["a_bits"]) for k in bmm_widths(op, heads)]
    ks = red + [-(-net.tensors[op.inputs[0]].shape[-1] // cols) * cols for op in bmms]
    return {"mac": MacArrayCfg(rows=MAC_ROWS, cols=cols, digit_bits=2,
                               max_bits=grid_width(max(bits), 16), max_k=max(ks))}


@sizes("requant")
def _requant(net, by_kind):
    ops = by_kind.get("requant")
    if not ops:
        return {}
    bits = max(run[3] for op in ops
               for run in clamp_runs(op, net.tensors[op.outputs[0]].shape[1:]))
    return {"requant": RequantCfg(
        lanes=LANES, acc_bits=widest(net, ops), out_bits=grid_width(bits, 31),
        mult_bits=grid_width(max(signed_bits(net.tensors[op.inputs[1]]) for op in ops), 32),
        bias_bits=grid_width(max(signed_bits(net.tensors[op.inputs[2]]) for op in ops),
                             60, 16))}


@sizes("residual")
def _residual(net, by_kind):
    ops = by_kind.get("add")
    if not ops:
        return {}
    in_bits = grid_width(max(net.width(n) for op in ops for n in op.inputs), 32)
    return {"residual": ResidualCfg(lanes=LANES, in_bits=in_bits,
                                    out_bits=max(op.out_bits for op in ops))}


@sizes("layernorm")
def _layernorm(net, by_kind):
    ops = by_kind.get("layernorm")
    if not ops:
        return {}
    dims = {op.dim for op in ops}
    if len(dims) != 1:
        raise CompileError(f"LayerNorms of different widths {sorted(dims)}: one unit serves one")
    return {"layernorm": LayerNormCfg(dim=dims.pop(), in_bits=widest(net, ops, top=16))}


@sizes("softmax")
def _softmax(net, by_kind):
    ops = by_kind.get("softmax")
    if not ops:
        return {}
    row = max(net.tensors[op.inputs[0]].shape[-1] for op in ops)
    x_bits = grid_width(max(net.width(op.inputs[0]) + op.in_shift for op in ops), 32)
    out_bits = max(op.out_bits for op in ops)
    cfg = SoftmaxCfg.fitting([softmax_params_of(op) for op in ops], max_len=row,
                             x_bits=x_bits, out_bits=out_bits)
    if cfg is None:
        raise CompileError("the softmax constants fit no softmax config")
    return {"softmax": cfg}


@sizes("gsb_encoder")
def _gsb_encoder(net, by_kind):
    enc = by_kind.get("gsb_value_planes", []) + by_kind.get("gsb_attn_planes", [])
    if not enc:
        return {}
    ratios = {tuple(tuple(r) for r in op.ratios) for op in enc}
    if len(ratios) != 1:
        raise CompileError("GSB ops with different ratios: one encoder serves one set")
    return {"gsb_encoder": GsbEncoderCfg(
        lanes=LANES, x_bits=widest(net, enc),
        max_elems=max(int(np.prod(net.tensors[op.inputs[0]].shape[1:])) for op in enc),
        ratios=ratios.pop())}


@sizes("gsb_av")
def _gsb_av(net, by_kind):
    ops = by_kind.get("gsb_av")
    if not ops:
        return {}
    sign = net.tensors[ops[0].inputs[1]]
    weights = [net.tensors[op.inputs[3]] for op in ops]
    return {"gsb_av": GsbAvCfg(lanes=LANES, max_n=sign.shape[-2], max_d=sign.shape[-1],
                               a_planes=weights[0].shape[0], v_planes=weights[0].shape[1],
                               w_bits=grid_width(max(signed_bits(x) for x in weights), 16))}


def accel_config_for(net) -> AccelTopCfg:
    """Unit configs sized to the ops of network ``net`` (a
    :class:`golden.netpkg.NetworkData`): each unit's attached sizing, in unit-id order."""
    by_kind: dict[str, list] = {}
    for op in net.ops:
        by_kind.setdefault(op.kind, []).append(op)
    units = {}
    for size in sizers():
        units.update(size(net, by_kind))
    return AccelTopCfg(lanes=32, depth=1, units=units, ext_words=2)
