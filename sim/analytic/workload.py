"""The op list of a ViT: every GEMM (and LayerNorm) of one frame, from a :class:`ViTCfg`.

Model names cover the demo's 8x8-digits ViT, the MNIST-5k ViT and timm's DeiT-T/S/B (plain
and distilled) and ViT-B/L geometries; only shapes matter here (timm builds them with
``pretrained=False``; ``tests/test_analytic_workload.py`` checks the parameter counts
against timm and, for the two small ones, against :mod:`models.vit`).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from golden.errors import VitsimError
from golden.model_cfg import ViTCfg

__all__ = ["MODELS", "Op", "model_cfg", "vit_ops"]

_DEIT = dict(img_size=224, patch_size=16, num_classes=1000)

#: ViTCfg fields of every known model name.
MODELS = {
    # the demo's 8x8 digits: 16 patches of 2x2 + cls + dist = 18 tokens (models.vit.ARCHS)
    "vit_digits": dict(img_size=8, patch_size=2, in_chans=1, num_classes=10, embed_dim=64,
                       depth=4, num_heads=2),
    # MNIST-5k, centre 24x24: 36 patches of 4x4 + cls + dist = 38 tokens (models.vit.ARCHS)
    "vit_mnist": dict(img_size=24, patch_size=4, in_chans=1, num_classes=10, embed_dim=64,
                      depth=4, num_heads=2),
    "deit_tiny_patch16_224": dict(_DEIT, embed_dim=192, depth=12, num_heads=3, distilled=False),
    "deit_small_patch16_224": dict(_DEIT, embed_dim=384, depth=12, num_heads=6,
                                   distilled=False),
    "deit_base_patch16_224": dict(_DEIT, embed_dim=768, depth=12, num_heads=12, distilled=False),
    "deit_tiny_distilled_patch16_224": dict(_DEIT, embed_dim=192, depth=12, num_heads=3),
    "deit_small_distilled_patch16_224": dict(_DEIT, embed_dim=384, depth=12, num_heads=6),
    "deit_base_distilled_patch16_224": dict(_DEIT, embed_dim=768, depth=12, num_heads=12),
    "vit_base_patch16_224": dict(_DEIT, embed_dim=768, depth=12, num_heads=12, distilled=False),
    "vit_large_patch16_224": dict(_DEIT, embed_dim=1024, depth=24, num_heads=16,
                                  distilled=False),
}


def model_cfg(name: str, **overrides) -> ViTCfg:
    """Return the :class:`ViTCfg` of model ``name`` with ``overrides`` applied.

    Raises
    ------
    VitsimError
        Unknown model name, or an override the config rejects.
    """
    if name not in MODELS:
        raise VitsimError(f"unknown model {name!r}; known models: {', '.join(sorted(MODELS))}")
    try:
        return ViTCfg.from_dict({**MODELS[name], **overrides}, source=f"model {name}")
    except VitsimError:
        raise
    except (TypeError, ValueError) as exc:  # pragma: no cover - from_dict wraps these
        raise VitsimError(f"model {name}: {exc}") from None


@dataclass(frozen=True)
class Op:
    """One operation of a frame.

    ``role`` is one of ``patch``, ``norm``, ``qkv``, ``qk``, ``av``, ``proj``, ``fc1``,
    ``fc2``, ``head``. A GEMM computes ``heads`` independent products
    ``[m, k] x [k, n]`` (``m`` tokens); a ``norm`` normalises ``m`` rows of ``n``.
    ``sig`` is the op without its name and block: equal sigs have equal costs.
    """

    name: str  # e.g. "blocks.3.attn.qkv"
    role: str  # patch, norm, qkv, qk, av, proj, fc1, fc2, head
    block: int | None  # encoder block, None outside the blocks
    m: int  # tokens (rows of the activation operand)
    k: int  # reduction length (0 for norm)
    n: int  # outputs per token and head
    heads: int = 1  # independent per-head products (qk, av)
    bias: bool = True  # the op has a bias vector

    @property
    def sig(self) -> tuple:
        """Everything that sets the op's costs (not its name)."""
        return (self.role, self.m, self.k, self.n, self.heads, self.bias)


@lru_cache(maxsize=256)
def vit_ops(vit: ViTCfg) -> tuple[Op, ...]:
    """Return the ops of one frame of ``vit`` in execution order.

    Per block: ``norm1``, ``attn.qkv``, ``attn.qk`` (scores and softmax), ``attn.av``,
    ``attn.proj``, ``norm2``, ``mlp.fc1`` (GELU fused), ``mlp.fc2``; then the final
    ``norm`` and one ``head`` (and ``head_dist``) over the class (distillation) token.
    """
    n_tok, d, h, dh = vit.num_tokens, vit.embed_dim, vit.num_heads, vit.head_dim
    ops = [Op("patch_embed", "patch", None, vit.num_patches,
              vit.in_chans * vit.patch_size**2, d)]
    for i in range(vit.depth):
        b = f"blocks.{i}"
        ops += [
            Op(f"{b}.norm1", "norm", i, n_tok, 0, d),
            Op(f"{b}.attn.qkv", "qkv", i, n_tok, d, 3 * d, bias=vit.qkv_bias),
            Op(f"{b}.attn.qk", "qk", i, n_tok, dh, n_tok, heads=h, bias=False),
            Op(f"{b}.attn.av", "av", i, n_tok, n_tok, dh, heads=h, bias=False),
            Op(f"{b}.attn.proj", "proj", i, n_tok, d, d),
            Op(f"{b}.norm2", "norm", i, n_tok, 0, d),
            Op(f"{b}.mlp.fc1", "fc1", i, n_tok, d, vit.hidden_dim),
            Op(f"{b}.mlp.fc2", "fc2", i, n_tok, vit.hidden_dim, d),
        ]
    ops.append(Op("norm", "norm", None, n_tok, 0, d))
    for head in ("head", "head_dist") if vit.distilled else ("head",):
        ops.append(Op(head, "head", None, 1, d, vit.num_classes))
    return tuple(ops)
