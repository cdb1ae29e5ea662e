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

}  // namespace

MannWhitneyResult mann_whitney_u(std::span<const double> a, std::span<const double> b) {
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
