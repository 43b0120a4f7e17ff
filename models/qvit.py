"""Q-ViT quantizer (Zhexin Li et al., ``PAPERS.md`` §2), forward and backward.

Follows the authors' ``quantization/lsq_layer.py`` (zhexinli/Q-ViT-DeiT):

- a real-valued bit-width ``b`` (a scalar, or one per head), used as
  ``b~ = round(clamp(b, 2, 8))`` with a straight-through (identity) gradient
  (:func:`round_bits`); the owning module also clamps the parameter in place, as the
  reference;
- a table of seven scales, one per integer width 2..8, of which only ``alpha[b~ - 2]`` is
  used and receives gradient (the *switchable scale*); optional offsets ``beta`` in a table
  of the same kind (the GELU output);
- signed codes ``[-2^(b~-1), 2^(b~-1) - 1]`` or unsigned ``[0, 2^b~ - 1]``;
- ``x_q = round(clamp((x - beta) / alpha, Qn, Qp)) * alpha + beta``.

Gradients (:func:`quantize`), with ``u = (x - beta) / alpha``, ``M = 1[Qn <= u <= Qp]``
(both bounds inclusive: an element exactly on a bound is not clipped) and
``g = 1 / sqrt(numel * Qp)`` (``numel`` per head in head-wise mode):

- ``dL/dx = M * G``;
- ``dL/dalpha = g * sum(G * (M * (round(u) - u) + 1[u < Qn] * Qn + 1[u > Qp] * Qp))``;
- ``dL/dbeta = sum(G * (1 - M))``: no gradient scale, as the authors' ``QuantAct``, which
  passes the scale through ``grad_scale(alpha, g)`` but uses the offset ``beta`` as is;
- ``dL/db = sum(G * alpha * 2^(b~-1) * ln 2 * (1[u > Qp] - 1[u < Qn]))`` signed,
  ``sum(G * alpha * 2^b~ * ln 2 * 1[u > Qp])`` unsigned: only clipped elements move the
  width, through the derivative of the clipping bound ``alpha * Qp`` (or ``alpha * Qn``).

``round`` is half-to-even (``torch.round``). :func:`mse_scale` and :func:`init_tables`
are the fixed-point MSE initialisation of every entry of the table.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

__all__ = [
    "BIT_MAX",
    "BIT_MIN",
    "NUM_SCALES",
    "init_tables",
    "mse_scale",
    "quant_range",
    "quantize",
    "round_bits",
]

BIT_MIN, BIT_MAX = 2, 8
#: One scale (and offset) per integer width ``BIT_MIN..BIT_MAX``.
NUM_SCALES = BIT_MAX - BIT_MIN + 1
_LN2 = math.log(2.0)


def round_bits(bits: Tensor) -> Tensor:
    """Return ``round(clamp(bits, 2, 8))`` with an identity gradient (straight through)."""
    return bits + (torch.round(bits.clamp(BIT_MIN, BIT_MAX)) - bits).detach()


def quant_range(bits: Tensor | int, *, signed: bool) -> tuple:
    """Return ``(Qn, Qp)`` of integer width ``bits`` (a tensor of widths, or an int)."""
    if signed:
        return -(2.0 ** (bits - 1)), 2.0 ** (bits - 1) - 1
    return 0.0 * bits, 2.0**bits - 1


def _reduce_to(t: Tensor, shape: torch.Size) -> Tensor:
    """Sum ``t`` over the dimensions broadcast against ``shape`` (same ndim)."""
    dims = [d for d in range(t.dim()) if shape[d] == 1 and t.shape[d] != 1]
    return (t.sum(dim=dims, keepdim=True) if dims else t).reshape(shape)


class _Quantize(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, alpha, beta, bits, g, signed, eps):
        a = torch.where(alpha > eps, alpha, torch.full_like(alpha, eps))
        qn, qp = quant_range(bits, signed=signed)
        u = (x - beta) / a
        ctx.save_for_backward(u, a, bits, g)
        ctx.signed = signed
        return torch.round(torch.minimum(torch.maximum(u, qn), qp)) * a + beta

    @staticmethod
    def backward(ctx, grad):
        u, a, bits, g = ctx.saved_tensors
        qn, qp = quant_range(bits, signed=ctx.signed)
        small, big = (u < qn).to(grad.dtype), (u > qp).to(grad.dtype)
        inside = 1.0 - small - big
        g_alpha = (inside * (torch.round(u) - u) + small * qn + big * qp) * grad
        g_beta = (1.0 - inside) * grad
        if ctx.signed:
            g_bits = a * 2.0 ** (bits - 1) * _LN2 * (big - small) * grad
        else:
            g_bits = a * 2.0**bits * _LN2 * big * grad
        # beta carries no LSQ scale g (the reference applies grad_scale to alpha only)
        return (inside * grad, _reduce_to(g_alpha, a.shape) * g, _reduce_to(g_beta, a.shape),
                _reduce_to(g_bits, bits.shape), None, None, None)


def quantize(
    x: Tensor,
    scales: Tensor,
    bits: Tensor,
    *,
    signed: bool,
    offsets: Tensor | None = None,
    axis: int = 0,
    eps: float = 1e-4,
) -> Tensor:
    """Quantize ``x`` at the learnable width ``bits`` with the switchable scale ``scales``.

    Parameters
    ----------
    x : Tensor
        Any shape. With ``H = bits.numel() > 1`` (head-wise), dimension ``axis`` of ``x``
        is split into ``H`` equal consecutive groups, group ``h`` quantized at width
        ``bits[h]`` with scale ``scales[round(bits[h]) - 2]``.
    scales : Tensor
        ``[7]`` scales for widths 2..8, shared by all heads; only the entries of the
        current widths are used and receive gradient. Clamped below at ``eps`` (forward).
    bits : Tensor
        ``[H]`` real widths; rounded and clamped with :func:`round_bits`.
    signed : bool
        Signed (``[-2^(b-1), 2^(b-1) - 1]``) or unsigned (``[0, 2^b - 1]``) codes.
    offsets : Tensor, optional
        ``[7]`` offsets ``beta`` (one per width), subtracted before and added after.

    Returns
    -------
    Tensor
        Same shape as ``x``: ``round(clamp((x - beta) / alpha, Qn, Qp)) * alpha + beta``.
    """
    b = round_bits(bits.reshape(-1))
    heads = b.numel()
    idx = b.detach().long() - BIT_MIN
    alpha = scales[idx]
    beta = offsets[idx] if offsets is not None else torch.zeros_like(alpha)
    shape = x.shape
    if heads > 1:
        if shape[axis] % heads:
            raise ValueError(f"dimension {axis} of x ({shape[axis]}) must be a multiple of "
                             f"the {heads} heads")
        x = x.reshape(*shape[:axis], heads, shape[axis] // heads, *shape[axis + 1:])
        pshape = [1] * x.dim()
        pshape[axis] = heads
    else:
        pshape = [1] * max(x.dim(), 1)
    with torch.no_grad():
        qp = quant_range(b.detach(), signed=signed)[1]
        g = 1.0 / torch.sqrt((x.numel() // heads) * qp)
    view = [t.reshape(pshape) for t in (alpha, beta, b, g)]
    out = _Quantize.apply(x, *view, signed, eps)
    return out.reshape(shape)


@torch.no_grad()
def mse_scale(
    x: Tensor,
    bits: int,
    *,
    signed: bool,
    offset: bool = False,
    tol: float = 1e-5,
    max_iter: int = 10_000,
    eps: float = 1e-4,
) -> tuple[float, float]:
    """Return ``(alpha, beta)`` minimising ``||x - x_q||^2`` by fixed-point iteration.

    Start at ``beta = min(x)`` (``0`` without ``offset``) and
    ``alpha = max|x - beta| / Qp``; repeat ``q = round(clamp((x - beta) / alpha, Qn, Qp))``,
    ``alpha <- <x, q> / <q, q>`` until ``|alpha_new - alpha_old| < tol * |alpha_new|``: the
    stopping rule of the authors' ``quantize_by_mse`` (zhexinli/Q-ViT-DeiT
    ``quantization/lsq_layer.py``: ``while |(alpha - alpha_old) / alpha| >= 1e-5``), which
    has no iteration limit. For wide codes the iteration creeps and takes hundreds of
    steps (460 for 6-bit codes of 36,864 standard-normal samples), so ``max_iter`` is only
    a safety cap far above that (10,000) against a cycle that never settles; below the
    cap, one more step moves ``alpha`` by less than ``tol`` relative. With
    ``offset`` the reference alternates ``alpha <- <x - beta, q> / <q, q>`` and
    ``beta <- mean(x - alpha q)``; for fixed codes that alternation converges (linearly,
    often for hundreds of steps) to the least-squares line ``alpha = cov(q, x) / var(q)``,
    ``beta = mean(x) - alpha mean(q)``, which is taken directly here (same fixed points).
    ``alpha`` never goes below ``eps``. Computed in float64.
    """
    x = x.detach().reshape(-1).double()
    qn, qp = quant_range(bits, signed=signed)
    if offset:
        qn = 0.0
    beta = x.min() if offset else torch.zeros((), dtype=x.dtype)
    alpha = max(float((x - beta).abs().max()) / qp, eps)
    q = torch.empty_like(x)  # the codes, rewritten in place: hundreds of steps
    for _ in range(max_iter):
        if offset:
            torch.sub(x, beta, out=q).div_(alpha)
        else:
            torch.div(x, alpha, out=q)
        q.clamp_(qn, qp).round_()
        if offset:
            qc = q - q.mean()
            qq = float(torch.dot(qc, qc))
            if qq == 0:
                break
            new = max(float(torch.dot(qc, x)) / qq, eps)
            beta = x.mean() - new * q.mean()
        else:
            qq = float(torch.dot(q, q))
            if qq == 0:
                break
            new = max(float(torch.dot(x, q)) / qq, eps)
        done = abs(new - alpha) < tol * abs(new)
        alpha = new
        if done:
            break
    return alpha, float(beta)


@torch.no_grad()
def init_tables(x: Tensor, *, signed: bool, offset: bool = False,
                eps: float = 1e-4) -> tuple[Tensor, Tensor]:
    """Return ``(scales [7], offsets [7])``: :func:`mse_scale` of ``x`` at widths 2..8."""
    pairs = [mse_scale(x, b, signed=signed, offset=offset, eps=eps)
             for b in range(BIT_MIN, BIT_MAX + 1)]
    return (torch.tensor([p[0] for p in pairs], dtype=torch.float32),
            torch.tensor([p[1] for p in pairs], dtype=torch.float32))
