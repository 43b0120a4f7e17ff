"""Waveform windows of the whole accelerator (``vitsim simulate --golden --waves``).

The simulated test runs a one-block network whose recorded ``patch_embed.out`` is off by
one in one element: the run names it, re-runs up to the end of that op with the wrapper's
windowed dump, and the VCD holds exactly the op's cycles, checked against the
accelerator's own sequencer signals in the dump. The same run is CI's whole-network Icarus
check: every tensor the accelerator wrote equals the unperturbed package's.
"""

import re

import pytest
from netpkgs import untrained_package

from golden.package import read_package, write_package
from sim.accel_run import WaveWindow, _scratch, compare, op_spans, read_hex, trim_window
from sim.cli import main
from sim.compiler import compile_network
from sim.runner import CLOCK_PS

BAD_TENSOR = "patch_embed.out"


@pytest.fixture(scope="module")
def one_block(tmp_path_factory):
    """A GSB digits package of one image from an untrained one-block model."""
    return untrained_package(tmp_path_factory.mktemp("accel-waves"), depth=1)


def _perturbed(pkg_dir, out, tensor):
    """A copy of package ``pkg_dir`` whose recorded ``tensor`` is off by one at one element
    of image 0 (towards the middle of its range, so it stays encodable)."""
    pkg = read_package(pkg_dir)
    arr = pkg.tensors[tensor].copy()
    flat = arr.reshape(-1)
    flat[0] += -1 if flat[0] > 0 else 1
    manifest = {k: v for k, v in pkg.manifest.items() if k not in ("tensors", "files")}
    write_package(out, manifest=manifest, tensors={**pkg.tensors, tensor: arr})
    return out


VCD = """$timescale 1ps $end
$scope module accel_tb $end
$var wire 1 ! clk $end
$var wire 8 " n $end
$upscope $end
$enddefinitions $end
#30000
$dumpvars
1!
b0 "
$end
#35000
0!
#40000
1!
b1 "
#45000
0!
#50000
1!
b10 "
$dumpoff
x!
bx "
$end
"""


# ------------------------------------------------------------------------ fast tests


def test_the_window_keeps_exactly_its_cycles_and_drops_the_raw_dump(tmp_path):
    raw = tmp_path / "raw.vcd"
    raw.write_text(VCD)
    out = trim_window(WaveWindow(first=0, last=1, path=raw), tmp_path / "w.vcd")
    body = out.read_text().split("$enddefinitions $end\n")[1].split()
    # cycle 0 opens the window with its values; cycle 2's edge (50000) is left out
    assert body == ["#30000", "$dumpvars", "1!", "b0", '"', "$end", "#35000", "0!",
                    "#40000", "1!", "b1", '"', "#45000", "0!"]
    assert not raw.exists()


def test_a_dump_shorter_than_its_window_is_an_error(tmp_path):
    raw = tmp_path / "raw.vcd"
    raw.write_text(VCD)
    with pytest.raises(Exception, match=r"ends before cycle 5"):
        trim_window(WaveWindow(first=0, last=5, path=raw), tmp_path / "w.vcd")
    assert not (tmp_path / "w.vcd").exists()


def test_op_spans_follow_the_sequencer(one_block):
    prog = compile_network(one_block, image=0)
    counts = [10 + i for i in range(len(prog.descs) - 1)] + [0]
    spans = op_spans(prog, counts, total=5000)
    # the header read (2 cycles), then NEXT, FETCH .. (counted) .., COUNT
    assert spans[:2] == [(2, 13), (14, 26)]
    assert op_spans(prog, counts, total=5000, header=21)[:2] == [(21, 32), (33, 45)]
    assert all(b[0] == a[1] + 1 for a, b in zip(spans, spans[1:], strict=False))
    assert spans[-1][1] == 4999  # the last op ends before dumped rises


def test_an_unknown_waves_op_names_the_option_and_the_op(one_block, tmp_path, capsys):
    build = tmp_path / "b"
    status = main(["simulate", "--golden", str(one_block), "--sim", "icarus",
                   "--waves-op", "no.such.op", "--build-dir", str(build)])
    err = capsys.readouterr().err
    assert status != 0
    assert "--waves-op" in err and "'no.such.op'" in err and "patch_embed.out" in err
    assert not build.exists()  # rejected before anything ran or was written


def test_waves_op_needs_a_network(tmp_path, capsys):
    status = main(["simulate", "--case", str(tmp_path), "--waves-op", "x"])
    assert status != 0 and "--waves-op" in capsys.readouterr().err


# ------------------------------------------------------------------------ simulated run


def _trace(path, names):
    """``[(time, {name: value})]``: the values of ``names`` (full hierarchical names) after
    each time step of VCD ``path``."""
    ids, scope, steps, vals, time = {}, [], [], {}, None
    with open(path) as f:
        for line in f:
            parts = line.split()
            if parts[:1] == ["$scope"]:
                scope.append(parts[2])
            elif parts[:1] == ["$upscope"]:
                scope.pop()
            elif parts[:1] == ["$var"] and ".".join([*scope, parts[4]]) in names:
                ids[parts[3]] = ".".join([*scope, parts[4]])
            elif parts[:1] == ["$enddefinitions"]:
                break
        for line in f:
            parts = line.split()
            if not parts:
                continue
            if parts[0].startswith("#"):
                if time is not None:
                    steps.append((time, dict(vals)))
                time = int(parts[0][1:])
            elif parts[0][0] in "bB" and len(parts) == 2 and parts[1] in ids:
                vals[ids[parts[1]]] = int(parts[0][1:], 2)
            elif parts[0][0] in "01" and parts[0][1:] in ids:
                vals[ids[parts[0][1:]]] = int(parts[0][0])
    steps.append((time, dict(vals)))
    return steps


@pytest.mark.sim
@pytest.mark.slow
@pytest.mark.parametrize("simulator", ["icarus"], indirect=True)
def test_a_mismatch_gets_a_window_of_the_op_that_produced_it(simulator, one_block, tmp_path,
                                                              capsys):
    bad = _perturbed(one_block, tmp_path / "bad", BAD_TENSOR)
    build = tmp_path / "b"
    status = main(["simulate", "--golden", str(bad), "--sim", simulator, "--waves",
                   "--build-dir", str(build)])
    out = capsys.readouterr().out
    assert status == 1
    assert f"first mismatch: tensor {BAD_TENSOR!r}" in out
    path = next(ln for ln in out.splitlines() if ln.startswith("waveform window: "))
    window = build / "image0" / f"waves-{BAD_TENSOR}.vcd"
    assert path == f"waveform window: {window}"
    first, last = map(int, re.search(rf"op '{re.escape(BAD_TENSOR)}'.*cycles (\d+)\.\.(\d+)",
                                     out).groups())
    assert window.stat().st_size < 50e6
    assert not (build / "image0" / "waves_run" / "raw.vcd").exists()

    head = window.read_text(errors="replace").split("$enddefinitions", 1)[0]
    assert "$scope module dut $end" in head and " fsm_state " in head
    pc, op_cycles = "accel_tb.dut.sequencer.pc", "accel_tb.dut.sequencer.op_cycles"
    names = ["accel_tb.wave_cycle", pc, op_cycles]
    steps = _trace(window, names)
    t0 = steps[0][0]
    # two time steps a cycle (both clock edges), from the op's first cycle to its last
    assert len(steps) == 2 * (last - first + 1)
    assert steps[-1][0] == t0 + (last - first) * CLOCK_PS + CLOCK_PS // 2
    assert [s[1]["accel_tb.wave_cycle"] for s in steps[::2]] == list(range(first, last + 1))
    # the accelerator's own view: every cycle runs the op's descriptor; the counter is
    # cleared in the window's second cycle (its first FETCH after NEXT) and the last
    # cycle stores it (COUNT): the recorded count is last - first - 1
    prog = compile_network(bad, image=0)
    assert {s[1][pc] for s in steps} == {prog.names.index(BAD_TENSOR)}
    assert steps[2][1][op_cycles] == 0
    row = next(ln for ln in out.splitlines() if re.search(rf"\b{re.escape(BAD_TENSOR)}\b", ln)
               and "│" in ln)
    assert int(re.findall(r"\d+", row)[-1]) == last - first - 1
    # the accelerator itself was right: against the unperturbed package every tensor it
    # wrote is bit-exact (this run is CI's whole-network check on Icarus)
    good = compile_network(one_block, image=0)
    dump = read_hex(build / "image0" / "dram_out.hex", good.cfg.lanes, good.cfg.ext_words)
    verdicts = compare(good, _scratch(good, dump))
    assert len(verdicts) == len(good.expected)
    assert [n for n, t in verdicts.items() if not t["equal"]] == []
