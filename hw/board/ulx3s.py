"""The ULX3S 85F board top: accelerator, block-RAM external memory, UART host link.

Board: Radiona ULX3S with the LFE5U-85F-6BG381C (nextpnr ``--85k --package CABGA381``).
Pins (the names and sites of the board's ``ulx3s_v20.lpf``): ``clk_25mhz`` G2 (the
25 MHz oscillator), ``ftdi_txd`` M1 (the FTDI's TXD: host to FPGA), ``ftdi_rxd`` L4 (the
FTDI's RXD: FPGA to host), ``led[0..7]`` B2 C2 C1 D2 D1 E2 E1 H3. :func:`lpf` writes them.

The design runs on the 25 MHz clock itself (no PLL); a power-on counter holds the logic in
reset for its first 16 cycles. The host link's protocol: :mod:`hw.board.host_link`.
LEDs: 0 ``done``, 1 ``busy``, 2 a UART framing error seen, 7 a heartbeat (about 1.5 Hz).
"""

from __future__ import annotations

from dataclasses import dataclass

from amaranth.hdl import ClockDomain, Module, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from golden.accel_program import AccelTopCfg
from golden.spec import ConfigError
from hw.accel.top import Accelerator
from hw.board.ext_ram import ExtRam
from hw.board.host_link import HostLink
from hw.board.uart_rx import UartRx
from hw.board.uart_tx import UartTx

__all__ = ["BOARDS", "BoardCfg", "BoardTop", "lpf"]

#: Boards with a top here: name -> (nextpnr device flag, package, clock Hz).
BOARDS = {"ulx3s-85f": ("85k", "CABGA381", 25_000_000)}

_PINS = {"clk_25mhz": "G2", "ftdi_txd": "M1", "ftdi_rxd": "L4",
         **{f"led[{i}]": s for i, s in enumerate(("B2", "C2", "C1", "D2", "D1", "E2", "E1",
                                                   "H3"))}}
POR_CYCLES = 16


@dataclass(frozen=True)
class BoardCfg:
    """A board top: the accelerator's configuration, the depth of the block-RAM external
    memory and the UART's clock cycles per bit.

    Parameters
    ----------
    accel : AccelTopCfg
    mem_words : int or None
        Words of the external memory (2 .. ``accel.ext_words``); ``None``: ``accel.ext_words``.
    divisor : int
        Clock cycles per UART bit, at least 4 (25 for 1 Mbaud at 25 MHz, the default).
    board : str
        A key of :data:`BOARDS`.
    """

    accel: AccelTopCfg
    mem_words: int | None = None
    divisor: int = 25
    board: str = "ulx3s-85f"

    def __post_init__(self):
        if not isinstance(self.accel, AccelTopCfg):
            raise ConfigError(f"accel must be an AccelTopCfg, not {self.accel!r}")
        if self.mem_words is not None and (
                not isinstance(self.mem_words, int) or isinstance(self.mem_words, bool)
                or not 2 <= self.mem_words <= self.accel.ext_words):
            raise ConfigError(f"mem_words must be an integer 2..{self.accel.ext_words} "
                              f"(the accelerator's ext_words), not {self.mem_words!r}")
        if (not isinstance(self.divisor, int) or isinstance(self.divisor, bool)
                or self.divisor < 4):
            raise ConfigError(f"divisor must be an integer of at least 4, not "
                              f"{self.divisor!r}")
        if self.board not in BOARDS:
            raise ConfigError(f"unknown board {self.board!r}; known: {', '.join(BOARDS)}")

    @property
    def depth(self) -> int:
        """Words of the external memory."""
        return self.accel.ext_words if self.mem_words is None else self.mem_words

    @property
    def clock_hz(self) -> int:
        return BOARDS[self.board][2]

    @property
    def baud(self) -> float:
        """Bits a second on the UART at the board's clock."""
        return self.clock_hz / self.divisor

    def to_dict(self) -> dict:
        return {"board": self.board, "divisor": self.divisor, "baud": self.baud,
                "mem_words": self.depth, "accel": self.accel.to_dict()}


def lpf(cfg: BoardCfg) -> str:
    """The LPF constraints of the top's ports (sites as in the module doc)."""
    lines = [f"# {cfg.board}: vitsim board top (hw/board/ulx3s.py)", "BLOCK RESETPATHS;",
             "BLOCK ASYNCPATHS;"]
    for port, site in _PINS.items():
        lines.append(f'LOCATE COMP "{port}" SITE "{site}";')
        drive = " DRIVE=4" if port.startswith(("led", "ftdi_rxd")) else ""
        pull = "NONE" if port == "clk_25mhz" else "UP"
        lines.append(f'IOBUF PORT "{port}" PULLMODE={pull} IO_TYPE=LVCMOS33{drive};')
    lines.append(f'FREQUENCY PORT "clk_25mhz" {cfg.clock_hz / 1e6:g} MHZ;')
    return "\n".join(lines) + "\n"


class BoardTop(wiring.Component):
    """The accelerator with its external memory in block RAM, driven over a UART.

    Contract: after the power-on reset the host link (:class:`~hw.board.host_link.HostLink`)
    answers the protocol of :mod:`hw.board.host_link` on ``ftdi_txd``/``ftdi_rxd`` (8N1 at
    ``clock_hz / divisor`` baud); the accelerator (:class:`~hw.accel.top.Accelerator`)
    runs the program the host wrote into the :class:`~hw.board.ext_ram.ExtRam` (its AXI
    channels answered by block RAM: first R beat one cycle after AR, then one a cycle).

    Parameters
    ----------
    cfg : :class:`BoardCfg`

    Members
    -------
    clk_25mhz : ``In(1)``; ftdi_txd : ``In(1)``; ftdi_rxd : ``Out(1)``; led : ``Out(8)``
    """

    def __init__(self, cfg: BoardCfg):
        if not isinstance(cfg, BoardCfg):
            raise TypeError(f"cfg must be a BoardCfg, not {cfg!r}")
        self._cfg = cfg
        super().__init__({"clk_25mhz": In(1), "ftdi_txd": In(1, init=1),
                          "ftdi_rxd": Out(1, init=1), "led": Out(8)})

    @property
    def cfg(self) -> BoardCfg:
        return self._cfg

    @property
    def latency(self) -> int:
        """Cycles of power-on reset before the host link listens."""
        return POR_CYCLES

    def elaborate(self, platform):
        m = Module()
        cfg, acc = self._cfg, self._cfg.accel
        m.domains.sync = cd = ClockDomain("sync")
        m.domains.por = por_cd = ClockDomain("por", reset_less=True)
        m.d.comb += [cd.clk.eq(self.clk_25mhz), por_cd.clk.eq(self.clk_25mhz)]
        por = Signal(range(POR_CYCLES + 1), init=POR_CYCLES)
        with m.If(por != 0):
            m.d.por += por.eq(por - 1)
        m.d.comb += cd.rst.eq(por != 0)

        m.submodules.rx = rx = UartRx(cfg.divisor)
        m.submodules.tx = tx = UartTx(cfg.divisor)
        m.submodules.link = link = HostLink(acc.word_bits, cfg.depth)
        m.submodules.ram = ram = ExtRam(acc.word_bits, cfg.depth)
        m.submodules.accel = accel = Accelerator(acc)
        m.d.comb += [rx.rx.eq(self.ftdi_txd), self.ftdi_rxd.eq(tx.tx),
                     link.rx_valid.eq(rx.o_valid), link.rx_data.eq(rx.o_data),
                     tx.i_valid.eq(link.tx_valid), tx.i_data.eq(link.tx_data),
                     link.tx_ready.eq(tx.i_ready),
                     accel.start.eq(link.start), link.done.eq(accel.done),
                     link.busy.eq(accel.busy)]
        wiring.connect(m, link.mem, ram.host)
        wiring.connect(m, accel.axi_rd, ram.axi_rd)
        wiring.connect(m, accel.axi_wr, ram.axi_wr)

        err = Signal()
        with m.If(rx.error):
            m.d.sync += err.eq(1)
        beat = Signal(24)
        m.d.sync += beat.eq(beat + 1)
        m.d.comb += self.led.eq(accel.done | (accel.busy << 1) | (err << 2) | (beat[-1] << 7))
        return m
