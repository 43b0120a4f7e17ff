"""``vitsim board build|simulate|run``: the accelerator on an FPGA board over a UART.

``build`` compiles image 0 of a network package to size the accelerator and its
block-RAM external memory, then writes the board top's bitstream
(:mod:`sim.board.bitstream`). ``simulate`` runs the same board top under cocotb with a UART
model driving its pins through the real host driver (:mod:`sim.board.host`). ``run``
drives a real board on a serial port (pyserial) with that driver: it loads the program,
weights and image, starts the run, polls, reads back and compares with the package.
"""

from __future__ import annotations

import json
from pathlib import Path

from golden.argtypes import at_least
from golden.atomic import check_out, force_arg
from golden.errors import VitsimError

__all__ = ["BOARD_LANES", "register"]

#: Word widths ``--lanes`` takes.
BOARD_LANES = (4, 8, 16, 32)


def _program(args):
    from sim.accel_cli import check_golden_dir
    from sim.board.build import board_program

    check_golden_dir(args.golden)
    return board_program(args.golden, image=args.image, onchip_kib=args.onchip_kib,
                         lanes=args.lanes)


def _divisor(baud: int, board: str) -> int:
    from hw.board.ulx3s import BOARDS

    clock = BOARDS[board][2]
    div = round(clock / baud)
    if div < 4 or abs(clock / div - baud) > 0.02 * baud:
        raise VitsimError(f"--baud {baud}: the {board}'s {clock / 1e6:g} MHz clock gives no "
                          "divisor of at least 4 within 2 % of it (try 1000000 or 115200)")
    return div


def _verdict(res_tensors: dict) -> str:
    bad = [n for n, t in res_tensors.items() if not t["equal"]]
    if not res_tensors:
        return "NOT RUN"
    return ("BIT-EXACT" if not bad else f"MISMATCH in {len(bad)} of {len(res_tensors)} "
            f"tensors (first: {bad[0]}: {res_tensors[bad[0]]['first']})")


def cmd_board_build(args) -> int:
    from sim.board.bitstream import build_bitstream
    from sim.board.build import board_for_program

    check_out(args.out, "board", force=args.force, inputs=[args.golden])
    div = _divisor(args.baud, args.board)
    program = _program(args)
    cfg = board_for_program(program, divisor=div, board=args.board)
    print(f"board top: {args.board}, {program.cfg.lanes} lanes, scratchpad "
          f"{program.cfg.depth} words, external memory {cfg.depth} words "
          f"({cfg.depth * program.cfg.lanes * 4 / 1024:.1f} KiB), UART {cfg.baud:.0f} baud")
    report = build_bitstream(cfg, args.out, seed=args.seed, overwrite=args.force)
    util = report["utilisation"]
    for bel in ("TRELLIS_COMB", "TRELLIS_FF", "DP16KD", "MULT18X18D"):
        if bel in util:
            print(f"  {bel}: {util[bel]['used']} / {util[bel]['available']}")
    print(f"report: {Path(args.out) / 'board_report.json'}")
    if not report["placed"]:
        over = [f"{b} {u['used']}/{u['available']}" for b, u in util.items()
                if u["used"] > u["available"]]
        print(f"does not fit the {report['device']} device: {', '.join(over) or 'placement'}"
              f"; no bitstream")
        return 1
    print(f"fmax {report['fmax_mhz']} MHz (clock {report['clock_mhz']:g} MHz); bitstream: "
          f"{Path(args.out) / 'board.bit'}")
    return 0


def cmd_board_simulate(args) -> int:
    from golden.atomic import MARKER
    from sim.board.build import simulate_board

    check_out(args.work, "board-sim", force=True, inputs=[args.golden], flag="--work")
    program = _program(args)
    Path(args.work).mkdir(parents=True, exist_ok=True)
    (Path(args.work) / MARKER).write_text("board-sim\n")
    rec = simulate_board(program, args.work, divisor=args.divisor, sim=args.sim)
    if rec.get("error"):
        raise VitsimError(f"board simulation: {rec['error']}; see {rec['log']}")
    print(f"image {args.image}: {_verdict(rec.get('tensors', {}))} through the UART "
          f"({rec['bytes_sent']} B sent, {rec['bytes_received']} B received), "
          f"{rec.get('cycles')} cycles start to done, {rec['sim_cycles']} simulated cycles "
          f"(build {rec['build_s']:.1f} s, run {rec['run_s']:.1f} s)")
    summary = {k: v for k, v in rec.items() if k != "tensors"}
    (Path(args.work) / "board_sim.json").write_text(json.dumps(summary, indent=2) + "\n")
    return 0 if rec.get("passed") else 1


def cmd_board_run(args) -> int:
    from sim.board.host import SerialTransport, run_on_board

    program = _program(args)
    port = SerialTransport(args.port, baud=args.baud, timeout=args.timeout)
    try:
        res = run_on_board(program, port)
    finally:
        port.close()
    print(f"image {args.image}: {_verdict(res.tensors)} on the board at {args.port}, "
          f"{res.cycles} cycles start to done ({res.bytes_sent} B sent, "
          f"{res.bytes_received} B read back)")
    if not res.finished:
        print("the board did not finish")
    return 0 if res.passed else 1


def _common(p) -> None:
    from sim.accel_cli import onchip_arg

    p.add_argument("--golden", type=Path, required=True, metavar="PKG",
                   help="network package (vitsim golden --ckpt)")
    p.add_argument("--image", type=at_least(0), default=0,
                   help="which recorded image (default 0)")
    p.add_argument("--lanes", type=int, choices=BOARD_LANES, default=None,
                   help="32-bit elements a scratchpad word, the units narrowed to it as "
                   "`vitsim synth --golden --lanes` does (default: the package's own, 32 on "
                   "digits)")
    onchip_arg(p, prefix="")


def register(sub) -> None:
    """Add ``board`` with ``build``, ``simulate`` and ``run``."""
    from hw.board.ulx3s import BOARDS

    p = sub.add_parser("board", help="the accelerator on an FPGA board: bitstream, "
                       "UART-driven simulation, a run on a real board")
    bsub = p.add_subparsers(dest="board_command", metavar="ACTION")
    bsub.required = True
    b = bsub.add_parser("build", help="bitstream of the board top (Yosys, nextpnr, ecppack)")
    _common(b)
    b.add_argument("--board", choices=sorted(BOARDS), default="ulx3s-85f")
    b.add_argument("--baud", type=at_least(1), default=1_000_000,
                   help="UART baud rate (default 1000000)")
    b.add_argument("--seed", type=int, default=1, help="nextpnr seed (default 1)")
    b.add_argument("--out", type=Path, required=True, help="directory to write")
    force_arg(b)
    b.set_defaults(func=cmd_board_build)
    s = bsub.add_parser("simulate", help="the board top under cocotb, driven through its "
                        "UART by the host driver")
    _common(s)
    s.add_argument("--divisor", type=at_least(4), default=4,
                   help="clock cycles per UART bit in the simulation (default 4)")
    s.add_argument("--sim", choices=["verilator", "icarus"], default="verilator")
    s.add_argument("--work", type=Path, required=True, help="simulation directory")
    s.set_defaults(func=cmd_board_simulate)
    r = bsub.add_parser("run", help="drive a board on a serial port (pyserial)")
    _common(r)
    r.add_argument("--port", required=True, help="serial port, e.g. /dev/ttyUSB0")
    r.add_argument("--baud", type=at_least(1), default=1_000_000)
    r.add_argument("--timeout", type=float, default=5.0,
                   help="seconds to wait for each answer (default 5)")
    r.set_defaults(func=cmd_board_run)
