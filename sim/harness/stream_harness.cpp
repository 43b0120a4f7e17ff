// Plain C++ Verilator harness for a unit with one input and one output stream
// (Amaranth port names i_stream__{payload,valid,ready}, o_stream__{payload,valid,ready}).
// No Python: it reads a stimulus file, drives every input beat as fast as the unit accepts
// it with o_stream.ready held high, compares every output with the expected word (==) and
// prints one line: "harness: <pass|FAIL> cycles=<n> wall_s=<s> mismatches=<n> first=<j>".
//
// Stimulus file: "<beats> <outputs>", then one hex word per beat, then one per output
// (hex of the whole payload, most significant digit first).
#include "Vtop.h"
#include "verilated.h"

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

// Verilator escapes the "__" of Amaranth's flattened names as "___05F" in C++.
#define I_PAYLOAD i_stream___05Fpayload
#define I_VALID i_stream___05Fvalid
#define I_READY i_stream___05Fready
#define O_PAYLOAD o_stream___05Fpayload
#define O_VALID o_stream___05Fvalid
#define O_READY o_stream___05Fready

using Words = std::vector<uint32_t>;

static Words parse_hex(const std::string& s) {
    Words w;
    for (long end = static_cast<long>(s.size()); end > 0; end -= 8) {
        long start = end > 8 ? end - 8 : 0;
        w.push_back(static_cast<uint32_t>(std::stoul(s.substr(start, end - start), nullptr, 16)));
    }
    return w;
}

template <typename T> static void put(T& port, const Words& w) {
    uint64_t v = 0;
    for (size_t i = 0; i < w.size() && i < 2; ++i) v |= static_cast<uint64_t>(w[i]) << (32 * i);
    port = static_cast<T>(v);
}
template <std::size_t N> static void put(VlWide<N>& port, const Words& w) {
    for (size_t i = 0; i < N; ++i) port[i] = i < w.size() ? w[i] : 0;
}
template <typename T> static Words get(const T& port) {
    uint64_t v = port;
    return {static_cast<uint32_t>(v), static_cast<uint32_t>(v >> 32)};
}
template <std::size_t N> static Words get(const VlWide<N>& port) {
    Words w(N);
    for (size_t i = 0; i < N; ++i) w[i] = port[i];
    return w;
}
static bool same(Words a, Words b) {
    while (!a.empty() && a.back() == 0) a.pop_back();
    while (!b.empty() && b.back() == 0) b.pop_back();
    return a == b;
}

int main(int argc, char** argv) {
    if (argc < 2) {
        std::fprintf(stderr, "usage: %s STIMULUS\n", argv[0]);
        return 2;
    }
    std::ifstream in(argv[1]);
    size_t n_in = 0, n_out = 0;
    if (!(in >> n_in >> n_out)) {
        std::fprintf(stderr, "%s: bad header\n", argv[1]);
        return 2;
    }
    std::vector<Words> beats(n_in), expected(n_out);
    std::string tok;
    for (auto& b : beats) { in >> tok; b = parse_hex(tok); }
    for (auto& e : expected) { in >> tok; e = parse_hex(tok); }

    VerilatedContext ctx;
    Vtop top{&ctx};
    top.clk = 0;
    top.rst = 1;
    top.I_VALID = 0;
    top.O_READY = 0;
    for (int i = 0; i < 4; ++i) { top.clk = 0; top.eval(); top.clk = 1; top.eval(); }
    top.rst = 0;
    top.O_READY = 1;

    size_t next_in = 0, outs = 0, mismatches = 0;
    long first_bad = -1;
    uint64_t edge = 0, first_edge = 0, last_edge = 0;
    const uint64_t limit = 20 * (n_in + n_out) + 1000;
    auto t0 = std::chrono::steady_clock::now();
    while (outs < n_out && edge < limit) {
        if (next_in < n_in) {
            put(top.I_PAYLOAD, beats[next_in]);
            top.I_VALID = 1;
        } else {
            top.I_VALID = 0;
        }
        top.clk = 0;
        top.eval();
        const bool in_fire = top.I_VALID && top.I_READY;
        const bool out_fire = top.O_VALID && top.O_READY;
        Words got;
        if (out_fire) got = get(top.O_PAYLOAD);
        top.clk = 1;
        top.eval();
        ++edge;
        if (in_fire && next_in++ == 0) first_edge = edge;
        if (out_fire) {
            if (!same(got, expected[outs])) {
                if (first_bad < 0) first_bad = static_cast<long>(outs);
                ++mismatches;
            }
            ++outs;
            last_edge = edge;
        }
    }
    double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    const bool ok = outs == n_out && mismatches == 0;
    std::printf("harness: %s cycles=%llu wall_s=%.6f mismatches=%zu first=%ld outputs=%zu\n",
                ok ? "pass" : "FAIL",
                static_cast<unsigned long long>(outs ? last_edge - first_edge + 1 : 0), wall,
                mismatches, first_bad, outs);
    top.final();
    return ok ? 0 : 1;
}
