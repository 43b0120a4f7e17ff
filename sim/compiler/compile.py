"""Compile a network golden package into a program of the accelerator (``vitsim compile``).

Input: a network package (:mod:`golden.netpkg`) and one of its recorded images. Output: a
:class:`sim.compiler.program.Program` -- the descriptors (:mod:`golden.accel_program`), the
external-memory image that holds them and the preloaded scratchpad data, and where every
produced tensor lies in the scratchpad so the bench can compare it with the package.

Scratchpad layout: the *preload* region (``[0, preload)``: parameters packed at their field
widths per beat, the image, the prepended token rows) comes in by one ``dma_in``; every
op output then gets its own region (no reuse, so every layer can be read back at the end;
with ``reuse``, regions are placed by liveness: :mod:`sim.compiler.reuse`); a final
``dma_out`` copies the used scratchpad to external memory. With an on-chip budget
(``onchip_kib``), the parameters stay in external memory and come in op by op instead
(:mod:`sim.compiler.budget`).

Each op kind has one op compiler (:func:`sim.compiler.registry.op_compilers`, attached
to its unit in the registry by the unit's part, ``sim/compiler/parts/<unit>.py``); how
each kind is cut into loops and beats is :mod:`sim.compiler.tiling`, the same code the
accelerator-exact cycle model prices.
"""

from __future__ import annotations

import numpy as np

from golden.accel_program import AccelTopCfg, OpDesc, desc_words, encode_desc
from golden.netpkg import NetworkData, read_network
from golden.netspec import Op
from sim.compiler.budget import Streamer, budget_check, budget_elems
from sim.compiler.context import Context
from sim.compiler.matmul import key_layout
from sim.compiler.movement import MOVES, data_movement
from sim.compiler.program import CompileError, Program, TensorLoc, pow2_at_least
from sim.compiler.registry import op_compilers
from sim.compiler.reuse import reuse as place_by_liveness
from sim.compiler.sizing import accel_config_for

__all__ = ["compile_network"]


def _compile_ops(c: Context, ops: list[Op], stream=None) -> None:
    """Compile ``ops`` into ``c``; ``stream``: a :class:`sim.compiler.budget.Streamer`
    whose hooks place parameters, the image and token rows for a budget."""
    compilers = op_compilers()  # read when used: importing the package never fails
    if stream is not None:
        stream.start(c)
    for op in reversed(ops):  # producers write straight into the buffers data moves make
        if op.kind in ("prepend", "merge_heads"):
            data_movement(c, op, backward=True)
    for op in ops:
        key_layout(c, op)
    if stream is not None:
        stream.ready(c, ops)
    for op in ops:
        if op.kind in MOVES:
            data_movement(c, op, backward=False)
            continue
        if op.kind not in compilers:
            raise CompileError(f"op {op.name!r}: no accelerator mapping for kind "
                               f"{op.kind!r}")
        if stream is not None:
            stream.begin(c, op)
        try:
            compilers[op.kind](c, op)
        except CompileError as exc:
            if str(exc).startswith("op "):
                raise
            raise CompileError(f"op {op.name!r}: {exc}") from None
        if stream is not None:
            stream.end(c, op)


def compile_network(pkg, *, image: int = 0, cfg: AccelTopCfg | None = None,
                    reuse: bool = False, onchip_kib: float | None = None,
                    double_buffer: bool = False) -> Program:
    """Compile every op of network package ``pkg`` for ``image``.

    ``cfg`` (default: :func:`sim.compiler.sizing.accel_config_for` of the package) must
    have a unit for every op kind. ``reuse`` places activation buffers by liveness
    (:func:`sim.compiler.reuse.reuse`): the scratchpad shrinks to the preload plus the peak
    of live activations, and the program's ``outputs``/``expected`` keep only the tensors
    still intact when it ends (the logits always are). ``onchip_kib``: a scratchpad of
    that many KiB (whole words), weights streamed from external memory
    (:mod:`sim.compiler.budget`; implies ``reuse``); ``double_buffer`` (with
    ``onchip_kib`` only): two weight halves, the loads prefetched under compute where a
    descriptor hides them whole. Raises :class:`CompileError` naming the op that does not
    fit.
    """
    pkg = pkg if hasattr(pkg, "manifest") else read_network(pkg)
    net = NetworkData(pkg)
    if not 0 <= image < net.images():
        raise CompileError(f"image must be between 0 and {net.images() - 1}, not {image}")
    cfg = cfg or accel_config_for(net)
    if onchip_kib is not None:
        return _streamed(net, image, cfg, onchip_kib, double_buffer)
    if double_buffer:
        raise CompileError("double buffering needs an on-chip budget (--onchip-kib)")
    # pass 1 sizes the preload region; pass 2 places the activations after it
    first = Context(net, image, cfg, act_base=0)
    _compile_ops(first, net.ops)
    comp = Context(net, image, cfg, act_base=first.pre.top)
    _compile_ops(comp, net.ops)
    L = cfg.lanes
    preload = comp.pre.top
    intact = place_by_liveness(comp) if reuse else None
    n_ops = len(comp.descs) + 2
    cnt_base = comp.act.alloc(n_ops)
    used = comp.act.top
    dw = desc_words(cfg)
    data_word = 1 + n_ops * dw
    dump_word = data_word + preload // L
    ext_words = dump_word + used // L
    # powers of two, so programs of one model share a Verilog build
    cfg = AccelTopCfg(lanes=L, depth=pow2_at_least(max(used // L, cfg.depth)),
                      units=cfg.units, ext_words=pow2_at_least(max(ext_words, cfg.ext_words)))
    descs = [("dma_in", None, OpDesc(unit="dma_in", rn=(1, 1, 1, preload // L), wbase=0,
                                     k=(data_word,)))]
    descs += comp.descs
    descs.append(("dma_out", None, OpDesc(unit="dma_out", rn=(1, 1, 1, used // L), wbase=0,
                                          k=(dump_word,))))
    final = []
    for p, (name, layer, d) in enumerate(descs):
        final.append((name, layer, OpDesc(**{**d.__dict__, "cnt_addr": cnt_base + p})))

    ext = _ext_image(final, cfg, ext_words)
    scratch = np.zeros(preload, dtype=np.int64)
    for addr, values in comp.pre.data:
        scratch[addr:addr + values.size] = values
    ext[data_word:dump_word] = (scratch & 0xFFFFFFFF).astype(np.uint32).reshape(-1, L)

    outputs, expected = _outputs(net, comp, image, intact)
    return Program(cfg=cfg, descs=[d for _, _, d in final], names=[n for n, _, _ in final],
                   layers=[la for _, la, _ in final], ext=ext, dump_word=dump_word,
                   used=used, preload=preload, outputs=outputs, cnt_base=cnt_base,
                   expected=expected,
                   meta={"model": (net.pkg.manifest.get("model") or {}).get("name"),
                         "image": image, "package": str(net.pkg.path),
                         "label": _label(net, image), "reuse": reuse,
                         "op_outputs": {op.name: list(op.outputs) for op in net.ops}})


def _ext_image(final, cfg: AccelTopCfg, ext_words: int) -> np.ndarray:
    """The external memory image: the op count, then the encoded descriptors."""
    L, dw = cfg.lanes, desc_words(cfg)
    ext = np.zeros((ext_words, L), dtype=np.uint32)
    ext[0, 0] = len(final)
    for p, (_, _, d) in enumerate(final):
        word = encode_desc(d)
        for w in range(dw):
            chunk = (word >> (w * cfg.word_bits)) & ((1 << cfg.word_bits) - 1)
            ext[1 + p * dw + w] = [(chunk >> (32 * e)) & 0xFFFFFFFF for e in range(L)]
    return ext


def _outputs(net, comp: Context, image: int, intact) -> tuple[dict, dict]:
    """The view and the recorded value of every produced tensor (``intact``: of those
    still intact at the end)."""
    outputs, expected = {}, {}
    for op in net.ops:
        for name in op.outputs:
            loc = _loc(comp, op, name)
            if loc is not None and (intact is None or intact(name, op.outputs[0])):
                outputs[name] = loc
                expected[name] = _expected(net, op, name, image)
    return outputs, expected


def _streamed(net, image: int, cfg: AccelTopCfg, onchip_kib: float,
              double: bool = False) -> Program:
    """:func:`compile_network` for a budget of ``onchip_kib`` KiB (see
    :mod:`sim.compiler.budget`): the scratchpad is the weight region, then the activation
    regions placed by liveness, then the cycle counters; external memory holds the op
    count, the descriptors, the blobs the ``dma_in`` descriptors load (in program order)
    and the final ``dma_out``'s dump of the used scratchpad."""
    L = cfg.lanes
    budget = budget_elems(onchip_kib, L)
    first = Streamer()  # pass 1 sizes the weight region; pass 2 places the rest after it
    _compile_ops(Context(net, image, cfg, act_base=0), net.ops, stream=first)
    stream = Streamer(double=double, half=first.wmax)
    region = 2 * first.wmax if double else first.wmax
    comp = Context(net, image, cfg, act_base=region)
    _compile_ops(comp, net.ops, stream=stream)
    blobs = stream.insert_loads(comp)
    intact = place_by_liveness(comp)
    n_ops = len(comp.descs) + 1
    counters = -(-n_ops // L) * L
    budget_check(comp, stream, comp.placement, counters, budget, onchip_kib)
    cnt_base = comp.act.alloc(n_ops)
    used = comp.act.top
    data_word = 1 + n_ops * desc_words(cfg)
    offsets = np.cumsum([0] + [b.size // L for b in blobs])
    dump_word = data_word + int(offsets[-1])
    ext_words = dump_word + used // L
    cfg = AccelTopCfg(lanes=L, depth=budget // L, units=cfg.units,
                      ext_words=pow2_at_least(max(ext_words, cfg.ext_words)))
    final = []
    for p, (name, layer, d) in enumerate(comp.descs):
        k = (data_word + int(offsets[stream.load_pos[p]]),) if p in stream.load_pos else d.k
        final.append((name, layer, OpDesc(**{**d.__dict__, "k": k, "cnt_addr": cnt_base + p})))
    final.append(("dma_out", None, OpDesc(unit="dma_out", rn=(1, 1, 1, used // L), wbase=0,
                                          k=(dump_word,), cnt_addr=cnt_base + len(final))))
    ext = _ext_image(final, cfg, ext_words)
    if blobs:
        ext[data_word:dump_word] = (np.concatenate(blobs) & 0xFFFFFFFF).astype(
            np.uint32).reshape(-1, L)
    outputs, expected = _outputs(net, comp, image, intact)
    return Program(cfg=cfg, descs=[d for _, _, d in final], names=[n for n, _, _ in final],
                   layers=[la for _, la, _ in final], ext=ext, dump_word=dump_word,
                   used=used, preload=region, outputs=outputs, cnt_base=cnt_base,
                   expected=expected,
                   meta={"model": (net.pkg.manifest.get("model") or {}).get("name"),
                         "image": image, "package": str(net.pkg.path),
                         "label": _label(net, image), "reuse": True,
                         "onchip_kib": onchip_kib, "weight_op": first.wop,
                         "double_buffer": double, "prefetched": stream.prefetched,
                         "op_outputs": {op.name: list(op.outputs) for op in net.ops}})


def _label(net, image):
    images = net.pkg.manifest.get("images") or {}
    labels = images.get("labels")
    return None if labels is None else int(labels[image])


def _loc(comp: Context, op: Op, name: str) -> TensorLoc | None:
    planes = 1 + len(op.params.get("ratios", ()))  # bits of a GSB encoder output element
    if op.kind == "gsb_value_planes":  # bit 0: the sign, bits 1..: the masks
        base = comp.views[op.outputs[0]]
        if name == op.outputs[0]:
            return TensorLoc(base, 0)
        return TensorLoc(base, 1, planes - 1)
    if op.kind == "gsb_attn_planes":
        return TensorLoc(comp.views[name], 0, planes)
    view = comp.views.get(name)
    return None if view is None else TensorLoc(view, shape=comp.key_shapes.get(name))


def _expected(net, op, name, image):
    arr = net.tensors[name]
    planes_first = op.kind == "gsb_attn_planes" or (
        op.kind == "gsb_value_planes" and name != op.outputs[0])
    return np.asarray(arr[:, image] if planes_first else arr[image])  # planes lead
