"""The board top's Verilog, its UART-driven simulation, and its bitstream.

:func:`board_verilog` writes the :class:`hw.board.ulx3s.BoardTop` of a configuration
(cached by a hash of the configuration and the hardware sources) plus a thin wrapper
``board_tb`` whose four ports alone are visible to the simulator. :func:`simulate_board`
runs a compiled program on it under cocotb: the bench (:mod:`sim.benches.board_bench`)
drives the UART pins with the real host driver (:mod:`sim.board.host`).
:func:`build_bitstream` runs Yosys ``synth_ecp5``, nextpnr-ecp5 with the board's LPF and
ecppack, and writes the ``.bit``.
"""

from __future__ import annotations

import hashlib
import json
import pickle
import time
from pathlib import Path

from golden.errors import VitsimError
from hw.board.ulx3s import BoardCfg
from sim.runner import ENV_RESULTS, build_sim, cache_root, sim_runner
from sim.toolchain import prepare

__all__ = ["TB", "board_for_program", "board_program", "board_verilog", "simulate_board"]

TB = "board_tb"
_WRAP = """
// Simulation wrapper of the board top (sim/board/build.py): its pins, public to VPI.
module board_tb (input wire clk /*verilator public_flat_rw*/,
                 input wire rxd /*verilator public_flat_rw*/,
                 output wire txd /*verilator public_flat_rw*/,
                 output wire [7:0] led /*verilator public_flat_rw*/);
  board_top dut (.clk_25mhz(clk), .ftdi_txd(rxd), .ftdi_rxd(txd), .led(led));
endmodule
"""


def board_program(pkg, *, image: int = 0, onchip_kib: float | None = None,
                  lanes: int | None = None):
    """Image ``image`` of network package ``pkg`` compiled for the board: a scratchpad of
    ``onchip_kib`` KiB (weights streamed), on a word of ``lanes`` elements with the units
    narrowed to it (:func:`sim.compiler.sizing.word_cfg`, as ``vitsim synth --golden
    --lanes``; default: the package's own word)."""
    from golden.netpkg import NetworkData, read_network
    from sim.compiler import compile_network
    from sim.compiler.sizing import accel_config_for, word_cfg

    pkg = read_network(pkg)  # read once: the sizing and the compiler share it
    cfg = None if lanes is None else word_cfg(accel_config_for(NetworkData(pkg)), lanes)
    return compile_network(pkg, image=image, cfg=cfg, onchip_kib=onchip_kib)


def board_for_program(program, *, divisor: int = 25, board: str = "ulx3s-85f") -> BoardCfg:
    """The board top that runs ``program``: its accelerator configuration (the external
    memory as deep as the words the program uses) and the UART ``divisor``."""
    from sim.board.host import mem_words

    return BoardCfg(accel=program.cfg, mem_words=mem_words(program), divisor=divisor,
                    board=board)


def _key(cfg: BoardCfg, *parts: str) -> str:
    from sim.accel_run import _source_digest

    text = json.dumps(cfg.to_dict(), sort_keys=True) + _source_digest() + _WRAP + "".join(parts)
    return hashlib.sha256(text.encode()).hexdigest()[:20]


def board_verilog(cfg: BoardCfg, *, sim: bool = True) -> Path:
    """``board_top`` for ``cfg`` as Verilog (cached); ``sim``: with the simulation wrapper
    and the scratchpad as a plain Verilog memory (:class:`hw.accel.scratchpad.VerilogMemories`)."""
    from golden.atomic import atomic_write_text

    path = cache_root() / "verilog" / f"board-{_key(cfg, str(sim))}.v"
    if path.is_file():
        return path
    from amaranth.back import verilog

    from hw.accel.scratchpad import VerilogMemories, ram_verilog
    from hw.board.ulx3s import BoardTop
    from sim.accel_run import zero_init_loops

    text = verilog.convert(BoardTop(cfg), name="board_top", emit_src=False,
                           platform=VerilogMemories() if sim else None)
    text = zero_init_loops(text) + (ram_verilog() + _WRAP if sim else "")
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, text)
    return path


def simulate_board(program, work_dir, *, divisor: int = 4, sim: str = "verilator") -> dict:
    """Run ``program`` on the simulated board top through its UART; return the bench's
    record (``passed``, ``finished``, ``cycles``, ``op_cycles``, ``tensors``, bytes each
    way, ``wall_s``) plus ``build_s``, ``run_s`` and ``log``."""
    prepare(sim)
    cfg = board_for_program(program, divisor=divisor)
    work = Path(work_dir).resolve()
    work.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    source = board_verilog(cfg)
    runner = sim_runner(sim, public=False)
    extra = ("-O3",) if sim == "verilator" else ()
    sim_dir = build_sim(runner, sim=sim, source=source, top=TB, waves=False, work_dir=work,
                        log=work / "build.log", extra_args=extra)
    t1 = time.perf_counter()
    prog_file = work / "program.pkl"
    prog_file.write_bytes(pickle.dumps(program))
    results = work / "results"
    results.mkdir(exist_ok=True)
    (results / "board.json").unlink(missing_ok=True)
    log = work / "sim.log"
    env = {ENV_RESULTS: str(results), "VITSIM_BOARD_PROGRAM": str(prog_file),
           "VITSIM_BOARD_DIVISOR": str(divisor)}
    try:
        runner.test(test_module="sim.benches.board_bench", hdl_toplevel=TB,
                    hdl_toplevel_lang="verilog", build_dir=sim_dir, test_dir=work,
                    extra_env=env, results_xml=str(work / "results.xml"), log_file=log)
    except (SystemExit, RuntimeError):
        pass
    rec_path = results / "board.json"
    if not rec_path.is_file():
        raise VitsimError(f"the board simulation wrote no result; see {log}")
    rec = json.loads(rec_path.read_text())
    rec.update(build_s=t1 - t0, run_s=time.perf_counter() - t1, log=str(log))
    return rec
