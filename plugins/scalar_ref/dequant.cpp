#include "dequant.h"

#include <bit>
#include <cstring>
#include <stdexcept>
#include <string>

#include "../common/half.h"

static_assert(std::endian::native == std::endian::little, "GGUF data is little-endian; so is this reader");

namespace bb::scalar_ref {
namespace {

constexpr TypeFormat kFormats[] = {
    {kTypeF32, "F32", 1, 4},
    {kTypeF16, "F16", 1, 2},
    {kTypeBF16, "BF16", 1, 2},
    {kTypeQ4_0, "Q4_0", kQK4_0, sizeof(Q4_0Block)},
    {kTypeQ5_0, "Q5_0", kQK5_0, sizeof(Q5_0Block)},
    {kTypeQ8_0, "Q8_0", kQK8_0, sizeof(Q8_0Block)},
    {kTypeQ4_K, "Q4_K", kQK_K, sizeof(Q4KBlock)},
    {kTypeQ5_K, "Q5_K", kQK_K, sizeof(Q5KBlock)},
    {kTypeQ6_K, "Q6_K", kQK_K, sizeof(Q6KBlock)},
};

// Names of the GGML types this reference does not dequantize, for messages only.
const char* other_type_name(int32_t type) {
  switch (type) {
    case 3:
      return "Q4_1";
    case 7:
      return "Q5_1";
    case 9:
      return "Q8_1";
    case 10:
      return "Q2_K";
    case 11:
      return "Q3_K";
    case 15:
      return "Q8_K";
    case 24:
      return "I8";
    case 25:
      return "I16";
    case 26:
      return "I32";
    case 27:
      return "I64";
    case 28:
      return "F64";
    default:
      return nullptr;
  }
}

template <typename Block>
Block load_block(const uint8_t* src, int64_t i) {
  Block b;
  std::memcpy(&b, src + i * static_cast<int64_t>(sizeof(Block)), sizeof(Block));
  return b;
}

float load_f32(const uint8_t* src, int64_t i) {
  float f;
  std::memcpy(&f, src + 4 * i, 4);
  return f;
}

uint16_t load_u16(const uint8_t* src, int64_t i) {
  uint16_t h;
  std::memcpy(&h, src + 2 * i, 2);
  return h;
}

// ggml-quants.c dequantize_row_q4_0: y = (q - 8) * d, low nibbles first, then high nibbles.
void dequantize_q4_0(const uint8_t* src, float* y, int64_t k) {
  const int64_t nb = k / kQK4_0;
  for (int64_t i = 0; i < nb; ++i) {
    const Q4_0Block b = load_block<Q4_0Block>(src, i);
    const float d = fp16_to_fp32(b.d);
    for (int j = 0; j < kQK4_0 / 2; ++j) {
      const int x0 = (b.qs[j] & 0x0F) - 8;
      const int x1 = (b.qs[j] >> 4) - 8;
      y[i * kQK4_0 + j + 0] = x0 * d;
      y[i * kQK4_0 + j + kQK4_0 / 2] = x1 * d;
    }
  }
}

// ggml-quants.c dequantize_row_q5_0: the 5th bit of element j is bit j of qh.
void dequantize_q5_0(const uint8_t* src, float* y, int64_t k) {
  const int64_t nb = k / kQK5_0;
  for (int64_t i = 0; i < nb; ++i) {
    const Q5_0Block b = load_block<Q5_0Block>(src, i);
    const float d = fp16_to_fp32(b.d);
    uint32_t qh;
    std::memcpy(&qh, b.qh, sizeof(qh));
    for (int j = 0; j < kQK5_0 / 2; ++j) {
      const uint8_t xh_0 = static_cast<uint8_t>(((qh >> (j + 0)) << 4) & 0x10);
      const uint8_t xh_1 = static_cast<uint8_t>((qh >> (j + 12)) & 0x10);
      const int32_t x0 = ((b.qs[j] & 0x0F) | xh_0) - 16;
      const int32_t x1 = ((b.qs[j] >> 4) | xh_1) - 16;
      y[i * kQK5_0 + j + 0] = x0 * d;
      y[i * kQK5_0 + j + kQK5_0 / 2] = x1 * d;
    }
  }
}

// ggml-quants.c dequantize_row_q8_0: y = q * d.
void dequantize_q8_0(const uint8_t* src, float* y, int64_t k) {
  const int64_t nb = k / kQK8_0;
  for (int64_t i = 0; i < nb; ++i) {
    const Q8_0Block b = load_block<Q8_0Block>(src, i);
    const float d = fp16_to_fp32(b.d);
    for (int j = 0; j < kQK8_0; ++j) {
      y[i * kQK8_0 + j] = b.qs[j] * d;
    }
  }
}

// ggml-quants.c dequantize_row_q4_K: per 32-element sub-block, y = (d * sc) * q - (dmin * m).
void dequantize_q4_k(const uint8_t* src, float* y, int64_t k) {
  const int64_t nb = k / kQK_K;
  for (int64_t i = 0; i < nb; ++i) {
    const Q4KBlock b = load_block<Q4KBlock>(src, i);
    const uint8_t* q = b.qs;
    const float d = fp16_to_fp32(b.d);
    const float min = fp16_to_fp32(b.dmin);
    int is = 0;
    uint8_t sc, m;
    for (int j = 0; j < kQK_K; j += 64) {
      get_scale_min_k4(is + 0, b.scales, &sc, &m);
      const float d1 = d * sc;
      const float m1 = min * m;
      get_scale_min_k4(is + 1, b.scales, &sc, &m);
      const float d2 = d * sc;
      const float m2 = min * m;
      for (int l = 0; l < 32; ++l) *y++ = d1 * (q[l] & 0xF) - m1;
      for (int l = 0; l < 32; ++l) *y++ = d2 * (q[l] >> 4) - m2;
      q += 32;
      is += 2;
    }
  }
}

// ggml-quants.c dequantize_row_q5_K: as Q4_K with a 5th bit from qh (bit pair per 64 elements).
void dequantize_q5_k(const uint8_t* src, float* y, int64_t k) {
  const int64_t nb = k / kQK_K;
  for (int64_t i = 0; i < nb; ++i) {
    const Q5KBlock b = load_block<Q5KBlock>(src, i);
    const uint8_t* ql = b.qs;
    const uint8_t* qh = b.qh;
    const float d = fp16_to_fp32(b.d);
    const float min = fp16_to_fp32(b.dmin);
    int is = 0;
    uint8_t sc, m;
    uint8_t u1 = 1, u2 = 2;
    for (int j = 0; j < kQK_K; j += 64) {
      get_scale_min_k4(is + 0, b.scales, &sc, &m);
      const float d1 = d * sc;
      const float m1 = min * m;
      get_scale_min_k4(is + 1, b.scales, &sc, &m);
      const float d2 = d * sc;
      const float m2 = min * m;
      for (int l = 0; l < 32; ++l) *y++ = d1 * ((ql[l] & 0xF) + (qh[l] & u1 ? 16 : 0)) - m1;
      for (int l = 0; l < 32; ++l) *y++ = d2 * ((ql[l] >> 4) + (qh[l] & u2 ? 16 : 0)) - m2;
      ql += 32;
      is += 2;
      u1 = static_cast<uint8_t>(u1 << 2);
      u2 = static_cast<uint8_t>(u2 << 2);
    }
  }
}

// ggml-quants.c dequantize_row_q6_K: y = d * sc * (q - 32), q 6 bits from ql (4) and qh (2).
void dequantize_q6_k(const uint8_t* src, float* y, int64_t k) {
  const int64_t nb = k / kQK_K;
  for (int64_t i = 0; i < nb; ++i) {
    const Q6KBlock b = load_block<Q6KBlock>(src, i);
    const float d = fp16_to_fp32(b.d);
    const uint8_t* ql = b.ql;
    const uint8_t* qh = b.qh;
    const int8_t* sc = b.scales;
    for (int n = 0; n < kQK_K; n += 128) {
      for (int l = 0; l < 32; ++l) {
        const int is = l / 16;
        const int8_t q1 = static_cast<int8_t>(((ql[l + 0] & 0xF) | (((qh[l] >> 0) & 3) << 4)) - 32);
        const int8_t q2 = static_cast<int8_t>(((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) - 32);
        const int8_t q3 = static_cast<int8_t>(((ql[l + 0] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32);
        const int8_t q4 = static_cast<int8_t>(((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32);
        y[l + 0] = d * sc[is + 0] * q1;
        y[l + 32] = d * sc[is + 2] * q2;
        y[l + 64] = d * sc[is + 4] * q3;
        y[l + 96] = d * sc[is + 6] * q4;
      }
      y += 128;
      ql += 64;
      qh += 32;
      sc += 8;
    }
  }
}

}  // namespace

std::optional<TypeFormat> type_format(int32_t type) {
  for (const TypeFormat& f : kFormats) {
    if (f.type == type) return f;
  }
  return std::nullopt;
}

bool is_dequantizable(int32_t type) { return type_format(type).has_value(); }

std::string type_name(int32_t type) {
  if (auto f = type_format(type)) return f->name;
  if (const char* name = other_type_name(type)) return name;
  return "type#" + std::to_string(type);
}

std::optional<uint64_t> row_bytes(int32_t type, int64_t n) {
  const auto f = type_format(type);
  if (!f || n < 0 || n % f->block_elements != 0) return std::nullopt;
  return static_cast<uint64_t>(n / f->block_elements) * static_cast<uint64_t>(f->block_bytes);
}

float fp16_to_fp32(uint16_t h) { return half::to_float(h); }

uint16_t fp32_to_fp16(float f) { return half::from_float(f); }

float bf16_to_fp32(uint16_t h) { return std::bit_cast<float>(static_cast<uint32_t>(h) << 16); }

void get_scale_min_k4(int j, const uint8_t* q, uint8_t* d, uint8_t* m) {
  if (j < 4) {
    *d = q[j] & 63;
    *m = q[j + 4] & 63;
  } else {
    *d = static_cast<uint8_t>((q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4));
    *m = static_cast<uint8_t>((q[j + 4] >> 4) | ((q[j - 0] >> 6) << 4));
  }
}

void dequantize_row(int32_t type, const void* src, float* dst, int64_t n) {
  const auto f = type_format(type);
  if (!f) {
    throw std::invalid_argument(std::string("dequantize_row: type ") + type_name(type) +
                                " is not supported by scalar_ref");
  }
  if (n < 0 || n % f->block_elements != 0) {
    throw std::invalid_argument("dequantize_row: " + std::to_string(n) +
                                " elements is not a whole number of " + f->name + " blocks of " +
                                std::to_string(f->block_elements));
  }
  const auto* p = static_cast<const uint8_t*>(src);
  switch (type) {
    case kTypeF32:
      for (int64_t i = 0; i < n; ++i) dst[i] = load_f32(p, i);
      return;
    case kTypeF16:
      for (int64_t i = 0; i < n; ++i) dst[i] = fp16_to_fp32(load_u16(p, i));
      return;
    case kTypeBF16:
      for (int64_t i = 0; i < n; ++i) dst[i] = bf16_to_fp32(load_u16(p, i));
      return;
    case kTypeQ4_0:
      dequantize_q4_0(p, dst, n);
      return;
    case kTypeQ5_0:
      dequantize_q5_0(p, dst, n);
      return;
    case kTypeQ8_0:
      dequantize_q8_0(p, dst, n);
      return;
    case kTypeQ4_K:
      dequantize_q4_k(p, dst, n);
      return;
    case kTypeQ5_K:
      dequantize_q5_k(p, dst, n);
      return;
    case kTypeQ6_K:
      dequantize_q6_k(p, dst, n);
      return;
    default:
      break;
  }
  throw std::logic_error("dequantize_row: type table and switch disagree");
}

}  // namespace bb::scalar_ref
