"""The state of one compilation that the op compilers share (:class:`Context`)."""

from __future__ import annotations

import numpy as np

from golden.accel_program import NUM_LOOPS, AccelTopCfg, OpDesc, Operand
from golden.netspec import Op
from sim.compiler.program import CompileError, Space, View, pack_words, pow2_at_least, row_major

__all__ = ["Context"]


class Context:
    """One pass of the compiler over a network: the two scratchpad spaces (``pre``: the
    preloaded parameters, image and token rows; ``act``: the activations from
    ``act_base`` on), the view of every tensor placed so far, and the descriptors emitted,
    as ``(op name, layer, OpDesc)``."""

    def __init__(self, net, image: int, cfg: AccelTopCfg, act_base: int):
        self.net, self.image, self.cfg = net, image, cfg
        self.L = cfg.lanes
        self.pre = Space(0, self.L)
        self.act = Space(act_base, self.L)
        self.views: dict[str, View] = {}
        self.key_shapes: dict[str, tuple] = {}  # chunked keys (key_layout): package shape
        self.tail_copied: set[str] = set()  # flat outputs whose last beat is whole
        self.descs: list[tuple[str, object, OpDesc]] = []

    # -- tensors
    def value(self, name: str) -> np.ndarray:
        return np.asarray(self.net.get(name, self.image))

    def is_param(self, name: str) -> bool:
        return name not in self.net.outputs and name != "image"

    def unit_cfg(self, slot: str):
        """The config of unit ``slot`` (:class:`CompileError` when there is none)."""
        if slot not in self.cfg.units:
            raise CompileError(f"the accelerator has no {slot} unit")
        return self.cfg.units[slot]

    def new_view(self, shape, *, fmt="int", group=1, pad_rows=False, pad_last=1) -> View:
        """A new activation region; ``pad_last``: the last axis padded to a multiple (a
        matmul's last output tile lands in the padding)."""
        shape = tuple(int(s) for s in shape)
        store = shape[:-1] + (shape[-1] // group,) if fmt == "bits" else shape
        strides, n = row_major(store, pad_rows, pad_last)
        addr = self.act.alloc(n)
        return View(addr, shape, strides, fmt, group)

    def view(self, name: str) -> View:
        """The view of an activation tensor (the image is preloaded on first use)."""
        if name not in self.views:
            if name != "image":
                raise CompileError(f"tensor {name!r} is read before any op writes it")
            img = self.value("image")
            addr = self.pre.put(img)
            strides, _ = row_major(img.shape, False)
            self.views[name] = View(addr, tuple(img.shape), strides)
        return self.views[name]

    def patch_image(self, name: str, p: int) -> View:
        """The image ``[C, H, W]`` in the scratchpad as rows of ``p``-pixel bands, band-major
        and channel-interleaved (:func:`sim.compiler.tiling.patch_rows`): the view
        ``[H / p, C * p, W]`` whose row ``c * p + y`` of band ``b`` is channel ``c``'s pixel
        row ``b * p + y`` (one channel: the image's own row-major layout)."""
        if name in self.views:
            return self.views[name]
        img = self.value(name)
        if img.ndim != 3 or img.shape[1] % p or img.shape[2] % p:
            raise CompileError(f"tensor {name!r}: an image [C, H, W] of whole {p}x{p} "
                               f"patches, not {list(img.shape)}")
        ch, hh, ww = img.shape
        rows = img.reshape(ch, hh // p, p, ww).transpose(1, 0, 2, 3)
        rows = rows.reshape(hh // p, ch * p, ww)
        addr = self.pre.put(rows)
        self.views[name] = View(addr, rows.shape, (ch * p * ww, ww, 1))
        return self.views[name]

    def out_view(self, name: str, **kw) -> View:
        """The view an op writes ``name`` into (an alias set up by a later data move, or a
        new region)."""
        if name not in self.views:
            self.views[name] = self.new_view(self.value(name).shape, **kw)
        return self.views[name]

    def emit(self, op: Op, desc: OpDesc) -> None:
        if desc.unit not in ("dma_in", "dma_out") and desc.unit not in self.cfg.units:
            raise CompileError(f"op {op.name!r}: the accelerator has no {desc.unit} unit")
        if desc.wvec and desc.wc and desc.wbase % self.L + desc.wc > self.L:
            # the writer stores one word a vector beat: the lanes past it would be lost
            raise CompileError(f"op {op.name!r}: {desc.unit} writes {desc.wc} elements a beat "
                               f"as one vector from lane {desc.wbase % self.L}, past the end "
                               f"of the {self.L}-lane word")
        self.descs.append((op.name, op.layer, desc))

    # -- parameters
    def param_operand(self, beats: np.ndarray, bits: int, loops: tuple) -> Operand:
        """A parameter operand: ``beats[loops..., lanes]`` values packed at ``bits`` per
        beat, stored once per distinct beat (stride 0 along loops it does not vary over);
        a beat wider than one word spans whole consecutive words, read a word a sub-cycle
        (``n_out`` of them)."""
        beats = np.asarray(beats).reshape(*loops, beats.shape[-1])
        keep = []  # the loops the beats vary over (one beat stored per distinct beat)
        for axis in range(NUM_LOOPS):
            if loops[axis] > 1 and not np.all(beats == np.take(beats, [0], axis=axis)):
                keep.append(axis)
            else:
                beats = np.take(beats, [0], axis=axis)
        words = pack_words(beats, bits)
        for axis in list(keep):  # beats that differ only in bits past the field width
            if np.all(words == np.take(words, [0], axis=axis)):
                keep.remove(axis)
                words = np.take(words, [0], axis=axis)
        epb = words.shape[-1]
        # a beat wider than one word is read as consecutive whole words, a word a sub-cycle
        vl = min(pow2_at_least(epb), self.L)
        n_out = -(-epb // vl)
        words = np.concatenate([words, np.zeros(words.shape[:-1] + (n_out * vl - epb,),
                                                np.int64)], axis=-1)
        strides = [0] * NUM_LOOPS
        acc = n_out * vl
        for axis in reversed(range(NUM_LOOPS)):
            if axis in keep:
                strides[axis] = acc
                acc *= loops[axis]
        addr = self.pre.put(words)
        return Operand(base=addr, s=tuple(strides), n_in=1, vl_log=vl.bit_length() - 1,
                       ebits=32, n_out=n_out, d_out=vl if n_out > 1 else 0)
