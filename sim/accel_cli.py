"""``vitsim compile`` and ``vitsim simulate --golden``: a network package on the accelerator.

``compile`` writes the program of one image (``program.json``: config, descriptors in
order with their op names, memory figures) and the accelerator's Verilog. ``simulate
--golden`` compiles each recorded image, runs it in RTL and prints, per layer, whether
every tensor of the layer is bit-exact and the cycles the accelerator counted; then the
logits verdict and the total. With ``--waves`` a mismatch also gets a waveform window: the
image is run again, dumping (VCD) only the cycles of the op that produced the first
failing tensor; ``--waves-op NAME`` asks for the window of op ``NAME`` instead.
"""

from __future__ import annotations

import hashlib
import json
import pickle
from pathlib import Path

from golden.argtypes import at_least
from golden.atomic import atomic_dir, check_out, force_arg
from golden.errors import VitsimError

__all__ = ["first_failing_op", "first_failure", "layer_rows", "memory_figures", "register",
           "load_program", "max_cycles_arg", "onchip_arg", "program_arg", "reuse_arg",
           "simulate_golden", "write_op_window"]


def memory_figures(program) -> dict:
    """On-chip and off-chip figures of one program (bytes); of a program compiled for a
    budget (``--onchip-kib``), the off-chip bytes are what its DMA descriptors move
    (:func:`sim.analytic.accel_traffic.frame_traffic`)."""
    if program.meta.get("onchip_kib") is not None:
        from sim.analytic.accel_traffic import frame_traffic

        frame = frame_traffic(program.names, program.descs, program.cfg)
        return {"onchip_budget_bytes": program.cfg.depth * program.cfg.lanes * 4,
                "scratch_bytes": program.used * 4,
                "weight_region_bytes": program.preload * 4,
                "activation_bytes": (program.used - program.preload) * 4,
                "offchip_in_bytes": frame["read_bytes"],
                "offchip_out_bytes": frame["written_bytes"],
                "program_bytes": frame["fetch_bytes"]}
    lanes = program.cfg.lanes
    word = program.cfg.word_bits // 8
    return {
        "scratch_bytes": program.used * 4,
        "preload_bytes": program.preload * 4,
        "activation_bytes": (program.used - program.preload) * 4,
        "offchip_in_bytes": program.preload // lanes * word,
        "offchip_out_bytes": 4 * int(program.expected["logits"].size)
        if "logits" in program.expected else 0,
        "program_bytes": (len(program.descs) * _dwords(program) + 1) * word,
    }


def _dwords(program) -> int:
    from golden.accel_program import desc_words

    return desc_words(program.cfg)


def layer_rows(program, result) -> list[dict]:
    """Per network op (in order): its descriptors' summed cycles and whether every tensor
    it produced is bit-exact."""
    rows, index = [], {}
    for name, layer, cyc in zip(program.names, program.layers, result.op_cycles, strict=True):
        if name not in index:
            index[name] = len(rows)
            rows.append({"name": name, "layer": layer, "cycles": 0, "exact": None})
        rows[index[name]]["cycles"] += cyc
    owner = {}
    for op_name, outs in program.meta["op_outputs"].items():
        for t in outs:
            owner[t] = op_name
    for tensor, verdict in result.tensors.items():
        op_name = owner.get(tensor, tensor)
        if op_name in index:
            row = rows[index[op_name]]
            row["exact"] = verdict["equal"] if row["exact"] is None else (
                row["exact"] and verdict["equal"])
    return rows


def simulate_golden(pkg_dir, *, sim: str, work: Path, images=None, harness=False,
                    reuse=False, max_cycles=None, onchip_kib=None, mem=None,
                    double_buffer=False, programs=None, echo=print) -> list[tuple]:
    """Compile and run every image of a network package; return ``[(program, result)]``.

    ``reuse``: compile with buffer reuse (only the tensors intact at the end, the logits
    among them, are compared). ``max_cycles``: the cycle limit of each run (default: from
    the program's analytic count, :func:`sim.accel_run.cycle_limit`). ``onchip_kib``:
    compile for that on-chip budget (:mod:`sim.compiler.budget`). ``mem``: the external
    memory model (:class:`sim.accel_mem.MemModel`, default one cycle, no wait states).
    ``double_buffer``: with ``onchip_kib``, prefetch the weights under compute.
    ``programs``: image -> an already compiled :class:`sim.compiler.Program` of it (with
    the same options), run instead of compiling that image again."""
    from golden.netpkg import read_network
    from sim.accel_run import run_program
    from sim.compiler import compile_network

    pkg = pkg_dir if hasattr(pkg_dir, "manifest") else read_network(pkg_dir)
    n_images = len((pkg.manifest.get("images") or {}).get("labels", [])) or 1
    out = []
    for image in range(n_images) if images is None else images:
        program = (programs or {}).get(image)
        if program is None:
            program = compile_network(pkg, image=image, reuse=reuse, onchip_kib=onchip_kib,
                                      double_buffer=double_buffer)
        result = run_program(program, work / f"image{image}", sim=sim, harness=harness,
                             max_cycles=max_cycles, mem=mem)
        echo(f"image {image}: {'bit-exact' if result.passed else 'MISMATCH'} on {sim}, "
             f"{result.cycles} cycles (build {result.build_s:.1f} s, run {result.run_s:.1f} s)")
        echo(f"  external memory: {result.bytes_read} B read, {result.bytes_written} B "
             f"written, wait states {result.stalls_read} read + {result.stalls_written} write")
        out.append((program, result))
    return out


def _print_layers(program, result) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"image {program.meta['image']} on {result.sim}")
    for col in ("op", "layer", "bit-exact", "cycles"):
        table.add_column(col, justify="right" if col == "cycles" else "left")
    for row in layer_rows(program, result):
        exact = "-" if row["exact"] is None else ("yes" if row["exact"] else "NO")
        table.add_row(row["name"], "" if row["layer"] is None else str(row["layer"]), exact,
                      str(row["cycles"]))
    Console().print(table)


def first_failing_op(program, result) -> tuple[str, str] | None:
    """``(op, tensor)``: the first failing tensor in network order and the op producing it;
    ``None`` when every tensor is bit-exact."""
    for op, outs in program.meta["op_outputs"].items():
        for tensor in outs:
            verdict = result.tensors.get(tensor)
            if verdict is not None and not verdict["equal"]:
                return op, tensor
    return None


def first_failure(program, result) -> str | None:
    """The first failing tensor in network order, with its element, as one line."""
    hit = first_failing_op(program, result)
    if hit is None:
        return None
    return f"first mismatch: tensor {hit[1]!r}: {result.tensors[hit[1]]['first']}"


def check_waves_op(program, op: str) -> None:
    """Raise :class:`VitsimError` unless some descriptor of ``program`` runs ``op``."""
    if op not in program.names:
        names = ", ".join(dict.fromkeys(program.names))
        raise VitsimError(f"--waves-op: no op {op!r} in the program; its ops: {names}")


def write_op_window(program, result, op: str, *, sim: str, work: Path,
                    max_cycles: int, mem=None) -> tuple[Path, int, int, bool]:
    """Re-run ``program`` on ``sim`` and write a VCD of the cycles of op ``op``.

    ``result`` is a finished run of the same program: its cycle counters place the op
    (every descriptor of it, see :func:`sim.accel_run.op_spans`). The re-run stops at the
    window's end; its raw dump is cut to ``work/waves-<op>.vcd``, written atomically (an
    older one is removed first).
    Returns ``(path, first, last, cut)``: the window's cycles (cycle 0 begins at the edge
    that samples ``start``) and whether the op was longer than ``max_cycles`` and the
    window holds only its first ``max_cycles``. ``mem``: the memory model ``result`` ran
    on (:class:`sim.accel_mem.MemModel`, default none); the re-run uses it too (its wait
    states are seeded, so they repeat); wait states during the header read would place the
    window that many cycles early. Raises :class:`VitsimError` for an op the
    program does not run, an unfinished ``result`` or a failed re-run.
    """
    from sim.accel_run import WaveWindow, op_spans, run_program, trim_window

    check_waves_op(program, op)
    if max_cycles < 1:
        raise VitsimError(f"--waves-cycles must be at least 1, not {max_cycles}")
    if not result.finished:
        raise VitsimError("the accelerator did not finish, so its cycle counters cannot "
                          "place the op")
    idx = [i for i, name in enumerate(program.names) if name == op]
    from sim.accel_mem import MemModel

    mem = MemModel() if mem is None else mem
    spans = op_spans(program, result.op_cycles, result.cycles, header=mem.latency + 1)
    first, last = spans[idx[0]][0], spans[idx[-1]][1]
    cut = last - first + 1 > max_cycles
    if cut:
        last = first + max_cycles - 1
    safe = "".join(ch if ch.isalnum() or ch in "._-" else "_" for ch in op)
    run_dir = Path(work) / "waves_run"
    window = WaveWindow(first=first, last=last, path=run_dir.resolve() / "raw.vcd")
    dst = Path(work) / f"waves-{safe}.vcd"
    dst.unlink(missing_ok=True)  # a failed re-run must not leave an older window behind
    try:
        run_program(program, run_dir, sim=sim, window=window, mem=mem)
        path = trim_window(window, dst)
    finally:
        window.path.unlink(missing_ok=True)  # raw dumps run to tens of MB
    return path, first, last, cut


def _waves(args, runs, work: Path) -> bool:
    """Write the waveform window ``--waves``/``--waves-op`` ask for; False if none could
    be written though one was due."""
    from sim.accel_mem import mem_model_from_args

    target = None
    if args.waves_op is not None:
        program, result = runs[0]
        target = (program, result, args.waves_op, "")
    else:
        for program, result in runs:
            if not result.finished:
                print(f"no waveform window: image {program.meta['image']} did not finish, so "
                      "nothing was compared (name an op with --waves-op)")
                return False
            hit = first_failing_op(program, result)
            if hit is not None:
                why = "" if hit[1] == hit[0] else f", which produced {hit[1]!r}"
                target = (program, result, hit[0], why)
                break
    if target is None:
        print("no mismatch, so no waveform window (name an op with --waves-op)")
        return True
    program, result, op, why = target
    image = program.meta["image"]
    try:
        path, first, last, cut = write_op_window(
            program, result, op, sim=args.sim, work=work / f"image{image}",
            max_cycles=args.waves_cycles, mem=mem_model_from_args(args))
    except VitsimError as exc:
        print(f"no waveform window: {exc}")
        return False
    note = (f" (the op's first {args.waves_cycles} cycles: raise --waves-cycles for more)"
            if cut else "")
    print(f"waveform window: {path}")
    print(f"  op {op!r}{why}, image {image} on {args.sim}: cycles {first}..{last}{note}, "
          f"{path.stat().st_size / 1e6:.1f} MB; cycle 0 begins at the edge that samples "
          "start")
    return True


def cmd_simulate_golden(args) -> int:
    from golden.netpkg import read_network
    from sim.toolchain import prepare
    from sim.workdir import work_dir

    if args.waves_cycles < 1:
        raise VitsimError(f"--waves-cycles must be at least 1, not {args.waves_cycles}")
    if args.max_cycles is not None and args.max_cycles < 1:
        raise VitsimError(f"--max-cycles must be at least 1, not {args.max_cycles}")
    from sim.accel_mem import mem_model_from_args

    mem = mem_model_from_args(args)  # a bad --mem-* value fails before any work
    prepare(args.sim)  # a bad --sim fails before any work
    pkg = read_network(args.golden)  # verified once, before the work directory exists
    onchip = getattr(args, "onchip_kib", None)
    double = getattr(args, "double_buffer", False)
    programs = {}
    if getattr(args, "program", None) is not None:  # what `vitsim compile` wrote
        first = load_program(args.program, pkg, reuse=args.reuse, onchip_kib=onchip,
                             double_buffer=double)
        programs[first.meta["image"]] = first
        print(f"program of image {first.meta['image']}: {args.program} (not compiled again)")
    elif args.waves_op is not None or onchip is not None or double:
        from sim.compiler import compile_network

        # a budget too small is refused before the work directory exists; the program is
        # the one image 0 runs
        first = compile_network(pkg, image=0, reuse=args.reuse, onchip_kib=onchip,
                                double_buffer=double)
        programs[0] = first
    if args.waves_op is not None:
        check_waves_op(first, args.waves_op)
    work = work_dir(args, args.golden)
    print(mem.describe())
    runs = simulate_golden(pkg, sim=args.sim, work=work, reuse=args.reuse,
                           max_cycles=args.max_cycles, onchip_kib=onchip, mem=mem,
                           double_buffer=double, programs=programs)
    ok = True
    total = 0
    for program, result in runs:
        _print_layers(program, result)
        logits = result.tensors.get("logits", {}).get("equal", False)
        total += result.cycles
        print(f"image {program.meta['image']}: logits match: {'yes' if logits else 'NO'}; "
              f"total cycles {result.cycles}")
        fail = first_failure(program, result)
        if fail:
            print(fail)
        if not result.finished:
            print(f"the accelerator did not finish; log: {result.log}")
        ok &= result.passed
    print(f"{len(runs)} images, {'all bit-exact' if ok else 'MISMATCH'}, "
          f"{total // max(len(runs), 1)} cycles per image")
    if args.waves or args.waves_op is not None:
        ok &= _waves(args, runs, work)
    elif ok and args.build_dir is None:
        import shutil

        shutil.rmtree(work, ignore_errors=True)  # a fresh one: nothing in it to look at
    if work.exists():
        print(f"work directory: {work}")
    return 0 if ok else 1


def cmd_compile(args) -> int:
    from golden.netpkg import read_network
    from sim.accel_run import accel_verilog
    from sim.compiler import compile_network

    check_golden_dir(args.golden)
    check_out(args.out, "program", force=args.force, inputs=[args.golden])
    pkg = read_network(args.golden)
    n_images = len((pkg.manifest.get("images") or {}).get("labels", [])) or 1
    if args.image >= n_images:
        raise VitsimError(f"--image: {args.image} is past the package's {n_images} "
                          f"image{'s' if n_images > 1 else ''} (0..{n_images - 1})")
    program = compile_network(pkg, image=args.image, reuse=args.reuse,
                              onchip_kib=args.onchip_kib, double_buffer=args.double_buffer)
    blob = pickle.dumps(program, protocol=pickle.HIGHEST_PROTOCOL)
    record = {
        "format": "vitsim-accel-program", "config": program.cfg.to_dict(),
        "image": args.image, "package": str(args.golden), "reuse": program.meta["reuse"],
        "descriptors": [{"op": n, "layer": la, "unit": d.unit, "loops": list(d.rn),
                         "beat_cycles": d.beat_cycles, "writes": list(d.wn)}
                        for n, la, d in zip(program.names, program.layers, program.descs,
                                            strict=True)],
        "memory": memory_figures(program),
        "reuse_key": _reuse_key(pkg, program.meta["reuse"], args.onchip_kib,
                                args.double_buffer),
        "program_sha256": hashlib.sha256(blob).hexdigest(),
    }
    if args.onchip_kib is not None:
        record["onchip_kib"] = args.onchip_kib
        record["double_buffer"] = args.double_buffer
        record["prefetched"] = program.meta["prefetched"]
    with atomic_dir(args.out, kind="program", overwrite=args.force) as tmp:
        (tmp / "program.json").write_text(json.dumps(record, indent=2) + "\n")
        (tmp / PROGRAM_FILE).write_bytes(blob)
        import numpy as np

        np.save(tmp / "ext_image.npy", program.ext)
        accel_verilog(program.cfg, out_dir=tmp)
    mem = record["memory"]
    if args.onchip_kib is not None:
        pre = (f", {program.meta['prefetched']} loads prefetched under compute"
               if args.double_buffer else "")
        print(f"wrote {args.out}: {len(program.descs)} descriptors, scratchpad "
              f"{mem['scratch_bytes'] / 1024:.1f} of {mem['onchip_budget_bytes'] / 1024:.1f} "
              f"KiB ({mem['weight_region_bytes'] / 1024:.1f} KiB weight region{pre}), external "
              f"memory {mem['offchip_in_bytes']:,} bytes read, {mem['offchip_out_bytes']:,} "
              f"written a frame; Verilog accel_tb.v")
        return 0
    print(f"wrote {args.out}: {len(program.descs)} descriptors, scratchpad "
          f"{mem['scratch_bytes'] / 1024:.1f} KiB ({mem['preload_bytes'] / 1024:.1f} KiB "
          f"parameters), {program.cfg.word_bits}-bit words; Verilog accel_tb.v")
    return 0


#: The compiled program ``vitsim compile`` writes next to ``program.json`` (a pickle of the
#: :class:`sim.compiler.Program`; ``program.json`` holds its SHA-256).
PROGRAM_FILE = "program.pkl"


def _reuse_key(pkg, reuse: bool, onchip_kib, double_buffer: bool) -> dict:
    """What a compiled program depends on besides the image: the package's manifest (its
    SHA-256: the manifest lists every array file's digest) and the compile options."""
    manifest = Path(pkg.path) / "manifest.json"
    return {"manifest_sha256": hashlib.sha256(manifest.read_bytes()).hexdigest(),
            "reuse": bool(reuse or onchip_kib is not None), "onchip_kib": onchip_kib,
            "double_buffer": bool(double_buffer)}


def load_program(path, pkg, *, reuse: bool, onchip_kib, double_buffer: bool):
    """The program ``vitsim compile`` wrote to directory ``path``, after checking that it
    is intact (``program_sha256``) and was compiled from package ``pkg`` with the same
    options (``reuse_key``); raises :class:`VitsimError` naming the file and the field
    otherwise."""
    path = Path(path)
    meta = path / "program.json"
    if not meta.is_file():
        raise VitsimError(f"--program {path}: not a compiled program (no program.json file)")
    try:
        record = json.loads(meta.read_text())
    except (OSError, ValueError) as exc:
        raise VitsimError(f"{meta}: not JSON ({exc})") from None
    if not isinstance(record, dict) or record.get("format") != "vitsim-accel-program":
        raise VitsimError(f"{meta}: field 'format' is not 'vitsim-accel-program'")
    want = _reuse_key(pkg, reuse, onchip_kib, double_buffer)
    have = record.get("reuse_key")
    if not isinstance(have, dict):
        raise VitsimError(f"{meta}: no field 'reuse_key' (written before simulate could "
                          "reuse it: compile again)")
    for key, value in want.items():
        if have.get(key) != value:
            what = "the package" if key == "manifest_sha256" else f"--{key.replace('_', '-')}"
            raise VitsimError(f"{meta}: field 'reuse_key.{key}' is {have.get(key)!r}, not "
                              f"{value!r}: compiled with another {what} than this run's")
    blob_path = path / PROGRAM_FILE
    try:
        blob = blob_path.read_bytes()
    except OSError:
        raise VitsimError(f"--program {path}: no {PROGRAM_FILE} file") from None
    if hashlib.sha256(blob).hexdigest() != record.get("program_sha256"):
        raise VitsimError(f"{blob_path}: its SHA-256 is not program.json's field "
                          "'program_sha256' (changed since it was compiled)")
    return pickle.loads(blob)  # noqa: S301 (our own file, its digest checked above)


def program_arg(p) -> None:
    """The ``--program DIR`` flag of ``simulate --golden``."""
    p.add_argument("--program", type=Path, default=None, metavar="DIR",
                   help="--golden: run the program `vitsim compile` wrote to DIR for its "
                   "image instead of compiling it again (the package and the --reuse/"
                   "--onchip-kib/--double-buffer options must be those it was compiled with)")


def register(sub) -> None:
    """Add ``compile`` (``simulate --golden`` is an option of ``simulate``)."""
    p = sub.add_parser("compile", help="compile a network package into an accelerator "
                       "program (+ its Verilog)")
    p.add_argument("golden", type=Path, help="network package (vitsim golden --ckpt)")
    p.add_argument("--out", type=Path, required=True, help="directory to write")
    force_arg(p)
    p.add_argument("--image", type=at_least(0), default=0,
                   help="which recorded image (default 0)")
    reuse_arg(p)
    onchip_arg(p)
    p.set_defaults(func=cmd_compile)


def reuse_arg(p) -> None:
    """The ``--reuse`` flag of ``compile`` and ``simulate --golden``."""
    p.add_argument("--reuse", action="store_true",
                   help="--golden/compile: share activation buffers by liveness (a smaller "
                   "scratchpad; only the tensors intact at the end, the logits among them, "
                   "can be compared)")


def onchip_arg(p, prefix: str = "--golden/compile: ") -> None:
    """The ``--onchip-kib`` flag of ``compile``, ``simulate --golden`` and ``memory
    --accel-package``."""
    from golden.argtypes import finite

    p.add_argument("--onchip-kib", type=finite(positive=True), default=None, metavar="KIB",
                   help=f"{prefix}a scratchpad of KIB KiB: weights stay in external memory "
                   "and come in by dma_in before each op, activations placed by liveness "
                   "(only the tensors intact at the end, the logits among them, can be "
                   "compared)")
    p.add_argument("--double-buffer", action="store_true",
                   help=f"{prefix}with --onchip-kib: two weight halves, each op's weights "
                   "prefetched while an earlier op computes (where one hides the load)")


def max_cycles_arg(p) -> None:
    """The ``--max-cycles`` flag of ``simulate --golden``."""
    p.add_argument("--max-cycles", type=int, default=None, metavar="N",
                   help="--golden: stop a run after N cycles (default: twice the program's "
                   "analytic count plus 10,000)")


def check_golden_dir(path: Path) -> None:
    """Raise :class:`VitsimError` unless ``path`` is a directory holding a manifest file."""
    path = Path(path)
    if not path.exists():
        raise VitsimError(f"{path}: not a network package (no such directory)")
    if not path.is_dir():
        raise VitsimError(f"{path}: not a network package (a file, not a directory)")
    if not (path / "manifest.json").is_file():
        raise VitsimError(f"{path}: not a network package (no manifest.json file)")
