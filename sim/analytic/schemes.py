"""Named schemes: the compression settings of the what-if tables, as :class:`SchemeCfg`."""

from __future__ import annotations

from golden.accel_spec import FLOAT_BITS, SchemeCfg
from golden.errors import VitsimError
from golden.model_cfg import ViTCfg

__all__ = ["SCHEMES", "scheme_preset"]

_F = FLOAT_BITS

#: Preset fields; ``gsb_lowrank`` also sets ``rank = embed_dim // 4`` (see scheme_preset).
SCHEMES = {
    "fp32": dict(w_bits=_F, a_bits=_F, softmax_bits=_F, embed_bits=_F),
    "int8": dict(w_bits=8, a_bits=8),
    "qvit4": dict(w_bits=4, a_bits=4),  # uniform W4A4 = the Q-ViT 4-bit BitOPs budget
    "qvit3": dict(w_bits=3, a_bits=3),
    "binary": dict(w_bits=1, a_bits=1, groups=1, attn_bias=True),  # plain binarisation
    "gsb": dict(w_bits=1, a_bits=1, groups=3, attn_bias=True),
    "gsb_lowrank": dict(w_bits=1, a_bits=1, groups=3, attn_bias=True),
}


def scheme_preset(preset: str, vit: ViTCfg | None = None, **overrides) -> SchemeCfg:
    """Return ``preset`` (with field ``overrides``) as a :class:`SchemeCfg`.

    ``gsb_lowrank`` factorises every encoder linear at rank ``embed_dim // 4`` (needs
    ``vit``): 1/3 of the dense block-linear weights, near the -60 % point of the
    mixed-rank paper on DeiT-B.

    Raises
    ------
    VitsimError
        Unknown preset, or a field the config rejects.
    """
    if preset not in SCHEMES:
        raise VitsimError(f"unknown scheme {preset!r}; known schemes: {', '.join(SCHEMES)}")
    fields = dict(SCHEMES[preset], name=preset)
    if preset == "gsb_lowrank":
        if vit is None:
            raise VitsimError("scheme 'gsb_lowrank' needs the model (its rank is embed_dim / 4)")
        fields["rank"] = vit.embed_dim // 4
    fields.update(overrides)
    return SchemeCfg.from_dict(fields, source=f"scheme {preset}")

