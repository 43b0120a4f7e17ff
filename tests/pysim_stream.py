"""Drive a single-stream unit in Amaranth's simulator with random valid/ready gaps."""

import random

from amaranth.sim import Simulator


def run_stream(dut, beats, n_out, *, idle=0.0, backpressure=0.0, seed=0, beat_cycles=1,
               timeline=None):
    """Send ``beats`` to ``dut.i_stream``, collect ``n_out`` ``o_stream`` payloads.

    ``idle`` and ``backpressure`` are the chances of an idle input cycle and of a cycle the
    output is not ready; ``gap`` more idle cycles follow every beat taken (as a source
    offering a beat ``gap + 1`` cycles after the previous one was taken).

    Returns ``(words, cycles)``: the raw payload ints and the edges from the first input
    handshake to the last output handshake, both included. Each beat after the first is
    offered ``beat_cycles`` cycles after the one before is taken (1: at once), as the
    accelerator's gatherer does, then ``idle`` cycles more at random. A ``timeline`` dict
    gets the edges of the input (``"in"``) and output (``"out"``) handshakes.
    """
    rng = random.Random(seed)
    got, stamps = [], {}
    ins, outs = [], []
    sim = Simulator(dut)
    sim.add_clock(1e-8)
    width = len(dut.o_stream.payload.as_value())

    async def producer(ctx):
        edge = 0
        for i, word in enumerate(beats):
            for _ in range(beat_cycles - 1 if i else 0):
                ctx.set(dut.i_stream.valid, 0)
                await ctx.tick()
                edge += 1
            while rng.random() < idle:
                ctx.set(dut.i_stream.valid, 0)
                await ctx.tick()
                edge += 1
            ctx.set(dut.i_stream.payload.as_value(), word)
            ctx.set(dut.i_stream.valid, 1)
            while True:
                _, _, ready = await ctx.tick().sample(dut.i_stream.ready)
                edge += 1
                if ready:
                    stamps.setdefault("first_in", edge)
                    ins.append(edge)
                    break
        ctx.set(dut.i_stream.valid, 0)

    async def consumer(ctx):
        edge = 0
        while len(got) < n_out:
            ready = rng.random() >= backpressure
            ctx.set(dut.o_stream.ready, ready)
            _, _, valid, payload = await ctx.tick().sample(dut.o_stream.valid,
                                                           dut.o_stream.payload.as_value())
            edge += 1
            if valid and ready:
                got.append(int(payload) & ((1 << width) - 1))
                stamps["last_out"] = edge
                outs.append(edge)

    sim.add_testbench(producer)
    sim.add_testbench(consumer)
    sim.run_until(1e-8 * 20 * (beat_cycles * len(beats) + 50))
    assert len(got) == n_out, f"only {len(got)} of {n_out} results arrived"
    if timeline is not None:
        timeline.update({"in": ins, "out": outs})
    return got, stamps["last_out"] - stamps["first_in"] + 1
