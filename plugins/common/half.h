// IEEE binary16 <-> binary32 on the host, written once for the plugins (scalar_ref's dequantization,
// avx_bricks' formats, cuda_bricks' repacking and the host twin of its kernels' conversion). Exact:
// every half is a float, and float -> half rounds to nearest even as F16C's vcvtps2ph and ggml do.
// Header-only, no dependencies (scalar_ref's math library includes it without the ABI), C++17 (nvcc
// compiles cuda_bricks' kernels as C++17): memcpy, not std::bit_cast.
#pragma once

#include <cstdint>
#include <cstring>

namespace bb::half {

inline float to_float(uint16_t h) {
  const uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
  uint32_t exp = (h >> 10) & 0x1Fu;
  uint32_t mant = h & 0x3FFu;
  uint32_t bits;
  if (exp == 0x1F) {
    // inf keeps a zero mantissa; a NaN keeps its payload and comes out quiet, as F16C's
    // vcvtph2ps and ARM's fcvt do.
    bits = sign | 0x7F800000u | (mant << 13) | (mant != 0 ? 0x00400000u : 0u);
  } else if (exp != 0) {
    bits = sign | ((exp + (127 - 15)) << 23) | (mant << 13);
  } else if (mant == 0) {
    bits = sign;
  } else {
    // Subnormal: value = mant * 2^-24; normalize so the leading 1 becomes the implicit bit.
    int e = -1;
    do {
      ++e;
      mant <<= 1;
    } while ((mant & 0x400u) == 0);
    mant &= 0x3FFu;
    exp = static_cast<uint32_t>(127 - 15 - e);
    bits = sign | (exp << 23) | (mant << 13);
  }
  float f;
  std::memcpy(&f, &bits, sizeof f);
  return f;
}

inline uint16_t from_float(float f) {
  uint32_t x;
  std::memcpy(&x, &f, sizeof x);
  const auto sign = static_cast<uint16_t>((x >> 16) & 0x8000u);
  const uint32_t abs = x & 0x7FFFFFFFu;
  if (abs > 0x7F800000u) {  // NaN: keep the top payload bits, make it quiet
    return static_cast<uint16_t>(sign | 0x7E00u | ((abs >> 13) & 0x3FFu));
  }
  if (abs >= 0x477FF000u) return static_cast<uint16_t>(sign | 0x7C00u);  // >= 65520 rounds to inf
  if (abs >= 0x38800000u) {  // normal half (>= 2^-14): rebias, round the 13 dropped bits to even
    const uint32_t r = abs - 0x38000000u;
    uint32_t half = r >> 13;
    const uint32_t rem = r & 0x1FFFu;
    if (rem > 0x1000u || (rem == 0x1000u && (half & 1u))) ++half;
    return static_cast<uint16_t>(sign | half);
  }
  const uint32_t e = abs >> 23;
  if (e < 102) return sign;  // below 2^-25: rounds to zero
  // Subnormal half: value / 2^-24 = m >> (126 - e), rounded to nearest even.
  const uint32_t m = (abs & 0x7FFFFFu) | 0x800000u;
  const uint32_t shift = 126 - e;
  uint32_t half = m >> shift;
  const uint32_t rem = m & ((1u << shift) - 1u);
  const uint32_t halfway = 1u << (shift - 1);
  if (rem > halfway || (rem == halfway && (half & 1u))) ++half;
  return static_cast<uint16_t>(sign | half);
}

}  // namespace bb::half
