"""Quantizers of Group Superposition Binarization (GSB), forward and backward.

Each quantizer is an autograd-aware function of a tensor and its learnable scale(s), so
that it can be checked alone against the equations of ``PAPERS.md`` §1 (which follow the
authors' ``quant_new_new.py``):

- :func:`bwn` -- weights, ``mean|W| * sign(W - mean W)``, identity straight-through.
- :func:`binarize_signed` -- ``alpha * sign(x)``; LSQ-style (elastic) scale gradient,
  clipped STE ``1[|x/alpha| <= 1]``.
- :func:`binarize_unsigned` -- ``alpha * [x/alpha > 0.5]`` (``round`` is half-to-even, so
  a tie ``x/alpha == 0.5`` codes 0); clipped STE ``1[0 <= x/alpha <= 1]``.
- :func:`gsb_attention` -- base plane plus one mask plane per threshold of the max, one
  scale per plane, input gradient with the alpha-weighted mask terms.
- :func:`gsb_value` -- sign plus two-tailed masks, one scale per plane.
- :func:`lsq_quantize` -- the 8-bit LSQ of the patch embedding and heads.

Scales are clamped below at ``eps`` in the forward pass only; their gradient is returned
for the raw (unclamped) parameter, as in the reference. Reductions (max/min) span the whole
tensor (batch-wide, the training default) or each image (``per_image=True``, golden
vectors). Every scale's gradient is scaled by ``1 / sqrt(count)`` (``numel`` for the base
plane, the mask population for a group), the LSQ rule with ``Qp = 1``.

:func:`init_signed_scale`, :func:`init_unsigned_scale`, :func:`init_attention_scales` and
:func:`init_value_scales` are the first-forward initialisation rules.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from golden.kernels import code_range

__all__ = [
    "binarize_signed",
    "binarize_unsigned",
    "bwn",
    "bwn_parts",
    "clamp_scale",
    "group_masks",
    "gsb_attention",
    "gsb_value",
    "init_attention_scales",
    "init_lsq_scale",
    "init_signed_scale",
    "init_unsigned_scale",
    "init_value_scales",
    "lsq_quantize",
    "residual_scales",
]


def clamp_scale(alpha: Tensor, eps: float) -> Tensor:
    """Return ``alpha`` clamped below at ``eps`` (the forward-pass value of every scale)."""
    return torch.where(alpha > eps, alpha, torch.full_like(alpha, eps))


def _inv_sqrt(count: Tensor | int) -> float:
    return 1.0 / math.sqrt(max(float(count), 1.0))


# --- weights ---------------------------------------------------------------------------


class _Bwn(torch.autograd.Function):
    @staticmethod
    def forward(ctx, w):
        return w.abs().mean() * torch.sign(w - w.mean())

    @staticmethod
    def backward(ctx, grad):
        return grad


def bwn(w: Tensor) -> Tensor:
    """Binarise a weight tensor as BWN: ``mean|W| * sign(W - mean(W))``.

    One scale per tensor, computed on ``W`` itself (not on ``W - mean W``). Gradient:
    identity (``dL/dW = G``), no clipping. ``sign(0) = 0`` as in the reference.
    """
    return _Bwn.apply(w)


def bwn_parts(w: Tensor) -> tuple[Tensor, Tensor]:
    """Return ``(signs, scale)`` with ``bwn(w) == scale * signs``; signs int8 in {-1, 0, 1}.

    Zero codes only for an element exactly equal to the mean of ``w``.
    """
    with torch.no_grad():
        return torch.sign(w - w.mean()).to(torch.int8), w.abs().mean()


# --- elastic activation binarisers ---------------------------------------------------


class _Signed(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, alpha, eps):
        a = clamp_scale(alpha, eps)
        ctx.save_for_backward(x, a)
        return a * torch.sign(x)

    @staticmethod
    def backward(ctx, grad):
        x, a = ctx.saved_tensors
        u = x / a
        inside = ((u >= -1) & (u <= 1)).to(grad.dtype)
        g_alpha = (torch.sign(x) - inside * u) * grad * _inv_sqrt(x.numel())
        return inside * grad, g_alpha.sum().reshape(a.shape), None


class _Unsigned(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, alpha, eps):
        a = clamp_scale(alpha, eps)
        ctx.save_for_backward(x, a)
        return a * torch.clamp(torch.round(x / a), 0, 1)

    @staticmethod
    def backward(ctx, grad):
        x, a = ctx.saved_tensors
        u = x / a
        inside = ((u >= 0) & (u <= 1)).to(grad.dtype)
        big = (u > 1).to(grad.dtype)
        g_alpha = (big + inside * (torch.round(u) - u)) * grad * _inv_sqrt(x.numel())
        return inside * grad, g_alpha.sum().reshape(a.shape), None


def binarize_signed(x: Tensor, alpha: Tensor, *, eps: float = 1e-5) -> Tensor:
    """Return ``alpha * sign(x)`` (``sign(0) = 0``), the elastic signed binariser.

    With ``u = x / alpha`` and ``M = 1[-1 <= u <= 1]``:
    ``dL/dx = M * G`` and ``dL/dalpha = sum((sign(x) - M * u) * G) / sqrt(numel(x))``.
    ``alpha`` is a scalar tensor, clamped at ``eps`` in the forward pass.
    """
    return _Signed.apply(x, alpha, eps)


def binarize_unsigned(x: Tensor, alpha: Tensor, *, eps: float = 1e-5) -> Tensor:
    """Return ``alpha * clamp(round(x / alpha), 0, 1)``, i.e. ``alpha`` where ``x/alpha > 0.5``.

    ``round`` is half-to-even, so ``x / alpha == 0.5`` codes 0. With ``u = x / alpha``
    and ``M = 1[0 <= u <= 1]``: ``dL/dx = M * G`` and
    ``dL/dalpha = sum((1[u > 1] + M * (round(u) - u)) * G) / sqrt(numel(x))``.
    """
    return _Unsigned.apply(x, alpha, eps)


# --- GSB ------------------------------------------------------------------------------


def _reduce(x: Tensor, op: str, per_image: bool) -> Tensor:
    if not per_image:
        return getattr(x, op)()
    flat = x.reshape(x.shape[0], -1)
    out = flat.amax(1) if op == "max" else flat.amin(1)
    return out.reshape((-1,) + (1,) * (x.dim() - 1))


def group_masks(
    x: Tensor, thresholds: tuple, *, two_tailed: bool, per_image: bool = False
) -> list[Tensor]:
    """Return one boolean mask per threshold ``t``: ``x > t * max(x)``.

    ``two_tailed`` (V) adds ``x < t * min(x)``. The max/min span the whole tensor, or
    each image (dimension 0) when ``per_image``. Masks are nested for increasing
    thresholds when ``max(x) > 0`` (and ``min(x) < 0``).
    """
    with torch.no_grad():
        hi = _reduce(x, "max", per_image)
        lo = _reduce(x, "min", per_image) if two_tailed else None
        masks = []
        for t in thresholds:
            m = x > t * hi
            if two_tailed:
                m = m | (x < t * lo)
            masks.append(m)
        return masks


class _GsbAttention(torch.autograd.Function):
    @staticmethod
    def forward(ctx, a, alphas, thresholds, per_image, eps):
        al = clamp_scale(alphas, eps)
        masks = [m.to(a.dtype) for m in group_masks(a, thresholds, two_tailed=False,
                                                     per_image=per_image)]
        out = al[0] * torch.clamp(torch.round(a / al[0]), 0, 1)
        for k, m in enumerate(masks):
            out = out + al[k + 1] * m
        ctx.save_for_backward(a, al, *masks)
        return out

    @staticmethod
    def backward(ctx, grad):
        a, al, *masks = ctx.saved_tensors
        u = a / al[0]
        inside = ((u >= 0) & (u <= 1)).to(grad.dtype)
        g = [((u > 1).to(grad.dtype) + inside * (torch.round(u) - u)) * grad]
        g_alphas = [(g[0].sum() * _inv_sqrt(a.numel()))]
        g_a = inside * grad
        for k, m in enumerate(masks):
            g_alphas.append((m * grad).sum() * _inv_sqrt(m.sum()))
            g_a = g_a + al[k + 1] * m * grad
        return g_a, torch.stack(g_alphas), None, None, None


class _GsbValue(torch.autograd.Function):
    @staticmethod
    def forward(ctx, v, alphas, thresholds, per_image, eps):
        al = clamp_scale(alphas, eps)
        masks = [m.to(v.dtype) for m in group_masks(v, thresholds, two_tailed=True,
                                                     per_image=per_image)]
        planes = [v] + [v * m for m in masks]
        out = al[0] * torch.sign(planes[0])
        for k in range(1, len(planes)):
            out = out + al[k] * torch.sign(planes[k])
        ctx.save_for_backward(v, al, *masks)
        return out

    @staticmethod
    def backward(ctx, grad):
        v, al, *masks = ctx.saved_tensors
        planes = [v] + [v * m for m in masks]
        counts = [v.numel()] + [m.sum() for m in masks]
        g_v = torch.zeros_like(grad)
        g_alphas = []
        for k, x in enumerate(planes):
            u = x / al[k]
            inside = ((u >= -1) & (u <= 1)).to(grad.dtype)
            g_alphas.append(((torch.sign(x) - inside * u) * grad).sum() * _inv_sqrt(counts[k]))
            g_v = g_v + inside * grad
        return g_v, torch.stack(g_alphas), None, None, None


def gsb_attention(
    a: Tensor,
    alphas: Tensor,
    *,
    thresholds: tuple = (0.7, 0.9),
    per_image: bool = False,
    eps: float = 1e-5,
) -> Tensor:
    """GSB of the attention matrix: ``a1*[a/a1 > 0.5] + sum_k a_{k+1} * T_k``.

    ``T_k = 1[a > t_k * max(a)]`` (:func:`group_masks`); ``alphas`` has one entry per
    plane (``1 + len(thresholds)``). With ``u = a / a1``, ``M = 1[0 <= u <= 1]``:

    - ``dL/da1 = sum((1[u > 1] + M * (round(u) - u)) * G) / sqrt(numel(a))``
    - ``dL/da_{k+1} = sum(T_k * G) / sqrt(sum T_k)``
    - ``dL/da = M * G + sum_k a_{k+1} * T_k * G`` (the alpha-weighted mask terms).

    With ``thresholds=()`` this is :func:`binarize_unsigned` (plain binarisation).

    Parameters
    ----------
    a : Tensor
        Attention matrix after softmax and shift, ``[B, H, N, N]`` (any shape whose
        dimension 0 is the image when ``per_image``).
    alphas : Tensor
        ``[1 + len(thresholds)]`` learnable scales; clamped at ``eps`` in the forward pass.
    thresholds : tuple of float
        Increasing fractions of the max; one mask plane each.
    per_image : bool
        Max per image (dimension 0) instead of over the whole tensor.

    Returns
    -------
    Tensor
        Same shape as ``a``, values in ``{0, a1} + sum of the set group scales``.
    """
    return _GsbAttention.apply(a, alphas, tuple(thresholds), per_image, eps)


def gsb_value(
    v: Tensor,
    alphas: Tensor,
    *,
    thresholds: tuple = (0.7, 0.9),
    per_image: bool = False,
    eps: float = 1e-5,
) -> Tensor:
    """GSB of V: ``sum_k a_k * sign(X_k)`` with ``X_1 = v`` and ``X_{k+1} = v * T_k``.

    ``T_k = 1[v > t_k * max(v)] | 1[v < t_k * min(v)]`` (two tails). Equivalently
    ``sign(v) * (a1 + sum_k a_{k+1} T_k)``. With ``u_k = X_k / a_k``,
    ``M_k = 1[|u_k| <= 1]`` and ``count_1 = numel(v)``, ``count_{k+1} = sum T_k``:

    - ``dL/da_k = sum((sign(X_k) - M_k * u_k) * G) / sqrt(count_k)``
    - ``dL/dv = sum_k M_k * G`` (outside ``T_k``, ``X_k = 0`` so ``M_k = 1``: a small
      value receives ``groups * G``, as in the reference).

    With ``thresholds=()`` this is :func:`binarize_signed` (plain binarisation).

    Parameters
    ----------
    v : Tensor
        Value tensor after its shift, ``[B, H, N, head_dim]`` (dimension 0 is the image
        when ``per_image``).
    alphas : Tensor
        ``[1 + len(thresholds)]`` learnable scales; clamped at ``eps`` in the forward pass.
    thresholds : tuple of float
        Increasing fractions of the max (and of the min, for the negative tail).
    per_image : bool
        Max/min per image (dimension 0) instead of over the whole tensor.

    Returns
    -------
    Tensor
        Same shape as ``v``: ``sign(v)`` times ``a1`` plus the scales of its groups.
    """
    return _GsbValue.apply(v, alphas, tuple(thresholds), per_image, eps)


# --- 8-bit LSQ ------------------------------------------------------------------------


class _Lsq(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, alpha, bits, eps):
        a = clamp_scale(alpha, eps)
        qn, qp = code_range(bits)
        ctx.save_for_backward(x, a)
        ctx.qn, ctx.qp = qn, qp
        return torch.clamp(torch.round(x / a), qn, qp) * a

    @staticmethod
    def backward(ctx, grad):
        x, a = ctx.saved_tensors
        qn, qp = ctx.qn, ctx.qp
        u = x / a
        small, big = (u < qn).to(grad.dtype), (u > qp).to(grad.dtype)
        inside = 1.0 - small - big
        g = (small * qn + big * qp + inside * (torch.round(u) - u)) * grad
        g = g / math.sqrt(x.numel() * qp)
        if a.numel() > 1:  # per-channel: reduce all but the broadcast (channel) dims
            dims = [d for d in range(x.dim()) if a.shape[d] == 1]
            g_alpha = g.sum(dim=dims, keepdim=True)
        else:
            g_alpha = g.sum().reshape(a.shape)
        return inside * grad, g_alpha, None, None


def lsq_quantize(x: Tensor, alpha: Tensor, *, bits: int = 8, eps: float = 1e-5) -> Tensor:
    """Signed LSQ: ``clamp(round(x / alpha), -2^(b-1), 2^(b-1) - 1) * alpha``.

    ``alpha`` is a scalar or broadcasts against ``x`` (per output channel). Gradients:
    ``dL/dx = 1[Qn <= u <= Qp] * G``; ``dL/dalpha`` is LSQ's ``(round(u) - u)`` inside,
    ``Qn``/``Qp`` outside, times ``G / sqrt(numel(x) * Qp)``.
    """
    return _Lsq.apply(x, alpha, bits, eps)


# --- first-forward initialisation ------------------------------------------------------


def init_signed_scale(x: Tensor) -> Tensor:
    """Initial scale of :func:`binarize_signed`: ``2 * mean|x|``."""
    return 2 * x.detach().abs().mean()


def init_unsigned_scale(x: Tensor) -> Tensor:
    """Initial scale of :func:`binarize_unsigned`: ``4 * mean|x|``."""
    return 4 * x.detach().abs().mean()


def init_lsq_scale(w: Tensor, *, bits: int = 8) -> Tensor:
    """Initial LSQ scale: ``2 * mean|w| / sqrt(2^(bits-1) - 1)``."""
    return 2 * w.detach().abs().mean() / math.sqrt((1 << (bits - 1)) - 1)


def _mean_where(x: Tensor, mask: Tensor) -> Tensor | None:
    n = mask.sum()
    return (x * mask).sum() / n if n > 0 else None


def init_attention_scales(a: Tensor, masks: list[Tensor]) -> Tensor:
    """Initial GSB attention scales: ``[4 mean|a|, 4 mean(a over T_k minus T_{k+1})...]``.

    The last group takes the mean over its whole mask. An empty ring falls back to the
    mean over ``T_k``; an empty ``T_k`` repeats the previous scale (the reference divides
    by zero there). These are the *stored* values; see :func:`residual_scales`.
    """
    a = a.detach()
    out = [4 * a.abs().mean()]
    for k, m in enumerate(masks):
        ring = m & ~masks[k + 1] if k + 1 < len(masks) else m
        val = _mean_where(a, ring)
        if val is None:
            val = _mean_where(a, m)
        out.append(4 * val if val is not None else out[-1])
    return torch.stack(out)


def init_value_scales(v: Tensor, masks: list[Tensor]) -> Tensor:
    """Initial GSB V scales: ``2 * mean|v|`` outside ``T_1``, over each ring, over the last.

    Means count non-zero entries only (the reference divides by ``count_nonzero``).
    Empty sets fall back as in :func:`init_attention_scales`.
    """
    av = v.detach().abs()
    nz = av > 0
    rings = []
    for k in range(len(masks) + 1):
        outside = ~masks[k] if k < len(masks) else torch.ones_like(nz)
        inside = masks[k - 1] if k > 0 else torch.ones_like(nz)
        rings.append(inside & outside & nz)
    out = []
    for k, ring in enumerate(rings):
        val = _mean_where(av, ring)
        if val is None and k > 0:
            val = _mean_where(av, masks[k - 1] & nz)
        if val is None:
            val = out[-1] / 2 if out else av.mean()
        out.append(2 * val)
    return torch.stack(out)


def residual_scales(stored: Tensor) -> Tensor:
    """Scales the reference uses on the initialising call only: ``a_k - a_{k-1}`` for k > 1.

    The stored parameters keep the un-subtracted values (``PAPERS.md`` §1.4, step 4).
    """
    out = stored.detach().clone()
    out[1:] = stored.detach()[1:] - stored.detach()[:-1]
    return out
