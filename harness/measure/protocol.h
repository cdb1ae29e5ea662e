// The sampling protocol of one cell (one brick on one backend at one shape), DESIGN.md §4:
// warm-up by count and time, iterations per sample calibrated above the timer's resolution, adaptive
// sampling until the CV target or a cap, and a verdict that says which. Written against an abstract
// timed callable, so it runs the same on a real plan and on a fake clock in the tests.
//
// A runner drives many cells through an InterleavedScheduler so that drift (thermal, frequency,
// neighbours) hits every backend and brick alike:
//
//   InterleavedScheduler scheduler(cells.size(), settings.seed);
//   while (!scheduler.finished())
//     for (size_t c : scheduler.next_round()) {
//       cells[c].step_for(0.005);                 // a few ms of this cell, then the next one
//       if (cells[c].done()) scheduler.mark_done(c);
//     }
//   ... cells[c].status(), cells[c].samples() (and compute_statistics of them) go to the result file.
#pragma once

#include <cstdint>
#include <functional>
#include <limits>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "measure/cell_status.h"
#include "measure/statistics.h"

namespace bb::measure {

// Runs `iterations` back-to-back repetitions of the timed work and returns the elapsed seconds (>= 0).
// The caller decides what is timed: host wall time around plan_run, or the device time a backend reports
// for asynchronous work (preferred when present). Uploads and read-back stay outside.
using TimedRun = std::function<double(int64_t iterations)>;

// The smallest step steady_clock is seen to take between two reads (the tick plus the cost of a read).
double steady_clock_resolution_seconds();
// max(1 ms, 1000 x steady_clock_resolution_seconds()): a sample this long has a quantization error
// of at most 0.1%. Measured once per process.
double default_min_sample_ms();

enum class SchedulingOrder {
  kInterleaved,  // each round a seeded random permutation of the unfinished cells
  kSequential,   // one cell to the end, then the next, in index order (for debugging and comparison)
};

// Defaults are issue 3's `protocol:` block; config::Protocol (the YAML's block) is this type, so
// each setting has this one default.
struct ProtocolSettings {
  double warmup_ms = 200;                          // warm-up lasts at least this long ...
  int64_t warmup_min_iterations = 10;              // ... and at least this many iterations; all discarded
  double min_sample_ms = default_min_sample_ms();  // one sample (K iterations) lasts at least this
  int64_t min_samples = 20;                        // no verdict of CONVERGED before this many samples
  int64_t max_samples = 500;
  double cv_target = 0.03;           // CONVERGED once stdev/mean <= this (and n >= min_samples)
  double max_seconds_per_cell = 20;  // all timed work of the cell: warm-up, calibration and samples
  uint64_t seed = 42;                // scheduling order and the bootstrap
  SchedulingOrder order = SchedulingOrder::kInterleaved;
  int64_t bootstrap_resamples = 2000;
  double confidence = 0.95;  // of the median's bootstrap interval
  bool operator==(const ProtocolSettings&) const = default;
};

// Per-backend overrides, so a slow reference (scalar_ref) is measured briefly. Unset fields keep the
// experiment's value. If max_samples ends up below min_samples, min_samples follows it down, so
// {max_samples: 5} alone is a valid cap.
struct ProtocolCaps {
  std::optional<double> warmup_ms;
  std::optional<int64_t> warmup_min_iterations;
  std::optional<int64_t> min_samples;
  std::optional<int64_t> max_samples;
  std::optional<double> cv_target;
  std::optional<double> max_seconds_per_cell;
};
ProtocolSettings with_caps(ProtocolSettings base, const ProtocolCaps& caps);

// The values a setting accepts, as the config reader checks them and says them.
struct SettingRange {
  double lo, hi;                          // bounds, ...
  bool lo_open = false, hi_open = false;  // ... exclusive where open
  const char* expected;                   // in words, for the error: "a number in (0, 1)"
  bool contains(double x) const { return (lo_open ? x > lo : x >= lo) && (hi_open ? x < hi : x <= hi); }
};

// The settings a backend's caps may override, listed once (issue 13): the config reader, the
// canonical dump of the experiment and with_caps all go through this table. For each, in the
// canonical (sorted) key order: visit(key in the YAML and the result file, its range, the member of
// ProtocolSettings, the member of ProtocolCaps).
template <class Visit>
void for_each_cappable_setting(Visit&& visit) {
  constexpr double kInf = std::numeric_limits<double>::infinity();
  visit("cv_target", SettingRange{0, 1, true, true, "a number in (0, 1)"}, &ProtocolSettings::cv_target,
        &ProtocolCaps::cv_target);
  visit("max_samples", SettingRange{1, 1e8, false, false, "an integer >= 1"}, &ProtocolSettings::max_samples,
        &ProtocolCaps::max_samples);
  visit("max_seconds_per_cell", SettingRange{0, kInf, true, false, "a number > 0"},
        &ProtocolSettings::max_seconds_per_cell, &ProtocolCaps::max_seconds_per_cell);
  visit("min_samples", SettingRange{1, 1e8, false, false, "an integer >= 1"}, &ProtocolSettings::min_samples,
        &ProtocolCaps::min_samples);
  visit("warmup_min_iterations", SettingRange{0, 1e9, false, false, "an integer >= 0"},
        &ProtocolSettings::warmup_min_iterations, &ProtocolCaps::warmup_min_iterations);
  visit("warmup_ms", SettingRange{0, kInf, false, false, "a number >= 0"}, &ProtocolSettings::warmup_ms,
        &ProtocolCaps::warmup_ms);
}

// Throws std::invalid_argument naming the field, its value and the accepted range.
void validate_protocol_settings(const ProtocolSettings& settings);

enum class StopReason { kNone, kCvTarget, kMaxSamples, kTimeBudget };
const char* to_string(StopReason reason);  // "none", "cv_target", "max_samples", "time_budget"

class CellSampler {
 public:
  // std::invalid_argument if the settings are invalid or run is empty.
  CellSampler(TimedRun run, ProtocolSettings settings);

  // Warm-up, then calibration of K; runs once (later calls do nothing); step() calls it if needed.
  // Warm-up runs batches of iterations (1, 2, 4, ..., the last one trimmed to what is still needed)
  // until it has both warmup_min_iterations and warmup_ms. Its first batch always runs; after that it
  // never spends more than half of max_seconds_per_cell (warmup_truncated() then says so), so a slow
  // cell keeps time for samples. Calibration starts from the last warm-up batch's time per iteration:
  // K = ceil(1.25 min_sample / t_iter), checked by a timed run of K (discarded); a run that is too
  // short scales K by 1.25 min_sample / t, or doubles K when t is under min_sample/8 (too close to
  // the timer's resolution to scale from), until a run of K lasts min_sample_ms. When one iteration
  // alone lasts min_sample_ms, K = 1 with no calibration run. A timer that never advances makes it
  // throw std::runtime_error.
  void prepare();
  bool prepared() const { return prepared_; }

  // One sample: K iterations timed together, recorded as seconds per iteration. Prepares first if
  // needed. std::logic_error once done(). Exceptions of the timed run propagate (the runner marks the
  // cell failed); a negative or non-finite time is std::runtime_error.
  void step();
  // Samples until done() or until `seconds` of this cell's sampling time have passed in this call,
  // at least one sample unless already done; returns how many were taken. Interleaving in slices of
  // a few ms keeps per-step overhead negligible while still spreading drift over all cells.
  int64_t step_for(double seconds);

  bool done() const { return status_ != CellStatus::Running; }
  CellStatus status() const { return status_; }
  StopReason stop_reason() const { return stop_reason_; }
  // Why the cell ended, in words for the console and the result file, e.g.
  // "UNSTABLE: CV 7.41% > target 3.00% after max_samples (500)".
  std::string status_reason() const;

  const std::vector<double>& samples() const { return samples_; }  // seconds per iteration, in order
  int64_t sample_count() const { return static_cast<int64_t>(samples_.size()); }
  int64_t iterations_per_sample() const { return iterations_per_sample_; }  // K; 0 before prepare()
  int64_t warmup_iterations() const { return warmup_iterations_; }
  double warmup_seconds() const { return warmup_seconds_; }
  bool warmup_truncated() const { return warmup_truncated_; }
  int64_t calibration_runs() const { return calibration_runs_; }
  double elapsed_seconds() const { return elapsed_seconds_; }  // all timed work of this cell
  double current_cv() const;  // running stdev/mean of the samples: NaN when n < 2, 0 if all equal
  const ProtocolSettings& settings() const { return settings_; }

 private:
  double timed(int64_t iterations, const char* phase);
  void warm_up();
  void calibrate();
  void update_stop();

  TimedRun run_;
  ProtocolSettings settings_;
  bool prepared_ = false;
  CellStatus status_ = CellStatus::Running;
  StopReason stop_reason_ = StopReason::kNone;
  std::vector<double> samples_;
  int64_t iterations_per_sample_ = 0;
  int64_t warmup_iterations_ = 0;
  double warmup_seconds_ = 0;
  bool warmup_truncated_ = false;
  double seconds_per_iteration_estimate_ = 0;  // from the last warm-up batch
  int64_t calibration_runs_ = 0;
  double elapsed_seconds_ = 0;
  double sampling_seconds_ = 0;
  // Welford's running mean and sum of squared deviations, so done() costs O(1) per sample.
  double running_mean_ = 0;
  double running_m2_ = 0;
};

// Rounds of cells for the runner: each round lists every unfinished cell exactly once, in a seeded
// random order (Fisher-Yates with std::mt19937_64 and a library-independent index draw), so the order
// is reproducible from the seed and the same on every standard library. Deterministic given the seed
// and the sequence of mark_done() calls. In kSequential order each round is just the lowest-index
// unfinished cell.
class InterleavedScheduler {
 public:
  InterleavedScheduler(size_t cell_count, uint64_t seed,
                       SchedulingOrder order = SchedulingOrder::kInterleaved);

  std::vector<size_t> next_round();  // empty once finished()
  void mark_done(size_t cell);       // std::out_of_range if cell >= cell_count; idempotent
  bool is_done(size_t cell) const;
  bool finished() const { return remaining_ == 0; }
  size_t remaining() const { return remaining_; }
  size_t cell_count() const { return done_.size(); }
  int64_t rounds() const { return rounds_; }  // rounds handed out so far

 private:
  std::vector<bool> done_;
  size_t remaining_;
  std::mt19937_64 rng_;
  SchedulingOrder order_;
  int64_t rounds_ = 0;
};

}  // namespace bb::measure
