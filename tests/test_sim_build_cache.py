"""The build cache survives a builder killed outright: its temporary directory is swept.

A builder is SIGKILLed in the middle of :func:`sim.runner.build_sim` (no ``finally``
runs), which leaves its ``.tmp-<pid>-*`` directory behind; the next build removes it,
and leaves alone the directory of a live builder and a name without an owner.
"""

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from sim.runner import build_sim, sweep_dead_builds

TOP = "cache_probe"
VERILOG = f"module {TOP}(input clk, input [7:0] a, output reg [7:0] y);\n" \
          "  always @(posedge clk) y <= a + 8'd1;\nendmodule\n"

# a child process that builds ``source`` into the cache; FAKE: a runner that never ends
CHILD = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    from sim.runner import build_sim
    source, work, top, fake = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3], sys.argv[4]

    class Hang:
        def build(self, *, build_dir, **kwargs):
            (Path(build_dir) / "started").write_text("")
            time.sleep(600)

    if fake == "fake":
        runner = Hang()
    else:
        from cocotb_tools.runner import get_runner
        from sim.toolchain import prepare
        prepare("verilator")
        runner = get_runner("verilator")
    build_sim(runner, sim="verilator", source=source, top=top, waves=False,
              work_dir=work, log=work / "build.log")
""")


class _Touch:
    """A runner whose build just writes a file."""

    def build(self, *, build_dir, **kwargs):
        (Path(build_dir) / "binary").write_text("")


def _temps(root: Path) -> list[Path]:
    return sorted(root.glob(".*.tmp-*"))


def _kill_during_build(tmp_path, cache, *, fake: bool, ready) -> Path:
    """Start a builder child, wait until ``ready(tmp_dir)``, SIGKILL its process group and
    reap it; return the temporary directory it left."""
    source = tmp_path / f"{TOP}.v"
    source.write_text(VERILOG)
    work = tmp_path / "work"
    work.mkdir(exist_ok=True)
    env = {**os.environ, "VITSIM_BUILD_CACHE": str(cache)}
    child = subprocess.Popen([sys.executable, "-c", CHILD, str(source), str(work), TOP,
                              "fake" if fake else "real"], env=env, start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        while not any(ready(t) for t in _temps(cache)):
            assert child.poll() is None, f"the builder ended early ({child.returncode})"
            assert time.monotonic() < deadline, "the builder never started building"
            time.sleep(0.05)
    finally:
        try:
            os.killpg(child.pid, signal.SIGKILL)
        except ProcessLookupError:  # it ended, and its group with it
            pass
        child.wait()
    assert child.returncode == -signal.SIGKILL
    left = _temps(cache)
    assert len(left) == 1 and f".tmp-{child.pid}-" in left[0].name
    return left[0]


def test_a_killed_builders_directory_is_swept_by_the_next_build(tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    dead = _kill_during_build(tmp_path, cache, fake=True,
                              ready=lambda t: (t / "started").exists())
    live = cache / f".verilator-0123.tmp-{os.getpid()}-abc"  # this process builds in it
    unowned = cache / ".verilator-4567.tmp-xyz_1"  # a name without a pid
    for path in (live, unowned):
        path.mkdir()
    monkeypatch.setenv("VITSIM_BUILD_CACHE", str(cache))
    other = tmp_path / "other.v"
    other.write_text(VERILOG.replace("8'd1", "8'd2"))
    final = build_sim(_Touch(), sim="verilator", source=other, top=TOP, waves=False,
                      work_dir=tmp_path, log=tmp_path / "build.log")
    assert (final / ".built").is_file() and (final / "binary").is_file()
    assert not dead.exists()
    assert _temps(cache) == sorted([live, unowned])
    assert sweep_dead_builds(cache) == []


@pytest.mark.sim
@pytest.mark.parametrize("simulator", ["verilator"], indirect=True)
def test_a_verilator_build_killed_midway_leaves_a_clean_cache(simulator, tmp_path,
                                                              monkeypatch):
    """A real Verilator build, SIGKILLed (with its make and compilers) once it has written
    files; building the same source again works and leaves no temporary directory."""
    from cocotb_tools.runner import get_runner

    from sim.toolchain import prepare

    prepare(simulator)
    cache = tmp_path / "cache"
    dead = _kill_during_build(tmp_path, cache, fake=False,
                              ready=lambda t: any(t.rglob("*.mk")))
    assert any(dead.rglob("*")), "the killed build had written nothing"
    monkeypatch.setenv("VITSIM_BUILD_CACHE", str(cache))
    final = build_sim(get_runner(simulator), sim=simulator, source=tmp_path / f"{TOP}.v",
                      top=TOP, waves=False, work_dir=tmp_path, log=tmp_path / "build.log")
    assert (final / ".built").is_file()
    assert _temps(cache) == [], "a temporary build directory was left in the cache"
