// The Mann-Whitney U test of measure/significance.h on examples worked by hand (scipy is not on the
// development machine; Python's math.erfc gave the last digits of the p-values).
#include "measure/significance.h"

#include <gtest/gtest.h>

#include <cmath>
#include <stdexcept>
#include <vector>

namespace {

using bb::measure::mann_whitney_exact_sf;
using bb::measure::mann_whitney_u;
using bb::measure::MannWhitneyMethod;

TEST(MannWhitneyU, TextbookExampleWithoutTies) {
  // The example of scipy.stats.mannwhitneyu's documentation (ages of males and females).
  // Pooled ranks: 11:1 12:2 16:3 17:4 19:5 20:6 22:7 24:8 29:9. R_males = 3+5+7+8+9 = 32,
  // U_males = 32 - 5*6/2 = 17, U_females = 20 - 17 = 3. mu = 10, sigma^2 = 5*4*10/12 = 16.667,
  // z = (17 - 10 - 0.5) / 4.08248 = 1.59217, p = erfc(z / sqrt 2) = 0.1113469 (scipy's documented
  // method='asymptotic' p-value is 0.11134688653314041).
  const std::vector<double> males = {19, 22, 16, 29, 24};
  const std::vector<double> females = {20, 11, 17, 12};
  const auto r = mann_whitney_u(males, females, MannWhitneyMethod::kAsymptotic);
  EXPECT_FALSE(r.exact);
  EXPECT_EQ(r.n_a, 5);
  EXPECT_EQ(r.n_b, 4);
  EXPECT_DOUBLE_EQ(r.u_a, 17);
  EXPECT_DOUBLE_EQ(r.u_b, 3);
  EXPECT_NEAR(r.z, 1.5921683328090657, 1e-12);
  EXPECT_NEAR(r.p_value, 0.11134688653314041, 1e-12);
  EXPECT_NEAR(r.probability_a_greater(), 17.0 / 20.0, 1e-15);
}

// Issue 14, defect 5: with few samples the exact distribution is used, as scipy's method='auto' does.
TEST(MannWhitneyU, SmallSamplesWithoutTiesGetTheExactPValue) {
  // scipy.stats.mannwhitneyu's documented exact p-value for the same example: 0.1111111111111111
  // (P(U >= 17) = 14/126 for 5 vs 4, doubled).
  const std::vector<double> males = {19, 22, 16, 29, 24};
  const std::vector<double> females = {20, 11, 17, 12};
  const auto r = mann_whitney_u(males, females);
  EXPECT_TRUE(r.exact);
  EXPECT_NEAR(r.p_value, 0.1111111111111111, 1e-14);
  // 5 vs 5 completely separated: 2 of the C(10, 5) = 252 orderings are as extreme: p = 2/252 = 0.0079,
  // below alpha 0.01, where the approximation said 0.012.
  const std::vector<double> a = {1.00, 1.01, 1.02, 1.03, 1.04}, b = {2.00, 2.01, 2.02, 2.03, 2.04};
  EXPECT_NEAR(mann_whitney_u(a, b).p_value, 2.0 / 252.0, 1e-15);
  EXPECT_GT(mann_whitney_u(a, b, MannWhitneyMethod::kAsymptotic).p_value, 0.01);
  // Ties fall back to the approximation (scipy's 'auto' does the same).
  const std::vector<double> tied = {1.00, 1.01, 1.02, 1.03, 2.00};
  EXPECT_FALSE(mann_whitney_u(tied, b).exact);
  // Large samples use the approximation unless told otherwise.
  std::vector<double> x, y;
  for (int i = 0; i < 20; ++i) x.push_back(i), y.push_back(i + 10.5);
  EXPECT_FALSE(mann_whitney_u(x, y).exact);
  const auto forced = mann_whitney_u(x, y, MannWhitneyMethod::kExact);
  EXPECT_TRUE(forced.exact);
  EXPECT_EQ(forced.p_value, 2 * mann_whitney_exact_sf(20, 20, forced.u_b));
  // Far in the tail the approximation overstates p (here 2.9e-5 against the exact 6.9e-6).
  EXPECT_LT(forced.p_value, mann_whitney_u(x, y).p_value);
}

TEST(MannWhitneyU, TheExactDistributionMatchesEnumeration) {
  // Every ordering of m a's and n b's, counted by brute force, against the recurrence.
  for (int m = 1; m <= 5; ++m)
    for (int n = 1; n <= 6; ++n) {
      std::vector<int> counts(static_cast<size_t>(m * n) + 1, 0);
      int total = 0;
      for (unsigned mask = 0; mask < (1u << (m + n)); ++mask) {
        if (__builtin_popcount(mask) != m) continue;
        int u = 0, bs = 0;  // positions in increasing order; bit set = an a
        for (int p = 0; p < m + n; ++p) (mask >> p & 1u) ? u += bs : ++bs;
        ++counts[static_cast<size_t>(u)];
        ++total;
      }
      int tail = 0;
      for (int u = m * n; u >= 0; --u) {
        tail += counts[static_cast<size_t>(u)];
        ASSERT_NEAR(mann_whitney_exact_sf(m, n, u), static_cast<double>(tail) / total, 1e-12)
            << m << " vs " << n << ", U >= " << u;
        ASSERT_NEAR(mann_whitney_exact_sf(n, m, u), static_cast<double>(tail) / total, 1e-12);
      }
    }
  EXPECT_THROW(mann_whitney_exact_sf(200, 200, 1), std::invalid_argument);
}

TEST(MannWhitneyU, TiesUseMidranksAndTheTieCorrectedVariance) {
  // a = {1.1, 2, 2, 3.5, 4}, b = {2, 4, 5, 6, 7, 8}; pooled ranks: 1.1:1, 2.0 x3 (a, a, b): ranks 2-4 ->
  // 3 each, 3.5:5, 4.0 x2 (a, b): ranks 6-7 -> 6.5 each, 5:8, 6:9, 7:10, 8:11.
  // R_a = 1 + 3 + 3 + 5 + 6.5 = 18.5, U_a = 18.5 - 15 = 3.5, U_b = 30 - 3.5 = 26.5.
  // Ties: t = 3 and t = 2, sum(t^3 - t) = 24 + 6 = 30; n = 11.
  // sigma^2 = 5*6/12 * (12 - 30/110) = 29.31818, sigma = 5.414627; mu = 15.
  // z = (26.5 - 15 - 0.5) / 5.414627 = 2.0315343, p = erfc(z / sqrt 2) = 0.0422008.
  const std::vector<double> a = {1.1, 2.0, 2.0, 3.5, 4.0};
  const std::vector<double> b = {2.0, 4.0, 5.0, 6.0, 7.0, 8.0};
  const auto r = mann_whitney_u(a, b);
  EXPECT_DOUBLE_EQ(r.u_a, 3.5);
  EXPECT_DOUBLE_EQ(r.u_b, 26.5);
  EXPECT_NEAR(r.z, 2.0315343420542358, 1e-12);
  EXPECT_NEAR(r.p_value, 0.042200819484889636, 1e-12);
}

TEST(MannWhitneyU, TwoSidedIsSymmetricInItsArguments) {
  const std::vector<double> a = {1.1, 2.0, 2.0, 3.5, 4.0};
  const std::vector<double> b = {2.0, 4.0, 5.0, 6.0, 7.0, 8.0};
  const auto ab = mann_whitney_u(a, b);
  const auto ba = mann_whitney_u(b, a);
  EXPECT_DOUBLE_EQ(ab.p_value, ba.p_value);
  EXPECT_DOUBLE_EQ(ab.u_a, ba.u_b);
}

TEST(MannWhitneyU, NoShiftGivesPOfOne) {
  // All values tied: zero variance, no evidence at all.
  const auto tied = mann_whitney_u(std::vector<double>(20, 3.0), std::vector<double>(20, 3.0));
  EXPECT_EQ(tied.p_value, 1.0);
  EXPECT_EQ(tied.probability_a_greater(), 0.5);
  // Identical samples: every value ties with its twin, U_a = U_b = mu = 12.5, so the continuity
  // correction leaves z = 0 and p = 1.
  const std::vector<double> x = {1, 2, 3, 4, 5};
  const auto same = mann_whitney_u(x, x);
  EXPECT_FALSE(same.exact);
  EXPECT_EQ(same.z, 0.0);
  EXPECT_EQ(same.p_value, 1.0);
}

TEST(MannWhitneyU, SeparatedSamplesAreSignificant) {
  // 20 vs 20 with every a below every b: U_a = 0, U_b = 400, mu = 200, sigma^2 = 400*41/12 = 1366.67,
  // z = 199.5 / 36.968 = 5.3965, p = erfc(z / sqrt 2) = 6.8e-8.
  std::vector<double> a, b;
  for (int i = 0; i < 20; ++i) {
    a.push_back(1.0 + 0.01 * i);
    b.push_back(2.0 + 0.01 * i);
  }
  const auto r = mann_whitney_u(a, b);
  EXPECT_EQ(r.u_a, 0.0);
  EXPECT_NEAR(r.z, 199.5 / std::sqrt(400.0 * 41 / 12), 1e-12);
  EXPECT_LT(r.p_value, 1e-7);
  EXPECT_GT(r.p_value, 1e-8);
  EXPECT_EQ(r.probability_a_greater(), 0.0);
}

TEST(MannWhitneyU, RejectsEmptyOrNaNInput) {
  const std::vector<double> x = {1, 2, 3};
  EXPECT_THROW(mann_whitney_u(x, std::vector<double>{}), std::invalid_argument);
  EXPECT_THROW(mann_whitney_u(std::vector<double>{}, x), std::invalid_argument);
  EXPECT_THROW(mann_whitney_u(x, std::vector<double>{1, std::nan("")}), std::invalid_argument);
}

}  // namespace
