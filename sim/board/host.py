"""Host driver of the board top's UART protocol (:mod:`hw.board.host_link`).

One driver for a real board and for the simulated one: :class:`HostLink` speaks the
protocol over a :class:`Transport` (``write`` bytes, ``read`` exactly ``n`` bytes,
``pause`` between polls). :class:`SerialTransport` is a serial port (pyserial);
:mod:`sim.benches.board_bench` gives the cocotb UART model the same three methods, so a
simulated run executes this code unchanged. :func:`run_on_board` loads a compiled
program, starts it, polls for ``done``, reads back the words that hold every compared
tensor and the per-op cycle counters, and compares them with the golden package (``==``).
"""

from __future__ import annotations

import struct
import time
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from golden.errors import VitsimError
from sim.verdict import RunVerdict

__all__ = ["BoardError", "BoardResult", "HostLink", "SerialTransport", "Transport",
           "mem_words", "readback_spans", "run_on_board"]

IDENT, WRITE, READ, START, QUERY = b"I", b"W", b"R", b"S", b"Q"
ACK = b"K"


class BoardError(VitsimError):
    """The board did not answer as the protocol says (or not at all)."""


class Transport(Protocol):
    """A byte pipe to the board."""

    def write(self, data: bytes) -> None:
        """Send ``data``."""

    def read(self, n: int) -> bytes:
        """Receive exactly ``n`` bytes (raise :class:`BoardError` when they do not come)."""

    def pause(self) -> None:
        """Wait a little before the next poll."""


class SerialTransport:
    """A serial port (pyserial) at ``baud``, 8N1; ``timeout`` seconds for each read."""

    def __init__(self, port: str, baud: int = 1_000_000, timeout: float = 5.0,
                 poll_s: float = 0.01):
        try:
            import serial
        except ImportError:
            raise VitsimError("pyserial is not installed: pip install pyserial") from None
        try:
            self._port = serial.Serial(port, baudrate=baud, timeout=timeout)
        except (serial.SerialException, ValueError) as exc:
            raise VitsimError(f"{port}: cannot open the serial port ({exc})") from None
        self._name, self._poll_s = port, poll_s

    def write(self, data: bytes) -> None:
        self._port.write(data)
        self._port.flush()

    def read(self, n: int) -> bytes:
        data = self._port.read(n)
        if len(data) != n:
            raise BoardError(f"{self._name}: the board sent {len(data)} of {n} bytes "
                             "(is the bitstream loaded, and the baud rate right?)")
        return data

    def pause(self) -> None:
        time.sleep(self._poll_s)

    def close(self) -> None:
        self._port.close()


class HostLink:
    """The protocol's commands over ``transport``; ``progress(done_bytes, total)`` is
    called as words go out or come in."""

    def __init__(self, transport: Transport, progress=None):
        self.t = transport
        self.progress = progress or (lambda done, total: None)
        self.word_bytes = self.depth = None

    def ident(self) -> tuple[int, int]:
        """``(word_bytes, depth)`` of the board's external memory."""
        self.t.write(IDENT)
        ans = self.t.read(8)
        if ans[:2] != b"VB":
            raise BoardError(f"the board answered {ans!r} to I, not b'VB...' (not a vitsim "
                             "board top?)")
        self.word_bytes, self.depth = struct.unpack("<HI", ans[2:])
        return self.word_bytes, self.depth

    def _ack(self, what: str) -> None:
        ans = self.t.read(1)
        if ans != ACK:
            raise BoardError(f"the board answered {ans!r} to {what}, not b'K'")

    def write_words(self, addr: int, words: np.ndarray, chunk: int = 64) -> None:
        """Write ``words`` (``[n, lanes]`` uint32) from word ``addr`` on."""
        words = np.ascontiguousarray(words, dtype="<u4")
        total = words.nbytes
        for at in range(0, words.shape[0], chunk):
            part = words[at:at + chunk]
            self.t.write(WRITE + struct.pack("<II", addr + at, part.shape[0])
                         + part.tobytes())
            self._ack("W")
            self.progress(min(total, (at + part.shape[0]) * words.shape[1] * 4), total)

    def read_words(self, addr: int, count: int, lanes: int) -> np.ndarray:
        """``count`` words from word ``addr`` as ``[count, lanes]`` uint32."""
        self.t.write(READ + struct.pack("<II", addr, count))
        raw = self.t.read(count * lanes * 4)
        return np.frombuffer(raw, dtype="<u4").reshape(count, lanes).astype(np.uint32)

    def start(self) -> None:
        self.t.write(START)
        self._ack("S")

    def query(self) -> tuple[bool, bool, int]:
        """``(done, busy, cycles)``."""
        self.t.write(QUERY)
        status, cycles = struct.unpack("<BI", self.t.read(5))
        return bool(status & 1), bool(status & 2), cycles


def mem_words(program) -> int:
    """External-memory words ``program`` uses: its image and the final dump."""
    return program.dump_word + program.used // program.cfg.lanes


def readback_spans(program) -> list[tuple[int, int]]:
    """``(first, count)`` runs of scratchpad words that hold every tensor the program
    compares and the per-descriptor cycle counters (word numbers of the dump)."""
    lanes = program.cfg.lanes
    words = set()
    for loc in program.outputs.values():
        v = loc.view
        idx = np.full(v.shape, v.addr, dtype=np.int64)
        for axis, (n, s) in enumerate(zip(v.shape, v.strides, strict=True)):
            sh = [1] * len(v.shape)
            sh[axis] = n
            idx = idx + (np.arange(n) * s).reshape(sh)
        words.update(np.unique(idx // lanes).tolist())
    cnt = np.arange(program.cnt_base, program.cnt_base + len(program.descs))
    words.update(np.unique(cnt // lanes).tolist())
    spans, run = [], None
    for w in sorted(words):
        if run is not None and w == run[0] + run[1]:
            run[1] += 1
        else:
            run = [w, 1]
            spans.append(run)
    return [tuple(s) for s in spans]


@dataclass
class BoardResult(RunVerdict):
    """One program run on a board (or its simulation)."""

    finished: bool
    cycles: int  # the board's count, start pulse to done
    op_cycles: list
    tensors: dict  # as sim.accel_run.compare
    bytes_sent: int = 0
    bytes_received: int = 0
    extra: dict = field(default_factory=dict)


def run_on_board(program, transport: Transport, *, max_polls: int = 100_000,
                 progress=None) -> BoardResult:
    """Load ``program`` (a :class:`sim.compiler.Program`) into the board behind
    ``transport``, run it and compare every tensor it keeps with the golden package.

    Raises :class:`BoardError` when the board's memory word or depth does not match the
    program's, or it does not answer; a run not done after ``max_polls`` polls comes back
    with ``finished`` false.
    """
    from sim.accel_run import compare

    link = HostLink(transport, progress)
    lanes = program.cfg.lanes
    wb, depth = link.ident()
    if wb != lanes * 4:
        raise BoardError(f"the board's memory words are {wb} bytes; the program's are "
                         f"{lanes * 4} ({lanes} lanes): build the board top for this program")
    if depth < mem_words(program):
        raise BoardError(f"the board's memory has {depth} words; the program needs "
                         f"{mem_words(program)}")
    image = program.ext[:program.dump_word]
    link.write_words(0, image)
    sent = image.nbytes
    link.start()
    finished, cycles = False, 0
    for _ in range(max_polls):
        done, busy, cycles = link.query()
        if done and not busy:
            finished = True
            break
        transport.pause()
    tensors, op_cycles, received = {}, [], 0
    if finished:
        scratch = np.zeros(program.used, dtype=np.int64)
        for first, count in readback_spans(program):
            got = link.read_words(program.dump_word + first, count, lanes)
            received += got.nbytes
            vals = got.reshape(-1).astype(np.int32).astype(np.int64)
            scratch[first * lanes:first * lanes + vals.size] = vals
        tensors = compare(program, scratch)
        op_cycles = [int(x) for x in scratch[program.cnt_base:program.cnt_base
                                             + len(program.descs)]]
    return BoardResult(finished=finished, cycles=cycles, op_cycles=op_cycles,
                       tensors=tensors, bytes_sent=sent, bytes_received=received)
