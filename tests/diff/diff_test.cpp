// bench diff's logic on hand-built results: verdicts, the ratio interval, the per-backend summary,
// the setup warnings and the three output formats.
#include "report/diff.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <rapidjson/document.h>

#include <cmath>
#include <random>
#include <sstream>

#include "measure/statistics.h"

namespace bb::report {
namespace {

using ::testing::HasSubstr;

// n lognormal-ish timings around center (seeded): skewed like real samples, never all equal.
std::vector<double> timings(double center, double sigma, int n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> z(0.0, sigma);
  std::vector<double> s;
  for (int i = 0; i < n; ++i) s.push_back(center * std::exp(z(rng)));
  return s;
}

Cell cell(const std::string& id, const std::string& backend, std::vector<double> samples,
          CellStatus status = CellStatus::Converged) {
  Cell c;
  c.id = id;
  c.brick = id.substr(0, id.find_first_of("@."));
  c.backend = backend;
  c.status = status;
  c.samples = std::move(samples);
  c.stats = measure::compute_statistics(c.samples);
  return c;
}

RunResult run_with(std::vector<Cell> cells) {
  RunResult r;
  r.state = "complete";
  r.experiment_name = "t";
  r.experiment_hash = "abc";
  r.environment = {{"cpu_model", "X"}, {"hostname", "h"}};
  r.model.sha256 = "m";
  r.plugins.push_back(PluginRecord{"scalar_ref", "1.0", "/p", "s1"});
  r.cells = std::move(cells);
  return r;
}

const CellDiff& find(const DiffResult& d, const std::string& id, const std::string& backend = "b") {
  for (const auto& c : d.cells)
    if (c.id == id && c.backend == backend) return c;
  throw std::runtime_error("no cell " + id);
}

TEST(BenchDiff, TenPercentSlowerWithFortySamplesIsSlower) {
  const auto base = run_with({cell("qkv", "b", timings(100e-6, 0.02, 40, 1))});
  const auto next = run_with({cell("qkv", "b", timings(110e-6, 0.02, 40, 2))});
  const DiffResult d = diff_results(base, next);
  const CellDiff& c = find(d, "qkv");
  EXPECT_EQ(c.verdict, DiffVerdict::Slower);
  EXPECT_NEAR(c.ratio, 1.10, 0.02);
  EXPECT_GT(c.ratio_lower, 1.0);
  EXPECT_LT(c.ratio_lower, c.ratio);
  EXPECT_GT(c.ratio_upper, c.ratio);
  EXPECT_LT(c.p_value, 1e-6);
  EXPECT_TRUE(d.regression());
  EXPECT_THAT(diff_outcome_line(d),
              HasSubstr("REGRESSION: 1 cell significantly slower by more than 3.0%: qkv on b"));
}

TEST(BenchDiff, FasterIsReportedButIsNoRegression) {
  const auto base = run_with({cell("qkv", "b", timings(100e-6, 0.02, 40, 1))});
  const auto next = run_with({cell("qkv", "b", timings(80e-6, 0.02, 40, 2))});
  const DiffResult d = diff_results(base, next);
  EXPECT_EQ(find(d, "qkv").verdict, DiffVerdict::Faster);
  EXPECT_FALSE(d.regression());
}

TEST(BenchDiff, SameDistributionIsSameAndNeverFlagged) {
  const auto base = run_with({cell("qkv", "b", timings(100e-6, 0.01, 60, 1))});
  const auto next = run_with({cell("qkv", "b", timings(100e-6, 0.01, 60, 2))});
  const DiffResult d = diff_results(base, next);
  const CellDiff& c = find(d, "qkv");
  EXPECT_EQ(c.verdict, DiffVerdict::Same) << c.note;
  EXPECT_GE(c.ratio_lower, 1 / 1.03);
  EXPECT_LE(c.ratio_upper, 1.03);
}

TEST(BenchDiff, SignificantButBelowTheMinimumEffectIsNotSlower) {
  // 1.5% slower with tight samples: the U test sees it, the minimum effect (3%) keeps it out.
  const auto base = run_with({cell("qkv", "b", timings(100e-6, 0.002, 80, 1))});
  const auto next = run_with({cell("qkv", "b", timings(101.5e-6, 0.002, 80, 2))});
  const DiffResult d = diff_results(base, next);
  const CellDiff& c = find(d, "qkv");
  EXPECT_LT(c.p_value, 0.01);
  EXPECT_EQ(c.verdict, DiffVerdict::Same);
  // With a 1% minimum effect the same data are a regression.
  DiffSettings strict;
  strict.min_effect = 0.01;
  EXPECT_EQ(find(diff_results(base, next, strict), "qkv").verdict, DiffVerdict::Slower);
}

TEST(BenchDiff, WideSamplesGiveNoisyNotSlower) {
  // 10% slower but with 40% spread and 8 samples: nothing can be concluded.
  const auto base = run_with({cell("qkv", "b", timings(100e-6, 0.4, 8, 1))});
  const auto next = run_with({cell("qkv", "b", timings(110e-6, 0.4, 8, 2))});
  const DiffResult d = diff_results(base, next);
  const CellDiff& c = find(d, "qkv");
  EXPECT_EQ(c.verdict, DiffVerdict::Noisy);
  EXPECT_FALSE(c.note.empty());
  EXPECT_FALSE(d.regression());
}

// Issue 14, defect 5: the shipped configs give scalar_ref cells 5 samples; the exact U test lets a
// doubling of such a cell be flagged (p = 2/252 < 0.01). Four a side cannot reach 0.01 (2/70), and
// the note says so.
TEST(BenchDiff, FiveSamplesASideCanFlagASlowdownFourCannotAndSaySo) {
  const auto base = run_with({cell("qkv", "b", {1.00, 1.01, 1.02, 1.03, 1.04})});
  const auto next = run_with({cell("qkv", "b", {2.00, 2.01, 2.02, 2.03, 2.04})});
  const DiffResult d5 = diff_results(base, next);  // find() returns a reference into it
  const CellDiff& five = find(d5, "qkv");
  EXPECT_EQ(five.verdict, DiffVerdict::Slower) << five.note;
  EXPECT_NEAR(five.p_value, 2.0 / 252.0, 1e-12);
  const auto base4 = run_with({cell("qkv", "b", {1.00, 1.01, 1.02, 1.03})});
  const auto next4 = run_with({cell("qkv", "b", {2.00, 2.01, 2.02, 2.03})});
  const DiffResult d = diff_results(base4, next4);
  const CellDiff& c = find(d, "qkv");
  EXPECT_EQ(c.verdict, DiffVerdict::Noisy);
  EXPECT_THAT(c.note, HasSubstr("too few samples (4 vs 4)"));
  DiffSettings loose;
  loose.alpha = 0.05;
  EXPECT_EQ(find(diff_results(base4, next4, loose), "qkv").verdict, DiffVerdict::Slower);
}

TEST(BenchDiff, AnUnstableCellNeedsItsIntervalBeyondTheMinimumEffect) {
  // 4% slower, clearly significant, CI above 1 but reaching below 1.03: converged -> slower,
  // UNSTABLE -> noisy.
  const auto a = timings(100e-6, 0.03, 60, 1);
  const auto b = timings(104e-6, 0.03, 60, 2);
  const DiffResult ds = diff_results(run_with({cell("qkv", "b", a)}), run_with({cell("qkv", "b", b)}));
  const CellDiff& stable = find(ds, "qkv");
  ASSERT_EQ(stable.verdict, DiffVerdict::Slower);
  ASSERT_LT(stable.ratio_lower, 1.03);
  const auto unstable_base = run_with({cell("qkv", "b", a, CellStatus::Unstable)});
  const DiffResult du = diff_results(unstable_base, run_with({cell("qkv", "b", b)}));
  const CellDiff& shaky = find(du, "qkv");
  EXPECT_EQ(shaky.verdict, DiffVerdict::Noisy);
  EXPECT_THAT(shaky.note, HasSubstr("UNSTABLE"));
  // 20% slower clears 1.03 even with the unstable cell.
  const DiffResult db =
      diff_results(unstable_base, run_with({cell("qkv", "b", timings(120e-6, 0.03, 60, 3))}));
  const CellDiff& big = find(db, "qkv");
  EXPECT_EQ(big.verdict, DiffVerdict::Slower);
}

TEST(BenchDiff, CellsInOneFileOnly) {
  Cell skipped = cell("ffn", "b", {}, CellStatus::Skipped);
  skipped.status_reason = "UNSUPPORTED";
  const auto base =
      run_with({cell("qkv", "b", timings(1, 0.01, 20, 1)), cell("ffn", "b", timings(1, 0.01, 20, 2))});
  const auto next = run_with({skipped, cell("rope", "b", timings(1, 0.01, 20, 3))});
  const DiffResult d = diff_results(base, next);
  ASSERT_EQ(d.cells.size(), 3u);
  EXPECT_EQ(find(d, "qkv").verdict, DiffVerdict::OnlyInBase);
  EXPECT_THAT(find(d, "qkv").note, HasSubstr("absent from NEW"));
  EXPECT_EQ(find(d, "ffn").verdict, DiffVerdict::OnlyInBase);
  EXPECT_THAT(find(d, "ffn").note, HasSubstr("not measured in NEW (SKIPPED: UNSUPPORTED)"));
  EXPECT_EQ(find(d, "rope").verdict, DiffVerdict::OnlyInNew);
  EXPECT_FALSE(d.regression());
  // NEW lost both cells BASE measured: that fails the comparison (issue 14, defect 4).
  EXPECT_EQ(d.missing(), 2);
  EXPECT_TRUE(d.failed());
  EXPECT_THAT(diff_outcome_line(d),
              HasSubstr("MISSING: 2 cells measured in BASE but not in NEW: backend b (all 2 of its cells)"));
  // A cell NEW has without samples shows no median of NEW.
  EXPECT_TRUE(std::isnan(find(d, "ffn").median_new));
  ASSERT_EQ(d.backends.size(), 1u);
  EXPECT_EQ(d.backends[0].only_in_one, 3);
  EXPECT_EQ(d.backends[0].compared, 0);
  EXPECT_TRUE(std::isnan(d.backends[0].geomean_ratio));
}

// Issue 14, defect 4: an interrupted NEW that lost cells, or a backend that did not load in NEW,
// passed as "OK ... only in one file". Each missing cell is named and fails, unless allowed.
TEST(BenchDiff, CellsOrABackendMissingFromNewFailUnlessAllowed) {
  auto measured = [](const std::string& id, const std::string& b, uint64_t seed) {
    return cell(id, b, timings(1, 0.01, 20, seed));
  };
  const auto base = run_with({measured("qkv", "a", 1), measured("ffn", "a", 2), measured("rope", "a", 3),
                              measured("qkv", "b", 4), measured("ffn", "b", 5)});
  const auto next = run_with({measured("qkv", "a", 6)});
  const DiffResult d = diff_results(base, next);
  EXPECT_FALSE(d.regression());
  EXPECT_EQ(d.missing(), 4);
  EXPECT_TRUE(d.failed());
  EXPECT_EQ(missing_text(d), "ffn, rope on a; backend b (all 2 of its cells)");
  EXPECT_THAT(diff_outcome_line(d),
              ::testing::StartsWith("MISSING: 4 cells measured in BASE but not in NEW: "));
  EXPECT_THAT(diff_outcome_line(d), HasSubstr("(bench diff --allow-missing accepts that)"));
  // Told that NEW is a subset on purpose, it passes and still says what is missing.
  DiffSettings allow;
  allow.allow_missing = true;
  const DiffResult ok = diff_results(base, next, allow);
  EXPECT_FALSE(ok.failed());
  EXPECT_THAT(diff_outcome_line(ok), ::testing::StartsWith("OK: no cell significantly slower"));
  EXPECT_THAT(diff_outcome_line(ok), HasSubstr("missing (accepted, --allow-missing): 4 cells"));
  // Cells only in NEW never fail.
  EXPECT_FALSE(diff_results(next, base).failed());
}

// Issue 14, defect 16: bench diff on a cell of 3M samples did not finish in 60 s (2000 bootstrap
// resamples of every sample). Past kBootstrapDraws the interval is drawn from every k-th sample and
// says so; the verdict still comes from all of them.
TEST(BenchDiff, CellsOfManySamplesAreThinnedForTheIntervalAndSaySo) {
  auto big = [](double center, uint64_t seed) {
    Cell c;  // not cell(): its statistics would bootstrap 300k samples themselves
    c.id = c.brick = "qkv";
    c.backend = "b";
    c.status = CellStatus::Converged;
    c.samples = timings(center, 0.02, 300000, seed);
    return c;
  };
  const auto base = run_with({big(100e-6, 1)});
  const auto next = run_with({big(110e-6, 2)});
  const DiffResult d = diff_results(base, next);  // find() returns a reference into it
  const CellDiff& c = find(d, "qkv");
  EXPECT_EQ(c.verdict, DiffVerdict::Slower);
  EXPECT_EQ(c.n_base, 300000);
  EXPECT_THAT(c.note, HasSubstr("interval from 10000 of 300000 / 10000 of 300000 samples (every k-th)"));
  EXPECT_LT(c.ratio_lower, 1.1);
  EXPECT_GT(c.ratio_upper, 1.1);
  EXPECT_GT(c.ratio_lower, 1.09);
}

TEST(BenchDiff, TheBandwidthCeilingProbeWarnsButNeverGates) {
  const auto base = run_with(
      {cell("bandwidth", "b", timings(1e-3, 0.01, 40, 1)), cell("qkv", "b", timings(1, 0.01, 40, 2))});
  const auto next = run_with(
      {cell("bandwidth", "b", timings(1.25e-3, 0.01, 40, 3)), cell("qkv", "b", timings(1, 0.01, 40, 4))});
  const DiffResult d = diff_results(base, next);
  const CellDiff& probe = find(d, "bandwidth");
  EXPECT_EQ(probe.verdict, DiffVerdict::Slower);
  EXPECT_FALSE(probe.gates);
  EXPECT_FALSE(d.regression());
  EXPECT_EQ(d.count(DiffVerdict::Slower), 0);
  ASSERT_EQ(d.warnings.size(), 1u);
  EXPECT_THAT(d.warnings[0], HasSubstr("the measured bandwidth ceiling of b moved -20."));
  ASSERT_EQ(d.backends.size(), 1u);
  EXPECT_EQ(d.backends[0].compared, 1);  // qkv only: the probe is the machine, not the backend
}

TEST(BenchDiff, WarnsWhenMostCellsMoveTogether) {
  std::vector<Cell> a, b;
  for (int i = 0; i < 6; ++i) {
    a.push_back(cell("c" + std::to_string(i), "b", timings(1, 0.005, 40, 10 + i)));
    b.push_back(cell("c" + std::to_string(i), "b", timings(i < 4 ? 1.05 : 1.0, 0.005, 40, 20 + i)));
  }
  const DiffResult d = diff_results(run_with(a), run_with(b));
  EXPECT_EQ(d.count(DiffVerdict::Slower), 4);  // the verdicts stand
  EXPECT_THAT(::testing::PrintToString(d.warnings), HasSubstr("4 of 6 cells moved the same way"));
  // One brick slower, the rest still: no such warning.
  b = a;
  b[0] = cell("c0", "b", timings(1.1, 0.005, 40, 99));
  EXPECT_TRUE(diff_results(run_with(a), run_with(b)).warnings.empty());
}

TEST(BenchDiff, WarnsOfCellsMeasuredUnderInterference) {
  std::vector<Cell> a, b;
  for (int i = 0; i < 3; ++i) {
    a.push_back(cell("c" + std::to_string(i), "b", timings(1, 0.005, 40, 30 + i)));
    b.push_back(cell("c" + std::to_string(i), "b", timings(1, 0.005, 40, 40 + i)));
    a.back().interference = Interference{.window_s = 1, .other_cores = 0.1, .cpus = 2};
    b.back().interference = Interference{.window_s = 1, .other_cores = i == 0 ? 1.4 : 0.1, .cpus = 2};
  }
  b[0].interference->flagged = true;
  const DiffResult d = diff_results(run_with(a), run_with(b), {}, "base.json", "new.json");
  ASSERT_EQ(d.warnings.size(), 1u) << ::testing::PrintToString(d.warnings);
  EXPECT_THAT(d.warnings[0], HasSubstr("new.json: 1 of 3 cells were measured under interference"));
  EXPECT_EQ(d.count(DiffVerdict::Same), 3);  // the verdicts are the data's
  b[0].interference->flagged = false;
  EXPECT_TRUE(diff_results(run_with(a), run_with(b)).warnings.empty());
}

TEST(BenchDiff, GeometricMeanPerBackend) {
  const auto base =
      run_with({cell("qkv", "x", timings(100, 0.001, 30, 1)), cell("ffn", "x", timings(100, 0.001, 30, 2)),
                cell("qkv", "y", timings(100, 0.001, 30, 3))});
  const auto next =
      run_with({cell("qkv", "x", timings(121, 0.001, 30, 4)), cell("ffn", "x", timings(100, 0.001, 30, 5)),
                cell("qkv", "y", timings(50, 0.001, 30, 6))});
  const DiffResult d = diff_results(base, next);
  ASSERT_EQ(d.backends.size(), 2u);
  EXPECT_EQ(d.backends[0].backend, "x");
  EXPECT_NEAR(d.backends[0].geomean_ratio, 1.1, 0.005);  // sqrt(1.21 * 1.0)
  EXPECT_EQ(d.backends[0].slower, 1);
  EXPECT_EQ(d.backends[0].same, 1);
  EXPECT_NEAR(d.backends[1].geomean_ratio, 0.5, 0.005);
  EXPECT_EQ(d.backends[1].faster, 1);
}

TEST(BenchDiff, TheRatioIntervalIsSeededAndCoversTheTruth) {
  const auto a = timings(100, 0.05, 50, 1), b = timings(110, 0.05, 50, 2);
  const RatioInterval x = bootstrap_ratio_of_medians(a, b, 2000, 0.95, 7);
  const RatioInterval y = bootstrap_ratio_of_medians(a, b, 2000, 0.95, 7);
  EXPECT_EQ(x.lower, y.lower);
  EXPECT_EQ(x.upper, y.upper);
  EXPECT_LT(x.lower, 1.10);
  EXPECT_GT(x.upper, 1.10);
  const RatioInterval z = bootstrap_ratio_of_medians(a, b, 2000, 0.95, 8);
  EXPECT_NE(x.lower, z.lower);
  // Coverage over repeated experiments: about 95% of intervals hold the true ratio 1.1.
  int covered = 0;
  for (uint64_t k = 0; k < 200; ++k) {
    const RatioInterval r = bootstrap_ratio_of_medians(timings(100, 0.05, 40, 1000 + k),
                                                       timings(110, 0.05, 40, 5000 + k), 1000, 0.95, k);
    covered += r.lower <= 1.10 && 1.10 <= r.upper;
  }
  EXPECT_GE(covered, 180);  // 95% nominal; the percentile bootstrap of a median runs a little narrow
}

TEST(BenchDiff, WarnsWhenTheSetupDiffers) {
  RunResult base = run_with({cell("qkv", "b", timings(1, 0.01, 20, 1))});
  RunResult next = base;
  EXPECT_TRUE(diff_results(base, next).warnings.empty());
  next.environment[0].second = "Y";
  next.environment.emplace_back("gpus", "H100");
  next.model.sha256 = "other";
  next.plugins[0].sha256 = "s2";
  next.plugins.push_back(PluginRecord{"avx_bricks", "0.1", "/a", "s3"});
  next.experiment_hash = "def";
  next.state = "interrupted";
  const auto w = diff_results(base, next).warnings;
  const std::string all = ::testing::PrintToString(w);
  EXPECT_THAT(all, HasSubstr("machine differs: cpu_model 'X' vs 'Y'; gpus (absent) vs 'H100'"));
  EXPECT_THAT(all, HasSubstr("model differs: sha256 m"));
  EXPECT_THAT(all, HasSubstr("plugin build differs: scalar_ref 1.0 sha256 s1 vs 1.0 sha256 s2"));
  EXPECT_THAT(all, HasSubstr("plugin avx_bricks is in NEW only"));
  EXPECT_THAT(all, HasSubstr("protocol differs: experiment hash abc"));
  EXPECT_THAT(all, HasSubstr("NEW run state is 'interrupted'"));
}

TEST(BenchDiff, RejectsSettingsOutOfRange) {
  const RunResult r = run_with({});
  DiffSettings s;
  s.alpha = 0;
  EXPECT_THROW(diff_results(r, r, s), std::invalid_argument);
  s = {};
  s.min_effect = -0.1;
  EXPECT_THROW(diff_results(r, r, s), std::invalid_argument);
  s = {};
  s.resamples = 0;
  EXPECT_THROW(diff_results(r, r, s), std::invalid_argument);
}

TEST(BenchDiffReporters, ConsoleMarkdownAndJson) {
  const auto base = run_with(
      {cell("qkv", "b", timings(100e-6, 0.02, 40, 1)), cell("rope", "b", timings(5e-6, 0.02, 40, 3))});
  auto next = run_with(
      {cell("qkv", "b", timings(110e-6, 0.02, 40, 2)), cell("rope", "b", timings(5e-6, 0.02, 40, 4))});
  next.model.sha256 = "other";
  const DiffResult d = diff_results(base, next, {}, "base.json", "new.json");

  std::ostringstream console;
  DiffConsoleReporter().report(d, console);
  EXPECT_THAT(console.str(), HasSubstr("bench diff: BASE base.json"));
  EXPECT_THAT(console.str(), HasSubstr("95% CI of change"));
  EXPECT_THAT(console.str(), HasSubstr("slower"));
  EXPECT_THAT(console.str(), HasSubstr("b: +4."));  // geometric mean of +10% and 0%
  EXPECT_THAT(console.str(), HasSubstr("model differs"));
  EXPECT_THAT(console.str(), HasSubstr("REGRESSION: 1 cell"));

  std::ostringstream md;
  DiffMarkdownReporter().report(d, md);
  EXPECT_THAT(md.str(), HasSubstr("| cell | backend | base | new | change |"));
  EXPECT_THAT(md.str(), HasSubstr("| qkv | b |"));

  std::ostringstream js;
  DiffJsonReporter().report(d, js);
  rapidjson::Document doc;
  doc.Parse(js.str().c_str());
  ASSERT_FALSE(doc.HasParseError()) << js.str();
  EXPECT_TRUE(doc["regression"].GetBool());
  ASSERT_EQ(doc["cells"].Size(), 2u);
  EXPECT_STREQ(doc["cells"][0]["verdict"].GetString(), "slower");
  EXPECT_NEAR(doc["cells"][0]["ratio"].GetDouble(), 1.1, 0.02);
  EXPECT_EQ(doc["cells"][0]["ratio_ci"].Size(), 2u);
  EXPECT_DOUBLE_EQ(doc["settings"]["alpha"].GetDouble(), 0.01);
  EXPECT_EQ(doc["warnings"].Size(), 1u);

  EXPECT_EQ(make_diff_reporter("markdown")->format(), "md");
  EXPECT_THROW(make_diff_reporter("html"), std::invalid_argument);
}

TEST(BenchDiffText, ChangeAndPValues) {
  EXPECT_EQ(change_text(1.123), "+12.3%");
  EXPECT_EQ(change_text(0.96), "-4.0%");
  EXPECT_EQ(change_text(std::nan("")), "-");
  EXPECT_EQ(p_value_text(0.5), "0.5000");
  EXPECT_EQ(p_value_text(1e-9), "<1e-6");
}

}  // namespace
}  // namespace bb::report
