"""Gate-level check of the digits accelerator: its post-synthesis ECP5 netlist on one image.

Compiles image 0 of a network package (``--untrained``: an untrained package of the
digits demo's shapes, 4 GSB blocks, built under ``--work``; the hardware and the check do
not depend on the weights), synthesises the accelerator to an ECP5 netlist
(:func:`sim.gate_level.gate_netlist`: Yosys ``synth_ecp5 -nodsp -nobram``), simulates the
netlist with Yosys' ECP5 cell models on Verilator through the RTL's bench and memory model,
and compares every tensor with the golden package (``==``); then prints a table of the
times (synthesis, Verilator build, run) and the verdict::

    /usr/bin/time -v python benchmarks/gate_level.py --untrained --work /tmp/gl
    python benchmarks/gate_level.py PKG --onchip-kib 64 --work /tmp/gl

Exit status 1 when the netlist's run is not bit-exact.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("package", nargs="?", type=Path, help="network package")
    ap.add_argument("--untrained", action="store_true",
                    help="build an untrained digits-shaped package under --work")
    ap.add_argument("--depth", type=int, default=None, help="--untrained: blocks (default 4)")
    ap.add_argument("--onchip-kib", type=float, default=64.0,
                    help="scratchpad budget of the program (default 64)")
    ap.add_argument("--work", type=Path, required=True)
    args = ap.parse_args(argv)
    if (args.package is None) == (not args.untrained):
        ap.error("give a package or --untrained")

    from sim.compiler import compile_network
    from sim.gate_level import gate_netlist, run_gate_level

    args.work.mkdir(parents=True, exist_ok=True)
    pkg = args.package
    if args.untrained:
        pkg = args.work / "pkg" / "net"
        if not pkg.is_dir():
            from netpkgs import untrained_package

            kw = {} if args.depth is None else {"depth": args.depth}
            pkg = untrained_package(args.work / "pkg", images=1, **kw)
    prog = compile_network(pkg, image=0, onchip_kib=args.onchip_kib)
    t0 = time.perf_counter()
    net_dir = args.work / "netlist"
    if (net_dir / "netlist.v").is_file() and (net_dir / "synth.json").is_file():
        syn = json.loads((net_dir / "synth.json").read_text())
    else:
        syn = gate_netlist(prog.cfg, net_dir)
        (net_dir / "synth.json").write_text(json.dumps(syn, indent=2) + "\n")
    print(f"netlist: {syn['netlist']} ({syn['yosys_s']:.0f} s Yosys); cells: "
          + ", ".join(f"{k} {v}" for k, v in sorted(syn["cells"].items())))
    res = run_gate_level(prog, args.work / "run", netlist=Path(syn["netlist"]))
    bad = [n for n, t in res["tensors"].items() if not t["equal"]]
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print("| step | seconds |\n| --- | ---: |")
    print(f"| Yosys synth_ecp5 -nodsp -nobram + write_verilog | {syn['yosys_s']:.0f} |")
    print(f"| Verilator build of the netlist + cell models | {res['build_s']:.0f} |")
    print(f"| simulation of image 0 ({res['cycles']:,} cycles) + compare | {res['run_s']:.0f} |")
    print(f"wall {time.perf_counter() - t0:.0f} s; peak RSS of the tools {peak:.0f} MiB")
    print(f"verdict: {'BIT-EXACT' if res['passed'] else 'NOT BIT-EXACT'}: "
          f"{len(res['tensors'])} tensors compared (==), {len(bad)} differ"
          + (f" (first: {bad[0]}: {res['tensors'][bad[0]]['first']})" if bad else "")
          + ("" if res["finished"] else "; the run did not finish"))
    return 0 if res["passed"] else 1


if __name__ == "__main__":
    sys.exit(main())
