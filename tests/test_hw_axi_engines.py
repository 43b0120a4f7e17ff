# amaranth: UnusedElaboratable=no
"""The AXI4-like burst engines (hw/accel/axi_reader.py, axi_writer.py) against a Python
memory with latency and seeded random ready/valid on every channel."""

from __future__ import annotations

import random

import pytest
from amaranth.sim import Simulator

from hw.accel.axi_reader import AxiReader
from hw.accel.axi_writer import AxiWriter

W = 32


def _run(dut, bench):
    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()


async def _command(ctx, dut, addr, count):
    assert ctx.get(dut.cmd_ready)
    ctx.set(dut.cmd_addr, addr)
    ctx.set(dut.cmd_count, count)
    ctx.set(dut.cmd_valid, 1)
    await ctx.tick()
    ctx.set(dut.cmd_valid, 0)


def test_constructors_check_their_arguments():
    for cls in (AxiReader, AxiWriter):
        with pytest.raises(ValueError, match=r"^max_burst must be an integer 1\.\.256, not 0$"):
            cls(W, 0)
        with pytest.raises(ValueError, match=r"^word_bits must be a positive integer, not -1$"):
            cls(-1)
        assert cls(W, 16).latency == 1 and cls(W, 16).max_burst == 16


@pytest.mark.parametrize("seed,count,max_burst,latency,p", [
    (1, 37, 8, 3, 0.5), (2, 1, 4, 1, 0.9), (3, 64, 16, 5, 0.3), (4, 20, 256, 2, 0.7)])
def test_reader_streams_the_words_in_order_under_random_handshakes(seed, count, max_burst,
                                                                   latency, p):
    rng = random.Random(seed)
    mem = [rng.getrandbits(W) for _ in range(200)]
    base = 11
    dut = AxiReader(W, max_burst)
    got, bursts = [], []

    async def bench(ctx):
        await _command(ctx, dut, base, count)
        queue = []  # [ready cycle, addr, beats, next beat]
        bus = dut.bus
        for cycle in range(4000):
            ar_ready, o_ready = rng.random() < p, rng.random() < p
            head = queue[0] if queue and queue[0][0] <= cycle else None
            r_valid = head is not None and rng.random() < p
            ctx.set(bus.ar_ready, ar_ready)
            ctx.set(dut.o_ready, o_ready)
            ctx.set(bus.r_valid, r_valid)
            if head is not None:
                ctx.set(bus.r_data, mem[head[1] + head[3]])
                ctx.set(bus.r_last, head[3] == head[2] - 1)
            if ctx.get(bus.ar_valid) and ar_ready:
                beats = ctx.get(bus.ar_len) + 1
                bursts.append((ctx.get(bus.ar_addr), beats))
                queue.append([cycle + latency, ctx.get(bus.ar_addr), beats, 0])
            if r_valid and ctx.get(bus.r_ready):
                assert ctx.get(dut.o_valid) and ctx.get(dut.o_data) == mem[head[1] + head[3]]
                got.append(ctx.get(dut.o_data))
                head[3] += 1
                if head[3] == head[2]:
                    queue.pop(0)
            if not ctx.get(dut.busy):
                break
            await ctx.tick()
        assert not ctx.get(dut.busy) and ctx.get(dut.cmd_ready) and not queue

    _run(dut, bench)
    assert got == mem[base:base + count]
    assert all(1 <= b <= max_burst for _, b in bursts)
    assert [a for a, _ in bursts] == [base + sum(b for _, b in bursts[:i])
                                      for i in range(len(bursts))]
    assert sum(b for _, b in bursts) == count


@pytest.mark.parametrize("seed,count,max_burst,p", [
    (5, 37, 8, 0.5), (6, 1, 4, 0.9), (7, 70, 16, 0.3), (8, 20, 256, 0.7)])
def test_writer_writes_the_stream_in_bursts_under_random_handshakes(seed, count, max_burst,
                                                                    p):
    rng = random.Random(seed)
    data = [rng.getrandbits(W) for _ in range(count)]
    mem = {}
    base = 9
    dut = AxiWriter(W, max_burst)
    aws, lasts = [], []

    async def bench(ctx):
        await _command(ctx, dut, base, count)
        bus = dut.bus
        sent = 0
        beats_in = 0  # W beats taken so far
        b_due = []  # cycles at which a B response may be given
        for cycle in range(4000):
            aw_ready, w_ready = rng.random() < p, rng.random() < p
            i_valid = sent < count and rng.random() < p
            b_valid = bool(b_due) and b_due[0] <= cycle and rng.random() < p
            ctx.set(bus.aw_ready, aw_ready)
            ctx.set(bus.w_ready, w_ready)
            ctx.set(dut.i_valid, i_valid)
            ctx.set(dut.i_data, data[sent] if sent < count else 0)
            ctx.set(bus.b_valid, b_valid)
            assert ctx.get(bus.b_ready)
            if ctx.get(bus.aw_valid) and aw_ready:
                aws.append((ctx.get(bus.aw_addr), ctx.get(bus.aw_len) + 1))
            if ctx.get(bus.w_valid) and w_ready:
                assert i_valid and ctx.get(dut.i_ready)
                mem[base + beats_in] = ctx.get(bus.w_data)
                lasts.append(ctx.get(bus.w_last))
                beats_in += 1
                sent += 1
                if ctx.get(bus.w_last):
                    b_due.append(cycle + rng.randrange(1, 4))
            if b_valid:
                b_due.pop(0)
            if not ctx.get(dut.busy):
                break
            await ctx.tick()
        assert not ctx.get(dut.busy) and ctx.get(dut.cmd_ready) and not b_due

    _run(dut, bench)
    assert [mem[base + i] for i in range(count)] == data
    assert all(1 <= n <= max_burst for _, n in aws) and sum(n for _, n in aws) == count
    assert [a for a, _ in aws] == [base + sum(n for _, n in aws[:i]) for i in range(len(aws))]
    ends = [i for i, last in enumerate(lasts) if last]
    assert ends == [sum(n for _, n in aws[:i + 1]) - 1 for i in range(len(aws))]
