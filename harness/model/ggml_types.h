// GGML tensor types as GGUF stores them: ids (equal to the ABI's bb_type), names, block geometry.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace bb::model {

enum class GgmlType : int32_t {
  F32 = 0,
  F16 = 1,
  Q4_0 = 2,
  Q4_1 = 3,
  Q5_0 = 6,
  Q5_1 = 7,
  Q8_0 = 8,
  Q8_1 = 9,
  Q2_K = 10,
  Q3_K = 11,
  Q4_K = 12,
  Q5_K = 13,
  Q6_K = 14,
  Q8_K = 15,
  I8 = 24,
  I16 = 25,
  I32 = 26,
  I64 = 27,
  F64 = 28,
  BF16 = 30,
};

struct GgmlTypeTraits {
  GgmlType type;
  const char* name;        // "Q4_K"
  int32_t block_elements;  // elements per block (1 for plain types)
  int32_t block_bytes;     // bytes per block
};

// Traits of a type id, or nullopt for ids this build does not know (a corrupt file, or a newer ggml).
std::optional<GgmlTypeTraits> ggml_type_traits(int32_t type_id);
// "Q4_K" -> Q4_K (case-insensitive), or nullopt.
std::optional<GgmlType> ggml_type_from_name(std::string_view name);
std::string ggml_type_name(int32_t type_id);  // "Q4_K", or "type#99" when unknown
// Bytes of a row of n elements; nullopt when n is not a whole number of blocks or the type is unknown.
std::optional<uint64_t> ggml_row_bytes(int32_t type_id, int64_t n_elements);

}  // namespace bb::model
