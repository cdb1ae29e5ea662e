#include "measure/statistics.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <random>
#include <stdexcept>
#include <string>

#include "measure/seeded_index.h"

namespace bb::measure {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

std::vector<double> sorted_copy(std::span<const double> samples) {
  std::vector<double> sorted(samples.begin(), samples.end());
  std::sort(sorted.begin(), sorted.end());
  return sorted;
}

// Median of a scratch buffer, reordering it: nth_element instead of a full sort, since the bootstrap
// takes thousands of these. Equals percentile_sorted(sorted, 50): the upper middle value, averaged
// with the largest value below it when n is even.
double median_in_place(std::vector<double>& values) {
  const size_t n = values.size();
  const auto mid = values.begin() + static_cast<std::ptrdiff_t>(n / 2);
  std::nth_element(values.begin(), mid, values.end());
  if (n % 2 == 1) return *mid;
  const double below = *std::max_element(values.begin(), mid);
  return below + 0.5 * (*mid - below);
}

double median_absolute_deviation_sorted(std::span<const double> sorted, double med) {
  std::vector<double> deviations(sorted.size());
  for (size_t i = 0; i < sorted.size(); ++i) deviations[i] = std::fabs(sorted[i] - med);
  return median_in_place(deviations);
}

TukeyOutliers tukey_outliers_sorted(std::span<const double> sorted, double q1, double q3) {
  TukeyOutliers out;
  const double iqr = q3 - q1;
  out.lower_fence = q1 - 1.5 * iqr;
  out.upper_fence = q3 + 1.5 * iqr;
  for (double x : sorted) {
    if (x < out.lower_fence) ++out.low;
    if (x > out.upper_fence) ++out.high;
  }
  return out;
}

void check_finite(std::span<const double> samples) {
  for (size_t i = 0; i < samples.size(); ++i)
    if (!std::isfinite(samples[i]))
      throw std::invalid_argument("statistics: sample " + std::to_string(i) + " of " +
                                  std::to_string(samples.size()) + " is " + std::to_string(samples[i]) +
                                  "; samples must be finite (a timer returned NaN or Inf?)");
}

}  // namespace

double percentile_sorted(std::span<const double> sorted, double p) {
  if (!(p >= 0 && p <= 100))
    throw std::invalid_argument("percentile: p = " + std::to_string(p) + " is outside [0, 100]");
  if (sorted.empty()) return kNaN;
  // Hyndman & Fan type 7: h = (n-1) p/100, interpolate between the closest ranks floor(h) and floor(h)+1.
  const double h = static_cast<double>(sorted.size() - 1) * (p / 100.0);
  const size_t lo = static_cast<size_t>(std::floor(h));
  if (lo + 1 >= sorted.size()) return sorted.back();
  const double frac = h - static_cast<double>(lo);
  return sorted[lo] + frac * (sorted[lo + 1] - sorted[lo]);
}

double percentile(std::span<const double> samples, double p) {
  const std::vector<double> sorted = sorted_copy(samples);
  return percentile_sorted(sorted, p);
}

double mean(std::span<const double> samples) {
  if (samples.empty()) return kNaN;
  double sum = 0;
  for (double x : samples) sum += x;
  return sum / static_cast<double>(samples.size());
}

double median(std::span<const double> samples) { return percentile(samples, 50); }

double sample_stdev(std::span<const double> samples) {
  if (samples.size() < 2) return kNaN;
  // Two passes (mean, then squared deviations): exact enough for timings and free of the
  // cancellation of the one-pass sum-of-squares formula.
  const double m = mean(samples);
  double ss = 0;
  for (double x : samples) ss += (x - m) * (x - m);
  return std::sqrt(ss / static_cast<double>(samples.size() - 1));
}

double coefficient_of_variation(std::span<const double> samples) {
  const double sd = sample_stdev(samples);
  if (std::isnan(sd)) return kNaN;
  if (sd == 0) return 0;  // all equal: no spread, whatever the mean (even 0)
  return sd / mean(samples);
}

double median_absolute_deviation(std::span<const double> samples) {
  if (samples.empty()) return kNaN;
  const std::vector<double> sorted = sorted_copy(samples);
  return median_absolute_deviation_sorted(sorted, percentile_sorted(sorted, 50));
}

TukeyOutliers tukey_outliers(std::span<const double> samples) {
  if (samples.empty()) return TukeyOutliers{kNaN, kNaN, 0, 0};
  const std::vector<double> sorted = sorted_copy(samples);
  return tukey_outliers_sorted(sorted, percentile_sorted(sorted, 25), percentile_sorted(sorted, 75));
}

ConfidenceInterval bootstrap_median_ci(std::span<const double> samples, const BootstrapSettings& settings) {
  if (settings.resamples < 1)
    throw std::invalid_argument("bootstrap_median_ci: resamples = " + std::to_string(settings.resamples) +
                                "; need at least 1 (2000 is the usual choice)");
  if (!(settings.confidence > 0 && settings.confidence < 1))
    throw std::invalid_argument("bootstrap_median_ci: confidence = " + std::to_string(settings.confidence) +
                                " is outside (0, 1); e.g. 0.95");
  if (samples.empty()) return ConfidenceInterval{kNaN, kNaN, settings.confidence};

  const uint64_t n = samples.size();
  std::mt19937_64 rng(settings.seed);
  std::vector<double> resample(n);
  std::vector<double> medians(static_cast<size_t>(settings.resamples));
  for (double& m : medians) {
    for (double& x : resample) x = samples[seeded_index(rng, n)];
    m = median_in_place(resample);
  }
  std::sort(medians.begin(), medians.end());
  const double tail = 100.0 * (1.0 - settings.confidence) / 2.0;
  return ConfidenceInterval{percentile_sorted(medians, tail), percentile_sorted(medians, 100.0 - tail),
                            settings.confidence};
}

SampleStatistics compute_statistics(std::span<const double> samples, const BootstrapSettings& bootstrap) {
  check_finite(samples);
  SampleStatistics s;
  s.n = static_cast<int64_t>(samples.size());
  if (samples.empty()) {
    s.mean = s.median = s.stdev = s.cv = s.min = s.max = s.p50 = s.p90 = s.p99 = s.q1 = s.q3 = s.mad =
        s.mad_scaled = kNaN;
    s.outliers = TukeyOutliers{kNaN, kNaN, 0, 0};
    s.median_ci = bootstrap_median_ci(samples, bootstrap);
    return s;
  }
  const std::vector<double> sorted = sorted_copy(samples);
  s.mean = mean(sorted);
  s.stdev = sample_stdev(sorted);
  s.cv = coefficient_of_variation(sorted);
  s.min = sorted.front();
  s.max = sorted.back();
  s.p50 = percentile_sorted(sorted, 50);
  s.median = s.p50;
  s.p90 = percentile_sorted(sorted, 90);
  s.p99 = percentile_sorted(sorted, 99);
  s.q1 = percentile_sorted(sorted, 25);
  s.q3 = percentile_sorted(sorted, 75);
  s.mad = median_absolute_deviation_sorted(sorted, s.median);
  s.mad_scaled = kMadNormalScale * s.mad;
  s.outliers = tukey_outliers_sorted(sorted, s.q1, s.q3);
  // Resample from the caller's order, not the sorted copy: the interval is then a function of the
  // samples as recorded and the seed, whichever statistics were asked for first.
  s.median_ci = bootstrap_median_ci(samples, bootstrap);
  return s;
}

}  // namespace bb::measure
