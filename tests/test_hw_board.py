# amaranth: UnusedElaboratable=no
"""The board top's parts in Amaranth's simulator: UART loopback, the block-RAM AXI slave,
the host link's protocol (bytes in, bytes out, against a stand-in accelerator)."""

import random
import struct

import pytest
from amaranth.hdl import Module, Signal
from amaranth.sim import Simulator

from golden.accel_program import AccelTopCfg
from golden.spec import ConfigError
from hw.board.ext_ram import ExtRam
from hw.board.host_link import HostLink
from hw.board.uart_rx import UartRx
from hw.board.uart_tx import UartTx
from hw.board.ulx3s import BoardCfg, lpf


def _sim(dut, bench):
    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()


@pytest.mark.parametrize("divisor", [4, 7, 25])
def test_uart_loopback(divisor):
    m = Module()
    m.submodules.tx = tx = UartTx(divisor)
    m.submodules.rx = rx = UartRx(divisor)
    m.d.comb += rx.rx.eq(tx.tx)
    rng = random.Random(divisor)
    data = [0x00, 0xFF, 0x55, 0xAA] + [rng.randrange(256) for _ in range(12)]
    got, starts = [], []

    async def bench(ctx):
        cycle = 0
        for b in data:
            ctx.set(tx.i_valid, 1)
            ctx.set(tx.i_data, b)
            while True:
                ready = ctx.get(tx.i_ready)
                await ctx.tick()
                cycle += 1
                if ctx.get(rx.o_valid):
                    got.append(ctx.get(rx.o_data))
                if ready:
                    starts.append(cycle)
                    break
            ctx.set(tx.i_valid, 0)
        for _ in range(12 * divisor):
            await ctx.tick()
            if ctx.get(rx.o_valid):
                got.append(ctx.get(rx.o_data))
            assert not ctx.get(rx.error)

    _sim(m, bench)
    assert got == data
    assert {b - a for a, b in zip(starts, starts[1:], strict=False)} == {10 * divisor}


def test_uart_rx_framing_error():
    rx = UartRx(4)
    seen = {"err": 0, "valid": 0}

    async def bench(ctx):
        for bit in [0] + [1] * 8 + [0] + [1] * 4:  # stop bit low
            ctx.set(rx.rx, bit)
            for _ in range(4):
                await ctx.tick()
                seen["err"] += ctx.get(rx.error)
                seen["valid"] += ctx.get(rx.o_valid)
        for _ in range(20):
            await ctx.tick()
            seen["err"] += ctx.get(rx.error)

    _sim(rx, bench)
    assert seen == {"err": 1, "valid": 0}


def test_divisor_checked():
    with pytest.raises(ValueError, match="divisor must be an integer of at least 4"):
        UartTx(3)
    with pytest.raises(ConfigError, match="divisor must be an integer of at least 4"):
        BoardCfg(accel=AccelTopCfg(lanes=4, depth=16, ext_words=16), divisor=2)
    with pytest.raises(ConfigError, match="unknown board 'ulx3s-12f'"):
        BoardCfg(accel=AccelTopCfg(lanes=4, depth=16, ext_words=16), board="ulx3s-12f")


def test_lpf_pins():
    text = lpf(BoardCfg(accel=AccelTopCfg(lanes=4, depth=16, ext_words=16)))
    for port, site in [("clk_25mhz", "G2"), ("ftdi_txd", "M1"), ("ftdi_rxd", "L4"),
                       ("led[0]", "B2"), ("led[7]", "H3")]:
        assert f'LOCATE COMP "{port}" SITE "{site}";' in text
    assert 'FREQUENCY PORT "clk_25mhz" 25 MHZ;' in text


def test_ext_ram_axi_bursts():
    """A write burst with W gaps, then read bursts with R back-pressure: the words, the
    ``r_last`` beats, one beat a cycle when ready, and the host port's view."""
    ram = ExtRam(64, 32)
    rng = random.Random(1)
    words = [rng.getrandbits(64) for _ in range(7)]
    beats = []

    async def bench(ctx):
        wr, rd = ram.axi_wr, ram.axi_rd
        ctx.set(wr.aw_valid, 1)
        ctx.set(wr.aw_addr, 5)
        ctx.set(wr.aw_len, len(words) - 1)
        ctx.set(wr.b_ready, 1)
        i = 0
        while True:
            offer = i < len(words) and rng.random() < 0.7
            ctx.set(wr.w_valid, offer)
            ctx.set(wr.w_data, words[i] if offer else 0)
            ctx.set(wr.w_last, offer and i == len(words) - 1)
            aw_taken = ctx.get(wr.aw_ready)
            w_taken = offer and ctx.get(wr.w_ready)
            b = ctx.get(wr.b_valid)
            await ctx.tick()
            if aw_taken:
                ctx.set(wr.aw_valid, 0)
            i += bool(w_taken)
            if b:
                break
        assert i == len(words)
        ctx.set(wr.w_valid, 0)
        # read 5 words from 6 with random back-pressure, then 2 from 5 at full rate
        for addr, n, p in ((6, 5, 0.5), (5, 2, 1.0)):
            ctx.set(rd.ar_valid, 1)
            ctx.set(rd.ar_addr, addr)
            ctx.set(rd.ar_len, n - 1)
            await ctx.tick()
            ctx.set(rd.ar_valid, 0)
            got, cycles = [], 0
            while len(got) < n:
                ready = rng.random() < p
                ctx.set(rd.r_ready, ready)
                assert ctx.get(rd.r_valid)
                if ready:
                    got.append((ctx.get(rd.r_data), ctx.get(rd.r_last)))
                await ctx.tick()
                cycles += 1
            ctx.set(rd.r_ready, 0)
            beats.append((addr, got, cycles))
        ctx.set(ram.host.sel, 1)
        assert not ctx.get(rd.ar_ready) and not ctx.get(wr.aw_ready)
        ctx.set(ram.host.addr, 11)
        await ctx.tick()
        assert ctx.get(ram.host.r_data) == words[6]

    _sim(ram, bench)
    (a0, g0, _), (a1, g1, c1) = beats
    assert [d for d, _ in g0] == words[1:6]
    assert [last for _, last in g0] == [0, 0, 0, 0, 1]
    assert [d for d, _ in g1] == words[:2] and c1 == 2


class _FakeAccel:
    """Busy for ``run`` cycles after ``start``, then done until the next start."""

    def __init__(self, m, link, run):
        cnt = Signal(range(run + 1))
        done = Signal()
        with m.If(link.start):
            m.d.sync += [cnt.eq(run), done.eq(0)]
        with m.Elif(cnt == 1):
            m.d.sync += [cnt.eq(0), done.eq(1)]
        with m.Elif(cnt != 0):
            m.d.sync += cnt.eq(cnt - 1)
        m.d.comb += [link.busy.eq(cnt != 0), link.done.eq(done)]


def test_host_link_protocol():
    """Each command as bytes in, its answer out: ident, write, read back, start, poll
    while busy and after done (the cycle count), an unknown command."""
    m = Module()
    m.submodules.link = link = HostLink(32, 16)
    m.submodules.ram = ram = ExtRam(32, 16)
    m.d.comb += [ram.host.sel.eq(link.mem.sel), ram.host.addr.eq(link.mem.addr),
                 ram.host.w_en.eq(link.mem.w_en), ram.host.w_data.eq(link.mem.w_data),
                 link.mem.r_data.eq(ram.host.r_data)]
    _FakeAccel(m, link, 50)
    words = [0x01020304, 0xDEADBEEF, 0x80000001]
    script = [
        (b"I", 8), (b"W" + struct.pack("<II", 3, 3) + struct.pack("<3I", *words), 1),
        (b"R" + struct.pack("<II", 2, 5), 20), (b"S", 1), (b"Q", 5), ("wait", 80),
        (b"Q", 5), (b"X", 1), (b"W" + struct.pack("<II", 0, 0), 1),
    ]
    answers = []

    async def bench(ctx):
        ctx.set(link.tx_ready, 1)
        for cmd, n in script:
            if cmd == "wait":
                for _ in range(n):
                    await ctx.tick()
                continue
            out = bytearray()
            for b in cmd:  # one byte every 40 cycles, as a divisor-4 UART would
                ctx.set(link.rx_valid, 1)
                ctx.set(link.rx_data, b)
                await ctx.tick()
                ctx.set(link.rx_valid, 0)
                for _ in range(39):
                    if ctx.get(link.tx_valid):
                        out.append(ctx.get(link.tx_data))
                    await ctx.tick()
            for _ in range(40 * n):
                if len(out) == n:
                    break
                if ctx.get(link.tx_valid):
                    out.append(ctx.get(link.tx_data))
                await ctx.tick()
            answers.append(bytes(out))

    _sim(m, bench)
    ident, wack, rd, sack, q_busy, q_done, nak, wack0 = answers
    assert ident == b"VB" + struct.pack("<HI", 4, 16)
    assert wack == sack == wack0 == b"K" and nak == b"?"
    assert struct.unpack("<5I", rd) == (0, *words, 0)
    status, _ = struct.unpack("<BI", q_busy)
    assert status == 2  # busy, not done
    status, cycles = struct.unpack("<BI", q_done)
    assert status == 1 and cycles == 51  # from the start pulse to done
