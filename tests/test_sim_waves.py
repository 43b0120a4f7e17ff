"""A waveform window around the first mismatch (``vitsim simulate --waves``)."""

import pytest

from golden.cases_gelu import GeluCfg, gelu_case
from golden.package import write_package
from sim.cli import main
from sim.waves import vcd_timescale_ps, vcd_window

VCD = """$timescale 1ps $end
$scope module top $end
$var wire 1 ! clk $end
$var wire 4 " data $end
$upscope $end
$enddefinitions $end
#0
$dumpvars
0!
b0000 "
$end
#10
1!
#20
0!
b0011 "
#30
1!
#40
0!
b0101 "
"""


def test_vcd_window_keeps_the_state_at_its_start(tmp_path):
    src = tmp_path / "a.vcd"
    src.write_text(VCD)
    assert vcd_timescale_ps(src) == 1
    text = vcd_window(src, tmp_path / "w.vcd", start=25, end=35).read_text()
    head, body = text.split("$enddefinitions $end\n")
    assert '$var wire 4 " data $end' in head
    assert body.split() == ["#25", "$dumpvars", "0!", 'b0011', '"', "$end", "#30", "1!"]


@pytest.mark.sim
def test_simulate_writes_a_window_around_the_first_mismatch(tmp_path, capsys):
    cfg = GeluCfg(lanes=2, in_bits=12)
    pkg = gelu_case(cfg, tmp_path / "good", beats=40, scale=2.0**-10, seed=1)
    name = next(k for k in pkg.tensors if k == "y")
    y = pkg.tensors[name].copy()
    y.flat[57] += 1
    manifest = {k: v for k, v in pkg.manifest.items() if k not in ("tensors", "files")}
    write_package(tmp_path / "bad", manifest=manifest, tensors={**pkg.tensors, name: y})
    status = main(["simulate", "--case", str(tmp_path / "bad"), "--sim", "verilator",
                   "--waves", "--window", "8", "--build-dir", str(tmp_path / "b")])
    out = capsys.readouterr().out
    assert status == 1
    line = next(x for x in out.splitlines() if x.startswith("waveform window"))
    window = tmp_path / line.split(": ", 1)[1]
    text = window.read_text()
    full = (window.parent / "dump.vcd").read_text()
    body = text.split("$enddefinitions")[1].splitlines()
    times = [int(t[1:]) for t in body if t.startswith("#") and t[1:].isdigit()]
    assert len(text) < len(full) and times == sorted(times)
    assert times[-1] - times[0] <= (8 + 2) * 10_000  # 8 cycles before, 2 after, at 10 ns
