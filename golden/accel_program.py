"""The accelerator's program: its config, its layer descriptors and their bit encoding.

The accelerator (:class:`hw.accel.top.Accelerator`) is a sequencer, one scratchpad and the
datapath units of the unit registry (:mod:`golden.units`). It runs a *program*: a list of
descriptors, one per unit invocation, fetched one at a time from external memory. Nothing
here imports amaranth or torch: the compiler (:mod:`sim.compiler`) and the RTL share this
file.

Memory model
------------
The scratchpad holds ``depth`` words of ``lanes`` *elements* of 32 bits; element address
``a`` is lane ``a % lanes`` of word ``a // lanes``. External memory has words of the same
width, addressed in words. A tensor is a set of elements at affine addresses.

Descriptor semantics (what the RTL does with one :class:`OpDesc`)
-----------------------------------------------------------------
*Reader.* Four nested loops ``i0..i3`` (trip counts ``rn``, ``i3`` innermost) make the
input beats of the unit, one beat per iteration. A beat is assembled from up to three
operands in ``beat_cycles`` sub-cycles; in sub-cycle ``j`` operand ``o`` (if ``j <
n_in * n_out``, with ``j = k1 * n_in + k0``) reads the ``2**vl_log`` elements from element
address ``base + sum(i_l * s_l) + k1 * d_out + k0 * d_in`` on (that address must be a
multiple of ``2**vl_log``) and packs them:

- ``planes == 0``: element ``e`` of the beat (``e = j * 2**vl_log + lane``) contributes its
  low ``ebits`` bits of ``value << shift`` at bit ``e * ebits`` of the operand vector;
- ``planes == P``: bit ``q < P`` of element ``e`` goes to bit ``q * pstride + e``.

``last`` (the unit's end-of-reduction/row/image flag) is set on beats where every loop
``l >= last_level`` is at its final iteration (``last_level == 4``: every beat).

*Writer.* Its own loops ``wn`` (output beats of the unit). Output beat lane ``e < wc``
(each lane ``obits`` wide in the unit's payload, ``obits`` set by the unit) is cut to its
low ``wwidth`` bits, sign-extended if ``wsigned``, and written to element ``wbase +
sum(w_l * ws_l) + e * wt``. ``wvec``: the ``wc`` elements are consecutive (``wt == 1``) in
one word and are written in one cycle; otherwise one element a cycle. ``wpack``: the
beat's ``wc`` lanes (1 bit each) are written as one element whose bit ``e`` is lane ``e``.
An op ends when the writer has stored ``prod(wn)`` beats (or, with ``prod(wn) == 0``, when
the reader has handed over its last beat).

*Constants.* ``k0..k7`` are per-op constants the unit binding puts in payload fields
(widths, shifts, softmax/GELU parameters).

*DMA.* ``dma_in`` copies ``rn[3]`` external words from word ``k0`` to scratch words from
``wbase // lanes``; ``dma_out`` copies ``rn[3]`` scratch words from ``wbase // lanes`` to
external words from ``k0``; ``dma_pre`` is a ``dma_in`` the next compute op carries out
while it runs (a prefetch into a region that op does not touch; double buffering).

*Counters.* When an op ends, the cycles it took (from its descriptor fetch to its end) are
written to scratch element ``cnt_addr``.

External memory layout: word 0 holds the number of ops; descriptor ``p`` occupies words
``1 + p * desc_words ...``; the compiler places the data after them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

from golden.errors import VitsimError
from golden.spec import ConfigError, check_int
from golden.units import slot_ids, slot_kinds

__all__ = ["ADDR_BITS", "COUNT_BITS", "ELEM_BITS", "NUM_CONSTS", "NUM_LOOPS", "NUM_OPERANDS",
           "UNIT_IDS", "AccelTopCfg", "OpDesc", "Operand", "decode_desc", "desc_fields",
           "desc_words", "encode_desc"]

ELEM_BITS = 32
NUM_LOOPS = 4
NUM_OPERANDS = 3
NUM_CONSTS = 8
#: Width of trip counts, DMA word counts and the op count; 24 bits hold a DeiT-B program's
#: largest (a whole-model ``dma_in`` of 86 M parameters is under 2.7 M words of 32 lanes).
COUNT_BITS = 24
#: Width of element and word addresses (strides: one bit more, signed); 32 bits address
#: 16 GiB of 32-bit elements, DeiT-B's 344 MB of 32-bit parameters many times over.
ADDR_BITS = 32
#: Clock edges from a beat's last operand read address to the beat on a unit's input: the
#: gatherer's pipeline (:class:`hw.accel.gatherer.Gatherer`), which the cycle models price.
GATHER_LATENCY = 3
#: Unit ids of the descriptor's ``unit`` field (0 is "no op"): the DMA ops', then each
#: registered unit's slots (:mod:`golden.units`). A hardware encoding: ids never change.
UNIT_IDS = slot_ids()
#: The config kind of each compute unit slot of the accelerator.
UNIT_KINDS = slot_kinds()


@dataclass(frozen=True)
class AccelTopCfg:
    """Geometry of the accelerator: scratchpad, external port and the unit configs.

    Parameters
    ----------
    lanes : int
        Elements (32 bits each) per scratchpad and external-memory word; a power of two,
        4..64.
    depth : int
        Scratchpad words.
    units : dict
        Unit slot name (keys of :data:`UNIT_KINDS`) -> its config; a slot left out is not
        built, and a program using it is refused.
    ext_words : int
        External memory words (the simulation model's size).
    """

    kind: ClassVar[str] = "accelerator"
    lanes: int = 32
    depth: int = 4096
    units: dict = field(default_factory=dict)
    ext_words: int = 8192

    def __post_init__(self):
        check_int("lanes", self.lanes, 4, 64)
        if self.lanes & (self.lanes - 1):
            raise ConfigError(f"lanes must be a power of two, not {self.lanes!r}")
        check_int("depth", self.depth, 1, (1 << ADDR_BITS) // self.lanes)
        check_int("ext_words", self.ext_words, 2, 1 << ADDR_BITS)
        for slot, cfg in self.units.items():
            if slot not in UNIT_KINDS:
                raise ConfigError(f"units: unknown unit slot {slot!r}; known: "
                                  f"{', '.join(UNIT_KINDS)}")
            if getattr(cfg, "kind", None) != UNIT_KINDS[slot]:
                raise ConfigError(f"units.{slot} must be a {UNIT_KINDS[slot]} config, "
                                  f"not {cfg!r}")

    @property
    def word_bits(self) -> int:
        """Bits of one scratchpad/external word."""
        return self.lanes * ELEM_BITS

    def to_dict(self) -> dict:
        """JSON-ready dict (unit configs as their own ``to_dict``)."""
        return {"kind": self.kind, "lanes": self.lanes, "depth": self.depth,
                "ext_words": self.ext_words,
                "units": {k: v.to_dict() for k, v in sorted(self.units.items())}}

    @classmethod
    def from_dict(cls, data: dict, *, source: str = "config") -> AccelTopCfg:
        """Inverse of :meth:`to_dict`; errors name ``source``."""
        from golden.units import config_from_dict

        try:
            units = {k: config_from_dict(v, source=f"{source}: units.{k}")
                     for k, v in dict(data.get("units", {})).items()}
            return cls(lanes=data["lanes"], depth=data["depth"], ext_words=data["ext_words"],
                       units=units)
        except KeyError as exc:
            raise ConfigError(f"{source}: missing field {exc.args[0]!r}") from None
        except (ConfigError, TypeError) as exc:
            raise ConfigError(f"{source}: {exc}") from None


@dataclass(frozen=True)
class Operand:
    """One read operand of a descriptor (see the module doc); all-zero means unused."""

    base: int = 0
    s: tuple = (0, 0, 0, 0)
    n_in: int = 0
    d_in: int = 0
    n_out: int = 1
    d_out: int = 0
    vl_log: int = 0
    ebits: int = 32
    shift: int = 0
    planes: int = 0
    pstride: int = 0

    @property
    def sub_cycles(self) -> int:
        """Sub-cycles this operand reads per beat."""
        return self.n_in * self.n_out


@dataclass(frozen=True)
class OpDesc:
    """One unit invocation (see the module doc for the semantics of every field)."""

    unit: str
    rn: tuple = (1, 1, 1, 1)
    last_level: int = 4
    beat_cycles: int = 1
    ops: tuple = ()  # up to NUM_OPERANDS Operand
    wn: tuple = (0, 0, 0, 0)
    wbase: int = 0
    ws: tuple = (0, 0, 0, 0)
    wc: int = 0
    wt: int = 1
    wvec: bool = False
    wpack: bool = False
    wwidth: int = 32
    wsigned: bool = True
    k: tuple = ()  # up to NUM_CONSTS signed 32-bit constants
    cnt_addr: int = 0


def _layout() -> tuple[tuple[str, int, bool], ...]:
    f = [("unit", 4, False)]
    f += [(f"rn{i}", COUNT_BITS, False) for i in range(NUM_LOOPS)]
    f += [("last_level", 3, False), ("beat_cycles", COUNT_BITS, False)]
    for o in range(NUM_OPERANDS):
        f += [(f"o{o}_base", ADDR_BITS, False)]
        f += [(f"o{o}_s{i}", ADDR_BITS + 1, True) for i in range(NUM_LOOPS)]
        f += [(f"o{o}_n_in", COUNT_BITS, False), (f"o{o}_d_in", ADDR_BITS + 1, True),
              (f"o{o}_n_out", COUNT_BITS, False), (f"o{o}_d_out", ADDR_BITS + 1, True),
              (f"o{o}_vl_log", 3, False), (f"o{o}_ebits", 6, False),
              (f"o{o}_shift", 5, False), (f"o{o}_planes", 3, False),
              (f"o{o}_pstride", 8, False)]
    f += [(f"wn{i}", COUNT_BITS, False) for i in range(NUM_LOOPS)]
    f += [("wbase", ADDR_BITS, False)]
    f += [(f"ws{i}", ADDR_BITS + 1, True) for i in range(NUM_LOOPS)]
    f += [("wc", 7, False), ("wt", ADDR_BITS + 1, True), ("wvec", 1, False),
          ("wpack", 1, False), ("wwidth", 6, False), ("wsigned", 1, False)]
    f += [(f"k{i}", ELEM_BITS, True) for i in range(NUM_CONSTS)]
    f += [("cnt_addr", ADDR_BITS, False)]
    return tuple(f)


#: ``(name, bits, signed)`` of every descriptor field, LSB first (fixed: built once).
_DESC_FIELDS = _layout()
#: Bits of one descriptor.
_DESC_BITS = sum(bits for _, bits, _ in _DESC_FIELDS)


def desc_fields() -> tuple[tuple[str, int, bool], ...]:
    """``(name, bits, signed)`` of every descriptor field, LSB first."""
    return _DESC_FIELDS


def desc_words(cfg: AccelTopCfg) -> int:
    """External words one descriptor occupies."""
    return -(-_DESC_BITS // cfg.word_bits)


def _flat(desc: OpDesc) -> dict:
    if desc.unit not in UNIT_IDS:
        raise VitsimError(f"descriptor: unknown unit {desc.unit!r}")
    if len(desc.ops) > NUM_OPERANDS or len(desc.k) > NUM_CONSTS:
        raise VitsimError(f"descriptor of {desc.unit}: too many operands or constants")
    v = {"unit": UNIT_IDS[desc.unit], "last_level": desc.last_level,
         "beat_cycles": desc.beat_cycles, "wbase": desc.wbase, "wc": desc.wc, "wt": desc.wt,
         "wvec": int(desc.wvec), "wpack": int(desc.wpack), "wwidth": desc.wwidth,
         "wsigned": int(desc.wsigned), "cnt_addr": desc.cnt_addr}
    for i in range(NUM_LOOPS):
        v[f"rn{i}"], v[f"wn{i}"], v[f"ws{i}"] = desc.rn[i], desc.wn[i], desc.ws[i]
    ops = list(desc.ops) + [Operand()] * (NUM_OPERANDS - len(desc.ops))
    for o, op in enumerate(ops):
        for name in ("base", "n_in", "d_in", "n_out", "d_out", "vl_log", "ebits", "shift",
                     "planes", "pstride"):
            v[f"o{o}_{name}"] = getattr(op, name)
        for i in range(NUM_LOOPS):
            v[f"o{o}_s{i}"] = op.s[i]
    ks = list(desc.k) + [0] * (NUM_CONSTS - len(desc.k))
    for i, kv in enumerate(ks):
        v[f"k{i}"] = kv
    return v


def encode_desc(desc: OpDesc) -> int:
    """The descriptor as one integer, fields LSB first (:func:`desc_fields`).

    Raises :class:`VitsimError` naming the field for a value that does not fit.
    """
    values, word, pos = _flat(desc), 0, 0
    for name, bits, signed in desc_fields():
        x = int(values[name])
        lo, hi = (-(1 << (bits - 1)), (1 << (bits - 1)) - 1) if signed else (0, (1 << bits) - 1)
        if not lo <= x <= hi:
            raise VitsimError(f"descriptor of {desc.unit}: field {name}={x} does not fit "
                              f"{bits} {'signed ' if signed else ''}bits")
        word |= (x & ((1 << bits) - 1)) << pos
        pos += bits
    return word


def decode_desc(word: int) -> dict:
    """Field values of an encoded descriptor (for reports and tests)."""
    out, pos = {}, 0
    for name, bits, signed in desc_fields():
        x = (word >> pos) & ((1 << bits) - 1)
        if signed and x >> (bits - 1):
            x -= 1 << bits
        out[name] = x
        pos += bits
    return out
