"""Threshold unit (binariser): its config, its golden cases and its stream format.

The unit (``hw.threshold.Threshold``) computes :func:`golden.intops.threshold`: per lane the
bit ``x >= theta`` or, where ``flip`` is set, ``x <= theta`` -- the signed ``sign(x + b)``
and unsigned ``x / alpha > 0.5`` binarisers of a binary ViT after export folds their float
scale and shift into one integer threshold per channel. ``theta`` and ``flip`` travel with
every beat, per lane, so one instance serves every channel and layer. Importing this module
registers the ``"threshold"`` unit (:mod:`golden.units` imports it).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from golden.bitpack import rows_from_words, words_from_rows
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
from golden.intops import threshold
from golden.kernels import code_range
from golden.package import Package, read_package, write_package
from golden.spec import BeatStream, ConfigBase, check_int
from golden.unit_spec import Payload, PayloadField, UnitSpec, register_unit

__all__ = [
    "THRESHOLD_PAYLOAD",
    "THRESHOLD_STIMULI",
    "ThresholdCfg",
    "clamp_theta",
    "load_threshold_case",
    "threshold_beats",
    "threshold_case",
    "threshold_results",
    "write_threshold_case",
]


@dataclass(frozen=True, kw_only=True)
class ThresholdCfg(BeatStream, ConfigBase):
    """Geometry of the threshold unit (``hw.threshold.Threshold``).

    Each beat carries ``lanes`` signed ``x_bits`` inputs, each lane's own signed threshold
    (``x_bits + 1`` wide: any threshold outside ``[lo - 1, hi + 1]`` of ``x_bits`` gives the
    same bits as its clamp, see :func:`clamp_theta`) and each lane's ``flip`` bit; the
    ``lanes`` result bits leave together, one beat per cycle.

    Parameters
    ----------
    lanes : int
        Elements per beat, 1..256.
    x_bits : int
        Signed input width, 2..32.
    """

    kind: ClassVar[str] = "threshold"
    lanes: int  # elements per beat
    x_bits: int = 32  # signed input width

    def __post_init__(self):
        check_int("lanes", self.lanes, 1, 256)
        check_int("x_bits", self.x_bits, 2, 32)

    @property
    def theta_bits(self) -> int:
        """Signed width of a threshold: ``x_bits + 1`` (holds ``[lo - 1, hi + 1]``)."""
        return self.x_bits + 1

    @property
    def latency(self) -> int:
        """Clock edges from accepting a beat to handing over its bits: one (compare,
        registered)."""
        return 1


    def __str__(self) -> str:
        return f"thr_l{self.lanes}x{self.x_bits}"


def _x_range(cfg: ThresholdCfg) -> tuple[int, int]:
    return code_range(cfg.x_bits)


def clamp_theta(cfg: ThresholdCfg, theta) -> np.ndarray:
    """``theta`` clamped to ``[lo - 1, hi + 1]`` of ``x_bits``: for every ``x`` in range,
    ``x >= theta`` and ``x <= theta`` are unchanged (a threshold beyond the range is always
    or never met either way)."""
    lo, hi = _x_range(cfg)
    return np.clip(np.asarray(theta, dtype=np.int64), lo - 1, hi + 1)


#: ``Threshold``'s ``i_stream``: ``lanes`` signed inputs, ``lanes`` signed thresholds, then
#: one flip bit per lane (lane ``l`` at bit ``l`` of ``flip``).
THRESHOLD_PAYLOAD = Payload((
    PayloadField("x", "x_bits", signed=True, dims=("lanes",), bind=0),
    PayloadField("theta", "theta_bits", signed=True, dims=("lanes",), bind=1),
    PayloadField("flip", "lanes", bind=2),
))


def threshold_beats(cfg: ThresholdCfg, x, theta, flip) -> list[int]:
    """Return the ``i_stream`` payloads of ``Threshold`` for ``x, theta, flip [beats, lanes]``.

    Payload bits, LSB first: lane ``l``'s ``x`` at ``[l*x_bits, (l+1)*x_bits)`` (two's
    complement), then the ``lanes`` thresholds (``theta_bits`` each, two's complement), then
    the ``lanes`` flip bits (lane ``l`` at bit ``l`` of that field).
    """
    x = np.asarray(x, dtype=np.int64)
    theta = np.asarray(theta, dtype=np.int64)
    flip = np.asarray(flip, dtype=np.int64)
    if not x.shape == theta.shape == flip.shape or x.ndim != 2 or x.shape[1] != cfg.lanes:
        raise VitsimError(f"x, theta and flip must all be [beats, lanes ({cfg.lanes})], not "
                          f"{list(x.shape)}, {list(theta.shape)}, {list(flip.shape)}")
    check_fits("x", x, cfg.x_bits, "x_bits")
    lo, hi = _x_range(cfg)
    if theta.size and (theta.min() < lo - 1 or theta.max() > hi + 1):
        raise VitsimError(f"theta must lie in [{lo - 1}, {hi + 1}] (clamp it, see "
                          f"clamp_theta)")
    if flip.size and not np.isin(flip, (0, 1)).all():
        raise VitsimError("flip must be 0 or 1")
    return THRESHOLD_PAYLOAD.pack(cfg, x.shape[0], {
        "x": x, "theta": theta, "flip": words_from_rows(flip, 1)})


def threshold_results(cfg: ThresholdCfg, words: list[int]) -> np.ndarray:
    """Decode ``o_stream`` payloads (lane ``l``'s bit at bit ``l``) into ``[beats, lanes]``."""
    return rows_from_words(words, cfg.lanes, 1, signed=False)


#: Threshold stimuli: random inputs, thresholds over ``[lo - 1, hi + 1]`` and flips; or ties
#: (``x`` at ``theta - 1``, ``theta`` or ``theta + 1``, thresholds at the range ends too).
THRESHOLD_STIMULI = ("random", "ties")


def threshold_case(cfg: ThresholdCfg, path, *, beats: int, seed: int = 0,
                   stimulus: str = "random") -> Package:
    """Write a case for :class:`hw.threshold.Threshold` to ``path`` and read it back.

    ``x``, ``theta`` and ``flip`` ``[beats, lanes]`` are drawn by ``stimulus`` (see
    :data:`THRESHOLD_STIMULI`); the expected ``y`` is :func:`golden.intops.threshold`.
    """
    if stimulus not in THRESHOLD_STIMULI:
        raise VitsimError(f"stimulus must be one of {', '.join(THRESHOLD_STIMULI)}, "
                          f"not {stimulus!r}")
    cfg.cycles(beats=beats)  # validates beats before drawing
    rng = np.random.default_rng(seed)
    lo, hi = _x_range(cfg)
    shape = (beats, cfg.lanes)
    flip = rng.integers(0, 2, shape)
    if stimulus == "random":
        x = rng.integers(lo, hi, shape, endpoint=True)
        theta = rng.integers(lo - 1, hi + 1, shape, endpoint=True)
    else:
        theta = rng.choice(np.array([lo - 1, lo, lo + 1, -1, 0, 1, hi - 1, hi, hi + 1]), shape)
        x = np.clip(theta + rng.integers(-1, 1, shape, endpoint=True), lo, hi)
    return write_threshold_case(cfg, path, x=x, theta=theta, flip=flip, seed=seed,
                                stimulus=stimulus)


def write_threshold_case(cfg: ThresholdCfg, path, *, x, theta, flip, expected=None,
                         op_meta: dict | None = None, seed=0, stimulus: str = EXPLICIT,
                         source: dict | None = None) -> Package:
    """Write a threshold case of explicit ``x``, ``theta`` and ``flip`` ``[beats, lanes]``.

    ``theta`` must lie in ``[lo - 1, hi + 1]`` of ``x_bits`` (:func:`clamp_theta`). The
    expected ``y`` is :func:`golden.intops.threshold`; ``expected``, ``op_meta``, ``source``
    as :func:`golden.cases.write_binary_array_case`.
    """
    x = np.asarray(x, dtype=np.int64)
    theta = np.asarray(theta, dtype=np.int64)
    flip = np.asarray(flip, dtype=np.uint8)
    threshold_beats(cfg, x, theta, flip)  # validates shapes and ranges
    cycles = cfg.cycles(beats=x.shape[0])
    y = threshold(x, theta, flip.astype(bool))
    op = _op_record("threshold", "threshold", op_meta, inputs=["x", "theta", "flip"],
                    outputs=["y"], beats=x.shape[0], x_bits=cfg.x_bits, cycles=cycles)
    check_expected(op, y, expected)
    write_package(path, manifest=_case_manifest(cfg, op, seed=seed, stimulus=stimulus,
                                                source=source),
                  tensors={"x": x, "theta": theta, "flip": flip, "y": y})
    return read_package(path)


def load_threshold_case(pkg: Package):
    """Return ``(cfg, op, x, theta, flip, y)`` of a threshold case (``[beats, lanes]`` each)."""
    cfg = read_case_config(pkg, ThresholdCfg)
    t = pkg.tensors
    return cfg, case_op(pkg, "threshold"), t["x"], t["theta"], t["flip"], t["y"]


def _verify_threshold(pkg: Package):
    _, op, x, theta, flip, y = load_threshold_case(pkg)
    return op, threshold(x, theta, flip.astype(bool)), y




register_unit(UnitSpec(
    kind=ThresholdCfg.kind, config=ThresholdCfg, kernel=threshold, payload=THRESHOLD_PAYLOAD,
    op_kinds=("threshold",), slots={"threshold": 8}, top="threshold",
    example={"lanes": 8, "x_bits": 32},
    case=threshold_case, write_case=write_threshold_case, verify=_verify_threshold))
