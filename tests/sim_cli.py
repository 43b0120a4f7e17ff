"""Shared by the cocotb tests: run ``vitsim simulate`` on a case and read its bench records."""

import json

from sim.cli import main


def simulate(case, tmp_path, simulator: str) -> tuple[int, dict]:
    """Run ``vitsim simulate`` on ``case`` with builds under ``tmp_path / "b"``; return the
    exit status and the bench records by test name (``speed``, ``check-idle1-bp1``...)."""
    status = main(["simulate", "--case", str(case), "--sim", simulator,
                   "--build-dir", str(tmp_path / "b")])
    results = tmp_path / "b" / simulator / "results"
    return status, {p.stem: json.loads(p.read_text()) for p in results.glob("*.json")}
