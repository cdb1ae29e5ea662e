// The kernels of scalar_ref against hand-computed values and straightforward formulas.
#include "ops.h"

#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

#include "forward.h"
#include "test_util.h"

namespace bb::scalar_ref {
namespace {

using test::random_floats;
using test::random_row;

Matrix f32_matrix(const std::vector<float>& v, int64_t rows, int64_t cols) {
  return Matrix::of(kTypeF32, rows, cols, v.data());
}

LayerShape shape(int32_t e, int32_t ff, int32_t nh, int32_t nkv, int32_t hd) {
  LayerShape s;
  s.n_embd = e;
  s.n_ff = ff;
  s.n_head = nh;
  s.n_head_kv = nkv;
  s.head_dim = hd;
  s.rms_eps = 1e-6;
  s.rope_theta = 10000.0;
  return s;
}

KvCache f32_cache(const std::vector<float>& rows, int64_t n_rows, int64_t width) {
  KvCache c(kTypeF32, width, n_rows);
  c.ensure_rows(n_rows);
  c.write_raw(0, n_rows, rows.data());
  return c;
}

TEST(ScalarRefOps, RopeNeoxRotatesHalves) {
  // head_dim 4, pos 3, theta 10000: pair i=0 is (x[0], x[2]) at angle 3 * 10000^0 = 3,
  // pair i=1 is (x[1], x[3]) at angle 3 * 10000^(-2/4) = 0.03.
  // head 0 = {1, 2, 3, 4}:
  //   x0' = 1 cos 3 - 3 sin 3 = -1.4133525208, x2' = 1 sin 3 + 3 cos 3 = -2.8288574817
  //   x1' = 2 cos .03 - 4 sin .03 = 1.8791180667, x3' = 2 sin .03 + 4 cos .03 = 4.0581911354
  // head 1 = {1, 0, 0, 0}: x0' = cos 3 = -0.9899924966, x2' = sin 3 = 0.1411200081, x1' = x3' = 0.
  std::vector<float> x = {1, 2, 3, 4, 1, 0, 0, 0};
  rope_neox(x.data(), 2, 4, 3, 10000.0);
  EXPECT_NEAR(x[0], -1.4133525208, 1e-6);
  EXPECT_NEAR(x[1], 1.8791180667, 1e-6);
  EXPECT_NEAR(x[2], -2.8288574817, 1e-6);
  EXPECT_NEAR(x[3], 4.0581911354, 1e-6);
  EXPECT_NEAR(x[4], -0.9899924966, 1e-6);
  EXPECT_NEAR(x[6], 0.1411200081, 1e-6);
  EXPECT_EQ(x[5], 0.0f);
  EXPECT_EQ(x[7], 0.0f);

  std::mt19937_64 rng(11);
  const auto v = random_floats(rng, 64);
  auto same = v;
  rope_neox(same.data(), 4, 16, 0, 1e6);  // pos 0: identity
  EXPECT_TRUE(test::same_bits(same, v));
}

TEST(ScalarRefOps, AttentionOneRowIsVWithGqaMapping) {
  // GQA 3:1: query heads 0,1,2 read KV head 0 and 3,4,5 read KV head 1. With one row the softmax
  // weight is exactly 1, so o_h is v's KV head h/3, bit for bit.
  const LayerShape s = shape(96, 64, 6, 2, 16);
  std::mt19937_64 rng(12);
  const auto q = random_floats(rng, s.q_width());
  const auto k = random_floats(rng, s.kv_width());
  const auto v = random_floats(rng, s.kv_width());
  const KvCache kc = f32_cache(k, 1, s.kv_width()), vc = f32_cache(v, 1, s.kv_width());
  std::vector<float> o(s.q_width(), test::kNaN);
  attention(q.data(), kc, vc, 1, s, o.data());
  for (int h = 0; h < 6; ++h) {
    for (int d = 0; d < 16; ++d)
      EXPECT_EQ(o[h * 16 + d], v[(h / 3) * 16 + d]) << "head " << h << " dim " << d;
  }
}

TEST(ScalarRefOps, AttentionMatchesSoftmaxFormulaPerHead) {
  const LayerShape s = shape(96, 64, 6, 2, 16);
  const int64_t L = 7;
  std::mt19937_64 rng(13);
  const auto q = random_floats(rng, s.q_width());
  const auto k = random_floats(rng, L * s.kv_width());
  const auto v = random_floats(rng, L * s.kv_width());
  std::vector<float> o(s.q_width(), test::kNaN);
  attention(q.data(), f32_cache(k, L, s.kv_width()), f32_cache(v, L, s.kv_width()), L, s, o.data());
  for (int h = 0; h < 6; ++h) {
    const int g = h / 3;
    std::vector<double> w(L);
    double z = 0;
    for (int64_t j = 0; j < L; ++j) {
      double dot = 0;
      for (int d = 0; d < 16; ++d) dot += double{q[h * 16 + d]} * k[j * 32 + g * 16 + d];
      w[j] = std::exp(dot / 4.0);  // 1/sqrt(16)
      z += w[j];
    }
    for (int d = 0; d < 16; ++d) {
      double acc = 0;
      for (int64_t j = 0; j < L; ++j) acc += w[j] / z * v[j * 32 + g * 16 + d];
      EXPECT_NEAR(o[h * 16 + d], acc, 1e-6) << "head " << h;
    }
  }
}

TEST(ScalarRefOps, SoftmaxIsStableWithHugeScores) {
  // Scores around 1e8: exp() of them overflows unless the max is subtracted first. Row 1's score
  // exceeds row 0's by ~1e8, so the output is exactly v's row 1.
  const LayerShape s = shape(16, 16, 1, 1, 16);
  std::vector<float> q(16, 1e4f), k(32), v(32);
  for (int d = 0; d < 16; ++d) {
    k[d] = 1e4f;       // score 16 * 1e8 / 4 = 4e8
    k[16 + d] = 2e4f;  // score 8e8
    v[d] = 1.0f + d;
    v[16 + d] = -3.0f - d;
  }
  std::vector<float> o(16, test::kNaN);
  attention(q.data(), f32_cache(k, 2, 16), f32_cache(v, 2, 16), 2, s, o.data());
  for (int d = 0; d < 16; ++d) EXPECT_EQ(o[d], v[16 + d]);
  // Equal huge scores: an exact average.
  k.assign(32, 1e4f);
  attention(q.data(), f32_cache(k, 2, 16), f32_cache(v, 2, 16), 2, s, o.data());
  for (int d = 0; d < 16; ++d) EXPECT_FLOAT_EQ(o[d], (v[d] + v[16 + d]) / 2);
}

TEST(ScalarRefOps, AttentionReadsF16CacheExactly) {
  const LayerShape s = shape(64, 64, 4, 2, 16);
  const int64_t L = 5;
  std::mt19937_64 rng(14);
  const auto q = random_floats(rng, s.q_width());
  auto k = random_floats(rng, L * s.kv_width());
  auto v = random_floats(rng, L * s.kv_width());
  KvCache k16(kTypeF16, s.kv_width(), L), v16(kTypeF16, s.kv_width(), L);
  k16.ensure_rows(L);
  v16.ensure_rows(L);
  for (int64_t j = 0; j < L; ++j) {
    k16.write_row(j, k.data() + j * s.kv_width());
    v16.write_row(j, v.data() + j * s.kv_width());
  }
  for (float& x : k) x = fp16_to_fp32(fp32_to_fp16(x));  // what the F16 cache holds
  for (float& x : v) x = fp16_to_fp32(fp32_to_fp16(x));
  std::vector<float> o16(s.q_width()), o32(s.q_width());
  attention(q.data(), k16, v16, L, s, o16.data());
  attention(q.data(), f32_cache(k, L, s.kv_width()), f32_cache(v, L, s.kv_width()), L, s, o32.data());
  EXPECT_TRUE(test::same_bits(o16, o32));
}

TEST(ScalarRefOps, RmsNormMatchesFormula) {
  std::mt19937_64 rng(15);
  const int64_t n = 96;
  const auto x = random_floats(rng, n, 3.0f);
  const auto g = random_floats(rng, n);
  std::vector<float> y(n, test::kNaN);
  rms_norm(x.data(), f32_matrix(g, 1, n), n, 1e-5, y.data());
  double ms = 0;
  for (float xi : x) ms += double{xi} * xi;
  ms /= n;
  for (int64_t i = 0; i < n; ++i)
    EXPECT_NEAR(y[i], x[i] / std::sqrt(ms + 1e-5) * g[i], 1e-6 * std::fabs(y[i]) + 1e-7);
}

TEST(ScalarRefOps, FfnMatchesFormula) {
  std::mt19937_64 rng(16);
  const int64_t e = 64, f = 96;
  const auto gate = random_floats(rng, f * e, 0.2f), up = random_floats(rng, f * e, 0.2f),
             down = random_floats(rng, e * f, 0.2f), x = random_floats(rng, e);
  std::vector<float> y(e, test::kNaN);
  ffn(FfnWeights{f32_matrix(gate, f, e), f32_matrix(up, f, e), f32_matrix(down, e, f)}, x.data(), y.data());
  std::vector<double> h(f);
  for (int64_t r = 0; r < f; ++r) {
    double a = 0, b = 0;
    for (int64_t c = 0; c < e; ++c) {
      a += double{gate[r * e + c]} * x[c];
      b += double{up[r * e + c]} * x[c];
    }
    h[r] = a / (1 + std::exp(-a)) * b;
  }
  for (int64_t r = 0; r < e; ++r) {
    double acc = 0;
    for (int64_t c = 0; c < f; ++c) acc += down[r * f + c] * h[c];
    EXPECT_NEAR(y[r], acc, 1e-5 * std::fabs(acc) + 1e-6);
  }
}

class ScalarRefGemvByType : public ::testing::TestWithParam<int32_t> {};

TEST_P(ScalarRefGemvByType, EqualsDequantizeThenDot) {
  const int32_t type = GetParam();
  const int64_t rows = 24, cols = 512;
  std::mt19937_64 rng(1000 + type);
  std::vector<uint8_t> bytes;
  for (int64_t r = 0; r < rows; ++r) {
    const auto row = random_row(rng, type, cols);
    bytes.insert(bytes.end(), row.begin(), row.end());
  }
  const Matrix w = Matrix::of(type, rows, cols, bytes.data());
  const auto x = random_floats(rng, cols);
  std::vector<float> y(rows, test::kNaN);
  gemv(w, x.data(), y.data());
  const uint64_t rb = *row_bytes(type, cols);
  for (int64_t r = 0; r < rows; ++r) {
    std::vector<float> deq(cols);
    dequantize_row(type, bytes.data() + r * rb, deq.data(), cols);
    double dot = 0;
    for (int64_t c = 0; c < cols; ++c) dot += double{deq[c]} * double{x[c]};
    ASSERT_TRUE(test::all_finite(deq));
    EXPECT_EQ(y[r], static_cast<float>(dot)) << type_name(type) << " row " << r;
  }
}

INSTANTIATE_TEST_SUITE_P(AllTypes, ScalarRefGemvByType,
                         ::testing::Values(kTypeF32, kTypeF16, kTypeBF16, kTypeQ4_0, kTypeQ5_0, kTypeQ8_0,
                                           kTypeQ4_K, kTypeQ5_K, kTypeQ6_K),
                         [](const auto& p) { return type_name(p.param); });

TEST(ScalarRefOps, ArgmaxTiesGoToLowestIndex) {
  const std::vector<float> x = {1, 3, 2, 3, test::kNaN, 3};
  EXPECT_EQ(argmax(x.data(), 6), 1);
  const std::vector<float> y = {test::kNaN, -1, -1};
  EXPECT_EQ(argmax(y.data(), 3), 1);
}

TEST(ScalarRefOps, KvCacheGrowsOnDemandWithinMax) {
  KvCache c(kTypeF32, 8, 1000);
  EXPECT_EQ(c.allocated_rows(), 0);
  c.ensure_rows(3);
  EXPECT_GE(c.allocated_rows(), 3);
  EXPECT_LE(c.allocated_rows(), 1000);
  EXPECT_THROW(c.ensure_rows(1001), std::out_of_range);
  EXPECT_THROW(KvCache(kTypeQ8_0, 32, 4), std::invalid_argument);
}

}  // namespace
}  // namespace bb::scalar_ref
