// GGUF weight rows regrouped for the GPU (layouts in kernel_api.h): same bytes, aligned planes.
// Host code only; the test checks it together with quant_math.h against scalar_ref.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

namespace bb::cuda_bricks {

struct TypeInfo {
  int32_t type;
  const char* name;
  int64_t block_elements;
  int64_t block_bytes;
};

// The types this plugin runs (F32, F16, Q4_0, Q5_0, Q8_0, Q4_K, Q6_K), or nullopt.
std::optional<TypeInfo> type_info(int32_t type);
std::string type_name(int32_t type);  // "Q4_K", "type#N"
std::string supported_types_list();

// Byte sizes of the planes of a rows x cols matrix (0 for planes the type lacks).
struct PackedSizes {
  uint64_t q = 0, aux = 0, sc = 0, d = 0;
  uint64_t total() const { return q + aux + sc + d; }
};
PackedSizes packed_sizes(int32_t type, int64_t rows, int64_t cols);

// Writes the planes of `src` (GGUF bytes of rows x cols) into q/aux/sc/d (sized by packed_sizes;
// unused planes may be null). Throws std::invalid_argument for a type it lacks.
void repack(int32_t type, int64_t rows, int64_t cols, const void* src, uint8_t* q, uint8_t* aux, uint8_t* sc,
            uint8_t* d);

// Rows of one plane (all rows the same size, bytes / rows) into RoPE row order (kernel_api.h,
// rope_pair_source_row): stored row 2p + w of head h takes GGUF row h * head_dim + p + w * head_dim / 2.
// head_dim 0 leaves the plane as it is. Throws std::invalid_argument when rows are not whole heads.
void to_rope_order(uint8_t* plane, uint64_t bytes, int64_t rows, int32_t head_dim);

// IEEE binary16 <-> binary32, round to nearest even (F16 KV caches, 1-D F16 weights).
uint16_t float_to_half(float f);
float half_to_float_host(uint16_t h);

}  // namespace bb::cuda_bricks
