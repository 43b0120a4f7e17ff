"""Closed-form counts of accelerator descriptors, exact to the per-descriptor counters.

:func:`desc_cycles` is the count of one descriptor (:mod:`golden.accel_program`) as
:class:`hw.accel.top.Accelerator` writes it to ``cnt_addr``: from the first descriptor
fetch cycle to the cycle before the count is stored; :func:`program_cycles` and
:func:`run_cycles` price a whole program. It sits in the compiler's layer because the
compiler needs it (``sim.compiler.budget.prefetch_ok``); the shapes-only model
:mod:`sim.analytic.accel_cycles` re-exports it. Each unit's cycle model is in its part,
``sim/compiler/parts/<unit>.py`` (:func:`sim.compiler.registry.cycle_models`).

Timing, read off the RTL (``RUN``-relative cycle ``c``, ``c = 0`` the first ``RUN``
cycle):

- external memory (:mod:`sim.accel_mem`, one word a cycle, no wait states) answers a read
  burst ``L`` cycles after its address and a write burst ``L`` cycles after its last beat
  (``latency``, default 1); a wait state that the memory model counts adds one cycle;
- the sequencer spends ``desc_words + L`` cycles in ``FETCH`` and one in ``DISPATCH``;
  ``RUN`` ends the cycle after the writer stores its last beat (or after the reader hands
  over its last beat, for an op with no writes), then ``COUNT`` stores the count. So a
  count is ``desc_words + 3 + L + t`` with ``t`` the cycle of the last store (hand-over);
- a ``dma_in`` / ``dma_out`` of ``n > 0`` words: AXI bursts, one beat a cycle, the state
  left the cycle after the last R beat (the B response): ``n + L + 1`` cycles after
  ``DISPATCH``, 1 for ``n = 0``;
- a ``dma_pre`` ends after ``DISPATCH`` (``desc_words + 2 + L`` cycles); the compute op
  after it issues the load in its ``DISPATCH`` and stores one R beat a cycle while the
  writer does not store, so its own count stands when ``prefetch_ok`` holds;
- the gatherer issues one sub-cycle a cycle; the last sub-cycle's read is registered, cut
  to its elements and registered again, then packed into the beat register, so beat 0 is
  on the unit's input at ``c0 = beat_cycles + GATHER_LATENCY - 1`` (``beat_cycles + 2``).
  A unit that is not ready freezes the whole gatherer, so beat ``b + 1`` is offered
  ``beat_cycles`` cycles after beat ``b`` is taken;
- the writer takes a vector (``wvec``) or packed (``wpack``) beat the cycle it appears, so
  it never stalls a unit that emits at most one beat a cycle (a scattered writer, one
  element a cycle, is not modelled: :class:`ValueError`).
"""

from __future__ import annotations

from math import prod

from golden.accel_program import GATHER_LATENCY, AccelTopCfg, OpDesc, desc_words
from sim.compiler.registry import cycle_models
from sim.compiler.timing import pipelined

__all__ = ["GSB_UNITS", "PIPELINED", "count_at", "desc_cycles", "fetch_cost", "program_cycles",
           "run_cycles"]


def desc_cycles(desc: OpDesc, cfg: AccelTopCfg, *, latency: int = 1) -> int:
    """Cycles the accelerator's counter reports for ``desc`` on ``cfg``.

    Parameters
    ----------
    desc : OpDesc
        A descriptor as the compiler emits it; read are ``unit``, ``rn``, ``beat_cycles``,
        ``last_level`` (softmax rows), ``wn``, ``wc``, ``wvec``, ``wpack`` and, for the MAC
        array, ``k[0]``/``k[1]`` (weight and activation bits).
    cfg : AccelTopCfg
        The accelerator; its unit configs give latencies and geometry.
    latency : int
        The external memory's latency in cycles (see the module doc), 1 or more.

    Returns
    -------
    int
        The count, fetch included (see the module doc). The final ``dma_out`` of a program
        dumps the scratchpad before its own count is stored, so a run reads 0 there; this
        returns what the counter holds when it is stored.

    Raises
    ------
    ValueError
        A unit the accelerator lacks, a scattered writer of more than one lane, or a row
        unit whose beats do not make whole rows.
    """
    return count_at(desc, cfg, fetch_cost(cfg, latency))


def fetch_cost(cfg: AccelTopCfg, latency: int) -> int:
    """The fetch cost of a count, ``desc_words + 3 + latency``."""
    if not isinstance(latency, int) or latency < 1:
        raise ValueError(f"latency must be an integer of at least 1, not {latency!r}")
    return desc_words(cfg) + 3 + latency


def count_at(desc: OpDesc, cfg: AccelTopCfg, head: int) -> int:
    """:func:`desc_cycles` with the fetch cost ``head`` (``desc_words + 3 + latency``)
    given."""
    unit = desc.unit
    model, u = _MODELS.get(unit), cfg.units.get(unit)
    if model is None or u is None:
        return _no_unit(desc, cfg, head)
    bc = desc.beat_cycles
    outs = prod(desc.wn)
    if outs and not (desc.wvec or desc.wpack) and desc.wc > 1:
        raise ValueError(f"{unit}: a scattered writer ({desc.wc} elements a beat, one a "
                         f"cycle) stalls the unit; not modelled")
    return head + model(desc, u, prod(desc.rn), bc, bc + GATHER_LATENCY - 1, outs)


def _no_unit(desc: OpDesc, cfg: AccelTopCfg, head: int) -> int:
    """:func:`count_at` of a DMA descriptor (no unit), or its error."""
    if desc.unit == "dma_pre":  # the load runs under the next op (see prefetch_ok)
        return head - 2
    if desc.unit in ("dma_in", "dma_out"):
        # bursts of one beat a cycle: the first beat (the B response) comes ``latency``
        # cycles after the first AR handshake (the last W beat), the state is left the
        # cycle after; ``head - 1`` is the fetch, ``DISPATCH`` and that cycle
        n = desc.rn[3]
        latency = head - desc_words(cfg) - 3
        return head - 1 + (n + latency if n else 0)
    if desc.unit not in cfg.units:
        raise ValueError(f"the accelerator has no {desc.unit} unit")
    raise ValueError(f"the accelerator's {desc.unit} unit has no cycle model")


#: The cycle model of each accelerator slot, from the registry (every unit with a slot
#: must have one attached: :class:`golden.unit_spec.RegistryError` otherwise).
_MODELS = cycle_models()

#: Units that take a beat every cycle and hand its result over ``latency`` edges later.
PIPELINED = frozenset(slot for slot, model in _MODELS.items() if model is pipelined)

#: Unit slots a GSB network's program uses: every slot (:func:`accel_descs` prices each).
GSB_UNITS = tuple(_MODELS)


def program_cycles(descs, cfg: AccelTopCfg, *, latency: int = 1) -> list[int]:
    """:func:`desc_cycles` of each descriptor of ``descs`` on ``cfg`` at memory
    ``latency``, in order (the fetch cost computed once, and one count per distinct
    descriptor object: the blocks of :func:`accel_descs` share theirs)."""
    head = fetch_cost(cfg, latency)
    seen: dict[int, int] = {}
    out = []
    for desc in descs:
        key = id(desc)
        if key not in seen:
            seen[key] = count_at(desc, cfg, head)
        out.append(seen[key])
    return out


def run_cycles(descs, cfg: AccelTopCfg, *, latency: int = 1) -> int:
    """Cycles of a whole run of the program ``descs`` as the benches count them (from the
    edge that samples ``start`` to the edge where the memory dump is done), with no wait
    states: the header read (``latency + 1``), each descriptor's count plus its ``NEXT``
    and ``COUNT`` cycles, and the final ``NEXT`` and the dump's edge (2). With wait states
    the run takes the memory model's counted stalls more."""
    return latency + 1 + sum(c + 2 for c in program_cycles(descs, cfg, latency=latency)) + 2
