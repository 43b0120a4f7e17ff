"""Build the accelerator's Verilog, run a compiled program on it, compare every layer.

:func:`accel_verilog` writes the Amaranth accelerator plus a small Verilog wrapper
(``accel_tb``) that models external memory: loaded with ``$readmemh`` from
``+dram_in=FILE`` at time 0 and written with ``$writememh`` to ``+dram_out=FILE`` when
``done`` rises, behind the accelerator's AXI channels with the latency, bandwidth and
wait states of a :class:`sim.accel_mem.MemModel`. :func:`run_program` runs the program
under cocotb (Verilator or Icarus, builds cached by a hash of the Verilog, see
:func:`sim.runner.build_sim`) or under the plain C++ harness, then reads the dumped
scratchpad and compares every tensor the program produced with the golden package (``==``).
"""

from __future__ import annotations

import hashlib
import json
import re
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from golden.accel_program import ADDR_BITS, AccelTopCfg
from golden.errors import VitsimError
from golden.version import tool_version
from sim.accel_mem import WRAPPER as _WRAPPER
from sim.accel_mem import MemModel
from sim.compiler import Program, read_back
from sim.runner import ENV_RESULTS, build_sim, cache_root, sim_runner
from sim.toolchain import prepare
from sim.verdict import RunVerdict

__all__ = ["FALLBACK_MAX_CYCLES", "AccelResult", "WaveWindow", "accel_verilog", "compare",
           "cycle_limit", "op_spans", "run_program", "trim_window", "zero_init_loops"]

TOP = "accel_tb"
_HW = Path(__file__).resolve().parent.parent / "hw"

_WAVES = """
  // Waveform window (only in the Verilog of window runs, see accel_verilog): dump from
  // the edge that begins cycle +wave_from= and end the run at the edge that begins cycle
  // +wave_to= (Verilator ignores $dumpoff; $finish closes the file on both simulators).
  // Cycle 0 begins at the edge that samples start.
  reg [31:0] wave_cycle, wave_from, wave_to;
  reg wave_armed;
  reg [8*1024-1:0] fwaves;
  initial begin
    wave_cycle = 32'hffffffff;
    wave_armed = 1'b0;
    if ($value$plusargs("waves=%s", fwaves) && $value$plusargs("wave_from=%d", wave_from)
        && $value$plusargs("wave_to=%d", wave_to)) begin
      $dumpfile(fwaves);
      wave_armed = 1'b1;
    end
  end
  always @(posedge clk) begin
    if (start) wave_cycle = 32'd0;
    else if (wave_cycle != 32'hffffffff) wave_cycle = wave_cycle + 32'd1;
    if (wave_armed && wave_cycle == wave_from) $dumpvars(0, accel_tb);
    if (wave_armed && wave_cycle == wave_to) $finish;
  end
"""


def _source_digest() -> str:
    h = hashlib.sha256()
    for path in sorted(_HW.rglob("*.py")) + sorted((_HW.parent / "golden").glob("*.py")):
        h.update(path.read_bytes())
    h.update(_WRAPPER.encode())
    h.update(str(tool_version("amaranth")).encode())
    return h.hexdigest()[:16]


def _write_atomic(path: Path, text: str) -> None:
    # a unique temporary name: threads of one process may write the same cached file
    from golden.atomic import atomic_write_text

    atomic_write_text(path, text)


_ZERO_INIT = re.compile(r"  initial begin\n((?:    (\w+)\[\d+\] = \d+'h0+;\n)+)  end\n")


def zero_init_loops(text: str) -> str:
    """``text`` with each memory that Yosys initialises to zero one line per word
    (``mem[i] = 0;``, as it writes every Amaranth ``Memory``) initialised by one loop.

    The memories start at zero either way; the loop keeps the Verilog's size, and the
    simulators' parse and build, independent of the memory's depth. Blocks with a nonzero
    word, or lines of several memories, are left as they are.
    """
    def loop(match: re.Match) -> str:
        lines = match.group(1).splitlines()
        name = match.group(2)
        if any(not ln.startswith(f"    {name}[{i}] = ") for i, ln in enumerate(lines)):
            return match.group(0)
        i = f"{name}__zero_i"
        return (f"  integer {i};\n  initial for ({i} = 0; {i} < {len(lines)}; {i} = {i} + 1) "
                f"{name}[{i}] = 0;\n")

    return _ZERO_INIT.sub(loop, text)


def accel_verilog(cfg: AccelTopCfg, out_dir=None, *, waves: bool = False) -> Path:
    """Write ``accel_tb.v`` (accelerator + memory wrapper) for ``cfg``; return its path.

    The accelerator's Verilog (its scratchpad a Verilog memory without per-word
    initialisers, :class:`hw.accel.scratchpad.VerilogMemories`; :func:`zero_init_loops`
    applied to the units' small memories) is cached by a hash of the
    hardware configuration (``cfg`` less ``ext_words``, the memory model's size), the
    hardware sources and this module's post-processing, so elaborating it (seconds) happens
    once per hardware configuration; the file with the wrapper is cached by that and
    ``ext_words``. ``out_dir`` also gets a copy when given. ``waves``: the wrapper also
    holds the waveform-window logic (``+waves=FILE +wave_from=N +wave_to=M``, see
    :func:`run_program`), in a file of its own, so the normal Verilog and its builds stay
    as they are.
    """
    hw = {k: v for k, v in cfg.to_dict().items() if k != "ext_words"}
    hw_key = hashlib.sha256((json.dumps(hw, sort_keys=True) + _source_digest()
                             + _ZERO_INIT.pattern).encode()).hexdigest()[:20]
    core = cache_root() / "verilog" / f"accel-hw-{hw_key}.v"
    if not core.is_file():
        from amaranth.back import verilog

        from hw.accel.scratchpad import VerilogMemories, ram_verilog
        from hw.accel.top import Accelerator

        text = verilog.convert(Accelerator(cfg), name="accelerator", emit_src=False,
                               platform=VerilogMemories())
        _write_atomic(core, zero_init_loops(text) + ram_verilog())
    cached = core.with_name(f"accel-{hw_key}-ext{cfg.ext_words}.v")
    if not cached.is_file():
        _write_atomic(cached, core.read_text()
                      + _WRAPPER.format(w=cfg.word_bits, n=cfg.ext_words, a=ADDR_BITS))
    if waves:
        plain = cached
        cached = plain.with_name(
            f"{plain.stem}-waves{hashlib.sha256(_WAVES.encode()).hexdigest()[:8]}.v")
        if not cached.is_file():
            text = plain.read_text()
            at = text.rindex("endmodule")  # the wrapper's: it is the last module
            _write_atomic(cached, text[:at] + _WAVES + text[at:])
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
class AccelResult(RunVerdict):
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
    # the memory model's counters (sim.accel_mem): bytes of every R / W beat, and the wait
    # states that cost a cycle (on a channel with a request or a burst outstanding)
    bytes_read: int = 0
    bytes_written: int = 0
    stalls_read: int = 0
    stalls_written: int = 0
    extra: dict = field(default_factory=dict)


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


@dataclass(frozen=True)
class WaveWindow:
    """A waveform window: the clock cycles ``first`` to ``last`` (inclusive) of a run,
    counted from the cycle that begins at the edge sampling ``start`` (cycle 0, the
    accelerator's ``HEADER`` state; the bench's ``cycles`` count from the same edge)."""

    first: int
    last: int
    path: Path  # the VCD to write


def op_spans(program: Program, op_cycles: list, total: int,
             header: int = 2) -> list[tuple[int, int]]:
    """Cycle span ``(first, last)`` of every descriptor of a finished run.

    The sequencer reads the header word (``header`` cycles: the memory's latency plus one,
    plus any wait states of that read), then for each descriptor spends one ``NEXT``
    cycle, then ``FETCH`` (where the op's counter is cleared), the op, and one ``COUNT``
    cycle that stores the counter: descriptor ``i`` holds cycles
    ``N_i .. N_i + op_cycles[i] + 1`` with ``N_0 = header`` and
    ``N_(i+1) = N_i + op_cycles[i] + 2``. The last descriptor's counter is stored after the
    dump, so its span ends the cycle before ``total`` (the bench's count: the edge where
    ``dumped`` rises, after which the simulation stops).
    """
    spans, first = [], header
    for i in range(len(program.descs)):
        if i == len(program.descs) - 1:
            spans.append((first, max(first, total - 1)))
            break
        last = first + int(op_cycles[i]) + 1
        spans.append((first, last))
        first = last + 1
    return spans


def trim_window(window: WaveWindow, dst: Path) -> Path:
    """Cut the raw dump of a ``window`` run to exactly its cycles and write ``dst``
    atomically (the raw file is removed); return ``dst``.

    The raw dump starts at the edge that begins ``window.first`` (its first timestamp);
    ``dst`` keeps the times from there to just before the edge that begins
    ``window.last + 1``. Raises :class:`VitsimError` when the raw dump is missing or
    ends before the window does (the simulation stopped early).
    """
    from sim.runner import CLOCK_PS
    from sim.waves import vcd_timescale_ps, vcd_window

    raw = window.path
    if not raw.is_file():
        raise VitsimError(f"{raw}: the simulator wrote no waveform window")
    step = vcd_timescale_ps(raw)
    start = last = None
    with open(raw, errors="replace") as f:
        for line in f:
            if line.startswith("#"):
                last = int(line[1:])
                start = last if start is None else start
    span = round((window.last - window.first + 1) * CLOCK_PS / step)
    if start is None or last < start + span - 1:
        raise VitsimError(f"{raw}: the waveform ends before cycle {window.last} (did the "
                          "simulation stop early?)")
    vcd_window(raw, dst, start=start, end=start + span - 1)
    raw.unlink()
    return Path(dst)


def _window_runner(sim: str):
    """cocotb's runner for a windowed-waveform build and run: the wrapper's own
    ``$dumpvars`` writes the window, nothing dumps the whole run.

    Verilator: ``--trace`` and ``VM_TRACE=1`` at build (``$dumpvars`` needs the trace
    code), but no run-time ``--trace`` (cocotb's main would open a full trace). Icarus: no
    dump-everything module at build, and ``-vcd`` instead of cocotb's ``-none`` at run.
    The class names key these builds apart from the normal ones in the build cache.
    """
    runner = sim_runner(sim, public=False)
    base = type(runner)
    if sim == "verilator":
        class _WindowVerilator(base):
            def _build_command(self):
                cmds = super()._build_command()
                cmds[1] = ["VM_TRACE=1" if a == "VM_TRACE=0" else a for a in cmds[1]]
                return cmds

        return _WindowVerilator()

    class _WindowIcarus(base):
        def _test_command(self):
            cmds = super()._test_command()
            cmds[0] = ["-vcd" if a == "-none" else a for a in cmds[0]]
            return cmds

    return _WindowIcarus()


#: The cycle limit of a program the analytic model cannot price.
FALLBACK_MAX_CYCLES = 10_000_000


def cycle_limit(program: Program, mem: MemModel | None = None) -> int:
    """The simulation's cycle limit for ``program`` on memory ``mem`` (default
    :class:`MemModel()`): twice its analytic count (:func:`sim.analytic.accel_cycles.run_cycles`
    at ``mem.latency``), times the beat period of a narrow ``mem.bw`` and divided by
    ``1 - mem.stall``, plus 10,000; :data:`FALLBACK_MAX_CYCLES` (scaled alike) when a
    descriptor has no cycle model."""
    from sim.analytic.accel_cycles import run_cycles

    mem = MemModel() if mem is None else mem
    word_bytes = program.cfg.word_bits // 8
    slow = 1 if mem.full_rate(word_bytes) else -(-word_bytes // mem.bw)
    try:
        total = run_cycles(program.descs, program.cfg, latency=mem.latency)
    except ValueError:
        total = FALLBACK_MAX_CYCLES // 2
    return int(2 * total * slow / (1 - mem.stall)) + 10_000


def run_program(program: Program, work_dir, *, sim: str = "verilator", harness: bool = False,
                waves: bool = False, window: WaveWindow | None = None,
                max_cycles: int | None = None, mem: MemModel | None = None) -> AccelResult:
    """Run ``program`` on ``sim`` (``harness``: the plain C++ harness, Verilator only).

    ``mem``: the external memory's latency, bandwidth and wait states (default
    :class:`sim.accel_mem.MemModel()`: one cycle, one word a cycle, none); the result
    carries the model's byte and stall counters.
    ``max_cycles``: where the run gives up (default :func:`cycle_limit` of the program).

    ``window``: also write the cycles ``window.first .. window.last`` as a VCD to
    ``window.path`` (raw: as the simulator dumped it, from the first cycle's edge to the
    edge after the last; the run stops there; :func:`trim_window` cuts it exactly). The
    run uses Verilog and a build of its own (``accel_verilog(waves=True)``, cached apart
    from the normal ones); ``harness`` and ``waves`` (a trace of the whole run) cannot be
    combined with it.
    """
    prepare(sim)
    mem = MemModel() if mem is None else mem
    if max_cycles is None:
        max_cycles = cycle_limit(program, mem)
    if max_cycles < 1:
        raise VitsimError(f"--max-cycles must be at least 1, not {max_cycles}")
    work = Path(work_dir).resolve()
    work.mkdir(parents=True, exist_ok=True)
    source = accel_verilog(program.cfg, waves=window is not None)
    dram_in, dram_out = work / "dram_in.hex", work / "dram_out.hex"
    write_hex(program.ext, dram_in)
    if dram_out.exists():
        dram_out.unlink()
    plusargs = [f"+dram_in={dram_in}", f"+dram_out={dram_out}",
                *mem.plusargs(program.cfg.word_bits // 8)]
    if window is not None and (harness or waves):
        raise VitsimError("a waveform window needs a cocotb run without a full trace "
                          "(not the C++ harness, not waves=True)")
    if window is not None and not 0 <= window.first <= window.last:
        raise VitsimError(f"waveform window: bad cycle range {window.first}..{window.last}")
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
        rec = dict(item.split("=") for item in line[0].split()[1:])
        finished, cycles = rec["finished"] == "1", int(rec["cycles"])
        wall = float(rec["wall_s"])
        log = None
    else:
        # built like the harness (Verilator -O3, only the wrapper's ports public), so the
        # two lanes differ by the cocotb loop alone
        runner = sim_runner(sim, public=False) if window is None else _window_runner(sim)
        log = work / "sim.log"
        extra = ("-O3",) if sim == "verilator" else ()
        if window is not None and sim == "verilator":
            extra += ("--trace",)
        if window is not None:
            window.path.parent.mkdir(parents=True, exist_ok=True)
            window.path.unlink(missing_ok=True)
            plusargs += [f"+waves={window.path}", f"+wave_from={window.first}",
                         f"+wave_to={window.last + 1}"]
        sim_dir = build_sim(runner, sim=sim, source=source, top=TOP, waves=waves,
                            work_dir=work, log=work / "build.log", extra_args=extra)
        t1 = time.perf_counter()
        results = work / "results"
        results.mkdir(exist_ok=True)
        (results / "accel.json").unlink(missing_ok=True)
        env = {ENV_RESULTS: str(results), "VITSIM_MAX_CYCLES": str(max_cycles)}
        try:
            runner.test(test_module="sim.benches.accel_bench", hdl_toplevel=TOP,
                        hdl_toplevel_lang="verilog", build_dir=sim_dir, test_dir=work,
                        extra_env=env, plusargs=list(plusargs), waves=waves,
                        results_xml=str(work / "results.xml"), log_file=log)
        except (SystemExit, RuntimeError):
            pass
        rec_path = results / "accel.json"
        rec = json.loads(rec_path.read_text()) if rec_path.is_file() else {}
        finished, cycles = bool(rec.get("finished")), int(rec.get("cycles", 0))
        wall = float(rec.get("wall_s", 0.0))
    counters = {k: int(rec.get(k, 0)) for k in ("rd_bytes", "wr_bytes", "rd_stalls",
                                                 "wr_stalls")}
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
                       log=log, bytes_read=counters["rd_bytes"],
                       bytes_written=counters["wr_bytes"], stalls_read=counters["rd_stalls"],
                       stalls_written=counters["wr_stalls"])


def build_harness(source: Path) -> Path:
    """The C++ harness binary for ``source`` (cached beside the Verilog, keyed also by the
    harness's C++ source)."""
    from sim.cxx_harness import build_harness as build

    cpp = Path(__file__).with_name("harness") / "accel_harness.cpp"
    key = hashlib.sha256(cpp.read_bytes()).hexdigest()[:8]
    exe = source.parent / f"{source.stem}-harness-{key}" / "harness"
    if exe.is_file():
        return exe
    return build(source, top=TOP, build_dir=exe.parent, harness="accel_harness.cpp",
                 extra_args=("-O3",))
