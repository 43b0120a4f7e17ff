"""The external memory model of the accelerator's runs: an AXI4-like slave in Verilog.

:data:`WRAPPER` is the Verilog module ``accel_tb`` around the accelerator (written by
:func:`sim.accel_run.accel_verilog`): the memory image (``+dram_in=FILE``, dumped to
``+dram_out=FILE`` when ``done`` rises) behind the accelerator's AXI read and write
channels, with latency, bandwidth and seeded random wait states set by plusargs, so one
build serves every setting, and byte and stall counters on its ports. The cocotb bench
(:mod:`sim.benches.accel_bench`) and the plain C++ harness (``sim/harness/accel_harness.cpp``)
both run it: no Python per cycle. :class:`MemModel` holds a setting and its plusargs.
"""

from __future__ import annotations

from dataclasses import dataclass

from golden.errors import VitsimError

__all__ = ["MAX_LATENCY", "MAX_STALL", "WRAPPER", "MemModel", "mem_model_args",
           "mem_model_from_args"]

#: The longest latency :class:`MemModel` accepts (cycles); the slave queues 4 bursts of a
#: channel, which keeps a stream of 256-beat bursts gapless up to 768 cycles.
MAX_LATENCY = 256
#: The highest wait-state probability :class:`MemModel` accepts.
MAX_STALL = 0.9

WRAPPER = """
// External memory model around the accelerator (written by vitsim, sim/accel_run.py): an
// AXI4-like slave on the accelerator's read (AR/R) and write (AW/W/B) channels. Bursts are
// queued in order (4 a channel); the first R beat of a read burst, and the B response of a
// write burst, come +mem_latency=L cycles after its AR handshake (its last W beat); at
// most +mem_bw=B bytes a cycle move on each channel (a credit of one word, refilled B
// bytes a cycle); with +mem_stall=T (0..65535) each channel has, each cycle, a wait state
// with probability T/65536 from its own seeded xorshift32 (+mem_seed=S): it takes no
// handshake and its clock (latency, credit) stands still, so a wait state while the
// channel is active (a request offered or a burst outstanding) costs exactly one cycle;
// rd_stalls/wr_stalls count those, but for read wait states while the accelerator's
// `overlap` is high (a prefetch under compute: they cost nothing while the load still
// ends before the compute). rd_bytes/wr_bytes count the bytes of every R/W beat.
// The ports are the only signals a bench touches; they alone are public to VPI.
module accel_tb (input wire clk /*verilator public_flat_rw*/,
                 input wire rst /*verilator public_flat_rw*/,
                 input wire start /*verilator public_flat_rw*/,
                 output wire done /*verilator public_flat_rw*/,
                 output wire busy /*verilator public_flat_rw*/,
                 output reg dumped /*verilator public_flat_rw*/,
                 output reg [63:0] rd_bytes /*verilator public_flat_rw*/,
                 output reg [63:0] wr_bytes /*verilator public_flat_rw*/,
                 output reg [63:0] rd_stalls /*verilator public_flat_rw*/,
                 output reg [63:0] wr_stalls /*verilator public_flat_rw*/);
  localparam WB = {w} / 8;
  reg [{w}-1:0] dram [0:{n}-1];
  wire ar_valid, r_ready, aw_valid, w_valid, w_last, b_ready, ar_ready, r_valid, r_last;
  wire aw_ready, w_ready, b_valid;
  wire [{a}-1:0] ar_addr, aw_addr;
  wire [7:0] ar_len, aw_len;
  wire [{w}-1:0] r_data, w_data;
  wire overlap;
  accelerator dut (.clk(clk), .rst(rst), .start(start), .done(done), .busy(busy),
    .overlap(overlap),
    .axi_rd__ar_valid(ar_valid), .axi_rd__ar_ready(ar_ready), .axi_rd__ar_addr(ar_addr),
    .axi_rd__ar_len(ar_len), .axi_rd__r_valid(r_valid), .axi_rd__r_ready(r_ready),
    .axi_rd__r_data(r_data), .axi_rd__r_last(r_last),
    .axi_wr__aw_valid(aw_valid), .axi_wr__aw_ready(aw_ready), .axi_wr__aw_addr(aw_addr),
    .axi_wr__aw_len(aw_len), .axi_wr__w_valid(w_valid), .axi_wr__w_ready(w_ready),
    .axi_wr__w_data(w_data), .axi_wr__w_last(w_last), .axi_wr__b_valid(b_valid),
    .axi_wr__b_ready(b_ready));
  integer lat, bw, thr, seed;
  function [31:0] xs(input [31:0] x);
    reg [31:0] y;
    begin
      y = x ^ (x << 13);
      y = y ^ (y >> 17);
      xs = y ^ (y << 5);
    end
  endfunction
  // ---- read channel
  reg [31:0] rrng, rclk, racc;
  reg [{a}-1:0] rq_addr [0:3];
  reg [8:0] rq_beats [0:3];
  reg [31:0] rq_due [0:3];
  reg [2:0] rq_n;
  reg [1:0] rq_hd, rq_tl;
  reg [8:0] r_beat;
  reg r_held;
  wire rstall = {{16'd0, rrng[31:16]}} < thr;
  assign ar_ready = !rstall && rq_n != 3'd4;
  wire ar_take = ar_valid && ar_ready;
  wire r_can = rq_n != 3'd0 && rclk >= rq_due[rq_hd] && racc >= WB;
  assign r_valid = r_held || (!rstall && r_can);
  assign r_data = dram[rq_addr[rq_hd] + r_beat];
  assign r_last = r_beat + 9'd1 == rq_beats[rq_hd];
  wire r_take = r_valid && r_ready;
  wire r_end = r_take && r_last;
  wire [31:0] racc_up = (r_take ? racc - WB : racc) + bw;
  always @(posedge clk) begin
    if (rst) begin
      rq_n <= 0; rq_hd <= 0; rq_tl <= 0; r_beat <= 0; r_held <= 1'b0;
      rclk <= 0; racc <= WB; rrng <= {{seed[30:0], 1'b1}} ^ 32'h9e3779b8;
      rd_bytes <= 0; rd_stalls <= 0;
    end else begin
      rrng <= xs(rrng);
      if (!rstall) begin
        rclk <= rclk + 1;
        racc <= racc_up > WB ? WB : racc_up;
      end else if (r_take) racc <= racc - WB;
      if (rstall && (ar_valid || rq_n != 3'd0) && !overlap) rd_stalls <= rd_stalls + 1;
      r_held <= r_valid && !r_ready;
      if (ar_take) begin
        rq_addr[rq_tl] <= ar_addr;
        rq_beats[rq_tl] <= {{1'b0, ar_len}} + 9'd1;
        rq_due[rq_tl] <= rclk + lat;
        rq_tl <= rq_tl + 1;
      end
      if (r_take) begin
        rd_bytes <= rd_bytes + WB;
        r_beat <= r_end ? 9'd0 : r_beat + 9'd1;
        if (r_end) rq_hd <= rq_hd + 1;
      end
      rq_n <= rq_n + {{2'd0, ar_take}} - {{2'd0, r_end}};
    end
  end
  // ---- write channel
  reg [31:0] wrng, wclk, wacc;
  reg [{a}-1:0] wq_addr [0:3];
  reg [8:0] wq_beats [0:3];
  reg [2:0] wq_n, bq_n;
  reg [1:0] wq_hd, wq_tl, bq_hd, bq_tl;
  reg [31:0] bq_due [0:3];
  reg [8:0] w_beat;
  reg b_held;
  wire wstall = {{16'd0, wrng[31:16]}} < thr;
  assign aw_ready = !wstall && wq_n != 3'd4;
  wire aw_take = aw_valid && aw_ready;
  wire [{a}-1:0] w_base = wq_n != 3'd0 ? wq_addr[wq_hd] : aw_addr;
  wire [8:0] w_len = wq_n != 3'd0 ? wq_beats[wq_hd] : {{1'b0, aw_len}} + 9'd1;
  assign w_ready = !wstall && (wq_n != 3'd0 || aw_take) && wacc >= WB && bq_n != 3'd4;
  wire w_take = w_valid && w_ready;
  wire w_end = w_take && w_beat + 9'd1 == w_len;
  assign b_valid = b_held || (!wstall && bq_n != 3'd0 && wclk >= bq_due[bq_hd]);
  wire b_take = b_valid && b_ready;
  wire [31:0] wacc_up = (w_take ? wacc - WB : wacc) + bw;
  always @(posedge clk) begin
    if (rst) begin
      wq_n <= 0; wq_hd <= 0; wq_tl <= 0; bq_n <= 0; bq_hd <= 0; bq_tl <= 0; w_beat <= 0;
      b_held <= 1'b0; wclk <= 0; wacc <= WB; wrng <= {{seed[30:0], 1'b1}} ^ 32'h7f4a7c14;
      wr_bytes <= 0; wr_stalls <= 0;
    end else begin
      wrng <= xs(wrng);
      if (!wstall) begin
        wclk <= wclk + 1;
        wacc <= wacc_up > WB ? WB : wacc_up;
      end
      if (wstall && (aw_valid || w_valid || wq_n != 3'd0 || bq_n != 3'd0))
        wr_stalls <= wr_stalls + 1;
      b_held <= b_valid && !b_ready;
      if (w_take && w_last != (w_beat + 9'd1 == w_len))
        $display("accel_tb: AXI error: w_last on beat %0d of a %0d-beat burst", w_beat, w_len);
      if (aw_take) begin
        wq_addr[wq_tl] <= aw_addr;
        wq_beats[wq_tl] <= {{1'b0, aw_len}} + 9'd1;
        wq_tl <= wq_tl + 1;
      end
      if (w_take) begin
        dram[w_base + w_beat] <= w_data;
        wr_bytes <= wr_bytes + WB;
        w_beat <= w_end ? 9'd0 : w_beat + 9'd1;
      end
      if (w_end) begin
        wq_hd <= wq_hd + 1;
        bq_due[bq_tl] <= wclk + lat;
        bq_tl <= bq_tl + 1;
      end
      if (b_take) bq_hd <= bq_hd + 1;
      wq_n <= wq_n + {{2'd0, aw_take}} - {{2'd0, w_end}};
      bq_n <= bq_n + {{2'd0, w_end}} - {{2'd0, b_take}};
    end
  end
  reg [8*1024-1:0] fin, fout;
  initial begin
    dumped = 1'b0;
    if (!$value$plusargs("mem_latency=%d", lat)) lat = 1;
    if (!$value$plusargs("mem_bw=%d", bw)) bw = WB;
    if (!$value$plusargs("mem_stall=%d", thr)) thr = 0;
    if (!$value$plusargs("mem_seed=%d", seed)) seed = 1;
    if (!$value$plusargs("dram_in=%s", fin)) begin
      $display("accel_tb: +dram_in=FILE is missing");
      $finish;
    end
    if (!$value$plusargs("dram_out=%s", fout)) begin
      $display("accel_tb: +dram_out=FILE is missing");
      $finish;
    end
    $readmemh(fin, dram);
  end
  always @(posedge clk) begin
    if (done && !dumped) begin
      $writememh(fout, dram);
      dumped <= 1'b1;
    end
  end
endmodule
"""


@dataclass(frozen=True)
class MemModel:
    """A setting of the external memory model (:data:`WRAPPER`).

    Parameters
    ----------
    latency : int
        Cycles from a read burst's AR handshake to its first R beat, and from a write
        burst's last W beat to its B response; 1..:data:`MAX_LATENCY`.
    bw : int or None
        Bytes a cycle each channel moves at most (``>= 1``); ``None``: one word a cycle,
        the port's width (a larger value is the same).
    stall : float
        Probability of a wait state on each channel each cycle, 0..:data:`MAX_STALL`.
    seed : int
        Seed of the wait states, 0..2**31-1.

    Raises
    ------
    VitsimError
        A value out of range, naming its ``vitsim simulate`` flag.
    """

    latency: int = 1
    bw: int | None = None
    stall: float = 0.0
    seed: int = 1

    def __post_init__(self):
        def is_int(v):
            return isinstance(v, int) and not isinstance(v, bool)

        if not is_int(self.latency) or not 1 <= self.latency <= MAX_LATENCY:
            raise VitsimError(f"--mem-latency must be an integer 1..{MAX_LATENCY}, not "
                              f"{self.latency!r}")
        if self.bw is not None and (not is_int(self.bw) or self.bw < 1):
            raise VitsimError(f"--mem-bw must be a positive integer (bytes a cycle), not "
                              f"{self.bw!r}")
        if (not isinstance(self.stall, (int, float)) or isinstance(self.stall, bool)
                or not 0 <= self.stall <= MAX_STALL):
            raise VitsimError(f"--mem-stall must be a probability 0..{MAX_STALL}, not "
                              f"{self.stall!r}")
        if not is_int(self.seed) or not 0 <= self.seed < 2**31:
            raise VitsimError(f"--mem-seed must be an integer 0..2147483647, not {self.seed!r}")

    @property
    def threshold(self) -> int:
        """The wait-state threshold of the Verilog model (a stall when a 16-bit draw is
        below it): ``round(stall * 65536)``."""
        return round(self.stall * 65536)

    def full_rate(self, word_bytes: int) -> bool:
        """Whether a beat can move every cycle (``bw`` none or at least ``word_bytes``)."""
        return self.bw is None or self.bw >= word_bytes

    def plusargs(self, word_bytes: int) -> list[str]:
        """The simulator plusargs of this setting for words of ``word_bytes`` bytes."""
        bw = word_bytes if self.full_rate(word_bytes) else self.bw
        return [f"+mem_latency={self.latency}", f"+mem_bw={bw}",
                f"+mem_stall={self.threshold}", f"+mem_seed={self.seed}"]

    def describe(self) -> str:
        """One line: the setting in words."""
        bw = "one word" if self.bw is None else f"{self.bw} B"
        return (f"memory: latency {self.latency}, {bw} a cycle, wait states "
                f"{self.stall * 100:g} % (seed {self.seed})")


def mem_model_args(p) -> None:
    """The ``--mem-*`` flags of ``simulate --golden``."""
    p.add_argument("--mem-latency", type=int, default=1, metavar="L",
                   help="--golden: cycles from a read burst's address to its first beat and "
                   f"from a write burst's last beat to its response (1..{MAX_LATENCY}, "
                   "default 1)")
    p.add_argument("--mem-bw", type=int, default=None, metavar="B",
                   help="--golden: external memory bandwidth, bytes a cycle on each channel "
                   "(default: one word a cycle)")
    p.add_argument("--mem-stall", type=float, default=0.0, metavar="P",
                   help="--golden: probability of a random wait state on each memory channel "
                   f"each cycle (0..{MAX_STALL}, default 0)")
    p.add_argument("--mem-seed", type=int, default=1, metavar="S",
                   help="--golden: seed of the wait states (default 1)")


def mem_model_from_args(args) -> MemModel:
    """The :class:`MemModel` of parsed ``--mem-*`` flags (:class:`VitsimError` naming the
    flag of a bad value)."""
    return MemModel(latency=args.mem_latency, bw=args.mem_bw, stall=args.mem_stall,
                    seed=args.mem_seed)
