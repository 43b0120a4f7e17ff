"""Integer softmax unit: its config, golden cases and stream formats.

:class:`SoftmaxCfg` sizes ``hw.softmax.Softmax``; :func:`softmax_case` writes a golden case
whose expected output is :func:`golden.nonlinear.int_softmax`; :func:`softmax_beats` and
:func:`softmax_results` are the payload layouts the Amaranth tests, the cocotb bench and
any harness share. Importing this module registers the ``"softmax"`` unit
(:mod:`golden.units` imports it).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

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
from golden.nonlinear import SoftmaxParams, int_softmax, softmax_params
from golden.package import Package, read_package, write_package
from golden.spec import ConfigBase, ConfigError, check_int
from golden.unit_spec import Payload, PayloadField, UnitSpec, register_unit

__all__ = [
    "ROW_BANKS",
    "SOFTMAX_PAYLOAD",
    "SOFTMAX_STIMULI",
    "SoftmaxCfg",
    "load_softmax_case",
    "softmax_beats",
    "softmax_case",
    "softmax_results",
    "write_softmax_case",
]

EXP_BITS = 16  # int_exp results lie in [0, 2**16)
FLOOR_Q_BITS = 5  # run-time floor_q, 0..31
OUT_BITS_BITS = 5  # run-time output width, 2..16
DIV_STEPS = 18  # quotient bits of 2**32 // sum: sum >= 2**15, so the factor is <= 2**17
#: Row contexts between the softmax unit's exp and divide engines: a row's constants and exp
#: sum, held from the exp engine's take to the divider's (so up to ``ROW_BANKS`` rows are in
#: the exp pipeline or wait for the divider). Four keep the period at the slowest engine's
#: at every row length (see :meth:`SoftmaxCfg.row_cycles`).
ROW_BANKS = 4


@dataclass(frozen=True, kw_only=True)
class SoftmaxCfg(ConfigBase):
    """Geometry of the integer softmax unit (``hw.softmax.Softmax``).

    The unit takes rows of up to ``max_len`` signed ``x_bits`` logits, one a beat, each beat
    carrying the :class:`golden.nonlinear.SoftmaxParams` of the row (latched from its first
    beat), so one instance serves every layer's scale down to ``2**-scale_exp``; results
    leave as unsigned codes of up to ``out_bits`` bits.

    Parameters
    ----------
    max_len : int
        Longest row (the depth of each of the unit's row slots), 1..65535.
    x_bits : int
        Signed logit width, 2..32.
    scale_exp : int
        The smallest logit scale accepted is ``2**-scale_exp``, 1..20. Sets the widths of
        the run-time constants (``x0_bits``, ``b_bits``, ``c_bits``, ``n_bits``).
    out_bits : int
        Widest run-time output width, 2..16.
    lanes : int
        Logits a beat, in and out, 1..64 (a row in :meth:`beats` beats; its last beat's
        ``tail`` field says how many lanes it fills): the row max and the exp sum take
        ``lanes`` elements a cycle (trees), the exp and scale pipelines are replicated
        ``lanes`` times.
    div_bits : int
        Quotient bits the divider of ``factor = 2**32 // sum`` finds a cycle, 1..4
        (``div_bits`` restoring steps chained in one cycle): the divide phase takes
        :attr:`div_cycles` ``= ceil(DIV_STEPS / div_bits)`` cycles instead of
        ``DIV_STEPS`` (18), at a longer logic path.
    """

    kind: ClassVar[str] = "softmax"
    max_len: int = 256  # longest row, depth of a row slot
    x_bits: int = 16  # signed logit width
    scale_exp: int = 16  # smallest accepted scale is 2**-scale_exp
    out_bits: int = 8  # widest run-time output width
    lanes: int = 1  # logits a beat
    div_bits: int = 1  # quotient bits of the factor divider a cycle

    def __post_init__(self):
        check_int("max_len", self.max_len, 1, 65535)
        check_int("x_bits", self.x_bits, 2, 32)
        check_int("scale_exp", self.scale_exp, 1, 20)
        check_int("out_bits", self.out_bits, 2, 16)
        check_int("lanes", self.lanes, 1, 64)
        check_int("div_bits", self.div_bits, 1, 4)

    def beats(self, row_len: int) -> int:
        """Beats of a row of ``row_len``: ``ceil(row_len / lanes)``."""
        return -(-row_len // self.lanes)

    @property
    def tail_bits(self) -> int:
        """Width of the ``tail`` field (a last beat's filled lanes minus one)."""
        return max(1, (self.lanes - 1).bit_length())

    @property
    def _widest(self) -> SoftmaxParams:
        # x0, b and c grow in magnitude (n falls) as the scale shrinks.
        return softmax_params(2.0 ** -self.scale_exp)

    @property
    def x0_bits(self) -> int:
        """Signed width of ``x0`` (in ``[floor(-ln2 * 2**scale_exp), -1]``)."""
        return acc_bits_for_range(self._widest.x0, -1)

    @property
    def b_bits(self) -> int:
        """Unsigned width of ``b``."""
        return self._widest.b.bit_length()

    @property
    def c_bits(self) -> int:
        """Unsigned width of ``c``."""
        return self._widest.c.bit_length()

    @property
    def n_bits(self) -> int:
        """Signed width of ``n`` (in ``[16 - c_bits, 14]``)."""
        return acc_bits_for_range(self._widest.n, 14)

    @property
    def sum_bits(self) -> int:
        """Unsigned width of a row's exp sum: ``max_len`` terms below ``2**16``."""
        return (self.max_len * ((1 << EXP_BITS) - 1)).bit_length()

    @property
    def in_bits(self) -> int:
        """Width of an ``i_stream`` payload (see :func:`softmax_beats`)."""
        return (self.lanes * self.x_bits + self.x0_bits + self.b_bits + self.c_bits
                + self.n_bits + FLOOR_Q_BITS + OUT_BITS_BITS + self.tail_bits + 1)

    @property
    def exp_stages(self) -> int:
        """Register stages of the exp pipeline, read to write-back: read, hold, subtract,
        clamp, one per bit of ``q`` (5), polynomial operands, product, add, shift."""
        return 2 + 2 + FLOOR_Q_BITS + 3 + 1

    @property
    def div_cycles(self) -> int:
        """Cycles of the divide phase: ``ceil(DIV_STEPS / div_bits)`` (18, 9, 6 or 5). At
        ``div_bits`` 4 the divider runs 20 quotient bits, the two leading ones 0."""
        return -(-DIV_STEPS // self.div_bits)

    @property
    def latency(self) -> int:
        """Clock edges of a lone row beyond its three passes over the row (``3 * beats``):
        the hand-over from the load engine to the exp engine (1), the exp pipeline's fill
        (``exp_stages``) and its sum's hand-over to the divider (1), the divider
        (:attr:`div_cycles`), its hand-over to the scale engine (1) and the scale pipeline's
        fill (5: read, hold, multiply, shift, clamp)."""
        return self.exp_stages + self.div_cycles + 8

    def row_cycles(self, row_len: int, *, beat_cycles: int = 1) -> int:
        """The steady-state period: the clock edges each further row of ``row_len`` adds
        with no stalls, its beats offered ``beat_cycles`` cycles after the one before is
        taken (1: back to back), ``max(load, div_cycles + 1)`` with ``load = (beats - 1) *
        beat_cycles + max(beat_cycles, 2)``.

        The rows overlap, so the period is the slowest engine's, not a row's whole
        latency: the load engine takes a row's beats and then holds the row for the cycle
        in which the exp engine takes it (``beats + 1`` back to back; with beats offered
        two or more cycles apart that cycle hides in the gap); the exp and scale engines
        each issue a row's ``beats`` reads and take the next row on the following edge
        (``beats + 1``); the divider takes a sum, divides for :attr:`div_cycles` cycles and
        hands the factor over on the edge it takes the next sum (``div_cycles + 1``). The
        exp pipeline's drain overlaps the next rows' reads: :data:`ROW_BANKS` row contexts
        hold each row's constants and exp sum from the exp engine's take to the divider's
        (``beats + exp_stages + 2`` cycles while the divider keeps pace: at most
        ``ROW_BANKS`` periods at any row length), so it does not count per row.
        """
        self.check_row_len(row_len)
        check_int("beat_cycles", beat_cycles, 1)
        load = (self.beats(row_len) - 1) * beat_cycles + max(beat_cycles, 2)
        return max(load, self.div_cycles + 1)

    def cycles(self, *, rows: int, row_len: int, beat_cycles: int = 1) -> int:
        """Clock cycles for ``rows`` rows of ``row_len`` with no stalls, counted from the edge
        that accepts the first beat to the edge that hands over the last result, both
        included, each beat offered ``beat_cycles`` cycles after the one before it is
        taken (1: back to back): the first row's ``3 * beats + latency + (beats - 1) *
        (beat_cycles - 1)``, then :meth:`row_cycles` for each further row (each row's last
        result leaves one period after the row before's, from the second row on: the first
        row's fill is paid once)."""
        if not isinstance(rows, int) or isinstance(rows, bool) or rows <= 0:
            raise ConfigError(f"rows must be a positive integer, not {rows!r}")
        period = self.row_cycles(row_len, beat_cycles=beat_cycles)
        beats = self.beats(row_len)
        first = 3 * beats + self.latency + (beats - 1) * (beat_cycles - 1)
        return first + (rows - 1) * period

    def check_row_len(self, row_len: int) -> None:
        """``ConfigError`` unless ``1 <= row_len <= max_len``."""
        if (not isinstance(row_len, int) or isinstance(row_len, bool)
                or not 1 <= row_len <= self.max_len):
            raise ConfigError(f"row_len must be between 1 and max_len ({self.max_len}), "
                              f"not {row_len!r}")

    @classmethod
    def fitting(cls, params, **fields) -> SoftmaxCfg | None:
        """The config of ``fields`` with the smallest ``scale_exp`` (1..20) whose widths hold
        every constant set of ``params`` (:meth:`check_params`); ``None`` when none does.
        A field the config rejects raises :class:`ConfigError`, as the constructor does."""
        params = list(params)
        for scale_exp in range(1, 21):
            cfg = cls(**fields, scale_exp=scale_exp)
            try:
                for p in params:
                    cfg.check_params(p)
            except ConfigError:
                continue
            return cfg
        return None

    def check_params(self, p: SoftmaxParams) -> None:
        """``ConfigError`` unless the run-time constants ``p`` fit the unit's fields."""
        if not self._widest.x0 <= p.x0 <= -1:
            raise ConfigError(f"x0 must be between {self._widest.x0} and -1 (scale at least "
                              f"2**-{self.scale_exp}), not {p.x0!r}")
        for name, bits in (("b", self.b_bits), ("c", self.c_bits)):
            value = getattr(p, name)
            if not 1 <= value < 1 << bits:
                raise ConfigError(f"{name} must be between 1 and {(1 << bits) - 1} (scale at "
                                  f"least 2**-{self.scale_exp}), not {value!r}")
        check_int("floor_q", p.floor_q, 0, (1 << FLOOR_Q_BITS) - 1)
        check_int("out_bits", p.out_bits, 2, self.out_bits)

    def __str__(self) -> str:
        lanes = f"n{self.lanes}" if self.lanes > 1 else ""
        div = f"d{self.div_bits}" if self.div_bits > 1 else ""
        return (f"sm_l{self.max_len}x{self.x_bits}s{self.scale_exp}o{self.out_bits}{lanes}"
                f"{div}")


#: ``Softmax``'s ``i_stream``: ``lanes`` logits a beat, then the row's constants (read from
#: its first beat), ``tail`` (the lanes a row's last beat fills, minus one) and ``last`` on
#: a row's final beat.
SOFTMAX_PAYLOAD = Payload((
    PayloadField("x", "x_bits", signed=True, dims=("lanes",), bind=0),
    PayloadField("x0", "x0_bits", signed=True, bind="k0"),
    PayloadField("b", "b_bits", bind="k1"),
    PayloadField("c", "c_bits", bind="k2"),
    PayloadField("n", "n_bits", signed=True, bind="k3"),
    PayloadField("floor_q", FLOOR_Q_BITS, bind="k4"),
    PayloadField("out_bits", OUT_BITS_BITS, bind="k5"),
    PayloadField("tail", "tail_bits", bind="k6"),
    PayloadField("last", 1, bind="last"),
))


def softmax_beats(cfg: SoftmaxCfg, x: np.ndarray, p: SoftmaxParams, *,
                  fill: int = 0) -> list[int]:
    """Return the ``i_stream`` payloads of ``Softmax`` for logits ``x [rows, row_len]``.

    ``lanes`` logits a beat, row by row (a row's last beat has ``fill`` in its lanes past
    the row). Payload bits, LSB first: ``x`` (``lanes`` x ``x_bits``, two's complement),
    ``x0`` (``x0_bits``, two's complement), ``b`` (``b_bits``), ``c`` (``c_bits``), ``n``
    (``n_bits``, two's complement), ``floor_q`` (5), ``out_bits`` (5), ``tail``
    (``tail_bits``: the lanes of a row's last beat minus one), ``last`` (1, on a row's
    final beat). Only a row's first beat's constants are used.
    """
    x = np.asarray(x, dtype=np.int64)
    cfg.check_params(p)
    row_len = x.shape[-1]
    cfg.check_row_len(row_len)
    rows = x.reshape(-1, row_len)
    nb, ln = cfg.beats(row_len), cfg.lanes
    flat = np.pad(rows, ((0, 0), (0, nb * ln - row_len)), constant_values=fill)
    last = np.zeros((rows.shape[0], nb), dtype=np.int64)
    last[:, -1] = 1
    return SOFTMAX_PAYLOAD.pack(cfg, last.size, {
        "x": flat.reshape(-1, ln), "x0": p.x0, "b": p.b, "c": p.c, "n": p.n,
        "floor_q": p.floor_q, "out_bits": p.out_bits, "tail": (row_len - 1) % ln,
        "last": last})


def softmax_results(cfg: SoftmaxCfg, words: list[int], *, row_len: int) -> np.ndarray:
    """Decode ``o_stream`` payloads (``y``: ``lanes`` codes of ``out_bits`` from bit 0,
    ``last`` above them) into ``[rows, row_len]``, dropping the lanes past the row. An
    element whose beat's ``last`` flag is wrong for its place in the row decodes as ``-1``,
    so a framing error shows as a mismatch."""
    nb, ln, mask = cfg.beats(row_len), cfg.lanes, (1 << cfg.out_bits) - 1
    y = np.empty((len(words), ln), dtype=np.int64)
    for i, word in enumerate(words):
        last = (int(word) >> (ln * cfg.out_bits)) & 1
        ok = last == int(i % nb == nb - 1)
        for e in range(ln):
            y[i, e] = (int(word) >> (e * cfg.out_bits)) & mask if ok else -1
    return y.reshape(-1, nb * ln)[:, :row_len]


#: Softmax stimuli: logits like attention scores (dot products of random +-1 vectors of
#: length 32, scaled so the real spread is a few units), uniform over the whole ``x_bits``
#: range (exercises the clamp at ``floor_q * x0``), rows of equal logits, and one spike per
#: row with the rest at the bottom of the range.
SOFTMAX_STIMULI = ("random", "uniform", "equal", "spike")


def _logits(cfg: SoftmaxCfg, stimulus: str, rng: np.random.Generator, rows: int,
            row_len: int, scale: float) -> np.ndarray:
    lo, hi = code_range(cfg.x_bits)
    shape = (rows, row_len)
    if stimulus == "random":
        signs = rng.integers(0, 2, (rows, row_len, 2, 32)) * 2 - 1
        dots = (signs[..., 0, :] * signs[..., 1, :]).sum(axis=-1)
        shift = max(0, math.floor(math.log2(0.5 / scale)))  # one dot step ~ 0.5 real
        return np.clip(dots << shift, lo, hi)
    if stimulus == "uniform":
        return rng.integers(lo, hi, shape, endpoint=True)
    if stimulus == "equal":
        return np.repeat(rng.integers(lo, hi, (rows, 1), endpoint=True), row_len, axis=1)
    if stimulus == "spike":
        x = np.full(shape, lo, dtype=np.int64)
        x[np.arange(rows), rng.integers(0, row_len, rows)] = hi
        return x
    raise VitsimError(f"stimulus must be one of {', '.join(SOFTMAX_STIMULI)}, not {stimulus!r}")


def softmax_case(cfg: SoftmaxCfg, path, *, rows: int, row_len: int, scale: float,
                 out_bits: int = 8, seed: int = 0, stimulus: str = "random") -> Package:
    """Write a case for :class:`hw.softmax.Softmax` to ``path`` and read it back.

    Logits ``x [rows, row_len]`` of scale ``scale`` (see :data:`SOFTMAX_STIMULI`); the
    constants are :func:`golden.nonlinear.softmax_params` ``(scale, out_bits=out_bits)``,
    recorded in the op; the expected ``y`` is :func:`golden.nonlinear.int_softmax`.
    """
    cfg.cycles(rows=rows, row_len=row_len)  # validates the shape
    if not (isinstance(scale, float) and math.isfinite(scale)
            and 2.0 ** -cfg.scale_exp <= scale < 1):
        raise ConfigError(f"scale must be in [2**-{cfg.scale_exp}, 1), not {scale!r}")
    check_int("out_bits", out_bits, 2, cfg.out_bits)
    p = softmax_params(scale, out_bits=out_bits)
    cfg.check_params(p)
    x = _logits(cfg, stimulus, np.random.default_rng(seed), rows, row_len, scale)
    return write_softmax_case(cfg, path, x=x, params=p, scale=scale, seed=seed,
                              stimulus=stimulus)


def write_softmax_case(cfg: SoftmaxCfg, path, *, x, params: SoftmaxParams,
                       scale: float | None = None, expected=None, op_meta: dict | None = None,
                       seed=0, stimulus: str = EXPLICIT, source: dict | None = None) -> Package:
    """Write a softmax case of explicit logits ``x [rows, row_len]`` (signed ``x_bits``) and
    constants ``params`` (which must fit the unit's fields).

    The expected ``y`` is :func:`golden.nonlinear.int_softmax`; ``expected`` (an output
    recorded elsewhere) must equal it, ``op_meta`` names the op, ``source`` is recorded (see
    :func:`golden.cases.write_binary_array_case`).
    """
    x = np.asarray(x, dtype=np.int64)
    if x.ndim != 2:
        raise VitsimError(f"x must be [rows, row_len], not {list(x.shape)}")
    rows, row_len = x.shape
    cycles = cfg.cycles(rows=rows, row_len=row_len)  # validates the shape
    cfg.check_params(params)
    check_fits("x", x, cfg.x_bits, "x_bits")
    y = int_softmax(x, params)
    op = _op_record("int_softmax", "int_softmax", op_meta, inputs=["x"], outputs=["y"],
                    rows=rows, row_len=row_len, scale=scale, params=params.to_dict(),
                    x_bits=cfg.x_bits, cycles=cycles)
    check_expected(op, y, expected)
    write_package(path, manifest=_case_manifest(cfg, op, seed=seed, stimulus=stimulus,
                                                source=source),
                  tensors={"x": x, "y": y.astype(np.int64)})
    return read_package(path)


def load_softmax_case(pkg: Package):
    """Return ``(cfg, op, params, x, y)`` of a softmax case."""
    cfg = read_case_config(pkg, SoftmaxCfg)
    op = case_op(pkg, "int_softmax")
    return cfg, op, SoftmaxParams(**op["params"]), pkg.tensors["x"], pkg.tensors["y"]


def _verify_softmax(pkg: Package):
    _, op, p, x, y = load_softmax_case(pkg)
    return op, int_softmax(x, p), y




register_unit(UnitSpec(
    kind=SoftmaxCfg.kind, config=SoftmaxCfg, kernel=int_softmax, payload=SOFTMAX_PAYLOAD,
    op_kinds=("softmax",), slots={"softmax": 10}, top="softmax",
    example={"max_len": 32, "out_bits": 16},
    case=softmax_case, write_case=write_softmax_case, verify=_verify_softmax,
    out_field="y"))
