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

- external memory (:mod:`sim.accel_mem`, one word a cycle, no wait states) answers a read
  burst ``L`` cycles after its address and a write burst ``L`` cycles after its last beat
  (``latency``, default 1); a wait state that the memory model counts adds one cycle;
- the sequencer spends ``desc_words + L`` cycles in ``FETCH`` and one in ``DISPATCH``;
  ``RUN`` ends the cycle after the writer stores its last beat (or after the reader hands
  over its last beat, for an op with no writes), then ``COUNT`` stores the count. So a
  count is ``desc_words + 3 + L + t`` with ``t`` the cycle of the last store (hand-over);
- a ``dma_in`` / ``dma_out`` of ``n > 0`` words: AXI bursts, one beat a cycle, the state
  left the cycle after the last R beat (the B response): ``n + L + 1`` cycles after
  ``DISPATCH``, 1 for ``n = 0``;
- the gatherer issues one sub-cycle a cycle; the last sub-cycle's read is registered,
  then packed into the beat register, so beat 0 is on the unit's input at
  ``c0 = beat_cycles + 1``. A unit that is not ready freezes the gatherer, so beat
  ``b + 1`` is offered ``beat_cycles`` cycles after beat ``b`` is taken;
- the writer takes a vector (``wvec``) or packed (``wpack``) beat the cycle it appears, so
  it never stalls a unit that emits at most one beat a cycle (a scattered writer, one
  element a cycle, is not modelled: :class:`ValueError`).
"""

from __future__ import annotations

from functools import lru_cache
from math import prod

from golden.accel_program import NUM_LOOPS, AccelTopCfg, OpDesc, desc_words
from golden.model_cfg import ViTCfg
from golden.unit_spec import attach, attached
from golden.units import slot_kinds, unit
from sim.compiler import tiling
from sim.compiler.registry import desc_k

__all__ = ["GSB_UNITS", "PIPELINED", "accel_descs", "desc_cycles", "layer_cycles",
           "program_cycles", "run_cycles"]



def _last_beat(c0: int, beats: int, period: int) -> int:
    """Cycle the last of ``beats`` beats is taken, one every ``period`` cycles from ``c0``."""
    return c0 + (beats - 1) * period


def desc_cycles(desc: OpDesc, cfg: AccelTopCfg, *, latency: int = 1) -> int:
    """Cycles the accelerator's counter reports for ``desc`` on ``cfg``.

    Parameters
    ----------
    desc : OpDesc
        A descriptor as the compiler emits it; read are ``unit``, ``rn``, ``beat_cycles``,
        ``last_level`` (softmax rows), ``wn``, ``wc``, ``wvec``, ``wpack`` and, for the MAC
        array, ``k[0]``/``k[1]`` (weight and activation bits).
    cfg : AccelTopCfg
        The accelerator; its unit configs give latencies and geometry.
    latency : int
        The external memory's latency in cycles (see the module doc), 1 or more.

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
    return _cycles(desc, cfg, _head(cfg, latency))


def _head(cfg: AccelTopCfg, latency: int) -> int:
    """The fetch cost of a count, ``desc_words + 3 + latency``."""
    if not isinstance(latency, int) or latency < 1:
        raise ValueError(f"latency must be an integer of at least 1, not {latency!r}")
    return desc_words(cfg) + 3 + latency


@lru_cache(maxsize=256)
def _remembered_latency(u) -> int:
    return u.latency


def _latency(u) -> int:
    """``u.latency``, remembered per unit config (frozen, so hashable): some are computed
    from an adder tree's shape and take longer than the rest of a descriptor's count."""
    try:
        return _remembered_latency(u)
    except TypeError:  # a config with an unhashable field
        return u.latency


def _cycles(desc: OpDesc, cfg: AccelTopCfg, head: int) -> int:
    """:func:`desc_cycles` with the fetch cost ``head`` (``desc_words + 3 + latency``)
    given."""
    if desc.unit in ("dma_in", "dma_out"):
        # bursts of one beat a cycle: the first beat (the B response) comes ``latency``
        # cycles after the first AR handshake (the last W beat), the state is left the
        # cycle after; ``head - 1`` is the fetch, ``DISPATCH`` and that cycle
        n = desc.rn[3]
        latency = head - desc_words(cfg) - 3
        return head - 1 + (n + latency if n else 0)
    if desc.unit not in cfg.units:
        raise ValueError(f"the accelerator has no {desc.unit} unit")
    u = cfg.units[desc.unit]
    beats, bc = prod(desc.rn), desc.beat_cycles
    outs = prod(desc.wn)
    if outs and not (desc.wvec or desc.wpack) and desc.wc > 1:
        raise ValueError(f"{desc.unit}: a scattered writer ({desc.wc} elements a beat, one a "
                         f"cycle) stalls the unit; not modelled")
    return head + _MODELS[desc.unit](desc, u, beats, bc, bc + 1, outs)


# ------------------------------------------------------------- per-unit cycle models


def _cycle_model(*kinds: str):
    """Decorator: ``f(desc, u, beats, bc, c0, outs) -> t`` is the cycle model of units
    ``kinds`` (attached as their ``cycles``): ``t`` the cycle of the last store, ``u`` the
    slot's config, ``bc`` the beat cycles, ``c0`` the cycle beat 0 is offered, ``outs``
    the writer's element count."""
    def deco(fn):
        for kind in kinds:
            attach(kind, "cycles", fn)
        return fn

    return deco


@_cycle_model("binary_array", "requant", "residual", "threshold", "gelu")
def _pipelined(desc, u, beats, bc, c0, outs):
    """A beat taken every cycle, its result handed over ``latency`` edges later."""
    return _last_beat(c0, beats, bc) + _latency(u)


@_cycle_model("mac_array")
def _mac(desc, u, beats, bc, c0, outs):
    # a beat is held for `passes` cycles and the next one taken on its last pass; the
    # last pass enters the `latency`-deep pipeline one edge after the hold stage
    p = u.passes(w_bits=desc.k[_MAC_W], a_bits=desc.k[_MAC_A])
    return _last_beat(c0, beats, max(bc, p)) + p + _latency(u) - 1


@_cycle_model("gsb_encoder")
def _gsb_encoder(desc, u, beats, bc, c0, outs):
    # pass 1 loads every beat as it comes; pass 2 reads the buffer back, a beat a cycle,
    # `latency` edges from the first read to the first planes
    return _last_beat(c0, beats, bc) + beats + _latency(u)


@_cycle_model("gsb_av")
def _gsb_av(desc, u, beats, bc, c0, outs):
    if not outs:  # V columns: taken as they come, nothing written
        return _last_beat(c0, beats, bc)
    # A rows: one (block, plane pair) issued a cycle, the next row taken with the last
    # issue; the last issue's sums leave `latency - 1` edges later
    work = outs // beats * u.a_planes * u.v_planes
    return _last_beat(c0, beats, max(bc, work)) + work + _latency(u) - 1


def _rows(desc, u, beats, bc, c0, n, row):
    if beats % n:
        raise ValueError(f"{desc.unit}: {beats} beats are not whole rows of {n}")
    # a row's elements are taken as they come (`bc` apart); the unit's row_cycles count
    # them a cycle apart; the next row's first element is taken the cycle after the row's
    # last result
    return c0 + beats // n * (row + (n - 1) * (bc - 1)) - 1


@_cycle_model("layernorm")
def _layernorm(desc, u, beats, bc, c0, outs):
    return _rows(desc, u, beats, bc, c0, u.dim, u.row_cycles)


@_cycle_model("softmax")
def _softmax(desc, u, beats, bc, c0, outs):
    n = prod(desc.rn[desc.last_level:])
    return _rows(desc, u, beats, bc, c0, n, u.row_cycles(n))


#: The cycle model of each accelerator slot, from the registry (every unit with a slot
#: must have one attached: :class:`golden.unit_spec.RegistryError` otherwise).
_MODELS = {slot: attached(kind, "cycles") for slot, kind in slot_kinds().items()}
_MAC_W, _MAC_A = (unit("mac_array").payload.consts().index(n) for n in ("w_bits", "a_bits"))

#: Units that take a beat every cycle and hand its result over ``latency`` edges later.
PIPELINED = frozenset(slot for slot, model in _MODELS.items() if model is _pipelined)

#: Unit slots a GSB network's program uses: every slot (:func:`accel_descs` prices each).
GSB_UNITS = tuple(_MODELS)


def program_cycles(descs, cfg: AccelTopCfg, *, latency: int = 1) -> list[int]:
    """:func:`desc_cycles` of each descriptor of ``descs`` on ``cfg`` at memory
    ``latency``, in order (the fetch cost computed once, and one count per distinct
    descriptor object: the blocks of :func:`accel_descs` share theirs)."""
    head = _head(cfg, latency)
    seen: dict[int, int] = {}
    out = []
    for desc in descs:
        key = id(desc)
        if key not in seen:
            seen[key] = _cycles(desc, cfg, head)
        out.append(seen[key])
    return out


def run_cycles(descs, cfg: AccelTopCfg, *, latency: int = 1) -> int:
    """Cycles of a whole run of the program ``descs`` as the benches count them (from the
    edge that samples ``start`` to the edge where the memory dump is done), with no wait
    states: the header read (``latency + 1``), each descriptor's count plus its ``NEXT``
    and ``COUNT`` cycles, and the final ``NEXT`` and the dump's edge (2). With wait states
    the run takes the memory model's counted stalls more."""
    return latency + 1 + sum(c + 2 for c in program_cycles(descs, cfg, latency=latency)) + 2


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
    _check(vit, cfg)
    d = vit.embed_dim
    ln = {s: cfg.units[s].lanes for s in ("threshold", "requant", "residual", "gelu",
                                          "gsb_encoder")}
    mac, av = cfg.units["mac"], cfg.units["gsb_av"]
    _require(av.a_planes == groups and av.v_planes == groups, "gsb_av planes = groups")
    side, p = vit.img_size // vit.patch_size, vit.patch_size
    # cols / patch_size rows of a patch (a vector each) a beat, in channel-interleaved
    # bands (sim.compiler.tiling.patch_rows)
    patch = tiling.matmul([side, side], d, vit.in_chans * p * p, mac.rows, mac.cols)
    out = [("patch_embed", _desc("mac", patch, beat_cycles=_mac_beat_cycles(
                cfg, mac.cols // p), k=_mac_k(embed_bits, 8))),
           ("patch_embed.out", _ew("requant", (vit.num_patches, d), ln["requant"]))]
    head_reads = _word_reads(mac.cols, cfg.lanes)
    block = _block(vit, cfg, ln)
    for i in range(vit.depth):
        out += [(f"blocks.{i}.{name}", desc) for name, desc in block]
    heads = ["head", "head_dist"] if vit.distilled else ["head"]
    for name in heads:
        out += [(f"{name}.norm", _desc("layernorm", tiling.rows((d,)))),
                (f"{name}.in", _ew("requant", (d,), ln["requant"])),
                (name, _desc("mac", tiling.matmul([1], vit.num_classes, d, mac.rows, mac.cols),
                             beat_cycles=_mac_beat_cycles(cfg, head_reads),
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
