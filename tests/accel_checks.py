"""Shared checks of the accelerator-exact cycle model against compiled programs."""

from __future__ import annotations

import json

from golden.model_cfg import GSBCfg, ViTCfg
from sim.analytic.accel_cycles import accel_descs, desc_cycles, layer_cycles
from sim.compiler import compile_network

__all__ = ["compiled_by_op", "model_of", "shapes_model_matches"]


def model_of(pkg):
    """``(ViTCfg, GSBCfg)`` from a package's manifest (shapes only)."""
    model = json.loads((pkg / "manifest.json").read_text())["model"]
    return ViTCfg.from_dict(model["vit"]), GSBCfg.from_dict(model["gsb"])


def compiled_by_op(prog):
    """Per op name, the summed :func:`desc_cycles` of the program's descriptors."""
    out: dict = {}
    for name, d in zip(prog.names, prog.descs, strict=True):
        if name not in ("dma_in", "dma_out"):
            out[name] = out.get(name, 0) + desc_cycles(d, prog.cfg)
    return out


def shapes_model_matches(pkg, cfg=None):
    """Assert that the shapes-only model's descriptors (:func:`accel_descs`) are the
    compiled program's (on accelerator ``cfg``, default the compiler's sizing), in order,
    for every field the count reads, and that :func:`layer_cycles` equals the compiled
    program's count per op; return ``(program, vit, gsb)``."""
    prog = compile_network(pkg, image=0, cfg=cfg)
    vit, gsb = model_of(pkg)
    shaped = accel_descs(vit, prog.cfg, groups=gsb.groups, embed_bits=gsb.embed_bits)
    compiled = [(n, d) for n, d in zip(prog.names, prog.descs, strict=True)
                if n not in ("dma_in", "dma_out")]
    assert [n for n, _ in shaped] == [n for n, _ in compiled]
    for (name, a), (_, b) in zip(shaped, compiled, strict=True):
        for f in ("unit", "rn", "beat_cycles", "wn", "wc", "wvec", "wpack"):
            assert getattr(a, f) == getattr(b, f), (name, f)
    by_op = layer_cycles(vit, prog.cfg, groups=gsb.groups, embed_bits=gsb.embed_bits)
    assert by_op == compiled_by_op(prog)
    return prog, vit, gsb
