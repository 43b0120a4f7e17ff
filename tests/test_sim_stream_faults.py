"""The bench's stream checks catch the faults they are for, shown on faulty units.

Three hand-written Verilog units reduce each group of four 8-bit beats to its maximum
(:mod:`stream_fault_bench` drives them through :func:`sim.stream_bench.run_stream_case`,
the body of every unit bench), on Icarus:

- ``max4``: correct; passes every idle/backpressure combination.
- ``max4_peek``: updates its running maximum whenever it is ready, without looking at
  valid. While the input idles the driver puts seeded garbage on the payload, so the
  runs with idle cycles fail with a mismatch; with the old driver (the payload held at
  the last beat, ``VITSIM_IDLE_GARBAGE=0``) the fault was invisible (the maximum is
  idempotent) and every run passed.
- ``max4_trailer``: correct maxima, then one surplus output transfer after the fourth
  group (a frame trailer the spec does not have); every run fails on it, with every
  expected result right.
"""

from pathlib import Path

import pytest

from sim.runner import ENV_GARBAGE, run_bench

pytestmark = pytest.mark.sim

PORTS = [("clk", "in", 1), ("rst", "in", 1), ("i_stream__payload", "in", 8),
         ("i_stream__valid", "in", 1), ("i_stream__ready", "out", 1),
         ("o_stream__payload", "out", 8), ("o_stream__valid", "out", 1),
         ("o_stream__ready", "in", 1)]

# {top}, {take}: the condition on which the running maximum takes the payload, {trailer}:
# 1 to emit one surplus transfer after the fourth group
VERILOG = """
module {top}(input clk, input rst,
    input [7:0] i_stream__payload, input i_stream__valid, output i_stream__ready,
    output reg [7:0] o_stream__payload, output reg o_stream__valid, input o_stream__ready);
  reg [7:0] best;
  reg [1:0] n;
  reg [2:0] groups;
  wire take = i_stream__valid && i_stream__ready;
  assign i_stream__ready = !o_stream__valid || o_stream__ready;
  always @(posedge clk) begin
    if (rst) begin
      best <= 0; n <= 0; groups <= 0; o_stream__valid <= 0; o_stream__payload <= 0;
    end else begin
      if (o_stream__valid && o_stream__ready) o_stream__valid <= 0;
      if ({trailer} && groups == 4 && !o_stream__valid) begin
        o_stream__payload <= 8'hEE; o_stream__valid <= 1; groups <= 5;
      end
      if ({take}) best <= (n == 0 || i_stream__payload > best) ? i_stream__payload : best;
      if (take) begin
        n <= n + 1;
        if (n == 3) begin
          o_stream__payload <= (i_stream__payload > best) ? i_stream__payload : best;
          o_stream__valid <= 1;
          groups <= groups + 1;
        end
      end
    end
  end
endmodule
"""

UNITS = {"max4": ("take", 0), "max4_peek": ("i_stream__ready", 0),
         "max4_trailer": ("take", 1)}


def _run(tmp_path: Path, top: str, simulator: str, *, garbage: bool = True) -> dict:
    import json

    take, trailer = UNITS[top]
    vdir = tmp_path / "verilog"
    vdir.mkdir(exist_ok=True)
    (vdir / f"{top}.v").write_text(VERILOG.format(top=top, take=take, trailer=trailer))
    (vdir / f"{top}.json").write_text(json.dumps({"latency": 1, "ports": [
        {"name": n, "dir": d, "width": w} for n, d, w in PORTS]}))
    res = run_bench(verilog_dir=vdir, top=top, bench="stream_fault_bench",
                    case_dir=tmp_path, build_dir=tmp_path / f"{top}-{int(garbage)}",
                    sim=simulator, seed=5, extra_env={ENV_GARBAGE: str(int(garbage))})
    assert res.num_tests == 4 and len(res.records) == 4, res.summary()
    return {r["name"]: r for r in res.records}


@pytest.mark.parametrize("simulator", ["icarus"], indirect=True)
def test_the_correct_unit_passes_every_combination(simulator, tmp_path):
    records = _run(tmp_path, "max4", simulator)
    for name, r in records.items():
        assert r["passed"] and r["transfers"] == 4 and r["extra_transfers"] == 0, (name, r)
    assert records["check-idle0-bp0"]["cycles"] == records["check-idle0-bp0"]["model_cycles"]


@pytest.mark.parametrize("simulator", ["icarus"], indirect=True)
def test_a_unit_reading_idle_payloads_fails_only_with_garbage(simulator, tmp_path):
    held = _run(tmp_path, "max4_peek", simulator, garbage=False)
    assert all(r["passed"] for r in held.values()), "the fault shows even without garbage"
    records = _run(tmp_path, "max4_peek", simulator)
    for name, r in records.items():
        if r["idle"]:  # idle cycles: garbage reaches the maximum
            assert not r["passed"] and r["mismatch"] is not None, (name, r)
            assert r["mismatch"]["got"] > r["mismatch"]["expected"]
        else:  # no idle input cycle: nothing to see
            assert r["passed"], (name, r)


@pytest.mark.parametrize("simulator", ["icarus"], indirect=True)
def test_a_surplus_output_transfer_fails(simulator, tmp_path):
    records = _run(tmp_path, "max4_trailer", simulator)
    for name, r in records.items():
        assert not r["passed"], (name, r)
        assert r["mismatch"] is None and r["transfers"] == 4, (name, r)
        assert r["extra_transfers"] == 1, (name, r)
