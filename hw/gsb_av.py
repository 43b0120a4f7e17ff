"""GSB multi-plane attention x V: AND-popcounts of attention planes with signed V planes."""

from __future__ import annotations

from amaranth.hdl import Cat, Const, Module, Mux, Signal, signed, unsigned
from amaranth.lib import data, stream
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from golden.cases_gsb import GsbAvCfg
from golden.unit_spec import attach
from hw.adder_tree import popcount, tree_sum
from hw.stream_unit import StreamUnit

__all__ = ["POP_CHUNK", "GsbAv"]

POP_CHUNK = 16  # bits per registered partial popcount


@attach("gsb_av", "component")
class GsbAv(StreamUnit):
    """``y = sum_{p,r} W[p, r] * (A_p @ S_r)`` for one head, ``lanes`` columns at a time.

    Reference: :func:`golden.intops.gsb_av`, bit for bit. ``A_p`` are the ``P = a_planes``
    {0,1} attention planes ``[n, n]``; ``S_0`` is V's ±1 sign plane and ``S_r = S_0 *
    mask_{r-1}`` (``R = v_planes`` planes, ``[n, d]``); ``W [P, R]`` are signed ``w_bits``
    integers given at run time (with the first V beat), so one instance serves every layer
    and head. ``n <= max_n`` and ``d <= max_d`` are set by the stream itself (``last``).

    A head goes through two phases on one ``i_stream`` (layout: :func:`golden.cases_gsb.
    gsb_av_beats`):

    1. *load V* (``v_cols`` columns a cycle, ``ceil(d / v_cols)`` cycles): each column's
       ``R`` plane vectors (``n`` bits each, over the tokens; a beat's ``v_cols`` columns
       interleaved token-major, as the accelerator's gatherer packs a vector read of a V
       row) are written into the V buffer, an ``amaranth.lib.memory.Memory`` of
       ``ceil(max_d / lanes)`` words holding ``lanes`` columns each (one write granule per
       column, ``v_cols`` of them a cycle);
    2. *rows* (``ceil(d / lanes) * P * R`` cycles per row of A): a row's ``P`` plane vectors
       are held in a register; for each column block and each plane pair ``(p, r)``, one a
       cycle, every lane ``j`` computes ``popcount(A_p[i] & mask_r[j] & pos[j]) -
       popcount(A_p[i] & mask_r[j] & neg[j])`` (``pos`` the sign bits, ``neg`` their
       complement, ``mask_0`` all ones; bits past ``n`` of ``A`` are zero, so past-``n`` V
       bits never count), multiplies it by ``W[p, r]`` and accumulates. The block's ``lanes``
       sums leave as one ``o_stream`` transfer after its last pair; columns past ``d`` in the
       last block carry don't-care values. The next row is accepted during the current
       row's last issue cycle, so rows follow each other without a gap.

    Pipeline of the rows phase (stalled as a whole by ``o_stream``): issue (V buffer read,
    plane and weight select), popcounts in chunks of ``POP_CHUNK`` = 16 bits (registered, so
    the popcount depth does not grow with ``max_n``), chunk sums and their difference,
    multiply-accumulate into the output register. Accumulators are ``cfg.acc_bits`` wide,
    from the static bound ``max_n * sum|W| <= max_n * P * R * 2**(w_bits - 1)``
    (:attr:`golden.cases_gsb.GsbAvCfg.acc_bound`), so no sum wraps. Timing with no stalls,
    first input handshake to last output handshake, both included: ``ceil(d / v_cols) +
    n * ceil(d / lanes) * P * R + latency`` with ``latency`` = 5 (row register, issue, chunk
    popcounts, difference, accumulate), the model :meth:`golden.cases_gsb.GsbAvCfg.cycles`
    that the benches assert. After a head's last output the unit waits for the next head's
    first V beat.

    Parameters
    ----------
    cfg : :class:`golden.cases_gsb.GsbAvCfg`

    Members
    -------
    i_stream : ``In(stream.Signature(StructLayout({"bits": bits_width, "w": ArrayLayout(signed(w_bits), P * R), "last": 1})))``
    o_stream : ``Out(stream.Signature(ArrayLayout(signed(acc_bits), lanes)))``
        Lane ``l`` of the transfer for row ``i`` and block ``b`` is ``y[i, b*lanes + l]``.
    """  # noqa: E501

    config_class = GsbAvCfg

    def _members(self, cfg) -> dict:
        in_layout = self.in_layout(cfg)
        return {"i_stream": In(stream.Signature(in_layout)),
                "o_stream": Out(stream.Signature(data.ArrayLayout(signed(cfg.acc_bits),
                                                                  cfg.lanes)))}

    def elaborate(self, platform):
        m = Module()
        cfg = self._cfg
        beat = self.i_stream.payload
        n_bits, p_n, r_n = cfg.max_n, cfg.a_planes, cfg.v_planes
        col_bits = r_n * n_bits  # one column of V: R plane vectors
        k = cfg.v_cols
        # A V beat's k columns: plane r's bit t*k + c is token t of column c (gsb_av_beats)
        v_cols = [Cat(*(beat.bits[r * n_bits * k + t * k + c]
                        for r in range(r_n) for t in range(n_bits))) for c in range(k)]

        m.submodules.mem = mem = Memory(shape=unsigned(cfg.lanes * col_bits), depth=cfg.depth,
                                        init=[])
        wr = mem.write_port(granularity=col_bits)
        rd = mem.read_port()

        blk_shape = unsigned(max(1, cfg.depth.bit_length()))
        w = Signal(data.ArrayLayout(signed(cfg.w_bits), p_n * r_n))  # latched weights
        v_blk = Signal(blk_shape)  # V load: block and lane of the next column
        v_lane = Signal(range(cfg.lanes))
        n_blk = Signal(blk_shape)  # blocks of this head
        arow = Signal(p_n * n_bits)  # the A row being worked on
        have_row = Signal()
        row_last = Signal()  # the held row is the head's last
        rows_done = Signal()  # the head's last row has been accepted
        blk = Signal(blk_shape)
        p = Signal(range(p_n))
        r = Signal(range(r_n))
        pr = Signal(range(p_n * r_n))  # p * R + r, counted (no multiplier in the select)

        advance = self.advance(m)
        issuing = have_row & advance
        last_pair = (p == p_n - 1) & (r == r_n - 1)
        end_of_row = last_pair & (blk == n_blk - 1)

        # Stage 0, issue: V buffer read of block ``blk``, plane A_p, weight W[p, r].
        i_valid, i_first, i_lastpair, i_final = Signal(), Signal(), Signal(), Signal()
        i_a = Signal(n_bits)
        i_w = Signal(signed(cfg.w_bits))
        i_r = Signal(range(r_n))
        with m.If(advance):
            m.d.sync += [i_valid.eq(have_row), i_a.eq(arow.word_select(p, n_bits)),
                         i_w.eq(w.as_value().word_select(pr, cfg.w_bits).as_signed()),
                         i_r.eq(r), i_first.eq((p == 0) & (r == 0)), i_lastpair.eq(last_pair),
                         i_final.eq(end_of_row & row_last)]

        # Stage 1: per lane, popcounts of A & mask & pos and of A & mask & neg, in chunks of
        # POP_CHUNK bits. Stage 2: sum the chunks and subtract.
        c_valid, c_first, c_lastpair, c_final = Signal(), Signal(), Signal(), Signal()
        c_w = Signal(signed(cfg.w_bits))
        chunks = [(k, min(k + POP_CHUNK, n_bits)) for k in range(0, n_bits, POP_CHUNK)]
        cnt_shape = unsigned(POP_CHUNK.bit_length())
        counts = [[(Signal(cnt_shape, name=f"pos{j}_{k}"), Signal(cnt_shape, name=f"neg{j}_{k}"))
                   for k, _ in chunks] for j in range(cfg.lanes)]
        ones = Const((1 << n_bits) - 1, n_bits)
        with m.If(advance):
            m.d.sync += [c_valid.eq(i_valid), c_first.eq(i_first), c_lastpair.eq(i_lastpair),
                         c_final.eq(i_final), c_w.eq(i_w)]
            for j in range(cfg.lanes):
                col = rd.data[j * col_bits:(j + 1) * col_bits]
                sign = col[:n_bits]
                sel = i_a & Mux(i_r == 0, ones, col.word_select(i_r, n_bits))
                for (lo, hi), (pos, neg) in zip(chunks, counts[j], strict=True):
                    m.d.sync += [pos.eq(popcount((sel & sign)[lo:hi])),
                                 neg.eq(popcount((sel & ~sign)[lo:hi]))]
        e_valid, e_first, e_lastpair, e_final = Signal(), Signal(), Signal(), Signal()
        e_w = Signal(signed(cfg.w_bits))
        diff_shape = signed(n_bits.bit_length() + 1)
        diffs = [Signal(diff_shape, name=f"diff{j}") for j in range(cfg.lanes)]
        with m.If(advance):
            m.d.sync += [e_valid.eq(c_valid), e_first.eq(c_first), e_lastpair.eq(c_lastpair),
                         e_final.eq(c_final), e_w.eq(c_w)]
            for j in range(cfg.lanes):
                m.d.sync += diffs[j].eq(tree_sum([pos for pos, _ in counts[j]])
                                        - tree_sum([neg for _, neg in counts[j]]))

        # Stage 3: multiply-accumulate; a block's sums leave after its last plane pair.
        o_final = Signal()
        accs = [Signal(signed(cfg.acc_bits), name=f"acc{j}") for j in range(cfg.lanes)]
        with m.If(advance):
            m.d.sync += [self.o_stream.valid.eq(e_valid & e_lastpair),
                         o_final.eq(e_valid & e_lastpair & e_final)]
            with m.If(e_valid):
                for j in range(cfg.lanes):
                    total = Mux(e_first, 0, accs[j]) + e_w * diffs[j]
                    m.d.sync += accs[j].eq(total)
                    with m.If(e_lastpair):
                        m.d.sync += self.o_stream.payload[j].eq(total)

        # Sequencer: the row register and the (block, p, r) counters.
        accept = self.i_stream.valid & self.i_stream.ready
        with m.FSM() as fsm:
            with m.State("LOAD_V"):
                with m.If(self.i_stream.valid):
                    with m.If((v_blk == 0) & (v_lane == 0)):
                        m.d.sync += w.eq(beat.w)
                    with m.If(v_lane == cfg.lanes - k):
                        m.d.sync += [v_lane.eq(0), v_blk.eq(v_blk + 1)]
                    with m.Else():
                        m.d.sync += v_lane.eq(v_lane + k)
                    at_end = (v_blk == cfg.depth - 1) & (v_lane == cfg.lanes - k)
                    with m.If(beat.last | at_end):
                        m.d.sync += [n_blk.eq(v_blk + 1), rows_done.eq(0)]
                        m.next = "ROWS"
            with m.State("ROWS"):
                with m.If(issuing):
                    m.d.sync += pr.eq(Mux(last_pair, 0, pr + 1))
                    with m.If(r == r_n - 1):
                        m.d.sync += [r.eq(0), p.eq(p + 1)]
                        with m.If(p == p_n - 1):
                            m.d.sync += [p.eq(0), blk.eq(blk + 1)]
                            with m.If(blk == n_blk - 1):
                                m.d.sync += [blk.eq(0), have_row.eq(0)]
                    with m.Else():
                        m.d.sync += r.eq(r + 1)
                with m.If(accept):
                    m.d.sync += [arow.eq(beat.bits[:p_n * n_bits]), have_row.eq(1),
                                 row_last.eq(beat.last), rows_done.eq(beat.last),
                                 blk.eq(0), p.eq(0), r.eq(0), pr.eq(0)]
                with m.If(self.o_stream.valid & self.o_stream.ready & o_final):
                    m.d.sync += [v_blk.eq(0), v_lane.eq(0)]
                    m.next = "LOAD_V"
        # Unconditional assignments only (Icarus evaluates an ``assign`` at time 0).
        load_v, rows = fsm.ongoing("LOAD_V"), fsm.ongoing("ROWS")
        m.d.comb += [
            self.i_stream.ready.eq(load_v | (rows & ~rows_done
                                             & (~have_row | (issuing & end_of_row)))),
            wr.addr.eq(v_blk),
            wr.data.eq(Cat(*v_cols * (cfg.lanes // k))),
            wr.en.eq(Mux(load_v & self.i_stream.valid,
                         Const((1 << k) - 1, cfg.lanes) << v_lane, 0)),
            rd.addr.eq(blk),
            rd.en.eq(advance),
        ]
        return m
