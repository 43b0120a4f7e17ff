"""MACs and BitOPs: the one definition shared by the analytic model and the Q-ViT models.

BitOPs follow Q-ViT (Zhexin Li et al., ``engine.py`` / ``quantvit_mixpre.py``): a product
of a ``w_bits`` operand and an ``a_bits`` operand costs ``w_bits * a_bits`` bit operations,
so a layer costs ``MACs * w_bits * a_bits``; for head-wise widths the per-head costs add up
(Q-ViT's ``N^2 * C * mean_h(b_q * b_k)`` is the same number, since each head holds ``C / H``
of the channels). Pure integer arithmetic: no numpy, no torch.
"""

from __future__ import annotations

from collections.abc import Sequence

__all__ = ["attention_bitops", "bitops", "gemm_macs", "linear_bitops"]


def _check(name: str, value, lo: int) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < lo:
        raise ValueError(f"{name} must be an integer >= {lo}, not {value!r}")
    return value


def gemm_macs(*, m: int, n: int, k: int, count: int = 1) -> int:
    """Multiply-accumulates of ``count`` independent ``[m, k] x [k, n]`` products.

    >>> gemm_macs(m=197, n=576, k=192)
    21786624
    """
    return _check("m", m, 0) * _check("n", n, 0) * _check("k", k, 0) * _check("count", count, 0)


def bitops(macs: int, *, w_bits: int, a_bits: int) -> int:
    """BitOPs of ``macs`` products of a ``w_bits`` by an ``a_bits`` operand.

    >>> bitops(100, w_bits=4, a_bits=4)
    1600
    """
    return _check("macs", macs, 0) * _check("w_bits", w_bits, 1) * _check("a_bits", a_bits, 1)


def linear_bitops(*, tokens: int, weights: int, w_bits: int, a_bits: int) -> int:
    """Q-ViT BitOPs of a linear layer: ``tokens * weights * w_bits * a_bits``.

    The patch embedding is a linear layer over ``num_patches`` tokens (Q-ViT writes it
    ``H * W * #w * b_a * b_w / P^2``, the same number); a classifier head has one token.
    """
    return bitops(_check("tokens", tokens, 0) * _check("weights", weights, 0), w_bits=w_bits,
                  a_bits=a_bits)


def attention_bitops(*, tokens: int, head_dim: int, bits: Sequence[tuple[int, int]]) -> int:
    """BitOPs of one attention product (``QK^T`` or ``AV``) over all heads.

    ``bits`` holds one ``(b_x, b_y)`` operand-width pair per head (``(b_q, b_k)`` for
    ``QK^T``, ``(b_v, b_attn)`` for ``AV``). Each head costs ``tokens^2 * head_dim`` MACs.

    >>> attention_bitops(tokens=197, head_dim=64, bits=[(4, 4)] * 3)
    119221248
    """
    per_head = gemm_macs(m=tokens, n=tokens, k=head_dim)
    return sum(bitops(per_head, w_bits=bx, a_bits=by) for bx, by in bits)
