"""Requantiser: accumulators to narrow integers by per-lane multipliers, biases and a rounding
shift, pipelined for fmax (partial products of at most 18x18 bits, a registered adder tree)."""

from __future__ import annotations

from amaranth.hdl import Cat, Const, Module, Mux, Signal, signed, unsigned
from amaranth.lib import data, stream
from amaranth.lib.wiring import In, Out

from golden.spec import RequantCfg
from golden.unit_spec import attach
from hw.stream_unit import StreamUnit

__all__ = ["Requantizer"]


@attach("requant", "component")
class Requantizer(StreamUnit):
    """Requantise ``lanes`` accumulators a beat:
    ``clamp((acc*mult + bias + 2**(shift-1)) >> shift, lo, hi)``.

    Every lane carries its own signed ``mult`` (``cfg.mult_bits``) and signed ``bias``
    (``cfg.bias_bits``, in product units); ``shift`` 1..62, output ``bits``
    2..``cfg.out_bits`` and ``signed`` are shared by the beat, so the same hardware serves
    every layer, channel and head width. The clamp range is
    ``[-2**(bits-1), 2**(bits-1)-1]`` when signed, ``[0, 2**bits-1]`` when not. The shift is
    arithmetic (floor), so ties round up. Results leave as ``cfg.out_bits``-bit
    two's-complement codes (the value modulo ``2**out_bits``).

    Pipeline (``cfg.latency`` register stages, one beat per cycle; a stalled ``o_stream``
    stops it):

    1. partial products: ``acc`` and ``mult`` split into pieces of at most
       ``cfg.DSP_BITS`` bits (:meth:`golden.spec.RequantCfg.pieces`), one hardware
       multiplier per pair; alongside, ``bias + 2**(shift-1)``;
    2. ``cfg.sum_stages`` levels of a two-input adder tree over those terms, giving the
       exact sum ``s`` (the last level also turns ``bits``, ``signed`` and ``shift`` into
       a threshold mask and the clamp codes);
    3. clamp without a wide compare: the bounds are powers of two, so ``s >> shift > hi``
       iff ``s >= 0`` has a bit set at or above ``E = shift + bits - 1 + (not signed)``,
       and ``s >> shift < lo`` iff ``s < 0`` and (unsigned, or a bit at or above ``E`` is
       clear); otherwise the output is bits ``[shift, shift + out_bits)`` of ``s``.

    Behaviour for ``shift`` 0 or above 62, or ``bits`` outside 2..``out_bits``, is
    unspecified (the compiler never emits them).

    Reference: :func:`golden.kernels.requantize`.

    Parameters
    ----------
    cfg : :class:`golden.spec.RequantCfg`

    Members
    -------
    i_stream : ``In(stream.Signature(StructLayout({"acc": ArrayLayout(signed(acc_bits), lanes), "mult": ArrayLayout(signed(mult_bits), lanes), "bias": ArrayLayout(signed(bias_bits), lanes), "shift": 6, "bits": 5, "signed": 1})))``
    o_stream : ``Out(stream.Signature(ArrayLayout(unsigned(out_bits), lanes)))``
    """  # noqa: E501

    config_class = RequantCfg

    def _members(self, cfg) -> dict:
        in_layout = self.in_layout(cfg)
        return {
            "i_stream": In(stream.Signature(in_layout)),
            "o_stream": Out(stream.Signature(data.ArrayLayout(unsigned(cfg.out_bits),
                                                              cfg.lanes))),
        }

    @property
    def sum_bits(self) -> int:
        """Signed width that holds ``acc*mult + bias + 2**(shift-1)`` exactly."""
        cfg = self._cfg
        return max(cfg.acc_bits + cfg.mult_bits - 2, cfg.bias_bits - 1, 61) + 3

    def _pieces(self, value, bits: int) -> list:
        """``(piece, offset)`` pairs whose ``piece << offset`` sum to the signed ``value``:
        unsigned low pieces (zero-extended, so signed multipliers take them) under a signed
        top piece, each at most ``DSP_BITS`` wide."""
        n, low = self._cfg.pieces(bits), self._cfg.DSP_BITS - 1
        parts = [(Cat(value[low * i:low * (i + 1)], Const(0, 1)).as_signed(), low * i)
                 for i in range(n - 1)]
        return parts + [(value[low * (n - 1):].as_signed(), low * (n - 1))]

    def elaborate(self, platform):
        m = Module()
        cfg = self._cfg
        beat = self.i_stream.payload
        width = self.sum_bits
        advance = self.advance(m)
        m.d.comb += self.i_stream.ready.eq(advance)

        def reg(value, shape, name):
            sig = Signal(shape, name=name)
            with m.If(advance):
                m.d.sync += sig.eq(value)
            return sig

        # Stage 1: partial products; bias plus the rounding half; the beat's parameters.
        stages = 1
        valid = reg(self.i_stream.valid, 1, "s1_valid")
        half = Cat(*[beat.shift == i + 1 for i in range(62)])  # 2**(shift-1), one-hot
        terms = []  # per lane: [(signal, offset)]
        for lane in range(cfg.lanes):
            lane_terms = []
            for a, a_off in self._pieces(beat.acc[lane], cfg.acc_bits):
                for w, w_off in self._pieces(beat.mult[lane], cfg.mult_bits):
                    pp = reg(a * w, signed(len(a) + len(w)), f"s1_pp{lane}_{a_off}_{w_off}")
                    lane_terms.append((pp, a_off + w_off))
            bh = reg(beat.bias[lane] + half, signed(max(cfg.bias_bits, 63) + 1),
                     f"s1_bias{lane}")
            terms.append(lane_terms + [(bh, 0)])
        shift = reg(beat.shift, 6, "s1_shift")
        bits = reg(beat.bits, 5, "s1_bits")
        is_signed = reg(beat.signed, 1, "s1_signed")

        # Stages 2..: the adder tree, one register level per level of two-input adders.
        # Sums are kept modulo 2**width (exact: the final sum fits).
        level = 0
        while len(terms[0]) > 1:
            level += 1
            stages += 1
            valid = reg(valid, 1, f"t{level}_valid")
            for lane in range(cfg.lanes):
                nxt = []
                pairs = terms[lane]
                for i in range(0, len(pairs) - 1, 2):
                    (x, xo), (y, yo) = pairs[i], pairs[i + 1]
                    off = min(xo, yo)
                    total = (x << (xo - off)) + (y << (yo - off))
                    keep = min(len(total), width - off)
                    nxt.append((reg(total[:keep].as_signed(), signed(keep),
                                    f"t{level}_sum{lane}_{i // 2}"), off))
                if len(pairs) % 2:
                    x, xo = pairs[-1]
                    nxt.append((reg(x, x.shape(), f"t{level}_pass{lane}"), xo))
                terms[lane] = nxt
            if level < cfg.sum_stages:
                shift, bits, is_signed = (reg(shift, 6, f"t{level}_shift"),
                                          reg(bits, 5, f"t{level}_bits"),
                                          reg(is_signed, 1, f"t{level}_signed"))
                continue
            # Last level: the clamp threshold mask and the clamp codes, from the params.
            top = Signal(7)
            m.d.comb += top.eq(shift + bits - 1 + ~is_signed)
            mask = reg(Cat(*[Const(i, 7) >= top for i in range(width)]), width, "mask")
            span = Signal(cfg.out_bits + 1)  # 2**(bits-1)
            m.d.comb += span.eq(Cat(*[bits == i + 1 for i in range(cfg.out_bits + 1)]))
            hi_code = reg(Mux(is_signed, span - 1, (span << 1) - 1)[:cfg.out_bits],
                          cfg.out_bits, "hi_code")
            lo_code = reg(Mux(is_signed, -span, 0)[:cfg.out_bits], cfg.out_bits, "lo_code")
            is_unsigned = reg(~is_signed, 1, "is_unsigned")
            shift = reg(shift, 6, "last_shift")
        assert level == cfg.sum_stages, (level, cfg.sum_stages)

        # Last stage: compare against the power-of-two bounds, select the window, clamp.
        stages += 1
        with m.If(advance):
            m.d.sync += self.o_stream.valid.eq(valid)
        for lane in range(cfg.lanes):
            (s, off), = terms[lane]
            assert off == 0
            neg = s[-1]
            over = ~neg & (s & mask).any()
            under = neg & (is_unsigned | (~s & mask).any())
            window = (s >> shift)[:cfg.out_bits]
            with m.If(advance):
                m.d.sync += self.o_stream.payload[lane].eq(
                    Mux(over, hi_code, Mux(under, lo_code, window)))
        assert stages == cfg.latency, (stages, cfg.latency)
        return m
