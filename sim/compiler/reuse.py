"""Buffer reuse: activation regions placed by liveness (:func:`reuse`)."""

from __future__ import annotations

import bisect
import dataclasses

from sim.compiler.program import CompileError

__all__ = ["reuse"]


def reuse(comp):
    """Move every activation region of ``comp`` (a :class:`sim.compiler.context.Context`)
    to an address shared with regions not live at the same time; rewrite the descriptors
    and views (and set ``comp.placement``: ``(first, last, addr, size)`` of every region
    a descriptor uses); return ``intact(*names)``: whether the region of the first of the tensors
    ``names`` that has a view is unchanged when the program ends.

    A region is live from the first descriptor that reads or writes it to the last one
    (operand bases and writer bases locate the region: a view never leaves its region).
    Regions are placed in order of first use at the lowest address free of every region
    still live (first fit); a region freed by descriptor ``i`` is reusable from ``i + 1``,
    since a unit reads its inputs while it writes its output.
    """
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
    # (first, last descriptor, address, size) of every region: the budget check's input
    comp.placement = [(first[r], last[r], new_addr[r], space.regions[r][1]) for r in first]

    def intact(*names: str) -> bool:
        """Whether the region of the first of ``names`` that has a view is unchanged at the
        end (no region first used later overlaps it)."""
        r = next(view_region[n] for n in names if n in view_region)
        if r is None:
            return True
        lo, hi = new_addr[r], new_addr[r] + space.regions[r][1]
        return not any(f > first[r] and at < hi and lo < at + n for f, at, n in placed)
    return intact
