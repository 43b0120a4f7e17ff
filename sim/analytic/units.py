"""Cycles of the non-GEMM units of an op, read from the units' own cycle models.

Besides its array passes (:mod:`sim.analytic.cycles`), each op of a frame runs these units
(``t`` tokens, ``D`` embed_dim, ``H`` heads, ``dh`` head_dim; "codes" are the next GEMM's
input codes: the threshold unit when they are 1 bit, else the requantiser), as the integer
exports (:mod:`models.int_export`, :mod:`models.int_export_qvit`) wire them:

=========  ============================================================================
op         units after (or instead of) the array
=========  ============================================================================
patch      requant ``[t, D]`` (to the residual stream)
norm       LayerNorm ``t`` rows; codes ``[t, D]`` (the final norm: at ``embed_bits``)
qkv        codes ``[t, 3D]``; GSB: threshold q, k ``[2t, D]``, requant V ``[t, D]`` and
           the GSB encoder on V (``t * D`` elements)
qk         requant the logits ``[H t, t]`` (not GSB); softmax, ``H t`` rows of ``t``
           (one stream, the heads' rows overlapping in the unit as its other rows do);
           codes ``[H t, t]``; GSB instead: the attention shift on the residual
           adder ``[H t, t]`` and the GSB encoder on the attention (``H * t * t``)
av         codes ``[t, D]``; GSB: A x V on the GSB A x V unit, ``H`` heads of ``(t, dh)``,
           instead of the binary array (its array passes are priced 0)
proj, fc2  requant ``[t, D]``; residual add ``[t, D]``
fc1        requant ``[t, 4D]`` (GELU input); GELU ``[t, 4D]``; codes ``[t, 4D]``
head       requant the logits ``[1, classes]``
=========  ============================================================================

A low-rank linear also codes its ``[t, rank]`` intermediate. A beat never straddles two
rows (the requantiser's parameters are per channel): ``rows x len`` elements take
``rows * ceil(len / lanes)`` beats. Each unit of an op runs one stream (its latency paid
once); units and arrays never overlap, so an op's cycles are their sum. The model-sized
units are built by :func:`sized_units` (see :class:`golden.accel_spec.AnalyticAccelCfg`).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from golden.accel_spec import FLOAT_BITS, AnalyticAccelCfg, SchemeCfg
from golden.cases_gelu import GeluCfg
from golden.cases_gsb import GsbAvCfg, GsbEncoderCfg
from golden.cases_layernorm import LayerNormCfg
from golden.cases_softmax import SoftmaxCfg
from golden.cases_threshold import ThresholdCfg
from golden.model_cfg import ViTCfg
from golden.spec import ConfigError, RequantCfg, ResidualCfg
from sim.analytic.workload import Op

__all__ = ["UNIT_CYCLE_KEYS", "Units", "on_array", "op_unit_cycles", "sized_units"]

#: Keys of a per-layer ``unit_cycles`` breakdown (``array``: the GEMM arrays). Kept by hand:
#: it is the column order of the analytic reports, and it merges both arrays into one
#: key; ``tests/test_registry.py`` checks it against the registry.
UNIT_CYCLE_KEYS = ("array", "layernorm", "softmax", "gelu", "residual", "requant", "threshold",
         "gsb_encoder", "gsb_av")


@dataclass(frozen=True)
class Units:
    """The non-GEMM units of one evaluation, sized for its model (GSB units: ``None``
    unless the scheme is GSB)."""

    layernorm: LayerNormCfg
    softmax: SoftmaxCfg
    gelu: GeluCfg
    residual: ResidualCfg
    requant: RequantCfg
    threshold: ThresholdCfg
    gsb_encoder: GsbEncoderCfg | None
    gsb_av: GsbAvCfg | None


def _planes(name: str, planes: int, groups: int) -> None:
    if planes != groups:
        raise ConfigError(f"{name} must equal the scheme's groups ({groups}), not {planes!r}")


@lru_cache(maxsize=1024)
def _sized(vit: ViTCfg, groups: int, ln: LayerNormCfg | None, sm: SoftmaxCfg | None,
           enc: GsbEncoderCfg | None, av: GsbAvCfg | None) -> tuple:
    t, d, h = vit.num_tokens, vit.embed_dim, vit.num_heads
    if ln is None:
        ln = LayerNormCfg(dim=d)
    elif ln.dim != d:
        raise ConfigError(f"layernorm dim must equal the model's embed_dim ({d}), not {ln.dim!r}")
    sm = SoftmaxCfg(max_len=t) if sm is None else sm
    if not groups:
        return ln, sm, None, None
    if av is None:
        av = GsbAvCfg(max_n=t, max_d=vit.head_dim, a_planes=groups, v_planes=groups)
    _planes("gsb_av a_planes", av.a_planes, groups)
    _planes("gsb_av v_planes", av.v_planes, groups)
    if enc is None:
        ratios = GsbEncoderCfg.field_default("ratios")
        if len(ratios) != groups - 1:
            ratios = tuple((i, groups) for i in range(1, groups))
        lanes = GsbEncoderCfg.field_default("lanes")
        elems = max(h * t * t, t * d)
        enc = GsbEncoderCfg(lanes=lanes, max_elems=-(-elems // lanes) * lanes, ratios=ratios)
    _planes("gsb_encoder planes", enc.planes, groups)
    return ln, sm, enc, av


def sized_units(accel: AnalyticAccelCfg, vit: ViTCfg, s: SchemeCfg) -> Units:
    """The units of ``accel`` for ``vit`` under ``s``.

    ``None`` parts of ``accel`` are sized for the model: ``LayerNormCfg(dim=embed_dim)``,
    ``SoftmaxCfg(max_len=num_tokens)``, ``GsbAvCfg(max_n=num_tokens, max_d=head_dim,
    a_planes=v_planes=groups)`` and a :class:`GsbEncoderCfg` whose buffer holds the larger
    of the attention matrix and V (rounded up to whole beats) with ``groups - 1`` ratios
    (its default ratios when there are that many, else ``i / groups``); every other field
    is the unit's default.

    Raises
    ------
    ConfigError
        A given LayerNorm whose ``dim`` is not ``embed_dim``, a given GSB unit whose planes
        are not ``groups``, or a sized one the unit's config rejects (more than 4 groups).
    """
    ln, sm, enc, av = _sized(vit, s.groups, accel.layernorm, accel.softmax,
                             accel.gsb_encoder, accel.gsb_av)
    return Units(ln, sm, accel.gelu, accel.residual, accel.requant, accel.threshold, enc, av)


def op_unit_cycles(op: Op, vit: ViTCfg, s: SchemeCfg, rank: int, u: Units) -> dict | None:
    """Cycles of each non-GEMM unit of ``op`` (keys :data:`UNIT_CYCLE_KEYS` but ``array``; see the
    module doc); ``None`` when the scheme's activations are float (no integer datapath).

    Raises
    ------
    ConfigError
        A row longer than the softmax's ``max_len``, or a tensor larger than a GSB unit's
        buffers (the units' own checks).
    """
    if s.a_bits == FLOAT_BITS:
        return None
    t, d, h = op.m, vit.embed_dim, vit.num_heads
    out = dict.fromkeys(UNIT_CYCLE_KEYS[1:], 0)

    def stream(name: str, rows: int, length: int) -> None:
        cfg = getattr(u, name)
        out[name] += cfg.cycles(beats=rows * -(-length // cfg.lanes))

    def codes(rows: int, length: int, bits: int = s.a_bits) -> None:
        stream("threshold" if bits == 1 else "requant", rows, length)

    if rank:
        codes(t, rank)
    role, gsb = op.role, bool(s.groups)
    if role in ("patch", "head"):
        stream("requant", t, op.n)
    elif role == "norm":
        out["layernorm"] += u.layernorm.cycles(rows=t)
        codes(t, d, s.a_bits if op.block is not None else s.embed_bits)
    elif role == "qkv" and gsb:
        stream("threshold", 2 * t, d)
        stream("requant", t, d)
        out["gsb_encoder"] += u.gsb_encoder.cycles(t * d, 1)
    elif role == "qkv":
        codes(t, op.n)
    elif role == "qk":
        if not gsb:
            stream("requant", h * t, t)
        out["softmax"] += u.softmax.cycles(rows=h * t, row_len=t)
        if gsb:
            stream("residual", h * t, t)
            out["gsb_encoder"] += u.gsb_encoder.cycles(h * t * t, 1)
        else:
            codes(h * t, t)
    elif role == "av":
        if gsb:
            out["gsb_av"] += h * u.gsb_av.cycles(n=t, d=vit.head_dim)
        codes(t, d)
    elif role in ("proj", "fc2"):
        stream("requant", t, d)
        stream("residual", t, d)
    elif role == "fc1":
        stream("requant", t, op.n)
        stream("gelu", t, op.n)
        codes(t, op.n)
    return out


def on_array(op: Op, s: SchemeCfg) -> bool:
    """Whether ``op``'s passes run on the arrays (GSB's A x V runs on its own unit)."""
    return not (s.groups and op.role == "av")

