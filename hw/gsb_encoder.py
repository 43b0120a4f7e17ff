"""GSB threshold encoder: per-image max/min, then the sign/base plane and the ratio masks."""

from __future__ import annotations

from amaranth.hdl import Cat, Module, Mux, Signal, signed, unsigned
from amaranth.lib import data, stream
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from golden.cases_gsb import GsbEncoderCfg
from golden.unit_spec import attach
from hw.stream_unit import StreamUnit

__all__ = ["GsbEncoder"]


def _tree(values: list, pick) -> object:
    """Balanced reduction of ``values`` by ``pick(a, b)`` (a max or min of two)."""
    while len(values) > 1:
        nxt = [pick(values[i], values[i + 1]) for i in range(0, len(values) - 1, 2)]
        values = nxt + ([values[-1]] if len(values) % 2 else [])
    return values[0]


@attach("gsb_encoder", "component")
class GsbEncoder(StreamUnit):
    """GSB threshold encoder over one image's tensor at a time, ``lanes`` elements a beat.

    Reference: :func:`golden.intops.gsb_value_planes` (``two_tailed`` set: sign ``x >= 0``,
    masks ``den*x > num*max | den*x < num*min``) and :func:`golden.intops.gsb_attn_planes`
    (``two_tailed`` clear: base ``x > theta``, masks ``den*x > num*max``), bit for bit, with
    max/min over the whole image (every beat up to ``last``). ``theta`` and ``two_tailed``
    are latched from an image's first beat; the ratios ``(num, den)`` are ``cfg.ratios``.

    An image goes through two passes, one after the other:

    1. *load* (one beat a cycle, ``i_stream.ready`` high): each beat is written to the
       buffer (an ``amaranth.lib.memory.Memory`` of ``cfg.depth`` words of ``lanes *
       x_bits`` bits) and registered; its max and min (a comparator tree over the lanes)
       are registered on the next edge and folded into the image's on the one after.
       ``last`` ends the image, and so does the ``depth``-th beat;
    2. *emit* (stalled only by ``o_stream``): a pipeline of buffer read, hold register (the
       buffer's output is slow), the products ``den * x`` (one constant multiplier per lane
       and ratio), and the compare-and-output register: exact integer compares against the
       thresholds ``num * max`` and ``num * min`` (registered every emit cycle; final before
       the first compare), widths grown so nothing wraps. The image's ``last`` flag rides on
       its final output beat.

    Timing: two passes, because no mask can be decided before the whole image's max is
    known. With no stalls an image takes ``2 * beats + latency`` cycles (``latency`` = 4:
    read, hold, product, compare-and-output) from its first input handshake to its last
    output handshake, both included; the next image's first beat is accepted on the
    following edge (one buffer; a second bank would hide the load pass). The model the
    benches assert is :meth:`golden.cases_gsb.GsbEncoderCfg.cycles`. Idle input cycles
    stretch only the load pass, backpressure only the emit pass.

    Parameters
    ----------
    cfg : :class:`golden.cases_gsb.GsbEncoderCfg`

    Members
    -------
    i_stream : ``In(stream.Signature(StructLayout({"x": ArrayLayout(signed(x_bits), lanes), "theta": signed(x_bits + 1), "two_tailed": 1, "last": 1})))``
    o_stream : ``Out(stream.Signature(StructLayout({"planes": ArrayLayout(unsigned(1 + len(ratios)), lanes), "last": 1})))``
        Lane ``l``'s bit 0 is the sign/base plane, bit ``1 + r`` the mask of ratio ``r``.
    """  # noqa: E501

    config_class = GsbEncoderCfg

    def _members(self, cfg) -> dict:
        in_layout = self.in_layout(cfg)
        out_layout = data.StructLayout({
            "planes": data.ArrayLayout(unsigned(cfg.planes), cfg.lanes),
            "last": unsigned(1),
        })
        return {"i_stream": In(stream.Signature(in_layout)),
                "o_stream": Out(stream.Signature(out_layout))}

    def elaborate(self, platform):
        m = Module()
        cfg = self._cfg
        beat = self.i_stream.payload
        xb = cfg.x_bits
        cnt_shape = unsigned(cfg.depth.bit_length())

        m.submodules.mem = mem = Memory(shape=unsigned(cfg.lanes * xb), depth=cfg.depth,
                                        init=[])
        wr = mem.write_port()
        rd = mem.read_port()

        hi = Signal(signed(xb))  # running max / min of the image
        lo = Signal(signed(xb))
        theta = Signal(signed(xb + 1))
        two_tailed = Signal()
        length = Signal(cnt_shape)  # beats of the image
        count = Signal(cnt_shape)  # beats loaded / reads issued
        thr_hi = [Signal(signed(xb + num.bit_length() + 1), name=f"thr_hi{i}")
                  for i, (num, _) in enumerate(cfg.ratios)]
        thr_lo = [Signal(signed(xb + num.bit_length() + 1), name=f"thr_lo{i}")
                  for i, (num, _) in enumerate(cfg.ratios)]

        # Load pass: the beat is registered (its lanes come from the accelerator's beat
        # select, so the comparators do not share a cycle with it), its max and min (a
        # comparator tree) are registered, then folded into the image's on the next edge
        # (the last fold lands on the second emit edge, still before the thresholds'
        # first use: see EMIT).
        lanes = [Signal(signed(xb), name=f"a_x{i}") for i in range(cfg.lanes)]
        a_valid, a_first = Signal(), Signal()
        m.d.sync += [a_valid.eq(self.i_stream.valid & self.i_stream.ready),
                     a_first.eq(count == 0),
                     *(x.eq(beat.x[i]) for i, x in enumerate(lanes))]
        b_valid, b_first = Signal(), Signal()
        b_hi, b_lo = Signal(signed(xb)), Signal(signed(xb))
        m.d.sync += [b_valid.eq(a_valid), b_first.eq(a_first),
                     b_hi.eq(_tree(lanes, lambda a, b: Mux(a > b, a, b))),
                     b_lo.eq(_tree(lanes, lambda a, b: Mux(a < b, a, b)))]
        with m.If(b_valid):
            m.d.sync += [hi.eq(Mux(b_first | (b_hi > hi), b_hi, hi)),
                         lo.eq(Mux(b_first | (b_lo < lo), b_lo, lo))]

        # Emit pass, stalled as a whole by o_stream: the read (rd.data, s_*), a hold register
        # (the buffer's output is slow), the products den * x, the compare-and-output register.
        advance = self.advance(m)
        s_valid, s_last = Signal(), Signal()
        h_valid, h_last = Signal(), Signal()
        x_valid, x_last = Signal(), Signal()
        held = [Signal(signed(xb), name=f"held{lane}") for lane in range(cfg.lanes)]
        xs = [Signal(signed(xb), name=f"x{lane}") for lane in range(cfg.lanes)]
        dxs = [[Signal(signed(xb + den.bit_length() + 1), name=f"dx{lane}_{i}")
                for i, (_, den) in enumerate(cfg.ratios)] for lane in range(cfg.lanes)]
        with m.If(advance):
            m.d.sync += [h_valid.eq(s_valid), h_last.eq(s_last), x_valid.eq(h_valid),
                         x_last.eq(h_last), self.o_stream.valid.eq(x_valid),
                         self.o_stream.payload.last.eq(x_last)]
            for lane in range(cfg.lanes):
                x = xs[lane]
                m.d.sync += [held[lane].eq(rd.data[lane * xb:(lane + 1) * xb].as_signed()),
                             x.eq(held[lane])]
                bits = [Mux(two_tailed, x >= 0, x > theta)]
                for i, (_, den) in enumerate(cfg.ratios):
                    dx = dxs[lane][i]
                    m.d.sync += dx.eq(held[lane] * den)
                    bits.append((dx > thr_hi[i]) | (two_tailed & (dx < thr_lo[i])))
                m.d.sync += self.o_stream.payload.planes[lane].eq(Cat(*bits))

        issue = count != length  # reads left to issue in the emit pass
        with m.FSM() as fsm:
            with m.State("LOAD"):
                with m.If(self.i_stream.valid):
                    m.d.sync += count.eq(count + 1)
                    with m.If(count == 0):
                        m.d.sync += [theta.eq(beat.theta), two_tailed.eq(beat.two_tailed)]
                    with m.If(beat.last | (count == cfg.depth - 1)):
                        m.d.sync += [length.eq(count + 1), count.eq(0)]
                        m.next = "EMIT"
            with m.State("EMIT"):
                # Thresholds, registered every emit cycle: max and min are final from the
                # second edge on, the thresholds from the third, and the first compare
                # comes three edges after the first read (on the fourth).
                for i, (num, _) in enumerate(cfg.ratios):
                    m.d.sync += [thr_hi[i].eq(hi * num), thr_lo[i].eq(lo * num)]
                with m.If(advance):
                    m.d.sync += [s_valid.eq(issue), s_last.eq(count == length - 1)]
                    with m.If(issue):
                        m.d.sync += count.eq(count + 1)
                with m.If(self.o_stream.valid & self.o_stream.ready & self.o_stream.payload.last):
                    m.d.sync += count.eq(0)
                    m.next = "LOAD"
        # Unconditional assignments only (Icarus evaluates an ``assign`` at time 0).
        load = fsm.ongoing("LOAD")
        m.d.comb += [
            self.i_stream.ready.eq(load),
            wr.en.eq(load & self.i_stream.valid),
            wr.addr.eq(count),
            wr.data.eq(beat.x.as_value()),
            rd.addr.eq(count),
            rd.en.eq(~load & advance),
        ]
        return m
