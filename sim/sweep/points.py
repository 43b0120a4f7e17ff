"""One design point: its input hash, its stages, and its result stored once, atomically.

:func:`point_key` hashes what decides a point's result: the point itself (kind, source,
settings, stages), the digests of its input files (a checkpoint's ``config.json``, a
package's ``manifest.json`` and tensors) and the vitsim source version
(:func:`source_version`, a digest of every ``.py`` file of ``golden``, ``hw``, ``sim`` and
``models``). :func:`run_point` is idempotent: a point whose result file exists returns it;
otherwise it runs the stages and renames the result into place (``points/KEY.json``),
appending one ``done KEY`` line to ``points.log``. A worker killed mid-point leaves at
most a ``start`` line and a stray temporary file, so the retried task starts afresh.

Columns of a point's result (absent where they do not apply):

- ``label``, ``kind``, ``source``, the swept settings;
- ``accuracy``: a checkpoint's test top-1 (``metrics.test_top1``), or, for a package, the
  integer-mode top-1 over its recorded images (``accuracy_images`` of them);
- ``weight_bytes``, ``act_bytes``, ``macs``, ``bitops``: the analytic model
  (:func:`sim.analytic.evaluate`);
- ``cycles``: cycles per frame, the what-if model's for checkpoints and models, the
  accelerator-exact count of the compiled program for packages
  (:func:`sim.analytic.accel_cycles.run_cycles` at ``mem_latency``);
- ``dram_mb_frame``: external-memory traffic per frame (MB, 1e6 bytes); ``frames_s``;
- ``rtl_exact``, ``rtl_cycles`` (per image, mean), ``rtl_s``: the RTL stage;
- ``luts``, ``ffs``, ``bram``, ``dsp``, ``fmax_mhz``, ``synth_placed`` (false: larger than
  the LFE5U-85F, fmax 0) and ``frames_s_fmax`` (at the routed fmax): the synth stage.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import signal
import tempfile
import time
from functools import lru_cache
from pathlib import Path

from golden.atomic import file_sha256

__all__ = ["FAULT_ENV", "load_result", "point_key", "point_label", "run_point",
           "source_version"]

#: Fault injection for the tests: a path; the first point that starts while it does not
#: exist creates it and kills its own worker process (SIGKILL), mid-point.
FAULT_ENV = "VITSIM_SWEEP_KILL_ONCE"
_ROOT = Path(__file__).resolve().parents[2]


@lru_cache(maxsize=1)
def source_version() -> str:
    """Digest (16 hex digits) of the vitsim sources: every ``.py`` of golden, hw, sim and
    models, by relative path and content."""
    h = hashlib.sha256()
    for pkg in ("golden", "hw", "sim", "models"):
        for path in sorted((_ROOT / pkg).rglob("*.py")):
            h.update(str(path.relative_to(_ROOT)).encode() + b"\0")
            h.update(path.read_bytes())
    return h.hexdigest()[:16]


def _input_digests(point: dict) -> dict:
    if point["kind"] == "model":
        return {}
    root = Path(point["path"])
    names = ["config.json"] if point["kind"] == "checkpoint" else ["manifest.json"]
    if point["kind"] == "package":
        names += sorted(p.name for p in root.iterdir() if p.suffix == ".npz")
    return {n: file_sha256(root / n) for n in names}


def point_key(point: dict, version: str | None = None) -> str:
    """The hash (24 hex digits) a point's result is stored under (see the module doc)."""
    record = {"point": point, "inputs": _input_digests(point),
              "version": version or source_version()}
    text = json.dumps(record, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:24]


def point_label(point: dict) -> str:
    """A short name of the point for tables and plots."""
    if point["kind"] == "model":
        name = f"{point['model']}/{point['scheme']}"
    else:
        name = Path(point["path"]).name
    extra = [f"{k.split('.')[-1]}={v}" for k, v in point.get("fields", {}).items()]
    if point["kind"] == "package":
        if point["onchip_kib"]:
            extra.append(f"{point['onchip_kib']:g}KiB")
        if point["mem_latency"] != 1:
            extra.append(f"L{point['mem_latency']}")
    return " ".join([name, *extra])


def load_result(out_dir, key: str) -> dict | None:
    """The stored result of point ``key`` under ``out_dir``, or ``None``."""
    try:
        return json.loads((Path(out_dir) / "points" / f"{key}.json").read_text())
    except FileNotFoundError:
        return None


def _log(out_dir: Path, line: str) -> None:
    # one write of one short line to a file opened for appending: lines never interleave
    fd = os.open(out_dir / "points.log", os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o666)
    try:
        os.write(fd, (line + "\n").encode())
    finally:
        os.close(fd)


def _maybe_die() -> None:
    marker = os.environ.get(FAULT_ENV)
    if not marker:
        return
    try:
        fd = os.open(marker, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    except FileExistsError:
        return
    os.close(fd)
    os.kill(os.getpid(), signal.SIGKILL)


def run_point(point: dict, out_dir: str, key: str) -> dict:
    """Run ``point``'s stages unless its result is stored; return the result (a dict).

    Safe to run again, in another process, after a crash: the result appears whole or
    not at all.
    """
    out = Path(out_dir)
    done = load_result(out, key)
    if done is not None:
        return done
    _log(out, f"start {key} pid {os.getpid()}")
    _maybe_die()
    t0 = time.perf_counter()
    if point["kind"] == "package":
        row = _package(point, out / "work" / key)
    else:
        row = _analytic(point)
    row = {"key": key, "label": point_label(point), **row,
           "point_s": round(time.perf_counter() - t0, 3)}
    (out / "points").mkdir(exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{key}.tmp-", dir=out / "points")
    try:
        with os.fdopen(fd, "w") as f:
            json.dump(row, f, indent=1)
        os.replace(tmp, out / "points" / f"{key}.json")
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    _log(out, f"done {key}")
    return row


def _rate(row: dict, clock_mhz: float) -> None:
    cyc = row.get("cycles")
    row["frames_s"] = clock_mhz * 1e6 / cyc if cyc else None


def _analytic(point: dict) -> dict:
    from golden.accel_spec import AnalyticAccelCfg
    from sim.analytic import evaluate
    from sim.analytic.sweep import point_configs

    fields = point["fields"]
    if point["kind"] == "checkpoint":
        from sim.memory_cli import _checkpoint_point

        label, vit, scheme, top1 = _checkpoint_point(Path(point["path"]))
        _, _, hw = point_configs(fields, model=label, scheme=scheme.name, base_scheme=scheme,
                                 accel=AnalyticAccelCfg(), _vits={(label, ()): vit})
        row = {"kind": "checkpoint", "source": point["path"], "model": label,
               "scheme": scheme.name, "accuracy": top1}
    else:
        vit, scheme, hw = point_configs(fields, model=point["model"], scheme=point["scheme"])
        row = {"kind": "model", "source": point["model"], "model": point["model"],
               "scheme": point["scheme"], "accuracy": None}
    t = evaluate(vit, scheme, hw)
    row.update({k: fields[k] if not isinstance(fields[k], list) else ":".join(
        map(str, fields[k])) for k in fields})
    row.update({"weight_bytes": t["weight_bytes"], "act_bytes": t["act_bytes"],
                "macs": t["macs"], "bitops": t["bitops"], "cycles": t["cycles"],
                "dram_mb_frame": t["offchip_bytes"] / 1e6})
    _rate(row, point["clock_mhz"])
    return row


def _package(point: dict, work: Path) -> dict:
    from golden.model_cfg import ViTCfg
    from golden.netpkg import read_network
    from sim.accel_cli import memory_figures
    from sim.analytic import evaluate, scheme_preset
    from sim.analytic.accel_cycles import run_cycles
    from sim.analytic.sweep import point_configs
    from sim.compiler import CompileError, compile_network

    pkg = read_network(point["path"])
    model = pkg.manifest["model"]
    vit = ViTCfg.from_dict(model["vit"])
    gsb = model.get("gsb") or {}
    scheme = scheme_preset("gsb", vit, groups=1 + len(gsb.get("thresholds", [])),
                           embed_bits=gsb.get("embed_bits", 8))
    _, _, hw = point_configs({}, model=model["name"], scheme="gsb", base_scheme=scheme,
                             _vits={(model["name"], ()): vit})
    t = evaluate(vit, scheme, hw)
    images = pkg.manifest.get("images") or {}
    labels, preds = images.get("labels", []), images.get("predictions", [])
    kib = point["onchip_kib"] or None
    lat = point["mem_latency"]
    row = {"kind": "package", "source": point["path"], "model": model["name"],
           "scheme": "gsb", "onchip_kib": point["onchip_kib"], "mem_latency": lat,
           "accuracy": (sum(a == b for a, b in zip(labels, preds, strict=True)) / len(labels)
                        if labels else None), "accuracy_images": len(labels),
           "weight_bytes": t["weight_bytes"], "act_bytes": t["act_bytes"],
           "macs": t["macs"], "bitops": t["bitops"]}
    try:
        prog = compile_network(pkg, image=0, onchip_kib=kib)
    except CompileError as exc:  # a design that does not fit is a result, not a failure
        return {**row, "fits": False, "note": str(exc)}
    cycles = run_cycles(prog.descs, prog.cfg, latency=lat)
    mem = memory_figures(prog)
    row.update({"fits": True, "cycles": cycles, "scratch_bytes": mem["scratch_bytes"],
                "dram_mb_frame": (mem["offchip_in_bytes"] + mem["offchip_out_bytes"]) / 1e6})
    _rate(row, point["clock_mhz"])
    if "rtl" in point["stages"]:
        row.update(_rtl(pkg, prog.cfg, point, work, kib))
    if "synth" in point["stages"]:
        row.update(_synth(prog.cfg, work))
        if row["synth_placed"] and row["fmax_mhz"] > 0:  # frames/s at the routed clock
            row["frames_s_fmax"] = row["fmax_mhz"] * 1e6 / cycles
    return row


def _build_lock(cfg, sim: str):
    """A cluster-wide lock per accelerator config and simulator, so that two points of one
    design do not both build its simulator (the second finds the first's cached build);
    no lock outside a dask worker. A lock held by a lost worker expires (dask's lease
    timeout)."""
    try:
        from distributed import Lock, get_worker

        get_worker()
    except (ImportError, ValueError):
        return contextlib.nullcontext()
    text = json.dumps(cfg.to_dict(), sort_keys=True) + sim
    return Lock("vitsim-build-" + hashlib.sha256(text.encode()).hexdigest()[:20])


def _rtl(pkg, cfg, point: dict, work: Path, kib) -> dict:
    import shutil

    from sim.accel_cli import simulate_golden
    from sim.accel_mem import MemModel

    n = min(point["images"], len((pkg.manifest.get("images") or {}).get("labels", [])) or 1)
    kw = {"sim": point["sim"], "work": work, "onchip_kib": kib, "echo": lambda *_: None,
          "mem": MemModel(latency=point["mem_latency"])}
    t0 = time.perf_counter()
    with _build_lock(cfg, point["sim"]):  # image 0 builds the simulator, once per design
        runs = simulate_golden(pkg, images=[0], **kw)
    runs += simulate_golden(pkg, images=range(1, n), **kw)
    exact = all(r.passed for _, r in runs)
    if exact:
        shutil.rmtree(work, ignore_errors=True)
    return {"rtl_exact": exact, "rtl_images": len(runs),
            "rtl_cycles": sum(r.cycles for _, r in runs) / len(runs),
            "rtl_s": round(time.perf_counter() - t0, 3)}


def _synth(cfg, work: Path) -> dict:
    import shutil

    from hw.accel.top import Accelerator
    from hw.synth import synthesize

    work.mkdir(parents=True, exist_ok=True)
    rep = synthesize(Accelerator(cfg), work / "synth", name="accelerator")
    shutil.rmtree(work / "synth", ignore_errors=True)
    return {"luts": rep.luts, "ffs": rep.ffs, "bram": rep.bram, "dsp": rep.dsp,
            "fmax_mhz": rep.fmax_mhz, "synth_placed": rep.placed}
