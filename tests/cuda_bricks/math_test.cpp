// The GPU kernels' arithmetic, run on the host (no GPU needed): repacked weights dequantize to
// exactly what scalar_ref (= ggml) computes, and the per-unit dp4a / FMA dot products the GEMV
// kernels sum over a row's units equal the dot product of the dequantized weights with the
// two-level 8-bit quantized activations.
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <string>
#include <vector>

#include "../scalar_ref/test_util.h"  // random_row, random_floats
#include "quant_math.h"
#include "repack.h"

namespace bb::cuda_bricks {
namespace {

namespace sr = bb::scalar_ref;

struct Packed {
  std::vector<uint8_t> bytes;
  MatDesc m{};
};

Packed pack(int32_t type, int64_t rows, int64_t cols, const std::vector<uint8_t>& src) {
  const PackedSizes p = packed_sizes(type, rows, cols);
  Packed out;
  out.bytes.assign(p.total() + 64, 0xCD);
  uint8_t* q = out.bytes.data();
  uint8_t* aux = q + p.q;
  uint8_t* sc = aux + p.aux;
  uint8_t* d = sc + p.sc;
  repack(type, rows, cols, src.data(), q, aux, sc, d);
  out.m = MatDesc{type, static_cast<int32_t>(rows),          static_cast<int32_t>(cols), 0, q, aux,
                  sc,   reinterpret_cast<const uint16_t*>(d)};
  return out;
}

std::vector<uint8_t> random_matrix(std::mt19937_64& rng, int32_t type, int64_t rows, int64_t cols) {
  std::vector<uint8_t> all;
  for (int64_t r = 0; r < rows; ++r) {
    const auto row = sr::test::random_row(rng, type, cols);
    all.insert(all.end(), row.begin(), row.end());
  }
  return all;
}

// The kernels' two-level 8-bit quantization (common.cuh warp_quantize_q8), on the host: per 16
// elements 16 hi bytes then 16 lo bytes; x ~= ds.x * (254 hi + lo).
struct Q8 {
  std::vector<int8_t> q;
  std::vector<float2> ds;
  std::vector<float> f;
  double value(size_t i) const {  // the dequantized activation i
    const size_t at = 2 * (i & ~size_t{15}) + (i & 15);
    return static_cast<double>(ds[i / 32].x) * (static_cast<double>(kActLo) * q[at] + q[at + 16]);
  }
};
Q8 quantize(const std::vector<float>& x) {
  Q8 out;
  out.f = x;
  out.q.resize(2 * x.size());
  out.ds.resize(x.size() / 32);
  for (size_t b = 0; b < x.size() / 32; ++b) {
    float amax = 0.0f;
    for (int i = 0; i < 32; ++i) amax = std::fmax(amax, std::fabs(x[b * 32 + i]));
    int sum = 0;
    for (size_t i = b * 32; i < b * 32 + 32; ++i) {
      int hi = 0, lo = 0;
      act_levels(x[i], amax, &hi, &lo);
      const size_t at = 2 * (i & ~size_t{15}) + (i & 15);
      out.q[at] = static_cast<int8_t>(hi);
      out.q[at + 16] = static_cast<int8_t>(lo);
      sum += hi * kActLo + lo;
    }
    const float sd = amax / 127.0f / static_cast<float>(kActLo);
    out.ds[b] = float2{sd, sd * static_cast<float>(sum)};
  }
  return out;
}

void unit_dot2(const MatDesc& m, int r0, int r1, int u, const Act& x, float& a0, float& a1) {
  switch (m.type) {
    case kTypeQ4_K:
      unit_dot2_q4_k(m, r0, r1, u, x, a0, a1);
      return;
    case kTypeQ6_K:
      unit_dot2_q6_k(m, r0, r1, u, x, a0, a1);
      return;
    case kTypeQ8_0:
      unit_dot2_q8_0(m, r0, r1, u, x, a0, a1);
      return;
    case kTypeQ5_0:
      unit_dot2_q5_0(m, r0, r1, u, x, a0, a1);
      return;
    case kTypeQ4_0:
      unit_dot2_q4_0(m, r0, r1, u, x, a0, a1);
      return;
    case kTypeF16:
      unit_dot2_f16(m, r0, r1, u, x, a0, a1);
      return;
    case kTypeF32:
      unit_dot2_f32(m, r0, r1, u, x, a0, a1);
      return;
    default:
      FAIL() << "type " << m.type;
  }
}

struct TypeCase {
  int32_t type;
  int64_t cols;
};

class CudaBricksMath : public ::testing::TestWithParam<TypeCase> {};

TEST_P(CudaBricksMath, RepackedElementsDequantizeExactlyAsScalarRef) {
  const auto [type, cols] = GetParam();
  std::mt19937_64 rng(1234 + static_cast<uint64_t>(type));
  const int64_t rows = 5;
  const auto src = random_matrix(rng, type, rows, cols);
  const Packed p = pack(type, rows, cols, src);
  const sr::Matrix ref = sr::Matrix::of(type, rows, cols, src.data());
  for (int64_t r = 0; r < rows; ++r) {
    const std::vector<float> want = ref.dequantize_row(r);
    for (int64_t c = 0; c < cols; ++c) {
      const float got = dequant_element(p.m, r, static_cast<int>(c));
      ASSERT_EQ(std::memcmp(&got, &want[static_cast<size_t>(c)], 4), 0)
          << type_name(type) << " row " << r << " col " << c << ": " << got << " vs "
          << want[static_cast<size_t>(c)];
    }
  }
}

TEST_P(CudaBricksMath, UnitDotsSumToTheDotProductOfQuantizedActivations) {
  const auto [type, cols] = GetParam();
  std::mt19937_64 rng(99 + static_cast<uint64_t>(type));
  const int64_t rows = 6;
  const auto src = random_matrix(rng, type, rows, cols);
  const Packed p = pack(type, rows, cols, src);
  const sr::Matrix ref = sr::Matrix::of(type, rows, cols, src.data());
  const Q8 x = quantize(sr::test::random_floats(rng, cols, 1.0f));
  const Act act{x.f.data(), x.q.data(), x.ds.data()};
  const bool float_weights = type == kTypeF32 || type == kTypeF16;
  const int units = unit_count(type, static_cast<int>(cols));
  ASSERT_GT(units, 0);
  double err2 = 0, ref2 = 0;
  for (int r0 = 0; r0 < rows; r0 += 2) {
    // Also the kernels' tail case: a lone last row is passed as both rows.
    for (const int r1 : {r0 + 1, r0}) {
      float a0 = 0.0f, a1 = 0.0f;
      for (int u = 0; u < units; ++u) unit_dot2(p.m, r0, r1, u, act, a0, a1);
      for (const auto& [r, got] : {std::pair{r0, a0}, std::pair{r1, a1}}) {
        const std::vector<float> w = ref.dequantize_row(r);
        double exact_q = 0, exact_f = 0, l1 = 0;
        for (int64_t c = 0; c < cols; ++c) {
          const size_t i = static_cast<size_t>(c);
          const double xq = x.value(i);
          exact_q += static_cast<double>(w[i]) * (float_weights ? x.f[i] : xq);
          exact_f += static_cast<double>(w[i]) * x.f[i];
          l1 += std::fabs(static_cast<double>(w[i]) * x.f[i]);
        }
        // Against the same (quantized) activations: only float rounding differs.
        EXPECT_NEAR(got, exact_q, 2e-5 * l1 + 1e-6) << type_name(type) << " row " << r;
        err2 += (got - exact_f) * (got - exact_f);
        ref2 += exact_f * exact_f;
      }
    }
  }
  // Against float activations: two 8-bit levels leave ~1e-9 (one level, Q8_1, ~1e-5; the act_q8
  // class bound of a gemv is 5e-4, docs/CONFIG.md).
  EXPECT_LT(err2 / ref2, float_weights ? 1e-10 : 1e-7) << type_name(type);
}

// gemv_tile.cu's Q4_K unit: the two 16-byte units of sub-blocks 2j, 2j + 1 in one call (q4k_pair)
// sum to the same dot product as the kernels' single units.
TEST(CudaBricksMathTile, Q4kPairsSumToTheDotProductOfQuantizedActivations) {
  std::mt19937_64 rng(4242);
  const int64_t rows = 6, cols = 1024;
  const auto src = random_matrix(rng, kTypeQ4_K, rows, cols);
  const Packed p = pack(kTypeQ4_K, rows, cols, src);
  const sr::Matrix ref = sr::Matrix::of(kTypeQ4_K, rows, cols, src.data());
  const Q8 x = quantize(sr::test::random_floats(rng, cols, 1.0f));
  const int64_t nb = cols / 256;
  for (int64_t r = 0; r < rows; ++r) {
    float got = 0.0f, units = 0.0f, dummy = 0.0f;
    const Act act{x.f.data(), x.q.data(), x.ds.data()};
    for (int u = 0; u < unit_count(kTypeQ4_K, static_cast<int>(cols)); ++u)
      unit_dot2_q4_k(p.m, static_cast<int>(r), static_cast<int>(r), u, act, units, dummy);
    for (int64_t sb = 0; sb < nb; ++sb) {
      const uint8_t* b = p.m.q + (r * nb + sb) * 144;
      for (int j = 0; j < 4; ++j) {
        const int e = static_cast<int>(sb) * 256 + 64 * j;
        got += q4k_pair(ld_u4(b), ld_u4(b + 16 + 32 * j), ld_u4(b + 32 + 32 * j), j, ld_act(x.q.data(), e),
                        ld_act(x.q.data(), e + 16), ld_act(x.q.data(), e + 32), ld_act(x.q.data(), e + 48),
                        x.ds[static_cast<size_t>(sb * 8 + 2 * j)],
                        x.ds[static_cast<size_t>(sb * 8 + 2 * j + 1)]);
      }
    }
    const std::vector<float> w = ref.dequantize_row(r);
    double exact_q = 0, l1 = 0;
    for (int64_t c = 0; c < cols; ++c) {
      const size_t i = static_cast<size_t>(c);
      exact_q += static_cast<double>(w[i]) * x.value(i);
      l1 += std::fabs(static_cast<double>(w[i]) * x.f[i]);
    }
    EXPECT_NEAR(got, exact_q, 2e-5 * l1 + 1e-6) << "row " << r;
    EXPECT_NEAR(got, units, 2e-5 * l1 + 1e-6) << "row " << r;
  }
}

INSTANTIATE_TEST_SUITE_P(Types, CudaBricksMath,
                         ::testing::Values(TypeCase{kTypeQ4_K, 768}, TypeCase{kTypeQ6_K, 768},
                                           TypeCase{kTypeQ8_0, 96}, TypeCase{kTypeQ5_0, 96},
                                           TypeCase{kTypeQ4_0, 96}, TypeCase{kTypeF16, 96},
                                           TypeCase{kTypeF32, 96}),
                         [](const auto& param_info) { return type_name(param_info.param.type); });

TEST(CudaBricksMath, HalfConversionsRoundTripEveryHalf) {
  for (uint32_t h = 0; h < 65536; ++h) {
    const float f = half_to_float(static_cast<uint16_t>(h));
    if (std::isnan(f)) continue;
    EXPECT_EQ(float_to_half(f), h);
    EXPECT_EQ(std::memcmp(&f, &(const float&)half_to_float_host(static_cast<uint16_t>(h)), 4), 0);
  }
}

TEST(CudaBricksMath, UnsupportedTypesAreNamed) {
  EXPECT_FALSE(type_info(13).has_value());
  EXPECT_EQ(type_name(13), "Q5_K");
  EXPECT_EQ(type_name(30), "BF16");
  EXPECT_THROW(packed_sizes(30, 1, 32), std::invalid_argument);
}

// RoPE row order (the QKV GEMV ropes in its epilogue): every stored row pair (2p, 2p + 1) of a head
// holds the two elements one NEOX rotation mixes, every row is stored exactly once, and rows of any
// byte width move whole.
TEST(RopeRowOrder, StoredPairsAreTheElementsOneRotationMixes) {
  for (int32_t hd : {64, 128}) {
    const int64_t rows = 3 * hd;
    const int64_t width = 3;  // bytes a row
    std::vector<uint8_t> plane(static_cast<size_t>(rows * width));
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t b = 0; b < width; ++b)
        plane[static_cast<size_t>(r * width + b)] = static_cast<uint8_t>(r * 7 + b);
    const std::vector<uint8_t> before = plane;
    to_rope_order(plane.data(), plane.size(), rows, hd);
    std::vector<int> seen(static_cast<size_t>(rows), 0);
    for (int64_t n = 0; n < rows; ++n) {
      const int64_t src = rope_pair_source_row(n, hd);
      ASSERT_GE(src, 0);
      ASSERT_LT(src, rows);
      ++seen[static_cast<size_t>(src)];
      for (int64_t b = 0; b < width; ++b)
        EXPECT_EQ(plane[static_cast<size_t>(n * width + b)], before[static_cast<size_t>(src * width + b)]);
      if (n % 2 == 1) {  // the pair (n - 1, n): elements i and i + hd/2 of one head
        const int64_t first = rope_pair_source_row(n - 1, hd);
        EXPECT_EQ(src - first, hd / 2);
        EXPECT_EQ(first / hd, n / hd);
        EXPECT_LT(first % hd, hd / 2);
      }
    }
    for (int64_t r = 0; r < rows; ++r) EXPECT_EQ(seen[static_cast<size_t>(r)], 1) << "row " << r;
  }
}

// The QKV epilogue's arithmetic on stored pairs (gemv.cu, qkv_rope_pair: head r0 / hd, pair
// (r0 % hd) / 2, outputs at h * hd + p and + hd/2) reproduces NEOX RoPE over the GGUF row order.
TEST(RopeRowOrder, PairwiseRotationOfStoredRowsIsNeoxRope) {
  const int32_t hd = 64, half = hd / 2, n_head = 3;
  const int64_t rows = int64_t{n_head} * hd;
  std::mt19937 rng(7);
  std::uniform_real_distribution<float> u(-2.0f, 2.0f);
  std::vector<float> x(static_cast<size_t>(rows)), cs_cos(half), cs_sin(half);
  for (float& v : x) v = u(rng);
  for (int32_t i = 0; i < half; ++i) {
    const double theta = 37.0 * std::pow(1000000.0, -2.0 * i / hd);
    cs_cos[static_cast<size_t>(i)] = static_cast<float>(std::cos(theta));
    cs_sin[static_cast<size_t>(i)] = static_cast<float>(std::sin(theta));
  }
  std::vector<float> want(x.size());
  for (int32_t h = 0; h < n_head; ++h) {
    for (int32_t i = 0; i < half; ++i) {
      const size_t a = static_cast<size_t>(h * hd + i), b = a + half;
      const float c = cs_cos[static_cast<size_t>(i)], s = cs_sin[static_cast<size_t>(i)];
      want[a] = x[a] * c - x[b] * s;
      want[b] = x[a] * s + x[b] * c;
    }
  }
  std::vector<float> stored = x;
  to_rope_order(reinterpret_cast<uint8_t*>(stored.data()), stored.size() * sizeof(float), rows, hd);
  std::vector<float> got(x.size(), std::nanf(""));
  for (int64_t r0 = 0; r0 < rows; r0 += 2) {
    const int64_t h = r0 / hd, p = (r0 % hd) / 2;
    const float c = cs_cos[static_cast<size_t>(p)], s = cs_sin[static_cast<size_t>(p)];
    const float a0 = stored[static_cast<size_t>(r0)], a1 = stored[static_cast<size_t>(r0 + 1)];
    got[static_cast<size_t>(h * hd + p)] = a0 * c - a1 * s;
    got[static_cast<size_t>(h * hd + p + half)] = a0 * s + a1 * c;
  }
  for (size_t i = 0; i < x.size(); ++i) EXPECT_EQ(got[i], want[i]) << "element " << i;
}

TEST(RopeRowOrder, RowsThatAreNotWholeHeadsAreRefused) {
  std::vector<uint8_t> plane(100, 1);
  EXPECT_THROW(to_rope_order(plane.data(), plane.size(), 100, 64), std::invalid_argument);
  EXPECT_THROW(to_rope_order(plane.data(), 99, 64, 64), std::invalid_argument);  // 99 bytes over 64 rows
  to_rope_order(plane.data(), plane.size(), 100, 0);                             // head_dim 0: untouched
  EXPECT_EQ(plane, std::vector<uint8_t>(100, 1));
}

}  // namespace
}  // namespace bb::cuda_bricks
