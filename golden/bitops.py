"""MACs and BitOPs: the one definition shared by the analytic model and the Q-ViT models.

BitOPs follow Q-ViT (Zhexin Li et al., ``engine.py`` / ``quantvit_mixpre.py``): a product
of a ``w_bits`` operand and an ``a_bits`` operand costs ``w_bits * a_bits`` bit operations,
so a layer costs ``MACs * w_bits * a_bits``; for head-wise widths the per-head costs add up
(Q-ViT's ``N^2 * C * mean_h(b_q * b_k)`` is the same number, since each head holds ``C / H``
of the channels). Pure integer arithmetic: no numpy, no torch.
"""

from __future__ import annotations

from collections.abc import Sequence

__all__ = [
    "HEAD_KEYS",
    "TENSOR_KEYS",
    "attention_bitops",
    "bitops",
    "gemm_macs",
    "linear_bitops",
    "qvit_block_bitops",
    "qvit_vit_bitops",
    "uniform_block_bits",
]


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


#: Width keys of one Q-ViT encoder block (:func:`qvit_block_bitops`). Per-head keys hold
#: one width per head; the others one width for the whole tensor.
HEAD_KEYS = ("w_q", "w_k", "w_v", "a_q", "a_k", "a_v", "a_attn", "a_out", "w_proj")
TENSOR_KEYS = ("a_in", "a_fc1", "w_fc1", "a_fc2", "w_fc2")


def uniform_block_bits(*, num_heads: int, w_bits, a_bits) -> dict:
    """Widths of one block quantized uniformly: every weight ``w_bits``, activation ``a_bits``."""
    bits = {k: [w_bits if k.startswith("w") else a_bits] * num_heads for k in HEAD_KEYS}
    bits.update({k: w_bits if k.startswith("w") else a_bits for k in TENSOR_KEYS})
    return bits


def qvit_block_bitops(*, tokens: int, embed_dim: int, hidden_dim: int, num_heads: int,
                      bits: dict):
    """BitOPs of one Q-ViT encoder block with head-wise widths (``PAPERS.md`` §2.7).

    ``bits`` maps every key of :data:`HEAD_KEYS` to ``num_heads`` widths and every key of
    :data:`TENSOR_KEYS` to one width (see :func:`uniform_block_bits`). Head ``h`` owns
    rows ``h*d..(h+1)*d-1`` of ``W_q, W_k, W_v``, the same columns of ``W_proj`` and its
    slice of q, k, v, the attention probabilities and the ``A V`` output (``d = C / H``):

    - q/k/v projections: ``sum_h N*C*d * (w_q[h] + w_k[h] + w_v[h]) * a_in``
    - ``Q K^T``: ``sum_h N^2*d * a_q[h] * a_k[h]``; ``A V``: ``sum_h N^2*d * a_attn[h] * a_v[h]``
    - proj: ``sum_h N*d*C * w_proj[h] * a_out[h]``
    - fc1: ``N*C*hidden * w_fc1 * a_fc1``; fc2: ``N*hidden*C * w_fc2 * a_fc2``.

    Only ``+`` and ``*`` touch the widths, so they may be ints (exact integer result) or
    torch tensors (the result is differentiable through them: the Q-ViT loss uses this).

    >>> qvit_block_bitops(tokens=197, embed_dim=192, hidden_dim=768, num_heads=3,
    ...                   bits=uniform_block_bits(num_heads=3, w_bits=4, a_bits=4))
    1632786432
    """
    n, c = _check("tokens", tokens, 0), _check("embed_dim", embed_dim, 1)
    hidden, heads = _check("hidden_dim", hidden_dim, 0), _check("num_heads", num_heads, 1)
    if c % heads:
        raise ValueError(f"embed_dim ({c}) must be a multiple of num_heads ({heads})")
    for key in HEAD_KEYS:
        if len(bits[key]) != heads:
            raise ValueError(f"{key} must have one width per head ({heads}), "
                             f"not {len(bits[key])}")
    d = c // heads
    lin, att = n * c * d, n * n * d
    total = 0
    for h in range(heads):
        total = total + lin * (bits["w_q"][h] + bits["w_k"][h] + bits["w_v"][h]) * bits["a_in"]
        total = total + att * (bits["a_q"][h] * bits["a_k"][h] + bits["a_attn"][h] * bits["a_v"][h])
        total = total + lin * bits["w_proj"][h] * bits["a_out"][h]
    mlp = n * c * hidden
    return total + mlp * (bits["w_fc1"] * bits["a_fc1"] + bits["w_fc2"] * bits["a_fc2"])


def qvit_vit_bitops(*, num_patches: int, patch_weights: int, num_classes: int,
                    embed_dim: int, hidden_dim: int, num_heads: int, blocks: list,
                    extra_tokens: int = 1, embed_bits: int = 8):
    """BitOPs of a whole Q-ViT: patch embedding, one entry of ``blocks`` per block, head.

    The patch embedding (``num_patches`` tokens of ``patch_weights`` weights) and the
    classifier (one token) are fixed at ``embed_bits`` for weights and inputs; each block
    runs on ``num_patches + extra_tokens`` tokens (class token, plus a distillation token
    when distilled) with the widths of its entry of ``blocks`` (:func:`qvit_block_bitops`).

    >>> blk = uniform_block_bits(num_heads=3, w_bits=4, a_bits=4)
    >>> qvit_vit_bitops(num_patches=196, patch_weights=16 * 16 * 3 * 192, num_classes=1000,
    ...                 embed_dim=192, hidden_dim=768, num_heads=3, blocks=[blk] * 12)
    21455413248
    """
    tokens = num_patches + _check("extra_tokens", extra_tokens, 0)
    total = linear_bitops(tokens=num_patches, weights=patch_weights, w_bits=embed_bits,
                          a_bits=embed_bits)
    total += linear_bitops(tokens=1, weights=embed_dim * num_classes, w_bits=embed_bits,
                           a_bits=embed_bits)
    for bits in blocks:
        total = total + qvit_block_bitops(tokens=tokens, embed_dim=embed_dim,
                                          hidden_dim=hidden_dim, num_heads=num_heads,
                                          bits=bits)
    return total
