// GEMV kernels: y = W x for one range of rows. For quantized weights x is quantized to int8 with one
// float scale per 4 elements (one int32 lane of vpdpbusd / vpmaddubsw+vpmaddwd), and the dot
// products are integer: AVX-512 VNNI or AVX2. llama.cpp uses one scale per 32 (Q8_0) or 256 (Q8_K);
// on the 24- and 28-layer models that error compounds past the act_q8 decode bound, while a scale
// per lane costs one multiply per 64 weights. F32/F16 weights use float FMA on the float x.
// The same source is compiled for both builds; the build's -m flags pick the path.
#pragma once

#include <cstdint>

#include "aligned.h"

namespace bb::avx {

// The ISA this translation unit was compiled for ("avx512-vnni" or "avx2-fma-f16c").
const char* compiled_isa();

// How x must be prepared for a weight type.
enum class ActFormat : int32_t {
  kF32 = 0,   // F32, F16 weights: x as is
  kQ8 = 1,    // Q5_0, Q8_0, Q6_K: int8, natural order
  kQ8_Q4 = 2  // Q4_K: int8, ordered as the AVX-512 kernel loads nibbles (natural in the AVX2 build)
};
ActFormat act_format_of(int32_t weight_type);

// x prepared for one ActFormat. Storage is reserved once (creation time); prepare() allocates nothing.
class ActQ8 {
 public:
  void reserve(int64_t max_n);
  // Quantizes (or, for kF32, references) x[0..n); n must be a multiple of 32 (256 for K-quants).
  void prepare(ActFormat format, const float* x, int64_t n);

  ActFormat format = ActFormat::kF32;
  int64_t n = 0;
  const float* f32 = nullptr;    // kF32: the caller's x (must outlive the use)
  AlignedArray<int8_t> q;        // n values, q = round(x / scale)
  AlignedArray<float> dl;        // one scale per 4 elements (a lane), in q's order
  AlignedArray<int32_t> off16;   // per lane: -16 * sum(q) (Q5_0's -16 offset)
  AlignedArray<int32_t> off128;  // per lane: -128 * sum(q) (Q8_0 as unsigned q + 128)
  AlignedArray<float> xsum16;    // sum of the quantized x per 16 elements, natural order (Q6_K's -32)
  AlignedArray<float> xsum32;    // the same per 32 (Q4_K's mins)
};

// A weight matrix used in place: rows of `row_bytes` at `data`.
struct QMatrix {
  int32_t type = 0;
  int64_t rows = 0;
  int64_t cols = 0;
  const uint8_t* data = nullptr;
  uint64_t row_bytes = 0;
};

// y[r] = sum_c W[r, c] x[c] for r in [r0, r1). x must be prepared with act_format_of(w.type).
void gemv_rows(const QMatrix& w, const ActQ8& x, int64_t r0, int64_t r1, float* y);

// Float helpers the ops use (SIMD of the build).
float dot_f32(const float* a, const float* b, int64_t n);
void axpy_f32(float a, const float* x, float* y, int64_t n);  // y += a x
float sum_squares_f32(const float* x, int64_t n);
float dot_f32_f16(const float* a, const uint16_t* b, int64_t n);
void axpy_f16(float a, const uint16_t* x, float* y, int64_t n);  // y += a x (x F16)
void f32_to_f16_row(const float* x, uint16_t* y, int64_t n);     // round to nearest even

}  // namespace bb::avx
