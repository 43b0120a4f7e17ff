"""Stream formats: how a golden case becomes the beats a unit consumes and produces.

One function pair per unit, shared by the Amaranth-simulator tests, the cocotb benches and
the C++ harness generator, so the payload bit layout is written down once. Payloads are
Python ints; bit ``0`` is the LSB of the Verilog port.
"""

from __future__ import annotations

import numpy as np

from golden.bitpack import rows_from_words, words_from_rows
from golden.spec import BinaryArrayCfg, MacArrayCfg, RequantCfg, ResidualCfg
from golden.unit_spec import Payload, PayloadField

__all__ = [
    "BINARY_ARRAY_PAYLOAD",
    "MAC_ARRAY_PAYLOAD",
    "REQUANT_PAYLOAD",
    "RESIDUAL_PAYLOAD",
    "binary_array_beats",
    "gsb_av_results",
    "gsb_encoder_results",
    "mac_array_beats",
    "requant_beats",
    "requant_results",
    "residual_beats",
    "residual_results",
    "tile_expected_words",
    "tile_results",
    "tile_transfer",
]


#: ``BinaryMatmulArray``'s ``i_stream``: the activation chunk, ``rows`` weight chunks of
#: ``cols`` bits (element ``i`` of a chunk at its bit ``i``), the reduction's ``last``.
BINARY_ARRAY_PAYLOAD = Payload((
    PayloadField("a", "cols", bind=0),
    PayloadField("w", "cols", dims=("rows",), bind=1),
    PayloadField("last", 1, bind="last"),
))

#: ``MacArray``'s ``i_stream``: ``cols`` activation fields, ``rows x cols`` weight fields
#: (lane-major), each ``field_bits`` wide (two's complement, sign-extended), then the
#: run-time widths and signedness, and ``last``.
MAC_ARRAY_PAYLOAD = Payload((
    PayloadField("a", "field_bits", dims=("cols",), bind=0),
    PayloadField("w", "field_bits", dims=("rows", "cols"), bind=1),
    PayloadField("w_bits", 5, bind="k0"),
    PayloadField("a_bits", 5, bind="k1"),
    PayloadField("w_signed", 1, bind="k2"),
    PayloadField("a_signed", 1, bind="k3"),
    PayloadField("last", 1, bind="last"),
))

#: ``Requantizer``'s ``i_stream``: ``lanes`` accumulators, multipliers and biases (two's
#: complement), then the beat's ``shift``, output ``bits`` and ``signed``.
REQUANT_PAYLOAD = Payload((
    PayloadField("acc", "acc_bits", signed=True, dims=("lanes",), bind=0),
    PayloadField("mult", "mult_bits", signed=True, dims=("lanes",), bind=1),
    PayloadField("bias", "bias_bits", signed=True, dims=("lanes",), bind=2),
    PayloadField("shift", 6, bind="k0"),
    PayloadField("bits", 5, bind="k1"),
    PayloadField("signed", 1, bind="k2"),
))

#: ``ResidualAdd``'s ``i_stream``: ``lanes`` signed operands ``a``, then ``lanes`` ``b``.
RESIDUAL_PAYLOAD = Payload((
    PayloadField("a", "in_bits", signed=True, dims=("lanes",), bind=0),
    PayloadField("b", "in_bits", signed=True, dims=("lanes",), bind=1),
))


def binary_array_beats(cfg: BinaryArrayCfg, a_bits: np.ndarray, w_bits: np.ndarray) -> list[int]:
    """Return the ``i_stream`` payloads of ``BinaryMatmulArray`` for ``a [m, k] x w [n, k]^T``.

    Order: for each activation row ``m``, for each weight tile ``t`` (rows
    ``t*rows .. t*rows+rows-1`` of ``w``), the ``k / cols`` beats of the reduction.
    Payload bits: ``a`` chunk at ``[0, cols)``, lane ``r``'s weight chunk at
    ``[cols*(r+1), cols*(r+2))``, ``last`` at bit ``cols*(rows+1)``; element ``i`` of a
    chunk at its bit ``i``.
    """
    m, k = a_bits.shape
    cfg.cycles(m=m, n=w_bits.shape[0], k=k)  # validates the tiling
    return _tile_beats(cfg, BINARY_ARRAY_PAYLOAD, a_bits, w_bits, {})


def _tile_beats(cfg, payload: Payload, a: np.ndarray, w: np.ndarray, consts: dict
                ) -> list[int]:
    """Beats of an array unit: per activation row, per weight tile, the reduction's beats.

    Field offsets come from ``payload``: the activation chunk ``a``, the ``rows`` weight
    chunks ``w`` (lane-major), the ``consts`` fields (the same every beat) and ``last``.
    """
    m, k = a.shape
    n = w.shape[0]
    beats = cfg.beats(k)
    at = payload.offsets(cfg)
    chunk = at["a"][1] * at["a"][2]  # bits of one activation (or weight-lane) chunk
    field_bits = chunk // cfg.cols
    a_words = np.array(words_from_rows(np.asarray(a).reshape(m * beats, cfg.cols), field_bits),
                       dtype=object).reshape(m, beats)
    w_words = np.array(words_from_rows(np.asarray(w).reshape(n * beats, cfg.cols), field_bits),
                       dtype=object).reshape(n, beats)
    params = payload.pack(cfg, 1, consts)[0]
    last_at, w_at = at["last"][0], at["w"][0]
    out = []
    for i in range(m):
        for t in range(n // cfg.rows):
            for b in range(beats):
                word = a_words[i, b] | params | (int(b == beats - 1) << last_at)
                for r in range(cfg.rows):
                    word |= w_words[t * cfg.rows + r, b] << (w_at + chunk * r)
                out.append(int(word))
    return out


def tile_transfer(cfg, row: int, col: int, n: int) -> tuple[int, int]:
    """Output transfer index and lane that carry ``y[row, col]`` of an ``[m, n]`` result.

    For any array config with ``rows`` (binary or MAC array): transfers come per activation
    row, then per weight tile of ``rows`` outputs.
    """
    return row * (n // cfg.rows) + col // cfg.rows, col % cfg.rows


def tile_results(cfg, words: list[int], *, m: int, n: int) -> np.ndarray:
    """Assemble an array's ``o_stream`` payloads (lane ``r`` at bits ``[r*acc_bits, ...)``,
    signed) into ``[m, n]``; ``cfg`` is any array config with ``rows`` and ``acc_bits``."""
    lanes = rows_from_words(words, cfg.rows, cfg.acc_bits, signed=True)
    return lanes.reshape(m, n)


def tile_expected_words(cfg, y: np.ndarray) -> list[int]:
    """The ``o_stream`` payloads that carry ``y [m, n]``, in transfer order (inverse of
    :func:`tile_results`)."""
    return words_from_rows(np.asarray(y).reshape(-1, cfg.rows), cfg.acc_bits)


def requant_beats(cfg: RequantCfg, acc: np.ndarray, *, mult, bias=0, shift: int, bits: int,
                  signed: bool) -> list[int]:
    """Return the ``i_stream`` payloads of ``Requantizer`` for ``acc [beats, lanes]``.

    ``mult`` and ``bias`` are integers or arrays that broadcast to ``acc``'s shape (one
    value per lane, or per lane and beat). Payload bits, LSB first, each field two's
    complement: lane ``l``'s accumulator at ``[l*acc_bits, (l+1)*acc_bits)``, then the
    ``lanes`` multipliers (``mult_bits`` each), the ``lanes`` biases (``bias_bits`` each),
    then ``shift`` (6 bits), ``bits`` (5) and ``signed`` (1).
    """
    acc = np.asarray(acc, dtype=np.int64)
    mult = np.broadcast_to(np.asarray(mult, dtype=np.int64), acc.shape)
    bias = np.broadcast_to(np.asarray(bias, dtype=np.int64), acc.shape)
    return REQUANT_PAYLOAD.pack(cfg, acc.shape[0], {
        "acc": acc, "mult": mult, "bias": bias, "shift": shift, "bits": bits,
        "signed": int(signed)})


def requant_results(cfg: RequantCfg, words: list[int], *, signed: bool) -> np.ndarray:
    """Decode ``o_stream`` payloads (lane ``l``'s ``out_bits``-bit code at
    ``[l*out_bits, ...)``) into values ``[beats, lanes]``."""
    return rows_from_words(words, cfg.lanes, cfg.out_bits, signed=signed)


def mac_array_beats(cfg: MacArrayCfg, a: np.ndarray, w: np.ndarray, *, w_bits: int,
                    a_bits: int, w_signed: bool, a_signed: bool) -> list[int]:
    """Return the ``i_stream`` payloads of ``MacArray`` for ``a [m, k] x w [n, k]^T``.

    Beat order as :func:`binary_array_beats`. Payload bits, LSB first: ``cols``
    activation fields, then ``rows x cols`` weight fields (lane-major), each
    ``cfg.field_bits`` wide holding the value in two's complement (sign-extended), then
    ``w_bits`` (5 bits), ``a_bits`` (5), ``w_signed``, ``a_signed`` and ``last`` (1 each).
    """
    m, k = a.shape
    cfg.cycles(m=m, n=w.shape[0], k=k, w_bits=w_bits, a_bits=a_bits)  # tiling and widths
    return _tile_beats(cfg, MAC_ARRAY_PAYLOAD, a, w, {
        "w_bits": w_bits, "a_bits": a_bits, "w_signed": int(w_signed),
        "a_signed": int(a_signed)})


def residual_beats(cfg: ResidualCfg, a: np.ndarray, b: np.ndarray) -> list[int]:
    """Return the ``i_stream`` payloads of ``ResidualAdd`` for ``a, b [beats, lanes]``.

    Payload bits, LSB first, two's complement: lane ``l`` of ``a`` at
    ``[l*in_bits, (l+1)*in_bits)``, then the ``lanes`` fields of ``b``.
    """
    a = np.asarray(a)
    return RESIDUAL_PAYLOAD.pack(cfg, a.shape[0], {"a": a, "b": b})


def residual_results(cfg: ResidualCfg, words: list[int]) -> np.ndarray:
    """Decode ``o_stream`` payloads (lane ``l`` signed at ``[l*out_bits, ...)``) into
    ``[beats, lanes]``."""
    return rows_from_words(words, cfg.lanes, cfg.out_bits, signed=True)


def gsb_encoder_results(cfg, words: list[int], *, shape) -> np.ndarray:
    """Decode ``GsbEncoder`` (``cfg`` a :class:`golden.cases_gsb.GsbEncoderCfg`) ``o_stream``
    payloads (lane ``l``'s planes at ``[l*planes, (l+1)*planes)``, bit
    0 the sign/base plane, bit ``1 + r`` mask ``r``; ``last`` above them) into planes
    ``[planes, images, *shape]`` (int64). An image whose last beat's ``last`` flag is wrong
    (or set early) decodes as ``-1``, so a framing error shows as a mismatch."""
    elems = int(np.prod(shape))
    beats = cfg.beats(elems)
    images = len(words) // beats
    lanes = rows_from_words(words, cfg.lanes, cfg.planes, signed=False)
    last_at = cfg.lanes * cfg.planes
    out = np.empty((cfg.planes, images, elems), dtype=np.int64)
    for k in range(images):
        flags = [(int(w) >> last_at) & 1 for w in words[k * beats:(k + 1) * beats]]
        vals = lanes[k * beats:(k + 1) * beats].reshape(-1)[:elems]
        planes = (vals[None, :] >> np.arange(cfg.planes)[:, None]) & 1
        ok = flags == [0] * (beats - 1) + [1]
        out[:, k] = planes if ok else -1
    return out.reshape(cfg.planes, images, *shape)


def gsb_av_results(cfg, words: list[int], *, n: int, d: int) -> np.ndarray:
    """Decode ``GsbAv`` (``cfg`` a :class:`golden.cases_gsb.GsbAvCfg`) ``o_stream`` payloads
    (one per row and column block; lane ``l`` at
    ``[l*acc_bits, ...)``, signed, column ``block*lanes + l``) into ``y [n, d]``; lanes past
    ``d`` in the last block are dropped."""
    blocks = cfg.blocks(d)
    lanes = rows_from_words(words, cfg.lanes, cfg.acc_bits, signed=True)
    return lanes.reshape(n, blocks * cfg.lanes)[:, :d]
