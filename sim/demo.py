"""``vitsim demo``: a trained GSB ViT on digits, end to end through the accelerator's RTL.

Steps: train (or reuse a cached) float teacher and GSB student on scikit-learn's bundled
digits; export the integer network's golden package for a few test images; compile each
image into an accelerator program; write the Verilog; simulate on Verilator (or Icarus);
print the verdict, cycles per image, on-chip memory, off-chip bytes and the integer
model's accuracy; write ``report.md``, ``report.json`` and ``cycles.png`` to the run
directory.

Every argument is checked before any work (the simulator, the image count, the
checkpoint, the run directory). The run directory (``golden/``, ``verilog/``, ``sim/``,
the reports) is built under a temporary name and renamed into place at the end, so an
interrupted or failed run leaves the previous one whole: its report always describes
the package beside it.
"""

from __future__ import annotations

import json
import time
from collections import defaultdict
from pathlib import Path

from golden.errors import VitsimError

__all__ = ["cached_checkpoint", "run_demo"]

CACHE = Path("runs") / "cache"


def _write(path: Path, text: str) -> None:
    path.write_text(text)  # inside the run's temporary directory


def cached_checkpoint(*, epochs: int, seed: int, cache: Path = CACHE, echo=print) -> Path:
    """The demo's GSB checkpoint, trained once per ``(epochs, seed)`` under ``cache``."""
    from sim.cli import main

    gsb = cache / f"demo_gsb_e{epochs}_s{seed}"
    if (gsb / "model.pt").is_file():
        echo(f"      reusing {gsb}")
        return gsb
    fp = cache / f"demo_fp_e{epochs}_s{seed}"
    if not (fp / "model.pt").is_file():
        echo(f"      training the float teacher ({epochs} epochs) -> {fp}")
        if main(["train", "--scheme", "fp", "--out", str(fp), "--epochs", str(epochs),
                 "--seed", str(seed), "--no-progress"]) != 0:
            raise VitsimError("training the float teacher failed")
    echo(f"      training the GSB student ({epochs} + {epochs} epochs, per-image max) -> {gsb}")
    if main(["train", "--scheme", "gsb", "--teacher", str(fp), "--out", str(gsb), "--epochs",
             str(epochs), "--seed", str(seed), "--per-image", "--no-progress"]) != 0:
        raise VitsimError("training the GSB student failed")
    return gsb


def _accuracy(ckpt: Path) -> dict:
    from models.golden_export import load_int_model
    from models.intmode import evaluate_int
    from models.train import evaluate

    int_model, model, _, data = load_int_model(str(ckpt))
    return {"float_top1": 100 * evaluate(model, data.test, batch_size=256),
            "int_top1": evaluate_int(int_model, data.test, batch_size=256),
            "test_images": len(data.test)}


def _unit_cycles(program, result) -> dict:
    per = defaultdict(int)
    for desc, cyc in zip(program.descs, result.op_cycles, strict=True):
        per[desc.unit] += cyc
    return dict(sorted(per.items(), key=lambda kv: -kv[1]))


def _plot(program, result, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from sim.accel_cli import layer_rows

    rows = [r for r in layer_rows(program, result) if r["name"] not in ("dma_in", "dma_out")]
    units = {}
    for name, desc in zip(program.names, program.descs, strict=True):
        units.setdefault(name, desc.unit)
    kinds = sorted({units[r["name"]] for r in rows})
    colors = {k: plt.cm.tab20(i % 20) for i, k in enumerate(kinds)}
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(13, 4.5), width_ratios=[3, 1])
    ax1.bar(range(len(rows)), [r["cycles"] for r in rows],
            color=[colors[units[r["name"]]] for r in rows])
    ax1.set_xlabel("op, in program order (patch embedding, 4 blocks, heads)")
    ax1.set_ylabel("cycles")
    ax1.set_title("cycles per op (accelerator counters, RTL)")
    per = _unit_cycles(program, result)
    ax2.barh(list(per), list(per.values()), color=[colors.get(k, "grey") for k in per])
    ax2.set_xlabel("cycles per image")
    ax2.set_title("by unit")
    ax2.invert_yaxis()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _check(*, out: Path, sim: str, epochs: int, images: int, ckpt: Path | None,
           cache: Path, force: bool) -> None:
    """Every argument of the demo, before any work."""
    from golden.atomic import check_out
    from sim.toolchain import prepare

    prepare(sim)
    if images < 1:
        raise VitsimError(f"--images must be at least 1, not {images}")
    if epochs < 1:
        raise VitsimError(f"--epochs must be at least 1, not {epochs}")
    check_out(out, "demo", force=force, inputs=[ckpt, cache])
    if Path(cache).exists() and not Path(cache).is_dir():
        raise VitsimError(f"--cache {cache}: exists and is not a directory")
    if ckpt is not None:
        from models.checkpoint import read_config

        meta = read_config(str(ckpt))
        if meta.get("gsb") is None or not meta["model"].startswith("gsb_"):
            raise VitsimError(f"--ckpt {ckpt}: the demo needs a GSB checkpoint, this one is "
                              f"{meta['model']!r}")


def run_demo(*, out: Path, sim: str, epochs: int, seed: int, images: int,
             ckpt: Path | None = None, cache: Path = CACHE, echo=print,
             force: bool = False) -> int:
    """Run the demo (see the module doc); return the exit status.

    ``force`` replaces an earlier demo run at ``out`` (never anything else)."""
    from golden.atomic import atomic_dir

    out = Path(out)
    _check(out=out, sim=sim, epochs=epochs, images=images, ckpt=ckpt, cache=cache,
           force=force)
    with atomic_dir(out, kind="demo", overwrite=force) as tmp:
        status = _run(tmp, shown=out, sim=sim, epochs=epochs, seed=seed, images=images,
                      ckpt=ckpt, cache=cache, echo=echo)
    return status


def _run(out: Path, *, shown: Path, sim: str, epochs: int, seed: int, images: int,
         ckpt: Path | None, cache: Path, echo) -> int:
    """The demo's steps, writing into ``out`` (the temporary run directory that becomes
    ``shown``)."""
    from sim.accel_cli import first_failure, memory_figures, simulate_golden
    from sim.accel_run import accel_verilog
    from sim.cli import main

    walls = {}
    t = time.perf_counter()
    echo("[1/6] trained GSB ViT on digits")
    ckpt = Path(ckpt) if ckpt else cached_checkpoint(epochs=epochs, seed=seed, cache=cache,
                                                          echo=echo)
    walls["model"] = time.perf_counter() - t
    t = time.perf_counter()
    echo("[2/6] integer model accuracy (the golden arithmetic) on the test split")
    acc = _accuracy(ckpt)
    echo(f"      float (per-image) {acc['float_top1']:.2f} %, integer {acc['int_top1']:.2f} % "
         f"on {acc['test_images']} test images")
    walls["accuracy"] = time.perf_counter() - t
    t = time.perf_counter()
    echo(f"[3/6] golden vectors for {images} test images")
    golden = out / "golden"
    if main(["golden", "--ckpt", str(ckpt), "--out", str(golden), "--images", str(images),
             "--seed", str(seed)]) != 0:
        raise VitsimError("exporting the golden package failed")
    walls["golden"] = time.perf_counter() - t
    t = time.perf_counter()
    echo("[4/6] compile + Verilog")
    from golden.netpkg import read_network
    from sim.compiler import compile_network

    pkg = read_network(golden)
    first = compile_network(pkg, image=0)
    # the verified program keeps every layer readable; a deployment shares buffers
    reused = compile_network(pkg, image=0, reuse=True)
    verilog = accel_verilog(first.cfg, out_dir=out / "verilog")
    echo(f"      {len(first.descs)} descriptors per image; {shown / verilog.relative_to(out)} "
         f"({verilog.stat().st_size / 1e6:.1f} MB)")
    walls["compile"] = time.perf_counter() - t
    t = time.perf_counter()
    echo(f"[5/6] RTL simulation on {sim}")
    runs = simulate_golden(golden, sim=sim, work=out / "sim",
                           echo=lambda s: echo("      " + s))
    walls["simulate"] = time.perf_counter() - t
    echo("[6/6] report")
    program, result = runs[0]
    mem = memory_figures(program)
    mem["scratch_bytes_with_reuse"] = reused.used * 4
    mem["activation_bytes_with_reuse"] = (reused.used - reused.preload) * 4
    ok = all(r.passed for _, r in runs)
    labels = (read_network(golden).manifest.get("images") or {}).get("labels", [])
    per_image = []
    for (prog, res), label in zip(runs, labels, strict=False):
        logits = prog.expected.get("logits")
        per_image.append({"image": prog.meta["image"], "label": label,
                          "predicted": None if logits is None else int(logits.argmax()),
                          "bit_exact": res.passed, "cycles": res.cycles,
                          "tensors": len(res.tensors),
                          "failure": first_failure(prog, res)})
    report = {"ckpt": str(ckpt), "sim": sim, "bit_exact": ok, "accuracy": acc,
              "memory": mem, "images": per_image, "unit_cycles": _unit_cycles(program, result),
              "wall_s": walls, "config": program.cfg.to_dict()}
    _write(out / "report.json", json.dumps(report, indent=2) + "\n")
    _plot(program, result, out / "cycles.png")
    _write(out / "report.md", _markdown(report))
    cyc = [p["cycles"] for p in per_image]
    echo(f"verdict: {'BIT-EXACT' if ok else 'MISMATCH'}: {len(runs)} images, every layer and "
         f"the logits compared (==) with the golden package")
    echo(f"cycles per image: {min(cyc)}..{max(cyc)}; at 100 MHz "
         f"{1e-5 * sum(cyc) / len(cyc):.2f} ms")
    echo(f"on-chip scratchpad: {mem['scratch_bytes'] / 1024:.1f} KiB "
         f"({mem['preload_bytes'] / 1024:.1f} KiB parameters + image, "
         f"{mem['activation_bytes'] / 1024:.1f} KiB activations, none reused); with "
         f"buffer reuse {mem['scratch_bytes_with_reuse'] / 1024:.1f} KiB "
         f"({mem['activation_bytes_with_reuse'] / 1024:.1f} KiB activations)")
    echo(f"off-chip bytes per image: {mem['offchip_in_bytes']} in, {mem['offchip_out_bytes']} "
         f"out (+ {mem['program_bytes']} program)")
    echo(f"integer top-1 {acc['int_top1']:.2f} % (float {acc['float_top1']:.2f} %)")
    echo(f"report: {shown / 'report.md'}")
    for p in per_image:
        if p["failure"]:
            echo(f"image {p['image']}: {p['failure']}")
    return 0 if ok else 1


def _markdown(r: dict) -> str:
    mem, acc = r["memory"], r["accuracy"]
    lines = [
        "# vitsim demo report", "",
        f"Checkpoint `{r['ckpt']}`; simulator {r['sim']}; verdict: "
        f"**{'bit-exact' if r['bit_exact'] else 'MISMATCH'}**.", "",
        f"Integer top-1 {acc['int_top1']:.2f} %, float (per-image) {acc['float_top1']:.2f} % "
        f"on {acc['test_images']} digits test images.", "",
        "| image | label | predicted | bit-exact | tensors compared | cycles |",
        "|---:|---:|---:|:---:|---:|---:|",
    ]
    for p in r["images"]:
        lines.append(f"| {p['image']} | {p['label']} | {p['predicted']} | "
                     f"{'yes' if p['bit_exact'] else 'NO'} | {p['tensors']} | {p['cycles']} |")
    lines += ["", "| memory | bytes |", "|---|---:|"]
    lines += [f"| {k.replace('_', ' ')} | {v} |" for k, v in mem.items()]
    lines += ["", "| unit | cycles (image 0) |", "|---|---:|"]
    lines += [f"| {k} | {v} |" for k, v in r["unit_cycles"].items()]
    lines += ["", "| step | wall s |", "|---|---:|"]
    lines += [f"| {k} | {v:.1f} |" for k, v in r["wall_s"].items()]
    lines += ["", "![cycles per op](cycles.png)", ""]
    return "\n".join(lines)
