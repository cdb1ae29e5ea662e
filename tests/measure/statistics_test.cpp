// The statistics of measure/statistics.h against values computed independently. Unless a comment says
// otherwise, the expected values come from Python 3.11's statistics module on the development machine
// (statistics.mean/median/stdev, and statistics.quantiles(x, n=100, method='inclusive'), which is
// numpy.percentile's default 'linear' method), or by hand as written next to them.
#include "measure/statistics.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <random>
#include <stdexcept>
#include <vector>

namespace {

using namespace bb::measure;

// Ten timings with one clear high outlier. Sorted: 1.0 2.0 2.25 2.5 2.75 3.0 3.25 3.5 4.0 10.0
const std::vector<double> kTen = {2.5, 1.0, 4.0, 3.5, 10.0, 2.0, 3.0, 2.75, 3.25, 2.25};

std::vector<double> normal_samples(size_t n, double mean, double sigma, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> dist(mean, sigma);
  std::vector<double> out(n);
  for (double& x : out) x = dist(rng);
  return out;
}

TEST(Statistics, LocationAndSpreadMatchPythonStatistics) {
  const SampleStatistics s = compute_statistics(kTen);
  EXPECT_EQ(s.n, 10);
  EXPECT_NEAR(s.mean, 3.425, 1e-12);               // statistics.mean(x)
  EXPECT_NEAR(s.median, 2.875, 1e-12);             // statistics.median(x) = (2.75 + 3.0) / 2
  EXPECT_NEAR(s.stdev, 2.458121459796304, 1e-12);  // statistics.stdev(x)
  EXPECT_NEAR(s.cv, 0.7176996962908917, 1e-12);    // statistics.stdev(x) / statistics.mean(x)
  EXPECT_EQ(s.min, 1.0);
  EXPECT_EQ(s.max, 10.0);
}

TEST(Statistics, PercentilesAreNumpyLinear) {
  const SampleStatistics s = compute_statistics(kTen);
  // quantiles(x, n=100, method='inclusive')[49], [89], [98]; by hand for p90: h = 9 * 0.9 = 8.1,
  // x[8] + 0.1 (x[9] - x[8]) = 4 + 0.1 * 6 = 4.6; p99: h = 8.91, 4 + 0.91 * 6 = 9.46.
  EXPECT_NEAR(s.p50, 2.875, 1e-12);
  EXPECT_NEAR(s.p90, 4.6, 1e-12);
  EXPECT_NEAR(s.p99, 9.46, 1e-12);
  // quantiles(x, n=4, method='inclusive') = [2.3125, 2.875, 3.4375]
  EXPECT_NEAR(s.q1, 2.3125, 1e-12);
  EXPECT_NEAR(s.q3, 3.4375, 1e-12);
  EXPECT_NEAR(percentile(kTen, 10), 1.9, 1e-12);  // quantiles(..)[9]
  EXPECT_EQ(percentile(kTen, 0), 1.0);
  EXPECT_EQ(percentile(kTen, 100), 10.0);
  // [5, 1, 3]: h = 2 * 0.9 = 1.8 -> 3 + 0.8 * (5 - 3) = 4.6 (quantiles(.., method='inclusive')[89])
  EXPECT_NEAR(percentile(std::vector<double>{5, 1, 3}, 90), 4.6, 1e-12);
  EXPECT_THROW(percentile(kTen, 100.5), std::invalid_argument);
  EXPECT_THROW(percentile(kTen, -1), std::invalid_argument);
}

TEST(Statistics, MedianAbsoluteDeviationByHand) {
  // |x - 2.875|, sorted: .125 .125 .375 .375 .625 .625 .875 1.125 1.875 7.125 -> median 0.625
  // (also statistics.median([abs(v - 2.875) for v in x]) = 0.625)
  const SampleStatistics s = compute_statistics(kTen);
  EXPECT_NEAR(s.mad, 0.625, 1e-12);
  EXPECT_NEAR(s.mad_scaled, 1.4826 * 0.625, 1e-12);
  EXPECT_NEAR(median_absolute_deviation(kTen), 0.625, 1e-12);
}

TEST(Statistics, TukeyOutliersAreCountedNotDropped) {
  // Q1 = 2.3125, Q3 = 3.4375, IQR = 1.125: fences 2.3125 - 1.6875 = 0.625 and 3.4375 + 1.6875 = 5.125;
  // only 10.0 lies outside.
  const SampleStatistics s = compute_statistics(kTen);
  EXPECT_NEAR(s.outliers.lower_fence, 0.625, 1e-12);
  EXPECT_NEAR(s.outliers.upper_fence, 5.125, 1e-12);
  EXPECT_EQ(s.outliers.low, 0);
  EXPECT_EQ(s.outliers.high, 1);
  EXPECT_EQ(s.outliers.count(), 1);
  EXPECT_EQ(s.max, 10.0);  // still there: counted, not dropped

  // Sorted -20 1 2 3 4 5 6 7 8 50: Q1 at h = 2.25 -> 2.25, Q3 at h = 6.75 -> 6.75, IQR 4.5,
  // fences -4.5 and 13.5: one low (-20) and one high (50).
  const TukeyOutliers both = tukey_outliers(std::vector<double>{50, 1, 2, 3, 4, 5, 6, 7, 8, -20});
  EXPECT_NEAR(both.lower_fence, -4.5, 1e-12);
  EXPECT_NEAR(both.upper_fence, 13.5, 1e-12);
  EXPECT_EQ(both.low, 1);
  EXPECT_EQ(both.high, 1);
}

TEST(Statistics, EmptyInputIsNaNWithZeroCount) {
  const SampleStatistics s = compute_statistics(std::vector<double>{});
  EXPECT_EQ(s.n, 0);
  for (double v : {s.mean, s.median, s.stdev, s.cv, s.min, s.max, s.p50, s.p90, s.p99, s.mad, s.mad_scaled,
                   s.median_ci.lower, s.median_ci.upper})
    EXPECT_TRUE(std::isnan(v));
  EXPECT_EQ(s.outliers.count(), 0);
  EXPECT_TRUE(std::isnan(mean(std::vector<double>{})));
  EXPECT_TRUE(std::isnan(median(std::vector<double>{})));
  EXPECT_TRUE(std::isnan(percentile(std::vector<double>{}, 90)));
}

TEST(Statistics, SingleSampleHasNoSpread) {
  const SampleStatistics s = compute_statistics(std::vector<double>{2.5});
  EXPECT_EQ(s.n, 1);
  for (double v : {s.mean, s.median, s.min, s.max, s.p50, s.p90, s.p99, s.median_ci.lower, s.median_ci.upper})
    EXPECT_EQ(v, 2.5);
  EXPECT_TRUE(std::isnan(s.stdev));  // the sample stdev (n-1) of one value is undefined
  EXPECT_TRUE(std::isnan(s.cv));
  EXPECT_EQ(s.mad, 0.0);
  EXPECT_EQ(s.outliers.count(), 0);
}

TEST(Statistics, AllEqualSamplesHaveZeroCvAndMad) {
  const SampleStatistics s = compute_statistics(std::vector<double>(7, 4e-6));
  EXPECT_EQ(s.stdev, 0.0);
  EXPECT_EQ(s.cv, 0.0);
  EXPECT_EQ(s.mad, 0.0);
  EXPECT_EQ(s.mad_scaled, 0.0);
  EXPECT_EQ(s.median, 4e-6);
  EXPECT_EQ(s.median_ci.lower, 4e-6);
  EXPECT_EQ(s.median_ci.upper, 4e-6);
  EXPECT_EQ(s.outliers.count(), 0);
  EXPECT_EQ(coefficient_of_variation(std::vector<double>(3, 0.0)), 0.0);  // no spread even at mean 0
}

TEST(Statistics, NonFiniteSamplesAreRejected) {
  EXPECT_THROW(compute_statistics(std::vector<double>{1, std::numeric_limits<double>::quiet_NaN()}),
               std::invalid_argument);
  EXPECT_THROW(compute_statistics(std::vector<double>{std::numeric_limits<double>::infinity()}),
               std::invalid_argument);
}

TEST(BootstrapMedianCi, ContainsTheMedianAndIsDeterministicForASeed) {
  const std::vector<double> x = normal_samples(101, 5e-6, 2e-7, 7);
  const double med = median(x);
  const BootstrapSettings settings{2000, 0.95, 123};
  const ConfidenceInterval a = bootstrap_median_ci(x, settings);
  const ConfidenceInterval b = bootstrap_median_ci(x, settings);
  EXPECT_LE(a.lower, med);
  EXPECT_GE(a.upper, med);
  EXPECT_LT(a.lower, a.upper);
  EXPECT_EQ(a.lower, b.lower);  // bit-identical: same samples, same seed
  EXPECT_EQ(a.upper, b.upper);
  EXPECT_EQ(a.confidence, 0.95);
  EXPECT_LE(compute_statistics(kTen).median_ci.lower, 2.875);
  EXPECT_GE(compute_statistics(kTen).median_ci.upper, 2.875);

  // Another seed draws other resamples: over a few seeds, not every interval is the same.
  bool any_differs = false;
  for (uint64_t seed = 1; seed <= 5; ++seed) {
    const ConfidenceInterval c = bootstrap_median_ci(x, BootstrapSettings{2000, 0.95, seed});
    any_differs = any_differs || c.lower != a.lower || c.upper != a.upper;
  }
  EXPECT_TRUE(any_differs);
}

TEST(BootstrapMedianCi, ResampleMedianIsTheSameMedianDefinition) {
  // From {1, 3}, a resample's median is 1, 2 (the mean of the two middle values) or 3 with probability
  // 1/4, 1/2, 1/4. The 49th-51st percentiles of the resampled medians are therefore 2: a median
  // taking either middle value instead of their mean would give 1 or 3 here.
  const ConfidenceInterval c =
      bootstrap_median_ci(std::vector<double>{1, 3}, BootstrapSettings{2000, 0.02, 1});
  EXPECT_EQ(c.lower, 2.0);
  EXPECT_EQ(c.upper, 2.0);
}

TEST(BootstrapMedianCi, NarrowsAsSamplesGrow) {
  double previous_width = std::numeric_limits<double>::infinity();
  for (size_t n : {50, 500, 5000}) {
    const ConfidenceInterval c = bootstrap_median_ci(normal_samples(n, 1.0, 0.1, 11));
    const double width = c.upper - c.lower;
    EXPECT_LT(width, previous_width) << "n = " << n;
    previous_width = width;
  }
}

TEST(BootstrapMedianCi, MatchesTheAnalyticIntervalForALargeNormalSample) {
  // For normal data the median's standard error is sqrt(pi/2) sigma / sqrt(n) = 1.2533 sigma / sqrt(n)
  // (asymptotic variance 1 / (4 n f(m)^2), f(m) = 1 / (sigma sqrt(2 pi))), so a 95% interval is
  // +- 1.96 of that: width 2 * 1.96 * 1.2533 / sqrt(4000) = 0.07769 for sigma = 1. One bootstrap width
  // scatters by about +-15% around it (the resampled medians take few distinct values), so the test
  // averages five independent samples.
  const size_t n = 4000;
  const double sigma = 1.0;
  const double analytic_width = 2 * 1.96 * 1.2533 * sigma / std::sqrt(static_cast<double>(n));
  double width_sum = 0;
  for (uint64_t seed = 1; seed <= 5; ++seed) {
    const ConfidenceInterval c =
        bootstrap_median_ci(normal_samples(n, 10.0, sigma, seed), {2000, 0.95, seed});
    EXPECT_LT(c.lower, 10.0 + analytic_width);
    EXPECT_GT(c.upper, 10.0 - analytic_width);
    width_sum += c.upper - c.lower;
  }
  EXPECT_NEAR(width_sum / 5, analytic_width, 0.25 * analytic_width);
}

TEST(BootstrapMedianCi, RejectsBadSettings) {
  EXPECT_THROW(bootstrap_median_ci(kTen, BootstrapSettings{0, 0.95, 1}), std::invalid_argument);
  EXPECT_THROW(bootstrap_median_ci(kTen, BootstrapSettings{100, 1.0, 1}), std::invalid_argument);
  EXPECT_THROW(bootstrap_median_ci(kTen, BootstrapSettings{100, 0.0, 1}), std::invalid_argument);
}

}  // namespace
