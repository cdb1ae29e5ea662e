#include "kernels.h"

// GCC 12's avx512fintrin.h implements _mm*_undefined_*() as a self-initialized variable, which
// -W(maybe-)uninitialized reports at the header's lines wherever those intrinsics inline (GCC bug
// 105593). The warnings point into the header, so silencing them for the include alone keeps them
// on for our code.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#include <immintrin.h>
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif

#include <cmath>
#include <cstring>
#include <stdexcept>

#include "formats.h"

#if !defined(__AVX2__) || !defined(__FMA__) || !defined(__F16C__)
#error "avx_bricks kernels need at least -mavx2 -mfma -mf16c"
#endif
#if defined(__AVX512F__) && defined(__AVX512BW__) && defined(__AVX512VL__) && defined(__AVX512VNNI__)
#define AVX_BRICKS_512 1
#else
#define AVX_BRICKS_512 0
#endif

namespace bb::avx {
namespace {

// AVX-512's Q4_K kernel loads 64 bytes of nibbles = 128 elements as (low nibbles: elements 0..31 and
// 64..95) and (high nibbles: 32..63 and 96..127); x is stored in that order so each half is one load.
constexpr bool kPermuteQ4K = AVX_BRICKS_512 != 0;

inline float hsum256(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

inline float f16(const uint8_t* p) { return _cvtsh_ss(load_u16(p)); }

// ---------------------------------------------------------------------------------------------
// Activation quantization: d = max|x| / 127, q = round-to-nearest-even(x / d), as llama.cpp's
// quantize_row_q8_0 / q8_K do (up to the scale's storage precision).
// ---------------------------------------------------------------------------------------------
// 32 floats -> 32 int8 with one scale per 4 (scale = max|x| / 127 of the 4, q = round-to-nearest-even
// of x / scale); writes 8 lane scales and 8 lane sums of q.
inline void quantize32_lanes(const float* x, int8_t* q, float* dl, int32_t* lane_sum) {
  const __m256 sign = _mm256_set1_ps(-0.0f);
  __m256i iq[4];
  for (int k = 0; k < 4; ++k) {
    const __m256 v = _mm256_loadu_ps(x + 8 * k);
    __m256 m = _mm256_andnot_ps(sign, v);
    m = _mm256_max_ps(m, _mm256_permute_ps(m, 0xB1));  // [1 0 3 2]
    m = _mm256_max_ps(m, _mm256_permute_ps(m, 0x4E));  // [2 3 0 1]: each group of 4 holds its max
    const __m256 id = _mm256_and_ps(_mm256_div_ps(_mm256_set1_ps(127.0f), m),
                                    _mm256_cmp_ps(m, _mm256_setzero_ps(), _CMP_GT_OQ));
    iq[k] = _mm256_cvtps_epi32(_mm256_mul_ps(v, id));
    const __m256 d = _mm256_mul_ps(m, _mm256_set1_ps(1.0f / 127.0f));
    dl[2 * k] = _mm256_cvtss_f32(d);
    dl[2 * k + 1] = _mm_cvtss_f32(_mm256_extractf128_ps(d, 1));
  }
  __m256i p = _mm256_packs_epi16(_mm256_packs_epi32(iq[0], iq[1]), _mm256_packs_epi32(iq[2], iq[3]));
  p = _mm256_permutevar8x32_epi32(p, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
  _mm256_storeu_si256(reinterpret_cast<__m256i*>(q), p);
  const __m256i s = _mm256_madd_epi16(_mm256_maddubs_epi16(_mm256_set1_epi8(1), p), _mm256_set1_epi16(1));
  _mm256_storeu_si256(reinterpret_cast<__m256i*>(lane_sum), s);
}

}  // namespace

const char* compiled_isa() { return AVX_BRICKS_512 ? "avx512f+bw+vl+vnni" : "avx2+fma+f16c"; }

ActFormat act_format_of(int32_t weight_type) {
  switch (weight_type) {
    case BB_TYPE_Q5_0:
    case BB_TYPE_Q8_0:
    case BB_TYPE_Q6_K:
      return ActFormat::kQ8;
    case BB_TYPE_Q4_K:
      return ActFormat::kQ8_Q4;
    default:
      return ActFormat::kF32;
  }
}

void ActQ8::reserve(int64_t max_n) {
  const auto n_ = static_cast<size_t>(max_n);
  q.resize(n_ + 64);
  dl.resize(n_ / 4 + 16);
  off16.resize(n_ / 4 + 16);
  off128.resize(n_ / 4 + 16);
  xsum16.resize(n_ / 16 + 16);
  xsum32.resize(n_ / 32 + 16);
}

void ActQ8::prepare(ActFormat fmt, const float* x, int64_t count) {
  format = fmt;
  n = count;
  f32 = x;
  if (fmt == ActFormat::kF32) return;
  if (static_cast<size_t>(count) + 64 > q.size()) throw std::logic_error("ActQ8: reserve() too small");
  alignas(32) int32_t lane_sum[8];
  for (int64_t c = 0; c < count / 32; ++c) {
    quantize32_lanes(x + 32 * c, q.data() + 32 * c, dl.data() + 8 * c, lane_sum);
    float xs[8];
    for (int l = 0; l < 8; ++l) {
      off16[8 * c + l] = -16 * lane_sum[l];
      off128[8 * c + l] = -128 * lane_sum[l];
      xs[l] = dl[8 * c + l] * static_cast<float>(lane_sum[l]);
    }
    // Sums of the quantized x (not of x): the offset terms must see the same x as the dot products,
    // or the weights' offsets (Q6_K's -32, Q4_K's mins) multiply the whole rounding error.
    xsum16[2 * c] = (xs[0] + xs[1]) + (xs[2] + xs[3]);
    xsum16[2 * c + 1] = (xs[4] + xs[5]) + (xs[6] + xs[7]);
    xsum32[c] = xsum16[2 * c] + xsum16[2 * c + 1];
  }
  if (fmt == ActFormat::kQ8_Q4 && kPermuteQ4K) {
    // Per 128 elements: [0..32), [64..96), [32..64), [96..128); lane scales move with their values.
    alignas(64) int8_t tq[64];
    alignas(64) float td[16];
    for (int64_t h = 0; h < count / 128; ++h) {
      int8_t* qh = q.data() + 128 * h + 32;
      float* dh = dl.data() + 32 * h + 8;
      std::memcpy(tq, qh, 64);
      std::memcpy(td, dh, 64);
      std::memcpy(qh, tq + 32, 32);
      std::memcpy(qh + 32, tq, 32);
      std::memcpy(dh, td + 8, 32);
      std::memcpy(dh + 8, td, 32);
    }
  }
}

namespace {

// ---------------------------------------------------------------------------------------------
// Row dot products. Each returns sum_c W[row, c] x[c].
// ---------------------------------------------------------------------------------------------
#if AVX_BRICKS_512

inline __m512i load512(const void* p) { return _mm512_loadu_si512(p); }

// Q4_K: sum over sub-blocks j of (d sc_j) (q . qx scaled per lane) - dmin m_j (sum x^)_j.
float dot_q4_k(const uint8_t* row, int64_t nb, const ActQ8& x) {
  const __m512i m4 = _mm512_set1_epi8(0x0F);
  const __m512i i_lo0 = _mm512_setr_epi32(0, 0, 0, 0, 0, 0, 0, 0, 2, 2, 2, 2, 2, 2, 2, 2);
  const __m512i i_hi0 = _mm512_setr_epi32(1, 1, 1, 1, 1, 1, 1, 1, 3, 3, 3, 3, 3, 3, 3, 3);
  const __m512i i_lo1 = _mm512_setr_epi32(4, 4, 4, 4, 4, 4, 4, 4, 6, 6, 6, 6, 6, 6, 6, 6);
  const __m512i i_hi1 = _mm512_setr_epi32(5, 5, 5, 5, 5, 5, 5, 5, 7, 7, 7, 7, 7, 7, 7, 7);
  const __m512i zero = _mm512_setzero_si512();
  __m512 acc = _mm512_setzero_ps();
  __m256 accm = _mm256_setzero_ps();
  for (int64_t b = 0; b < nb; ++b) {
    const uint8_t* blk = row + b * sizeof(Q4KBlock);
    const int8_t* xq = x.q.data() + b * 256;
    const float* dl = x.dl.data() + b * 64;
    alignas(16) uint8_t sm[16];
    unpack_q4k_scales(blk + 4, sm);
    const __m512 smf =
        _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(_mm_load_si128(reinterpret_cast<const __m128i*>(sm))));
    const __m512 sc = _mm512_mul_ps(smf, _mm512_set1_ps(f16(blk)));  // lanes 0..7: d sc_j
    const __m256 mins = _mm256_mul_ps(_mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(smf), 1)),
                                      _mm256_set1_ps(f16(blk + 2)));
    accm = _mm256_fmadd_ps(mins, _mm256_loadu_ps(x.xsum32.data() + b * 8), accm);
    const __m512i qa = load512(blk + 16), qb = load512(blk + 80);
    const __m512i l0 = _mm512_and_si512(qa, m4), h0 = _mm512_and_si512(_mm512_srli_epi16(qa, 4), m4);
    const __m512i l1 = _mm512_and_si512(qb, m4), h1 = _mm512_and_si512(_mm512_srli_epi16(qb, 4), m4);
    acc = _mm512_fmadd_ps(_mm512_cvtepi32_ps(_mm512_dpbusd_epi32(zero, l0, load512(xq))),
                          _mm512_mul_ps(_mm512_permutexvar_ps(i_lo0, sc), _mm512_loadu_ps(dl)), acc);
    acc = _mm512_fmadd_ps(_mm512_cvtepi32_ps(_mm512_dpbusd_epi32(zero, h0, load512(xq + 64))),
                          _mm512_mul_ps(_mm512_permutexvar_ps(i_hi0, sc), _mm512_loadu_ps(dl + 16)), acc);
    acc = _mm512_fmadd_ps(_mm512_cvtepi32_ps(_mm512_dpbusd_epi32(zero, l1, load512(xq + 128))),
                          _mm512_mul_ps(_mm512_permutexvar_ps(i_lo1, sc), _mm512_loadu_ps(dl + 32)), acc);
    acc = _mm512_fmadd_ps(_mm512_cvtepi32_ps(_mm512_dpbusd_epi32(zero, h1, load512(xq + 192))),
                          _mm512_mul_ps(_mm512_permutexvar_ps(i_hi1, sc), _mm512_loadu_ps(dl + 48)), acc);
  }
  return _mm512_reduce_add_ps(acc) - hsum256(accm);
}

// Q6_K: sum over groups g of 16 of (d sc_g) ((q . qx scaled per lane) - 32 (sum x^)_g).
float dot_q6_k(const uint8_t* row, int64_t nb, const ActQ8& x) {
  const __m512i m4 = _mm512_set1_epi8(0x0F);
  const __m512i m30 = _mm512_set1_epi8(0x30);
  const __m512i shl = _mm512_inserti64x4(_mm512_set1_epi16(4), _mm256_set1_epi16(2), 1);
  const __m512i shr = _mm512_inserti64x4(_mm512_set1_epi16(0), _mm256_set1_epi16(2), 1);
  const __m512i idx[4] = {_mm512_setr_epi32(0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3),
                          _mm512_setr_epi32(4, 4, 4, 4, 5, 5, 5, 5, 6, 6, 6, 6, 7, 7, 7, 7),
                          _mm512_setr_epi32(8, 8, 8, 8, 9, 9, 9, 9, 10, 10, 10, 10, 11, 11, 11, 11),
                          _mm512_setr_epi32(12, 12, 12, 12, 13, 13, 13, 13, 14, 14, 14, 14, 15, 15, 15, 15)};
  const __m512i zero = _mm512_setzero_si512();
  __m512 acc = _mm512_setzero_ps();
  __m512 acco = _mm512_setzero_ps();
  for (int64_t b = 0; b < nb; ++b) {
    const uint8_t* blk = row + b * sizeof(Q6KBlock);
    const int8_t* xq = x.q.data() + b * 256;
    const float* dl = x.dl.data() + b * 64;
    const __m512 dsc = _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(
                                         _mm_loadu_si128(reinterpret_cast<const __m128i*>(blk + 192)))),
                                     _mm512_set1_ps(f16(blk + 208)));
    acco = _mm512_fmadd_ps(dsc, _mm512_loadu_ps(x.xsum16.data() + b * 16), acco);
    for (int h = 0; h < 2; ++h) {
      const __m512i v = load512(blk + 64 * h);
      const __m512i hb =
          _mm512_broadcast_i64x4(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk + 128 + 32 * h)));
      const __m512i qlo =
          _mm512_or_si512(_mm512_and_si512(v, m4), _mm512_and_si512(_mm512_sllv_epi16(hb, shl), m30));
      const __m512i qhi = _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi16(v, 4), m4),
                                          _mm512_and_si512(_mm512_srlv_epi16(hb, shr), m30));
      acc = _mm512_fmadd_ps(
          _mm512_cvtepi32_ps(_mm512_dpbusd_epi32(zero, qlo, load512(xq + 128 * h))),
          _mm512_mul_ps(_mm512_permutexvar_ps(idx[2 * h], dsc), _mm512_loadu_ps(dl + 32 * h)), acc);
      acc = _mm512_fmadd_ps(
          _mm512_cvtepi32_ps(_mm512_dpbusd_epi32(zero, qhi, load512(xq + 128 * h + 64))),
          _mm512_mul_ps(_mm512_permutexvar_ps(idx[2 * h + 1], dsc), _mm512_loadu_ps(dl + 32 * h + 16)), acc);
    }
  }
  return _mm512_reduce_add_ps(acc) - 32.0f * _mm512_reduce_add_ps(acco);
}

// Two fp16 block scales times the x scales of their lanes: [d0 dl0..7, d1 dl8..15].
inline __m512 pair_scales(const uint8_t* b0, const uint8_t* b1, const float* dl) {
  const __m128 dd =
      _mm_cvtph_ps(_mm_cvtsi32_si128(static_cast<int>(load_u16(b0) | (uint32_t{load_u16(b1)} << 16))));
  const __m512i i01 = _mm512_setr_epi32(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1);
  return _mm512_mul_ps(_mm512_permutexvar_ps(i01, _mm512_castps128_ps512(dd)), _mm512_loadu_ps(dl));
}

// Q5_0: d (q - 16) . x; two blocks per step; the -16 enters as the accumulator's start value.
float dot_q5_0(const uint8_t* row, int64_t nb, const ActQ8& x) {
  const __m512i m4 = _mm512_set1_epi8(0x0F);
  const __m512i b16 = _mm512_set1_epi8(0x10);
  __m512 acc = _mm512_setzero_ps();
  int64_t b = 0;
  for (; b + 2 <= nb; b += 2) {
    const uint8_t* b0 = row + b * 22;
    const uint8_t* b1 = b0 + 22;
    const __m256i qs = _mm256_inserti128_si256(
        _mm256_castsi128_si256(_mm_loadu_si128(reinterpret_cast<const __m128i*>(b0 + 6))),
        _mm_loadu_si128(reinterpret_cast<const __m128i*>(b1 + 6)), 1);
    __m512i v = _mm512_inserti64x4(_mm512_castsi256_si512(qs), _mm256_srli_epi16(qs, 4), 1);
    v = _mm512_and_si512(v, m4);
    v = _mm512_shuffle_i64x2(v, v, _MM_SHUFFLE(3, 1, 2, 0));  // lo0 hi0 lo1 hi1
    const uint64_t bits = load_u32(b0 + 2) | (uint64_t{load_u32(b1 + 2)} << 32);
    v = _mm512_mask_add_epi8(v, static_cast<__mmask64>(bits), v, b16);
    const __m512i p =
        _mm512_dpbusd_epi32(_mm512_loadu_si512(x.off16.data() + b * 8), v, load512(x.q.data() + b * 32));
    acc = _mm512_fmadd_ps(_mm512_cvtepi32_ps(p), pair_scales(b0, b1, x.dl.data() + b * 8), acc);
  }
  __m256 acc1 = _mm256_setzero_ps();
  for (; b < nb; ++b) {  // odd block count
    const uint8_t* b0 = row + b * 22;
    const __m128i qs = _mm_loadu_si128(reinterpret_cast<const __m128i*>(b0 + 6));
    __m256i v =
        _mm256_and_si256(_mm256_inserti128_si256(_mm256_castsi128_si256(qs), _mm_srli_epi16(qs, 4), 1),
                         _mm256_set1_epi8(0x0F));
    v = _mm256_mask_add_epi8(v, static_cast<__mmask32>(load_u32(b0 + 2)), v, _mm256_set1_epi8(0x10));
    const __m256i p =
        _mm256_dpbusd_epi32(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(x.off16.data() + b * 8)), v,
                            _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x.q.data() + b * 32)));
    acc1 =
        _mm256_fmadd_ps(_mm256_cvtepi32_ps(p),
                        _mm256_mul_ps(_mm256_set1_ps(f16(b0)), _mm256_loadu_ps(x.dl.data() + b * 8)), acc1);
  }
  return _mm512_reduce_add_ps(acc) + hsum256(acc1);
}

// Q8_0: d q . x, with q + 128 as the unsigned operand and -128 sum(qx) as the start value.
float dot_q8_0(const uint8_t* row, int64_t nb, const ActQ8& x) {
  const __m512i bias = _mm512_set1_epi8(static_cast<char>(0x80));
  __m512 acc = _mm512_setzero_ps();
  int64_t b = 0;
  for (; b + 2 <= nb; b += 2) {
    const uint8_t* b0 = row + b * 34;
    const uint8_t* b1 = b0 + 34;
    __m512i w = _mm512_inserti64x4(
        _mm512_castsi256_si512(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(b0 + 2))),
        _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b1 + 2)), 1);
    w = _mm512_xor_si512(w, bias);
    const __m512i p =
        _mm512_dpbusd_epi32(_mm512_loadu_si512(x.off128.data() + b * 8), w, load512(x.q.data() + b * 32));
    acc = _mm512_fmadd_ps(_mm512_cvtepi32_ps(p), pair_scales(b0, b1, x.dl.data() + b * 8), acc);
  }
  __m256 acc1 = _mm256_setzero_ps();
  for (; b < nb; ++b) {
    const uint8_t* b0 = row + b * 34;
    const __m256i w = _mm256_xor_si256(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(b0 + 2)),
                                       _mm256_set1_epi8(static_cast<char>(0x80)));
    const __m256i p =
        _mm256_dpbusd_epi32(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(x.off128.data() + b * 8)), w,
                            _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x.q.data() + b * 32)));
    acc1 =
        _mm256_fmadd_ps(_mm256_cvtepi32_ps(p),
                        _mm256_mul_ps(_mm256_set1_ps(f16(b0)), _mm256_loadu_ps(x.dl.data() + b * 8)), acc1);
  }
  return _mm512_reduce_add_ps(acc) + hsum256(acc1);
}

float dot_f16(const uint8_t* row, int64_t n, const float* x) {
  const auto* w = reinterpret_cast<const uint16_t*>(row);
  __m512 a0 = _mm512_setzero_ps(), a1 = _mm512_setzero_ps();
  int64_t i = 0;
  for (; i + 32 <= n; i += 32) {
    a0 = _mm512_fmadd_ps(_mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(w + i))),
                         _mm512_loadu_ps(x + i), a0);
    a1 = _mm512_fmadd_ps(_mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(w + i + 16))),
                         _mm512_loadu_ps(x + i + 16), a1);
  }
  float s = _mm512_reduce_add_ps(_mm512_add_ps(a0, a1));
  for (; i < n; ++i) s += _cvtsh_ss(w[i]) * x[i];
  return s;
}

float dot_f32_row(const uint8_t* row, int64_t n, const float* x) {
  const auto* w = reinterpret_cast<const float*>(row);
  __m512 a0 = _mm512_setzero_ps(), a1 = _mm512_setzero_ps();
  int64_t i = 0;
  for (; i + 32 <= n; i += 32) {
    a0 = _mm512_fmadd_ps(_mm512_loadu_ps(w + i), _mm512_loadu_ps(x + i), a0);
    a1 = _mm512_fmadd_ps(_mm512_loadu_ps(w + i + 16), _mm512_loadu_ps(x + i + 16), a1);
  }
  float s = _mm512_reduce_add_ps(_mm512_add_ps(a0, a1));
  for (; i < n; ++i) s += w[i] * x[i];
  return s;
}

#else  // AVX2 + FMA + F16C

inline __m256i load256(const void* p) { return _mm256_loadu_si256(static_cast<const __m256i*>(p)); }

float dot_q4_k(const uint8_t* row, int64_t nb, const ActQ8& x) {
  const __m256i m4 = _mm256_set1_epi8(0x0F);
  const __m256i ones = _mm256_set1_epi16(1);
  __m256 acc = _mm256_setzero_ps(), accm = _mm256_setzero_ps();
  for (int64_t b = 0; b < nb; ++b) {
    const uint8_t* blk = row + b * sizeof(Q4KBlock);
    const int8_t* xq = x.q.data() + b * 256;
    const float* dl = x.dl.data() + b * 64;
    alignas(16) uint8_t sm[16];
    unpack_q4k_scales(blk + 4, sm);
    const float d = f16(blk);
    const __m256 mnf =
        _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(sm + 8))));
    accm = _mm256_fmadd_ps(_mm256_mul_ps(mnf, _mm256_set1_ps(f16(blk + 2))),
                           _mm256_loadu_ps(x.xsum32.data() + b * 8), accm);
    for (int j = 0; j < 4; ++j) {
      const __m256i v = load256(blk + 16 + 32 * j);
      const __m256i lo = _mm256_and_si256(v, m4), hi = _mm256_and_si256(_mm256_srli_epi16(v, 4), m4);
      const __m256i plo = _mm256_madd_epi16(_mm256_maddubs_epi16(lo, load256(xq + 64 * j)), ones);
      const __m256i phi = _mm256_madd_epi16(_mm256_maddubs_epi16(hi, load256(xq + 64 * j + 32)), ones);
      acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(plo),
                            _mm256_mul_ps(_mm256_set1_ps(d * sm[2 * j]), _mm256_loadu_ps(dl + 16 * j)), acc);
      acc = _mm256_fmadd_ps(
          _mm256_cvtepi32_ps(phi),
          _mm256_mul_ps(_mm256_set1_ps(d * sm[2 * j + 1]), _mm256_loadu_ps(dl + 16 * j + 8)), acc);
    }
  }
  return hsum256(acc) - hsum256(accm);
}

float dot_q6_k(const uint8_t* row, int64_t nb, const ActQ8& x) {
  const __m256i m4 = _mm256_set1_epi8(0x0F);
  const __m256i m30 = _mm256_set1_epi8(0x30);
  const __m256i ones = _mm256_set1_epi16(1);
  const __m256i idx[4] = {
      _mm256_setr_epi32(0, 0, 0, 0, 1, 1, 1, 1), _mm256_setr_epi32(2, 2, 2, 2, 3, 3, 3, 3),
      _mm256_setr_epi32(4, 4, 4, 4, 5, 5, 5, 5), _mm256_setr_epi32(6, 6, 6, 6, 7, 7, 7, 7)};
  __m256 acc = _mm256_setzero_ps(), acco = _mm256_setzero_ps();
  for (int64_t b = 0; b < nb; ++b) {
    const uint8_t* blk = row + b * sizeof(Q6KBlock);
    const int8_t* xq = x.q.data() + b * 256;
    const float* dl = x.dl.data() + b * 64;
    const __m256 d = _mm256_set1_ps(f16(blk + 208));
    const __m128i sc8 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(blk + 192));
    const __m256 dsc[2] = {
        _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(sc8)), d),
        _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_srli_si128(sc8, 8))), d)};
    acco = _mm256_fmadd_ps(dsc[0], _mm256_loadu_ps(x.xsum16.data() + b * 16), acco);
    acco = _mm256_fmadd_ps(dsc[1], _mm256_loadu_ps(x.xsum16.data() + b * 16 + 8), acco);
    for (int h = 0; h < 2; ++h) {
      const __m256i ql0 = load256(blk + 64 * h), ql1 = load256(blk + 64 * h + 32);
      const __m256i qh = load256(blk + 128 + 32 * h);
      const __m256i q[4] = {
          _mm256_or_si256(_mm256_and_si256(ql0, m4), _mm256_and_si256(_mm256_slli_epi16(qh, 4), m30)),
          _mm256_or_si256(_mm256_and_si256(ql1, m4), _mm256_and_si256(_mm256_slli_epi16(qh, 2), m30)),
          _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(ql0, 4), m4), _mm256_and_si256(qh, m30)),
          _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(ql1, 4), m4),
                          _mm256_and_si256(_mm256_srli_epi16(qh, 2), m30))};
      for (int k = 0; k < 4; ++k) {
        const __m256i p = _mm256_madd_epi16(_mm256_maddubs_epi16(q[k], load256(xq + 128 * h + 32 * k)), ones);
        acc = _mm256_fmadd_ps(
            _mm256_cvtepi32_ps(p),
            _mm256_mul_ps(_mm256_permutevar8x32_ps(dsc[h], idx[k]), _mm256_loadu_ps(dl + 32 * h + 8 * k)),
            acc);
      }
    }
  }
  return hsum256(acc) - 32.0f * hsum256(acco);
}

// 32 bits -> 32 bytes, 0xFF where the bit is set.
inline __m256i bytes_from_bits(uint32_t bits) {
  const __m256i shuf = _mm256_setr_epi8(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 2, 2, 2, 2, 2,
                                        2, 3, 3, 3, 3, 3, 3, 3, 3);
  __m256i v = _mm256_shuffle_epi8(_mm256_set1_epi32(static_cast<int>(bits)), shuf);
  const __m256i sel = _mm256_set1_epi64x(0x7fbfdfeff7fbfdfe);
  v = _mm256_or_si256(v, sel);
  return _mm256_cmpeq_epi8(v, _mm256_set1_epi64x(-1));
}

float dot_q5_0(const uint8_t* row, int64_t nb, const ActQ8& x) {
  const __m256i m4 = _mm256_set1_epi8(0x0F);
  const __m256i b16 = _mm256_set1_epi8(0x10);
  const __m256i ones = _mm256_set1_epi16(1);
  __m256 acc = _mm256_setzero_ps();
  for (int64_t b = 0; b < nb; ++b) {
    const uint8_t* b0 = row + b * 22;
    const __m128i qs = _mm_loadu_si128(reinterpret_cast<const __m128i*>(b0 + 6));
    __m256i v =
        _mm256_and_si256(_mm256_inserti128_si256(_mm256_castsi128_si256(qs), _mm_srli_epi16(qs, 4), 1), m4);
    v = _mm256_or_si256(v, _mm256_and_si256(bytes_from_bits(load_u32(b0 + 2)), b16));
    __m256i p = _mm256_madd_epi16(_mm256_maddubs_epi16(v, load256(x.q.data() + b * 32)), ones);
    p = _mm256_add_epi32(p, load256(x.off16.data() + b * 8));
    acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(p),
                          _mm256_mul_ps(_mm256_set1_ps(f16(b0)), _mm256_loadu_ps(x.dl.data() + b * 8)), acc);
  }
  return hsum256(acc);
}

float dot_q8_0(const uint8_t* row, int64_t nb, const ActQ8& x) {
  const __m256i ones = _mm256_set1_epi16(1);
  __m256 acc = _mm256_setzero_ps();
  for (int64_t b = 0; b < nb; ++b) {
    const uint8_t* b0 = row + b * 34;
    const __m256i w = load256(b0 + 2);
    const __m256i xv = load256(x.q.data() + b * 32);
    const __m256i p =
        _mm256_madd_epi16(_mm256_maddubs_epi16(_mm256_sign_epi8(w, w), _mm256_sign_epi8(xv, w)), ones);
    acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(p),
                          _mm256_mul_ps(_mm256_set1_ps(f16(b0)), _mm256_loadu_ps(x.dl.data() + b * 8)), acc);
  }
  return hsum256(acc);
}

float dot_f16(const uint8_t* row, int64_t n, const float* x) {
  const auto* w = reinterpret_cast<const uint16_t*>(row);
  __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps();
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    a0 = _mm256_fmadd_ps(_mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(w + i))),
                         _mm256_loadu_ps(x + i), a0);
    a1 = _mm256_fmadd_ps(_mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(w + i + 8))),
                         _mm256_loadu_ps(x + i + 8), a1);
  }
  float s = hsum256(_mm256_add_ps(a0, a1));
  for (; i < n; ++i) s += _cvtsh_ss(w[i]) * x[i];
  return s;
}

float dot_f32_row(const uint8_t* row, int64_t n, const float* x) {
  const auto* w = reinterpret_cast<const float*>(row);
  __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps();
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    a0 = _mm256_fmadd_ps(_mm256_loadu_ps(w + i), _mm256_loadu_ps(x + i), a0);
    a1 = _mm256_fmadd_ps(_mm256_loadu_ps(w + i + 8), _mm256_loadu_ps(x + i + 8), a1);
  }
  float s = hsum256(_mm256_add_ps(a0, a1));
  for (; i < n; ++i) s += w[i] * x[i];
  return s;
}

#endif

}  // namespace

void gemv_rows(const QMatrix& w, const ActQ8& x, int64_t r0, int64_t r1, float* y) {
  const uint8_t* base = w.data;
  const uint64_t rb = w.row_bytes;
  switch (w.type) {
    // Sequential rows: the hardware prefetchers keep up (a software prefetch 1 KiB ahead measured no
    // better on the development machine).
    case BB_TYPE_Q4_K:
      for (int64_t r = r0; r < r1; ++r) y[r] = dot_q4_k(base + r * rb, w.cols / 256, x);
      return;
    case BB_TYPE_Q6_K:
      for (int64_t r = r0; r < r1; ++r) y[r] = dot_q6_k(base + r * rb, w.cols / 256, x);
      return;
    case BB_TYPE_Q5_0:
      for (int64_t r = r0; r < r1; ++r) y[r] = dot_q5_0(base + r * rb, w.cols / 32, x);
      return;
    case BB_TYPE_Q8_0:
      for (int64_t r = r0; r < r1; ++r) y[r] = dot_q8_0(base + r * rb, w.cols / 32, x);
      return;
    case BB_TYPE_F16:
      for (int64_t r = r0; r < r1; ++r) y[r] = dot_f16(base + r * rb, w.cols, x.f32);
      return;
    case BB_TYPE_F32:
      for (int64_t r = r0; r < r1; ++r) y[r] = dot_f32_row(base + r * rb, w.cols, x.f32);
      return;
    default:
      break;
  }
  throw std::logic_error("gemv_rows: unsupported type reached a kernel");
}

// ---------------------------------------------------------------------------------------------
// Float helpers (256-bit in both builds: these vectors are short).
// ---------------------------------------------------------------------------------------------
float dot_f32(const float* a, const float* b, int64_t n) {
  __m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps();
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), s0);
    s1 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 8), _mm256_loadu_ps(b + i + 8), s1);
  }
  float s = hsum256(_mm256_add_ps(s0, s1));
  for (; i < n; ++i) s += a[i] * b[i];
  return s;
}

void axpy_f32(float a, const float* x, float* y, int64_t n) {
  const __m256 va = _mm256_set1_ps(a);
  int64_t i = 0;
  for (; i + 8 <= n; i += 8)
    _mm256_storeu_ps(y + i, _mm256_fmadd_ps(va, _mm256_loadu_ps(x + i), _mm256_loadu_ps(y + i)));
  for (; i < n; ++i) y[i] += a * x[i];
}

float sum_squares_f32(const float* x, int64_t n) { return dot_f32(x, x, n); }

float dot_f32_f16(const float* a, const uint16_t* b, int64_t n) {
  __m256 s0 = _mm256_setzero_ps();
  int64_t i = 0;
  for (; i + 8 <= n; i += 8)
    s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i),
                         _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(b + i))), s0);
  float s = hsum256(s0);
  for (; i < n; ++i) s += a[i] * _cvtsh_ss(b[i]);
  return s;
}

void axpy_f16(float a, const uint16_t* x, float* y, int64_t n) {
  const __m256 va = _mm256_set1_ps(a);
  int64_t i = 0;
  for (; i + 8 <= n; i += 8)
    _mm256_storeu_ps(
        y + i, _mm256_fmadd_ps(va, _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(x + i))),
                               _mm256_loadu_ps(y + i)));
  for (; i < n; ++i) y[i] += a * _cvtsh_ss(x[i]);
}

void f32_to_f16_row(const float* x, uint16_t* y, int64_t n) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8)
    _mm_storeu_si128(reinterpret_cast<__m128i*>(y + i),
                     _mm256_cvtps_ph(_mm256_loadu_ps(x + i), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
  for (; i < n; ++i) y[i] = fp32_to_fp16(x[i]);
}

}  // namespace bb::avx
