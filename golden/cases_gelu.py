"""GELU unit: its config, its golden cases and its stream format.

The unit (``hw.gelu.Gelu``) computes :func:`golden.nonlinear.clipped_gelu` elementwise
(``int_gelu``, then a clamp to ``[-clip, clip]``). The integer constants ``b``, ``c``,
``one`` of :class:`golden.nonlinear.GeluParams` and ``clip`` travel with every beat, so one
instance serves every layer's scale. Importing this module registers the ``"gelu"`` unit
(:mod:`golden.units` imports it).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from golden.bitpack import rows_from_words
from golden.cases import (
    EXPLICIT,
    _case_manifest,
    _op_record,
    case_op,
    check_expected,
    check_fits,
    read_case_config,
)
from golden.errors import VitsimError
from golden.kernels import acc_bits_for_range, code_range
from golden.nonlinear import GELU_SHIFT, GeluParams, clipped_gelu, gelu_params
from golden.package import Package, read_package, write_package
from golden.spec import BeatStream, ConfigBase, check_int
from golden.unit_spec import Payload, PayloadField, UnitSpec, register_unit

__all__ = [
    "GELU_PAYLOAD",
    "GELU_STIMULI",
    "GeluCfg",
    "clipped_gelu",
    "gelu_beats",
    "gelu_case",
    "gelu_results",
    "load_gelu_case",
    "write_gelu_case",
]


@dataclass(frozen=True, kw_only=True)
class GeluCfg(BeatStream, ConfigBase):
    """Geometry of the GELU unit (``hw.gelu.Gelu``).

    Each beat carries ``lanes`` signed inputs plus the run-time constants ``b``, ``c``,
    ``one`` (signed, ``b_bits``/``c_bits``/``one_bits`` wide) and ``clip`` (unsigned,
    ``out_bits - 1`` wide). The output width ``out_bits`` comes from a static bound of
    ``x * (erf + one)`` over every input and constant those widths can hold (see
    :attr:`out_bound`), so no result can overflow whatever constants arrive.

    Parameters
    ----------
    lanes : int
        Elements per beat, 1..256.
    in_bits : int
        Signed input width, 2..24 (:func:`golden.nonlinear.int_gelu` is exact for
        ``|x| < 2**24``).
    b_bits, c_bits, one_bits : int
        Signed widths of the constants ``b`` (2..16), ``c`` (2..32) and ``one`` (2..16).
        The defaults hold :func:`golden.nonlinear.gelu_params` for scales down to about
        ``2**-13``.
    """

    kind: ClassVar[str] = "gelu"
    lanes: int  # elements per beat
    in_bits: int = 22  # signed input width
    b_bits: int = 16  # signed width of b
    c_bits: int = 32  # signed width of c
    one_bits: int = 16  # signed width of one

    def __post_init__(self):
        check_int("lanes", self.lanes, 1, 256)
        check_int("in_bits", self.in_bits, 2, 24)
        check_int("b_bits", self.b_bits, 2, 16)
        check_int("c_bits", self.c_bits, 2, 32)
        check_int("one_bits", self.one_bits, 2, 16)

    @property
    def erf_bound(self) -> tuple[int, int]:
        """Range of ``erf + one`` for any constants of the configured widths.

        ``s = min(|x|, -b) + b`` lies in ``[-2**(b_bits-1), 0]``, so
        ``0 <= s**2 <= 4**(b_bits-1)``; with ``c`` at its extremes, ``|s**2 + c| <= M``;
        the signed, shifted ``erf`` lies in ``[floor(-M/2**14), floor(M/2**14)]``.
        """
        c_lo, c_hi = code_range(self.c_bits)
        big = max(-c_lo, (1 << (2 * self.b_bits - 2)) + c_hi)
        one_lo, one_hi = code_range(self.one_bits)
        return (-big >> GELU_SHIFT) + one_lo, (big >> GELU_SHIFT) + one_hi

    @property
    def out_bound(self) -> int:
        """Largest ``|x * (erf + one)|`` over the input range and :attr:`erf_bound`."""
        x_lo, x_hi = code_range(self.in_bits)
        return max(abs(x * e) for x in (x_lo, x_hi) for e in self.erf_bound)

    @property
    def erf_bits(self) -> int:
        """Signed width of ``erf + one``."""
        return acc_bits_for_range(*self.erf_bound)

    @property
    def out_bits(self) -> int:
        """Signed output width: the smallest holding ``[-out_bound, out_bound]``."""
        return acc_bits_for_range(-self.out_bound, self.out_bound)

    @property
    def clip_bits(self) -> int:
        """Width of the unsigned ``clip`` field; its largest value never clamps."""
        return self.out_bits - 1

    @property
    def clip_max(self) -> int:
        """Largest ``clip``: at least :attr:`out_bound`, so it leaves every result as is."""
        return (1 << self.clip_bits) - 1

    @property
    def latency(self) -> int:
        """Clock edges from accepting a beat to handing over its outputs: ``|x|`` clipped
        plus ``b``; square; sign, ``+ c``, shift, ``+ one``; product; clamp."""
        return 5


    def check_params(self, p: GeluParams, clip: int) -> None:
        """Raise :class:`VitsimError` naming the constant that does not fit its field."""
        for name, value, bits in (("b", p.b, self.b_bits), ("c", p.c, self.c_bits),
                                  ("one", p.one, self.one_bits)):
            lo, hi = code_range(bits)
            if not lo <= value <= hi:
                raise VitsimError(f"{name} = {value} does not fit {name}_bits ({bits})")
        if not isinstance(clip, int) or not 0 <= clip <= self.clip_max:
            raise VitsimError(f"clip must be between 0 and {self.clip_max}, not {clip!r}")

    def __str__(self) -> str:
        return f"gelu_l{self.lanes}i{self.in_bits}o{self.out_bits}"


#: ``Gelu``'s ``i_stream``: ``lanes`` signed inputs, then the constants (``b``, ``c``,
#: ``one`` two's complement, ``clip`` unsigned), the same every beat.
GELU_PAYLOAD = Payload((
    PayloadField("x", "in_bits", signed=True, dims=("lanes",), bind=0),
    PayloadField("b", "b_bits", signed=True, bind="k0"),
    PayloadField("c", "c_bits", signed=True, bind="k1"),
    PayloadField("one", "one_bits", signed=True, bind="k2"),
    PayloadField("clip", "clip_bits", bind="k3"),
))


#: GELU stimuli: random inputs (half over the full range, half near the erf knee
#: ``|x| <= 2|b|``), or the range limits, 0, +-1 and the clip point ``|x| = -b``.
GELU_STIMULI = ("random", "extremes")


def _gelu_inputs(cfg: GeluCfg, p: GeluParams, kind: str, rng, shape) -> np.ndarray:
    lo, hi = code_range(cfg.in_bits)
    knee = min(abs(p.b), hi)
    if kind == "random":
        wide = rng.integers(lo, hi, shape, endpoint=True)
        near = rng.integers(-min(2 * knee, hi), min(2 * knee, hi), shape, endpoint=True)
        return np.where(rng.random(shape) < 0.5, wide, near)
    if kind == "extremes":
        picks = np.array([lo, lo + 1, -knee - 1, -knee, -knee + 1, -1, 0, 1, knee - 1, knee,
                          knee + 1, hi - 1, hi])
        return rng.choice(np.clip(picks, lo, hi), shape)
    raise VitsimError(f"stimulus must be one of {', '.join(GELU_STIMULI)}, not {kind!r}")


def gelu_case(cfg: GeluCfg, path, *, beats: int, scale: float, seed: int = 0,
              stimulus: str = "random", clip: int | None = None) -> Package:
    """Write a case for :class:`hw.gelu.Gelu` to ``path`` and read it back.

    ``x`` ``[beats, lanes]`` is drawn from ``stimulus`` (:data:`GELU_STIMULI`); the
    constants are :func:`golden.nonlinear.gelu_params` of ``scale`` and must fit the
    config's fields; ``clip`` defaults to :attr:`GeluCfg.clip_max` (no clamp). The
    expected ``y`` is :func:`clipped_gelu`.
    """
    cfg.cycles(beats=beats)  # validates beats before drawing
    p = gelu_params(scale)
    clip = cfg.clip_max if clip is None else clip
    cfg.check_params(p, clip)
    x = _gelu_inputs(cfg, p, stimulus, np.random.default_rng(seed), (beats, cfg.lanes))
    return write_gelu_case(cfg, path, x=x, params=p, clip=clip, scale=scale, seed=seed,
                           stimulus=stimulus)


def write_gelu_case(cfg: GeluCfg, path, *, x, params: GeluParams, clip: int,
                    scale: float | None = None, expected=None, op_meta: dict | None = None,
                    seed=0, stimulus: str = EXPLICIT, source: dict | None = None) -> Package:
    """Write a GELU case of explicit inputs ``x [beats, lanes]`` (signed ``in_bits``),
    constants ``params`` and ``clip`` (which must fit the unit's fields).

    The expected ``y`` is :func:`clipped_gelu`; ``expected``, ``op_meta``, ``source`` as
    :func:`golden.cases.write_binary_array_case`.
    """
    x = np.asarray(x, dtype=np.int64)
    if x.ndim != 2 or x.shape[1] != cfg.lanes:
        raise VitsimError(f"x must be [beats, lanes ({cfg.lanes})], not {list(x.shape)}")
    check_fits("x", x, cfg.in_bits, "in_bits")
    cycles = cfg.cycles(beats=x.shape[0])
    cfg.check_params(params, clip)
    y = clipped_gelu(x, params, clip)
    op = _op_record("gelu", "gelu", op_meta, inputs=["x"], outputs=["y"], beats=x.shape[0],
                    scale=scale, b=params.b, c=params.c, one=params.one,
                    out_scale=params.out_scale, clip=clip, in_bits=cfg.in_bits,
                    out_bits=cfg.out_bits, out_bound=cfg.out_bound, cycles=cycles)
    check_expected(op, y, expected)
    write_package(path, manifest=_case_manifest(cfg, op, seed=seed, stimulus=stimulus,
                                                source=source),
                  tensors={"x": x, "y": y.astype(np.int64)})
    return read_package(path)


def _op_params(op: dict) -> GeluParams:
    return GeluParams(b=op["b"], c=op["c"], one=op["one"], out_scale=op["out_scale"])


def load_gelu_case(pkg: Package):
    """Return ``(cfg, op, params, x, y)`` of a GELU case."""
    cfg = read_case_config(pkg, GeluCfg)
    op = case_op(pkg, "gelu")
    return cfg, op, _op_params(op), pkg.tensors["x"], pkg.tensors["y"]


def _verify_gelu(pkg: Package):
    _, op, p, x, y = load_gelu_case(pkg)
    return op, clipped_gelu(x, p, op["clip"]), y


def gelu_beats(cfg: GeluCfg, x: np.ndarray, p: GeluParams, clip: int) -> list[int]:
    """Return the ``i_stream`` payloads of ``Gelu`` for ``x [beats, lanes]``.

    Payload bits, LSB first: lane ``l`` at ``[l*in_bits, (l+1)*in_bits)`` (two's
    complement), then ``b`` (``b_bits``), ``c`` (``c_bits``), ``one`` (``one_bits``), all
    two's complement, and ``clip`` (``clip_bits``, unsigned).
    """
    cfg.check_params(p, clip)
    x = np.asarray(x)
    return GELU_PAYLOAD.pack(cfg, x.shape[0], {"x": x, "b": p.b, "c": p.c, "one": p.one,
                                               "clip": clip})


def gelu_results(cfg: GeluCfg, words: list[int]) -> np.ndarray:
    """Decode ``o_stream`` payloads (lane ``l``'s ``out_bits``-bit two's complement code at
    ``[l*out_bits, ...)``) into values ``[beats, lanes]``."""
    return rows_from_words(words, cfg.lanes, cfg.out_bits, signed=True)


register_unit(UnitSpec(
    kind=GeluCfg.kind, config=GeluCfg, kernel=clipped_gelu, payload=GELU_PAYLOAD,
    op_kinds=("gelu",), slots={"gelu": 11}, top="gelu", example={"lanes": 4},
    case=gelu_case, write_case=write_gelu_case, verify=_verify_gelu))
