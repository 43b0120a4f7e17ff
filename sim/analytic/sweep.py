"""Grids over config fields: ``FIELD=v1,v2,...`` specs, their product, CSV rows.

A field is qualified by the config it belongs to (``scheme.w_bits``, ``memory.act_kib``,
``binary.rows``, ``mac.cols``, ``model.embed_dim``) or given bare when only one config
has it (``w_bits``, ``act_kib``; ``rows`` is ambiguous). ``model=NAME,...`` and
``scheme=NAME,...`` sweep over model names and scheme presets. Values are integers,
floats, ``true``/``false``, strings, or ``a:b:c`` tuples of integers (head-wise widths).
"""

from __future__ import annotations

import csv
import dataclasses
import io
import itertools

from golden.accel_spec import AnalyticAccelCfg, MemoryCfg, SchemeCfg
from golden.errors import VitsimError
from golden.model_cfg import ViTCfg
from golden.spec import BinaryArrayCfg, MacArrayCfg
from sim.analytic.model import evaluate
from sim.analytic.schemes import scheme_preset
from sim.analytic.workload import model_cfg

__all__ = ["COLUMNS", "parse_sweep", "point_configs", "run_grid", "to_csv"]

_PARTS = {"model": ViTCfg, "scheme": SchemeCfg, "memory": MemoryCfg, "binary": BinaryArrayCfg,
          "mac": MacArrayCfg}
#: Result columns appended to the swept fields.
COLUMNS = ("weight_bits", "weight_bytes", "act_bytes", "offchip_bytes", "cycles", "macs",
           "bitops", "weights_resident")


def _field_names(cls) -> set:
    return {f.name for f in dataclasses.fields(cls)}


def _value(text: str):
    if ":" in text:
        try:
            return tuple(int(x) for x in text.split(":"))
        except ValueError:
            raise VitsimError(f"--sweep: {text!r} is not an a:b:c tuple of integers") from None
    low = text.lower()
    if low in ("true", "false"):
        return low == "true"
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def _qualify(name: str) -> str:
    if name in ("model", "scheme"):
        return name
    if "." in name:
        part, field = name.split(".", 1)
        if part not in _PARTS or field not in _field_names(_PARTS[part]):
            raise VitsimError(f"--sweep: unknown field {name!r}")
        return name
    owners = [p for p, cls in _PARTS.items() if name in _field_names(cls)]
    if not owners:
        raise VitsimError(f"--sweep: unknown field {name!r}")
    if len(owners) > 1:
        choices = ", ".join(f"{p}.{name}" for p in owners)
        raise VitsimError(f"--sweep: field {name!r} is ambiguous; say {choices}")
    return f"{owners[0]}.{name}"


def parse_sweep(specs: list[str]) -> list[tuple[str, list]]:
    """Parse ``FIELD=v1,v2,...`` specs into ``(qualified field, values)`` pairs."""
    out = []
    for spec in specs:
        name, sep, values = spec.partition("=")
        if not sep or not name or not values:
            raise VitsimError(f"--sweep: expected FIELD=v1,v2,..., not {spec!r}")
        out.append((_qualify(name.strip()), [_value(v.strip()) for v in values.split(",")]))
    return out


def _replace(cfg, changes: dict, what: str):
    if not changes:
        return cfg
    try:
        return dataclasses.replace(cfg, **changes)
    except (TypeError, ValueError) as exc:
        raise VitsimError(f"{what} field: {exc}") from None


def point_configs(chosen: dict, *, model: str, scheme: str,
                  base_scheme: SchemeCfg | None = None, accel: AnalyticAccelCfg | None = None,
                  _vits: dict | None = None, _hws: dict | None = None,
                  _schemes: dict | None = None):
    """Return ``(vit, scheme, accel)`` of one point: qualified field -> value in ``chosen``.

    ``model`` and ``scheme`` name the defaults (``chosen["model"]``/``["scheme"]``
    override them); ``base_scheme`` replaces the preset when given; ``accel`` defaults to
    :class:`AnalyticAccelCfg`'s reference.
    """
    accel = accel or AnalyticAccelCfg()
    parts: dict = {p: {} for p in _PARTS}
    for name, value in chosen.items():
        if name not in ("model", "scheme"):
            part, field = name.split(".", 1)
            parts[part][field] = value
    mname = chosen.get("model", model)
    key = (mname, tuple(sorted(parts["model"].items())))
    vits = {} if _vits is None else _vits
    if key not in vits:
        vits[key] = model_cfg(mname, **parts["model"])
    vit = vits[key]
    preset = chosen.get("scheme", scheme) if "scheme" in chosen or base_scheme is None else None
    skey = (key, preset, tuple(sorted(parts["scheme"].items())))
    schemes = {} if _schemes is None else _schemes
    if skey not in schemes:
        s = base_scheme if preset is None else scheme_preset(preset, vit)
        schemes[skey] = _replace(s, parts["scheme"], "scheme")
    s = schemes[skey]
    hw = accel
    if parts["binary"] or parts["mac"] or parts["memory"]:
        hkey = tuple(tuple(sorted(parts[p].items())) for p in ("binary", "mac", "memory"))
        hws = {} if _hws is None else _hws
        if hkey not in hws:
            hws[hkey] = dataclasses.replace(
                accel, binary=_replace(accel.binary, parts["binary"], "binary"),
                mac=_replace(accel.mac, parts["mac"], "mac"),
                memory=_replace(accel.memory, parts["memory"], "memory"))
        hw = hws[hkey]
    return vit, s, hw


def run_grid(sweeps: list[tuple[str, list]], *, model: str, scheme: str,
             base_scheme: SchemeCfg | None = None,
             accel: AnalyticAccelCfg | None = None) -> list[dict]:
    """Evaluate every point of the product of ``sweeps``; one dict row per point.

    Defaults as :func:`point_configs`. Rows hold the swept values, then :data:`COLUMNS`.
    """
    names = [n for n, _ in sweeps]
    rows = []
    vits: dict = {}
    hws: dict = {}
    schemes: dict = {}
    accel = accel or AnalyticAccelCfg()
    for point in itertools.product(*(v for _, v in sweeps)):
        chosen = dict(zip(names, point, strict=True))
        vit, s, hw = point_configs(chosen, model=model, scheme=scheme, base_scheme=base_scheme,
                                   accel=accel, _vits=vits, _hws=hws,
                                   _schemes=schemes)
        try:
            totals = evaluate(vit, s, hw)
        except (TypeError, ValueError) as exc:
            raise VitsimError(f"--sweep point {chosen}: {exc}") from None
        rows.append({**{n: _show(v) for n, v in chosen.items()},
                     **{c: totals[c] for c in COLUMNS}})
    return rows


def _show(value):
    return ":".join(map(str, value)) if isinstance(value, tuple) else value


def to_csv(rows: list[dict]) -> str:
    """CSV text of ``rows`` (header from the first row; empty cycles stay empty)."""
    if not rows:
        return ""
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(rows[0]), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buf.getvalue()
