// GGML block layouts (ggml-common.h) of the weight types avx_bricks multiplies, fp16 conversion,
// and the per-type facts the kernels need. Blocks are read with unaligned loads, never cast from
// odd addresses into wider types.
#pragma once

#include <cstdint>
#include <cstring>
#include <string>

#include "../common/abi_util.h"
#include "../common/half.h"
#include "brickbench/brick_abi.h"

namespace bb::avx {

inline constexpr int kQK32 = 32;   // Q5_0, Q8_0 block
inline constexpr int kQK_K = 256;  // Q4_K, Q6_K super-block

struct Q5_0Block {
  uint16_t d;      // fp16 scale
  uint8_t qh[4];   // bit j = 5th bit of element j
  uint8_t qs[16];  // low nibble = element j, high nibble = element j + 16
};
struct Q8_0Block {
  uint16_t d;
  int8_t qs[32];
};
struct Q4KBlock {
  uint16_t d;          // scale of the 6-bit sub-block scales
  uint16_t dmin;       // scale of the 6-bit sub-block mins
  uint8_t scales[12];  // 8 scales + 8 mins, 6 bits each
  uint8_t qs[128];     // per 64 elements: low nibbles = first 32, high nibbles = next 32
};
struct Q6KBlock {
  uint8_t ql[128];    // low 4 bits
  uint8_t qh[64];     // high 2 bits
  int8_t scales[16];  // one per 16 elements
  uint16_t d;
};
static_assert(sizeof(Q5_0Block) == 22);
static_assert(sizeof(Q8_0Block) == 34);
static_assert(sizeof(Q4KBlock) == 144);
static_assert(sizeof(Q6KBlock) == 210);

// Elements per block and bytes per block of a type avx_bricks multiplies; 0 when unsupported.
struct TypeFacts {
  int64_t block_elements = 0;
  int64_t block_bytes = 0;
};
inline TypeFacts type_facts(int32_t type) {
  switch (type) {
    case BB_TYPE_F32:
      return {1, 4};
    case BB_TYPE_F16:
      return {1, 2};
    case BB_TYPE_Q5_0:
      return {kQK32, sizeof(Q5_0Block)};
    case BB_TYPE_Q8_0:
      return {kQK32, sizeof(Q8_0Block)};
    case BB_TYPE_Q4_K:
      return {kQK_K, sizeof(Q4KBlock)};
    case BB_TYPE_Q6_K:
      return {kQK_K, sizeof(Q6KBlock)};
    default:
      return {};
  }
}
inline bool is_supported_weight_type(int32_t type) { return type_facts(type).block_elements > 0; }

using plugin_util::type_name;  // "Q4_K", "type#N" (plugins/common/abi_util.h)

// IEEE binary16 <-> binary32 in portable C++ (plugins/common/half.h; the SIMD paths use F16C).
inline float fp16_to_fp32(uint16_t h) { return half::to_float(h); }
inline uint16_t fp32_to_fp16(float f) { return half::from_float(f); }  // round to nearest even

inline uint16_t load_u16(const void* p) {
  uint16_t v;
  std::memcpy(&v, p, 2);
  return v;
}
inline uint32_t load_u32(const void* p) {
  uint32_t v;
  std::memcpy(&v, p, 4);
  return v;
}

// Q4_K's 12 scale bytes unpacked: scales[0..8) then mins[0..8), 6 bits each (ggml's get_scale_min_k4
// for all eight sub-blocks at once).
inline void unpack_q4k_scales(const uint8_t* s12, uint8_t out[16]) {
  const uint32_t a0 = load_u32(s12), a1 = load_u32(s12 + 4), a2 = load_u32(s12 + 8);
  const uint32_t u[4] = {a0 & 0x3f3f3f3fu, (a2 & 0x0f0f0f0fu) | (((a0 >> 6) & 0x03030303u) << 4),
                         a1 & 0x3f3f3f3fu, ((a2 >> 4) & 0x0f0f0f0fu) | (((a1 >> 6) & 0x03030303u) << 4)};
  std::memcpy(out, u, 16);
}

// Dequantizes one row of n elements (embedding lookups; tests). Same float operations as ggml.
void dequantize_row(int32_t type, const void* src, float* dst, int64_t n);

}  // namespace bb::avx
