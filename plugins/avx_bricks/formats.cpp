#include "formats.h"

#include <bit>
#include <stdexcept>

namespace bb::avx {

void dequantize_row(int32_t type, const void* src, float* y, int64_t n) {
  const TypeFacts f = type_facts(type);
  if (f.block_elements == 0 || n % f.block_elements != 0)
    throw std::invalid_argument("dequantize_row: " + type_name(type) + " rows of " + std::to_string(n));
  const auto* p = static_cast<const uint8_t*>(src);
  const int64_t nb = n / f.block_elements;
  switch (type) {
    case BB_TYPE_F32:
      std::memcpy(y, p, static_cast<size_t>(n) * 4);
      return;
    case BB_TYPE_F16:
      for (int64_t i = 0; i < n; ++i) y[i] = fp16_to_fp32(load_u16(p + 2 * i));
      return;
    case BB_TYPE_Q8_0:
      for (int64_t i = 0; i < nb; ++i) {
        const uint8_t* b = p + i * f.block_bytes;
        const float d = fp16_to_fp32(load_u16(b));
        for (int j = 0; j < 32; ++j) y[i * 32 + j] = static_cast<int8_t>(b[2 + j]) * d;
      }
      return;
    case BB_TYPE_Q5_0:
      for (int64_t i = 0; i < nb; ++i) {
        const uint8_t* b = p + i * f.block_bytes;
        const float d = fp16_to_fp32(load_u16(b));
        const uint32_t qh = load_u32(b + 2);
        const uint8_t* qs = b + 6;
        for (int j = 0; j < 16; ++j) {
          const int x0 = static_cast<int>((qs[j] & 0x0F) | (((qh >> j) << 4) & 0x10)) - 16;
          const int x1 = static_cast<int>((qs[j] >> 4) | ((qh >> (j + 12)) & 0x10)) - 16;
          y[i * 32 + j] = x0 * d;
          y[i * 32 + j + 16] = x1 * d;
        }
      }
      return;
    case BB_TYPE_Q4_K:
      for (int64_t i = 0; i < nb; ++i) {
        const uint8_t* b = p + i * f.block_bytes;
        const float d = fp16_to_fp32(load_u16(b)), dmin = fp16_to_fp32(load_u16(b + 2));
        uint8_t sm[16];
        unpack_q4k_scales(b + 4, sm);
        const uint8_t* q = b + 16;
        float* out = y + i * kQK_K;
        for (int j = 0; j < 4; ++j) {
          const float d1 = d * sm[2 * j], m1 = dmin * sm[8 + 2 * j];
          const float d2 = d * sm[2 * j + 1], m2 = dmin * sm[8 + 2 * j + 1];
          for (int l = 0; l < 32; ++l) *out++ = d1 * (q[l] & 0xF) - m1;
          for (int l = 0; l < 32; ++l) *out++ = d2 * (q[l] >> 4) - m2;
          q += 32;
        }
      }
      return;
    case BB_TYPE_Q6_K:
      for (int64_t i = 0; i < nb; ++i) {
        const uint8_t* b = p + i * f.block_bytes;
        const uint8_t* ql = b;
        const uint8_t* qh = b + 128;
        const auto* sc = reinterpret_cast<const int8_t*>(b + 192);
        const float d = fp16_to_fp32(load_u16(b + 208));
        float* out = y + i * kQK_K;
        for (int h = 0; h < 2; ++h) {
          for (int l = 0; l < 32; ++l) {
            const int is = l / 16;
            const int q1 = ((ql[l] & 0xF) | (((qh[l] >> 0) & 3) << 4)) - 32;
            const int q2 = ((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) - 32;
            const int q3 = ((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
            const int q4 = ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
            out[l] = d * sc[is] * q1;
            out[l + 32] = d * sc[is + 2] * q2;
            out[l + 64] = d * sc[is + 4] * q3;
            out[l + 96] = d * sc[is + 6] * q4;
          }
          out += 128;
          ql += 64;
          qh += 32;
          sc += 8;
        }
      }
      return;
    default:
      break;
  }
  throw std::logic_error("dequantize_row: type table and switch disagree");
}

}  // namespace bb::avx
