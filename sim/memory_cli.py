"""``vitsim memory``: what-if tables, JSON reports, sweeps (CSV) and plots of the analytic model.

Examples::

    vitsim memory --model deit_small_patch16_224 --scheme gsb
    vitsim memory --model deit_small_patch16_224 --scheme qvit4 --set head_w_bits=4:3:3:4:4:2 \\
        --set memory.weight_kib=512 --json --out report.json --plot layers.png
    vitsim memory --model deit_tiny_patch16_224 --sweep scheme=int8,qvit4,gsb \\
        --sweep act_kib=128,256,512 --out grid.csv
    vitsim memory --checkpoint runs/fp --checkpoint runs/gsb --plot pareto.png
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from golden.errors import VitsimError
from golden.jsonio import read_json_object

__all__ = ["register"]


def register(subparsers) -> None:
    """Add the ``memory`` sub-command to ``subparsers``."""
    p = subparsers.add_parser(
        "memory", help="analytic on-chip memory, DRAM traffic and cycles (what-if, sweeps)",
        description="Analytic memory/bandwidth/cycle model of a compressed ViT.")
    p.add_argument("--model", default="deit_small_patch16_224",
                   help="model name (default deit_small_patch16_224)")
    p.add_argument("--scheme", default="gsb",
                   help="fp32, int8, qvit4, qvit3, binary, gsb, gsb_lowrank (default gsb)")
    p.add_argument("--scheme-file", type=Path, help="JSON file with a full scheme config")
    p.add_argument("--hw", type=Path,
                   help="JSON file with an accel config (binary, mac, memory parts)")
    p.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE",
                   help="override one config field (scheme.w_bits=2, memory.act_kib=128...)")
    p.add_argument("--sweep", action="append", default=[], metavar="FIELD=V1,V2,...",
                   help="sweep a field (repeat for a grid); prints CSV")
    p.add_argument("--checkpoint", action="append", default=[], type=Path, metavar="DIR",
                   help="a trained checkpoint: its model, scheme and accuracy (repeatable)")
    p.add_argument("--accel-package", type=Path, metavar="DIR",
                   help="a GSB network package: also report the whole-network accelerator's "
                        "cycles per op, exact to its counters, for the accelerator "
                        "`vitsim compile` sizes to it (needs a GSB scheme)")
    from sim.accel_cli import onchip_arg

    onchip_arg(p, "--accel-package: compile image 0 for ")
    p.add_argument("--json", action="store_true", help="print the full JSON report")
    p.add_argument("--out", type=Path, help="write the JSON (or CSV) here instead of stdout")
    p.add_argument("--plot", type=Path, help="write a figure (PNG) here")
    p.set_defaults(func=cmd_memory)


def _read_json(path: Path) -> dict:
    return read_json_object(path)


def _parse(specs: list[str], flag: str) -> list[tuple[str, list]]:
    """:func:`parse_sweep` of the specs of ``flag`` (``--set`` or ``--sweep``), its errors
    naming that flag."""
    from sim.analytic.sweep import parse_sweep

    try:
        return parse_sweep(specs)
    except VitsimError as exc:
        msg = str(exc)
        if msg.startswith("--sweep: ") and flag != "--sweep":
            msg = f"{flag}: " + msg[len("--sweep: "):].replace("v1,v2,...", "VALUE")
        raise VitsimError(msg) from None


def _check_values(sets, sweeps, args, base, accel) -> None:
    """Build each ``--set``/``--sweep`` value's configs alone, so that a value its config
    refuses is reported with the flag and field that gave it."""
    from sim.analytic.sweep import point_configs

    for flag, specs in (("--set", sets), ("--sweep", sweeps)):
        for name, values in specs:
            if name == "model" or (args.checkpoint and name.startswith("model.")):
                continue  # the model's name is checked apart; a checkpoint sets its own
            for value in values:
                try:
                    point_configs({name: value}, model=args.model, scheme=args.scheme,
                                  base_scheme=base, accel=accel)
                except VitsimError as exc:  # "<part> field: <field> must ..." and the like
                    msg, field = str(exc), name.rsplit(".", 1)[-1]
                    if " field: " in msg:
                        msg = msg.split(" field: ", 1)[1]
                    elif f": {field} " in msg:  # "model NAME: depth must ..."
                        msg = msg[msg.index(f": {field} ") + 2:]
                    else:
                        raise
                    raise VitsimError(f"{flag} {name}={value}: {msg}") from None


def _check_args(args: argparse.Namespace) -> None:
    """Every flag of ``vitsim memory`` that can be checked before any work."""
    from golden.atomic import check_out_file

    for flag, path in (("--hw", args.hw), ("--scheme-file", args.scheme_file)):
        if path is not None and path.is_dir():
            raise VitsimError(f"{flag} {path}: is a directory, not a file")
    inputs = [args.hw, args.scheme_file, args.accel_package, *args.checkpoint]
    if args.out is not None:
        check_out_file(args.out, inputs=inputs)
    if args.plot is not None:
        check_out_file(args.plot, flag="--plot", inputs=inputs)
        if args.out is not None and args.plot.resolve() == args.out.resolve():
            raise VitsimError(f"--plot {args.plot}: is also --out")
        if args.plot.suffix.lower() not in (".png", ".pdf", ".svg"):
            raise VitsimError(f"--plot {args.plot}: name a .png, .pdf or .svg file")
    if args.checkpoint and (args.sweep or args.json or args.accel_package is not None
                            or args.out is not None):
        raise VitsimError("--checkpoint compares checkpoints (table and --plot); it takes "
                          "no --sweep, --json, --accel-package or --out")
    if args.sweep and args.accel_package is not None:
        raise VitsimError("--accel-package reports one point; it takes no --sweep")
    if args.double_buffer and args.onchip_kib is None:
        raise VitsimError("--double-buffer needs an on-chip budget: give --onchip-kib KIB")
    if args.onchip_kib is not None and args.accel_package is None:
        raise VitsimError("--onchip-kib sizes the accelerator of --accel-package DIR; give "
                          "--accel-package")


def _emit(text: str, out: Path | None) -> None:
    if out is None:
        print(text, end="" if text.endswith("\n") else "\n")
    else:
        from golden.atomic import atomic_write_text

        atomic_write_text(out, text)
        print(f"wrote {out}")


def _checkpoint_point(path: Path):
    """``(label, vit, scheme, accuracy)`` of a checkpoint's ``config.json`` (no torch)."""
    from golden.model_cfg import GSBCfg, ViTCfg
    from sim.analytic import scheme_preset

    source = path / "config.json"
    meta = _read_json(source)
    for key in ("vit", "metrics"):
        if not isinstance(meta.get(key), dict):
            raise VitsimError(f"{source}: field {key!r} missing or not an object")
    vit = ViTCfg.from_dict(meta["vit"], source=f"{source}: field 'vit'")
    top1 = meta["metrics"].get("test_top1")
    if not isinstance(top1, (int, float)):
        raise VitsimError(f"{source}: field 'metrics.test_top1' missing or not a number")
    if meta.get("gsb") is None:
        scheme = scheme_preset("fp32", vit)
    else:
        gsb = GSBCfg.from_dict(meta["gsb"], source=f"{source}: field 'gsb'")
        scheme = scheme_preset("gsb", vit, name=gsb.scheme, groups=gsb.groups,
                               embed_bits=gsb.embed_bits)
    return str(meta.get("model", path.name)), vit, scheme, float(top1)


def _table(report: dict) -> str:
    lines = [f"{'layer':<22} {'weight KiB':>11} {'act KiB':>9} {'DRAM kB':>10} {'cycles':>11}"]
    for r in report["layers"]:
        cyc = "-" if r["cycles"] is None else f"{r['cycles']:,}"
        lines.append(f"{r['name']:<22} {r['weight_bytes'] / 1024:>11.2f} "
                     f"{r['act_bytes'] / 1024:>9.1f} {r['offchip_bytes'] / 1e3:>10.1f} {cyc:>11}")
    if "accel_layers" in report:
        lines.append(f"{'accelerator op':<30} {'unit':<12} {'descs':>5} {'cycles':>11}")
        for r in report["accel_layers"]:
            lines.append(f"{r['name']:<30} {r['unit']:<12} {r['descs']:>5} "
                         f"{r['cycles']:>11,}")
        lines.append(f"accelerator total (compute ops, exact): "
                     f"{report['totals']['accel_cycles']:,} cycles")
    if "accel_stream" in report:
        from sim.analytic.accel_traffic import stream_lines

        lines += stream_lines(report["accel_stream"])
    t = report["totals"]
    cyc = "n/a (float)" if t["cycles"] is None else f"{t['cycles']:,}"
    lines.append(f"total: weights {t['weight_bytes'] / 1024:,.1f} KiB "
                 f"({'resident' if t['weights_resident'] else 'streamed'}), peak activations "
                 f"{t['act_bytes'] / 1024:,.1f} KiB, DRAM {t['offchip_bytes'] / 1e6:.3f} MB/frame, "
                 f"cycles {cyc}, {t['macs'] / 1e9:.4f} GMAC, {t['bitops'] / 1e9:.3f} GBitOPs")
    return "\n".join(lines)


def cmd_memory(args: argparse.Namespace) -> int:
    """Handler of ``vitsim memory``; returns the exit status."""
    from golden.accel_spec import AnalyticAccelCfg, SchemeCfg
    from sim.analytic import analyze, evaluate
    from sim.analytic.sweep import point_configs, run_grid, to_csv

    _check_args(args)
    sets = _parse(args.set, "--set")
    if any(len(v) != 1 for _, v in sets):
        raise VitsimError("--set takes one value: FIELD=VALUE")
    sweeps = _parse(args.sweep, "--sweep")
    accel = AnalyticAccelCfg()
    if args.hw is not None:
        accel = AnalyticAccelCfg.from_dict(_read_json(args.hw), source=str(args.hw))
    base = None
    if args.scheme_file is not None:
        base = SchemeCfg.from_dict(_read_json(args.scheme_file), source=str(args.scheme_file))
    chosen = {name: values[0] for name, values in sets}
    _check_values(sets, sweeps, args, base, accel)

    if args.checkpoint:
        if any(name == "model" or name.startswith("model.") for name in chosen):
            raise VitsimError("--checkpoint: the model comes from the checkpoint; "
                              "drop --set model...")
        rows, points = [], []
        for path in args.checkpoint:
            label, vit, scheme, top1 = _checkpoint_point(path)
            _, _, hw = point_configs(chosen, model=label, scheme=scheme.name, base_scheme=scheme,
                                     accel=accel, _vits={(label, ()): vit})
            t = evaluate(vit, scheme, hw)
            rows.append(f"{label:<28} top-1 {100 * top1:6.2f}%  weights "
                        f"{t['weight_bytes'] / 1024:10.1f} KiB  DRAM "
                        f"{t['offchip_bytes'] / 1e6:8.3f} MB/frame")
            points.append({"label": label, "accuracy": top1, **t})
        print("\n".join(rows))
        if args.plot is not None:
            from sim.analytic.plots import pareto

            print(f"wrote {pareto(points, args.plot)}")
        return 0

    if args.sweep:
        fixed = [(n, [v]) for n, v in chosen.items() if n not in dict(sweeps)]
        rows = run_grid(fixed + sweeps, model=args.model, scheme=args.scheme, base_scheme=base,
                        accel=accel)
        _emit(to_csv(rows), args.out)
        if args.plot is not None:
            from sim.analytic.plots import design_space

            print(f"wrote {design_space(rows, args.plot, label_keys=[n for n, _ in sweeps])}")
        return 0

    vit, scheme, hw = point_configs(chosen, model=args.model, scheme=args.scheme,
                                    base_scheme=base, accel=accel)
    top = None
    if args.accel_package is not None:
        from golden.netpkg import NetworkData, read_network
        from sim.compiler import accel_config_for

        top = accel_config_for(NetworkData(read_network(args.accel_package)))
        if args.onchip_kib is not None:
            from sim.analytic.accel_traffic import stream_report

            stream = stream_report(args.accel_package, args.onchip_kib,
                                   double_buffer=args.double_buffer)
    report = analyze(vit, scheme, hw, top)
    if args.onchip_kib is not None:
        report["accel_stream"] = stream
    report["model"]["name"] = chosen.get("model", args.model)
    if args.json:
        _emit(json.dumps(report, indent=1) + "\n", args.out)
    else:
        _emit(_table(report) + "\n", args.out)
    if args.plot is not None:
        from sim.analytic.plots import layer_bars

        print(f"wrote {layer_bars(report, args.plot)}")
    return 0
