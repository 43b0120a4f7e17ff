"""``vitsim`` commands of the hardware flow: ``demo``, ``verilog``, ``golden``, ``simulate``."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from golden.argtypes import at_least, finite, module_name
from golden.atomic import atomic_dir, check_out, force_arg
from golden.errors import VitsimError

__all__ = ["register"]


def _add_array_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("unit configuration: --config FILE, or the binary-array flags")
    g.add_argument("--config", type=Path, help="JSON config of any unit (its 'kind' says "
                   "which); without 'kind', a binary array")
    g.add_argument("--rows", type=int, help="output lanes (default 8)")
    g.add_argument("--cols", type=int, help="reduction bits per beat (default 64)")
    g.add_argument("--mode", help="xnor or and (default xnor)")
    g.add_argument("--max-k", type=int, help="longest reduction (default 512)")


#: The binary-array flags: config field -> (flag, default).
_ARRAY_FLAGS = {"rows": ("--rows", 8), "cols": ("--cols", 64), "mode": ("--mode", "xnor"),
                "max_k": ("--max-k", 512)}


def _array_cfg(args):
    """The unit config of the command line: ``--config FILE`` (any unit kind; a file without
    ``kind`` is a binary array), else the binary-array flags."""
    from golden.jsonio import read_json_object
    from golden.spec import BinaryArrayCfg, ConfigError
    from golden.units import config_from_dict

    given = [flag for field, (flag, _) in _ARRAY_FLAGS.items()
             if getattr(args, field) is not None]
    if given and (args.config is not None or getattr(args, "unit", None) is not None):
        source = "--config FILE" if args.config is not None else f"unit {args.unit!r}"
        raise VitsimError(f"{given[0]}: a binary-array flag; {source} sets the whole config")
    if getattr(args, "unit", None) is not None:
        if args.config is not None:
            raise VitsimError("give a unit name or --config FILE, not both")
        from sim.units import example_config

        return example_config(args.unit)
    if args.config is not None:
        data = read_json_object(args.config, missing="no such config file")
        if "kind" in data:
            return config_from_dict(data, source=str(args.config))
        return BinaryArrayCfg.from_dict(data, source=str(args.config))
    fields = {field: default if getattr(args, field) is None else getattr(args, field)
              for field, (_, default) in _ARRAY_FLAGS.items()}
    try:
        return BinaryArrayCfg(**fields)
    except (TypeError, ConfigError) as exc:  # the message starts with the field's name
        flag = _ARRAY_FLAGS.get(str(exc).split(" ", 1)[0], ("command line",))[0]
        raise VitsimError(f"{flag}: {exc}") from None


def _write_verilog(cfg, out: Path, name: str | None = None) -> Path:
    from hw.export import export_verilog
    from sim.units import unit_for

    unit = unit_for(cfg.kind)
    return export_verilog(unit.build(cfg), out, name=name or unit.top)


def cmd_verilog(args) -> int:
    check_out(args.out, "verilog", force=args.force, inputs=[args.config])
    cfg = _array_cfg(args)
    name = args.name or unit_name(cfg)
    with atomic_dir(args.out, kind="verilog", overwrite=args.force) as tmp:
        _write_verilog(cfg, tmp, name)
    out = args.out
    print(f"wrote {out / (name + '.v')} and {name}.json ({cfg.kind} {cfg}, "
          f"latency {cfg.latency})")
    return 0


def unit_name(cfg) -> str:
    """Default Verilog module name of ``cfg``'s unit."""
    from sim.units import unit_for

    return unit_for(cfg.kind).top


def cmd_synth(args) -> int:
    from rich.console import Console
    from rich.table import Table

    from hw.synth import DEVICES, synthesize
    from sim.units import unit_for

    check_out(args.out, "synth", force=args.force, inputs=[args.config, args.golden])
    if args.device not in DEVICES:
        raise VitsimError(f"--device: unknown ECP5 device {args.device!r}; choose one of "
                          f"{', '.join(DEVICES)}")
    for flag, val in (("--depth", args.depth), ("--onchip-kib", args.onchip_kib),
                      ("--lanes", args.lanes)):
        if val is not None and args.golden is None:
            raise VitsimError(f"{flag} sizes the accelerator of --golden PKG; give --golden")
    if args.depth is not None and args.onchip_kib is not None:
        raise VitsimError("--depth and --onchip-kib both size the scratchpad; give one")
    if args.golden is not None and args.depth is None:
        return _fit_accel(args)
    if args.golden is not None:
        component, name, cfg = _accel_for_synth(args)
    else:
        cfg = _array_cfg(args)
        unit = unit_for(cfg.kind)
        component, name = unit.build(cfg), unit.top
    with atomic_dir(args.out, kind="synth", overwrite=args.force) as tmp:
        report = synthesize(component, tmp, name=name, device=args.device,
                            freq_mhz=args.freq, nodsp=args.nodsp)
    table = Table(title=f"{report.unit} {cfg} on LFE5U-{args.device.upper()} "
                        f"(out of context{', no DSP' if args.nodsp else ''})")
    for col in ("LUTs", "FFs", "BRAM", "DSP", "fmax MHz", "yosys s", "nextpnr s"):
        table.add_column(col, justify="right")
    table.add_row(str(report.luts), str(report.ffs), str(report.bram), str(report.dsp),
                  f"{report.fmax_mhz:.1f}", f"{report.yosys_s:.1f}", f"{report.nextpnr_s:.1f}")
    Console().print(table)
    print(f"report: {args.out / 'synth_report.json'}")
    if not report.placed:
        util = json.loads((args.out / "synth_report.json").read_text())["utilisation"]
        over = [f"{bel} {u['used']:,}/{u['available']:,}" for bel, u in util.items()
                if u["used"] > u["available"]]
        print(f"does not fit LFE5U-{args.device.upper()}: {', '.join(over) or 'placement failed'}"
              f" (nextpnr could not place it; see {args.out / 'nextpnr.log'})")
        return 1
    return 0


def _fit_accel(args) -> int:
    """``vitsim synth --golden PKG [--onchip-kib N] [--lanes L]``: the fastest accelerator
    configuration that places and routes on ``--device`` (:mod:`sim.fit`)."""
    from rich.console import Console
    from rich.table import Table

    from sim.accel_cli import check_golden_dir
    from sim.fit import candidates, fit

    check_golden_dir(args.golden)
    cands = candidates(args.golden, onchip_kib=args.onchip_kib, lanes=args.lanes)
    with atomic_dir(args.out, kind="synth", overwrite=args.force) as tmp:
        res = fit(cands, tmp, device=args.device, freq_mhz=args.freq, nodsp=args.nodsp,
                  log=lambda line: print(line, flush=True))
        (tmp / "accel_config.json").write_text(json.dumps(res.chosen.cfg.to_dict(), indent=2)
                                               + "\n")
        fps = res.frames_per_s
        record = {"device": args.device, "chosen": res.chosen.label,
                  "onchip_kib": res.chosen.onchip_kib, "cycles": res.chosen.cycles,
                  "fmax_mhz": res.report.fmax_mhz, "frames_per_s": fps,
                  "tried": [{"config": c.label, "needs": n} for c, n in res.tried]}
        (tmp / "fit.json").write_text(json.dumps(record, indent=2) + "\n")
    r = res.report
    table = Table(title=f"accelerator {res.chosen.label} on LFE5U-{args.device.upper()} "
                        f"(out of context{', no DSP' if args.nodsp else ''})")
    for col in ("LUTs", "FFs", "BRAM", "DSP", "fmax MHz", "cycles/frame", "frames/s",
                "yosys s", "nextpnr s"):
        table.add_column(col, justify="right")
    table.add_row(f"{r.luts:,}", f"{r.ffs:,}", str(r.bram), str(r.dsp), f"{r.fmax_mhz:.1f}",
                  "-" if res.chosen.cycles is None else f"{res.chosen.cycles:,}",
                  "-" if fps is None else f"{fps:,.1f}", f"{r.yosys_s:.1f}",
                  f"{r.nextpnr_s:.1f}")
    Console().print(table)
    print(f"report: {args.out / 'synth_report.json'}; config: {args.out / 'accel_config.json'}")
    return 0


def _accel_for_synth(args):
    """``(component, name, label)``: the accelerator sized for network package
    ``args.golden`` (``args.depth`` scratchpad words, ``args.lanes`` lanes, default 32)."""
    import dataclasses

    from golden.netpkg import read_network
    from golden.spec import ConfigError
    from hw.accel.top import Accelerator
    from sim.accel_cli import check_golden_dir
    from sim.compiler import compile_network
    from sim.compiler.sizing import word_cfg

    check_golden_dir(args.golden)
    pkg = read_network(args.golden)
    cfg = compile_network(pkg, reuse=True).cfg
    if args.lanes is not None:
        cfg = compile_network(pkg, reuse=True, cfg=word_cfg(cfg, args.lanes)).cfg
    try:  # the config bounds the depth
        cfg = dataclasses.replace(cfg, depth=args.depth)
    except ConfigError as exc:
        raise VitsimError(f"--depth: {exc}") from None
    return Accelerator(cfg), "accelerator", f"lanes={cfg.lanes} depth={cfg.depth}"


def _cut_cases(args) -> int:
    """``vitsim golden --cut PKG --op NAME|all --out DIR``: network op(s) -> unit case(s)."""
    from golden.cut import CutError, cut_network, cut_op
    from golden.netpkg import read_network

    if args.op is None:
        raise VitsimError("golden --cut: give --op NAME (an op of the package) or --op all")
    why = "--cut takes the op's own operands and config"
    _refuse_case_flags(args, (), why, common=True)
    _refuse_config_flags(args, why)
    if args.ckpt is not None:
        raise VitsimError("--ckpt: give --ckpt (a network package) or --cut (unit cases), "
                          "not both")
    kind = "cases" if args.op == "all" else "package"
    check_out(args.out, kind, force=args.force, inputs=[args.cut])
    pkg = read_network(args.cut)
    n_images = len((pkg.manifest.get("images") or {}).get("labels", [])) or 1
    if args.image >= n_images:
        raise VitsimError(f"--image: {args.image} is past the package's {n_images} "
                          f"image{'s' if n_images > 1 else ''} (0..{n_images - 1})")
    if args.op != "all" and args.op not in {op["name"] for op in pkg.manifest["ops"]}:
        raise VitsimError(f"--op: {args.cut} has no op named {args.op!r}")
    if args.op == "all":
        heads = None if args.head is None else [args.head]
        try:
            with atomic_dir(args.out, kind="cases", overwrite=args.force) as tmp:
                cut_network(pkg, tmp, image=args.image, heads=heads)
        except CutError as exc:
            raise _flagged(exc) from None
        cases = [(name, args.out / path.name) for name, path in
                 ((c["op"], Path(c["case"])) for c in
                  json.loads((args.out / "index.json").read_text())["cases"])]
        skipped = json.loads((args.out / "index.json").read_text())["skipped"]
        for name, path in cases:
            print(f"wrote {path}: {name}")
        for rec in skipped:
            print(f"skipped {rec['op']}: {rec['reason']}")
        print(f"{len(cases)} cases under {args.out} ({len(skipped)} ops fit no unit config; "
              f"see {args.out / 'index.json'})")
        return 0
    try:
        case = cut_op(pkg, args.op, args.out, image=args.image, head=args.head)
    except CutError as exc:
        if args.head is None or "head" not in str(exc):
            raise
        raise VitsimError(f"--head: {exc}") from None
    op, cfg = case.manifest["ops"][0], case.manifest["config"]
    print(f"wrote {args.out}: {args.op} (layer {op['layer']}, head {op['head']}, image "
          f"{args.image}) as a {cfg['kind']} case, {op.get('cycles')} cycles by the model")
    return 0


def cmd_golden(args) -> int:
    from golden.package import read_package
    from golden.units import verify_package

    if args.images is not None and args.ckpt is None:
        raise VitsimError("--images: only with --ckpt (the test images of its package)")
    if args.verify is not None:
        why = "--verify checks a package and writes nothing"
        for flag, value in (("--out", args.out), ("--cut", args.cut), ("--ckpt", args.ckpt)):
            if value is not None:
                raise VitsimError(f"{flag}: {why}")
        _refuse_case_flags(args, (), why, common=True)
        _refuse_config_flags(args, why)
        problems = verify_package(read_package(args.verify))
        for line in problems:
            print(f"{args.verify}: {line}")
        print(f"{args.verify}: {'FAIL' if problems else 'OK'}")
        return 1 if problems else 0
    if args.out is None:
        raise VitsimError("golden: give --out DIR to write a case, or --verify DIR")
    if args.cut is not None:
        return _cut_cases(args)
    check_out(args.out, "package", force=args.force, inputs=[args.ckpt, args.config])
    if args.ckpt is not None:
        from golden.casemakers import COMMON_FLAGS
        from models.golden_export import export_golden

        why = "--ckpt writes the checkpoint's network package"
        _refuse_case_flags(args, ("seed",), why, common=True)
        _refuse_config_flags(args, why)
        images = 4 if args.images is None else args.images
        seed = COMMON_FLAGS["seed"] if args.seed is None else args.seed
        pkg = export_golden(args.ckpt, args.out, images=images, seed=seed)
        img = pkg.manifest["images"]
        right = sum(p == y for p, y in zip(img["predictions"], img["labels"], strict=True))
        print(f"wrote {args.out}: {len(pkg.manifest['ops'])} ops of "
              f"{pkg.manifest['model']['name']}, {len(img['labels'])} images "
              f"({right} classified right in integer mode), {len(pkg.tensors)} tensors")
        return 0
    cfg = _array_cfg(args)
    try:
        return _write_case(cfg, args)
    except VitsimError as exc:
        raise _flagged(exc) from None
    except MemoryError:  # nothing is written: the case directory is atomic
        raise VitsimError(f"--m/--n/--k: a {cfg.kind} case of this size does not fit in "
                          "memory") from None


#: The most rows (``--m``, ``--n``) a unit case written by ``vitsim golden`` may have.
CASE_ROWS = 65536

#: Parameters of the unit case writers and the ``vitsim golden`` flags that set them.
_CASE_FLAGS = {"stimulus": "--stimulus", "k": "--k", "m": "--m", "n": "--n", "bits": "--bits",
               "mult": "--mult", "shift": "--shift", "theta": "--theta", "scale": "--scale",
               "w_bits": "--w-bits", "a_bits": "--a-bits", "rows": "--m", "beats": "--m",
               "row_len": "--k", "out_bits": "--bits", "shape": "--m/--n/--k", "d": "--k",
               "head": "--head", "image": "--image"}


def _flagged(exc: VitsimError) -> VitsimError:
    """``exc`` with the flag that set the parameter it names in front (``bits must be ...``
    becomes ``--bits: bits must be ...``); other errors unchanged."""
    msg = str(exc)
    word = msg.split(" ", 1)[0]
    if word in _CASE_FLAGS and " must " in msg:
        return VitsimError(f"{_CASE_FLAGS[word]}: {msg}")
    return exc


def _refuse_case_flags(args, allowed, why: str, *, common: bool = False) -> None:
    """:class:`VitsimError` naming the first unit-case flag given that is not in ``allowed``
    (the flags of every unit's case, :mod:`golden.casemakers`; ``common``: the ones every
    case takes, :data:`golden.casemakers.COMMON_FLAGS`, too)."""
    from golden.casemakers import COMMON_FLAGS, load
    from golden.unit_spec import attached, attached_kinds

    load()
    unit_flags = {name for kind in sorted(attached_kinds("case_flags"))
                  for name in attached(kind, "case_flags").defaults}
    names = sorted(unit_flags - set(allowed) - set(COMMON_FLAGS))
    if common:
        names += [n for n in COMMON_FLAGS if n not in allowed]
    for name in names:
        value = getattr(args, name, None)
        if value is not None and value is not False:
            raise VitsimError(f"--{name.replace('_', '-')}: {why}")


def _refuse_config_flags(args, why: str) -> None:
    """:class:`VitsimError` naming ``--config`` or the first binary-array flag given (the
    unit configuration of a unit case), with ``why``."""
    if args.config is not None:
        raise VitsimError(f"--config: {why}")
    for field, (flag, _) in _ARRAY_FLAGS.items():
        if getattr(args, field) is not None:
            raise VitsimError(f"{flag}: {why}")


def _write_case(cfg, args) -> int:
    """Write the unit case of ``cfg`` that the flags of ``vitsim golden`` describe."""
    from golden.casemakers import COMMON_FLAGS, case_flags_of
    from golden.units import unit

    for name, default in COMMON_FLAGS.items():
        if getattr(args, name) is None:
            setattr(args, name, default)
    flags = case_flags_of(cfg.kind)
    _refuse_case_flags(args, flags.defaults, f"{cfg.kind} cases do not take it")
    kwargs = flags.arguments(cfg, vars(args))
    pkg = unit(cfg.kind).case(cfg, args.out, **kwargs, seed=args.seed, stimulus=args.stimulus)
    op = pkg.manifest["ops"][0]
    print(f"wrote {args.out}: {op['name']} ({cfg.kind} {cfg}), {op.get('cycles')} cycles by the "
          f"model")
    return 0


def simulate_case(case_dir: Path, *, sim: str, build_dir: Path, waves: bool = False,
                  seed: int = 0, verilog_dir: Path | None = None):
    """Run a case's bench on ``sim``; return the :class:`sim.runner.BenchResult`.

    The unit's Verilog comes from ``verilog_dir`` when given (as written by
    ``vitsim verilog``; its config must match the case's), else it is generated.
    """
    from golden.package import read_package
    from golden.units import case_config
    from sim.runner import run_bench
    from sim.toolchain import prepare
    from sim.units import unit_for

    prepare(sim)  # fail on a bad simulator before any work
    cfg = case_config(read_package(case_dir))
    unit = unit_for(cfg.kind)
    if verilog_dir is None:
        vdir = _write_verilog(cfg, build_dir / "verilog")
    else:
        vdir = verilog_dir
        sidecar = vdir / f"{unit.top}.json"
        if not sidecar.is_file():
            raise VitsimError(f"{sidecar}: missing Verilog sidecar (run 'vitsim verilog')")
        if json.loads(sidecar.read_text()).get("config") != cfg.to_dict():
            raise VitsimError(f"{sidecar}: field 'config' does not match the case's config "
                              f"({cfg})")
    return run_bench(verilog_dir=vdir, top=unit.top, bench=unit.bench,
                     case_dir=case_dir, build_dir=build_dir / sim, sim=sim, waves=waves,
                     seed=seed)


def _print_result(result) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"bench on {result.sim}")
    for col in ("bench test", "bit-exact", "cycles", "model cycles", "first mismatch"):
        table.add_column(col)
    for rec in result.records:
        mism = rec.get("mismatch")
        table.add_row(rec["name"], "yes" if rec["passed"] else "NO", str(rec["cycles"]),
                      str(rec["model_cycles"]),
                      "-" if mism is None else f"elem {mism['element']} cycle "
                      f"{mism.get('cycle')}: exp {mism['expected']} got {mism['got']}")
    Console().print(table)
    print(result.summary())


def cmd_simulate(args) -> int:
    if args.golden is not None:
        from sim.accel_cli import check_golden_dir, cmd_simulate_golden

        if args.case is not None:
            raise VitsimError("give --case (one unit) or --golden (the accelerator), not both")
        check_golden_dir(args.golden)
        return cmd_simulate_golden(args)
    if args.case is None:
        raise VitsimError("simulate needs --case DIR (a unit case) or --golden DIR (a network "
                          "package on the accelerator)")
    if args.waves_op is not None:
        raise VitsimError("--waves-op names an op of a network: it needs --golden, not --case")
    from golden.package import read_package
    from golden.units import case_config
    from sim.toolchain import prepare

    prepare(args.sim)  # the simulator, the case and the Verilog, before the work directory
    cfg = case_config(read_package(args.case))
    if args.verilog is not None:
        from sim.units import unit_for

        sidecar = args.verilog / f"{unit_for(cfg.kind).top}.json"
        if not sidecar.is_file():
            raise VitsimError(f"{sidecar}: missing Verilog sidecar (run 'vitsim verilog')")
    from sim.workdir import work_dir

    build = work_dir(args, args.case)
    result = simulate_case(args.case, sim=args.sim, build_dir=build, waves=args.waves,
                           seed=args.seed, verilog_dir=args.verilog)
    _print_result(result)
    if result.waves is not None:
        print(f"waveform: {result.waves}")
        window = _mismatch_window(result, args.window)
        if window is not None:
            print(f"waveform window around the first mismatch: {window}")
    elif result.passed and args.build_dir is None:
        import shutil

        shutil.rmtree(build, ignore_errors=True)  # a fresh one: nothing in it to look at
    if build.exists():
        print(f"work directory: {build}")
    return 0 if result.passed else 1


def _mismatch_window(result, cycles: int) -> Path | None:
    """Cut ``cycles`` clock cycles before (and a quarter as many after) the first mismatch
    out of a VCD trace, beside it; ``None`` when nothing failed or the trace is FST."""
    from sim.runner import CLOCK_PS
    from sim.waves import vcd_timescale_ps, vcd_window

    hit = next((r["mismatch"] for r in result.records
                if r.get("mismatch") and r["mismatch"].get("time_ps") is not None), None)
    if hit is None:
        return None
    if result.waves.suffix != ".vcd":
        print(f"(no window: {result.sim} writes {result.waves.suffix[1:].upper()}, "
              "the full trace is above)")
        return None
    step = vcd_timescale_ps(result.waves)
    t = hit["time_ps"]
    start = max(0, int((t - cycles * CLOCK_PS) / step))
    end = int((t + max(1, cycles // 4) * CLOCK_PS) / step)
    return vcd_window(result.waves, result.waves.with_name("mismatch_window.vcd"), start=start,
                      end=end)


def cmd_demo(args) -> int:
    from sim.demo import run_demo

    return run_demo(out=args.out, sim=args.sim, epochs=args.epochs, seed=args.seed,
                    images=args.images, ckpt=args.ckpt, cache=args.cache, force=args.force)


def register(sub) -> None:
    """Add the hardware-flow commands to the ``vitsim`` sub-parser ``sub``."""
    from sim.runner import sim_from_env
    from sim.toolchain import SIMULATORS

    def sim_arg(p):
        p.add_argument("--sim", default=sim_from_env(),
                       help=f"one of {', '.join(SIMULATORS)} (default: $SIM or verilator)")

    p = sub.add_parser("demo", help="trained GSB ViT -> golden vectors -> accelerator program "
                       "-> Verilog -> RTL simulation -> verdict and report")
    p.add_argument("--out", type=Path, default=Path("runs/demo"), help="run directory")
    force_arg(p)
    p.add_argument("--seed", type=at_least(0), default=0)
    p.add_argument("--epochs", type=at_least(1), default=30,
                   help="training epochs per stage when no cached model exists (default 30)")
    p.add_argument("--images", type=at_least(1), default=4,
                   help="test images to simulate (default 4)")
    p.add_argument("--ckpt", type=Path, help="use this GSB checkpoint instead of the cached one")
    p.add_argument("--cache", type=Path, default=Path("runs/cache"),
                   help="where trained demo models are kept (default runs/cache)")
    sim_arg(p)
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser("verilog", help="write a unit's Verilog and JSON sidecar")
    p.add_argument("unit", nargs="?", help="a unit kind (its example config), e.g. gelu")
    p.add_argument("--out", type=Path, required=True, help="output directory")
    force_arg(p)
    p.add_argument("--name", type=module_name, help="Verilog module name (default: the unit's)")
    _add_array_args(p)
    p.set_defaults(func=cmd_verilog)

    p = sub.add_parser("synth", help="out-of-context ECP5 synthesis: LUT, FF, BRAM, DSP, fmax")
    p.add_argument("unit", nargs="?", help="a unit kind (its example config), e.g. softmax; "
                   "or use --config FILE / the binary-array flags")
    p.add_argument("--out", type=Path, required=True, help="output directory")
    force_arg(p)
    p.add_argument("--target", choices=("ecp5",), default="ecp5")
    p.add_argument("--device", default="85k", help="ECP5 device (default 85k: LFE5U-85F)")
    p.add_argument("--freq", type=finite(positive=True), default=100.0,
                   help="target clock in MHz")
    p.add_argument("--nodsp", action="store_true", help="keep multipliers in LUTs")
    p.add_argument("--golden", type=Path, metavar="PKG", help="fit the whole accelerator "
                   "of network package PKG to --device: the fastest word width whose "
                   "streamed program's accelerator places and routes (slow: minutes to "
                   "an hour)")
    p.add_argument("--onchip-kib", type=finite(positive=True), metavar="KIB",
                   help="--golden: the scratchpad in KiB, weights streamed (default: the "
                   "smallest the program runs in)")
    p.add_argument("--lanes", type=int, choices=(8, 16, 32),
                   help="--golden: only this word width (32-bit elements a word)")
    p.add_argument("--depth", type=at_least(1), metavar="WORDS",
                   help="--golden: no fitting; the buffer-reusing program's accelerator "
                   "with this many scratchpad words")
    _add_array_args(p)
    p.set_defaults(func=cmd_synth)

    p = sub.add_parser("golden", help="write a network package from a checkpoint (--ckpt), "
                       "a unit golden case, a case cut from a network (--cut), or --verify "
                       "a package")
    p.add_argument("--out", type=Path, help="package directory to write")
    force_arg(p)
    p.add_argument("--ckpt", help="binary/gsb checkpoint: write its integer network package")
    p.add_argument("--images", type=int, help="--ckpt: test images (default 4)")
    p.add_argument("--verify", type=Path, help="re-run the kernels on a package and check it")
    p.add_argument("--cut", type=Path, metavar="PKG",
                   help="network package: write the unit case of its op --op")
    p.add_argument("--op", help="--cut: the op to cut, or 'all' (one case per op under --out)")
    p.add_argument("--image", type=at_least(0), default=0,
                   help="--cut: which image (default 0)")
    p.add_argument("--head", type=at_least(0), help="--cut: which head (per-head ops: default 0)")
    p.add_argument("--m", type=at_least(1, hi=CASE_ROWS),
                   help="activation rows (requant: beats; default 4)")
    p.add_argument("--n", type=at_least(1, hi=CASE_ROWS), help="weight rows (default: rows)")
    p.add_argument("--k", type=at_least(1), help="reduction length (default: max_k)")
    p.add_argument("--seed", type=at_least(0),
                   help="seed of the case stimulus, or of --ckpt's calibration and test images "
                        "(default 0)")
    p.add_argument("--stimulus",
                   help="random (default); arrays: max, min (binary also alternating); "
                        "requant: extremes, ties; softmax: uniform, equal, spike; "
                        "layernorm: extremes, constant, mixed; gelu: extremes; "
                        "threshold: ties")
    g = p.add_argument_group("MAC array cases")
    g.add_argument("--w-bits", type=at_least(1), help="weight width (default 8)")
    g.add_argument("--a-bits", type=at_least(1), help="activation width (default 8)")
    g.add_argument("--a-unsigned", action="store_true", help="unsigned activations")
    g = p.add_argument_group("softmax and GELU cases (--m rows / beats, --k row length)")
    g.add_argument("--scale", type=finite(positive=True),
                   help="input scale (default 1/64)")
    g = p.add_argument_group("GSB encoder cases (--m heads, --n tokens, --k width)")
    g.add_argument("--gsb-attention", action="store_true",
                   help="one-tailed attention planes with base threshold --theta (default: V)")
    g.add_argument("--theta", type=int, help="base-plane threshold (default 0)")
    g = p.add_argument_group("requantiser cases")
    g.add_argument("--mult", type=int,
                   help="multiplier of every lane (signed, mult_bits wide; default 2**30)")
    g.add_argument("--shift", type=at_least(1), help="right shift (default 40)")
    g.add_argument("--bits", type=at_least(1), help="output width (default 8)")
    g.add_argument("--out-unsigned", action="store_true", help="unsigned outputs")
    _add_array_args(p)
    p.set_defaults(func=cmd_golden)

    p = sub.add_parser("simulate", help="run a golden case on the RTL, report bit-exactness")
    p.add_argument("--case", type=Path, help="golden case package (one unit)")
    p.add_argument("--golden", type=Path, help="network package: run every recorded image on "
                   "the whole accelerator, per-layer verdicts and cycles")
    p.add_argument("--verilog", type=Path, help="Verilog directory from 'vitsim verilog' "
                   "(default: generate it)")
    p.add_argument("--build-dir", type=Path, help="work directory: a new or empty one, or one "
                   "a simulation used before (default: a fresh one under the build cache; "
                   "the package or case is only read)")
    p.add_argument("--waves", action="store_true", help="--case: record a waveform; on a "
                   "mismatch also cut a window around it (Verilator's VCD). --golden: on a "
                   "mismatch re-run the image and write a VCD of just the op that produced "
                   "the first failing tensor; prints its path and cycle range")
    p.add_argument("--window", type=at_least(1), default=40, metavar="CYCLES",
                   help="--case --waves: clock cycles of the window before the first mismatch")
    p.add_argument("--waves-op", metavar="OP", help="--golden: write the VCD window of op OP "
                   "(as named in the per-layer table) of the first image, mismatch or not")
    p.add_argument("--waves-cycles", type=at_least(1), default=1000, metavar="CYCLES",
                   help="--golden: the longest window (default 1000; 15-60 KB a cycle); "
                   "a longer op keeps its first CYCLES")
    p.add_argument("--seed", type=at_least(0), default=0, help="seed of the gap patterns")
    from sim.accel_cli import max_cycles_arg, onchip_arg, program_arg, reuse_arg
    from sim.accel_mem import mem_model_args

    reuse_arg(p)
    max_cycles_arg(p)
    onchip_arg(p, "--golden: ")
    program_arg(p)
    mem_model_args(p)
    sim_arg(p)
    p.set_defaults(func=cmd_simulate)
