"""The sweep spec (TOML): axes and stages, validated, and the design points it expands to.

A spec file::

    stages = ["analytic", "rtl"]     # analytic always runs; "rtl" and "synth" are optional
    clock_mhz = 100.0                # frames/s = clock / cycles per frame
    images = 1                       # rtl: the first N recorded images of each package
    sim = "verilator"                # rtl: verilator or icarus

    [axes]
    checkpoints = ["runs/fp", "runs/gsb"]   # vitsim train outputs: model, scheme, top-1
    packages = ["pkgs/gsb"]                 # GSB network packages (vitsim golden)
    models = ["deit_tiny_patch16_224"]      # analytic models (sim.analytic.MODELS) ...
    schemes = ["gsb", "int8"]               # ... times these scheme presets
    onchip_kib = [0, 64]                    # packages: on-chip budget (0: all on chip)
    mem_latency = [1, 4]                    # packages: external memory latency, cycles

    [axes.fields]                           # analytic what-if fields (sim.analytic.sweep)
    "memory.act_kib" = [128, 256]
    "mac.cols" = [32, 64]

Paths are relative to the spec file. The points: every checkpoint and every model x scheme
times the product of ``axes.fields`` (the analytic what-if model), and every package times
``onchip_kib`` x ``mem_latency`` (the compiled program, priced by the accelerator-exact
cycle model, and run in RTL when ``rtl`` is a stage). A bad spec raises
:class:`golden.errors.VitsimError` naming the file and the field.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
from pathlib import Path

from golden.errors import VitsimError

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

__all__ = ["STAGES", "SweepSpec", "load_spec", "points"]

#: Stages a point can run, in order.
STAGES = ("analytic", "rtl", "synth")
_TOP = {"stages", "clock_mhz", "images", "sim", "axes"}
_AXES = {"checkpoints", "packages", "models", "schemes", "onchip_kib", "mem_latency", "fields"}


@dataclasses.dataclass(frozen=True)
class SweepSpec:
    """A validated sweep spec (see the module doc); paths are absolute.

    Parameters
    ----------
    source : str
        The spec file (named in error messages).
    stages : tuple of str
        Subset of :data:`STAGES`, ``analytic`` first.
    clock_mhz : float
        Clock that turns cycles into frames/s (a synth stage reports its own fmax too).
    images : int
        RTL images per package point (>= 1).
    sim : str
        ``verilator`` or ``icarus``.
    checkpoints, packages : tuple of str
    models, schemes : tuple of str
    onchip_kib : tuple of float
        0 means every parameter on chip (the compiler's default).
    mem_latency : tuple of int
    fields : tuple of (str, tuple)
        Qualified analytic field and its values.
    """

    source: str
    stages: tuple = ("analytic",)
    clock_mhz: float = 100.0
    images: int = 1
    sim: str = "verilator"
    checkpoints: tuple = ()
    packages: tuple = ()
    models: tuple = ()
    schemes: tuple = ()
    onchip_kib: tuple = (0,)
    mem_latency: tuple = (1,)
    fields: tuple = ()


def _fail(source, field: str, message: str):
    raise VitsimError(f"{source}: field {field!r}: {message}")


def _list(source, field: str, value, kind, *, check=None) -> tuple:
    if not isinstance(value, list) or not value:
        _fail(source, field, "must be a non-empty list")
    for v in value:
        ok = isinstance(v, kind) and not isinstance(v, bool)
        if not ok or (check is not None and not check(v)):
            _fail(source, field, f"bad value {v!r}")
    if len(set(value)) != len(value):
        _fail(source, field, "repeats a value")
    return tuple(value)


def _paths(source, field: str, value, base: Path, marker: str) -> tuple:
    out = []
    for v in _list(source, field, value, str):
        p = (base / v).resolve()
        if not (p / marker).is_file():
            _fail(source, field, f"{v}: no {marker} there (not a "
                  f"{'checkpoint' if marker == 'config.json' else 'network package'})")
        out.append(str(p))
    return tuple(out)


def load_spec(path) -> SweepSpec:
    """Read and validate the TOML sweep spec at ``path``; return a :class:`SweepSpec`."""
    from sim.analytic import MODELS, SCHEMES
    from sim.analytic.sweep import parse_sweep

    path = Path(path)
    if path.is_dir():
        raise VitsimError(f"{path}: is a directory, not a sweep spec file")
    try:
        data = tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise VitsimError(f"{path}: no such sweep spec file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise VitsimError(f"{path}: cannot read: {exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise VitsimError(f"{path}: not valid TOML: {exc}") from None
    for key in data:
        if key not in _TOP:
            _fail(path, key, f"unknown; known: {', '.join(sorted(_TOP))}")
    kw: dict = {}
    if "stages" in data:
        stages = _list(path, "stages", data["stages"], str, check=lambda s: s in STAGES)
        if "analytic" not in stages:
            _fail(path, "stages", "must hold 'analytic'")
        kw["stages"] = tuple(s for s in STAGES if s in stages)
    if "clock_mhz" in data:
        c = data["clock_mhz"]
        if isinstance(c, bool) or not isinstance(c, (int, float)) or not (
                math.isfinite(c) and c > 0):
            _fail(path, "clock_mhz", f"must be a positive number, not {c!r}")
        kw["clock_mhz"] = float(c)
    if "images" in data:
        n = data["images"]
        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            _fail(path, "images", f"must be an integer >= 1, not {n!r}")
        kw["images"] = n
    if "sim" in data:
        if data["sim"] not in ("verilator", "icarus"):
            _fail(path, "sim", f"must be 'verilator' or 'icarus', not {data['sim']!r}")
        kw["sim"] = data["sim"]
    axes = data.get("axes", {})
    if not isinstance(axes, dict):
        _fail(path, "axes", "must be a table")
    for key in axes:
        if key not in _AXES:
            _fail(path, f"axes.{key}", f"unknown; known: {', '.join(sorted(_AXES))}")
    base = path.parent
    if "checkpoints" in axes:
        kw["checkpoints"] = _paths(path, "axes.checkpoints", axes["checkpoints"], base,
                                   "config.json")
        from sim.memory_cli import _checkpoint_point

        for ck in kw["checkpoints"]:  # model, scheme and top-1 readable before any work
            try:
                _checkpoint_point(Path(ck))
            except VitsimError as exc:
                _fail(path, "axes.checkpoints", str(exc))
    if "packages" in axes:
        kw["packages"] = _paths(path, "axes.packages", axes["packages"], base, "manifest.json")
        for pk in kw["packages"]:
            _check_package(path, pk)
    if "models" in axes:
        kw["models"] = _list(path, "axes.models", axes["models"], str,
                             check=lambda m: m in MODELS)
    if "schemes" in axes:
        kw["schemes"] = _list(path, "axes.schemes", axes["schemes"], str,
                              check=lambda s: s in SCHEMES)
    if bool(kw.get("models")) != bool(kw.get("schemes")):
        _fail(path, "axes.schemes" if kw.get("models") else "axes.models",
              "axes.models and axes.schemes go together")
    if "onchip_kib" in axes:
        kw["onchip_kib"] = _list(path, "axes.onchip_kib", axes["onchip_kib"], (int, float),
                                 check=lambda v: math.isfinite(v) and v >= 0)
    if "mem_latency" in axes:
        from sim.accel_mem import MAX_LATENCY

        kw["mem_latency"] = _list(path, "axes.mem_latency", axes["mem_latency"], int,
                                  check=lambda v: 1 <= v <= MAX_LATENCY)
    if "fields" in axes:
        fields = axes["fields"]
        if not isinstance(fields, dict):
            _fail(path, "axes.fields", "must be a table of FIELD = [values]")
        out = []
        for name, values in fields.items():
            where = f"axes.fields.{name}"
            values = _list(path, where, values, (int, float, str))
            try:
                out += parse_sweep([f"{name}={','.join(map(str, values))}"])
            except VitsimError as exc:
                _fail(path, where, str(exc).removeprefix("--sweep: "))
        kw["fields"] = tuple((n, tuple(v)) for n, v in out)
        if kw.get("checkpoints") and any(n.split(".")[0] == "model" for n, _ in out):
            _fail(path, "axes.fields", "a checkpoint fixes its model; sweep no model field")
    if not (kw.get("checkpoints") or kw.get("packages") or kw.get("models")):
        _fail(path, "axes", "names no design: give checkpoints, packages or models+schemes")
    for stage in ("rtl", "synth"):
        if stage in kw.get("stages", ()) and not kw.get("packages"):
            _fail(path, "stages", f"{stage!r} needs axes.packages")
    spec = SweepSpec(source=str(path), **kw)
    _check_points(spec)
    return spec


def _check_package(source, pkg_dir: str) -> None:
    from golden.netpkg import read_network

    try:
        model = read_network(pkg_dir).manifest["model"]
    except VitsimError as exc:
        _fail(source, "axes.packages", str(exc))
    if not (model.get("gsb") or {}).get("thresholds"):
        _fail(source, "axes.packages", f"{pkg_dir}: not a GSB network package "
              f"(model {model.get('name')!r})")


def _check_points(spec: SweepSpec) -> None:
    """Build every analytic config once so that a bad field value fails before any work."""
    from golden.accel_spec import AnalyticAccelCfg
    from sim.analytic.sweep import point_configs

    names = [n for n, _ in spec.fields]
    for combo in itertools.product(*(v for _, v in spec.fields)):
        chosen = dict(zip(names, combo, strict=True))
        for model, scheme in itertools.product(spec.models or ("vit_digits",),
                                               spec.schemes or ("fp32",)):
            try:
                point_configs(chosen, model=model, scheme=scheme, accel=AnalyticAccelCfg())
            except (VitsimError, TypeError, ValueError) as exc:
                raise VitsimError(f"{spec.source}: field 'axes.fields': {chosen}: "
                                  f"{exc}") from None


def points(spec: SweepSpec) -> list[dict]:
    """Every design point of ``spec``: JSON-ready dicts, in a fixed order.

    Each holds ``kind`` (``checkpoint``, ``model`` or ``package``), its source
    (``path``, or ``model`` and ``scheme``), the stage list and the settings it needs:
    ``fields`` (analytic points), ``onchip_kib``, ``mem_latency``, ``images``, ``sim``
    (package points) and ``clock_mhz``.
    """
    out = []
    names = [n for n, _ in spec.fields]
    combos = [dict(zip(names, c, strict=True))
              for c in itertools.product(*(v for _, v in spec.fields))]
    common = {"clock_mhz": spec.clock_mhz}
    for path in spec.checkpoints:
        for f in combos:
            out.append({"kind": "checkpoint", "path": path, "fields": f,
                        "stages": ["analytic"], **common})
    for model, scheme in itertools.product(spec.models, spec.schemes):
        for f in combos:
            out.append({"kind": "model", "model": model, "scheme": scheme, "fields": f,
                        "stages": ["analytic"], **common})
    for path in spec.packages:
        for kib, lat in itertools.product(spec.onchip_kib, spec.mem_latency):
            out.append({"kind": "package", "path": path, "onchip_kib": kib,
                        "mem_latency": lat, "images": spec.images, "sim": spec.sim,
                        "stages": list(spec.stages), **common})
    return out
