"""Binary matmul array: ``rows`` XNOR-popcount or AND-popcount lanes over ``cols`` bits."""

from __future__ import annotations

from amaranth.hdl import Module, Signal, signed, unsigned
from amaranth.lib import data, stream
from amaranth.lib.wiring import In, Out

from golden.spec import BinaryArrayCfg
from hw.adder_tree import popcount
from hw.stream_unit import StreamUnit

__all__ = ["BinaryMatmulArray"]


class BinaryMatmulArray(StreamUnit):
    """Binary matrix-vector array: ``rows`` dot products of binary vectors, ``cols`` bits a beat.

    Each input beat carries ``cols`` activation bits and, for every lane, ``cols`` weight
    bits; lane ``r`` adds the beat's contribution to its accumulator. The beat with ``last``
    set closes the reduction: the ``rows`` accumulators leave on ``o_stream`` as one
    transfer and are cleared. A reduction of ``k`` elements is ``k / cols`` beats and must
    not exceed ``cfg.max_k`` (the accumulators are sized for it; longer ones wrap).

    Modes (``cfg.mode``): ``"xnor"`` computes ``sum (2a-1)(2w-1)`` ({-1,+1} x {-1,+1}, bit 1
    is +1); ``"and"`` computes ``sum a(2w-1)`` ({0,1} x {-1,+1}).

    Timing: fully pipelined, one beat per cycle with no stalls. The result of a reduction
    is handed over ``latency`` clock edges after the edge that accepted its last beat. A
    stalled ``o_stream`` stops the whole pipeline (``i_stream.ready`` falls), so no data is
    lost or duplicated under any valid/ready pattern.

    Reference: :func:`golden.kernels.binary_matmul` (XNOR: :func:`golden.kernels.
    xnor_popcount_matmul`; AND: :func:`golden.kernels.and_popcount_matmul`).

    Parameters
    ----------
    cfg : :class:`golden.spec.BinaryArrayCfg`
        Array geometry, mode and longest reduction.

    Members
    -------
    i_stream : ``In(stream.Signature(StructLayout({"a": cols, "w": ArrayLayout(cols, rows), "last": 1})))``
        One beat: activation bits ``a`` (element ``i`` at bit ``i``), per-lane weight bits
        ``w[r]`` and the end-of-reduction flag ``last``.
    o_stream : ``Out(stream.Signature(ArrayLayout(signed(acc_bits), rows)))``
        One accumulator per lane per completed reduction.
    """  # noqa: E501

    config_class = BinaryArrayCfg

    def _members(self, cfg) -> dict:
        in_layout = data.StructLayout({
            "a": unsigned(cfg.cols),
            "w": data.ArrayLayout(unsigned(cfg.cols), cfg.rows),
            "last": unsigned(1),
        })
        out_layout = data.ArrayLayout(signed(cfg.acc_bits), cfg.rows)
        return {
            "i_stream": In(stream.Signature(in_layout)),
            "o_stream": Out(stream.Signature(out_layout)),
        }

    def elaborate(self, platform):
        m = Module()
        cfg = self._cfg
        beat = self.i_stream.payload
        cnt_shape = unsigned(cfg.cols.bit_length())
        contrib_shape = signed(cfg.cols.bit_length() + 2)

        advance = self.advance(m)
        m.d.comb += self.i_stream.ready.eq(advance)

        # Stage 1: per-lane popcounts of the beat.
        p_valid = Signal()
        p_last = Signal()
        p_cnt = [Signal(cnt_shape, name=f"p_cnt{r}") for r in range(cfg.rows)]
        p_acnt = Signal(cnt_shape)
        with m.If(advance):
            m.d.sync += [p_valid.eq(self.i_stream.valid), p_last.eq(beat.last)]
            for r in range(cfg.rows):
                bits = ~(beat.a ^ beat.w[r]) if cfg.mode == "xnor" else beat.a & beat.w[r]
                m.d.sync += p_cnt[r].eq(popcount(bits))
            if cfg.mode == "and":
                m.d.sync += p_acnt.eq(popcount(beat.a))

        # Stage 2: accumulate; close the reduction on the last beat.
        acc = [Signal(signed(cfg.acc_bits), name=f"acc{r}") for r in range(cfg.rows)]
        with m.If(advance):
            m.d.sync += self.o_stream.valid.eq(p_valid & p_last)
            with m.If(p_valid):
                for r in range(cfg.rows):
                    contrib = Signal(contrib_shape, name=f"contrib{r}")
                    offset = cfg.cols if cfg.mode == "xnor" else p_acnt
                    m.d.comb += contrib.eq(2 * p_cnt[r] - offset)
                    total = acc[r] + contrib
                    with m.If(p_last):
                        m.d.sync += [self.o_stream.payload[r].eq(total), acc[r].eq(0)]
                    with m.Else():
                        m.d.sync += acc[r].eq(total)
        return m
