"""A waveform window: the stretch of a VCD file around a time of interest.

:func:`vcd_window` copies the header of a VCD trace, a ``$dumpvars`` block with every
signal's value at the window's start, and the value changes inside the window, so a
viewer opens only the cycles around, say, the first mismatch. Verilator writes VCD under
cocotb; Icarus writes FST, which this module does not read (its full trace is kept).
"""

from __future__ import annotations

from pathlib import Path

from golden.atomic import atomic_write_text
from golden.errors import VitsimError

__all__ = ["vcd_timescale_ps", "vcd_window"]


def _change_id(line: str) -> str | None:
    """Identifier of a value-change line (``1!``, ``b1010 !``, ``r0.5 !``), else None."""
    if not line or line[0] in "#$":
        return None
    if line[0] in "bBrR":
        parts = line.split()
        return parts[1] if len(parts) == 2 else None
    return line[1:] if line[0] in "01xXzZ" else None


_UNITS_PS = {"s": 10**12, "ms": 10**9, "us": 10**6, "ns": 10**3, "ps": 1}


def vcd_timescale_ps(src: Path) -> float:
    """Picoseconds per time step of VCD ``src`` (its ``$timescale``; 1 if absent)."""
    with open(src, errors="replace") as f:
        head = f.read(1 << 16)
    if "$timescale" not in head:
        return 1.0
    spec = head.split("$timescale", 1)[1].split("$end", 1)[0].strip().replace(" ", "")
    digits = spec.rstrip("munpfs")
    unit = spec[len(digits):]
    if unit == "fs":
        return int(digits or 1) / 1000
    if unit not in _UNITS_PS:
        raise VitsimError(f"{src}: unknown $timescale {spec!r}")
    return int(digits or 1) * _UNITS_PS[unit]


def vcd_window(src: Path, dst: Path, *, start: int, end: int) -> Path:
    """Write the part of VCD ``src`` between times ``start`` and ``end`` (its own time
    unit, as written after ``#``) to ``dst``, atomically; return ``dst``.

    Raises :class:`VitsimError` if ``src`` is not a VCD file or ``start > end``.
    """
    if start > end:
        raise VitsimError(f"waveform window: start {start} is after end {end}")
    text = Path(src).read_text(errors="replace")
    marker = "$enddefinitions"
    if marker not in text:
        raise VitsimError(f"{src}: not a VCD file (no {marker})")
    head, _, body = text.partition(marker)
    _, _, body = body.partition("\n")
    state: dict[str, str] = {}
    inside: list[str] = []
    time = 0
    for raw in body.splitlines():
        line = raw.strip()
        if line.startswith("#"):
            time = int(line[1:])
            if start < time <= end:
                inside.append(line)
            continue
        key = _change_id(line)
        if key is None:
            continue
        if time <= start:  # the values at start itself open the window's $dumpvars
            state[key] = line
        elif time <= end:
            inside.append(line)
    first = [f"#{start}", "$dumpvars", *state.values(), "$end"]
    out = head + marker + " $end\n" + "\n".join(first + inside) + "\n"
    atomic_write_text(Path(dst), out)
    return Path(dst)
