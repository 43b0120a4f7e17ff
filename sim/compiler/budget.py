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

Double buffering (``double=True``): the weight region is two halves, each sized for the
op with the most parameters; the ops with parameters use them in turn, and the load of
an op's parameters is a ``dma_pre`` (a prefetch) carried out by a compute descriptor that
runs after the half's previous user ended and before the op: the earliest one whose own
count leaves room for the whole load at any memory latency up to ``max_latency`` with no
wait states (:func:`prefetch_ok`), so its count, and the run's, are the sum of the counts
as before. An op with no such carrier gets its ``dma_in`` just before it, as without
double buffering.

:func:`budget_check` refuses a program whose scratchpad would exceed the budget, naming
the op at the peak. Not done here: splitting one op's weights into tiles, spilling
activations to external memory.
"""

from __future__ import annotations

import math

import numpy as np

from golden.accel_program import AccelTopCfg, OpDesc, desc_words
from sim.compiler.program import CompileError, Space

__all__ = ["Streamer", "budget_check", "budget_elems", "prefetch_ok"]


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


def prefetch_ok(desc: OpDesc, words: int, cfg: AccelTopCfg, max_latency: int) -> bool:
    """Whether compute descriptor ``desc`` can carry a ``dma_pre`` load of ``words`` words
    without a cycle more, at any memory latency up to ``max_latency`` and no wait states.

    Its ``RUN`` lasts ``t = count - desc_words - 4`` cycles at latency 1 (its count from
    :func:`sim.compiler.cycles.desc_cycles`; ``RUN`` does not depend on the latency).
    The load's command is issued in ``DISPATCH``, its first R beat comes at most
    ``max_latency + 1`` cycles into ``RUN``, and each of its beats waits while the writer
    stores (at most one cycle per output beat, or per element of a scattered writer);
    four cycles of margin on top. A descriptor with no cycle model is never a carrier."""
    from sim.compiler.cycles import desc_cycles  # lazy: the parts import this module

    try:
        count = desc_cycles(desc, cfg)
    except ValueError:
        return False
    outs = int(np.prod(desc.wn))
    stores = outs if desc.wvec or desc.wpack else outs * desc.wc
    run = count - desc_words(cfg) - 4
    return run >= max_latency + 1 + words + stores + 4


class Streamer:
    """The streaming hooks of one compiler pass (see the module doc). After the pass,
    ``wmax`` is the size (elements) of the largest op's parameters, ``wop`` that op;
    ``double``: two weight halves of ``half`` elements each (pass 1's ``wmax``) with
    prefetched loads (``max_latency``: see :func:`prefetch_ok`)."""

    def __init__(self, *, double: bool = False, half: int = 0, max_latency: int = 256):
        self.loads: list[tuple[int, np.ndarray]] = []  # (activation address, values)
        self.spans: list[tuple] = []  # (op, first desc, end desc, its weight Space)
        self.wmax, self.wop = 0, None
        self.load_pos: dict[int, int] = {}  # descriptor position -> blob index
        self.double, self.half, self.max_latency = double, half, max_latency
        self.weighted = 0  # ops with parameters so far
        self.prefetched = 0  # loads that became a dma_pre

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
        base = self.half * (self.weighted % 2) if self.double else 0
        c.pre = Space(base, c.L)
        self._start = len(c.descs)

    def end(self, c, op) -> None:
        self.spans.append((op, self._start, len(c.descs), c.pre))
        if c.pre.data:
            self.weighted += 1
        if c.pre.top - c.pre.base > self.wmax:
            self.wmax, self.wop = c.pre.top - c.pre.base, op.name

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
        ends = []  # where each op with parameters ends, in order
        carried: dict[int, tuple] = {}  # carrier position -> its dma_pre load
        for op, start, end, space in self.spans:
            if not space.data:
                continue
            words = np.zeros(space.top - space.base, np.int64)
            for addr, values in space.data:
                words[addr - space.base:addr - space.base + values.size] = values
            load = (op, space.base, words)
            if self.double:  # after the half's previous user, before the op
                first = ends[-2] if len(ends) >= 2 else 0
                i = next((i for i in range(first, start) if i not in carried
                          and prefetch_ok(c.descs[i][2], words.size // L, c.cfg,
                                          self.max_latency)), None)
                if i is not None:
                    carried[i] = load
                    self.prefetched += 1
                    load = None
            if load is not None:
                before.setdefault(start, []).append(load)
            ends.append(end)
        descs, blobs = [], []
        for i, entry in enumerate([*c.descs, None]):
            loads = [("dma_in", x) for x in before.get(i, ())]
            if i in carried:
                loads.append(("dma_pre", carried[i]))
            for unit, (op, addr, blob) in loads:
                self.load_pos[len(descs)] = len(blobs)
                blobs.append(blob)
                descs.append((op.name, op.layer, OpDesc(unit=unit,
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
    region = 2 * streamer.half if streamer.double else streamer.wmax
    raise CompileError(
        f"op {name!r} needs {need * kib:.2f} KiB on chip ({region * kib:.2f} KiB "
        f"weight region sized for op {streamer.wop!r}"
        f"{', two halves' if streamer.double else ''}, "
        f"{(top[peak] - c.act.base) * kib:.2f} KiB live activations, {counters * kib:.2f} "
        f"KiB cycle counters); the budget --onchip-kib is {onchip_kib:g} KiB")
