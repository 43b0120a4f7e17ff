"""LayerNorm unit: its config and cycle model, its golden cases and its stream format.

The unit (``hw.layernorm.LayerNorm``) computes :func:`golden.nonlinear.int_layernorm` over
rows of ``dim`` elements, one element a beat. Importing this module registers the
``"layernorm"`` unit (:mod:`golden.units` imports it).
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
    read_case_config,
)
from golden.errors import VitsimError
from golden.nonlinear import LayerNormParams, int_layernorm, layernorm_params
from golden.package import Package, read_package, write_package
from golden.spec import ConfigBase, ConfigError, check_int
from golden.unit_spec import Payload, PayloadField, UnitSpec, register_unit

__all__ = [
    "LAYERNORM_PAYLOAD",
    "FACTOR_BITS",
    "SLOTS",
    "LAYERNORM_STIMULI",
    "LayerNormCfg",
    "layernorm_beats",
    "layernorm_case",
    "layernorm_results",
    "load_layernorm_case",
    "write_layernorm_case",
]

#: Quotient bits of ``factor = (2**31 - 1) // std``.
FACTOR_BITS = 31


#: Rows the LayerNorm unit's row memory holds: one for each of its four engines.
SLOTS = 4


def _steps(bits: int, step_bits: int) -> int:
    return -(-bits // step_bits)


@dataclass(frozen=True, kw_only=True)
class LayerNormCfg(ConfigBase):
    """Geometry and cycle model of the LayerNorm unit (``hw.layernorm.LayerNorm``).

    A row of ``dim`` signed ``in_bits`` elements arrives ``lanes`` elements a beat
    (:attr:`beats` beats, the last one's lanes past ``dim`` ignored); its ``dim``
    normalised values leave ``lanes`` a beat as signed 32-bit integers (``|out| <= 2**30``:
    ``|y| / std < 2 sqrt(dim)`` and ``2**guard >= 2 sqrt(dim)``; lanes past ``dim`` in a
    row's last beat are 0).

    Where the unit cannot take one beat a cycle, and why: a row must be complete before
    its mean and ``std`` exist, and those come from sequential arithmetic (restoring
    dividers and a restoring square root, ``step_bits`` bits a cycle), far longer than the
    row's beats when ``lanes`` is large. The unit overlaps rows instead: four engines
    each hold one row -- LOAD (:attr:`beats` cycles), STATS (mean and variance,
    :attr:`stats_cycles`), ROOT (square root and ``factor``, :attr:`root_cycles`) and OUT
    (:attr:`beats` cycles of reads into a 4-stage pipeline) -- and a row moves on the
    cycle the next engine is free. With no stalls a row therefore leaves every
    :attr:`row_cycles` ``= max(beats, stats_cycles, root_cycles)`` cycles, the slowest
    engine; rows stay in order, and the unit holds :data:`SLOTS` rows of memory.

    Parameters
    ----------
    dim : int
        Row length ``D``, 2..4096 (the row memory holds :data:`SLOTS` rows of it).
    in_bits : int
        Signed input width, 2..16 (:func:`golden.nonlinear.int_layernorm` needs
        ``|x| < 2**15``).
    lanes : int
        Elements a beat, in and out, 1..64: the row sums take ``lanes`` elements a cycle
        (adder trees) and the output stage is ``lanes`` multipliers wide.
    step_bits : int
        Quotient (and root) bits the dividers and the square root find a cycle, 1..4
        (``step_bits`` restoring steps chained in one cycle): the row's compute takes
        about ``1 / step_bits`` of the cycles, at a longer logic path.
    """

    kind: ClassVar[str] = "layernorm"
    dim: int  # row length
    in_bits: int = 16  # signed input width
    lanes: int = 1  # elements a beat
    step_bits: int = 1  # divider and square-root bits a cycle

    def __post_init__(self):
        check_int("dim", self.dim, 2, 4096)
        check_int("in_bits", self.in_bits, 2, 16)
        check_int("lanes", self.lanes, 1, 64)
        check_int("step_bits", self.step_bits, 1, 4)

    @property
    def beats(self) -> int:
        """Beats of one row: ``ceil(dim / lanes)``."""
        return -(-self.dim // self.lanes)

    @property
    def params(self) -> LayerNormParams:
        """The golden kernel's constants for rows of ``dim``."""
        return layernorm_params(self.dim)

    @property
    def out_bits(self) -> int:
        """Signed output width."""
        return 32

    @property
    def var_bits(self) -> int:
        """Width of ``var``: values in a range of ``2**in_bits - 1`` have a variance of at
        most ``(2**in_bits - 1)**2 / 4``, and rounding the mean adds at most ``1/4``, so
        ``var < 4**(in_bits - 1)``."""
        return 2 * self.in_bits - 2

    @property
    def stats_cycles(self) -> int:
        """Cycles STATS holds a row with no stalls, from the cycle it takes the row to the
        cycle it can pass it on, both included.

        Mean division setup and ``in_bits`` quotient bits; two cycles for the mean and
        ``2*sum(x) - dim*mean``, then ``sum(y**2)``; variance division setup and
        ``var_bits`` quotient bits; the hand-over cycle: ``3*in_bits + 3`` at one bit a
        cycle, each count of bits becoming ``ceil(bits / step_bits)`` cycles.
        """
        return _steps(self.in_bits, self.step_bits) + _steps(self.var_bits, self.step_bits) + 5

    @property
    def root_cycles(self) -> int:
        """Cycles ROOT holds a row with no stalls, as :attr:`stats_cycles`: ``var_bits / 2``
        root bits, ``factor`` division setup and 31 quotient bits, the hand-over cycle
        (``in_bits + 32`` at one bit a cycle)."""
        return (_steps(self.var_bits // 2, self.step_bits) + _steps(FACTOR_BITS, self.step_bits)
                + 2)

    @property
    def compute_cycles(self) -> int:
        """Cycles between a row's last input and its first output read with no stalls:
        :attr:`stats_cycles` ``+`` :attr:`root_cycles` (``4*in_bits + 35`` at one bit a
        cycle)."""
        return self.stats_cycles + self.root_cycles

    @property
    def latency(self) -> int:
        """Clock edges from accepting a row's last element to handing over its first
        result with no stalls: :attr:`compute_cycles`, then memory read, ``x - mean``,
        product, shift (4 stages) and the handshake."""
        return self.compute_cycles + 5

    @property
    def row_cycles(self) -> int:
        """Cycles a row in the steady state with no stalls (input every cycle): the slowest
        engine, ``max(beats, stats_cycles, root_cycles)``."""
        return max(self.beats, self.stats_cycles, self.root_cycles)

    def cycles(self, *, rows: int, beat_cycles: int = 1) -> int:
        """Clock cycles for ``rows`` rows with no stalls, first input to last output, both
        included.

        ``beat_cycles`` is how far apart the beats are offered: the first at the first
        cycle, each next one ``beat_cycles`` after the previous was taken (1: every
        cycle). The output is always ready.

        Row ``r``'s last beat is taken at ``s[r]``, it moves into ROOT at ``t[r]`` and into
        OUT at ``u[r]``, where, beats and engine times as :attr:`row_cycles`,
        ``s[r] = max(s[r-1] + beats*beat_cycles, t[r-1])``,
        ``t[r] = max(s[r] + stats_cycles, u[r-1])`` and
        ``u[r] = max(t[r] + root_cycles, u[r-1] + beats)``; the longest path through
        these gives ``u[rows-1] = s[0] + compute_cycles + (rows-1) * period`` with
        ``period = max(beats*beat_cycles, stats_cycles, root_cycles)``, and the row's last
        result is handed over ``beats + latency - compute_cycles - 1`` cycles after ``u``.
        So ``(beats-1) * beat_cycles + latency + beats + (rows-1) * period``; at
        ``beat_cycles`` 1, ``2*beats + latency - 1 + (rows-1) * row_cycles``.
        """
        for name, value in (("rows", rows), ("beat_cycles", beat_cycles)):
            if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
                raise ConfigError(f"{name} must be a positive integer, not {value!r}")
        b = self.beats
        period = max(b * beat_cycles, self.stats_cycles, self.root_cycles)
        return (b - 1) * beat_cycles + self.latency + b + (rows - 1) * period

    def __str__(self) -> str:
        lanes = f"l{self.lanes}" if self.lanes > 1 else ""
        step = f"s{self.step_bits}" if self.step_bits > 1 else ""
        return f"ln_d{self.dim}i{self.in_bits}{lanes}{step}"


#: LayerNorm stimuli, each in the kernel's contract ``|x| <= 2**(in_bits-1) - 1``: random
#: rows; rows of the extremes ``+-(2**(in_bits-1) - 1)`` (the largest variance); constant
#: rows (variance 0, so ``std`` clamps to 1); or rows cycling through random, extremes,
#: constant and tiny (``|x| <= 2``).
LAYERNORM_STIMULI = ("random", "extremes", "constant", "mixed")


def _row(kind: str, rng, dim: int, top: int) -> np.ndarray:
    if kind == "random":
        return rng.integers(-top, top, dim, endpoint=True)
    if kind == "extremes":
        return rng.choice(np.array([-top, top]), dim)
    if kind == "constant":
        return np.full(dim, rng.choice(np.array([-top, -1, 0, 1, top, rng.integers(-top, top)])))
    if kind == "tiny":
        return rng.integers(-min(2, top), min(2, top), dim, endpoint=True)
    raise VitsimError(f"stimulus must be one of {', '.join(LAYERNORM_STIMULI)}, not {kind!r}")


def layernorm_case(cfg: LayerNormCfg, path, *, rows: int, seed: int = 0,
                   stimulus: str = "random") -> Package:
    """Write a case for :class:`hw.layernorm.LayerNorm` to ``path`` and read it back.

    ``x`` ``[rows, dim]`` is drawn from ``stimulus`` (:data:`LAYERNORM_STIMULI`); the
    expected ``y`` is :func:`golden.nonlinear.int_layernorm` for ``cfg.dim``.
    """
    cfg.cycles(rows=rows)  # validates rows before drawing
    if stimulus not in LAYERNORM_STIMULI:
        raise VitsimError(f"stimulus must be one of {', '.join(LAYERNORM_STIMULI)}, "
                          f"not {stimulus!r}")
    rng = np.random.default_rng(seed)
    top = (1 << (cfg.in_bits - 1)) - 1
    cycle = ("random", "extremes", "constant", "tiny")
    x = np.stack([_row(cycle[r % 4] if stimulus == "mixed" else stimulus, rng, cfg.dim, top)
                  for r in range(rows)])
    return write_layernorm_case(cfg, path, x=x, seed=seed, stimulus=stimulus)


def write_layernorm_case(cfg: LayerNormCfg, path, *, x, expected=None,
                         op_meta: dict | None = None, seed=0, stimulus: str = EXPLICIT,
                         source: dict | None = None) -> Package:
    """Write a LayerNorm case of explicit rows ``x [rows, dim]`` (``|x| <= 2**(in_bits-1) -
    1``); the expected ``y`` is :func:`golden.nonlinear.int_layernorm`; ``expected``,
    ``op_meta``, ``source`` as :func:`golden.cases.write_binary_array_case`."""
    x = np.asarray(x, dtype=np.int64)
    if x.ndim != 2 or x.shape[1] != cfg.dim:
        raise VitsimError(f"x must have shape [rows, {cfg.dim}], not {list(x.shape)}")
    top = (1 << (cfg.in_bits - 1)) - 1
    if x.size and np.abs(x).max() > top:
        raise VitsimError(f"x must lie in [-{top}, {top}] (in_bits {cfg.in_bits})")
    cycles = cfg.cycles(rows=x.shape[0])
    p = cfg.params
    y = int_layernorm(x, p)
    op = _op_record("layernorm", "layernorm", op_meta, inputs=["x"], outputs=["y"],
                    rows=x.shape[0], dim=cfg.dim, guard=p.guard, out_scale=p.out_scale,
                    in_bits=cfg.in_bits, out_bits=cfg.out_bits, cycles=cycles)
    check_expected(op, y, expected)
    write_package(path, manifest=_case_manifest(cfg, op, seed=seed, stimulus=stimulus,
                                                source=source),
                  tensors={"x": x, "y": y.astype(np.int64)})
    return read_package(path)


def load_layernorm_case(pkg: Package):
    """Return ``(cfg, op, x, y)`` of a LayerNorm case."""
    cfg = read_case_config(pkg, LayerNormCfg)
    return cfg, case_op(pkg, "layernorm"), pkg.tensors["x"], pkg.tensors["y"]


def _verify_layernorm(pkg: Package):
    cfg, op, x, y = load_layernorm_case(pkg)
    return op, int_layernorm(x, cfg.params), y


#: ``LayerNorm``'s ``i_stream``: ``lanes`` signed elements a beat (the whole payload).
LAYERNORM_PAYLOAD = Payload((PayloadField(None, "in_bits", signed=True, dims=("lanes",),
                                          bind=0),))


def _padded(cfg: LayerNormCfg, x: np.ndarray, fill: int = 0) -> np.ndarray:
    """``x [rows, dim]`` with each row padded to ``beats * lanes`` elements."""
    pad = cfg.beats * cfg.lanes - cfg.dim
    return np.pad(x, ((0, 0), (0, pad)), constant_values=fill)


def layernorm_beats(cfg: LayerNormCfg, x: np.ndarray, *, fill: int = 0) -> list[int]:
    """Return the ``i_stream`` payloads of ``LayerNorm`` for ``x [rows, dim]``: ``lanes``
    elements a beat, row-major, each an ``in_bits``-bit two's complement code; a row's last
    beat has ``fill`` in its lanes past ``dim`` (the unit ignores them)."""
    x = np.asarray(x, dtype=np.int64)
    if x.ndim != 2 or x.shape[1] != cfg.dim:
        raise VitsimError(f"x must have shape [rows, {cfg.dim}], not {list(x.shape)}")
    flat = _padded(cfg, x, fill).reshape(-1, cfg.lanes)
    return LAYERNORM_PAYLOAD.pack(cfg, flat.shape[0], {None: flat})


def layernorm_results(cfg: LayerNormCfg, words: list[int]) -> np.ndarray:
    """Decode ``o_stream`` payloads (``lanes`` 32-bit two's complement elements each, a row
    in ``beats`` payloads) into ``[rows, dim]``, dropping the lanes past ``dim``."""
    flat = rows_from_words(words, cfg.lanes, cfg.out_bits, signed=True)
    return flat.reshape(-1, cfg.beats * cfg.lanes)[:, :cfg.dim]




register_unit(UnitSpec(
    kind=LayerNormCfg.kind, config=LayerNormCfg, kernel=int_layernorm,
    payload=LAYERNORM_PAYLOAD, op_kinds=("layernorm",), slots={"layernorm": 9},
    top="layernorm", example={"dim": 64},
    case=layernorm_case, write_case=write_layernorm_case, verify=_verify_layernorm))
