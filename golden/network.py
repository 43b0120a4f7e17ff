"""The integer network: a list of op records run by numpy, from a package alone (no torch).

An integer network is a sequence of op records (:class:`golden.netspec.Op`, stored as
plain JSON objects in a package's manifest) over one environment of named integer
tensors: the parameters (weights, thresholds, multipliers...), the input image codes, and
every op's outputs. Images are axis 0 of every activation. Each op names its ``kind``,
its ``inputs`` and ``outputs`` (environment names) and its scalar parameters; :data:`OPS`
maps each kind to its golden kernel:

================  =====================================================================
kind              kernel (golden/)
================  =====================================================================
patch_matmul      im2col of the image, :func:`golden.kernels.int_matmul`
int_matmul        :func:`golden.kernels.int_matmul` (rows are images x tokens)
int_bmm           :func:`golden.headwise.int_bmm` (per-head ``q @ k^T``, ``attn @ v``)
group_matmul      :func:`golden.headwise.group_matmul` (head-wise scales on the reduction)
binary_matmul     :func:`golden.intops.batched_binary_matmul` (XNOR or AND popcount)
requant           :func:`golden.kernels.requantize` (per-channel mult, bias)
threshold         :func:`golden.intops.threshold`
add               :func:`golden.residual.residual_add` (saturating; residual, bias)
layernorm         :func:`golden.nonlinear.int_layernorm`
softmax           ``x << in_shift`` then :func:`golden.nonlinear.int_softmax`
gelu              :func:`golden.nonlinear.clipped_gelu` (int_gelu, then the clamp)
gsb_value_planes  :func:`golden.intops.gsb_value_planes`
gsb_attn_planes   :func:`golden.intops.gsb_attn_planes`
gsb_av            :func:`golden.intops.gsb_av`
split_heads       ``[B, N, 3C] -> 3 x [B, H, N, d]`` (data movement only)
to_heads          ``[B, N, H*d] -> [B, H, N, d]`` (data movement only)
merge_heads       ``[B, H, N, d] -> [B, N, H*d]`` (data movement only)
prepend           constant token rows before the patch tokens
take_token        ``x[:, index]``
================  =====================================================================

:func:`run_network` evaluates the ops in order and returns every output; PyTorch's
integer mode (:mod:`models.intmode`) evaluates the same records with torch kernels, and
the two agree on every tensor with ``==``.
"""

from __future__ import annotations

import numpy as np

from golden.errors import VitsimError
from golden.headwise import group_matmul, int_bmm
from golden.intops import (
    batched_binary_matmul,
    gsb_attn_planes,
    gsb_av,
    gsb_value_planes,
    threshold,
)
from golden.kernels import int_matmul, requantize
from golden.netspec import Op, as_op
from golden.nonlinear import (
    GeluParams,
    SoftmaxParams,
    clipped_gelu,
    int_layernorm,
    int_softmax,
    layernorm_params,
)
from golden.residual import residual_add

__all__ = ["OPS", "im2col", "run_network", "softmax_params_of", "gelu_params_of"]


def im2col(img: np.ndarray, patch: int) -> np.ndarray:
    """``[B, C, H, W]`` -> ``[B, T, C*patch*patch]`` patches, row-major over the patch grid,
    each flattened as ``(channel, row, column)`` (the order of a conv weight)."""
    b, c, h, w = img.shape
    x = img.reshape(b, c, h // patch, patch, w // patch, patch)
    return x.transpose(0, 2, 4, 1, 3, 5).reshape(b, (h // patch) * (w // patch), -1)


def softmax_params_of(op: Op) -> SoftmaxParams:
    """The :class:`SoftmaxParams` recorded in a softmax op."""
    return SoftmaxParams(**{k: getattr(op, k) for k in ("x0", "b", "c", "n", "floor_q",
                                                        "out_bits")})


def gelu_params_of(op: Op) -> GeluParams:
    """The :class:`GeluParams` recorded in a gelu op."""
    return GeluParams(b=op.b, c=op.c, one=op.one, out_scale=op.out_scale)


def _patch_matmul(op, x, w):
    cols = im2col(x, op.patch)
    out = int_matmul(cols.reshape(-1, cols.shape[-1]), w, a_bits=op.a_bits,
                     a_signed=True, w_bits=op.w_bits, w_signed=True)
    return out.reshape(cols.shape[:2] + (w.shape[0],))


def _int_matmul(op, x, w):
    out = int_matmul(x.reshape(-1, x.shape[-1]), w, a_bits=op.a_bits, a_signed=True,
                     w_bits=op.w_bits, w_signed=True)
    return out.reshape(x.shape[:-1] + (w.shape[0],))


def _split_heads(op, x):
    b, n, _ = x.shape
    parts = x.reshape(b, n, 3, op.num_heads, -1).transpose(2, 0, 3, 1, 4)
    return tuple(parts)


def _to_heads(op, x):
    b, n, c = x.shape
    return x.reshape(b, n, op.num_heads, c // op.num_heads).transpose(0, 2, 1, 3)


def _int_bmm(op, a, b):
    return int_bmm(a, b, a_bits=op.a_bits, a_signed=op.a_signed, b_bits=op.b_bits,
                   b_signed=op.b_signed, trans_b=op.trans_b)


def _group_matmul(op, x, w, gmult):
    return group_matmul(x, w, gmult, a_bits=op.a_bits, a_signed=op.a_signed,
                        w_bits=op.w_bits, w_signed=op.w_signed)


def _merge_heads(op, x):
    b, h, n, d = x.shape
    return x.transpose(0, 2, 1, 3).reshape(b, n, h * d)


def _softmax(op, x):
    return int_softmax(np.asarray(x, np.int64) << op.in_shift, softmax_params_of(op))


def _gelu(op, x):
    return clipped_gelu(x, gelu_params_of(op), op.clip)


def _prepend(op, x, tokens):
    lead = np.broadcast_to(tokens, (x.shape[0],) + tokens.shape)
    return np.concatenate([lead, x], axis=1)


#: kind -> ``fn(op, *inputs)`` returning one array or a tuple (one per output).
OPS = {
    "patch_matmul": _patch_matmul,
    "int_matmul": _int_matmul,
    "binary_matmul": lambda op, a, w: batched_binary_matmul(a, w, op.mode),
    "requant": lambda op, x, mult, bias: requantize(x, mult=mult, bias=bias,
                                                    shift=op.shift, lo=op.lo,
                                                    hi=op.hi),
    "threshold": lambda op, x, theta, flip: threshold(x, theta, flip.astype(bool)),
    "add": lambda op, a, b: residual_add(a, b, out_bits=op.out_bits),
    "layernorm": lambda op, x: int_layernorm(x, layernorm_params(op.dim)),
    "softmax": _softmax,
    "gelu": _gelu,
    "gsb_value_planes": lambda op, v: gsb_value_planes(v, op.ratios),
    "gsb_attn_planes": lambda op, a: gsb_attn_planes(a, op.base_theta, op.ratios),
    "gsb_av": lambda op, planes, sign, masks, w: gsb_av(planes, sign, masks, w),
    "split_heads": _split_heads,
    "to_heads": _to_heads,
    "int_bmm": _int_bmm,
    "group_matmul": _group_matmul,
    "merge_heads": _merge_heads,
    "prepend": _prepend,
    "take_token": lambda op, x: x[:, op.index],
}


def run_network(ops: list[Op], env: dict[str, np.ndarray], *,
                stop_at: str | None = None) -> dict[str, np.ndarray]:
    """Run ``ops`` in order over ``env`` (parameters and inputs); return every output.

    Outputs are int64 (bit planes uint8). ``stop_at`` ends after the op of that name.
    ``ops`` may also be plain records (:meth:`golden.netspec.Op.from_dict`). Raises
    :class:`golden.errors.VitsimError` for an unknown kind or a missing input.
    """
    env = dict(env)
    out: dict[str, np.ndarray] = {}
    for op in map(as_op, ops):
        fn = OPS.get(op.kind)
        if fn is None:
            raise VitsimError(f"op {op.name!r}: unknown kind {op.kind!r}")
        try:
            args = [env[name] for name in op.inputs]
        except KeyError as exc:
            raise VitsimError(f"op {op.name!r}: input {exc.args[0]!r} is missing") from None
        res = fn(op, *args)
        res = res if isinstance(res, tuple) else (res,)
        for name, val in zip(op.outputs, res, strict=True):
            env[name] = out[name] = np.asarray(val)
        if op.name == stop_at:
            break
    return out
