"""Cycles of an op on the arrays, read from the arrays' own ``cycles`` methods.

A :class:`~sim.analytic.footprint.Pass` is padded to the array's tile (``n`` up to a
multiple of ``rows``, ``k`` up to a multiple of ``cols``; pad elements contribute zero or a
known constant that the compiler subtracts) and its reduction is cut into chunks of at most
``max_k``; each chunk is one array invocation priced by
:meth:`golden.spec.BinaryArrayCfg.cycles` or :meth:`golden.accel_spec.MacArrayCfg.cycles`
(so every invocation pays the array latency once; no overlap between invocations).
"""

from __future__ import annotations

import dataclasses

from golden.spec import BinaryArrayCfg, MacArrayCfg
from sim.analytic.footprint import Pass

__all__ = ["array_cycles", "pass_cycles"]


def _chunks(k: int, cols: int, max_k: int) -> list[int]:
    k_pad = -(-k // cols) * cols
    full, rest = divmod(k_pad, max_k)
    return [max_k] * full + ([rest] if rest else [])


def array_cycles(cfg: BinaryArrayCfg | MacArrayCfg, *, m: int, n: int, k: int,
                 **widths) -> int:
    """Cycles of ``[m, k] x [n, k]^T`` on ``cfg``, padded and chunked (see module doc).

    ``widths`` (``w_bits``, ``a_bits``) are passed to :meth:`MacArrayCfg.cycles`.
    """
    n_pad = -(-n // cfg.rows) * cfg.rows
    return sum(cfg.cycles(m=m, n=n_pad, k=c, **widths) for c in _chunks(k, cfg.cols, cfg.max_k))


def pass_cycles(p: Pass, binary: BinaryArrayCfg, mac: MacArrayCfg) -> int | None:
    """Cycles of all ``p.repeat`` products of pass ``p``; ``None`` for a float pass."""
    if p.array == "float":
        return None
    if p.array == "binary":
        cfg = binary if binary.mode == p.mode else dataclasses.replace(binary, mode=p.mode)
        return p.repeat * array_cycles(cfg, m=p.m, n=p.n, k=p.k)
    return p.repeat * array_cycles(mac, m=p.m, n=p.n, k=p.k, w_bits=p.w_bits, a_bits=p.a_bits)
