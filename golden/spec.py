"""Frozen configuration dataclasses: the one vocabulary of vitsim.

Every layer (models, golden, hw, sim, the analytic model) names the same quantity with the
same field: ``w_bits``, ``a_bits``, ``acc_bits``, ``rows``, ``cols``, ``max_k``... A config
validates itself on construction and raises ``TypeError``/``ValueError`` with an exact
message naming the field, so bad input is caught at the boundary where it enters.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, ClassVar

from golden.errors import VitsimError
from golden.kernels import acc_bits_for_range, code_range, dot_bound

__all__ = [
    "BeatStream",
    "BinaryArrayCfg",
    "ConfigBase",
    "ConfigError",
    "MacArrayCfg",
    "QuantSpec",
    "RequantCfg",
    "ResidualCfg",
    "check_choice",
    "check_int",
    "check_multiple",
]


class ConfigError(VitsimError, ValueError):
    """A configuration field is missing, unknown or out of range."""


def check_int(name: str, value: Any, lo: int, hi: int | None = None) -> None:
    """``TypeError`` unless ``value`` is an int (not a bool); :class:`ConfigError` naming
    ``name`` unless ``lo <= value`` (and ``value <= hi`` when ``hi`` is given)."""
    if not isinstance(value, int) or isinstance(value, bool):
        raise TypeError(f"{name} must be an integer, not {value!r}")
    if value < lo or (hi is not None and value > hi):
        bound = f"between {lo} and {hi}" if hi is not None else f"at least {lo}"
        raise ConfigError(f"{name} must be {bound}, not {value!r}")


def check_multiple(name: str, value: int, unit_name: str, unit: int) -> None:
    """:class:`ConfigError` naming ``name`` and ``unit_name`` unless ``unit`` divides
    ``value``."""
    if value % unit:
        raise ConfigError(f"{name} must be a multiple of {unit_name} ({unit}), not {value!r}")


def check_choice(name: str, value: Any, choices: tuple) -> None:
    """:class:`ConfigError` naming ``name`` and the options unless ``value`` is one of
    ``choices``."""
    if value not in choices:
        options = ", ".join(repr(c) for c in choices)
        raise ConfigError(f"{name} must be one of {options}, not {value!r}")


class ConfigBase:
    """Shared (de)serialisation for the config dataclasses (every unit, model and
    accelerator config of golden derives from it)."""

    kind: ClassVar[str]

    def to_dict(self) -> dict:
        """Return the fields as a JSON-ready dict, tagged with the config ``kind``."""
        return {"kind": self.kind, **dataclasses.asdict(self)}

    @classmethod
    def field_default(cls, name: str):
        """Default value of field ``name`` (for command-line defaults that must match)."""
        return cls.__dataclass_fields__[name].default

    @classmethod
    def from_dict(cls, data: dict, *, source: str = "config"):
        """Build a config from ``data``; unknown or missing fields name ``source``."""
        data = {k: v for k, v in data.items() if k != "kind"}
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - names)
        if unknown:
            raise ConfigError(f"{source}: unknown field {unknown[0]!r} for {cls.__name__}")
        required = {
            f.name
            for f in dataclasses.fields(cls)
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
        }
        missing = sorted(required - set(data))
        if missing:
            raise ConfigError(f"{source}: missing field {missing[0]!r} for {cls.__name__}")
        try:
            return cls(**data)
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"{source}: {exc}") from None


@dataclass(frozen=True, kw_only=True)
class QuantSpec(ConfigBase):
    """Integer format of one tensor that crosses a hardware boundary.

    Parameters
    ----------
    bits : int
        Width in bits, 1..32. A 1-bit tensor is a bit-plane (see ``signed``).
    signed : bool
        Two's complement when true. For ``bits == 1``, signed means the bit codes
        {-1, +1} (bit 1 is +1) and unsigned means {0, 1}.
    """

    kind: ClassVar[str] = "quant"
    bits: int  # width of one element
    signed: bool = True  # two's complement (or {-1,+1} for 1 bit)

    def __post_init__(self):
        check_int("bits", self.bits, 1, 32)
        if not isinstance(self.signed, bool):
            raise TypeError(f"signed must be a bool, not {self.signed!r}")

    @property
    def lo(self) -> int:
        """Smallest representable value."""
        return code_range(self.bits, self.signed)[0]

    @property
    def hi(self) -> int:
        """Largest representable value."""
        return code_range(self.bits, self.signed)[1]

    def __str__(self) -> str:
        return f"{'s' if self.signed else 'u'}{self.bits}"


class BeatStream:
    """Mixin of the one-beat-a-cycle units: ``cycles(beats) = beats + latency``."""

    def cycles(self, *, beats: int) -> int:
        """Clock cycles for ``beats`` beats with no stalls, first input to last output:
        ``beats + latency``."""
        if not isinstance(beats, int) or isinstance(beats, bool) or beats <= 0:
            raise ConfigError(f"beats must be a positive integer, not {beats!r}")
        return beats + self.latency


class _ArrayTiling:
    """Tiling shared by the arrays: ``rows`` outputs in parallel, ``cols`` reduction elements
    a beat, reductions up to ``max_k``."""

    def beats(self, k: int) -> int:
        """Input beats of one reduction of ``k`` elements (``ConfigError`` if not a tile)."""
        if not isinstance(k, int) or k <= 0 or k % self.cols or k > self.max_k:
            raise ConfigError(
                f"k must be a positive multiple of cols ({self.cols}) up to max_k "
                f"({self.max_k}), not {k!r}"
            )
        return k // self.cols

    def tiles(self, *, m: int, n: int) -> int:
        """Reductions of an ``[m, k] x [n, k]^T`` product: ``m * n / rows``."""
        if not isinstance(n, int) or n <= 0 or n % self.rows:
            raise ConfigError(f"n must be a positive multiple of rows ({self.rows}), not {n!r}")
        if not isinstance(m, int) or m <= 0:
            raise ConfigError(f"m must be a positive integer, not {m!r}")
        return m * (n // self.rows)


@dataclass(frozen=True, kw_only=True)
class BinaryArrayCfg(_ArrayTiling, ConfigBase):
    """Geometry of the binary matmul array (``hw.binary_array.BinaryMatmulArray``).

    The array has ``rows`` output lanes; each consumes ``cols`` activation bits and
    ``cols`` weight bits per beat and accumulates one dot product over a reduction of
    ``k`` elements (``k / cols`` beats, ``k`` a multiple of ``cols`` up to ``max_k``).

    Parameters
    ----------
    rows : int
        Output lanes (dot products computed in parallel), 1..256.
    cols : int
        Reduction lanes per beat (bits popcounted per lane per cycle), 1..1024.
    mode : str
        ``"xnor"``: activations and weights both code {-1,+1} (bit 1 is +1).
        ``"and"``: activations code {0,1}, weights code {-1,+1}.
    max_k : int
        Longest reduction the accumulators must hold without overflow; a multiple
        of ``cols``. Sets ``acc_bits``.
    """

    kind: ClassVar[str] = "binary_array"
    rows: int  # output lanes
    cols: int  # reduction lanes per beat
    mode: str = "xnor"  # "xnor" ({-1,+1} x {-1,+1}) or "and" ({0,1} x {-1,+1})
    max_k: int = 1024  # longest reduction, sets acc_bits

    def __post_init__(self):
        check_int("rows", self.rows, 1, 256)
        check_int("cols", self.cols, 1, 1024)
        check_choice("mode", self.mode, ("xnor", "and"))
        check_int("max_k", self.max_k, 1, 1 << 24)
        check_multiple("max_k", self.max_k, "cols", self.cols)

    @property
    def acc_bits(self) -> int:
        """Signed accumulator width that holds any reduction of up to ``max_k`` terms."""
        return acc_bits_for_range(-self.max_k, self.max_k)

    @property
    def tree_levels(self) -> int:
        """Pipeline stages of the per-lane popcount: the levels of its full-adder tree.

        Mirrors ``hw.adder_tree.compress`` on ``cols`` folded bits in column 0, counting
        bits only: a level promotes just enough folded bits to plain ones, gives every
        remaining folded bit a full adder with two plain bits, adds the other plain bits by
        threes, and the tree stops once no column holds more than two bits (64 cols: 9).
        """
        plain, fold, levels = [0], [self.cols], 0
        while any(p + f > 2 for p, f in zip(plain, fold, strict=True)):
            nxt_p, nxt_f = [0] * (len(plain) + 1), [0] * (len(plain) + 1)
            for j, (p, f) in enumerate(zip(plain, fold, strict=True)):
                if p + f > 2:
                    promote = max(0, -(-(f - p + 1) // 2))
                    p, f = p + promote, f - promote
                    folds = min(f, p // 2)
                    adders = folds + (p - 2 * folds) // 3
                    nxt_p[j + 1] += adders  # carries
                    p, f = p + folds - 2 * adders, f - folds
                nxt_p[j] += p
                nxt_f[j] += f
            while len(nxt_p) > 1 and not nxt_p[-1] and not nxt_f[-1]:
                nxt_p.pop()
                nxt_f.pop()
            plain, fold, levels = nxt_p, nxt_f, levels + 1
        return levels

    @property
    def latency(self) -> int:
        """Clock edges from accepting a reduction's last beat to handing over its result.

        ``tree_levels`` popcount stages (one full-adder level each), then accumulate
        (64 cols: 10).
        """
        return self.tree_levels + 1

    def cycles(self, *, m: int, n: int, k: int) -> int:
        """Clock cycles of an ``[m, k] x [n, k]^T`` product with no stalls.

        ``n`` must be a multiple of ``rows``. Counted from the edge that accepts the first
        beat to the edge that hands over the last result, both included:
        ``m * (n / rows) * (k / cols) + latency``.
        """
        return self.tiles(m=m, n=n) * self.beats(k) + self.latency

    def __str__(self) -> str:
        return f"{self.mode}_r{self.rows}c{self.cols}k{self.max_k}"


@dataclass(frozen=True, kw_only=True)
class RequantCfg(BeatStream, ConfigBase):
    """Geometry of the requantiser (``hw.requantizer.Requantizer``).

    Each beat carries ``lanes`` signed accumulators, each lane's own signed ``mult`` and
    ``bias`` (per output channel), and the run-time parameters shared by the beat
    (``shift``, output ``bits`` 2..``out_bits`` and signedness), so one instance serves
    every layer and head width without re-elaboration.

    The ``acc x mult`` products are split into ``DSP_BITS``-wide signed pieces (one
    ECP5 ``MULT18X18D`` each: low pieces 17 bits unsigned, the top piece signed), and the
    partial products, plus ``bias`` and the rounding half, are summed in a tree of two-input
    adders with a register after every level. :attr:`latency` counts those stages.

    Parameters
    ----------
    lanes : int
        Accumulators per beat, 1..256.
    acc_bits : int
        Signed accumulator width, 2..32.
    out_bits : int
        Widest output; outputs leave as ``out_bits``-bit two's-complement codes, 2..16.
    mult_bits : int
        Signed multiplier width, 2..32 (32 holds every ``mult`` of
        :func:`golden.kernels.requantize`).
    bias_bits : int
        Signed bias width, 2..60 (the bias is in product units: ``2**shift`` per output
        step).
    """

    kind: ClassVar[str] = "requant"
    DSP_BITS: ClassVar[int] = 18  # signed operand width of one hardware multiplier
    lanes: int  # accumulators per beat
    acc_bits: int  # signed accumulator width
    out_bits: int = 8  # widest run-time output width
    mult_bits: int = 32  # signed per-lane multiplier width
    bias_bits: int = 48  # signed per-lane bias width (product units)

    def __post_init__(self):
        check_int("lanes", self.lanes, 1, 256)
        check_int("acc_bits", self.acc_bits, 2, 32)
        check_int("out_bits", self.out_bits, 2, 31)
        check_int("mult_bits", self.mult_bits, 2, 32)
        check_int("bias_bits", self.bias_bits, 2, 60)

    @classmethod
    def pieces(cls, bits: int) -> int:
        """Multiplier pieces of a ``bits``-wide signed operand: one if it fits ``DSP_BITS``,
        else 17-bit unsigned low pieces under a signed top piece of at most ``DSP_BITS``."""
        return 1 if bits <= cls.DSP_BITS else 1 + -(-(bits - cls.DSP_BITS) // (cls.DSP_BITS - 1))

    @property
    def partial_products(self) -> int:
        """Partial products per lane: ``pieces(acc_bits) * pieces(mult_bits)``."""
        return self.pieces(self.acc_bits) * self.pieces(self.mult_bits)

    @property
    def sum_stages(self) -> int:
        """Register levels of the adder tree over the partial products and ``bias + half``:
        ``ceil(log2(partial_products + 1))``."""
        return (self.partial_products).bit_length()

    @property
    def latency(self) -> int:
        """Clock edges from accepting a beat to handing over its outputs:
        ``1 + sum_stages + 1`` (partial products; the adder tree; compare against the
        clamp thresholds, select and clamp)."""
        return 1 + self.sum_stages + 1


    def __str__(self) -> str:
        widths = "".join(f"{tag}{getattr(self, name)}" for tag, name in
                         (("m", "mult_bits"), ("b", "bias_bits"))
                         if getattr(self, name) != self.field_default(name))
        return f"l{self.lanes}a{self.acc_bits}o{self.out_bits}{widths}"


@dataclass(frozen=True, kw_only=True)
class MacArrayCfg(_ArrayTiling, ConfigBase):
    """Geometry of the mixed-bit MAC array (``hw.mac_array.MacArray``).

    Digit-serial on both operands: each of the ``rows x cols`` lanes multiplies one
    ``digit_bits``-wide digit of a weight by one digit of an activation per cycle, so a
    ``w_bits x a_bits`` product takes ``passes = ceil(w_bits/digit_bits) *
    ceil(a_bits/digit_bits)`` cycles per beat: throughput grows as widths shrink (with
    2-bit digits, 8x8 bits take 16 passes, 4x4 take 4, 2x2 take 1; 3 bits cost as 4). The
    widths and signedness arrive at run time with every beat, so one instance serves every
    head width without re-elaboration. Tiling as :class:`BinaryArrayCfg`: ``rows`` outputs
    in parallel, ``cols`` reduction elements a beat. The pipeline registers the digits,
    the digit products and every ``ADDER_LEVELS`` levels of each row's adder tree
    (:attr:`latency`).

    Parameters
    ----------
    rows : int
        Output lanes, 1..256.
    cols : int
        Reduction lanes per beat, 1..1024.
    digit_bits : int
        Digit width of the serial decomposition, 1..8.
    max_bits : int
        Widest operand, ``digit_bits``..16.
    max_k : int
        Longest reduction (a multiple of ``cols``); sets ``acc_bits``.
    """

    kind: ClassVar[str] = "mac_array"
    ADDER_LEVELS: ClassVar[int] = 2  # adder-tree levels between pipeline registers
    rows: int  # output lanes
    cols: int  # reduction lanes per beat
    digit_bits: int = 2  # digit width of the serial decomposition
    max_bits: int = 8  # widest operand
    max_k: int = 4096  # longest reduction, sets acc_bits

    def __post_init__(self):
        check_int("rows", self.rows, 1, 256)
        check_int("cols", self.cols, 1, 1024)
        check_int("digit_bits", self.digit_bits, 1, 8)
        check_int("max_bits", self.max_bits, self.digit_bits, 16)
        check_int("max_k", self.max_k, 1, 1 << 24)
        check_multiple("max_k", self.max_k, "cols", self.cols)

    @property
    def field_bits(self) -> int:
        """Width of one operand field in a beat: ``max_bits`` rounded up to whole digits."""
        return -(-self.max_bits // self.digit_bits) * self.digit_bits

    @property
    def acc_bits(self) -> int:
        """Signed accumulator width for ``max_k`` products of ``max_bits`` operands, signed
        by signed or unsigned activations by signed weights (the wider of the two)."""
        lo, hi = 0, 0
        for a_signed in (True, False):
            b = dot_bound(self.max_k, a_bits=self.max_bits, a_signed=a_signed,
                          w_bits=self.max_bits, w_signed=True)
            lo, hi = min(lo, b[0]), max(hi, b[1])
        return acc_bits_for_range(lo, hi)

    @property
    def tree_stages(self) -> int:
        """Register stages of each row's adder tree: its ``ceil(log2(cols))`` levels of
        two-input adders, ``ADDER_LEVELS`` levels between registers."""
        return -(-(self.cols - 1).bit_length() // self.ADDER_LEVELS)

    @property
    def latency(self) -> int:
        """Clock edges from the last pass of a reduction's last beat to its result, plus
        one: ``5 + tree_stages`` (hold; digit select; digit products; the adder tree; shift
        by the digits' weight; accumulate)."""
        return 5 + self.tree_stages

    def passes(self, *, w_bits: int, a_bits: int) -> int:
        """Digit passes of one ``w_bits x a_bits`` beat (``ConfigError`` if too wide)."""
        for name, bits in (("w_bits", w_bits), ("a_bits", a_bits)):
            check_int(name, bits, 1, self.max_bits)
        d = self.digit_bits
        return -(-w_bits // d) * -(-a_bits // d)

    def cycles(self, *, m: int, n: int, k: int, w_bits: int, a_bits: int) -> int:
        """Clock cycles of an ``[m, k] x [n, k]^T`` product with no stalls.

        ``m * (n / rows) * (k / cols) * passes(w_bits, a_bits) + latency``, counted from
        the edge that accepts the first beat to the edge that hands over the last result;
        ``n`` must be a multiple of ``rows``.
        """
        return (self.tiles(m=m, n=n) * self.beats(k) * self.passes(w_bits=w_bits, a_bits=a_bits)
                + self.latency)

    def __str__(self) -> str:
        return f"mac_r{self.rows}c{self.cols}d{self.digit_bits}k{self.max_k}"


@dataclass(frozen=True, kw_only=True)
class ResidualCfg(BeatStream, ConfigBase):
    """Geometry of the residual adder (``hw.residual.ResidualAdd``).

    Each beat carries ``lanes`` pairs of signed ``in_bits``-wide operands at one scale;
    each lane's saturating sum leaves as a signed ``out_bits``-wide value
    (:func:`golden.residual.residual_add`).

    Parameters
    ----------
    lanes : int
        Operand pairs per beat, 1..256.
    in_bits : int
        Signed operand width, 2..32.
    out_bits : int
        Signed output width (the saturation range), 2..32.
    """

    kind: ClassVar[str] = "residual"
    lanes: int  # operand pairs per beat
    in_bits: int = 8  # signed operand width
    out_bits: int = 8  # signed output width, saturating

    def __post_init__(self):
        check_int("lanes", self.lanes, 1, 256)
        check_int("in_bits", self.in_bits, 2, 32)
        check_int("out_bits", self.out_bits, 2, 32)

    @property
    def latency(self) -> int:
        """Clock edges from accepting a beat to handing over its sums: one (add and
        saturate, registered)."""
        return 1


    def __str__(self) -> str:
        return f"res_l{self.lanes}i{self.in_bits}o{self.out_bits}"
