// Plain C++ Verilator harness for the accelerator wrapper (accel_tb): no Python. It
// resets, pulses start, toggles the clock until the wrapper has dumped external memory
// and prints "harness: cycles=<n> wall_s=<s> finished=<0|1> rd_bytes=.. wr_bytes=..
// rd_stalls=.. wr_stalls=.." (the memory model's counters, sim/accel_mem.py). Plusargs as
// for the bench: +dram_in=FILE +dram_out=FILE +mem_latency=L +mem_bw=B +mem_stall=T
// +mem_seed=S; argv[1] (before them) is the cycle limit.
#include "Vtop.h"
#include "verilated.h"

#include <chrono>
#include <cstdio>
#include <cstdlib>

int main(int argc, char** argv) {
    Verilated::commandArgs(argc, argv);
    long limit = argc > 1 ? std::atol(argv[1]) : 10000000L;
    Vtop* top = new Vtop;
    auto tick = [&]() {
        top->clk = 0;
        top->eval();
        top->clk = 1;
        top->eval();
    };
    top->start = 0;
    top->rst = 1;
    tick();
    tick();
    top->rst = 0;
    tick();
    top->start = 1;
    tick();
    top->start = 0;
    auto t0 = std::chrono::steady_clock::now();
    long cycles = 0;
    while (!top->dumped && cycles < limit) {
        tick();
        ++cycles;
    }
    double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    std::printf("harness: cycles=%ld wall_s=%.6f finished=%d rd_bytes=%llu wr_bytes=%llu "
                "rd_stalls=%llu wr_stalls=%llu\n", cycles, wall, top->dumped ? 1 : 0,
                (unsigned long long)top->rd_bytes, (unsigned long long)top->wr_bytes,
                (unsigned long long)top->rd_stalls, (unsigned long long)top->wr_stalls);
    top->final();
    delete top;
    return 0;
}
