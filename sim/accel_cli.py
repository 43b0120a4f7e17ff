"""``vitsim compile`` and ``vitsim simulate --golden``: a network package on the accelerator.

``compile`` writes the program of one image (``program.json``: config, descriptors in
order with their op names, memory figures) and the accelerator's Verilog. ``simulate
--golden`` compiles each recorded image, runs it in RTL and prints, per layer, whether
every tensor of the layer is bit-exact and the cycles the accelerator counted; then the
logits verdict and the total.
"""

from __future__ import annotations

import json
from pathlib import Path

from golden.atomic import atomic_dir
from golden.errors import VitsimError

__all__ = ["layer_rows", "memory_figures", "register", "simulate_golden"]


def memory_figures(program) -> dict:
    """On-chip and off-chip figures of one program (bytes)."""
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
                    echo=print) -> list[tuple]:
    """Compile and run every image of a network package; return ``[(program, result)]``."""
    from golden.netpkg import read_network
    from sim.accel_compile import compile_network
    from sim.accel_run import run_program

    pkg = read_network(pkg_dir)
    n_images = len((pkg.manifest.get("images") or {}).get("labels", [])) or 1
    out = []
    for image in range(n_images) if images is None else images:
        program = compile_network(pkg, image=image)
        result = run_program(program, work / f"image{image}", sim=sim, harness=harness)
        echo(f"image {image}: {'bit-exact' if result.passed else 'MISMATCH'} on {sim}, "
             f"{result.cycles} cycles (build {result.build_s:.1f} s, run {result.run_s:.1f} s)")
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


def first_failure(program, result) -> str | None:
    """The first failing tensor in network order, with its element, as one line."""
    order = [t for outs in program.meta["op_outputs"].values() for t in outs]
    for tensor in order:
        verdict = result.tensors.get(tensor)
        if verdict is not None and not verdict["equal"]:
            return f"first mismatch: tensor {tensor!r}: {verdict['first']}"
    return None


def cmd_simulate_golden(args) -> int:
    work = args.build_dir or Path(args.golden) / "accel_runs"
    runs = simulate_golden(args.golden, sim=args.sim, work=work)
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
    return 0 if ok else 1


def cmd_compile(args) -> int:
    from sim.accel_compile import compile_network
    from sim.accel_run import accel_verilog

    program = compile_network(args.golden, image=args.image)
    record = {
        "format": "vitsim-accel-program", "config": program.cfg.to_dict(),
        "image": args.image, "package": str(args.golden),
        "descriptors": [{"op": n, "layer": la, "unit": d.unit, "loops": list(d.rn),
                         "beat_cycles": d.beat_cycles, "writes": list(d.wn)}
                        for n, la, d in zip(program.names, program.layers, program.descs,
                                            strict=True)],
        "memory": memory_figures(program),
    }
    with atomic_dir(args.out) as tmp:
        (tmp / "program.json").write_text(json.dumps(record, indent=2) + "\n")
        import numpy as np

        np.save(tmp / "ext_image.npy", program.ext)
        accel_verilog(program.cfg, out_dir=tmp)
    mem = record["memory"]
    print(f"wrote {args.out}: {len(program.descs)} descriptors, scratchpad "
          f"{mem['scratch_bytes'] / 1024:.1f} KiB ({mem['preload_bytes'] / 1024:.1f} KiB "
          f"parameters), {program.cfg.word_bits}-bit words; Verilog accel_tb.v")
    return 0


def register(sub) -> None:
    """Add ``compile`` (``simulate --golden`` is an option of ``simulate``)."""
    p = sub.add_parser("compile", help="compile a network package into an accelerator "
                       "program (+ its Verilog)")
    p.add_argument("golden", type=Path, help="network package (vitsim golden --ckpt)")
    p.add_argument("--out", type=Path, required=True, help="directory to write")
    p.add_argument("--image", type=int, default=0, help="which recorded image (default 0)")
    p.set_defaults(func=cmd_compile)


def check_golden_dir(path: Path) -> None:
    if not (Path(path) / "manifest.json").is_file():
        raise VitsimError(f"{path}: not a network package (no manifest.json)")
