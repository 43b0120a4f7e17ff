"""What one op stores and moves under a scheme: weight tensors, activation buffers, passes.

:func:`op_cost` lowers an :class:`~sim.analytic.workload.Op` under a
:class:`~golden.accel_spec.SchemeCfg` into an :class:`OpCost`: the stored tensors (packed
as :func:`golden.bitpack.packed_nbytes` packs them: rows padded to whole bytes, head-wise
tensors one per head, GSB attention/V as bit-planes), the activation bytes read and
written, extra on-chip scratch, the accumulator width (from :func:`golden.kernels.dot_bound`)
and the array passes that :mod:`sim.analytic.cycles` prices. Hardware-independent.
"""

from __future__ import annotations

import dataclasses
import fnmatch
import math
from dataclasses import dataclass
from functools import cached_property, lru_cache

from golden.accel_spec import FLOAT_BITS, SchemeCfg
from golden.bitops import bitops
from golden.bitpack import packed_nbytes
from golden.kernels import acc_bits_for_range, dot_bound
from golden.model_cfg import ViTCfg
from golden.spec import ConfigError
from sim.analytic.workload import Op

__all__ = ["OpCost", "Pass", "Tensor", "effective_rank", "op_cost"]


@dataclass(frozen=True)
class Tensor:
    """One stored tensor of an op: ``shape`` integers of ``bits`` each (32: float)."""

    name: str
    shape: tuple
    bits: int
    head: int | None = None

    @property
    def numel(self) -> int:
        """Elements."""
        return math.prod(self.shape)

    @property
    def nbytes(self) -> int:
        """Bytes as packed into a buffer (:func:`golden.bitpack.packed_nbytes`)."""
        return packed_nbytes(self.shape, self.bits)


@dataclass(frozen=True)
class Pass:
    """``repeat`` identical ``[m, k] x [n, k]^T`` products on one array.

    ``array`` is ``"binary"`` (both operands 1 bit; ``mode`` xnor or and), ``"mac"`` (the
    mixed-bit array) or ``"float"`` (no vitsim datapath: no cycle count).
    """

    array: str
    m: int
    n: int
    k: int
    w_bits: int
    a_bits: int
    mode: str = "xnor"
    repeat: int = 1
    head: int | None = None


@dataclass(frozen=True)
class OpCost:
    """Hardware-independent costs of one op under one scheme."""

    tensors: tuple  # stored Tensors
    act_in: int  # bytes of the op's activation inputs
    act_out: int  # bytes of its outputs
    scratch: int  # further on-chip bytes (GSB softmax buffer, low-rank intermediate)
    acc_bits: int  # accumulator width (0: no reduction)
    acc_bytes: int  # the whole output at accumulator width
    passes: tuple  # Passes
    macs: int
    bitops: int

    @cached_property
    def weight_bits(self) -> int:
        """Stored bits before packing."""
        return sum(t.numel * t.bits for t in self.tensors)

    @cached_property
    def weight_bytes(self) -> int:
        """Stored bytes as packed."""
        return sum(t.nbytes for t in self.tensors)

    @cached_property
    def act_bytes(self) -> int:
        """Live activation bytes: inputs, outputs and scratch."""
        return self.act_in + self.act_out + self.scratch


def _head_bits(field: str, values: tuple, default: int, heads: int) -> tuple:
    if not values:
        return (default,) * heads
    if len(values) != heads:
        raise ConfigError(f"{field} must have one width per head ({heads}), not {len(values)}")
    return values


def _acc(k: int, w: int, a: int, *, a_signed: bool = True, w_signed: bool = True) -> int:
    if FLOAT_BITS in (w, a):
        return FLOAT_BITS
    return acc_bits_for_range(*dot_bound(k, a_bits=a, a_signed=a_signed, w_bits=w,
                                         w_signed=w_signed))


def _array(w: int, a: int) -> str:
    if FLOAT_BITS in (w, a):
        return "float"
    return "binary" if w == a == 1 else "mac"


def effective_rank(scheme: SchemeCfg, name: str, k: int, n: int) -> int:
    """Rank (plus residual rank) of layer ``name`` ``[k -> n]``; 0 means dense.

    A factor pair of rank ``r`` holds ``r * (k + n)`` weights; at or above the dense
    ``k * n`` the layer stays dense (PAPERS.md 3.2, break-even).
    """
    rank = scheme.rank
    for pattern, r in scheme.layer_ranks:
        if fnmatch.fnmatchcase(name, pattern):
            rank = r
    if rank == 0:
        return 0
    total = rank + scheme.rank_k
    return 0 if total * (k + n) >= k * n else total


def _scales(prefix: str, s: SchemeCfg, count: int, bits: int) -> list:
    return [] if bits == FLOAT_BITS else [Tensor(f"{prefix}_scale", (count,), s.param_bits)]


def _linear(op: Op, vit: ViTCfg, s: SchemeCfg, rank: int, *, w: int, a: int, a_signed: bool,
            head_w: tuple | None, head_a: tuple | None, in_bytes: int, out_bytes: int,
            shift: bool, w_scales: int = 1) -> OpCost:
    """Lower a linear ``[m, k] -> [m, n]``: dense, head-wise or a low-rank factor pair.

    Stores the weights, ``w_scales`` weight scales (per head when head-wise), the bias, an
    input scale (integer inputs) and, with ``shift``, the learnable per-input-channel shift
    of the GSB/BiT elastic binariser.
    """
    m, k, n, p = op.m, op.k, op.n, s.param_bits
    tensors, passes, scratch = [], [], 0
    mode = "xnor" if a_signed else "and"
    if rank:
        tensors += [Tensor("weight_a", (rank, k), w), Tensor("weight_b", (n, rank), w)]
        tensors += _scales("weight_a", s, 1, w) + _scales("weight_b", s, 1, w)
        passes += [Pass(_array(w, a), m, rank, k, w, a, mode),
                   Pass(_array(w, s.a_bits), m, n, rank, w, s.a_bits, "xnor")]
        scratch = packed_nbytes((m, rank), s.a_bits)
        macs = m * rank * (k + n)
        ops = bitops(m * rank * k, w_bits=w, a_bits=a) + bitops(m * rank * n, w_bits=w,
                                                                 a_bits=s.a_bits)
        acc = max(_acc(k, w, a, a_signed=a_signed), _acc(rank, w, s.a_bits))
    elif head_w is not None:  # head-wise: q/k/v rows (qkv) or input columns (proj) of head h
        dh, macs, ops, acc = vit.head_dim, 0, 0, 0
        for h, wh in enumerate(head_w):
            ah = head_a[h] if head_a is not None else a
            shape, pk, pn = ((3 * dh, k), k, 3 * dh) if op.role == "qkv" else ((n, dh), dh, n)
            tensors.append(Tensor("weight", shape, wh, head=h))
            passes.append(Pass(_array(wh, ah), m, pn, pk, wh, ah, mode, head=h))
            macs += m * pn * pk
            ops += bitops(m * pn * pk, w_bits=wh, a_bits=ah)
            acc = max(acc, _acc(pk, wh, ah, a_signed=a_signed))
        tensors += _scales("weight", s, len(head_w), w)
    else:
        tensors.append(Tensor("weight", (n, k), w))
        tensors += _scales("weight", s, w_scales, w)
        passes.append(Pass(_array(w, a), m, n, k, w, a, mode))
        macs = m * n * k
        ops = bitops(macs, w_bits=w, a_bits=a)
        acc = _acc(k, w, a, a_signed=a_signed)
    if op.bias:
        tensors.append(Tensor("bias", (n,), p))
    if shift:
        tensors.append(Tensor("shift", (k,), p))
    if a != FLOAT_BITS:
        tensors.append(Tensor("act_scale", (1,), p))
    return OpCost(tuple(tensors), in_bytes, out_bytes, scratch, acc,
                  packed_nbytes((m, n), acc), tuple(passes), macs, ops)


def _attention(op: Op, vit: ViTCfg, s: SchemeCfg) -> OpCost:
    h, dh, t, p = vit.num_heads, vit.head_dim, vit.num_tokens, s.param_bits
    ha = _head_bits("head_a_bits", s.head_a_bits, s.a_bits, h)
    per_head = t * t * dh
    if s.groups:  # GSB: q, k one bit; V and attention as planes
        g = s.groups
        qk_bytes = 2 * packed_nbytes((h, t, dh), 1)
        v_bytes = packed_nbytes((g, h, t, dh), 1)
        probs = packed_nbytes((g, h, t, t), 1)
        if op.role == "qk":
            tensors = [Tensor("q_shift", (h, dh), p), Tensor("k_shift", (h, dh), p),
                       Tensor("q_scale", (1,), p), Tensor("k_scale", (1,), p)]
            if s.attn_bias:
                tensors.append(Tensor("attn_bias", (h, t, t), p))
            tensors.append(Tensor("attn_scale", (g,), p))
            scratch = packed_nbytes((h, t, t), s.softmax_bits)  # global max needs all of A
            passes = (Pass("binary", t, t, dh, 1, 1, "xnor", repeat=h),)
            return OpCost(tuple(tensors), qk_bytes, probs, scratch, _acc(dh, 1, 1),
                          packed_nbytes((h * t, t), _acc(dh, 1, 1)), passes, h * per_head,
                          h * per_head)
        tensors = (Tensor("v_shift", (h, dh), p), Tensor("v_scale", (g,), p))
        acc = _acc(t, 1, 1, a_signed=False)
        passes = (Pass("binary", t, dh, t, 1, 1, "and", repeat=h * g * g),)
        return OpCost(tensors, probs + v_bytes, packed_nbytes((t, vit.embed_dim), s.a_bits), 0,
                      acc, g * g * packed_nbytes((t, vit.embed_dim), acc), passes, h * per_head,
                      h * per_head * g * g)
    heads_act = sum(packed_nbytes((t, dh), b) for b in ha)
    probs = sum(packed_nbytes((t, t), b) for b in ha)
    n_scale = h if s.head_a_bits else 1
    if op.role == "qk":
        tensors = _scales("q", s, n_scale, s.a_bits) + _scales("k", s, n_scale, s.a_bits)
        tensors += _scales("attn", s, n_scale, s.a_bits)
        passes = tuple(Pass(_array(b, b), t, t, dh, b, b, head=i) for i, b in enumerate(ha))
        acc = max(_acc(dh, b, b) for b in ha)
        return OpCost(tuple(tensors), 2 * heads_act, probs,
                      packed_nbytes((t, t), s.softmax_bits), acc, packed_nbytes((h * t, t), acc),
                      passes, h * per_head, sum(bitops(per_head, w_bits=b, a_bits=b) for b in ha))
    tensors = _scales("v", s, n_scale, s.a_bits) + _scales("out", s, n_scale, s.a_bits)
    passes = tuple(Pass(_array(b, b), t, dh, t, b, b, "and", head=i) for i, b in enumerate(ha))
    acc = max(_acc(t, b, b, a_signed=False) for b in ha)
    return OpCost(tuple(tensors), probs + heads_act, heads_act, 0, acc,
                  packed_nbytes((t, vit.embed_dim), acc), passes, h * per_head,
                  sum(bitops(per_head, w_bits=b, a_bits=b) for b in ha))


@lru_cache(maxsize=4096)
def op_cost(op: Op, vit: ViTCfg, s: SchemeCfg, rank: int = 0) -> OpCost:
    """Lower ``op`` of ``vit`` under scheme ``s``; ``rank`` from :func:`effective_rank`.

    Activation widths: encoder linears read ``a_bits`` (fc2: unsigned, the GELU output);
    proj, fc2 and the patch embedding write the residual stream at ``max(8, a_bits)``
    bits (32 when float); LayerNorms write ``a_bits`` (the final one ``embed_bits``).

    Raises
    ------
    ConfigError
        Head-wise widths whose count is not ``num_heads``.
    """
    t, d, p = op.m, vit.embed_dim, s.param_bits
    res = FLOAT_BITS if s.a_bits == FLOAT_BITS else max(8, s.a_bits)
    head_w = _head_bits("head_w_bits", s.head_w_bits, s.w_bits, vit.num_heads)
    head_a = _head_bits("head_a_bits", s.head_a_bits, s.a_bits, vit.num_heads)
    if op.role in ("qk", "av"):
        return _attention(op, vit, s)
    if op.role == "norm":
        out_bits = s.embed_bits if op.block is None else s.a_bits
        tensors = (Tensor("weight", (d,), p), Tensor("bias", (d,), p))
        return OpCost(tensors, packed_nbytes((t, d), res), packed_nbytes((t, d), out_bits), 0,
                      0, 0, (), 0, 0)
    e, binary = s.embed_bits, s.a_bits == s.w_bits == 1
    if op.role == "head":  # over the class token; GSB keeps the input shift
        return _linear(op, vit, s, 0, w=e, a=e, a_signed=True, head_w=None, head_a=None,
                       in_bytes=packed_nbytes((op.m, op.k), e),
                       out_bytes=packed_nbytes((op.m, op.n), FLOAT_BITS), shift=binary)
    if op.role == "patch":  # unsigned pixels; GSB: per-output-channel weight scales
        cost = _linear(op, vit, s, 0, w=e, a=e, a_signed=False, head_w=None, head_a=None,
                       in_bytes=packed_nbytes((op.m, op.k), e),
                       out_bytes=packed_nbytes((op.m, op.n), res), shift=False,
                       w_scales=op.n if s.a_bits == 1 else 1)
        tokens = [Tensor("cls_token", (d,), p)]
        tokens += [Tensor("dist_token", (d,), p)] if vit.distilled else []
        tokens += [Tensor("pos_embed", (vit.num_tokens, d), p)]
        return dataclasses.replace(cost, tensors=cost.tensors + tuple(tokens))
    a, w = s.a_bits, s.w_bits
    in_bytes = packed_nbytes((t, op.k), a)
    if op.role == "qkv":
        if s.groups:
            out_bytes = 2 * packed_nbytes((t, d), 1) + packed_nbytes((s.groups, t, d), 1)
        else:
            out_bytes = 3 * sum(packed_nbytes((t, vit.head_dim), b) for b in head_a)
    elif op.role == "proj":
        if not s.groups:
            in_bytes = sum(packed_nbytes((t, vit.head_dim), b) for b in head_a)
        out_bytes = packed_nbytes((t, op.n), res)
    else:  # fc1 writes the GELU output (fc2's input), fc2 the residual stream
        out_bytes = packed_nbytes((t, op.n), a if op.role == "fc1" else res)
    head_wise = op.role in ("qkv", "proj") and bool(s.head_w_bits or s.head_a_bits)
    return _linear(op, vit, s, rank, w=w, a=a, a_signed=op.role != "fc2",
                   head_w=head_w if head_wise and not rank else None,
                   head_a=head_a if op.role == "proj" and head_wise and not rank else None,
                   in_bytes=in_bytes, out_bytes=out_bytes, shift=binary)
