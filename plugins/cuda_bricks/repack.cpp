#include "repack.h"

#include <bit>
#include <cstring>
#include <stdexcept>
#include <string>
#include <vector>

#include "../common/half.h"
#include "kernel_api.h"
#include "quant_math.h"

namespace bb::cuda_bricks {
namespace {

constexpr TypeInfo kTypes[] = {
    {kTypeF32, "F32", 1, 4},       {kTypeF16, "F16", 1, 2},     {kTypeQ4_0, "Q4_0", 32, 18},
    {kTypeQ5_0, "Q5_0", 32, 22},   {kTypeQ8_0, "Q8_0", 32, 34}, {kTypeQ4_K, "Q4_K", 256, 144},
    {kTypeQ6_K, "Q6_K", 256, 210},
};

const char* other_name(int32_t type) {
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
    case 13:
      return "Q5_K";
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
    case 30:
      return "BF16";
    default:
      return nullptr;
  }
}

}  // namespace

std::optional<TypeInfo> type_info(int32_t type) {
  for (const TypeInfo& t : kTypes)
    if (t.type == type) return t;
  return std::nullopt;
}

std::string type_name(int32_t type) {
  if (auto t = type_info(type)) return t->name;
  if (const char* n = other_name(type)) return n;
  return "type#" + std::to_string(type);
}

std::string supported_types_list() {
  std::string s;
  for (const TypeInfo& t : kTypes) s += (s.empty() ? "" : ", ") + std::string(t.name);
  return s;
}

PackedSizes packed_sizes(int32_t type, int64_t rows, int64_t cols) {
  if (!type_info(type))
    throw std::invalid_argument("packed_sizes: type " + type_name(type) + " is not supported");
  int64_t rb[4];
  plane_row_bytes(type, cols, rb);
  const auto r = static_cast<uint64_t>(rows);
  PackedSizes p;
  p.q = r * static_cast<uint64_t>(rb[0]);
  p.aux = r * static_cast<uint64_t>(rb[1]);
  p.sc = r * static_cast<uint64_t>(rb[2]);
  p.d = r * static_cast<uint64_t>(rb[3]);
  return p;
}

void repack(int32_t type, int64_t rows, int64_t cols, const void* src_v, uint8_t* q, uint8_t* aux,
            uint8_t* sc, uint8_t* d) {
  const auto* src = static_cast<const uint8_t*>(src_v);
  const PackedSizes sizes = packed_sizes(type, rows, cols);
  switch (type) {
    case kTypeF32:
    case kTypeF16:
    case kTypeQ4_K:
      std::memcpy(q, src, sizes.q);
      return;
    case kTypeQ6_K: {
      // ggml block_q6_K: ql[128], qh[64], scales[16] (int8), d (fp16) = 210 bytes.
      const uint64_t nb = static_cast<uint64_t>(rows) * static_cast<uint64_t>(cols / 256);
      for (uint64_t b = 0; b < nb; ++b) {
        const uint8_t* blk = src + b * 210;
        const uint8_t* ql = blk;
        const uint8_t* qh = blk + 128;
        const uint8_t* scales = blk + 192;
        for (int t = 0; t < 4; ++t) {
          const int h = t / 2, l0 = (t % 2) * 16;
          std::memcpy(q + b * 128 + t * 32, ql + 64 * h + l0, 16);
          std::memcpy(q + b * 128 + t * 32 + 16, ql + 64 * h + 32 + l0, 16);
          std::memcpy(aux + b * 64 + t * 16, qh + 32 * h + l0, 16);
          for (int g = 0; g < 4; ++g) sc[b * 16 + t * 4 + g] = scales[8 * h + l0 / 16 + 2 * g];
        }
        std::memcpy(d + b * 2, blk + 208, 2);
      }
      return;
    }
    case kTypeQ8_0: {
      const uint64_t nb = static_cast<uint64_t>(rows) * static_cast<uint64_t>(cols / 32);
      for (uint64_t b = 0; b < nb; ++b) {
        std::memcpy(d + b * 2, src + b * 34, 2);
        std::memcpy(q + b * 32, src + b * 34 + 2, 32);
      }
      return;
    }
    case kTypeQ5_0: {
      const uint64_t nb = static_cast<uint64_t>(rows) * static_cast<uint64_t>(cols / 32);
      for (uint64_t b = 0; b < nb; ++b) {
        std::memcpy(d + b * 2, src + b * 22, 2);
        std::memcpy(aux + b * 4, src + b * 22 + 2, 4);
        std::memcpy(q + b * 16, src + b * 22 + 6, 16);
      }
      return;
    }
    case kTypeQ4_0: {
      const uint64_t nb = static_cast<uint64_t>(rows) * static_cast<uint64_t>(cols / 32);
      for (uint64_t b = 0; b < nb; ++b) {
        std::memcpy(d + b * 2, src + b * 18, 2);
        std::memcpy(q + b * 16, src + b * 18 + 2, 16);
      }
      return;
    }
    default:
      throw std::invalid_argument("repack: type " + type_name(type) + " is not supported");
  }
}

uint16_t float_to_half(float f) { return ::bb::half::from_float(f); }

float half_to_float_host(uint16_t h) { return ::bb::half::to_float(h); }

void to_rope_order(uint8_t* plane, uint64_t bytes, int64_t rows, int32_t head_dim) {
  if (head_dim <= 0 || plane == nullptr || bytes == 0) return;
  if (rows <= 0 || head_dim % 2 != 0 || rows % head_dim != 0 || bytes % static_cast<uint64_t>(rows) != 0)
    throw std::invalid_argument("to_rope_order: " + std::to_string(rows) + " rows of " +
                                std::to_string(bytes) + " bytes are not whole heads of " +
                                std::to_string(head_dim));
  const uint64_t rb = bytes / static_cast<uint64_t>(rows);
  const std::vector<uint8_t> src(plane, plane + bytes);
  for (int64_t n = 0; n < rows; ++n)
    std::memcpy(plane + static_cast<uint64_t>(n) * rb,
                src.data() + static_cast<uint64_t>(rope_pair_source_row(n, head_dim)) * rb, rb);
}

}  // namespace bb::cuda_bricks
