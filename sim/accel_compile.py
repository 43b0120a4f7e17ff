"""Compile a network golden package into a program of the accelerator (``vitsim compile``).

Input: a network package (:mod:`golden.netpkg`) and one of its recorded images. Output: a
:class:`Program` -- the descriptors (:mod:`golden.accel_program`), the external-memory
image that holds them and the preloaded scratchpad data, and where every produced tensor
lies in the scratchpad so the bench can compare it with the package.

Scratchpad layout: the *preload* region (``[0, preload)``: parameters packed at their field
widths per beat, the image, the prepended token rows) comes in by one ``dma_in``; every
op output then gets its own region (no reuse, so every layer can be read back at the end);
a final ``dma_out`` copies the used scratchpad to external memory.

Tiling and loop order, per op kind (``M`` tokens, ``K`` reduction, ``N`` outputs):

- binary/integer matmul on the ``R x C`` array: loops ``(m, n / R, k / C)``, the reduction
  innermost (output stationary: one ``R``-lane result per ``k / C`` beats); activation bits
  are read packed (groups of the threshold unit's lanes), weights as per-beat ``R x C``
  tiles packed at ``w_bits``; ``q @ k^T`` takes ``R`` key rows as the weight tile (keys
  wider than ``C`` columns are written chunk-major, ``[H, D / C, N, C]``, so a tile is one
  vector read: :func:`sim.accel_ops.key_layout`);
- elementwise units (threshold, requantiser, residual, GELU, GSB encoder): ``lanes``
  elements a beat along the last axis (or the flat tensor when the last axis is not a
  multiple of ``lanes``); per-channel parameters are packed per beat and stored once per
  distinct beat (stride 0 along loops they do not vary over);
- per-head integer matmul (``int_bmm``) on the MAC array, one descriptor per run of heads
  at equal widths: ``q @ k^T`` as the binary array's (``R`` key rows as the weight tile,
  loops ``(h, m, n / R, d / C)``), its output kept contiguous (a last partial tile spills
  into the next row, rewritten later); ``attn @ v``: the requantiser first copies ``v``
  transposed and zero-padded to ``[H, D, ceil(N / C) * C]``, then loops
  ``(h, m, d / R, Np / C)``, ``R`` rows of ``v^T`` as the weight tile; a requantiser with
  head-wise clamps runs once per run of heads;
- LayerNorm and softmax: one element a beat, a row at a time;
- GSB A.V per head: the V columns (one a beat, bit-planes over tokens), then the rows of A;
- data movement (split/merge heads, prepend, take token): no op; the producer writes into,
  or the consumer reads from, a strided view.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from golden.accel_program import (
    ELEM_BITS,
    NUM_LOOPS,
    AccelTopCfg,
    OpDesc,
    Operand,
    desc_words,
    encode_desc,
)
from golden.errors import VitsimError

__all__ = ["CompileError", "Program", "TensorLoc", "View", "compile_network"]

ALIGN_ROWS = 8  # rows of [.., N, X] buffers are padded to a multiple of this


class CompileError(VitsimError):
    """The package has an op the accelerator cannot run, or it does not fit the config."""


@dataclass(frozen=True)
class View:
    """Elements ``addr + sum(idx * strides)`` of a logical tensor of ``shape``.

    ``fmt``: ``"int"`` (one value an element), ``"bits"`` (``group`` bits of the last axis
    packed in one element, ``strides[-1]`` counting elements), ``"planes"`` (one value an
    element whose bit ``q`` is plane ``q``).
    """

    addr: int
    shape: tuple
    strides: tuple
    fmt: str = "int"
    group: int = 1

    def sub(self, axis: int, index: int) -> View:
        """The view with ``axis`` fixed at ``index``."""
        return View(self.addr + index * self.strides[axis],
                    self.shape[:axis] + self.shape[axis + 1:],
                    self.strides[:axis] + self.strides[axis + 1:], self.fmt, self.group)

    def contiguous(self) -> bool:
        expect, ok = 1, True
        for n, s in zip(reversed(self.shape), reversed(self.strides), strict=True):
            ok &= n == 1 or s == expect
            expect *= n
        return ok


@dataclass(frozen=True)
class TensorLoc:
    """Where a produced tensor lies: its view; of a planes view, bit ``plane`` (``count``
    None) or the ``count`` bits from ``plane`` on, stacked on a new leading axis; ``shape``:
    the package's shape when the view splits an axis (chunked keys)."""

    view: View
    plane: int | None = None
    count: int | None = None
    shape: tuple | None = None


@dataclass
class Program:
    """A compiled program and everything needed to run and check it."""

    cfg: AccelTopCfg
    descs: list  # OpDesc
    names: list  # network op name (or "dma_in"/"dma_out") of each descriptor
    layers: list  # network layer of each descriptor (None outside blocks)
    ext: np.ndarray  # [ext_words, lanes] uint32, the external memory image
    dump_word: int  # external word where the final dma_out puts scratchpad word 0
    used: int  # scratchpad elements used
    preload: int  # elements loaded by dma_in
    outputs: dict  # tensor name -> TensorLoc
    cnt_base: int  # scratchpad element of descriptor 0's cycle counter
    expected: dict = field(default_factory=dict)  # tensor name -> recorded value (1 image)
    meta: dict = field(default_factory=dict)


def _pow2_at_least(n: int) -> int:
    return 1 << max(0, (n - 1).bit_length())


def _pack_words(values: np.ndarray, bits: int) -> np.ndarray:
    """``values[..., n]`` as fields of ``bits`` (two's complement), LSB first, cut into
    32-bit elements ``[..., ceil(n * bits / 32)]``."""
    values = np.asarray(values, dtype=object)
    lead, n = values.shape[:-1], values.shape[-1]
    epb = -(-n * bits // ELEM_BITS)
    flat = values.reshape(-1, n)
    out = np.zeros((flat.shape[0], epb), dtype=np.int64)
    mask = (1 << bits) - 1
    for r, row in enumerate(flat):
        word = 0
        for i, v in enumerate(row):
            word |= (int(v) & mask) << (i * bits)
        for e in range(epb):
            out[r, e] = (word >> (e * ELEM_BITS)) & 0xFFFFFFFF
    return out.reshape(*lead, epb)


class _Space:
    """A bump allocator of scratchpad elements, each region aligned to a word."""

    def __init__(self, base: int, lanes: int):
        self.base, self.top, self.lanes = base, base, lanes
        self.data: list[tuple[int, np.ndarray]] = []
        self.regions: list[tuple[int, int]] = []  # (start, size) of every allocation

    def alloc(self, n: int) -> int:
        addr = self.top
        size = -(-max(n, 1) // self.lanes) * self.lanes
        self.top += size
        self.regions.append((addr, size))
        return addr

    def put(self, values: np.ndarray) -> int:
        values = np.asarray(values, dtype=np.int64).reshape(-1)
        addr = self.alloc(values.size)
        self.data.append((addr, values))
        return addr


def _strides(shape, pad_rows: bool, pad_last: int = 1) -> tuple[tuple, int]:
    """Row-major strides of ``shape`` (the second-to-last axis padded to ALIGN_ROWS when
    ``pad_rows``, the last to a multiple of ``pad_last``); returns ``(strides, elements)``."""
    dims = list(shape)
    dims[-1] = -(-dims[-1] // pad_last) * pad_last
    if pad_rows and len(dims) >= 2:
        dims[-2] = -(-dims[-2] // ALIGN_ROWS) * ALIGN_ROWS
    strides, acc = [], 1
    for n in reversed(dims):
        strides.append(acc)
        acc *= n
    return tuple(reversed(strides)), acc


# The op compilers live in sim.accel_ops; this module holds the shared machinery.
from sim.accel_ops import (  # noqa: E402
    OP_COMPILERS,
    accel_config_for,
    data_movement,
    key_layout,
)


class _Compiler:
    def __init__(self, net, image: int, cfg: AccelTopCfg, act_base: int):
        self.net, self.image, self.cfg = net, image, cfg
        self.L = cfg.lanes
        self.pre = _Space(0, self.L)
        self.act = _Space(act_base, self.L)
        self.views: dict[str, View] = {}
        self.key_shapes: dict[str, tuple] = {}  # chunked keys (key_layout): package shape
        self.descs: list[tuple[str, object, OpDesc]] = []

    # -- tensors
    def value(self, name: str) -> np.ndarray:
        return np.asarray(self.net.get(name, self.image))

    def is_param(self, name: str) -> bool:
        return name not in self.net.outputs and name != "image"

    def new_view(self, shape, *, fmt="int", group=1, pad_rows=False, pad_last=1) -> View:
        """A new activation region; ``pad_last``: the last axis padded to a multiple (a
        matmul's last output tile lands in the padding)."""
        shape = tuple(int(s) for s in shape)
        store = shape[:-1] + (shape[-1] // group,) if fmt == "bits" else shape
        strides, n = _strides(store, pad_rows, pad_last)
        addr = self.act.alloc(n)
        return View(addr, shape, strides, fmt, group)

    def view(self, name: str) -> View:
        """The view of an activation tensor (the image is preloaded on first use)."""
        if name not in self.views:
            if name != "image":
                raise CompileError(f"tensor {name!r} is read before any op writes it")
            img = self.value("image")
            addr = self.pre.put(img)
            strides, _ = _strides(img.shape, False)
            self.views[name] = View(addr, tuple(img.shape), strides)
        return self.views[name]

    def out_view(self, name: str, **kw) -> View:
        """The view an op writes ``name`` into (an alias set up by a later data move, or a
        new region)."""
        if name not in self.views:
            self.views[name] = self.new_view(self.value(name).shape, **kw)
        return self.views[name]

    def emit(self, op: dict, desc: OpDesc) -> None:
        if desc.unit not in ("dma_in", "dma_out") and desc.unit not in self.cfg.units:
            raise CompileError(f"op {op['name']!r}: the accelerator has no {desc.unit} unit")
        self.descs.append((op["name"], op.get("layer"), desc))

    # -- parameters
    def param_operand(self, beats: np.ndarray, bits: int, loops: tuple) -> Operand:
        """A parameter operand: ``beats[loops..., lanes]`` values packed at ``bits`` per
        beat, stored once per distinct beat (stride 0 along loops it does not vary over)."""
        words = _pack_words(beats.reshape(*loops, beats.shape[-1]), bits)
        epb = words.shape[-1]
        vl = _pow2_at_least(epb)
        if vl > self.L:
            raise CompileError(f"a parameter beat of {epb} elements exceeds {self.L} lanes")
        keep = []
        for axis in range(NUM_LOOPS):
            if loops[axis] > 1 and not np.all(words == np.take(words, [0], axis=axis)):
                keep.append(axis)
            else:
                words = np.take(words, [0], axis=axis)
        words = np.concatenate([words, np.zeros(words.shape[:-1] + (vl - epb,), np.int64)],
                               axis=-1)
        strides = [0] * NUM_LOOPS
        acc = vl
        for axis in reversed(range(NUM_LOOPS)):
            if axis in keep:
                strides[axis] = acc
                acc *= loops[axis]
        addr = self.pre.put(words)
        return Operand(base=addr, s=tuple(strides), n_in=1, vl_log=vl.bit_length() - 1,
                       ebits=32)

    def compile(self, ops: list[dict]) -> None:
        for op in reversed(ops):  # producers write straight into the buffers data moves make
            if op["kind"] in ("prepend", "merge_heads"):
                data_movement(self, op, backward=True)
        for op in ops:
            key_layout(self, op)
        for op in ops:
            if op["kind"] in ("split_heads", "to_heads", "take_token", "prepend",
                              "merge_heads"):
                data_movement(self, op, backward=False)
                continue
            if op["kind"] not in OP_COMPILERS:
                raise CompileError(f"op {op['name']!r}: no accelerator mapping for kind "
                                   f"{op['kind']!r}")
            try:
                OP_COMPILERS[op["kind"]](self, op)
            except CompileError as exc:
                if str(exc).startswith("op "):
                    raise
                raise CompileError(f"op {op['name']!r}: {exc}") from None


def compile_network(pkg, *, image: int = 0, cfg: AccelTopCfg | None = None,
                    reuse: bool = False) -> Program:
    """Compile every op of network package ``pkg`` for ``image``.

    ``cfg`` (default: :func:`sim.accel_ops.accel_config_for` of the package) must have a
    unit for every op kind. ``reuse`` places activation buffers by liveness
    (:func:`_reuse`): the scratchpad shrinks to the preload plus the peak of live
    activations, and the program's ``outputs``/``expected`` keep only the tensors still
    intact when it ends (the logits always are). Raises :class:`CompileError` naming the op
    that does not fit.
    """
    from golden.cut import _Net
    from golden.netpkg import read_network

    pkg = pkg if hasattr(pkg, "manifest") else read_network(pkg)
    net = _Net(pkg)
    if not 0 <= image < net.images():
        raise CompileError(f"image must be between 0 and {net.images() - 1}, not {image}")
    cfg = cfg or accel_config_for(net)
    # pass 1 sizes the preload region; pass 2 places the activations after it
    first = _Compiler(net, image, cfg, act_base=0)
    first.compile(net.ops)
    comp = _Compiler(net, image, cfg, act_base=first.pre.top)
    comp.compile(net.ops)
    L = cfg.lanes
    preload = comp.pre.top
    intact = _reuse(comp) if reuse else None
    n_ops = len(comp.descs) + 2
    cnt_base = comp.act.alloc(n_ops)
    used = comp.act.top
    dw = desc_words(cfg)
    data_word = 1 + n_ops * dw
    dump_word = data_word + preload // L
    ext_words = dump_word + used // L
    # powers of two, so programs of one model share a Verilog build
    cfg = AccelTopCfg(lanes=L, depth=_pow2_at_least(max(used // L, cfg.depth)),
                      units=cfg.units, ext_words=_pow2_at_least(max(ext_words, cfg.ext_words)))
    descs = [("dma_in", None, OpDesc(unit="dma_in", rn=(1, 1, 1, preload // L), wbase=0,
                                     k=(data_word,)))]
    descs += comp.descs
    descs.append(("dma_out", None, OpDesc(unit="dma_out", rn=(1, 1, 1, used // L), wbase=0,
                                          k=(dump_word,))))
    final = []
    for p, (name, layer, d) in enumerate(descs):
        final.append((name, layer, OpDesc(**{**d.__dict__, "cnt_addr": cnt_base + p})))

    ext = np.zeros((ext_words, L), dtype=np.uint32)
    ext[0, 0] = n_ops
    for p, (_, _, d) in enumerate(final):
        word = encode_desc(d)
        for w in range(dw):
            chunk = (word >> (w * cfg.word_bits)) & ((1 << cfg.word_bits) - 1)
            ext[1 + p * dw + w] = [(chunk >> (32 * e)) & 0xFFFFFFFF for e in range(L)]
    scratch = np.zeros(preload, dtype=np.int64)
    for addr, values in comp.pre.data:
        scratch[addr:addr + values.size] = values
    ext[data_word:dump_word] = (scratch & 0xFFFFFFFF).astype(np.uint32).reshape(-1, L)

    outputs, expected = {}, {}
    for op in net.ops:
        for name in op["outputs"]:
            loc = _loc(comp, op, name)
            if loc is not None and (intact is None or intact(name, op["outputs"][0])):
                outputs[name] = loc
                expected[name] = _expected(net, op, name, image)
    return Program(cfg=cfg, descs=[d for _, _, d in final], names=[n for n, _, _ in final],
                   layers=[la for _, la, _ in final], ext=ext, dump_word=dump_word,
                   used=used, preload=preload, outputs=outputs, cnt_base=cnt_base,
                   expected=expected,
                   meta={"model": (net.pkg.manifest.get("model") or {}).get("name"),
                         "image": image, "package": str(net.pkg.path),
                         "label": _label(net, image), "reuse": reuse,
                         "op_outputs": {op["name"]: op["outputs"] for op in net.ops}})


def _reuse(comp: _Compiler):
    """Move every activation region to an address shared with regions not live at the same
    time; rewrite the descriptors and views; return ``intact(*names)``: whether the region
    of the first of the tensors ``names`` that has a view is unchanged when the program
    ends.

    A region is live from the first descriptor that reads or writes it to the last one
    (operand bases and writer bases locate the region: a view never leaves its region).
    Regions are placed in order of first use at the lowest address free of every region
    still live (first fit); a region freed by descriptor ``i`` is reusable from ``i + 1``,
    since a unit reads its inputs while it writes its output.
    """
    import bisect
    import dataclasses

    space = comp.act
    starts = [a for a, _ in space.regions]

    def region(addr: int) -> int | None:
        if addr < space.base:
            return None  # the preload region stays where it is
        r = bisect.bisect_right(starts, addr) - 1
        if r < 0 or addr >= starts[r] + space.regions[r][1]:
            raise CompileError(f"scratchpad element {addr} lies in no activation region")
        return r

    first, last = {}, {}
    for i, (_, _, d) in enumerate(comp.descs):
        for addr in [o.base for o in d.ops] + [d.wbase]:
            r = region(addr)
            if r is not None:
                first.setdefault(r, i)
                last[r] = i
    new_addr, live, placed = {}, [], []  # live: (addr, size, last use)
    for r in sorted(first, key=lambda r: (first[r], r)):
        live = [x for x in live if x[2] >= first[r]]
        size, at = space.regions[r][1], space.base
        for addr, n, _ in sorted(live):
            if at + size <= addr:
                break
            at = max(at, addr + n)
        new_addr[r] = at
        live.append((at, size, last[r]))
        placed.append((first[r], at, size))

    def move(addr: int) -> int:
        r = region(addr)
        return addr if r is None else addr - starts[r] + new_addr.get(r, space.base)

    comp.descs = [(name, layer, dataclasses.replace(
        d, wbase=move(d.wbase), ops=tuple(dataclasses.replace(o, base=move(o.base))
                                          for o in d.ops)))
        for name, layer, d in comp.descs]
    view_region = {name: region(v.addr) for name, v in comp.views.items()}
    comp.views = {name: dataclasses.replace(v, addr=move(v.addr))
                  for name, v in comp.views.items()}
    space.top = max((at + n for _, at, n in placed), default=space.base)

    def intact(*names: str) -> bool:
        """Whether the region of the first of ``names`` that has a view is unchanged at the
        end (no region first used later overlaps it)."""
        r = next(view_region[n] for n in names if n in view_region)
        if r is None:
            return True
        lo, hi = new_addr[r], new_addr[r] + space.regions[r][1]
        return not any(f > first[r] and at < hi and lo < at + n for f, at, n in placed)
    return intact


def _label(net, image):
    images = net.pkg.manifest.get("images") or {}
    labels = images.get("labels")
    return None if labels is None else int(labels[image])


def _loc(comp: _Compiler, op: dict, name: str) -> TensorLoc | None:
    planes = 1 + len(op.get("ratios", ()))  # bits of a GSB encoder output element
    if op["kind"] == "gsb_value_planes":  # bit 0: the sign, bits 1..: the masks
        base = comp.views[op["outputs"][0]]
        if name == op["outputs"][0]:
            return TensorLoc(base, 0)
        return TensorLoc(base, 1, planes - 1)
    if op["kind"] == "gsb_attn_planes":
        return TensorLoc(comp.views[name], 0, planes)
    view = comp.views.get(name)
    return None if view is None else TensorLoc(view, shape=comp.key_shapes.get(name))


def _expected(net, op, name, image):
    arr = net.tensors[name]
    planes_first = op["kind"] == "gsb_attn_planes" or (
        op["kind"] == "gsb_value_planes" and name != op["outputs"][0])
    return np.asarray(arr[:, image] if planes_first else arr[image])  # planes lead


def read_back(program: Program, scratch: np.ndarray) -> dict:
    """Each produced tensor's value from the dumped scratchpad (int64, logical shape)."""
    out = {}
    for name, loc in program.outputs.items():
        v = loc.view
        if v.fmt == "bits":
            shape = v.shape[:-1] + (v.shape[-1] // v.group,)
            words = _gather(scratch, v.addr, shape, v.strides)
            bits = (words[..., None] >> np.arange(v.group)) & 1
            out[name] = bits.reshape(loc.shape or v.shape)
            continue
        vals = _gather(scratch, v.addr, v.shape, v.strides)
        if loc.plane is None:
            out[name] = vals
        elif loc.count is None:
            out[name] = (vals >> loc.plane) & 1
        else:
            out[name] = np.stack([(vals >> (loc.plane + q)) & 1 for q in range(loc.count)])
    return out


def _gather(scratch, addr, shape, strides):
    idx = np.full(shape, addr, dtype=np.int64)
    for axis, (n, s) in enumerate(zip(shape, strides, strict=True)):
        sh = [1] * len(shape)
        sh[axis] = n
        idx = idx + (np.arange(n) * s).reshape(sh)
    return scratch[idx]

