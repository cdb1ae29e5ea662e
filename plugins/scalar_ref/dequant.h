// Scalar dequantization of GGML tensor rows, bit for bit as ggml's dequantize_row_* (ggml-quants.c):
// the same block layouts and the same float operations in the same order.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

namespace bb::scalar_ref {

// Element type ids are GGML's (equal to the ABI's bb_type).
inline constexpr int32_t kTypeF32 = 0;
inline constexpr int32_t kTypeF16 = 1;
inline constexpr int32_t kTypeQ4_0 = 2;
inline constexpr int32_t kTypeQ5_0 = 6;
inline constexpr int32_t kTypeQ8_0 = 8;
inline constexpr int32_t kTypeQ4_K = 12;
inline constexpr int32_t kTypeQ5_K = 13;
inline constexpr int32_t kTypeQ6_K = 14;
inline constexpr int32_t kTypeBF16 = 30;

inline constexpr int kQK4_0 = 32;
inline constexpr int kQK5_0 = 32;
inline constexpr int kQK8_0 = 32;
inline constexpr int kQK_K = 256;
inline constexpr int kKScaleBytes = 12;  // K_SCALE_SIZE: 8 scales + 8 mins of 6 bits

// Block layouts of ggml-common.h. Blocks are read with memcpy, so row data needs no alignment.
struct Q4_0Block {
  uint16_t d;              // fp16 scale
  uint8_t qs[kQK4_0 / 2];  // nibbles: low = element j, high = element j + 16
};
struct Q5_0Block {
  uint16_t d;
  uint8_t qh[4];  // bit j = 5th bit of element j (little-endian uint32)
  uint8_t qs[kQK5_0 / 2];
};
struct Q8_0Block {
  uint16_t d;
  int8_t qs[kQK8_0];
};
struct Q4KBlock {
  uint16_t d;     // super-block scale of the 6-bit scales
  uint16_t dmin;  // super-block scale of the 6-bit mins
  uint8_t scales[kKScaleBytes];
  uint8_t qs[kQK_K / 2];
};
struct Q5KBlock {
  uint16_t d;
  uint16_t dmin;
  uint8_t scales[kKScaleBytes];
  uint8_t qh[kQK_K / 8];
  uint8_t qs[kQK_K / 2];
};
struct Q6KBlock {
  uint8_t ql[kQK_K / 2];  // low 4 bits
  uint8_t qh[kQK_K / 4];  // high 2 bits
  int8_t scales[kQK_K / 16];
  uint16_t d;
};
static_assert(sizeof(Q4_0Block) == 18);
static_assert(sizeof(Q5_0Block) == 22);
static_assert(sizeof(Q8_0Block) == 34);
static_assert(sizeof(Q4KBlock) == 144);
static_assert(sizeof(Q5KBlock) == 176);
static_assert(sizeof(Q6KBlock) == 210);

struct TypeFormat {
  int32_t type;
  const char* name;        // "Q4_K"
  int64_t block_elements;  // 1 for plain types
  int64_t block_bytes;
};

// The format of a type this reference can dequantize, or nullopt.
std::optional<TypeFormat> type_format(int32_t type);
bool is_dequantizable(int32_t type);
// "Q4_K", or "type#N" for ids this reference does not know.
std::string type_name(int32_t type);
// Bytes of a row of n elements; nullopt when the type is not dequantizable or n is not a whole
// number of blocks.
std::optional<uint64_t> row_bytes(int32_t type, int64_t n);

// IEEE-754 binary16 -> binary32, exact for every input (subnormals, inf, nan keep their meaning).
float fp16_to_fp32(uint16_t h);
// binary32 -> binary16 with round-to-nearest-even (used to store F16 KV cache rows).
uint16_t fp32_to_fp16(float f);
// bfloat16 -> binary32: the 16 bits are the high half of the float.
float bf16_to_fp32(uint16_t h);

// The 6-bit scale and min of sub-block j (0..7) of a Q4_K/Q5_K block (ggml's get_scale_min_k4).
void get_scale_min_k4(int j, const uint8_t* q, uint8_t* d, uint8_t* m);

// Dequantizes n elements (a whole number of blocks) of `type` at src into dst.
// Throws std::invalid_argument for a type it lacks or a partial block.
void dequantize_row(int32_t type, const void* src, float* dst, int64_t n);

}  // namespace bb::scalar_ref
