"""Shared pytest settings: hypothesis profile, simulator lanes and their summary line."""

import os
from collections import Counter

import pytest
from hypothesis import HealthCheck, settings

from sim.toolchain import SIMULATORS, simulator_available

settings.register_profile(
    "vitsim", max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.load_profile("vitsim")

_lanes: Counter = Counter()


@pytest.fixture(scope="session", autouse=True)
def build_cache(tmp_path_factory):
    """Simulator builds are cached per test run (shared by the xdist workers), never across
    runs, so every run really builds what it simulates."""
    root = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        root = root.parent
    path = root / "build-cache"
    os.environ["VITSIM_BUILD_CACHE"] = str(path)
    return path


@pytest.fixture(params=SIMULATORS)
def simulator(request):
    """Each simulator in turn. A missing one fails under CI (``CI`` or ``VITSIM_REQUIRE_SIMS``
    set) and is skipped, loudly, elsewhere."""
    sim = request.param
    if not simulator_available(sim):
        if os.environ.get("VITSIM_REQUIRE_SIMS") or os.environ.get("CI"):
            pytest.fail(f"simulator {sim!r} is not installed, and CI must run every lane")
        pytest.skip(f"SIMULATOR {sim.upper()} NOT INSTALLED: its lane did not run")
    return sim


@pytest.fixture
def torch_one_thread():
    """Run torch on one thread: tiny models gain nothing from more, and CI shares its cores.
    (torch is imported here, not at module level, so golden-only tests stay light.)"""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def pytest_runtest_logreport(report):
    if report.when == "call" and report.passed:
        for sim in SIMULATORS:
            if f"[{sim}" in report.nodeid or f"-{sim}" in report.nodeid:
                _lanes[sim] += 1


def pytest_terminal_summary(terminalreporter):
    if any(_lanes.values()) or "sim" in (terminalreporter.config.option.markexpr or ""):
        counts = ", ".join(f"{sim} {_lanes[sim]} passed" for sim in SIMULATORS)
        terminalreporter.write_line(f"simulator lanes: {counts}")
