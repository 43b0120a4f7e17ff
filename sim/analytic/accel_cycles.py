"""Cycles of the whole-network accelerator, exact to its per-descriptor counters.

:func:`desc_cycles` is the closed-form count of one descriptor (:mod:`golden.accel_program`)
as :class:`hw.accel.top.Accelerator` writes it to ``cnt_addr``: from the first descriptor
fetch cycle to the cycle before the count is stored. :func:`accel_descs` builds, from
shapes alone (a :class:`golden.model_cfg.ViTCfg`, the GSB groups and embedding width, and
the :class:`golden.accel_program.AccelTopCfg` whose unit configs fix latencies, lanes and
array geometry), the descriptors that :func:`sim.compiler.compile_network` emits for a GSB
network's compute ops, carrying every field the count reads, with the compiler's own tiling
(:mod:`sim.compiler.tiling`); :func:`layer_cycles` sums them per op name. No tensor data,
torch or amaranth.

Timing, read off the RTL (``RUN``-relative cycle ``c``, ``c = 0`` the first ``RUN``
cycle):

- the sequencer spends ``desc_words + 1`` cycles in ``FETCH`` and one in ``DISPATCH``;
  ``RUN`` ends the cycle after the writer stores its last beat (or after the reader hands
  over its last beat, for an op with no writes), then ``COUNT`` stores the count. So a
  count is ``desc_words + 4 + t`` with ``t`` the cycle of the last store (hand-over);
- the gatherer issues one sub-cycle a cycle; the last sub-cycle's read is registered,
  then packed into the beat register, so beat 0 is on the unit's input at
  ``c0 = beat_cycles + 1``. A unit that is not ready freezes the gatherer, so beat
  ``b + 1`` is offered ``beat_cycles`` cycles after beat ``b`` is taken;
- the writer takes a vector (``wvec``) or packed (``wpack``) beat the cycle it appears, so
  it never stalls a unit that emits at most one beat a cycle (a scattered writer, one
  element a cycle, is not modelled: :class:`ValueError`).
"""

from __future__ import annotations

from math import prod

from golden.accel_program import NUM_LOOPS, AccelTopCfg, OpDesc, desc_words
from golden.model_cfg import ViTCfg
from sim.compiler import tiling
from sim.compiler.registry import cycle_models, desc_k
from sim.compiler.timing import pipelined

__all__ = ["GSB_UNITS", "PIPELINED", "accel_descs", "desc_cycles", "layer_cycles",
           "program_cycles"]


def desc_cycles(desc: OpDesc, cfg: AccelTopCfg) -> int:
    """Cycles the accelerator's counter reports for ``desc`` on ``cfg``.

    Parameters
    ----------
    desc : OpDesc
        A descriptor as the compiler emits it; read are ``unit``, ``rn``, ``beat_cycles``,
        ``last_level`` (softmax rows), ``wn``, ``wc``, ``wvec``, ``wpack`` and, for the MAC
        array, ``k[0]``/``k[1]`` (weight and activation bits).
    cfg : AccelTopCfg
        The accelerator; its unit configs give latencies and geometry.

    Returns
    -------
    int
        The count, fetch included (see the module doc). The final ``dma_out`` of a program
        dumps the scratchpad before its own count is stored, so a run reads 0 there; this
        returns what the counter holds when it is stored.

    Raises
    ------
    ValueError
        A unit the accelerator lacks, a scattered writer of more than one lane, or a row
        unit whose beats do not make whole rows.
    """
    return _cycles(desc, cfg, desc_words(cfg) + 4)


def _cycles(desc: OpDesc, cfg: AccelTopCfg, head: int) -> int:
    """:func:`desc_cycles` with the fetch cost ``head`` (``desc_words + 4``) given."""
    if desc.unit in ("dma_in", "dma_out"):
        # one word a cycle, the first issued on the first cycle, the last written a cycle
        # after its read; the state is left the cycle after the last write
        return head + desc.rn[3]
    if desc.unit not in cfg.units:
        raise ValueError(f"the accelerator has no {desc.unit} unit")
    u = cfg.units[desc.unit]
    beats, bc = prod(desc.rn), desc.beat_cycles
    outs = prod(desc.wn)
    if outs and not (desc.wvec or desc.wpack) and desc.wc > 1:
        raise ValueError(f"{desc.unit}: a scattered writer ({desc.wc} elements a beat, one a "
                         f"cycle) stalls the unit; not modelled")
    return head + _MODELS[desc.unit](desc, u, beats, bc, bc + 1, outs)


#: The cycle model of each accelerator slot, from the registry (every unit with a slot
#: must have one attached: :class:`golden.unit_spec.RegistryError` otherwise).
_MODELS = cycle_models()

#: Units that take a beat every cycle and hand its result over ``latency`` edges later.
PIPELINED = frozenset(slot for slot, model in _MODELS.items() if model is pipelined)

#: Unit slots a GSB network's program uses: every slot (:func:`accel_descs` prices each).
GSB_UNITS = tuple(_MODELS)


def program_cycles(descs, cfg: AccelTopCfg) -> list[int]:
    """:func:`desc_cycles` of each descriptor of ``descs`` on ``cfg``, in order (the fetch
    cost computed once, and one count per distinct descriptor object: the blocks of
    :func:`accel_descs` share theirs)."""
    head = desc_words(cfg) + 4
    seen: dict[int, int] = {}
    out = []
    for desc in descs:
        key = id(desc)
        if key not in seen:
            seen[key] = _cycles(desc, cfg, head)
        out.append(seen[key])
    return out


# ------------------------------------------------------------------------ shapes only


def _desc(unit: str, nest: tiling.Nest, *, beat_cycles=1, wvec=True, wpack=False,
          k=()) -> OpDesc:
    # the nest's fields spelled out: this runs for every descriptor of every configuration
    return OpDesc(unit=unit, rn=nest.rn, wn=nest.wn, wc=nest.wc, last_level=nest.last_level,
                  beat_cycles=beat_cycles, wvec=wvec, wpack=wpack, k=k)


def _ew(unit: str, shape: tuple, ln: int, *, wpack=False, last_level=4) -> OpDesc:
    """An elementwise op over ``shape`` (:func:`sim.compiler.tiling.elementwise`), its
    writer vector or packed (the aligned case)."""
    nest, _ = tiling.elementwise(shape, ln, last_level=last_level)
    return _desc(unit, nest, wvec=not wpack, wpack=wpack)


def _binary(unit: str, cfg: AccelTopCfg, outer: list, n: int, k: int, bc: int = 1) -> OpDesc:
    """A binary matmul (:func:`sim.compiler.tiling.matmul`)."""
    u = cfg.units[unit]
    return _desc(unit, tiling.matmul(outer, n, k, u.rows, u.cols), beat_cycles=bc)


def _mac_k(w_bits: int, a_bits: int) -> tuple:
    """The MAC descriptor constants of signed ``w_bits`` x ``a_bits`` operands."""
    return desc_k("mac", w_bits=w_bits, a_bits=a_bits, w_signed=1, a_signed=1)


def _require(ok: bool, what: str) -> None:
    if not ok:
        raise ValueError(f"shape outside the modelled tiling: {what}")


def _check(vit: ViTCfg, cfg: AccelTopCfg) -> None:
    """The shape conditions under which every activation read is one vector a beat and
    every elementwise write one vector (the compiler's aligned case)."""
    missing = sorted(set(GSB_UNITS) - set(cfg.units))
    _require(not missing, f"the accelerator lacks {', '.join(missing)}")
    d, dh, hid = vit.embed_dim, vit.head_dim, vit.hidden_dim
    _require(cfg.units["layernorm"].dim == d, "layernorm dim = embed_dim")
    _require(cfg.units["softmax"].max_len >= vit.num_tokens, "softmax max_len >= tokens")
    for slot in ("threshold", "requant", "residual", "gelu", "gsb_encoder"):
        ln = cfg.units[slot].lanes
        _require(d % ln == 0 and dh % ln == 0 and hid % ln == 0,
                 f"embed_dim, head_dim and hidden_dim must be multiples of {slot} lanes {ln}")
    g = cfg.units["threshold"].lanes
    for slot in ("binary_xnor", "binary_and"):
        c = cfg.units[slot].cols
        _require(c % g == 0 and dh % c == 0 and hid % c == 0,
                 f"head_dim and hidden_dim must be multiples of {slot} cols {c}")
    mac = cfg.units["mac"]
    _require(vit.in_chans == 1 and mac.cols == vit.patch_size ** 2,
             "one channel, MAC cols = patch_size**2")
    _require(mac.cols & (mac.cols - 1) == 0 and mac.cols <= cfg.lanes and d % mac.cols == 0,
             "MAC cols a power of two up to lanes, dividing embed_dim")
    t, enc = vit.num_tokens, cfg.units["gsb_encoder"].lanes
    _require(t % enc == 0 or (vit.num_heads * t * t) % enc == 0,
             "the attention matrix must fill whole encoder beats")


def _block(vit: ViTCfg, cfg: AccelTopCfg, ln: dict) -> list:
    """``(name within the block, OpDesc)`` of one encoder block, in program order."""
    t, d, h, dh, hid = (vit.num_tokens, vit.embed_dim, vit.num_heads, vit.head_dim,
                        vit.hidden_dim)
    thr, xnor, av = cfg.units["threshold"], cfg.units["binary_xnor"], cfg.units["gsb_av"]
    norm = _desc("layernorm", tiling.rows((t, d)))
    # keys wider than one array chunk are written chunk-major (sim.compiler.matmul.key_layout)
    chunked = tiling.chunked_keys(dh, xnor.cols, thr.lanes)
    kshape = (h, t, dh // xnor.cols, xnor.cols) if chunked else (h, t, dh)
    # the R key rows of a tile are one vector read (as the compiler's binary decides), else
    # one row a sub-cycle
    vl = xnor.cols // thr.lanes
    one = tiling.key_rows_one_read(vl if chunked else dh // thr.lanes, vl, xnor.rows,
                                   cfg.lanes)
    cols, arows = tiling.gsb_av(t, dh, av.lanes)
    out = [
        ("norm1", norm),
        ("attn.qkv.in", _ew("threshold", (t, d), ln["threshold"], wpack=True)),
        ("attn.qkv", _binary("binary_xnor", cfg, [t], 3 * d, d)),
        ("attn.q", _ew("threshold", (h, t, dh), ln["threshold"], wpack=True)),
        ("attn.k", _ew("threshold", kshape, ln["threshold"], wpack=True)),
        ("attn.v", _ew("requant", (h, t, dh), ln["requant"])),
        ("attn.v_planes", _ew("gsb_encoder", (h, t, dh), ln["gsb_encoder"], last_level=0)),
        ("attn.qk", _binary("binary_xnor", cfg, [h, t], t, dh, bc=1 if one else xnor.rows)),
        ("attn.softmax", _desc("softmax", tiling.rows((h, t, t), last_level=NUM_LOOPS - 1))),
        ("attn.shift", _ew("residual", (h, t, t), ln["residual"])),
        ("attn.a_planes", _ew("gsb_encoder", (h, t, t), ln["gsb_encoder"], last_level=0)),
    ]
    # per head: V columns (a token a sub-cycle), then rows of A
    vcols = _desc("gsb_av", cols, beat_cycles=t, wvec=False)
    arow = _desc("gsb_av", arows, beat_cycles=t)
    out += [("attn.av", x) for _ in range(h) for x in (vcols, arow)]
    out += [
        ("attn.proj.in", _ew("threshold", (t, d), ln["threshold"], wpack=True)),
        ("attn.proj", _binary("binary_xnor", cfg, [t], d, d)),
        ("attn.out", _ew("requant", (t, d), ln["requant"])),
        ("res1", _ew("residual", (t, d), ln["residual"])),
        ("norm2", norm),
        ("mlp.fc1.in", _ew("threshold", (t, d), ln["threshold"], wpack=True)),
        ("mlp.fc1", _binary("binary_xnor", cfg, [t], hid, d)),
        ("mlp.fc1.out", _ew("requant", (t, hid), ln["requant"])),
        ("mlp.gelu", _ew("gelu", (t, hid), ln["gelu"])),
        ("mlp.fc2.in", _ew("threshold", (t, hid), ln["threshold"], wpack=True)),
        ("mlp.fc2", _binary("binary_and", cfg, [t], d, hid)),
        ("mlp.out", _ew("requant", (t, d), ln["requant"])),
        ("res2", _ew("residual", (t, d), ln["residual"])),
    ]
    return out


def accel_descs(vit: ViTCfg, cfg: AccelTopCfg, *, groups: int, embed_bits: int) -> list:
    """The compute descriptors of a stage-2 GSB network (per-image reductions), from shapes.

    The loop nests, beats and writer geometry come from :mod:`sim.compiler.tiling`, the
    code the compiler (:mod:`sim.compiler`) tiles with, on the network that
    :func:`models.int_export.export_int_network` writes for ``vit``: same op names and
    order, same loops, beat cycles and writer geometry; addresses, strides, operands and
    constants other than the MAC ones are left at their defaults (the count does not read
    them). The program's ``dma_in``/``dma_out`` are not included (their sizes depend on
    the packed parameters). The blocks share their descriptor objects (they are equal).

    Parameters
    ----------
    vit : ViTCfg
    cfg : AccelTopCfg
        Must have every unit of a GSB network (as :func:`sim.compiler.accel_config_for`).
    groups : int
        GSB groups (the attention and V planes; :attr:`golden.model_cfg.GSBCfg.groups`).
    embed_bits : int
        Width of the patch embedding and classifier weights and inputs.

    Returns
    -------
    list of (str, OpDesc)
        Op name and descriptor, in program order.

    Raises
    ------
    ValueError
        Shapes for which the compiler would fall back to element-wise reads or scattered
        writes (not modelled), or that it refuses.
    """
    _check(vit, cfg)
    d = vit.embed_dim
    ln = {s: cfg.units[s].lanes for s in ("threshold", "requant", "residual", "gelu",
                                          "gsb_encoder")}
    mac, av = cfg.units["mac"], cfg.units["gsb_av"]
    _require(av.a_planes == groups and av.v_planes == groups, "gsb_av planes = groups")
    side, p = vit.img_size // vit.patch_size, vit.patch_size
    # one patch (patch_size rows of patch_size pixels) a beat: patch_size sub-cycles
    patch = tiling.matmul([side, side], d, p * p, mac.rows, mac.cols)
    out = [("patch_embed", _desc("mac", patch, beat_cycles=p, k=_mac_k(embed_bits, 8))),
           ("patch_embed.out", _ew("requant", (vit.num_patches, d), ln["requant"]))]
    block = _block(vit, cfg, ln)
    for i in range(vit.depth):
        out += [(f"blocks.{i}.{name}", desc) for name, desc in block]
    heads = ["head", "head_dist"] if vit.distilled else ["head"]
    for name in heads:
        out += [(f"{name}.norm", _desc("layernorm", tiling.rows((d,)))),
                (f"{name}.in", _ew("requant", (d,), ln["requant"])),
                (name, _desc("mac", tiling.matmul([1], vit.num_classes, d, mac.rows, mac.cols),
                             k=_mac_k(embed_bits, embed_bits))),
                (f"{name}.logits", _ew("requant", (vit.num_classes,), ln["requant"]))]
    if vit.distilled:
        out.append(("logits", _ew("residual", (vit.num_classes,), ln["residual"])))
    return out


def layer_cycles(vit: ViTCfg, cfg: AccelTopCfg, *, groups: int, embed_bits: int) -> dict:
    """Accelerator cycles of each compute op of the network, by op name (program order).

    The sum of :func:`desc_cycles` over the op's descriptors of :func:`accel_descs` (the
    GSB A x V op has two per head); same parameters and errors.
    """
    descs = accel_descs(vit, cfg, groups=groups, embed_bits=embed_bits)
    out: dict = {}
    for (name, _), cycles in zip(descs, program_cycles([x for _, x in descs], cfg),
                                 strict=True):
        out[name] = out.get(name, 0) + cycles
    return out
