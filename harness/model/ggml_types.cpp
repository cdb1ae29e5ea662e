#include "model/ggml_types.h"

#include <algorithm>
#include <array>
#include <cctype>

namespace bb::model {
namespace {

// Block geometry from ggml (ggml-common.h): QK4_0 = QK5_0 = QK8_0 = 32, QK_K = 256.
constexpr std::array<GgmlTypeTraits, 20> kTraits{{
    {GgmlType::F32, "F32", 1, 4},       {GgmlType::F16, "F16", 1, 2},
    {GgmlType::Q4_0, "Q4_0", 32, 18},  // f16 d + 16 nibble bytes
    {GgmlType::Q4_1, "Q4_1", 32, 20},  // f16 d, m + 16
    {GgmlType::Q5_0, "Q5_0", 32, 22},  // f16 d + 4 qh + 16
    {GgmlType::Q5_1, "Q5_1", 32, 24},  // f16 d, m + 4 + 16
    {GgmlType::Q8_0, "Q8_0", 32, 34},  // f16 d + 32 int8
    {GgmlType::Q8_1, "Q8_1", 32, 36},  // f16 d, s + 32
    {GgmlType::Q2_K, "Q2_K", 256, 84},  {GgmlType::Q3_K, "Q3_K", 256, 110},
    {GgmlType::Q4_K, "Q4_K", 256, 144},  // f16 d, dmin + 12 scales + 128 qs
    {GgmlType::Q5_K, "Q5_K", 256, 176},  // f16 d, dmin + 12 scales + 32 qh + 128 qs
    {GgmlType::Q6_K, "Q6_K", 256, 210},  // 128 ql + 64 qh + 16 scales + f16 d
    {GgmlType::Q8_K, "Q8_K", 256, 292},  // f32 d + 256 int8 + 16 int16 bsums
    {GgmlType::I8, "I8", 1, 1},         {GgmlType::I16, "I16", 1, 2},
    {GgmlType::I32, "I32", 1, 4},       {GgmlType::I64, "I64", 1, 8},
    {GgmlType::F64, "F64", 1, 8},       {GgmlType::BF16, "BF16", 1, 2},
}};

}  // namespace

std::optional<GgmlTypeTraits> ggml_type_traits(int32_t type_id) {
  for (const auto& t : kTraits)
    if (static_cast<int32_t>(t.type) == type_id) return t;
  return std::nullopt;
}

std::optional<GgmlType> ggml_type_from_name(std::string_view name) {
  for (const auto& t : kTraits) {
    std::string_view n = t.name;
    if (n.size() == name.size() && std::equal(n.begin(), n.end(), name.begin(), [](char a, char b) {
          return std::toupper(static_cast<unsigned char>(a)) == std::toupper(static_cast<unsigned char>(b));
        }))
      return t.type;
  }
  return std::nullopt;
}

std::string ggml_type_name(int32_t type_id) {
  if (auto t = ggml_type_traits(type_id)) return t->name;
  return "type#" + std::to_string(type_id);
}

std::optional<uint64_t> ggml_row_bytes(int32_t type_id, int64_t n_elements) {
  auto t = ggml_type_traits(type_id);
  if (!t || n_elements < 0 || n_elements % t->block_elements != 0) return std::nullopt;
  return static_cast<uint64_t>(n_elements / t->block_elements) * static_cast<uint64_t>(t->block_bytes);
}

}  // namespace bb::model
