// The sampling protocol of measure/protocol.h against a fake clock: every TimedRun here returns
// iterations x a known cost x (1 + seeded noise), so warm-up, calibration, convergence and caps can be
// checked exactly, in microseconds of real time.
#include "measure/protocol.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <memory>
#include <random>
#include <set>
#include <stdexcept>
#include <vector>

namespace {

using namespace bb::measure;

// A deterministic stand-in for timing plan_run: `iterations` repetitions cost iterations x
// per_iteration_s, times (1 + noise_cv N(0, 1)) drawn once per call from a seeded RNG (so a sample's CV
// is about noise_cv), optionally quantized to a coarse clock tick. It records every call.
struct FakeTimedRun {
  double per_iteration_s = 1e-6;
  double noise_cv = 0;
  double tick_s = 0;  // 0: a perfect clock
  std::mt19937_64 rng{1};
  std::normal_distribution<double> normal{0, 1};
  double total_s = 0;
  int64_t total_iterations = 0;
  std::vector<int64_t> calls;

  double operator()(int64_t iterations) {
    const double factor = std::max(0.05, 1 + noise_cv * normal(rng));
    double t = static_cast<double>(iterations) * per_iteration_s * factor;
    if (tick_s > 0) t = std::floor(t / tick_s) * tick_s;
    total_s += t;
    total_iterations += iterations;
    calls.push_back(iterations);
    return t;
  }
};

TimedRun bind(FakeTimedRun& fake) {
  return [&fake](int64_t iterations) { return fake(iterations); };
}

// What the runner records for a cell: the statistics of its samples under its settings' bootstrap.
SampleStatistics statistics_of(const CellSampler& cell) {
  const ProtocolSettings& p = cell.settings();
  return compute_statistics(cell.samples(), {p.bootstrap_resamples, p.confidence, p.seed});
}

ProtocolSettings fast_settings() {
  ProtocolSettings s;
  s.min_sample_ms = 1;          // fixed, not the machine's clock-derived default, so the tests are exact
  s.warmup_min_iterations = 3;  // the counts these tests expect (the default is the config's 10)
  return s;
}

TEST(Protocol, DefaultsAreTheIssuesProtocolBlock) {
  const ProtocolSettings s;
  EXPECT_EQ(s.warmup_ms, 200);
  EXPECT_EQ(s.warmup_min_iterations, 10);
  EXPECT_EQ(s.min_samples, 20);
  EXPECT_EQ(s.max_samples, 500);
  EXPECT_EQ(s.cv_target, 0.03);
  EXPECT_EQ(s.max_seconds_per_cell, 20);
  EXPECT_EQ(s.seed, 42u);
  EXPECT_EQ(s.bootstrap_resamples, 2000);
  EXPECT_GE(s.min_sample_ms, 1.0);  // max(1 ms, 1000 x clock resolution)
  const double resolution = steady_clock_resolution_seconds();
  EXPECT_GT(resolution, 0);
  EXPECT_LT(resolution, 1e-3);
  EXPECT_EQ(s.min_sample_ms, default_min_sample_ms());
}

TEST(Protocol, WarmUpRunsAtLeastTheMinimumIterationsAndTime) {
  FakeTimedRun fake;  // 1 us per iteration
  ProtocolSettings s = fast_settings();
  s.warmup_ms = 0;
  s.warmup_min_iterations = 50;
  CellSampler by_count(bind(fake), s);
  by_count.prepare();
  EXPECT_GE(by_count.warmup_iterations(), 50);
  EXPECT_LT(by_count.warmup_iterations(), 100);  // trimmed, not doubled past what is needed
  EXPECT_EQ(by_count.sample_count(), 0);         // warm-up is discarded

  FakeTimedRun fake2;
  fake2.noise_cv = 0.02;
  CellSampler by_time(bind(fake2), fast_settings());  // 200 ms, 3 iterations
  by_time.prepare();
  EXPECT_GE(by_time.warmup_seconds(), 0.2);
  EXPECT_LT(by_time.warmup_seconds(), 0.25);  // the last batch is trimmed to the time still needed
  EXPECT_GE(by_time.warmup_iterations(), 3);
  EXPECT_FALSE(by_time.warmup_truncated());
  // Batches double from 1, so the first calls are 1, 2, 4.
  ASSERT_GE(fake2.calls.size(), 3u);
  EXPECT_EQ(fake2.calls[0], 1);
  EXPECT_EQ(fake2.calls[1], 2);
  EXPECT_EQ(fake2.calls[2], 4);
}

TEST(Protocol, IterationsPerSampleAreCalibratedAboveMinSample) {
  FakeTimedRun fake;
  fake.noise_cv = 0.05;
  CellSampler cell(bind(fake), fast_settings());
  while (!cell.done()) cell.step();
  const int64_t k = cell.iterations_per_sample();
  EXPECT_GT(k, 1000);  // 1 ms of 1 us iterations
  EXPECT_LT(k, 2000);
  for (double x : cell.samples()) EXPECT_GE(x * static_cast<double>(k), 1e-3);
}

TEST(Protocol, CalibrationDoublesPastACoarseClock) {
  // 100 ns of work against a 100 us clock tick: small batches read as 0 s, so warm-up and calibration
  // must double until the clock moves, then scale.
  FakeTimedRun fake;
  fake.per_iteration_s = 1e-7;
  fake.tick_s = 1e-4;
  CellSampler cell(bind(fake), fast_settings());
  cell.step();
  EXPECT_GE(cell.samples()[0] * static_cast<double>(cell.iterations_per_sample()), 1e-3);
  EXPECT_NEAR(cell.samples()[0], 1e-7, 1e-8);  // within a tick of the true cost
}

TEST(Protocol, ABrokenTimerIsAnErrorNotAnEndlessLoop) {
  CellSampler zero([](int64_t) { return 0.0; }, fast_settings());
  EXPECT_THROW(zero.prepare(), std::runtime_error);
  CellSampler negative([](int64_t) { return -1.0; }, fast_settings());
  EXPECT_THROW(negative.prepare(), std::runtime_error);
}

TEST(Protocol, LowNoiseCellConvergesAfterMinSamples) {
  FakeTimedRun fake;
  fake.noise_cv = 0.005;
  CellSampler cell(bind(fake), fast_settings());
  while (!cell.done()) cell.step();
  EXPECT_EQ(cell.status(), CellStatus::Converged);
  EXPECT_EQ(cell.stop_reason(), StopReason::kCvTarget);
  EXPECT_EQ(cell.sample_count(), 20);
  EXPECT_LE(cell.current_cv(), 0.03);
  const SampleStatistics stats = statistics_of(cell);
  EXPECT_EQ(stats.n, 20);
  EXPECT_NEAR(stats.median, 1e-6, 0.01e-6);
  EXPECT_NEAR(stats.cv, cell.current_cv(), 1e-9);  // the running CV is the reported CV
  EXPECT_LE(stats.median_ci.lower, stats.median);
  EXPECT_GE(stats.median_ci.upper, stats.median);
  EXPECT_DOUBLE_EQ(cell.elapsed_seconds(), fake.total_s);  // every timed second is accounted for
  EXPECT_NE(cell.status_reason().find("CONVERGED"), std::string::npos);
  EXPECT_THROW(cell.step(), std::logic_error);
}

TEST(Protocol, NoisyCellIsUnstableAtMaxSamples) {
  FakeTimedRun fake;
  fake.noise_cv = 0.20;
  CellSampler cell(bind(fake), fast_settings());
  while (!cell.done()) cell.step();
  EXPECT_EQ(cell.status(), CellStatus::Unstable);
  EXPECT_EQ(cell.stop_reason(), StopReason::kMaxSamples);
  EXPECT_EQ(cell.sample_count(), 500);
  EXPECT_GT(cell.current_cv(), 0.1);
  EXPECT_NE(cell.status_reason().find("UNSTABLE"), std::string::npos);
  EXPECT_NE(cell.status_reason().find("max_samples"), std::string::npos);
}

TEST(Protocol, NoisyCellIsUnstableAtTheTimeCapWhichIsHonoured) {
  FakeTimedRun fake;
  fake.noise_cv = 0.20;
  ProtocolSettings s = fast_settings();
  s.warmup_ms = 10;
  s.max_seconds_per_cell = 0.1;  // room for ~70 samples of ~1.25 ms, far below max_samples
  CellSampler cell(bind(fake), s);
  while (!cell.done()) cell.step();
  EXPECT_EQ(cell.status(), CellStatus::Unstable);
  EXPECT_EQ(cell.stop_reason(), StopReason::kTimeBudget);
  EXPECT_GE(cell.sample_count(), 20);
  EXPECT_LT(cell.sample_count(), 100);
  // Fake time spent, warm-up and calibration included: within the budget but for the one sample whose
  // length the prediction (mean sample so far) underestimated.
  EXPECT_DOUBLE_EQ(cell.elapsed_seconds(), fake.total_s);
  EXPECT_LE(fake.total_s, 0.1 + 0.005);
  EXPECT_GT(fake.total_s, 0.1 - 0.005);
}

TEST(Protocol, SlowCellTakesTwoSamplesPastTheBudgetAndIsCappedSlow) {
  // 2 s per iteration against a 5 s budget: warm-up stops after its first iteration (the next batch
  // would pass half the budget), K = 1 with no calibration run, then the floor of min(2, 20) samples
  // even though the second ends at 6 s.
  FakeTimedRun fake;
  fake.per_iteration_s = 2.0;
  ProtocolSettings s = fast_settings();
  s.max_seconds_per_cell = 5;
  CellSampler cell(bind(fake), s);
  while (!cell.done()) cell.step();
  EXPECT_EQ(cell.status(), CellStatus::CappedSlow);
  EXPECT_EQ(cell.stop_reason(), StopReason::kTimeBudget);
  EXPECT_EQ(cell.sample_count(), 2);
  EXPECT_EQ(cell.iterations_per_sample(), 1);
  EXPECT_EQ(cell.calibration_runs(), 0);
  EXPECT_EQ(cell.warmup_iterations(), 1);
  EXPECT_TRUE(cell.warmup_truncated());
  EXPECT_DOUBLE_EQ(fake.total_s, 6.0);
  EXPECT_NE(cell.status_reason().find("CAPPED_SLOW"), std::string::npos);
}

TEST(Protocol, SlowCellStopsBeforeASampleThatWouldOverrunTheBudget) {
  // 0.5 s per iteration, 5 s budget: warm-up 1 + 2 iterations (1.5 s), K = 1, then samples while the
  // next one fits: 1.5 + 7 * 0.5 = 5.0 s exactly, and an 8th would end at 5.5 s.
  FakeTimedRun fake;
  fake.per_iteration_s = 0.5;
  ProtocolSettings s = fast_settings();
  s.max_seconds_per_cell = 5;
  CellSampler cell(bind(fake), s);
  while (!cell.done()) cell.step();
  EXPECT_EQ(cell.warmup_iterations(), 3);
  EXPECT_EQ(cell.sample_count(), 7);
  EXPECT_EQ(cell.status(), CellStatus::CappedSlow);  // 7 < min_samples
  EXPECT_LE(fake.total_s, 5.0);
}

TEST(Protocol, PerBackendCapsOverrideTheExperiment) {
  ProtocolCaps caps;
  caps.max_samples = 5;
  caps.max_seconds_per_cell = 1;
  caps.warmup_ms = 0;
  const ProtocolSettings s = with_caps(fast_settings(), caps);
  EXPECT_EQ(s.max_samples, 5);
  EXPECT_EQ(s.min_samples, 5);  // followed max_samples down
  EXPECT_EQ(s.max_seconds_per_cell, 1);
  EXPECT_EQ(s.cv_target, 0.03);  // untouched
  EXPECT_NO_THROW(validate_protocol_settings(s));

  FakeTimedRun fake;
  fake.noise_cv = 0.2;
  CellSampler cell(bind(fake), s);
  while (!cell.done()) cell.step();
  EXPECT_EQ(cell.sample_count(), 5);
  EXPECT_EQ(cell.status(), CellStatus::Unstable);  // 5 noisy samples prove nothing
}

TEST(Protocol, InvalidSettingsAreRejectedWithTheFieldName) {
  ProtocolSettings s = fast_settings();
  s.max_samples = 10;  // < min_samples 20
  try {
    validate_protocol_settings(s);
    FAIL() << "expected std::invalid_argument";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("max_samples"), std::string::npos) << e.what();
  }
  s = fast_settings();
  s.cv_target = 0;
  EXPECT_THROW(CellSampler([](int64_t) { return 1.0; }, s), std::invalid_argument);
  EXPECT_THROW(CellSampler(TimedRun{}, fast_settings()), std::invalid_argument);
}

TEST(Protocol, StepForTakesSamplesWorthTheSlice) {
  FakeTimedRun fake;
  fake.noise_cv = 0.2;
  CellSampler cell(bind(fake), fast_settings());
  const int64_t taken = cell.step_for(0.005);  // ~1.25 ms samples: 4 of them
  EXPECT_GE(taken, 3);
  EXPECT_LE(taken, 5);
  EXPECT_EQ(cell.step_for(0), 1);  // at least one sample per turn
}

// ---------------------------------------------------------------------------------------------------

std::vector<std::vector<size_t>> rounds_of(InterleavedScheduler& scheduler, int count) {
  std::vector<std::vector<size_t>> rounds;
  for (int i = 0; i < count; ++i) rounds.push_back(scheduler.next_round());
  return rounds;
}

TEST(InterleavedScheduler, EveryUnfinishedCellAppearsOncePerRound) {
  InterleavedScheduler scheduler(7, 42);
  std::set<size_t> unfinished = {0, 1, 2, 3, 4, 5, 6};
  for (size_t finish : {3u, 0u, 6u, 1u, 5u, 2u, 4u}) {
    std::vector<size_t> round = scheduler.next_round();
    std::sort(round.begin(), round.end());
    EXPECT_EQ(round, std::vector<size_t>(unfinished.begin(), unfinished.end()));
    scheduler.mark_done(finish);
    scheduler.mark_done(finish);  // idempotent
    unfinished.erase(finish);
    EXPECT_EQ(scheduler.remaining(), unfinished.size());
  }
  EXPECT_TRUE(scheduler.finished());
  EXPECT_TRUE(scheduler.next_round().empty());
  EXPECT_EQ(scheduler.rounds(), 7);
  EXPECT_THROW(scheduler.mark_done(7), std::out_of_range);
}

TEST(InterleavedScheduler, OrderIsDeterministicPerSeedAndDiffersAcrossSeedsAndRounds) {
  InterleavedScheduler a(8, 42), b(8, 42), c(8, 43);
  const auto rounds_a = rounds_of(a, 10);
  EXPECT_EQ(rounds_a, rounds_of(b, 10));
  EXPECT_NE(rounds_a, rounds_of(c, 10));
  // Each round is reshuffled, not one permutation repeated (10 equal rounds of 8 cells: p = (1/8!)^9).
  EXPECT_NE(std::count(rounds_a.begin(), rounds_a.end(), rounds_a[0]), 10);
  // Determinism holds with cells finishing along the way.
  InterleavedScheduler d(8, 7), e(8, 7);
  for (int i = 0; i < 5; ++i) {
    const auto rd = d.next_round();
    EXPECT_EQ(rd, e.next_round());
    d.mark_done(rd.front());
    e.mark_done(rd.front());
  }
}

TEST(InterleavedScheduler, SequentialOrderRunsOneCellToTheEnd) {
  InterleavedScheduler scheduler(3, 42, SchedulingOrder::kSequential);
  EXPECT_EQ(scheduler.next_round(), std::vector<size_t>{0});
  EXPECT_EQ(scheduler.next_round(), std::vector<size_t>{0});
  scheduler.mark_done(0);
  EXPECT_EQ(scheduler.next_round(), std::vector<size_t>{1});
}

// Two identical cells on one machine whose speed drifts (each second of work makes the next slower):
// interleaved, both see the same drift and report the same median; sequential, the second cell pays
// for all the drift. This is why the runner interleaves.
double median_ratio_under_drift(SchedulingOrder order) {
  auto now = std::make_shared<double>(0);
  auto drifting = [now](int64_t iterations) {
    const double t = static_cast<double>(iterations) * 1e-6 * (1 + 10 * *now);
    *now += t;
    return t;
  };
  ProtocolSettings s = fast_settings();
  s.warmup_ms = 10;
  s.cv_target = 1;  // converge at min_samples; drift, not noise, is under test
  s.min_samples = 40;
  std::vector<CellSampler> cells{CellSampler(drifting, s), CellSampler(drifting, s)};
  InterleavedScheduler scheduler(cells.size(), s.seed, order);
  while (!scheduler.finished())
    for (size_t c : scheduler.next_round()) {
      cells[c].step_for(0.002);
      if (cells[c].done()) scheduler.mark_done(c);
    }
  return statistics_of(cells[1]).median / statistics_of(cells[0]).median;
}

TEST(InterleavedScheduler, InterleavingSpreadsDriftOverAllCells) {
  const double interleaved = median_ratio_under_drift(SchedulingOrder::kInterleaved);
  const double sequential = median_ratio_under_drift(SchedulingOrder::kSequential);
  EXPECT_NEAR(interleaved, 1.0, 0.1);  // 1.04 here
  EXPECT_GT(sequential, 1.3);          // 1.54 here
}

}  // namespace
