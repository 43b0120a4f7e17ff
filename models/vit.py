"""Compressed ViTs on timm's ``VisionTransformer`` (and DeiT's distilled variant).

:func:`build_vit` injects :mod:`models.layers` through timm's ``attn_layer``, ``mlp_layer``
and ``embed_layer`` hooks and swaps in 8-bit heads; no timm file is forked. Registered
entry points are ``{scheme}_{arch}`` for the schemes ``fp`` (float teacher), ``binary``
(plain binarisation: one plane, clipped STE) and ``gsb``, and the architectures
``vit_digits`` (8x8 digits), ``vit_mnist`` (MNIST-5k, centre 24x24),
``deit_{tiny,small,base}_distilled_patch16_224``.

:func:`build_qvit` does the same with :mod:`models.qvit_layers` for the schemes ``lsq``
(uniform) and ``qvit`` (learned widths) on :data:`QVIT_ARCHS` (not distilled):
``{lsq,qvit}_{arch}`` take any :class:`QViTCfg` field, and the presets
``{lsq_w4a4,lsq_w3a3,qvit_w4a4,qvit_w3a3}_{arch}`` fix the widths or the budget.
"""

from __future__ import annotations

import dataclasses
from functools import partial

from timm.layers import Mlp, PatchEmbed
from timm.models.deit import VisionTransformerDistilled
from timm.models.vision_transformer import VisionTransformer
from torch import nn

from golden.model_cfg import GSB_SCHEMES, QVIT_SCHEMES, GSBCfg, QViTCfg, ViTCfg
from golden.spec import ConfigError
from models.layers import (
    BinaryMlp,
    GSBAttnQuantizer,
    GSBValueQuantizer,
    QAttention,
    QHead,
    QPatchEmbed,
    bind_layer,
)
from models.qvit_layers import QViTAttention, QViTHead, QViTMlp, QViTPatchEmbed
from models.registry import register_model

__all__ = ["ARCHS", "BINARY_NORM_EPS", "DATA_ARCHS", "QVIT_ARCHS", "QVIT_PRESETS", "build_qvit",
           "build_vit",
           "set_per_image", "split_overrides"]

#: Architectures: ViTCfg fields of each registered geometry.
ARCHS = {
    # 8x8 digits: 16 patches of 2x2 + cls + dist = 18 tokens; head_dim 32.
    "vit_digits": dict(img_size=8, patch_size=2, in_chans=1, num_classes=10, embed_dim=64,
                       depth=4, num_heads=2),
    # MNIST-5k, centre 24x24: 36 patches of 4x4 + cls + dist = 38 tokens; the digits
    # widths (embed 64, 2 heads of 32, 4 blocks). The accelerator's compiler needs patch
    # sides that are powers of two (its beats are whole patch rows): 7x7 patches fail.
    "vit_mnist": dict(img_size=24, patch_size=4, in_chans=1, num_classes=10, embed_dim=64,
                      depth=4, num_heads=2),
    "deit_tiny_distilled_patch16_224": dict(img_size=224, patch_size=16, num_classes=1000,
                                  embed_dim=192, depth=12, num_heads=3),
    "deit_small_distilled_patch16_224": dict(img_size=224, patch_size=16, num_classes=1000,
                                   embed_dim=384, depth=12, num_heads=6),
    "deit_base_distilled_patch16_224": dict(img_size=224, patch_size=16, num_classes=1000,
                                  embed_dim=768, depth=12, num_heads=12),
}

#: LayerNorm eps of binary/GSB models: the GSB authors' ``Q_OVitLayerNorm`` (eps 1e-12
#: inside the square root, biased variance: ``nn.LayerNorm``'s formula) for every norm of
#: their binary ViT. Float models keep timm's 1e-6 (the authors' teacher is a timm DeiT).
#: The integer model's I-LayerNorm has no eps (``std = max(isqrt(var), 1)``).
BINARY_NORM_EPS = 1e-12

#: The architecture made for each bundled dataset (``--data`` name -> arch).
DATA_ARCHS = {"digits": "vit_digits", "mnist5k": "vit_mnist"}

#: Architectures of the lsq/qvit schemes: not distilled (the Q-ViT reference trains
#: without distillation; DeiT-T at 224 has N = 197 tokens, as its BitOPs budget).
QVIT_ARCHS = {
    "vit_digits": dict(ARCHS["vit_digits"], distilled=False),
    "vit_mnist": dict(ARCHS["vit_mnist"], distilled=False),
    **{f"deit_{size}_patch16_224": dict(ARCHS[f"deit_{size}_distilled_patch16_224"],
                                        distilled=False)
       for size in ("tiny", "small", "base")},
}

#: Registered variants ``{scheme}_{preset}_{arch}``: uniform LSQ at W4A4/W3A3 and Q-ViT
#: with the budget of uniform W4A4/W3A3 BitOPs (``budget=0``: named by w_bits/a_bits).
QVIT_PRESETS = {
    "lsq_w4a4": dict(learn_bits=False, w_bits=4, a_bits=4),
    "lsq_w3a3": dict(learn_bits=False, w_bits=3, a_bits=3),
    "qvit_w4a4": dict(learn_bits=True, w_bits=4, a_bits=4),
    "qvit_w3a3": dict(learn_bits=True, w_bits=3, a_bits=3),
}

_VIT_FIELDS = {f.name for f in dataclasses.fields(ViTCfg)}
_GSB_FIELDS = {f.name for f in dataclasses.fields(GSBCfg)}
_QVIT_FIELDS = {f.name for f in dataclasses.fields(QViTCfg)}


def build_vit(cfg: ViTCfg, qcfg: GSBCfg | None = None) -> nn.Module:
    """Return a timm ViT of geometry ``cfg``, float (``qcfg=None``) or binarised.

    Every LayerNorm has eps 1e-6 (timm) in a float model, :data:`BINARY_NORM_EPS` in a
    binarised one. The model carries ``vit_cfg`` and ``gsb_cfg`` attributes. Distilled models return
    ``(head, head_dist)`` logits in training after ``set_distilled_training(True)``,
    their average otherwise.
    """
    model_cls = VisionTransformerDistilled if cfg.distilled else VisionTransformer
    hooks = dict(attn_layer=bind_layer(QAttention, qcfg=qcfg, num_tokens=cfg.num_tokens))
    if qcfg is None:
        hooks.update(mlp_layer=Mlp, embed_layer=PatchEmbed)
    else:
        hooks.update(mlp_layer=bind_layer(BinaryMlp, qcfg=qcfg),
                     embed_layer=bind_layer(QPatchEmbed, qcfg=qcfg),
                     norm_layer=partial(nn.LayerNorm, eps=BINARY_NORM_EPS))
    model = model_cls(
        img_size=cfg.img_size, patch_size=cfg.patch_size, in_chans=cfg.in_chans,
        num_classes=cfg.num_classes, embed_dim=cfg.embed_dim, depth=cfg.depth,
        num_heads=cfg.num_heads, mlp_ratio=cfg.mlp_ratio, qkv_bias=cfg.qkv_bias,
        global_pool="token", **hooks,
    )
    if qcfg is not None:
        model.head = QHead.from_linear(model.head, qcfg)
        if cfg.distilled:
            model.head_dist = QHead.from_linear(model.head_dist, qcfg)
    model.vit_cfg, model.gsb_cfg = cfg, qcfg
    return model


def build_qvit(cfg: ViTCfg, qcfg: QViTCfg) -> nn.Module:
    """Return a timm ViT of geometry ``cfg`` quantized as uniform LSQ or Q-ViT (``qcfg``).

    The model carries ``vit_cfg``, ``qvit_cfg`` and ``gsb_cfg = None`` attributes.
    """
    if cfg.distilled:
        raise ConfigError("lsq/qvit models are not distilled: distilled must be False")
    model = VisionTransformer(
        img_size=cfg.img_size, patch_size=cfg.patch_size, in_chans=cfg.in_chans,
        num_classes=cfg.num_classes, embed_dim=cfg.embed_dim, depth=cfg.depth,
        num_heads=cfg.num_heads, mlp_ratio=cfg.mlp_ratio, qkv_bias=cfg.qkv_bias,
        global_pool="token", attn_layer=bind_layer(QViTAttention, qcfg=qcfg),
        mlp_layer=bind_layer(QViTMlp, qcfg=qcfg),
        embed_layer=bind_layer(QViTPatchEmbed, qcfg=qcfg),
    )
    model.head = QViTHead.from_linear(model.head, qcfg)
    model.vit_cfg, model.qvit_cfg, model.gsb_cfg = cfg, qcfg, None
    return model


def set_per_image(model: nn.Module, per_image: bool = True) -> nn.Module:
    """Switch the GSB reductions of ``model`` to per image (or back to per batch), in place.

    Updates ``model.gsb_cfg``; a float model is returned unchanged.
    """
    if getattr(model, "gsb_cfg", None) is None:
        return model
    model.gsb_cfg = dataclasses.replace(model.gsb_cfg, per_image=per_image)
    for m in model.modules():
        if isinstance(m, (GSBAttnQuantizer, GSBValueQuantizer)):
            m.per_image = per_image
    return model


def split_overrides(kwargs: dict) -> tuple[dict, dict]:
    """Split config overrides into ``(ViTCfg fields, GSBCfg fields)``; others raise."""
    unknown = sorted(set(kwargs) - _VIT_FIELDS - _GSB_FIELDS)
    if unknown:
        raise ConfigError(f"unknown model field {unknown[0]!r}")
    vit = {k: v for k, v in kwargs.items() if k in _VIT_FIELDS}
    return vit, {k: v for k, v in kwargs.items() if k in _GSB_FIELDS}


def _create(scheme: str, arch: str, pretrained: bool, kwargs: dict) -> nn.Module:
    if pretrained:
        raise ConfigError("pretrained weights are not available (no downloads); use False")
    vit_kw, gsb_kw = split_overrides(kwargs)
    cfg = ViTCfg(**{**ARCHS[arch], **vit_kw})
    if scheme == "fp":
        if gsb_kw:
            raise ConfigError(f"fp models take no binarisation field, got {sorted(gsb_kw)[0]!r}")
        qcfg = None
    elif scheme == "binary":
        if tuple(gsb_kw.get("thresholds", ())):
            raise ConfigError("binary models have no groups: thresholds must be ()")
        qcfg = GSBCfg(**{**gsb_kw, "thresholds": ()})
    else:
        qcfg = GSBCfg(**gsb_kw)
        if not qcfg.thresholds:
            raise ConfigError("gsb models need at least one threshold (binary has none)")
    model = build_vit(cfg, qcfg)
    model.vitsim_name = f"{scheme}_{arch}"
    return model


def _create_qvit(scheme: str, preset: dict, arch: str, pretrained: bool,
                 kwargs: dict) -> nn.Module:
    if pretrained:
        raise ConfigError("pretrained weights are not available (no downloads); use False")
    unknown = sorted(set(kwargs) - _VIT_FIELDS - _QVIT_FIELDS)
    if unknown:
        raise ConfigError(f"unknown model field {unknown[0]!r}")
    vit_kw = {k: v for k, v in kwargs.items() if k in _VIT_FIELDS}
    q_kw = {**preset, **{k: v for k, v in kwargs.items() if k in _QVIT_FIELDS}}
    qcfg = QViTCfg(**q_kw)
    if qcfg.scheme != scheme:
        raise ConfigError(f"{scheme} models need learn_bits={scheme == 'qvit'}")
    model = build_qvit(ViTCfg(**{**QVIT_ARCHS[arch], **vit_kw}), qcfg)
    return model


def _qvit_entrypoint(scheme: str, preset: str | None, arch: str):
    name = "_".join(p for p in (preset or scheme, arch))
    fields = dict(QVIT_PRESETS[preset]) if preset else {"learn_bits": scheme == "qvit"}

    def entry(pretrained: bool = False, **kwargs) -> nn.Module:
        model = _create_qvit(scheme, fields, arch, pretrained, kwargs)
        model.vitsim_name = name
        return model

    entry.__name__ = entry.__qualname__ = name
    entry.__doc__ = f"{name}: {QVIT_ARCHS[arch]}, {fields}; overrides of ViTCfg/QViTCfg."
    return entry


def _entrypoint(scheme: str, arch: str):
    def entry(pretrained: bool = False, **kwargs) -> nn.Module:
        return _create(scheme, arch, pretrained, kwargs)

    entry.__name__ = entry.__qualname__ = f"{scheme}_{arch}"
    entry.__doc__ = f"{scheme} {arch}: {ARCHS[arch]}; keyword overrides of ViTCfg/GSBCfg."
    return entry


for _scheme in GSB_SCHEMES:
    for _arch in ARCHS:
        register_model(_entrypoint(_scheme, _arch))

for _scheme in QVIT_SCHEMES:
    for _arch in QVIT_ARCHS:
        register_model(_qvit_entrypoint(_scheme, None, _arch))
        for _preset in QVIT_PRESETS:
            if _preset.startswith(f"{_scheme}_"):
                register_model(_qvit_entrypoint(_scheme, _preset, _arch))
