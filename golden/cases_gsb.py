"""GSB units: the threshold encoder and the multi-plane A x V product -- configs, cases, beats.

:class:`GsbEncoderCfg` sizes ``hw.gsb_encoder.GsbEncoder`` (reference
:func:`golden.intops.gsb_value_planes` / :func:`golden.intops.gsb_attn_planes`);
:class:`GsbAvCfg` sizes ``hw.gsb_av.GsbAv`` (reference :func:`golden.intops.gsb_av`).
:func:`gsb_encoder_case` and :func:`gsb_av_case` write golden cases; the ``*_beats`` and
``*_results`` functions are the payload layouts that the Amaranth tests and the cocotb
benches share. Importing this module registers both units (:mod:`golden.units` imports
it).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from golden.bitpack import pack_bits, unpack_bits
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
from golden.intops import gsb_attn_planes, gsb_av, gsb_value_planes
from golden.kernels import acc_bits_for_range, code_range
from golden.package import Package, read_package, write_package
from golden.spec import ConfigBase, ConfigError, check_choice, check_int
from golden.streams import gsb_av_results, gsb_encoder_results
from golden.unit_spec import Payload, PayloadField, UnitSpec, register_unit

__all__ = [
    "GSB_AV_PAYLOAD",
    "GSB_ENCODER_PAYLOAD",
    "GSB_AV_STIMULI", "GSB_ENCODER_STIMULI", "GsbAvCfg", "GsbEncoderCfg", "gsb_av_beats",
    "gsb_av_case", "gsb_av_results", "gsb_encoder_beats", "gsb_encoder_case",
    "gsb_encoder_expected", "gsb_encoder_results", "load_gsb_av_case", "load_gsb_encoder_case",
    "write_gsb_av_case", "write_gsb_encoder_case",
]

RATIO_MAX = 65535  # largest ratio numerator or denominator


def _check_count(name: str, value) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
        raise ConfigError(f"{name} must be a positive integer, not {value!r}")


@dataclass(frozen=True, kw_only=True)
class GsbEncoderCfg(ConfigBase):
    """Geometry of the GSB threshold encoder (``hw.gsb_encoder.GsbEncoder``).

    The encoder takes one image's tensor (V, or the attention matrix of every head), ``lanes``
    signed ``x_bits`` integers a beat, in **two passes**: pass 1 loads the tensor into a buffer
    of ``max_elems`` elements and tracks its max (and min); pass 2 reads it back and emits,
    per element, ``1 + len(ratios)`` plane bits: the sign ``x >= 0`` (two-tailed, V) or the
    base ``x > theta`` (one-tailed, attention), then one mask bit per ratio
    ``den * x > num * max`` (``| den * x < num * min`` when two-tailed). The mode and ``theta``
    arrive at run time; the ratios are fixed here.

    Parameters
    ----------
    lanes : int
        Elements per beat, 1..64.
    x_bits : int
        Signed element width, 2..32.
    max_elems : int
        Buffer size in elements (largest tensor), a multiple of ``lanes``, up to ``2**20``.
    ratios : tuple of (int, int)
        The mask ratios ``(num, den)``, 0..4 of them, ``0 <= num <= 65535``,
        ``1 <= den <= 65535`` (default 0.7 and 0.9).
    """

    kind: ClassVar[str] = "gsb_encoder"
    lanes: int = 4  # elements per beat
    x_bits: int = 16  # signed element width
    max_elems: int = 4096  # buffer size in elements
    ratios: tuple = ((7, 10), (9, 10))  # mask ratios (num, den)

    def __post_init__(self):
        check_int("lanes", self.lanes, 1, 64)
        check_int("x_bits", self.x_bits, 2, 32)
        check_int("max_elems", self.max_elems, 1, 1 << 20)
        if self.max_elems % self.lanes:
            raise ConfigError(f"max_elems must be a multiple of lanes ({self.lanes}), "
                              f"not {self.max_elems!r}")
        if not isinstance(self.ratios, (tuple, list)) or len(self.ratios) > 4:
            raise ConfigError(f"ratios must be a sequence of at most 4 (num, den) pairs, "
                              f"not {self.ratios!r}")
        for i, pair in enumerate(self.ratios):
            if not isinstance(pair, (tuple, list)) or len(pair) != 2:
                raise ConfigError(f"ratios[{i}] must be a (num, den) pair, not {pair!r}")
            check_int(f"ratios[{i}] num", pair[0], 0, RATIO_MAX)
            check_int(f"ratios[{i}] den", pair[1], 1, RATIO_MAX)
        object.__setattr__(self, "ratios", tuple((p[0], p[1]) for p in self.ratios))

    def to_dict(self) -> dict:
        """The fields as JSON-ready data (``ratios`` as lists, as JSON gives them back)."""
        return {**super().to_dict(), "ratios": [list(r) for r in self.ratios]}

    @property
    def planes(self) -> int:
        """Plane bits per element: the sign/base plane plus one mask per ratio."""
        return 1 + len(self.ratios)

    @property
    def depth(self) -> int:
        """Buffer words (``lanes`` elements each): ``max_elems / lanes``."""
        return self.max_elems // self.lanes

    @property
    def latency(self) -> int:
        """Clock edges per image beyond its two passes (``2 * beats``): buffer read, hold,
        the products ``den * x``, and the compare-and-output register."""
        return 4

    def beats(self, elems: int) -> int:
        """Input (and output) beats of an image of ``elems`` elements: ``ceil(elems/lanes)``."""
        if (not isinstance(elems, int) or isinstance(elems, bool)
                or not 1 <= elems <= self.max_elems):
            raise ConfigError(f"elems must be between 1 and max_elems ({self.max_elems}), "
                              f"not {elems!r}")
        return -(-elems // self.lanes)

    def cycles(self, elems: int, images: int = 1) -> int:
        """Clock cycles for ``images`` images of ``elems`` elements with no stalls, from the
        edge that accepts the first beat to the edge that hands over the last planes, both
        included. Two passes: ``images * (2 * ceil(elems / lanes) + latency)`` (the next
        image's first beat is accepted on the edge after the last output of the one before).
        """
        _check_count("images", images)
        return images * (2 * self.beats(elems) + self.latency)

    def __str__(self) -> str:
        rs = "_".join(f"{n}o{d}" for n, d in self.ratios)
        return f"gsbenc_l{self.lanes}x{self.x_bits}e{self.max_elems}r{rs}"


@dataclass(frozen=True, kw_only=True)
class GsbAvCfg(ConfigBase):
    """Geometry of the GSB attention x V unit (``hw.gsb_av.GsbAv``), one head at a time.

    ``y[i, j] = sum_{p,r} W[p, r] * (A_p @ S_r)[i, j]`` with ``a_planes`` attention planes
    ``A_p`` ({0,1}, ``[n, n]``), ``v_planes`` value planes (``S_0`` the ±1 sign plane,
    ``S_r = S_0 * mask_{r-1}``, ``[n, d]``) and the run-time integer weights ``W [P, R]``.
    ``lanes`` output columns are computed in parallel, one plane pair a cycle; V arrives
    ``v_cols`` columns a beat.

    Parameters
    ----------
    lanes : int
        Output columns per cycle (accumulators), 1..64.
    max_n : int
        Most tokens (the reduction length and the bits of one plane row), 1..1024.
    max_d : int
        Widest head (columns of V held in the V buffer), 1..1024.
    a_planes : int
        Attention planes ``P``, 1..4.
    v_planes : int
        Value planes ``R`` (the sign plane plus ``R - 1`` masks), 1..4.
    w_bits : int
        Signed width of a plane-pair weight, 2..16.
    v_cols : int
        V columns a beat, a power of two dividing ``lanes``: a V beat is ``v_cols``
        consecutive columns, the plane bits token-major (:func:`gsb_av_beats`), which is how
        the accelerator's gatherer packs ``v_cols`` consecutive elements of each token's V
        row read as one vector (so a head's V takes ``ceil(d / v_cols)`` beats, not ``d``).
    """

    kind: ClassVar[str] = "gsb_av"
    lanes: int = 4  # output columns per cycle
    max_n: int = 64  # most tokens
    max_d: int = 64  # widest head
    a_planes: int = 3  # attention planes P
    v_planes: int = 3  # value planes R
    w_bits: int = 8  # signed weight width
    v_cols: int = 1  # V columns a beat

    def __post_init__(self):
        check_int("lanes", self.lanes, 1, 64)
        check_int("v_cols", self.v_cols, 1, 64)
        if self.v_cols & (self.v_cols - 1) or self.lanes % self.v_cols:
            raise ConfigError(f"v_cols must be a power of two dividing lanes ({self.lanes}), "
                              f"not {self.v_cols}")
        check_int("max_n", self.max_n, 1, 1024)
        check_int("max_d", self.max_d, 1, 1024)
        check_int("a_planes", self.a_planes, 1, 4)
        check_int("v_planes", self.v_planes, 1, 4)
        check_int("w_bits", self.w_bits, 2, 16)

    @property
    def acc_bound(self) -> int:
        """``max_n * sum|W|`` at the widest weights: each ``A_p @ S_r`` is bounded by ``n``
        in magnitude and ``|W[p, r]| <= 2**(w_bits - 1)``."""
        return self.max_n * self.a_planes * self.v_planes * (1 << (self.w_bits - 1))

    @property
    def acc_bits(self) -> int:
        """Signed accumulator width holding ``[-acc_bound, acc_bound]``."""
        return acc_bits_for_range(-self.acc_bound, self.acc_bound)

    @property
    def depth(self) -> int:
        """V buffer words (``lanes`` columns each): ``ceil(max_d / lanes)``."""
        return -(-self.max_d // self.lanes)

    @property
    def latency(self) -> int:
        """Clock edges beyond one per V column and one per (row, block, plane pair): the
        A row register, the issue register (V buffer read), the chunk popcounts, their sum
        and difference, and the accumulate-and-output register."""
        return 5

    def blocks(self, d: int) -> int:
        """Column blocks of a ``d``-wide head: ``ceil(d / lanes)``."""
        if not isinstance(d, int) or isinstance(d, bool) or not 1 <= d <= self.max_d:
            raise ConfigError(f"d must be between 1 and max_d ({self.max_d}), not {d!r}")
        return -(-d // self.lanes)

    def v_beats(self, d: int) -> int:
        """V beats of a ``d``-wide head: ``ceil(d / v_cols)``."""
        self.blocks(d)  # validates d
        return -(-d // self.v_cols)

    @property
    def bits_width(self) -> int:
        """Bits of the payload's bit field: an A row's ``a_planes`` planes of ``max_n`` or a
        V beat's ``v_planes`` planes of ``max_n * v_cols``."""
        return self.max_n * max(self.a_planes, self.v_planes * self.v_cols)

    def cycles(self, *, n: int, d: int) -> int:
        """Clock cycles of one head with no stalls, from the edge that accepts the first V
        beat to the edge that hands over the last outputs, both included:
        ``ceil(d / v_cols) + n * ceil(d / lanes) * a_planes * v_planes + latency``."""
        if not isinstance(n, int) or isinstance(n, bool) or not 1 <= n <= self.max_n:
            raise ConfigError(f"n must be between 1 and max_n ({self.max_n}), not {n!r}")
        return (self.v_beats(d) + n * self.blocks(d) * self.a_planes * self.v_planes
                + self.latency)

    def __str__(self) -> str:
        cols = f"c{self.v_cols}" if self.v_cols > 1 else ""
        return (f"gsbav_l{self.lanes}n{self.max_n}d{self.max_d}p{self.a_planes}"
                f"r{self.v_planes}w{self.w_bits}{cols}")


# ---------------------------------------------------------------- encoder streams and cases


#: ``GsbEncoder``'s ``i_stream``: ``lanes`` signed elements, the base threshold (one bit
#: wider), ``two_tailed`` and ``last`` on an image's final beat.
GSB_ENCODER_PAYLOAD = Payload((
    PayloadField("x", "x_bits", signed=True, dims=("lanes",), bind=0),
    PayloadField("theta", lambda cfg: cfg.x_bits + 1, signed=True, bind="k0"),
    PayloadField("two_tailed", 1, bind="k1"),
    PayloadField("last", 1, bind="last"),
))


def gsb_encoder_beats(cfg: GsbEncoderCfg, x: np.ndarray, *, two_tailed: bool,
                      theta: int = 0) -> list[int]:
    """Return the ``i_stream`` payloads of ``GsbEncoder`` for ``x [images, ...]``.

    Each image is flattened (C order) into ``ceil(elems / lanes)`` beats; a partial last beat
    is padded with copies of the image's first element, which leave max and min unchanged
    (their planes are dropped by :func:`gsb_encoder_results`). Payload bits, LSB first:
    lane ``l``'s element at ``[l*x_bits, (l+1)*x_bits)`` (two's complement), ``theta``
    (``x_bits + 1``, two's complement; a theta outside ``[lo - 1, hi]`` of ``x_bits`` must be
    clamped to it, which leaves the base plane unchanged), ``two_tailed`` (1), ``last`` (1,
    on an image's final beat).
    """
    x = np.asarray(x, dtype=np.int64)
    flat = x.reshape(x.shape[0], -1)
    beats = cfg.beats(flat.shape[1])
    check_fits("x", flat, cfg.x_bits, "x_bits")
    lo, hi = code_range(cfg.x_bits)
    if not lo - 1 <= theta <= hi:
        raise VitsimError(f"theta must lie in [{lo - 1}, {hi}] (clamp it), not {theta!r}")
    out = []
    for img in flat:
        pad = np.full(beats * cfg.lanes - len(img), img[0])
        last = (np.arange(beats) == beats - 1).astype(np.int64)
        out += GSB_ENCODER_PAYLOAD.pack(cfg, beats, {
            "x": np.concatenate([img, pad]).reshape(beats, cfg.lanes), "theta": theta,
            "two_tailed": int(two_tailed), "last": last})
    return out


def gsb_encoder_expected(cfg: GsbEncoderCfg, x: np.ndarray, *, two_tailed: bool,
                         theta: int = 0) -> np.ndarray:
    """Golden planes ``[planes, images, ...]`` (uint8) of ``x``: :func:`golden.intops.
    gsb_value_planes` (two-tailed) or :func:`golden.intops.gsb_attn_planes` (one-tailed)."""
    if two_tailed:
        sign, masks = gsb_value_planes(x, cfg.ratios)
        return np.concatenate([sign[None], masks])
    return gsb_attn_planes(x, theta, cfg.ratios)


#: Encoder stimuli: uniform over the ``x_bits`` range; all-equal images; one element at the
#: top of the range (the max at one element) above small values; negative-only images (a
#: negative max); values in [-30, 30] with both ends present, so ``den*x == num*max`` ties hit.
GSB_ENCODER_STIMULI = ("random", "equal", "spike", "negative", "ties")


def _encoder_stimulus(cfg, stimulus, rng, shape):
    lo, hi = code_range(cfg.x_bits)
    if stimulus == "random":
        return rng.integers(lo, hi, shape, endpoint=True)
    if stimulus == "equal":
        return np.broadcast_to(rng.integers(lo, hi, (shape[0],) + (1,) * (len(shape) - 1),
                                            endpoint=True), shape).copy()
    if stimulus == "spike":
        x = rng.integers(lo // 4, hi // 4, shape, endpoint=True).reshape(shape[0], -1)
        x[np.arange(shape[0]), rng.integers(0, x.shape[1], shape[0])] = hi
        return x.reshape(shape)
    if stimulus == "negative":
        return rng.integers(lo, -1, shape, endpoint=True)
    if stimulus == "ties":
        x = rng.integers(-30, 30, shape, endpoint=True).reshape(shape[0], -1)
        x[:, 0], x[:, -1] = 30, -30
        return x.reshape(shape)
    raise VitsimError(f"stimulus must be one of {', '.join(GSB_ENCODER_STIMULI)}, "
                      f"not {stimulus!r}")


def gsb_encoder_case(cfg: GsbEncoderCfg, path, *, shape, mode: str = "value", theta: int = 0,
                     images: int = 1, seed: int = 0, stimulus: str = "random") -> Package:
    """Write a case for :class:`hw.gsb_encoder.GsbEncoder` to ``path`` and read it back.

    ``x [images, *shape]`` is drawn by ``stimulus`` (see :data:`GSB_ENCODER_STIMULI`);
    ``mode`` ``"value"`` encodes it two-tailed as V (sign plane), ``"attn"`` one-tailed with
    the base plane ``x > theta``. The expected ``planes`` are :func:`gsb_encoder_expected`.
    """
    check_choice("mode", mode, ("value", "attn"))
    _check_count("images", images)
    shape = tuple(int(s) for s in shape)
    cfg.cycles(int(np.prod(shape)), images)  # validates the size before drawing
    x = _encoder_stimulus(cfg, stimulus, np.random.default_rng(seed), (images, *shape))
    return write_gsb_encoder_case(cfg, path, x=x, mode=mode, theta=theta, seed=seed,
                                  stimulus=stimulus)


def write_gsb_encoder_case(cfg: GsbEncoderCfg, path, *, x, mode: str = "value", theta: int = 0,
                           expected=None, op_meta: dict | None = None, seed=0,
                           stimulus: str = EXPLICIT, source: dict | None = None) -> Package:
    """Write an encoder case of explicit ``x [images, *shape]`` (signed ``x_bits``).

    The expected ``planes [planes, images, *shape]`` are :func:`gsb_encoder_expected`;
    ``expected``, ``op_meta``, ``source`` as :func:`golden.cases.write_binary_array_case`.
    """
    check_choice("mode", mode, ("value", "attn"))
    x = np.asarray(x, dtype=np.int64)
    images, shape = x.shape[0], tuple(x.shape[1:])
    elems = int(np.prod(shape))
    cycles = cfg.cycles(elems, images)  # validates the size
    two_tailed = mode == "value"
    gsb_encoder_beats(cfg, x[:1], two_tailed=two_tailed, theta=theta)  # validates x, theta
    planes = gsb_encoder_expected(cfg, x, two_tailed=two_tailed, theta=theta)
    name = "gsb_value_planes" if two_tailed else "gsb_attn_planes"
    op = _op_record(name, name, op_meta, inputs=["x"], outputs=["planes"],
                    ratios=[list(r) for r in cfg.ratios],
                    base_theta=None if two_tailed else int(theta), two_tailed=two_tailed,
                    images=images, shape=list(shape), elems=elems, x_bits=cfg.x_bits,
                    cycles=cycles)
    check_expected(op, planes, expected)
    write_package(path, manifest=_case_manifest(cfg, op, seed=seed, stimulus=stimulus,
                                                source=source),
                  tensors={"x": x, "planes": planes.astype(np.uint8)})
    return read_package(path)


def load_gsb_encoder_case(pkg: Package):
    """Return ``(cfg, op, x, planes)`` of a GSB encoder case."""
    cfg = read_case_config(pkg, GsbEncoderCfg)
    return cfg, pkg.manifest["ops"][0], pkg.tensors["x"], pkg.tensors["planes"]


def _verify_encoder(pkg: Package):
    cfg, op, x, planes = load_gsb_encoder_case(pkg)
    theta = op["base_theta"] or 0
    return op, gsb_encoder_expected(cfg, x, two_tailed=op["two_tailed"], theta=theta), planes



# ---------------------------------------------------------------- A x V streams and cases


#: ``GsbAv``'s ``i_stream``: the bit field (``max_n`` bits per plane), the plane-pair
#: weights ``W[p, r]`` (``p``-major, read from the first V beat) and ``last``.
GSB_AV_PAYLOAD = Payload((
    PayloadField("bits", lambda cfg: cfg.bits_width, bind=0),
    PayloadField("w", "w_bits", signed=True, dims=(lambda cfg: cfg.a_planes * cfg.v_planes,),
                 bind=1),
    PayloadField("last", 1, bind="last"),
))


def gsb_av_beats(cfg: GsbAvCfg, a_planes, v_sign, v_masks, weights) -> list[int]:
    """Return the ``i_stream`` payloads of ``GsbAv`` for one head.

    First ``ceil(d / v_cols)`` V beats; beat ``b`` holds columns ``b*v_cols + c``
    (``c < v_cols``; columns past ``d`` all 0): bit ``t*v_cols + c`` of plane ``r`` (the
    sign for ``r = 0``, mask ``r - 1`` after; plane ``r`` at bits ``[r*max_n*v_cols, ...)``)
    is token ``t`` of column ``b*v_cols + c``, so at ``v_cols`` 1 column ``j``'s plane ``r``
    is bits ``[r*max_n, r*max_n + n)``; ``last`` on the last V beat. Then ``n`` A beats
    (row ``i``: plane ``p`` at ``[p*max_n, p*max_n + n)``, column ``t`` at bit ``t``),
    ``last`` on row ``n - 1``. Payload, LSB first: the bit field (:attr:`GsbAvCfg.bits_width`
    bits, unused bits 0), the weights ``W[p, r]`` (``w_bits`` each, two's complement,
    ``p``-major; read from the first V beat only), ``last`` (1).
    """
    a_planes = np.asarray(a_planes, dtype=np.int64)
    v_sign = np.asarray(v_sign, dtype=np.int64)
    v_masks = np.asarray(v_masks, dtype=np.int64).reshape(-1, *v_sign.shape)
    weights = np.asarray(weights, dtype=np.int64)
    n, d = v_sign.shape
    cfg.cycles(n=n, d=d)  # validates the shape
    p_, r_, k = cfg.a_planes, cfg.v_planes, cfg.v_cols
    if a_planes.shape != (p_, n, n) or v_masks.shape[0] != r_ - 1 or weights.shape != (p_, r_):
        raise VitsimError(f"planes must be a_planes [{p_}, {n}, {n}], v_masks "
                          f"[{r_ - 1}, {n}, {d}], weights [{p_}, {r_}]")
    check_fits("weights", weights, cfg.w_bits, "w_bits")

    def bits(planes, stride):  # planes [k, m] bits: plane k at [k*stride, k*stride + m)
        word = 0
        for q, row in enumerate(planes):
            word |= int(sum(int(b) << t for t, b in enumerate(row))) << (q * stride)
        return word

    vb = cfg.v_beats(d)
    v_all = np.zeros((r_, n, vb * k), dtype=np.int64)  # [R, n, d] and zero columns
    v_all[:, :, :d] = np.concatenate([v_sign[None], v_masks])
    # beat b, plane r: token-major, the beat's k columns minor
    v_bits = [bits(v_all[:, :, b * k:(b + 1) * k].reshape(r_, n * k), cfg.max_n * k)
              for b in range(vb)]
    w = np.zeros((vb + n, p_ * r_), dtype=np.int64)
    w[:vb] = weights.reshape(1, -1)
    last = np.zeros(vb + n, dtype=np.int64)
    last[[vb - 1, vb + n - 1]] = 1
    return GSB_AV_PAYLOAD.pack(cfg, vb + n, {
        "bits": v_bits + [bits(a_planes[:, i, :], cfg.max_n) for i in range(n)],
        "w": w, "last": last})


#: A x V stimuli: random planes and weights; real encodings (random integer A and V through
#: :func:`golden.intops.gsb_attn_planes` / :func:`golden.intops.gsb_value_planes`); all-ones
#: planes with every weight at its top (``max``) or bottom (``min``) -- the accumulator bound.
GSB_AV_STIMULI = ("random", "encoded", "max", "min")


def gsb_av_case(cfg: GsbAvCfg, path, *, n: int, d: int, weights=None, seed: int = 0,
                stimulus: str = "random") -> Package:
    """Write a case for :class:`hw.gsb_av.GsbAv` to ``path`` and read it back.

    Planes by ``stimulus`` (see :data:`GSB_AV_STIMULI`); ``weights [P, R]`` given, or drawn
    over the ``w_bits`` range. Tensors (bit-planes packed along the last axis): ``a_planes
    [P, n, n]``, ``v_sign [n, d]``, ``v_masks [R-1, n, d]``, ``weights``; expected ``y [n, d]``
    is :func:`golden.intops.gsb_av`; the op records ``acc_bound = n * sum|W|``.
    """
    cfg.cycles(n=n, d=d)  # validates the shape before drawing
    p_, r_ = cfg.a_planes, cfg.v_planes
    lo, hi = code_range(cfg.w_bits)
    rng = np.random.default_rng(seed)
    if stimulus == "random":
        a = rng.integers(0, 2, (p_, n, n))
        sign, masks = rng.integers(0, 2, (n, d)), rng.integers(0, 2, (r_ - 1, n, d))
    elif stimulus == "encoded":
        att = rng.integers(0, 256, (1, n, n))
        ratios = [(7 + 2 * k, 10 + 2 * k) for k in range(max(p_ - 1, r_ - 1))]
        a = gsb_attn_planes(att, 40, ratios[:p_ - 1])[:, 0]
        sign, masks = gsb_value_planes(rng.integers(-100, 100, (1, n, d)), ratios[:r_ - 1])
        sign, masks = sign[0], masks[:, 0]
    elif stimulus in ("max", "min"):
        a = np.ones((p_, n, n))
        sign, masks = np.ones((n, d)), np.ones((r_ - 1, n, d))
        if weights is None:
            weights = np.full((p_, r_), hi if stimulus == "max" else lo)
    else:
        raise VitsimError(f"stimulus must be one of {', '.join(GSB_AV_STIMULI)}, "
                          f"not {stimulus!r}")
    if weights is None:
        weights = rng.integers(lo, hi, (p_, r_), endpoint=True)
    return write_gsb_av_case(cfg, path, a_planes=a, v_sign=sign, v_masks=masks,
                             weights=weights, seed=seed, stimulus=stimulus)


def write_gsb_av_case(cfg: GsbAvCfg, path, *, a_planes, v_sign, v_masks, weights,
                      expected=None, op_meta: dict | None = None, seed=0,
                      stimulus: str = EXPLICIT, source: dict | None = None) -> Package:
    """Write an A x V case of one head's explicit planes (``a_planes [P, n, n]``, ``v_sign
    [n, d]``, ``v_masks [R-1, n, d]``, {0,1}) and ``weights [P, R]``.

    The expected ``y [n, d]`` is :func:`golden.intops.gsb_av`; ``expected``, ``op_meta``,
    ``source`` as :func:`golden.cases.write_binary_array_case`.
    """
    a, sign = np.asarray(a_planes, dtype=np.uint8), np.asarray(v_sign, dtype=np.uint8)
    masks = np.asarray(v_masks, dtype=np.uint8).reshape(-1, *sign.shape)
    weights = np.asarray(weights, dtype=np.int64)
    n, d = sign.shape
    cycles = cfg.cycles(n=n, d=d)
    gsb_av_beats(cfg, a, sign, masks, weights)  # validates shapes and weight range
    y = gsb_av(a, sign, masks, weights)
    bound = n * int(np.abs(weights).sum())
    op = _op_record("gsb_av", "gsb_av", op_meta,
                    inputs=["a_planes", "v_sign", "v_masks", "weights"], outputs=["y"], n=n,
                    d=d, packing="bits_lsb_first", acc_bound=[-bound, bound],
                    acc_bits=cfg.acc_bits, cycles=cycles)
    check_expected(op, y, expected)
    tensors = {"a_planes": pack_bits(a), "v_sign": pack_bits(sign), "v_masks": pack_bits(masks),
               "weights": weights, "y": y.astype(np.int64)}
    write_package(path, manifest=_case_manifest(cfg, op, seed=seed, stimulus=stimulus,
                                                source=source), tensors=tensors)
    return read_package(path)


def load_gsb_av_case(pkg: Package):
    """Return ``(cfg, op, a_planes, v_sign, v_masks, weights, y)`` of a GSB A x V case,
    bit-planes unpacked (uint8)."""
    cfg = read_case_config(pkg, GsbAvCfg)
    op = case_op(pkg, "gsb_av")
    t = pkg.tensors
    return (cfg, op, unpack_bits(t["a_planes"], op["n"]), unpack_bits(t["v_sign"], op["d"]),
            unpack_bits(t["v_masks"], op["d"]), t["weights"], t["y"])


def _verify_av(pkg: Package):
    _, op, a, sign, masks, w, y = load_gsb_av_case(pkg)
    return op, gsb_av(a, sign, masks, w), y



register_unit(UnitSpec(
    kind=GsbEncoderCfg.kind, config=GsbEncoderCfg, kernel=gsb_encoder_expected,
    payload=GSB_ENCODER_PAYLOAD, op_kinds=("gsb_value_planes", "gsb_attn_planes"),
    slots={"gsb_encoder": 12}, top="gsb_encoder", example={"lanes": 8, "max_elems": 2048},
    case=gsb_encoder_case, write_case=write_gsb_encoder_case, verify=_verify_encoder,
    out_field="planes"))
register_unit(UnitSpec(
    kind=GsbAvCfg.kind, config=GsbAvCfg, kernel=gsb_av, payload=GSB_AV_PAYLOAD,
    op_kinds=("gsb_av",), slots={"gsb_av": 13}, top="gsb_av",
    example={"lanes": 8, "max_n": 32, "max_d": 32},
    case=gsb_av_case, write_case=write_gsb_av_case, verify=_verify_av))
