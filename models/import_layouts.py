"""Parameter layouts of checkpoints trained elsewhere, as rules onto vitsim's names.

Each layout maps one parameter (or buffer) name of a vitsim model to where its value lies
in a foreign state dict (:class:`Source`). The layouts were read from the public code:

- ``timm``: timm's ``VisionTransformer`` / ``VisionTransformerDistilled`` (DeiT). vitsim's
  float models are built on those classes with the same module names, so every name maps
  to itself (``fp_*`` models; also the float teacher of GSB).
- ``qvit``: Zhexin Li et al.'s Q-ViT DeiT code (zhexinli/Q-ViT-DeiT,
  ``quantization/quantvit_mixpre.py``, ``lsq_layer.py``, ``_quan_base.py``; read in its
  public forks, as the stored copy of the original lacks those files). Quantizers hold
  ``nbits`` (``[1]``, or ``[H]`` head-wise), ``alpha [7]``, ``beta [7]`` (the GELU output
  only) and an ``init_state [1]`` buffer; the attention has separate ``proj_q``/``proj_k``/
  ``proj_v`` linears; the MLP's quantizers are ``quant1`` (fc1 input) and ``quant2`` (GELU
  output); ``patch_embed.quant`` quantizes the image and ``quant`` the classifier input.
- ``gsb``: Gao et al.'s stage-2 binary DeiT (IMRL/GSB-Vision-Transformer,
  ``One_bit_vit_new.py``, ``quant_new_new.py``). Scales are scalar ``AlphaInit``
  parameters: ``input_clip_val`` of every ``QuantizeLinear`` (and ``weight_clip_val`` of the
  8-bit heads), ``clip_query``/``clip_key``, three ``clip_value*`` and three ``clip_attn*``
  scales, which vitsim stores as ``[3]`` vectors; the attention shift is ``move_att``; the
  patch convolution's per-channel scale is ``alpha`` with an ``init_state`` buffer.
  ``AlphaInit``'s ``initialized`` flag is not saved by torch; an imported scale counts as
  initialised.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["LAYOUTS", "SCHEMES", "Source", "source_of"]

#: The vitsim schemes each layout can fill (the prefix of the model name).
SCHEMES = {"timm": ("fp",), "qvit": ("qvit", "lsq"), "gsb": ("gsb",)}


@dataclass(frozen=True)
class Source:
    """Where a vitsim parameter comes from.

    ``kind``: ``"copy"`` (one key, same shape), ``"stack"`` (one scalar per key, stacked
    into a vector), ``"flag"`` (one key holding a number, non-zero means true) or ``"set"``
    (no key: the flag is true).
    """

    keys: tuple[str, ...]
    kind: str = "copy"


def _rules(pairs: list[tuple[str, str]]):
    return [(re.compile(p), r) for p, r in pairs]


_QVIT_MODULES = _rules([
    (r"^patch_embed\.proj\.x_quant\.", "patch_embed.quant."),
    (r"^patch_embed\.proj\.w_quant\.", "patch_embed.proj."),
    (r"^head\.x_quant\.", "quant."),
    (r"^head\.w_quant\.", "head."),
    (r"\.attn\.([qkv])\.w_quant\.", r".attn.proj_\1."),
    (r"\.attn\.([qkv])\.", r".attn.proj_\1."),
    (r"\.attn\.proj\.w_quant\.", ".attn.proj."),
    (r"\.mlp\.(fc[12])\.w_quant\.", r".mlp.\1."),
    (r"\.mlp\.quant_in\.", ".mlp.quant1."),
    (r"\.mlp\.quant_gelu\.", ".mlp.quant2."),
])

_GSB_SCALARS = _rules([
    (r"\.act_quant\.alpha$", ".input_clip_val"),
    (r"^(head|head_dist)\.x_quant\.alpha$", r"\1.input_clip_val"),
    (r"^(head|head_dist)\.w_quant\.alpha$", r"\1.weight_clip_val"),
    (r"\.attn\.q_quant\.alpha$", ".attn.clip_query"),
    (r"\.attn\.k_quant\.alpha$", ".attn.clip_key"),
    (r"\.attn\.move_attn\.bias$", ".attn.move_att.bias"),
    (r"^patch_embed\.proj\.w_quant\.alpha$", "patch_embed.proj.alpha"),
])


def _apply(rules, name: str) -> str:
    for pattern, repl in rules:
        name = pattern.sub(repl, name)
    return name


def _qvit(name: str, shape: tuple) -> Source:
    src = _apply(_QVIT_MODULES, name)
    if src.endswith(".initialized"):
        return Source((src[: -len("initialized")] + "init_state",), "flag")
    if src.endswith(".bits"):
        src = src[: -len("bits")] + "nbits"
    return Source((src,))


def _gsb(name: str, shape: tuple) -> Source:
    if name == "patch_embed.proj.w_quant.initialized":
        return Source(("patch_embed.proj.init_state",), "flag")
    if name.endswith(".initialized"):
        return Source((), "set")
    for plane, stem in ((".attn.v_quant.alpha", "clip_value"), (".attn.attn_quant.alpha",
                                                                   "clip_attn")):
        if name.endswith(plane):
            base = name[: -len(plane)] + ".attn."
            n = shape[0] if shape else 1
            return Source(tuple(base + stem + (str(k + 1) if k else "") for k in range(n)),
                          "stack")
    return Source((_apply(_GSB_SCALARS, name),))


def _timm(name: str, shape: tuple) -> Source:
    return Source((name,))


#: Layout name -> ``fn(vitsim name, vitsim shape) -> Source``.
LAYOUTS = {"timm": _timm, "qvit": _qvit, "gsb": _gsb}


def source_of(layout: str, name: str, shape: tuple) -> Source:
    """Return the :class:`Source` of vitsim parameter ``name`` (of ``shape``) in ``layout``."""
    return LAYOUTS[layout](name, tuple(shape))
