"""Simulations never write into their inputs: a read-only package simulates, and two
simulations of one package at once are both bit-exact."""

import os
import stat
import subprocess
import sys

import pytest

from sim.toolchain import simulator_available


def _tree(root):
    return {str(p.relative_to(root)): (p.stat().st_mode, p.read_bytes() if p.is_file() else None)
            for p in sorted(root.rglob("*"))}


def _chmod_tree(root, *, writable: bool):
    for p in [root, *root.rglob("*")]:
        mode = p.stat().st_mode
        p.chmod(mode | stat.S_IWUSR if writable else mode & ~(stat.S_IWUSR | stat.S_IWGRP
                                                               | stat.S_IWOTH))


@pytest.mark.sim
@pytest.mark.slow
def test_two_simulations_of_one_read_only_package_at_once(tmp_path):
    if not simulator_available("verilator"):
        if os.environ.get("VITSIM_REQUIRE_SIMS") or os.environ.get("CI"):
            pytest.fail("verilator is not installed, and CI must run every lane")
        pytest.skip("SIMULATOR VERILATOR NOT INSTALLED: this test did not run")
    from netpkgs import untrained_package

    pkg = untrained_package(tmp_path, images=1, depth=1)
    _chmod_tree(pkg, writable=False)  # root ignores it: the snapshot below is the proof
    before = _tree(pkg)
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        [os.getcwd(), *filter(None, [os.environ.get("PYTHONPATH")])])}
    try:
        procs = [subprocess.Popen([sys.executable, "-m", "sim.cli", "simulate", "--golden",
                                   str(pkg), "--sim", "verilator"], cwd=cwd, env=env,
                                  stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
                 for _ in range(2)]
        outs = [p.communicate(timeout=1800)[0] for p in procs]
        after = _tree(pkg)
    finally:
        _chmod_tree(pkg, writable=True)
    for proc, out in zip(procs, outs, strict=True):
        assert proc.returncode == 0, out[-2000:]
        assert "1 images, all bit-exact" in out and "logits match: yes" in out
    assert after == before
    assert list(cwd.iterdir()) == []  # nothing written where it ran either
