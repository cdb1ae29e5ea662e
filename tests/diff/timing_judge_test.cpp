// test::TimingJudge, the verdict of the timing tests (tests/common/timing_judge.h), on result files made
// here with known changes and diffed by the real `bench diff`. Deterministic: no timing is measured.
// It shows what the timing tests do with each kind of pair: a clean A/A pair passes, a detector made
// wrong on purpose (--min-effect 0, a blind --min-effect 50%) fails, a host that moved under the pair
// (all cells, or a quarter of them, a few percent either way) is left out, a flag on a cell that never
// converged is not counted, and a judge left with no clean pair skips.
#include "timing_judge.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <rapidjson/document.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <random>

#include "measure/statistics.h"
#include "result/result_json.h"
#include "sample_result.h"
#include "test_util.h"

namespace bb::test {
namespace {

using ::testing::HasSubstr;
const char* const kIds[] = {"rms_norm",  "qkv",       "attention@64", "gemv.Q4_K",
                            "gemv.Q5_0", "gemv.Q6_K", "gemv.Q8_0"};
const char* const kBackends[] = {"scalar_ref", "faulty"};

// A result of 14 converged cells (7 bricks x 2 backends), 60 samples each with 1% Gaussian noise around
// a center of its own, every center times factor(id, backend).
report::RunResult made_result(uint32_t seed, const std::map<std::string, double>& factor = {}) {
  report::RunResult r = report::testing::sample_result();
  r.cells.clear();
  std::mt19937 rng(seed);
  std::normal_distribution<double> noise(0.0, 0.01);
  double center = 20e-6;
  for (const char* backend : kBackends)
    for (const char* id : kIds) {
      report::Cell c;
      c.id = id;
      c.brick = id;
      c.backend = backend;
      c.status = report::CellStatus::Converged;
      c.iterations_per_sample = 8;
      c.time_source = "host";
      const std::string key = std::string(id) + "/" + backend;
      const double f = factor.count(key) ? factor.at(key) : 1.0;
      for (int i = 0; i < 60; ++i) c.samples.push_back(center * f * (1 + noise(rng)));
      c.stats = measure::compute_statistics(c.samples);
      r.cells.push_back(std::move(c));
      center *= 1.3;
    }
  return r;
}

// Every cell moved by +-1.5% (alternating): what a quiet host gives between two runs, within 3%.
std::map<std::string, double> quiet_drift() {
  std::map<std::string, double> f;
  int i = 0;
  for (const char* backend : kBackends)
    for (const char* id : kIds) f[std::string(id) + "/" + backend] = (i++ % 2) ? 0.985 : 1.015;
  return f;
}

class TimingJudgeTest : public ::testing::Test {
 protected:
  TempDir dir_;
  int n_ = 0;
  // Writes BASE and NEW, runs `bench diff BASE NEW --format json extra`, reads the pair.
  PairReading pair(const report::RunResult& base, const report::RunResult& next,
                   const std::string& extra = "", const std::string& target = "") {
    const std::string a = dir_.path() + "/a" + std::to_string(n_) + ".json";
    const std::string b = dir_.path() + "/b" + std::to_string(n_++) + ".json";
    report::write_result_json(base, a);
    report::write_result_json(next, b);
    auto r = run_bench("diff " + a + " " + b + " --format json " + extra);
    rapidjson::Document doc;
    doc.Parse(r.out.c_str());
    EXPECT_FALSE(doc.HasParseError()) << r.out << r.err;
    return read_pair(doc, "pair " + std::to_string(n_), target, target.empty() ? "" : "faulty");
  }
};

TEST_F(TimingJudgeTest, CleanAaPairsPassAndTheSameFilesFailWithADetectorMadeWrong) {
  TimingJudge good({}), wrong({});
  for (uint32_t s : {1u, 2u}) {
    const auto base = made_result(10 * s), next = made_result(10 * s + 1, quiet_drift());
    PairReading ok = pair(base, next);
    EXPECT_FALSE(ok.host_moved) << ok.summary();
    EXPECT_EQ(ok.cells, 14);
    EXPECT_TRUE(ok.flagged.empty()) << ok.summary();
    good.add_aa(ok);
    // --min-effect 0: every significant 1.5% drift is flagged; the host reading is the same.
    PairReading bad = pair(base, next, "--min-effect 0");
    EXPECT_FALSE(bad.host_moved) << bad.summary();
    EXPECT_GT(bad.flagged.size(), 2u) << bad.summary();
    wrong.add_aa(bad);
  }
  EXPECT_TRUE(good.enough());
  EXPECT_FALSE(good.failed()) << good.failure();
  EXPECT_TRUE(wrong.failed());
  EXPECT_THAT(wrong.failure(), HasSubstr("false alarms on a host that held still"));
}

TEST_F(TimingJudgeTest, AHostThatMovedIsLeftOutAndTheJudgeSkipsWithWhatItSaw) {
  std::map<std::string, double> all, quarter;
  int i = 0;
  for (const char* backend : kBackends)
    for (const char* id : kIds) {
      all[std::string(id) + "/" + backend] = 1.12;
      if (i++ % 3 == 0) quarter[std::string(id) + "/" + backend] = 1.08;  // 5 of 14
    }
  TimingJudge judge({});
  PairReading whole = pair(made_result(3), made_result(4, all));
  EXPECT_TRUE(whole.host_moved);
  EXPECT_FALSE(whole.flagged.empty());  // bench diff rightly flags them; the pair is not judged
  EXPECT_THAT(whole.why_moved, HasSubstr("median moved +12.0%"));
  PairReading part = pair(made_result(5), made_result(6, quarter));
  EXPECT_TRUE(part.host_moved) << part.summary();
  EXPECT_THAT(part.why_moved, HasSubstr("5 of 14 host cells moved by more than 3.0%"));
  judge.add_aa(whole);
  judge.add_aa(part);
  EXPECT_FALSE(judge.failed());
  EXPECT_FALSE(judge.enough());
  EXPECT_EQ(judge.left_out(), 2);
  EXPECT_THAT(judge.skip_reason(), HasSubstr("0 of 2 clean A/A pairs"));
  EXPECT_THAT(judge.skip_reason(), HasSubstr("host +12.0%"));
}

TEST_F(TimingJudgeTest, TrialsDetectTheSlowedCellAndABlindDetectorFails) {
  auto slowed = quiet_drift();
  slowed["qkv/faulty"] = 1.10;
  TimingJudge good({.aa_pairs = 0, .trials = 2, .max_missed = 0}), blind({.aa_pairs = 0, .trials = 2});
  for (uint32_t s : {7u, 8u}) {
    const auto base = made_result(s), next = made_result(s + 100, slowed);
    PairReading t = pair(base, next, "", "qkv");
    EXPECT_FALSE(t.host_moved) << t.summary();
    ASSERT_TRUE(t.target.has_value());
    EXPECT_EQ(*t.target, "slower");
    EXPECT_NEAR(t.target_ratio, 1.10, 0.01);
    EXPECT_EQ(t.cells, 13);  // the target is not a host cell
    good.add_trial(t);
    blind.add_trial(pair(base, next, "--min-effect 50%", "qkv"));
  }
  EXPECT_TRUE(good.enough());
  EXPECT_FALSE(good.failed()) << good.failure();
  EXPECT_TRUE(blind.failed());
  EXPECT_THAT(blind.failure(), HasSubstr("2 clean trials missed the slowdown"));
}

// The target cell of NEW re-drawn with 30% noise and marked UNSTABLE (its protocol never reached the CV
// target): what a host that moved under that one cell leaves.
report::RunResult unsettled_target(report::RunResult r, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<double> noise(0.0, 0.30);
  for (auto& c : r.cells)
    if (c.id == "qkv" && c.backend == "faulty") {
      const double center = measure::median(c.samples);
      for (double& x : c.samples) x = center * std::max(0.2, 1 + noise(rng));
      c.stats = measure::compute_statistics(c.samples);
      c.status = report::CellStatus::Unstable;
    }
  return r;
}

TEST_F(TimingJudgeTest, ATargetThatDidNotConvergeIsLeftOutUnlessItWasCalledSame) {
  auto slowed = quiet_drift();
  slowed["qkv/faulty"] = 1.10;
  TimingJudge judge({.aa_pairs = 0, .trials = 1, .max_missed = 0});
  PairReading shaky = pair(made_result(21), unsettled_target(made_result(22, slowed), 5), "", "qkv");
  EXPECT_FALSE(shaky.host_moved) << shaky.summary();  // the other 13 cells held still
  ASSERT_TRUE(shaky.target.has_value());
  EXPECT_EQ(*shaky.target, "noisy") << shaky.summary();
  EXPECT_EQ(shaky.target_unsettled, "UNSTABLE in NEW");
  judge.add_trial(shaky);
  EXPECT_FALSE(judge.failed()) << judge.failure();
  EXPECT_FALSE(judge.enough());
  EXPECT_EQ(judge.left_out(), 1);
  EXPECT_THAT(judge.skip_reason(), HasSubstr("the target cell did not converge (UNSTABLE in NEW)"));
  // The same unsettled target under a blind detector reads `same`: a miss, not a left-out pair.
  TimingJudge blind({.aa_pairs = 0, .trials = 1, .max_missed = 0});
  PairReading same =
      pair(made_result(21), unsettled_target(made_result(22, slowed), 5), "--min-effect 300%", "qkv");
  EXPECT_EQ(same.target.value_or(""), "same") << same.summary();
  blind.add_trial(same);
  EXPECT_TRUE(blind.failed());
  EXPECT_THAT(blind.failure(), HasSubstr("1 clean trials missed the slowdown"));
}

void mark_unstable(report::RunResult& r, const std::string& id, const std::string& backend) {
  for (auto& c : r.cells)
    if (c.id == id && c.backend == backend) c.status = report::CellStatus::Unstable;
}

// What the shared CI host gave on 2026-12-04 (stop 27's CI): an A/A pair within one run whose host
// cells held their median (+0.0%) while three of seven moved 4-5% either way, all three flagged. The
// host treated the two backends' cells differently; that pair is left out now (a quarter of the cells
// moved by more than 3%). A lone cell that moved counts as a false alarm, unless a side of it never
// reached its CV target: then the host moved under that cell, and it is listed apart.
TEST_F(TimingJudgeTest, CellsScatteredEitherWayAreTheHostAndAFlagOnAnUnconvergedCellIsNotCounted) {
  const std::map<std::string, double> scattered = {{"rms_norm/faulty", 0.955},
                                                   {"gemv.Q8_0/faulty", 1.042},
                                                   {"gemv.Q6_K/faulty", 0.949},
                                                   {"attention@64/scalar_ref", 1.045}};
  PairReading scatter = pair(made_result(31), made_result(32, scattered));
  EXPECT_LT(std::fabs(scatter.host_change), 0.005) << scatter.summary();
  EXPECT_EQ(scatter.flagged.size(), 4u) << scatter.summary();  // bench diff rightly flags them...
  EXPECT_TRUE(scatter.host_moved) << scatter.summary();        // ...and the pair is not judged
  EXPECT_THAT(scatter.why_moved, HasSubstr("4 of 14 host cells moved by more than 3.0%"));

  const std::map<std::string, double> lone = {{"attention@64/faulty", 1.045}};
  PairReading counted = pair(made_result(33), made_result(34, lone));
  EXPECT_FALSE(counted.host_moved) << counted.summary();
  ASSERT_EQ(counted.flagged.size(), 1u) << counted.summary();
  EXPECT_THAT(counted.flagged[0], HasSubstr("attention@64 on faulty slower +4."));
  report::RunResult unsettled = made_result(34, lone);
  mark_unstable(unsettled, "attention@64", "faulty");
  PairReading apart = pair(made_result(33), unsettled);
  EXPECT_FALSE(apart.host_moved) << apart.summary();
  EXPECT_TRUE(apart.flagged.empty()) << apart.summary();
  ASSERT_EQ(apart.flagged_unsettled.size(), 1u) << apart.summary();
  EXPECT_THAT(apart.summary(), HasSubstr("not counted (the cell did not converge): [attention@64 on faulty "
                                         "slower +4."));
  EXPECT_THAT(apart.summary(), HasSubstr("UNSTABLE in NEW]"));

  TimingJudge judge({.aa_pairs = 2, .max_aa_flagged = 0});
  judge.add_aa(scatter);
  judge.add_aa(apart);
  EXPECT_EQ(judge.left_out(), 1);
  EXPECT_FALSE(judge.failed()) << judge.failure();
  judge.add_aa(counted);
  EXPECT_TRUE(judge.enough());
  EXPECT_TRUE(judge.failed());
  EXPECT_THAT(judge.failure(), HasSubstr("clean A/A pairs flagged 1 cells (at most 0 allowed"));
}

}  // namespace
}  // namespace bb::test
