"""Frozen configs of the analytic model: compression scheme, memory system, the accelerator.

They follow :mod:`golden.spec` (``ConfigBase``: ``to_dict``/``from_dict``, exact messages,
``ConfigError``) and share its vocabulary (``w_bits``, ``a_bits``, ``rank``, ``rows``,
``cols``, ``max_k``). A width of 32 means IEEE float32 storage; 1..16 are integer codes
(1 is a bit-plane).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

from golden.cases_gelu import GeluCfg
from golden.cases_gsb import GsbAvCfg, GsbEncoderCfg
from golden.cases_layernorm import LayerNormCfg
from golden.cases_softmax import SoftmaxCfg
from golden.cases_threshold import ThresholdCfg
from golden.spec import (
    BinaryArrayCfg,
    ConfigBase,
    ConfigError,
    MacArrayCfg,
    RequantCfg,
    ResidualCfg,
    check_choice,
    check_int,
)

__all__ = ["ACCEL_PARTS", "AnalyticAccelCfg", "FLOAT_BITS", "LOOP_ORDERS", "MemoryCfg",
           "SIZED_PARTS", "SchemeCfg", "WEIGHT_MODES"]

#: The width that stands for float32 storage.
FLOAT_BITS = 32
#: Loop orders of a streamed layer (see :class:`MemoryCfg`).
LOOP_ORDERS = ("weights_outer", "tokens_outer")
#: Weight placement policies (see :class:`MemoryCfg`).
WEIGHT_MODES = ("auto", "resident", "streamed")


def _check_width(name: str, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an integer, not {value!r}")
    if not (1 <= value <= 16 or value == FLOAT_BITS):
        raise ConfigError(f"{name} must be between 1 and 16, or {FLOAT_BITS} (float), "
                          f"not {value!r}")


def _as_tuple(obj, name: str) -> tuple:
    value = getattr(obj, name)
    if isinstance(value, list):
        value = tuple(value)
        object.__setattr__(obj, name, value)
    if not isinstance(value, tuple):
        raise TypeError(f"{name} must be a tuple, not {value!r}")
    return value


@dataclass(frozen=True, kw_only=True)
class SchemeCfg(ConfigBase):
    """Compression scheme of a ViT: operand widths, head-wise widths, GSB groups, ranks.

    Encoder linears (qkv, proj, fc1, fc2) store ``w_bits`` weights and read ``a_bits``
    inputs; Q, K, V, the attention probabilities and the ``AV`` output are ``a_bits`` too,
    unless ``head_a_bits`` sets them per head (Q-ViT). The patch embedding and the
    classifier heads use ``embed_bits`` for weights and inputs. GSB codes the attention
    matrix and V as ``groups`` bit-planes each; the integer softmax output that the GSB
    coder thresholds (after a global max over the whole ``[H, N, N]`` tensor) is
    ``softmax_bits`` wide.

    Parameters
    ----------
    name : str
        Label for tables and plots.
    w_bits, a_bits : int
        Encoder weight and activation widths: 1 (bit-planes), 2..16, or 32 (float).
    head_w_bits : tuple of int
        Per-head weight widths of the q/k/v rows and the proj columns of head ``h``
        (Q-ViT head-wise); ``()``: ``w_bits`` for all heads. Length must be ``num_heads``.
    head_a_bits : tuple of int
        Per-head widths of q, k, v, the attention probabilities and the ``AV`` output;
        ``()``: ``a_bits``.
    groups : int
        GSB groups, i.e. bit-planes of the attention matrix and of V (0: not GSB; 1: plain
        binarisation; 3: the paper's two thresholds), as :attr:`golden.model_cfg.GSBCfg.groups`.
        Needs ``a_bits == 1``.
    attn_bias : bool
        GSB's learnable ``[H, N, N]`` attention bias, stored at ``param_bits``.
    softmax_bits : int
        Width of the integer softmax output (the tensor the GSB coder buffers).
    embed_bits : int
        Patch-embedding and head weight and input width.
    param_bits : int
        Width of LayerNorm parameters, biases, scales, shifts, cls/pos tokens (32: float).
    rank : int
        Low-rank: rank of every encoder linear (0: dense). A layer whose factor pair would
        hold at least as many weights as the dense matrix stays dense.
    rank_k : int
        Rank of the residual (error-compensation) branch added to every factorised layer.
    layer_ranks : tuple of (str, int)
        Per-layer rank overrides: ``(pattern, rank)`` with a shell pattern on layer names
        (``"blocks.*.mlp.fc1"``); the last matching pattern wins. A dict is accepted.
    """

    kind: ClassVar[str] = "scheme"
    name: str = "custom"  # label
    w_bits: int = 8  # encoder linear weights
    a_bits: int = 8  # encoder activations, q/k/v/attention
    head_w_bits: tuple = ()  # per-head weight widths (q/k/v rows, proj columns)
    head_a_bits: tuple = ()  # per-head q/k/v/attention/AV widths
    groups: int = 0  # GSB groups (planes) of attention and V (0: not GSB)
    attn_bias: bool = False  # GSB [H, N, N] attention bias
    softmax_bits: int = 8  # integer softmax output width
    embed_bits: int = 8  # patch embedding and heads
    param_bits: int = FLOAT_BITS  # LayerNorm, biases, scales, tokens
    rank: int = 0  # low-rank rank of every encoder linear (0: dense)
    rank_k: int = 0  # residual-branch rank
    layer_ranks: tuple = ()  # (pattern, rank) overrides

    def __post_init__(self):
        if not isinstance(self.name, str) or not self.name:
            raise TypeError(f"name must be a non-empty string, not {self.name!r}")
        for name in ("w_bits", "a_bits", "softmax_bits", "embed_bits", "param_bits"):
            _check_width(name, getattr(self, name))
        for name in ("head_w_bits", "head_a_bits"):
            for bits in _as_tuple(self, name):
                _check_width(name, bits)
        check_int("groups", self.groups, 0, 8)
        if self.groups and self.a_bits != 1:
            raise ConfigError(f"groups needs a_bits 1, not {self.a_bits!r}")
        if not isinstance(self.attn_bias, bool):
            raise TypeError(f"attn_bias must be a bool, not {self.attn_bias!r}")
        check_int("rank", self.rank, 0)
        check_int("rank_k", self.rank_k, 0)
        if isinstance(self.layer_ranks, dict):
            object.__setattr__(self, "layer_ranks", tuple(self.layer_ranks.items()))
        pairs = tuple(tuple(p) if isinstance(p, list) else p
                      for p in _as_tuple(self, "layer_ranks"))
        object.__setattr__(self, "layer_ranks", pairs)
        for pair in pairs:
            if not (isinstance(pair, tuple) and len(pair) == 2 and isinstance(pair[0], str)):
                raise TypeError(f"layer_ranks entries must be (pattern, rank) pairs, not {pair!r}")
            check_int("layer_ranks rank", pair[1], 0)

    def __str__(self) -> str:
        return self.name


@dataclass(frozen=True, kw_only=True)
class MemoryCfg(ConfigBase):
    """On-chip buffers and the schedule that decides the off-chip traffic of one frame.

    Two buffers, as in a weight/activation split accelerator (and SCALE-Sim's
    filter/ifmap+ofmap SRAMs): ``weight_kib`` for weights, ``act_kib`` for activations.

    Weights are *resident* (loaded once at start-up, 0 bytes per frame) when
    ``weights == "resident"``, or with ``"auto"`` when all of them fit in the weight
    buffer; otherwise every layer streams its weights each frame. A streamed layer whose
    weights fit the buffer fetches them once. A larger one is cut into weight tiles of the
    buffer size and runs in ``loop_order``:

    * ``"weights_outer"``: each weight tile is fetched once and every token passes under
      it; spilled inputs are re-read once per weight tile.
    * ``"tokens_outer"``: ``token_tile`` tokens stay on chip while all weight tiles stream
      past; weights are fetched ``ceil(tokens / token_tile)`` times.

    An op whose live activations (inputs plus outputs) exceed ``act_kib`` is *spilled*:
    it reads its inputs from and writes its outputs to DRAM.

    Parameters
    ----------
    weight_kib, act_kib : int
        Buffer sizes in KiB (1024 bytes).
    token_tile : int
        Tokens that share one weight fetch in ``"tokens_outer"`` (0: all tokens).
    loop_order : str
        ``"weights_outer"`` or ``"tokens_outer"``.
    weights : str
        ``"auto"``, ``"resident"`` or ``"streamed"``.
    """

    kind: ClassVar[str] = "memory"
    weight_kib: int = 256  # weight buffer
    act_kib: int = 256  # activation buffer
    token_tile: int = 0  # tokens per weight fetch, tokens_outer (0: all)
    loop_order: str = "weights_outer"  # or "tokens_outer"
    weights: str = "auto"  # "auto", "resident", "streamed"

    def __post_init__(self):
        check_int("weight_kib", self.weight_kib, 0, 1 << 30)
        check_int("act_kib", self.act_kib, 0, 1 << 30)
        check_int("token_tile", self.token_tile, 0)
        check_choice("loop_order", self.loop_order, LOOP_ORDERS)
        check_choice("weights", self.weights, WEIGHT_MODES)

    @property
    def buffer_kib(self) -> int:
        """Total on-chip buffer."""
        return self.weight_kib + self.act_kib

    def __str__(self) -> str:
        return f"w{self.weight_kib}a{self.act_kib}_{self.loop_order}_t{self.token_tile}"


#: Parts of :class:`AnalyticAccelCfg` that are always set: name -> config class.
ACCEL_PARTS = {"binary": BinaryArrayCfg, "mac": MacArrayCfg, "memory": MemoryCfg,
               "requant": RequantCfg, "residual": ResidualCfg, "gelu": GeluCfg,
               "threshold": ThresholdCfg}
#: Parts sized for the model when ``None`` (see :class:`AnalyticAccelCfg`): name -> config class.
SIZED_PARTS = {"layernorm": LayerNormCfg, "softmax": SoftmaxCfg, "gsb_encoder": GsbEncoderCfg,
               "gsb_av": GsbAvCfg}


@dataclass(frozen=True, kw_only=True)
class AnalyticAccelCfg(ConfigBase):
    """The hardware an analytic evaluation assumes: arrays, non-GEMM units, memory system.

    Binary ops (1-bit weights and activations) run on ``binary`` (its ``mode`` is set per
    op: xnor or and), all other integer ops on ``mac``. The defaults are the README's
    reference: a 64 x 256 binary array (16 384 binary MACs per cycle), a 64 x 64 mixed-bit
    array (256 8x8-bit MACs per cycle, 4 096 at 2x2 bits) and 256 + 256 KiB of buffers.

    The non-GEMM units are priced by their own cycle models (see
    :mod:`sim.analytic.units`). The one-beat-a-cycle units (``requant``, ``residual``,
    ``gelu``, ``threshold``) serve every layer as configured; their defaults take 64
    elements a beat (one array tile of outputs). The units whose buffers are sized by the
    model are ``None`` by default, meaning "sized for the model at evaluation time"
    (:func:`sim.analytic.units.sized_units`): LayerNorm ``dim = embed_dim``, softmax
    ``max_len = num_tokens``, the GSB encoder's buffer and planes, the GSB A x V unit's
    ``max_n``, ``max_d`` and planes, every other field at the unit's default. Given
    explicitly, such a unit is used as is and must fit the model it is evaluated on.

    Parameters
    ----------
    binary : BinaryArrayCfg
    mac : MacArrayCfg
    memory : MemoryCfg
    requant : RequantCfg
        After every integer GEMM whose output is requantised (and LayerNorm outputs).
    residual : ResidualCfg
        Residual adds (and GSB's attention shift).
    gelu : GeluCfg
    threshold : ThresholdCfg
        Binary activations (``a_bits == 1``) and GSB's q, k.
    layernorm : LayerNormCfg or None
    softmax : SoftmaxCfg or None
    gsb_encoder : GsbEncoderCfg or None
        GSB only: the V and attention bit-plane coder.
    gsb_av : GsbAvCfg or None
        GSB only: attention x V, instead of the binary array.
    """

    kind: ClassVar[str] = "accel"
    binary: BinaryArrayCfg = field(
        default_factory=lambda: BinaryArrayCfg(rows=64, cols=256, max_k=4096))
    mac: MacArrayCfg = field(default_factory=lambda: MacArrayCfg(rows=64, cols=64))
    memory: MemoryCfg = field(default_factory=MemoryCfg)
    requant: RequantCfg = field(
        default_factory=lambda: RequantCfg(lanes=64, acc_bits=32, out_bits=16))
    residual: ResidualCfg = field(
        default_factory=lambda: ResidualCfg(lanes=64, in_bits=16, out_bits=16))
    gelu: GeluCfg = field(default_factory=lambda: GeluCfg(lanes=64))
    threshold: ThresholdCfg = field(default_factory=lambda: ThresholdCfg(lanes=64))
    layernorm: LayerNormCfg | None = None  # None: dim = the model's embed_dim
    softmax: SoftmaxCfg | None = None  # None: max_len = the model's tokens
    gsb_encoder: GsbEncoderCfg | None = None  # None: sized for the model and groups
    gsb_av: GsbAvCfg | None = None  # None: sized for the model and groups

    def __post_init__(self):
        for name, cls in ACCEL_PARTS.items():
            if not isinstance(getattr(self, name), cls):
                raise TypeError(f"{name} must be a {cls.__name__}, not {getattr(self, name)!r}")
        for name, cls in SIZED_PARTS.items():
            value = getattr(self, name)
            if value is not None and not isinstance(value, cls):
                raise TypeError(f"{name} must be a {cls.__name__} or None, not {value!r}")

    def to_dict(self) -> dict:
        """Nested JSON-ready dict (each part tagged with its own ``kind``; ``None`` parts
        stay ``None``)."""
        parts = {name: getattr(self, name) for name in (*ACCEL_PARTS, *SIZED_PARTS)}
        return {"kind": self.kind,
                **{name: None if p is None else p.to_dict() for name, p in parts.items()}}

    @classmethod
    def from_dict(cls, data: dict, *, source: str = "config") -> AnalyticAccelCfg:
        """Build from a dict whose optional parts (``binary``, ``mac``, ``memory``, the
        units) are dicts too; the model-sized units may also be ``null``."""
        parts = {k: v for k, v in data.items() if k != "kind"}
        unknown = sorted(set(parts) - set(ACCEL_PARTS) - set(SIZED_PARTS))
        if unknown:
            raise ConfigError(f"{source}: unknown field {unknown[0]!r} for AnalyticAccelCfg")
        kw = {}
        for name, part_cls in {**ACCEL_PARTS, **SIZED_PARTS}.items():
            if name not in parts:
                continue
            value = parts[name]
            if value is None and name in SIZED_PARTS:
                kw[name] = None
            elif not isinstance(value, dict):
                what = "an object or null" if name in SIZED_PARTS else "an object"
                raise ConfigError(f"{source}: field {name!r} must be {what}")
            else:
                kw[name] = part_cls.from_dict(value, source=f"{source}: field {name!r}")
        return cls(**kw)

    def __str__(self) -> str:
        return f"{self.binary}_{self.mac}_{self.memory}"
