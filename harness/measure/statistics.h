// Statistics of one cell's raw samples (seconds per iteration): location, spread, tails, outliers and
// a bootstrap confidence interval of the median. Pure functions; nothing here times anything.
//
// Definitions used throughout (stated once, so every number in a result file means one thing):
// - percentile(p): linear interpolation between closest ranks, numpy's default method='linear'
//   (= Python's statistics.quantiles(method='inclusive'), Hyndman & Fan type 7): on sorted x[0..n-1],
//   h = (n-1) p/100, x[floor h] + (h - floor h)(x[floor h + 1] - x[floor h]).
// - median = percentile(50): the middle value, or the mean of the two middle values when n is even.
// - stdev: the sample standard deviation, divisor n-1.  CV = stdev / mean.
// - MAD: median(|x - median(x)|), raw; the scaled MAD multiplies by 1.4826 (= 1/Phi^-1(3/4)), which
//   makes it a consistent estimator of sigma for normal data.
// - outliers: Tukey's fences, outside [Q1 - 1.5 IQR, Q3 + 1.5 IQR] with Q1, Q3 = percentile(25), (75);
//   counted, never dropped.
// - median CI: percentile bootstrap (Efron & Tibshirani 1993, ch. 13): B resamples of n drawn with
//   replacement, the median of each (the same median as above), and the (1-c)/2 and (1+c)/2
//   percentiles of those B medians (the same percentile as above).
//
// Empty input: the scalar functions return NaN and compute_statistics returns n = 0 with every value
// NaN (outlier counts 0), so a cell that took no sample still has a well-defined, visibly empty row.
// Non-finite samples are a caller bug (a timer returned NaN/Inf): std::invalid_argument.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

namespace bb::measure {

struct BootstrapSettings {
  int64_t resamples = 2000;  // B
  double confidence = 0.95;  // two-sided level c of the interval
  uint64_t seed = 42;        // std::mt19937_64: the same samples and seed give the same interval
};

struct ConfidenceInterval {
  double lower = 0;
  double upper = 0;
  double confidence = 0;  // the level it was computed at, e.g. 0.95
};

struct TukeyOutliers {
  double lower_fence = 0;  // Q1 - 1.5 IQR
  double upper_fence = 0;  // Q3 + 1.5 IQR
  int64_t low = 0;         // samples < lower_fence
  int64_t high = 0;        // samples > upper_fence (for timings, nearly always the interesting side)
  int64_t count() const { return low + high; }
};

// Everything a result file reports about one cell's samples, in the samples' unit.
struct SampleStatistics {
  int64_t n = 0;
  double mean = 0;
  double median = 0;
  double stdev = 0;  // sample (n-1); NaN when n < 2
  double cv = 0;     // stdev / mean; 0 when every sample is equal; NaN when n < 2
  double min = 0;
  double max = 0;
  double p50 = 0;
  double p90 = 0;
  double p99 = 0;
  double q1 = 0;          // p25, for the fences and box plots
  double q3 = 0;          // p75
  double mad = 0;         // raw median absolute deviation
  double mad_scaled = 0;  // 1.4826 * mad
  TukeyOutliers outliers;
  ConfidenceInterval median_ci;
};

// Linear-interpolation percentile (numpy 'linear') of data already sorted ascending; p in [0, 100]
// (std::invalid_argument otherwise). NaN when empty.
double percentile_sorted(std::span<const double> sorted, double p);
// The same on unsorted data (sorts a copy).
double percentile(std::span<const double> samples, double p);

double mean(std::span<const double> samples);
double median(std::span<const double> samples);
double sample_stdev(std::span<const double> samples);  // divisor n-1; NaN when n < 2
double coefficient_of_variation(std::span<const double> samples);
double median_absolute_deviation(std::span<const double> samples);  // raw, unscaled
inline constexpr double kMadNormalScale = 1.4826;

TukeyOutliers tukey_outliers(std::span<const double> samples);

// Percentile-bootstrap interval of the median. n = 1 gives [x, x]; empty gives NaN bounds.
// std::invalid_argument when resamples < 1 or confidence is not in (0, 1).
ConfidenceInterval bootstrap_median_ci(std::span<const double> samples,
                                       const BootstrapSettings& settings = {});

// All of the above at once. std::invalid_argument if a sample is NaN or infinite.
SampleStatistics compute_statistics(std::span<const double> samples, const BootstrapSettings& bootstrap = {});

}  // namespace bb::measure
