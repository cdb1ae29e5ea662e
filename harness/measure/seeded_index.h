// A uniform index in [0, n) from a std::mt19937_64, the same on every standard library.
// std::uniform_int_distribution and std::shuffle are implementation-defined algorithms, so a seed would
// not reproduce the same resamples or the same order across libstdc++ and libc++; this does.
#pragma once

#include <cstdint>
#include <random>

namespace bb::measure {

// Plain modulo of a 64-bit draw: its bias is at most n / 2^64, far below anything a benchmark of at
// most millions of samples could notice, and it needs no rejection loop.
inline uint64_t seeded_index(std::mt19937_64& rng, uint64_t n) { return rng() % n; }

}  // namespace bb::measure
