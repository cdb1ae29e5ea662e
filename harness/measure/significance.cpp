#include "measure/significance.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace bb::measure {
namespace {

void check_side(std::span<const double> x, const char* name) {
  if (x.empty())
    throw std::invalid_argument(std::string("mann_whitney_u: sample ") + name +
                                " is empty; both sides need at least one value");
  for (size_t i = 0; i < x.size(); ++i)
    if (std::isnan(x[i]))
      throw std::invalid_argument(std::string("mann_whitney_u: sample ") + name + "[" + std::to_string(i) +
                                  "] is NaN");
}

bool exact_fits(int64_t m, int64_t n, MannWhitneyMethod method) {
  if (method == MannWhitneyMethod::kExact) return m * n <= kExactMaxProduct;
  return method == MannWhitneyMethod::kAuto && std::min(m, n) <= kExactMaxSmall &&
         std::max(m, n) <= kExactMaxLarge;
}

}  // namespace

double mann_whitney_exact_sf(int64_t m, int64_t n, double u) {
  if (m > n) std::swap(m, n);
  if (m < 1 || m * n > kExactMaxProduct)
    throw std::invalid_argument("mann_whitney_exact_sf: sizes " + std::to_string(m) + " x " +
                                std::to_string(n) + " outside the exact range");
  // c_{i,j}[k]: orderings of i a-values and j b-values with U_a = k. The largest pooled value is a
  // b (the rest: c_{i,j-1}) or an a, above all j b's (+j; the rest: c_{i-1,j}), so
  // c_{i,j} = c_{i,j-1} + q^j c_{i-1,j}; one array per i, updated in place as j grows.
  const auto deg = static_cast<size_t>(m * n);
  std::vector<std::vector<double>> c(static_cast<size_t>(m) + 1, std::vector<double>(deg + 1, 0.0));
  for (auto& ci : c) ci[0] = 1;  // c_{i,0}: i a-values and no b-value, one ordering, U_a = 0
  for (int64_t j = 1; j <= n; ++j)
    for (int64_t i = 1; i <= m; ++i) {
      // c[i] holds c_{i,j-1}; c[i-1] already holds c_{i-1,j}.
      auto& cur = c[static_cast<size_t>(i)];
      const auto& below = c[static_cast<size_t>(i - 1)];
      const auto top = static_cast<size_t>(i * j);
      for (size_t k = top + 1; k-- > static_cast<size_t>(j);) cur[k] += below[k - static_cast<size_t>(j)];
    }
  const auto& dist = c[static_cast<size_t>(m)];
  double total = 0, tail = 0;
  for (size_t k = 0; k <= deg; ++k) {
    total += dist[k];
    if (static_cast<double>(k) >= u - 1e-9) tail += dist[k];
  }
  return tail / total;
}

MannWhitneyResult mann_whitney_u(std::span<const double> a, std::span<const double> b,
                                 MannWhitneyMethod method) {
  check_side(a, "a");
  check_side(b, "b");
  const double n_a = static_cast<double>(a.size());
  const double n_b = static_cast<double>(b.size());
  const double n = n_a + n_b;

  // Pool (value, from_a), sort, and give each tie group its midrank.
  std::vector<std::pair<double, bool>> pooled;
  pooled.reserve(a.size() + b.size());
  for (double x : a) pooled.emplace_back(x, true);
  for (double x : b) pooled.emplace_back(x, false);
  std::sort(pooled.begin(), pooled.end(), [](const auto& l, const auto& r) { return l.first < r.first; });

  double rank_sum_a = 0;
  double tie_term = 0;  // sum over tie groups of t^3 - t
  for (size_t i = 0; i < pooled.size();) {
    size_t j = i;
    while (j < pooled.size() && pooled[j].first == pooled[i].first) ++j;
    const double t = static_cast<double>(j - i);
    const double midrank = (static_cast<double>(i + 1) + static_cast<double>(j)) / 2.0;  // ranks i+1..j
    for (size_t k = i; k < j; ++k)
      if (pooled[k].second) rank_sum_a += midrank;
    tie_term += t * t * t - t;
    i = j;
  }

  MannWhitneyResult r;
  r.n_a = static_cast<int64_t>(a.size());
  r.n_b = static_cast<int64_t>(b.size());
  r.u_a = rank_sum_a - n_a * (n_a + 1) / 2.0;
  r.u_b = n_a * n_b - r.u_a;

  const bool no_ties = tie_term == 0;
  if (no_ties && exact_fits(r.n_a, r.n_b, method)) {
    r.exact = true;
    r.z = 0;
    r.p_value = std::min(1.0, 2.0 * mann_whitney_exact_sf(r.n_a, r.n_b, std::max(r.u_a, r.u_b)));
    return r;
  }
  const double mu = n_a * n_b / 2.0;
  const double variance = n < 2 ? 0 : n_a * n_b / 12.0 * ((n + 1) - tie_term / (n * (n - 1)));
  if (variance <= 0) {  // every value tied (or n = 2 with a tie): no evidence of any shift
    r.z = 0;
    r.p_value = 1;
    return r;
  }
  // Within 1/2 of the mean, the continuity correction leaves no deviation at all: z = 0, p = 1.
  r.z = std::max(0.0, std::max(r.u_a, r.u_b) - mu - 0.5) / std::sqrt(variance);
  r.p_value = std::min(1.0, std::erfc(r.z / std::sqrt(2.0)));
  return r;
}

}  // namespace bb::measure
