// Is one set of samples different from another? For `bench diff`: the Mann-Whitney U test on two
// cells' raw samples (no normality assumed; timings are skewed and heavy-tailed), as Google
// Benchmark's tools/compare.py does.
#pragma once

#include <cstdint>
#include <span>

namespace bb::measure {

// How the p-value is found. kAuto: exact when there are no ties, the smaller side has at most
// kExactMaxSmall samples and the larger at most kExactMaxLarge (scipy's method='auto' uses the exact
// distribution for <= 8 a side without ties), else asymptotic. kExact: exact whenever there are no
// ties and n_a n_b <= kExactMaxProduct, else asymptotic.
enum class MannWhitneyMethod { kAuto, kExact, kAsymptotic };
inline constexpr int64_t kExactMaxSmall = 8;
inline constexpr int64_t kExactMaxLarge = 1000;
inline constexpr int64_t kExactMaxProduct = 20000;

struct MannWhitneyResult {
  int64_t n_a = 0;
  int64_t n_b = 0;
  double u_a = 0;  // pairs (a_i, b_j) with a_i > b_j, ties counting 1/2; u_a + u_b = n_a n_b
  double u_b = 0;
  double z = 0;        // continuity-corrected normal deviate of max(u_a, u_b); 0 when every value ties
  double p_value = 1;  // two-sided, in [0, 1]
  bool exact = false;  // p_value from the exact null distribution of U, not the normal approximation
  // u_a / (n_a n_b): the probability that a random a exceeds a random b (ties 1/2), the "common-language
  // effect size"; 0.5 means no shift. With timings, > 0.5 means a is slower.
  double probability_a_greater() const { return u_a / (static_cast<double>(n_a) * static_cast<double>(n_b)); }
};

// Two-sided Mann-Whitney U test. Asymptotic: the normal approximation with midranks for ties, the
// tie-corrected variance and a continuity correction (as scipy.stats.mannwhitneyu(method='asymptotic')):
//   U_a = R_a - n_a(n_a+1)/2,  mu = n_a n_b / 2,
//   sigma^2 = n_a n_b / 12 * ((n+1) - sum_t (t^3 - t) / (n(n-1))),  t = size of each tie group,
//   z = (max(U_a, U_b) - mu - 1/2) / sigma,  p = min(1, 2 (1 - Phi(z))) = min(1, erfc(z / sqrt 2)).
// Exact (as scipy's method='exact'): p = min(1, 2 P(U >= max(U_a, U_b))) under the null distribution
// of U, counted over all C(n_a + n_b, n_a) orderings. The approximation overstates small samples' p:
// 5 vs 5 completely separated is p = 2/252 = 0.0079 exactly, 0.012 by the approximation, so a
// reference cell of 5 samples could never be flagged at alpha 0.01 (issue 14, defect 5).
// Throws std::invalid_argument when either side is empty or holds NaN.
MannWhitneyResult mann_whitney_u(std::span<const double> a, std::span<const double> b,
                                 MannWhitneyMethod method = MannWhitneyMethod::kAuto);

// P(U >= u) for the U statistic of m vs n samples without ties under the null hypothesis; exposed for
// tests. m, n >= 1 and m * n <= kExactMaxProduct.
double mann_whitney_exact_sf(int64_t m, int64_t n, double u);

}  // namespace bb::measure
