"""``benchmarks/logic_depth.py``'s path search on hand-built netlists (the Yosys run itself
is the benchmark's, minutes): levels count LUTs and carry cells entered from their data
inputs, the carry chain apart; paths start at registers and end at register inputs."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import logic_depth as bench  # noqa: E402

_IN, _OUT = "input", "output"


def _cell(kind, **ports):
    dirs = {p: (_OUT if p in ("Q", "Z", "S0", "S1", "COUT", "DO0") else _IN) for p in ports}
    return {"type": kind, "port_directions": dirs,
            "connections": {p: [b] for p, b in ports.items()}}


def _module(cells, nets, outputs=()):
    return {"cells": dict(enumerate(cells)),
            "netnames": {n: {"bits": [b]} for n, b in nets.items()},
            "ports": {f"o{i}": {"direction": "output", "bits": [b]}
                      for i, b in enumerate(outputs)}}


def test_levels_count_luts_and_carry_entries_the_chain_apart():
    # ff_a.Q(2) -> LUT(3) -> CCU2C A0 (COUT 4) -> CCU2C CIN (S0 5) -> LUT(6) -> ff_b.DI;
    # a shorter branch ff_a.Q -> ff_c.DI
    cells = [_cell("TRELLIS_FF", CLK=1, DI=9, Q=2),
             _cell("LUT4", A=2, Z=3),
             _cell("CCU2C", A0=3, COUT=4),
             _cell("CCU2C", CIN=4, S0=5),
             _cell("LUT4", A=5, B=2, Z=6),
             _cell("TRELLIS_FF", CLK=1, DI=6, Q=7),
             _cell("TRELLIS_FF", CLK=1, DI=2, Q=8)]
    nets = {"gatherer.q": 2, "gatherer.x": 3, "adder.c": 4, "adder.s": 5, "writer.d": 6,
            "writer.q": 7, "seq.q": 8, "seq.d": 9}
    rows = {r["part"]: r for r in bench.deepest(_module(cells, nets))}
    assert (rows["writer"]["levels"], rows["writer"]["carry"]) == (3, 1)
    assert rows["writer"]["start"] == "gatherer.q" and rows["writer"]["end"] == "writer.d"
    assert (rows["gatherer"]["levels"], rows["gatherer"]["carry"]) == (0, 0)
    assert list(rows)[0] == "writer"  # deepest first


def test_block_ram_outputs_start_paths_and_top_outputs_end_them():
    cells = [_cell("DP16KD", CLKA=1, ADA0=9, DO0=2),
             _cell("LUT4", A=2, Z=3),
             _cell("LUT4", A=3, Z=4)]
    rows = bench.deepest(_module(cells, {"scratch.do": 2, "busy": 4, "addr": 9}, outputs=[4]))
    busy = next(r for r in rows if r["part"] == "busy")
    assert (busy["levels"], busy["start"]) == (2, "scratch.do")
