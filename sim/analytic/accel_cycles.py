"""Cycles of the whole-network accelerator, exact to its per-descriptor counters.

:func:`desc_cycles`, :func:`program_cycles` and :func:`run_cycles` (the closed-form count of
one descriptor as the accelerator's counter holds it, and their timing notes) live in
:mod:`sim.compiler.cycles` and are re-exported here. :func:`accel_descs` builds, from
shapes alone (a :class:`golden.model_cfg.ViTCfg`, the GSB groups and embedding width, and
the :class:`golden.accel_program.AccelTopCfg` whose unit configs fix latencies, lanes and
array geometry), the descriptors that :func:`sim.compiler.compile_network` emits for a GSB
network's compute ops, carrying every field the count reads, with the compiler's own tiling
(:mod:`sim.compiler.tiling`); :func:`layer_cycles` sums them per op name, remembering what
repeats across calls (per op shape, per block of a network shape, per network;
:func:`forget` empties the memos). Each unit's cycle model is in its part,
``sim/compiler/parts/<unit>.py`` (:func:`sim.compiler.registry.cycle_models`). No tensor
data, torch or amaranth.

Timing: see :mod:`sim.compiler.cycles`.
"""

from __future__ import annotations

from dataclasses import fields, replace
from functools import lru_cache
from typing import NamedTuple

from golden.accel_program import NUM_LOOPS, AccelTopCfg, OpDesc
from golden.model_cfg import ViTCfg
from sim.compiler import tiling
from sim.compiler.cycles import (
    GSB_UNITS,
    PIPELINED,
    count_at,
    desc_cycles,
    fetch_cost,
    program_cycles,
    run_cycles,
)
from sim.compiler.registry import desc_k

__all__ = ["GSB_UNITS", "PIPELINED", "accel_descs", "desc_cycles", "forget", "layer_cycles",
           "program_cycles", "run_cycles"]


# ------------------------------------------------------------------------ shapes only


class _Op(NamedTuple):
    """A light descriptor record: the :class:`OpDesc` fields the count reads (the cycle
    models read either); :func:`accel_descs` turns each into an :class:`OpDesc`."""

    unit: str
    rn: tuple
    wn: tuple
    wc: int
    last_level: int
    beat_cycles: int
    wvec: bool
    wpack: bool
    k: tuple


@lru_cache(maxsize=4096)
def _as_desc(op: _Op) -> OpDesc:
    return OpDesc(**op._asdict())


@lru_cache(maxsize=4096)
def _desc(unit: str, nest: tiling.Nest, *, beat_cycles=1, wvec=True, wpack=False,
          k=()) -> _Op:
    # memoised per op shape: one record per distinct shape (program_cycles then prices it
    # once a program)
    return _Op(unit, nest.rn, nest.wn, nest.wc, nest.last_level, beat_cycles, wvec, wpack, k)


@lru_cache(maxsize=4096)
def _ew(unit: str, shape: tuple, ln: int, *, wpack=False, last_level=4) -> _Op:
    """An elementwise op over ``shape`` (:func:`sim.compiler.tiling.elementwise`), its
    writer vector or packed (the aligned case); memoised per op shape."""
    nest, _ = tiling.elementwise(shape, ln, last_level=last_level)
    return _desc(unit, nest, wvec=not wpack, wpack=wpack)


def _binary(unit: str, cfg: AccelTopCfg, outer: list, n: int, k: int, bc: int = 1) -> _Op:
    """A binary matmul (:func:`sim.compiler.tiling.matmul`)."""
    u = cfg.units[unit]
    return _matmul(unit, tuple(outer), n, k, u.rows, u.cols, bc)


@lru_cache(maxsize=4096)
def _matmul(unit: str, outer: tuple, n: int, k: int, rows: int, cols: int, bc: int = 1,
            kk: tuple = ()) -> _Op:
    """A matmul's descriptor, memoised per op shape."""
    return _desc(unit, tiling.matmul(list(outer), n, k, rows, cols), beat_cycles=bc, k=kk)


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
    for slot, row in (("layernorm", d), ("softmax", vit.num_tokens)):
        _require(row % cfg.units[slot].lanes == 0,
                 f"{slot} rows of {row} must be whole beats of its {cfg.units[slot].lanes} lanes")
    for slot in ("threshold", "requant", "residual", "gelu", "gsb_encoder"):
        ln = cfg.units[slot].lanes
        _require(d % ln == 0 and dh % ln == 0 and hid % ln == 0,
                 f"embed_dim, head_dim and hidden_dim must be multiples of {slot} lanes {ln}")
    g = cfg.units["threshold"].lanes
    for slot in ("binary_xnor", "binary_and"):
        c = cfg.units[slot].cols
        _require(c % g == 0 and dh % c == 0 and hid % c == 0,
                 f"head_dim and hidden_dim must be multiples of {slot} cols {c}")
    mac, p = cfg.units["mac"], vit.patch_size
    _require(tiling.patch_rows(mac.cols, p, vit.in_chans) is not None
             and (vit.in_chans * p * p) % mac.cols == 0,
             "MAC cols whole rows of a patch (sim.compiler.tiling.patch_rows)")
    c, L = mac.cols, cfg.lanes
    _require(d % c == 0 and ((c <= L and c & (c - 1) == 0) or c % L == 0),
             "MAC cols dividing embed_dim, a power of two up to lanes or whole words")
    _require(vit.img_size % p == 0, "whole patches")


def _word_reads(elems: int, lanes: int) -> int:
    """Sub-cycles of a beat of ``elems`` consecutive aligned elements: one read a word
    (a power of two up to ``lanes`` in one read)."""
    return 1 if elems <= lanes else -(-elems // lanes)


def _mac_beat_cycles(cfg: AccelTopCfg, act_reads: int) -> int:
    """Beat cycles of a MAC descriptor: the slower of its activation reads and its weight
    beat (``rows x cols`` fields, read a word a sub-cycle:
    :meth:`sim.compiler.context.Context.param_operand`)."""
    mac = cfg.units["mac"]
    weight = -(-mac.rows * mac.cols * mac.field_bits // 32)
    return max(1, act_reads, _word_reads(weight, cfg.lanes))


def _block(vit: ViTCfg, cfg: AccelTopCfg, ln: dict) -> list:
    """``(name within the block, record)`` of one encoder block, in program order."""
    t, d, h, dh, hid = (vit.num_tokens, vit.embed_dim, vit.num_heads, vit.head_dim,
                        vit.hidden_dim)
    thr, xnor, av = cfg.units["threshold"], cfg.units["binary_xnor"], cfg.units["gsb_av"]
    norm = _desc("layernorm", tiling.rows((t, d), lanes=cfg.units["layernorm"].lanes))
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
        ("attn.softmax", _desc("softmax", tiling.rows((h, t, t), last_level=NUM_LOOPS - 1,
                                                      lanes=cfg.units["softmax"].lanes))),
        ("attn.shift", _ew("residual", (h, t, t), ln["residual"])),
    ]
    pad = -(h * t * t) % ln["residual"]
    if t % ln["residual"] and pad:
        # the last beat's padding filled with the last element (a beat of ln reads) for the
        # encoder's max (sim.compiler.operands.feeds_encoder)
        one = tiling.loops([1])
        out.append(("attn.shift", _desc("residual", tiling.Nest(one, one, pad),
                                        beat_cycles=ln["residual"])))
    out += [
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
    return [(name, _as_desc(op)) for name, op in _ops(vit, cfg, groups, embed_bits)]


def _ops(vit: ViTCfg, cfg: AccelTopCfg, groups: int, embed_bits: int) -> list:
    """:func:`accel_descs` as light records (:class:`_Op`)."""
    _check(vit, cfg)
    d = vit.embed_dim
    ln = {s: cfg.units[s].lanes for s in ("threshold", "requant", "residual", "gelu",
                                          "gsb_encoder")}
    mac, av = cfg.units["mac"], cfg.units["gsb_av"]
    _require(av.a_planes == groups and av.v_planes == groups, "gsb_av planes = groups")
    side, p = vit.img_size // vit.patch_size, vit.patch_size
    # cols / patch_size rows of a patch (a vector each) a beat, in channel-interleaved
    # bands (sim.compiler.tiling.patch_rows)
    out = [("patch_embed", _matmul("mac", (side, side), d, vit.in_chans * p * p, mac.rows,
                                   mac.cols, _mac_beat_cycles(cfg, mac.cols // p),
                                   _mac_k(embed_bits, 8))),
           ("patch_embed.out", _ew("requant", (vit.num_patches, d), ln["requant"]))]
    head_bc = _mac_beat_cycles(cfg, _word_reads(mac.cols, cfg.lanes))
    block = _block(vit, cfg, ln)
    for i in range(vit.depth):
        out += [(f"blocks.{i}.{name}", desc) for name, desc in block]
    heads = ["head", "head_dist"] if vit.distilled else ["head"]
    for name in heads:
        norm = tiling.rows((d,), lanes=cfg.units["layernorm"].lanes)
        out += [(f"{name}.norm", _desc("layernorm", norm)),
                (f"{name}.in", _ew("requant", (d,), ln["requant"])),
                (name, _matmul("mac", (1,), vit.num_classes, d, mac.rows, mac.cols, head_bc,
                               _mac_k(embed_bits, embed_bits))),
                (f"{name}.logits", _ew("requant", (vit.num_classes,), ln["requant"]))]
    if vit.distilled:
        out.append(("logits", _ew("residual", (vit.num_classes,), ln["residual"])))
    return out


def layer_cycles(vit: ViTCfg, cfg: AccelTopCfg, *, groups: int, embed_bits: int,
                 memo: bool = True) -> dict:
    """Accelerator cycles of each compute op of the network, by op name (program order).

    The sum of :func:`desc_cycles` over the op's descriptors of :func:`accel_descs` (the
    GSB A x V op has two per head); same parameters and errors.

    With ``memo`` (the default), what repeats is remembered (see :func:`forget`): per op
    shape (one descriptor object each), per block (the cycles of one encoder block, and of
    the ops before and after the blocks, for a network shape whatever its depth) and per
    network (the whole answer; a fresh ``dict`` each call). The result is the same as with
    ``memo=False``, which prices every descriptor of the network. The memo keys on the
    configs' values; an :class:`AccelTopCfg` is read once per object (a config whose
    ``units`` is changed in place afterwards needs :func:`forget`).
    """
    key = _cfg_key(cfg) if memo else None
    if key is None:
        return _priced(vit, cfg, groups, embed_bits)
    net = (vit, key, groups, embed_bits)
    hit = _NETS.get(net)
    if hit is None:
        hit = _NETS[net] = _network(vit, cfg, key, groups, embed_bits)
        _bound(_NETS)
    return dict(hit)


def forget() -> None:
    """Empty every memo of :func:`layer_cycles` and of the descriptor builders."""
    for table in (_NETS, _PARTS, _PRICES, _KEYS, _TOKENS):
        table.clear()
    for fn in (_desc, _ew, _matmul, _block_names, _as_desc):
        fn.cache_clear()


def _priced(vit, cfg, groups, embed_bits, token=None) -> dict:
    """Every op of the network priced; with a config ``token`` (:func:`_cfg_key`), each
    distinct op shape's count is remembered for that config."""
    ops = _ops(vit, cfg, groups, embed_bits)
    if token is None:
        counts = program_cycles([x for _, x in ops], cfg)
    else:
        head, counts = fetch_cost(cfg, 1), []
        for _, op in ops:
            key = (op, token)
            got = _PRICES.get(key)
            if got is None:
                got = _PRICES[key] = count_at(op, cfg, head)
            counts.append(got)
        _bound(_PRICES)
    out: dict = {}
    for (name, _), cycles in zip(ops, counts, strict=True):
        out[name] = out.get(name, 0) + cycles
    return out


# ------------------------------------------------------------------------------ memos
# Light records: a network's answer is a dict; a network shape's parts are three tuples of
# (name, cycles) pairs (before the blocks, one block with its names relative, after).

_MEMO_SIZE = 4096
_NETS: dict = {}  # (vit, cfg token, groups, embed_bits) -> {op name: cycles}
_PARTS: dict = {}  # (vit fields but depth, cfg token, groups, embed_bits) -> (pre, block, post)
_PRICES: dict = {}  # (op record, cfg token) -> its count
_KEYS: dict = {}  # id(cfg) -> (cfg, its token or None); the cfg held so ids stay unique
_TOKENS: dict = {}  # a config's value (its fields, units sorted by slot) -> its token
_VIT_FIELDS = tuple(f.name for f in fields(ViTCfg) if f.name != "depth")


def _bound(table: dict) -> None:
    if len(table) > _MEMO_SIZE:
        table.clear()


def _cfg_key(cfg: AccelTopCfg):
    """A small int standing for ``cfg``'s value (its fields, the unit configs sorted by
    slot: equal configs get the same token), or ``None`` when a unit config is unhashable
    (then nothing is memoised)."""
    got = _KEYS.get(id(cfg))
    if got is not None and got[0] is cfg:
        return got[1]
    value = tuple((f.name, tuple(sorted(v.items())) if isinstance(v, dict) else v)
                  for f in fields(cfg) for v in (getattr(cfg, f.name),))
    if len(_TOKENS) > _MEMO_SIZE:  # tokens key every memo: renumbering empties them all
        forget()
    try:
        token = _TOKENS.setdefault(value, len(_TOKENS))
    except TypeError:
        token = None
    _bound(_KEYS)
    _KEYS[id(cfg)] = (cfg, token)
    return token


def _network(vit, cfg, key, groups, embed_bits) -> dict:
    shape = (tuple(getattr(vit, f) for f in _VIT_FIELDS), key, groups, embed_bits)
    parts = _PARTS.get(shape)
    if parts is None:
        parts = _PARTS[shape] = _parts(vit, cfg, key, groups, embed_bits)
        _bound(_PARTS)
    pre, (names, cycles), post = parts
    out = dict(pre)
    for i in range(vit.depth):
        out.update(zip(_block_names(i, names), cycles, strict=True))
    out.update(post)
    return out


def _parts(vit, cfg, token, groups, embed_bits) -> tuple:
    """The priced ops of a one-block network of ``vit``'s shape, split into the ops before
    the blocks, the block (names relative, cycles) and the ops after."""
    one = _priced(replace(vit, depth=1), cfg, groups, embed_bits, token)
    names = list(one)
    first = next(i for i, n in enumerate(names) if n.startswith(_BLOCK0))
    last = max(i for i, n in enumerate(names) if n.startswith(_BLOCK0)) + 1
    block = names[first:last]
    return (tuple((n, one[n]) for n in names[:first]),
            (tuple(n[len(_BLOCK0):] for n in block), tuple(one[n] for n in block)),
            tuple((n, one[n]) for n in names[last:]))


_BLOCK0 = "blocks.0."


@lru_cache(maxsize=1024)
def _block_names(i: int, names: tuple) -> tuple:
    return tuple(f"blocks.{i}.{n}" for n in names)
