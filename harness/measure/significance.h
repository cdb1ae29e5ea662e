// Is one set of samples different from another? For `bench diff`: the Mann-Whitney U test on two
// cells' raw samples (no normality assumed; timings are skewed and heavy-tailed), as Google
// Benchmark's tools/compare.py does.
#pragma once

#include <cstdint>
#include <span>

namespace bb::measure {

struct MannWhitneyResult {
  int64_t n_a = 0;
  int64_t n_b = 0;
  double u_a = 0;  // pairs (a_i, b_j) with a_i > b_j, ties counting 1/2; u_a + u_b = n_a n_b
  double u_b = 0;
  double z = 0;        // continuity-corrected normal deviate of max(u_a, u_b); 0 when every value ties
  double p_value = 1;  // two-sided, in [0, 1]
  // u_a / (n_a n_b): the probability that a random a exceeds a random b (ties 1/2), the "common-language
  // effect size"; 0.5 means no shift. With timings, > 0.5 means a is slower.
  double probability_a_greater() const { return u_a / (static_cast<double>(n_a) * static_cast<double>(n_b)); }
};

// Two-sided Mann-Whitney U test by the normal approximation with midranks for ties, the tie-corrected
// variance and a continuity correction (as scipy.stats.mannwhitneyu(method='asymptotic')):
//   U_a = R_a - n_a(n_a+1)/2,  mu = n_a n_b / 2,
//   sigma^2 = n_a n_b / 12 * ((n+1) - sum_t (t^3 - t) / (n(n-1))),  t = size of each tie group,
//   z = (max(U_a, U_b) - mu - 1/2) / sigma,  p = min(1, 2 (1 - Phi(z))) = min(1, erfc(z / sqrt 2)).
// Exact p-values are not computed; the approximation is good from about 8 samples per side, and cells
// have at least min_samples (20). Throws std::invalid_argument when either side is empty or holds NaN.
MannWhitneyResult mann_whitney_u(std::span<const double> a, std::span<const double> b);

}  // namespace bb::measure
