"""Cycles of the whole-network accelerator, exact to its per-descriptor counters.

:func:`desc_cycles`, :func:`program_cycles` and :func:`run_cycles` (the closed-form count of
one descriptor as the accelerator's counter holds it, and their timing notes) live in
:mod:`sim.compiler.cycles` and are re-exported here. :func:`accel_descs` builds, from
shapes alone (a :class:`golden.model_cfg.ViTCfg`, the GSB groups and embedding width, and
the :class:`golden.accel_program.AccelTopCfg` whose unit configs fix latencies, lanes and
array geometry), the descriptors that :func:`sim.compiler.compile_network` emits for a GSB
network's compute ops, carrying every field the count reads, with the compiler's own tiling
(:mod:`sim.compiler.tiling`); :func:`layer_cycles` sums them per op name: one block's
records are built and priced once (a record per op shape, shared by the ops of that shape)
and repeated ``depth`` times, and what repeats across calls is remembered (per network
shape whatever its depth, per network, and, for what-if grids over the hardware, each
record per tiling arguments and each record's count per unit config value;
:func:`forget` empties the memos). Each unit's cycle model is in its part,
``sim/compiler/parts/<unit>.py`` (:func:`sim.compiler.registry.cycle_models`). No tensor
data, torch or amaranth.

Timing: see :mod:`sim.compiler.cycles`.
"""

from __future__ import annotations

from dataclasses import fields
from itertools import count
from operator import attrgetter
from typing import NamedTuple

from golden.accel_program import NUM_LOOPS, AccelTopCfg, OpDesc
from golden.model_cfg import ViTCfg
from sim.compiler import tiling, timing
from sim.compiler.cycles import (
    GSB_UNITS,
    PIPELINED,
    count_at,
    desc_cycles,
    fetch_cost,
    program_cycles,
    run_cycles,
)
from sim.compiler.parts.gsb_av import a_row_vl
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


_new = tuple.__new__  # an _Op from a tuple without the keyword-checking constructor
_SHAPED: list = []  # the tables of the _shaped functions (emptied by forget)


def _shaped(fn):
    """``fn`` (a record from shapes and unit geometry: hashable arguments) remembered per
    arguments until :func:`forget`: the configurations of a what-if grid share most."""
    table: dict = {}
    _SHAPED.append(table)

    def remembered(*args):
        got = table.get(args)
        if got is None:
            _bound(table)
            got = table[args] = fn(*args)
        return got

    remembered.__doc__ = fn.__doc__
    return remembered


def _desc(unit: str, nest: tiling.Nest, bc: int = 1, wvec: bool = True, wpack: bool = False,
          k: tuple = ()) -> _Op:
    """The record of ``unit`` on the loop nest ``nest`` (:class:`sim.compiler.tiling.Nest`)."""
    rn, wn, wc, last_level = nest
    return _new(_Op, (unit, rn, wn, wc, last_level, bc, wvec, wpack, k))


@_shaped
def _ew(unit: str, shape: tuple, ln: int, wpack: bool = False, last_level: int = 4) -> _Op:
    """An elementwise op over ``shape`` (:func:`sim.compiler.tiling.elementwise`), its
    writer vector or packed (the aligned case)."""
    rn, wn, wc, last = tiling.elementwise(shape, ln, last_level=last_level)[0]
    return _new(_Op, (unit, rn, wn, wc, last, 1, not wpack, wpack, ()))


@_shaped
def _matmul(unit: str, outer: tuple, n: int, k: int, rows: int, cols: int, bc: int = 1,
            kk: tuple = ()) -> _Op:
    """A matmul (:func:`sim.compiler.tiling.matmul`) on a ``rows x cols`` array."""
    return _desc(unit, tiling.matmul(outer, n, k, rows, cols), bc, True, False, kk)


@_shaped
def _mac_k(w_bits: int, a_bits: int) -> tuple:
    """The MAC descriptor constants of signed ``w_bits`` x ``a_bits`` operands."""
    return desc_k("mac", w_bits=w_bits, a_bits=a_bits, w_signed=1, a_signed=1)


@_shaped
def _rows(unit: str, shape: tuple, lanes: int, last_level: int = 4) -> _Op:
    """A row unit over ``shape`` (:func:`sim.compiler.tiling.rows`)."""
    return _desc(unit, tiling.rows(shape, last_level=last_level, lanes=lanes))


@_shaped
def _av(n: int, d: int, lanes: int, v_cols: int, word: int) -> tuple:
    """The two records of one head of GSB A.V (:func:`sim.compiler.tiling.gsb_av`): the V
    columns (``v_cols`` a beat, a token a sub-cycle) and the rows of A (contiguous ``[n,
    n]`` planes, :func:`sim.compiler.parts.gsb_av.a_row_vl` tokens a sub-cycle on ``word``
    lanes)."""
    cols, arows = tiling.gsb_av(n, d, lanes, v_cols)
    return _desc("gsb_av", cols, n, False), _desc("gsb_av", arows, n // a_row_vl(n, word))


def _require(ok: bool, what: str) -> None:
    if not ok:
        _outside(what)


def _outside(what: str) -> None:
    raise ValueError(f"shape outside the modelled tiling: {what}")


def _check(vit: ViTCfg, cfg: AccelTopCfg) -> None:
    """The shape conditions under which every activation read is one vector a beat and
    every elementwise write one vector (the compiler's aligned case); the messages are
    formatted only for a shape that fails."""
    units = cfg.units
    if not units.keys() >= _GSB_SLOTS:
        _outside(f"the accelerator lacks {', '.join(sorted(_GSB_SLOTS - set(units)))}")
    d, dh, hid, t = vit.embed_dim, vit.head_dim, vit.hidden_dim, vit.num_tokens
    _require(units["layernorm"].dim == d, "layernorm dim = embed_dim")
    _require(units["softmax"].max_len >= t, "softmax max_len >= tokens")
    for slot, row in (("layernorm", d), ("softmax", t)):
        if row % units[slot].lanes:
            _outside(f"{slot} rows of {row} must be whole beats of its {units[slot].lanes} "
                     "lanes")
    for slot in ("threshold", "requant", "residual", "gelu", "gsb_encoder"):
        ln = units[slot].lanes
        if d % ln or dh % ln or hid % ln:
            _outside(f"embed_dim, head_dim and hidden_dim must be multiples of {slot} lanes "
                     f"{ln}")
    g = units["threshold"].lanes
    for slot in ("binary_xnor", "binary_and"):
        c = units[slot].cols
        if c % g or dh % c or hid % c:
            _outside(f"head_dim and hidden_dim must be multiples of {slot} cols {c}")
    mac, p = units["mac"], vit.patch_size
    _require(tiling.patch_rows(mac.cols, p, vit.in_chans) is not None
             and (vit.in_chans * p * p) % mac.cols == 0,
             "MAC cols whole rows of a patch (sim.compiler.tiling.patch_rows)")
    c, L = mac.cols, cfg.lanes
    _require(d % c == 0 and ((c <= L and c & (c - 1) == 0) or c % L == 0),
             "MAC cols dividing embed_dim, a power of two up to lanes or whole words")
    _require(vit.img_size % p == 0, "whole patches")


_GSB_SLOTS = frozenset(GSB_UNITS)


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
    """``(name within the block, record)`` of one encoder block, in program order (ops of
    one shape share their record)."""
    t, d, h, dh, hid = (vit.num_tokens, vit.embed_dim, vit.num_heads, vit.head_dim,
                        vit.hidden_dim)
    units = cfg.units
    thr, xnor, av, band = units["threshold"], units["binary_xnor"], units["gsb_av"], \
        units["binary_and"]
    lt, lq, lr = ln["threshold"], ln["requant"], ln["residual"]
    norm = _rows("layernorm", (t, d), units["layernorm"].lanes)
    tokens_in = _ew("threshold", (t, d), lt, True)
    out_q = _ew("requant", (t, d), lq)
    res = _ew("residual", (t, d), lr)
    # keys wider than one array chunk are written chunk-major (sim.compiler.matmul.key_layout)
    chunked = tiling.chunked_keys(dh, xnor.cols, thr.lanes)
    kshape = (h, t, dh // xnor.cols, xnor.cols) if chunked else (h, t, dh)
    # the R key rows of a tile are whole vector reads (as the compiler's binary decides),
    # else one row a sub-cycle
    vl = xnor.cols // thr.lanes
    reads = tiling.key_reads(vl if chunked else dh // thr.lanes, vl, xnor.rows, cfg.lanes)
    xr, xc = xnor.rows, xnor.cols
    out = [
        ("norm1", norm),
        ("attn.qkv.in", tokens_in),
        ("attn.qkv", _matmul("binary_xnor", (t,), 3 * d, d, xr, xc)),
        ("attn.q", _ew("threshold", (h, t, dh), lt, True)),
        ("attn.k", _ew("threshold", kshape, lt, True)),
        ("attn.v", _ew("requant", (h, t, dh), lq)),
        ("attn.v_planes", _ew("gsb_encoder", (h, t, dh), ln["gsb_encoder"], False, 0)),
        ("attn.qk", _matmul("binary_xnor", (h, t), t, dh, xr, xc, reads or xr)),
        ("attn.softmax", _rows("softmax", (h, t, t), units["softmax"].lanes, NUM_LOOPS - 1)),
        ("attn.shift", _ew("residual", (h, t, t), lr)),
    ]
    pad = -(h * t * t) % lr
    if t % lr and pad:
        # the last beat's padding filled with the last element (a beat of ln reads) for the
        # encoder's max (sim.compiler.operands.feeds_encoder)
        single = tiling.loops([1])
        out.append(("attn.shift", _desc("residual", tiling.Nest(single, single, pad), lr)))
    out.append(("attn.a_planes", _ew("gsb_encoder", (h, t, t), ln["gsb_encoder"], False, 0)))
    # per head: V columns (a token a sub-cycle), then rows of A (vector reads)
    vcols, arow = _av(t, dh, av.lanes, av.v_cols, cfg.lanes)
    out += [("attn.av", vcols), ("attn.av", arow)] * h
    out += [
        ("attn.proj.in", tokens_in),
        ("attn.proj", _matmul("binary_xnor", (t,), d, d, xr, xc)),
        ("attn.out", out_q),
        ("res1", res),
        ("norm2", norm),
        ("mlp.fc1.in", tokens_in),
        ("mlp.fc1", _matmul("binary_xnor", (t,), hid, d, xr, xc)),
        ("mlp.fc1.out", _ew("requant", (t, hid), lq)),
        ("mlp.gelu", _ew("gelu", (t, hid), ln["gelu"])),
        ("mlp.fc2.in", _ew("threshold", (t, hid), lt, True)),
        ("mlp.fc2", _matmul("binary_and", (t,), d, hid, band.rows, band.cols)),
        ("mlp.out", out_q),
        ("res2", res),
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
    made: dict = {}  # id of a record -> its OpDesc (records shared, descriptors shared)
    out = []
    for name, op in _ops(vit, cfg, groups, embed_bits):
        desc = made.get(id(op))
        if desc is None:
            desc = made[id(op)] = OpDesc(**op._asdict())
        out.append((name, desc))
    return out


def _ops(vit: ViTCfg, cfg: AccelTopCfg, groups: int, embed_bits: int) -> list:
    """:func:`accel_descs` as light records (:class:`_Op`), the blocks sharing theirs."""
    pre, block, post = _records(vit, cfg, groups, embed_bits)
    out = list(pre)
    for i in range(vit.depth):
        out += [(f"blocks.{i}.{name}", op) for name, op in block]
    return out + post


def _records(vit: ViTCfg, cfg: AccelTopCfg, groups: int, embed_bits: int) -> tuple:
    """``(pre, block, post)``: the ``(name, record)`` pairs before the blocks, of one block
    (names relative to it) and after the blocks, in program order; independent of
    ``vit.depth``."""
    _check(vit, cfg)
    d = vit.embed_dim
    units = cfg.units
    ln = {s: units[s].lanes for s in ("threshold", "requant", "residual", "gelu",
                                      "gsb_encoder")}
    mac, av = units["mac"], units["gsb_av"]
    _require(av.a_planes == groups and av.v_planes == groups, "gsb_av planes = groups")
    side, p = vit.img_size // vit.patch_size, vit.patch_size
    # cols / patch_size rows of a patch (a vector each) a beat, in channel-interleaved
    # bands (sim.compiler.tiling.patch_rows)
    pre = [("patch_embed", _matmul("mac", (side, side), d, vit.in_chans * p * p, mac.rows,
                                   mac.cols, _mac_beat_cycles(cfg, mac.cols // p),
                                   _mac_k(embed_bits, 8))),
           ("patch_embed.out", _ew("requant", (vit.num_patches, d), ln["requant"]))]
    head_bc = _mac_beat_cycles(cfg, _word_reads(mac.cols, cfg.lanes))
    block = _block(vit, cfg, ln)
    norm = _rows("layernorm", (d,), units["layernorm"].lanes)
    head_in = _ew("requant", (d,), ln["requant"])
    head = _matmul("mac", (1,), vit.num_classes, d, mac.rows, mac.cols, head_bc,
                   _mac_k(embed_bits, embed_bits))
    logits = _ew("requant", (vit.num_classes,), ln["requant"])
    post = []
    for name in ["head", "head_dist"] if vit.distilled else ["head"]:
        post += [(f"{name}.norm", norm), (f"{name}.in", head_in), (name, head),
                 (f"{name}.logits", logits)]
    if vit.distilled:
        post.append(("logits", _ew("residual", (vit.num_classes,), ln["residual"])))
    return pre, block, post


def layer_cycles(vit: ViTCfg, cfg: AccelTopCfg, *, groups: int, embed_bits: int,
                 memo: bool = True) -> dict:
    """Accelerator cycles of each compute op of the network, by op name (program order).

    The sum of :func:`desc_cycles` over the op's descriptors of :func:`accel_descs` (the
    GSB A x V op has two per head); same parameters and errors.

    With ``memo=False`` every descriptor of the network is built and priced
    (:func:`program_cycles`, one count per shared record). With ``memo`` (the default),
    one block of the network's shape is priced and repeated ``depth`` times (each record
    priced once), and what repeats across calls is remembered (see :func:`forget`): per
    network shape whatever its depth (the priced ops before, in and after a block), per
    network (the whole answer; a fresh ``dict`` each call), each record per the tiling
    arguments it is built from, and each record's count per (record, its unit config's
    value, fetch cost): the configurations of a grid over the hardware share most records
    and counts. The result is the same as with ``memo=False`` (tested, over one grid pass
    too). The memos key on the configs' values; an
    :class:`AccelTopCfg` is read once per object (a config whose ``units`` is changed in
    place afterwards needs :func:`forget`).
    """
    if not memo:
        ops = _ops(vit, cfg, groups, embed_bits)
        return _summed(ops, program_cycles([x for _, x in ops], cfg))
    accel = _accel(cfg)
    if accel is None:  # a unit config that cannot be a memo key
        return _network(vit, _parts(vit, cfg, groups, embed_bits, fetch_cost(cfg, 1)))
    net = (vit, accel.token, groups, embed_bits)
    hit = _NETS.get(net)
    if hit is None:
        shape = (_vit_shape(vit), accel.token, groups, embed_bits)
        parts = _PARTS.get(shape)
        if parts is None:
            parts = _PARTS[shape] = _parts(vit, cfg, groups, embed_bits, accel.head, accel)
            _bound(_PARTS)
        hit = _NETS[net] = _network(vit, parts)
        _bound(_NETS)
    return dict(hit)


def forget(*, constants: bool = False) -> None:
    """Empty every memo of :func:`layer_cycles`: the answers per network and per network
    shape, and which accelerator config object has which value. With ``constants`` also
    what is kept that is no answer and cannot go stale: per accelerator value its
    descriptor fetch cost, the op names of the ``i``-th block per block op names
    (``blocks.{i}.attn.qkv``, ...), and each unit config's ``latency`` per object and per
    value (:func:`sim.compiler.timing.forget`)."""
    for table in (_NETS, _PARTS, _KEYS, _PRICES, *_SHAPED):
        table.clear()
    if constants:
        _ACCELS.clear()
        _UNITS.clear()
        _NAMES.clear()
        timing.forget()


def _summed(ops: list, counts: list) -> dict:
    """Cycles per op name of ``(name, record)`` pairs priced ``counts``."""
    out: dict = {}
    for (name, _), cycles in zip(ops, counts, strict=True):
        out[name] = out.get(name, 0) + cycles
    return out


def _parts(vit, cfg, groups, embed_bits, head, accel=None) -> tuple:
    """The priced ops of ``vit``'s shape whatever its depth: ``(pre, (names, cycles),
    post)``, ``pre``/``post`` ``(name, cycles)`` pairs before and after the blocks, the
    block's op names (relative) and cycles; fetch cost ``head``. With ``accel`` (``cfg``'s
    :class:`_Accel`) the counts are read from and kept in :data:`_PRICES`."""
    pre, block, post = _records(vit, cfg, groups, embed_bits)
    price: dict = {}  # id of a record -> its count (ops of one shape share their record)
    if accel is None:
        for _, op in pre + block + post:
            if id(op) not in price:
                price[id(op)] = count_at(op, cfg, head)
    else:
        tokens, prices = accel.units, _PRICES
        for _, op in pre + block + post:
            key = id(op)
            if key in price:
                continue
            # the record (held in the entry, so its id is not reused while there), its
            # unit config's value and the fetch cost decide the count
            value = (key, tokens.get(op[0]), head)
            got = prices.get(value)
            if got is None:
                _bound(prices)
                got = prices[value] = (count_at(op, cfg, head), op)
            price[key] = got[0]
    inner: dict = {}
    for name, op in block:  # names repeat (attn.av: two a head): summed
        inner[name] = inner.get(name, 0) + price[id(op)]
    return (tuple([(name, price[id(op)]) for name, op in pre]),
            (tuple(inner), tuple(inner.values())),
            tuple([(name, price[id(op)]) for name, op in post]))


def _network(vit, parts) -> dict:
    """The answer for ``vit`` from its shape's priced parts (:func:`_parts`)."""
    pre, (names, cycles), post = parts
    out = dict(pre)
    for full in _block_names(names, vit.depth):
        out.update(zip(full, cycles, strict=True))
    out.update(post)
    return out


def _block_names(names: tuple, depth: int) -> list:
    """The op names of blocks ``0 .. depth - 1`` (``blocks.{i}.`` and ``names``): labels,
    kept across :func:`forget` (see :data:`_NAMES`)."""
    full = _NAMES.get(names)
    if full is None:
        _bound(_NAMES)
        full = _NAMES[names] = []
    for i in range(len(full), depth):
        full.append(tuple(f"blocks.{i}.{n}" for n in names))
    return full[:depth]


# ------------------------------------------------------------------------------ memos
# Light records: a network's answer is a dict; a network shape's parts are tuples of
# (name, cycles) pairs (before the blocks, after) and the block's (names, cycles).


class _Accel(NamedTuple):
    """What is kept per accelerator value: a token (never reused), the fetch cost at
    memory latency 1 (:func:`sim.compiler.cycles.fetch_cost`) and a token per unit config
    value by slot (equal unit configs, one token)."""

    token: int
    head: int
    units: dict


_MEMO_SIZE = 4096
_NETS: dict = {}  # (vit, _Accel.token, groups, embed_bits) -> {op name: cycles}
_PARTS: dict = {}  # (vit fields but depth, _Accel.token, groups, embed_bits) -> (pre, block, post)
_PRICES: dict = {}  # (id(record), unit token, fetch cost) -> (the count, the record)
_UNITS: dict = {}  # a unit config's value -> its token (never reused)
_KEYS: dict = {}  # id(cfg) -> (cfg, its _Accel or None); the cfg held so ids stay unique
_ACCELS: dict = {}  # a config's value (its fields, units sorted by slot) -> its _Accel
_TOKENS = count()
_NAMES: dict = {}  # a block's op names (relative) -> the full names of blocks 0, 1, ...
_vit_shape = attrgetter(*(f.name for f in fields(ViTCfg) if f.name != "depth"))
_ACCEL_FIELDS = tuple(f.name for f in fields(AccelTopCfg))
_accel_fields = attrgetter(*_ACCEL_FIELDS)


def _unit_token(u) -> int:
    """The token of unit config ``u``'s value (hashable: its accelerator's value is)."""
    token = _UNITS.get(u)
    if token is None:
        _bound(_UNITS)
        token = _UNITS[u] = next(_TOKENS)
    return token


def _bound(table: dict) -> None:
    if len(table) > _MEMO_SIZE:
        table.clear()


def _accel(cfg: AccelTopCfg):
    """The :class:`_Accel` of ``cfg``'s value (its fields, the unit configs by slot as
    their tokens, sorted: equal configs get the same one), or ``None`` when a unit config
    is unhashable (then nothing is memoised)."""
    got = _KEYS.get(id(cfg))
    if got is not None and got[0] is cfg:
        return got[1]
    try:
        units = {slot: _unit_token(u) for slot, u in cfg.units.items()}
        value = tuple((name, tuple(sorted(units.items())) if name == "units" else
                       tuple(sorted(v.items())) if isinstance(v, dict) else v)
                      for name, v in zip(_ACCEL_FIELDS, _accel_fields(cfg), strict=True))
        accel = _ACCELS.get(value)
    except TypeError:
        accel = None
    else:
        if accel is None:
            _bound(_ACCELS)
            accel = _ACCELS[value] = _Accel(next(_TOKENS), fetch_cost(cfg, 1), units)
    _bound(_KEYS)
    _KEYS[id(cfg)] = (cfg, accel)
    return accel
