"""Build the accelerator's Verilog, run a compiled program on it, compare every layer.

:func:`accel_verilog` writes the Amaranth accelerator plus a small Verilog wrapper
(``accel_tb``) that models external memory: loaded with ``$readmemh`` from
``+dram_in=FILE`` at time 0 and written with ``$writememh`` to ``+dram_out=FILE`` when
``done`` rises. :func:`run_program` runs the program under cocotb (Verilator or Icarus,
builds cached by a hash of the Verilog, see :func:`sim.runner.build_sim`) or under the
plain C++ harness, then reads the dumped scratchpad and compares every tensor the
program produced with the golden package (``==``).
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from golden.accel_program import AccelTopCfg
from golden.errors import VitsimError
from golden.version import tool_version
from sim.accel_compile import Program, read_back
from sim.runner import ENV_RESULTS, _cache_root, build_sim, sim_runner
from sim.toolchain import prepare

__all__ = ["AccelResult", "accel_verilog", "compare", "run_program"]

TOP = "accel_tb"
_HW = Path(__file__).resolve().parent.parent / "hw"

_WRAPPER = """
// External memory model around the accelerator (written by vitsim, sim/accel_run.py).
// The ports are the only signals a bench touches; they alone are public to VPI.
module accel_tb (input wire clk /*verilator public_flat_rw*/,
                 input wire rst /*verilator public_flat_rw*/,
                 input wire start /*verilator public_flat_rw*/,
                 output wire done /*verilator public_flat_rw*/,
                 output wire busy /*verilator public_flat_rw*/,
                 output reg dumped /*verilator public_flat_rw*/);
  reg [{w}-1:0] dram [0:{n}-1];
  wire [23:0] mem_addr;
  wire mem_re, mem_we;
  wire [{w}-1:0] mem_wdata;
  reg [{w}-1:0] mem_rdata;
  accelerator dut (.clk(clk), .rst(rst), .start(start), .done(done), .busy(busy),
                   .mem_addr(mem_addr), .mem_re(mem_re), .mem_we(mem_we),
                   .mem_wdata(mem_wdata), .mem_rdata(mem_rdata));
  always @(posedge clk) begin
    if (mem_we) dram[mem_addr] <= mem_wdata;
    if (mem_re) mem_rdata <= dram[mem_addr];
  end
  reg [8*1024-1:0] fin, fout;
  initial begin
    dumped = 1'b0;
    if (!$value$plusargs("dram_in=%s", fin)) begin
      $display("accel_tb: +dram_in=FILE is missing");
      $finish;
    end
    if (!$value$plusargs("dram_out=%s", fout)) begin
      $display("accel_tb: +dram_out=FILE is missing");
      $finish;
    end
    $readmemh(fin, dram);
  end
  always @(posedge clk) begin
    if (done && !dumped) begin
      $writememh(fout, dram);
      dumped <= 1'b1;
    end
  end
endmodule
"""


def _source_digest() -> str:
    h = hashlib.sha256()
    for path in sorted(_HW.rglob("*.py")) + sorted((_HW.parent / "golden").glob("*.py")):
        h.update(path.read_bytes())
    h.update(_WRAPPER.encode())
    h.update(str(tool_version("amaranth")).encode())
    return h.hexdigest()[:16]


def accel_verilog(cfg: AccelTopCfg, out_dir=None) -> Path:
    """Write ``accel_tb.v`` (accelerator + memory wrapper) for ``cfg``; return its path.

    The file is cached by a hash of the config, the hardware sources and the wrapper
    (elaborating the accelerator takes seconds); ``out_dir`` also gets a copy when given.
    """
    key = hashlib.sha256((json.dumps(cfg.to_dict(), sort_keys=True)
                          + _source_digest()).encode()).hexdigest()[:20]
    cached = _cache_root() / "verilog" / f"accel-{key}.v"
    if not cached.is_file():
        from amaranth.back import verilog

        from hw.accel.top import Accelerator

        text = verilog.convert(Accelerator(cfg), name="accelerator", emit_src=False)
        text += _WRAPPER.format(w=cfg.word_bits, n=cfg.ext_words)
        cached.parent.mkdir(parents=True, exist_ok=True)
        tmp = cached.with_suffix(f".tmp{os.getpid()}")
        tmp.write_text(text)
        os.replace(tmp, cached)
    if out_dir is not None:
        out = Path(out_dir) / f"{TOP}.v"
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(cached.read_text())
        return out
    return cached


def write_hex(ext: np.ndarray, path: Path) -> None:
    """External memory image ``[words, lanes]`` as ``$readmemh`` text (element 0 = LSB)."""
    raw = np.ascontiguousarray(ext[:, ::-1]).astype(">u4").tobytes().hex()
    step = ext.shape[1] * 8
    path.write_text("\n".join(raw[i:i + step] for i in range(0, len(raw), step)) + "\n")


def read_hex(path: Path, lanes: int, words: int) -> np.ndarray:
    """``$writememh`` text back to ``[words, lanes]`` uint32 (address lines honoured)."""
    out = np.zeros((words, lanes), dtype=np.uint32)
    addr = 0
    for line in path.read_text().split("\n"):
        line = line.split("//")[0].strip()
        if not line:
            continue
        if line.startswith("@"):
            addr = int(line[1:], 16)
            continue
        if "x" in line.lower() or "z" in line.lower():
            line = "".join("0" if ch in "xXzZ" else ch for ch in line)
        line = line.rjust(lanes * 8, "0")
        if addr < words:
            out[addr] = np.frombuffer(bytes.fromhex(line), dtype=">u4")[::-1]
        addr += 1
    return out


@dataclass
class AccelResult:
    """One program run: verdicts per tensor, cycles per descriptor, speed."""

    sim: str
    finished: bool
    cycles: int  # start to done, measured by the bench
    op_cycles: list  # cycles of each descriptor, read from the accelerator's counters
    tensors: dict  # name -> {"equal": bool, "first": None | {...}}
    build_s: float = 0.0
    run_s: float = 0.0
    sim_wall_s: float = 0.0  # the simulation loop alone
    log: Path | None = None
    extra: dict = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        return self.finished and bool(self.tensors) and all(
            t["equal"] for t in self.tensors.values())


def compare(program: Program, scratch: np.ndarray) -> dict:
    """``{tensor: {"equal", "first"}}``: the read-back tensor ``==`` the package's."""
    got = read_back(program, scratch)
    out = {}
    for name, want in program.expected.items():
        have = got[name]
        want = np.asarray(want, dtype=np.int64)
        if have.shape != want.shape:
            out[name] = {"equal": False, "first": {"shape": list(have.shape),
                                                   "expected_shape": list(want.shape)}}
            continue
        bad = np.argwhere(have != want)
        first = None
        if bad.size:
            idx = tuple(int(i) for i in bad[0])
            first = {"index": list(idx), "got": int(have[idx]), "expected": int(want[idx]),
                     "mismatches": int(bad.shape[0])}
        out[name] = {"equal": not bad.size, "first": first}
    return out


def _scratch(program: Program, dump: np.ndarray) -> np.ndarray:
    words = program.used // program.cfg.lanes
    elems = dump[program.dump_word:program.dump_word + words].reshape(-1)
    return elems.astype(np.int32).astype(np.int64)


def run_program(program: Program, work_dir, *, sim: str = "verilator", harness: bool = False,
                waves: bool = False, max_cycles: int = 10_000_000) -> AccelResult:
    """Run ``program`` on ``sim`` (``harness``: the plain C++ harness, Verilator only)."""
    prepare(sim)
    work = Path(work_dir).resolve()
    work.mkdir(parents=True, exist_ok=True)
    source = accel_verilog(program.cfg)
    dram_in, dram_out = work / "dram_in.hex", work / "dram_out.hex"
    write_hex(program.ext, dram_in)
    if dram_out.exists():
        dram_out.unlink()
    plusargs = [f"+dram_in={dram_in}", f"+dram_out={dram_out}"]
    t0 = time.perf_counter()
    if harness:
        if sim != "verilator":
            raise VitsimError("the C++ harness runs on Verilator only")
        exe = build_harness(source)
        t1 = time.perf_counter()
        proc = subprocess.run([str(exe), str(max_cycles), *plusargs], capture_output=True,
                              text=True)
        line = [ln for ln in proc.stdout.splitlines() if ln.startswith("harness:")]
        if not line:
            raise VitsimError(f"{exe}: no result line: {proc.stderr[-400:]}")
        kv = dict(item.split("=") for item in line[0].split()[1:])
        finished, cycles, wall = kv["finished"] == "1", int(kv["cycles"]), float(kv["wall_s"])
        log = None
    else:
        # built like the harness (Verilator -O3, only the wrapper's ports public), so the
        # two lanes differ by the cocotb loop alone
        runner = sim_runner(sim, public=False)
        log = work / "sim.log"
        sim_dir = build_sim(runner, sim=sim, source=source, top=TOP, waves=waves,
                            work_dir=work, log=work / "build.log",
                            extra_args=("-O3",) if sim == "verilator" else ())
        t1 = time.perf_counter()
        results = work / "results"
        results.mkdir(exist_ok=True)
        env = {ENV_RESULTS: str(results), "VITSIM_MAX_CYCLES": str(max_cycles)}
        try:
            runner.test(test_module="sim.benches.accel_bench", hdl_toplevel=TOP,
                        hdl_toplevel_lang="verilog", build_dir=sim_dir, test_dir=work,
                        extra_env=env, plusargs=plusargs, waves=waves,
                        results_xml=str(work / "results.xml"), log_file=log)
        except (SystemExit, RuntimeError):
            pass
        rec_path = results / "accel.json"
        rec = json.loads(rec_path.read_text()) if rec_path.is_file() else {}
        finished, cycles = bool(rec.get("finished")), int(rec.get("cycles", 0))
        wall = float(rec.get("wall_s", 0.0))
    t2 = time.perf_counter()
    tensors, op_cycles = {}, []
    if finished and dram_out.is_file():
        dump = read_hex(dram_out, program.cfg.lanes, program.cfg.ext_words)
        scratch = _scratch(program, dump)
        tensors = compare(program, scratch)
        op_cycles = [int(x) for x in scratch[program.cnt_base:program.cnt_base
                                             + len(program.descs)]]
    return AccelResult(sim=sim, finished=finished, cycles=cycles, op_cycles=op_cycles,
                       tensors=tensors, build_s=t1 - t0, run_s=t2 - t1, sim_wall_s=wall,
                       log=log)


def build_harness(source: Path) -> Path:
    """The C++ harness binary for ``source`` (cached beside the Verilog)."""
    from sim.cxx_harness import build_harness as build

    exe = source.parent / (source.stem + "-harness") / "harness"
    if exe.is_file():
        return exe
    return build(source, top=TOP, build_dir=exe.parent, harness="accel_harness.cpp",
                 extra_args=("-O3",))
