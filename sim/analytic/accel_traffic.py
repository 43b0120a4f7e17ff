"""External-memory bytes of an accelerator program, exact to its DMA descriptors.

A ``dma_in`` descriptor reads ``rn[3]`` external words, a ``dma_out`` writes ``rn[3]``
(:mod:`golden.accel_program`); a word is ``lanes`` 32-bit elements. Compute descriptors
move nothing off chip. The sequencer's own reads (the op count and ``desc_words`` words a
descriptor) are counted apart, as ``fetch_bytes``: they are the program, not data.

:func:`op_traffic` sums the bytes per network op name (a streamed program's ``dma_in``
descriptors carry the name of the op they load for, :mod:`sim.compiler.budget`), in
program order, with the op's cycles from :func:`sim.analytic.accel_cycles.program_cycles`;
:func:`frame_traffic` is one frame's totals. :func:`stream_report` compiles a package for
an on-chip budget and reports both (``vitsim memory --accel-package DIR --onchip-kib N``).
"""

from __future__ import annotations

from golden.accel_program import AccelTopCfg, OpDesc, desc_words

__all__ = ["desc_bytes", "frame_traffic", "op_traffic", "stream_lines", "stream_report"]


def desc_bytes(desc: OpDesc, cfg: AccelTopCfg) -> tuple[int, int]:
    """``(read, written)``: external-memory bytes descriptor ``desc`` moves on ``cfg``."""
    word = cfg.lanes * 4
    if desc.unit in ("dma_in", "dma_pre"):
        return desc.rn[3] * word, 0
    if desc.unit == "dma_out":
        return 0, desc.rn[3] * word
    return 0, 0


def op_traffic(names, descs, cfg: AccelTopCfg) -> list[dict]:
    """Per op name, in order of first appearance: ``{"op", "read_bytes",
    "written_bytes", "fetch_bytes", "descriptors", "cycles"}``.

    Parameters
    ----------
    names : list of str
        The op name of each descriptor (a :class:`sim.compiler.program.Program`'s
        ``names``; the program's own ``dma_in``/``dma_out`` are rows of their own).
    descs : list of OpDesc
        The descriptors, in program order.
    cfg : AccelTopCfg
        The accelerator they run on.

    Returns
    -------
    list of dict
        ``cycles``: the sum of the descriptors' counts
        (:func:`sim.analytic.accel_cycles.program_cycles`; the final ``dma_out``'s count
        is one the dump cannot hold); ``None`` for every op when a descriptor has no cycle
        model (:class:`ValueError` of :func:`sim.analytic.accel_cycles.desc_cycles`).
    """
    from sim.analytic.accel_cycles import program_cycles

    fetch = desc_words(cfg) * cfg.lanes * 4
    try:
        counts = program_cycles(descs, cfg)
    except ValueError:  # a descriptor the cycle model does not price (Q-ViT's writers)
        counts = [None] * len(descs)
    rows: dict[str, dict] = {}
    for name, desc, cycles in zip(names, descs, counts, strict=True):
        row = rows.setdefault(name, {"op": name, "read_bytes": 0, "written_bytes": 0,
                                     "fetch_bytes": 0, "descriptors": 0, "cycles": 0})
        read, written = desc_bytes(desc, cfg)
        row["read_bytes"] += read
        row["written_bytes"] += written
        row["fetch_bytes"] += fetch
        row["descriptors"] += 1
        row["cycles"] = None if cycles is None or row["cycles"] is None else (
            row["cycles"] + cycles)
    return list(rows.values())


def frame_traffic(names, descs, cfg: AccelTopCfg) -> dict:
    """One frame's totals of :func:`op_traffic`; ``fetch_bytes`` includes the op count
    word the sequencer reads first."""
    rows = op_traffic(names, descs, cfg)
    out = {key: sum(r[key] for r in rows)
           for key in ("read_bytes", "written_bytes", "fetch_bytes", "descriptors")}
    out["cycles"] = None if any(r["cycles"] is None for r in rows) else sum(
        r["cycles"] for r in rows)
    out["fetch_bytes"] += cfg.lanes * 4
    return out


def stream_report(package, onchip_kib: float, *, image: int = 0,
                  double_buffer: bool = False) -> dict:
    """Compile image ``image`` of network package ``package`` for ``onchip_kib`` KiB on
    chip (:func:`sim.compiler.compile_network`) and return its figures: ``onchip_kib``,
    ``scratch_bytes`` (used), ``weight_region_bytes``, ``frame`` (:func:`frame_traffic`)
    and ``ops`` (:func:`op_traffic`); ``double_buffer``: the weights prefetched under
    compute (:mod:`sim.compiler.budget`; ``prefetched``: the loads that are). Raises
    :class:`sim.compiler.CompileError` naming the op when the budget is too small."""
    from sim.compiler import compile_network

    prog = compile_network(package, image=image, onchip_kib=onchip_kib,
                           double_buffer=double_buffer)
    return {"onchip_kib": onchip_kib, "double_buffer": double_buffer,
            "prefetched": prog.meta["prefetched"], "scratch_bytes": prog.used * 4,
            "weight_region_bytes": prog.preload * 4,
            "frame": frame_traffic(prog.names, prog.descs, prog.cfg),
            "ops": op_traffic(prog.names, prog.descs, prog.cfg)}


def stream_lines(rep: dict) -> list[str]:
    """The table lines of a :func:`stream_report`."""
    pre = (f", double-buffered: {rep['prefetched']} loads prefetched under compute"
           if rep.get("double_buffer") else "")
    lines = [f"streamed at --onchip-kib {rep['onchip_kib']:g}: scratchpad "
             f"{rep['scratch_bytes'] / 1024:.2f} KiB used "
             f"({rep['weight_region_bytes'] / 1024:.2f} KiB weight region{pre})",
             f"{'accelerator op':<30} {'DRAM read B':>12} {'written B':>10} {'cycles':>9}"]
    for r in rep["ops"]:
        cyc = "-" if r["cycles"] is None else f"{r['cycles']:,}"
        lines.append(f"{r['op']:<30} {r['read_bytes']:>12,} {r['written_bytes']:>10,} "
                     f"{cyc:>9}")
    f = rep["frame"]
    lines.append(f"streamed frame (exact to the DMA descriptors): {f['read_bytes']:,} bytes "
                 f"read, {f['written_bytes']:,} written (the final dump of the scratchpad), "
                 f"{f['fetch_bytes']:,} of descriptors fetched; "
                 + ("cycles not modelled" if f["cycles"] is None
                    else f"{f['cycles']:,} cycles counted"))
    return lines
