"""On-chip buffers sized by a budget (``--onchip-kib``): weights stay in external memory.

A :class:`Streamer` rides along one pass of the compiler (:func:`sim.compiler.compile`)
and changes where data lives:

- every op's parameters go to one *weight region* ``[0, wmax)`` of the scratchpad, reused
  by every op and sized for the op with the most (its packed beats, as
  :meth:`sim.compiler.context.Context.param_operand` lays them out); a ``dma_in`` loads
  the op's parameters there just before the op's first descriptor;
- the image and the prepended token rows are activation regions whose initial values come
  in by a ``dma_in`` just before the first op that reads or writes them;
- every activation region is then placed by liveness (:func:`sim.compiler.reuse.reuse`).

:func:`budget_check` refuses a program whose scratchpad would exceed the budget, naming
the op at the peak. Not done here: splitting one op's weights into tiles, double
buffering (a load overlapping compute), spilling activations to external memory.
"""

from __future__ import annotations

import math

import numpy as np

from golden.accel_program import OpDesc
from sim.compiler.program import CompileError, Space

__all__ = ["Streamer", "budget_check", "budget_elems"]


def budget_elems(onchip_kib: float, lanes: int) -> int:
    """Scratchpad elements of a budget of ``onchip_kib`` KiB: whole words of ``lanes``
    32-bit elements. Raises :class:`CompileError` for a budget that is not a positive
    finite number or holds less than one word."""
    if not isinstance(onchip_kib, (int, float)) or not math.isfinite(onchip_kib) \
            or onchip_kib <= 0:
        raise CompileError(f"--onchip-kib must be a positive number of KiB, not {onchip_kib}")
    words = int(onchip_kib * 1024) // (4 * lanes)
    if words < 1:
        raise CompileError(f"--onchip-kib {onchip_kib:g} holds no scratchpad word "
                           f"({4 * lanes} bytes)")
    return words * lanes


class _InitSpace:
    """What :meth:`Space.put` becomes for the image and the token rows: an activation
    region whose values are loaded by ``dma_in`` (recorded in ``loads``)."""

    def __init__(self, act: Space, loads: list):
        self.act, self.loads = act, loads

    def put(self, values) -> int:
        values = np.asarray(values, dtype=np.int64).reshape(-1)
        addr = self.act.alloc(values.size)
        self.loads.append((addr, values))
        return addr


class Streamer:
    """The streaming hooks of one compiler pass (see the module doc). After the pass,
    ``wmax`` is the weight region's size (elements) and ``wop`` the op that sets it."""

    def __init__(self):
        self.loads: list[tuple[int, np.ndarray]] = []  # (activation address, values)
        self.spans: list[tuple] = []  # (op, first desc, end desc, its weight Space)
        self.wmax, self.wop = 0, None
        self.load_pos: dict[int, int] = {}  # descriptor position -> blob index

    def start(self, c) -> None:
        """Before the data moves: token rows become loaded activation regions."""
        c.pre = _InitSpace(c.act, self.loads)

    def ready(self, c, ops) -> None:
        """Before the first op: the image becomes a loaded activation region."""
        op = next((op for op in ops if "image" in op.inputs), None)
        if op is not None and op.kind == "patch_matmul":
            c.patch_image("image", op.patch)  # the patch embedding's band layout
        elif op is not None:
            c.view("image")

    def begin(self, c, op) -> None:
        c.pre = Space(0, c.L)
        self._start = len(c.descs)

    def end(self, c, op) -> None:
        self.spans.append((op, self._start, len(c.descs), c.pre))
        if c.pre.top > self.wmax:
            self.wmax, self.wop = c.pre.top, op.name

    def insert_loads(self, c) -> list[np.ndarray]:
        """Put the ``dma_in`` descriptors into ``c.descs`` (their ``k`` still 0: the
        external word of blob ``load_pos[position]`` is set when the program is laid out);
        return the blobs (int64 elements, whole words) in program order."""
        L = c.L
        before: dict[int, list] = {}
        for addr, values in self.loads:
            size = -(-values.size // L) * L
            i = next((i for i, (_, _, d) in enumerate(c.descs)
                      if any(addr <= a < addr + size for a in _bases(d))), None)
            if i is None:
                continue  # never read nor written: nothing to load
            op, start = next((op, s) for op, s, e, _ in self.spans if s <= i < e)
            full = np.zeros(size, np.int64)
            full[:values.size] = values
            before.setdefault(start, []).append((op, addr, full))
        for op, start, _, space in self.spans:
            if space.data:
                words = np.zeros(space.top, np.int64)
                for addr, values in space.data:
                    words[addr:addr + values.size] = values
                before.setdefault(start, []).append((op, 0, words))
        descs, blobs = [], []
        for i, entry in enumerate([*c.descs, None]):
            for op, addr, blob in before.get(i, ()):
                self.load_pos[len(descs)] = len(blobs)
                blobs.append(blob)
                descs.append((op.name, op.layer, OpDesc(unit="dma_in",
                                                        rn=(1, 1, 1, blob.size // L),
                                                        wbase=addr, k=(0,))))
            if entry is not None:
                descs.append(entry)
        c.descs = descs
        return blobs


def _bases(d: OpDesc) -> list[int]:
    return [o.base for o in d.ops] + [d.wbase]


def budget_check(c, streamer: Streamer, placement, counters: int, budget: int,
                 onchip_kib: float) -> int:
    """The scratchpad elements the program needs (the weight region, the peak of the live
    activation regions, ``counters`` elements of cycle counters on top); raises
    :class:`CompileError` naming the op at the peak when that exceeds ``budget``
    (elements; ``onchip_kib``: the budget as the user gave it).

    ``placement``: ``(first, last, addr, size)`` of every activation region, descriptor
    positions in ``c.descs`` (:func:`sim.compiler.reuse.reuse`)."""
    top = [c.act.base] * len(c.descs)
    for first, last, addr, size in placement:
        for i in range(first, last + 1):
            top[i] = max(top[i], addr + size)
    need = max(top, default=c.act.base) + counters
    if need <= budget:
        return need
    peak = top.index(max(top))
    name = c.descs[peak][0]
    kib = 4 / 1024
    raise CompileError(
        f"op {name!r} needs {need * kib:.2f} KiB on chip ({streamer.wmax * kib:.2f} KiB "
        f"weight region sized for op {streamer.wop!r}, "
        f"{(top[peak] - c.act.base) * kib:.2f} KiB live activations, {counters * kib:.2f} "
        f"KiB cycle counters); the budget --onchip-kib is {onchip_kib:g} KiB")
