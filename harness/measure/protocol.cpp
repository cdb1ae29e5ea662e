#include "measure/protocol.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <limits>
#include <stdexcept>
#include <utility>

#include "measure/seeded_index.h"

namespace bb::measure {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
// Calibration aims a little above min_sample_ms so that sample-to-sample noise rarely dips below it.
constexpr double kCalibrationMargin = 1.25;
// Beyond this K, a timer that still reports less than min_sample_ms is not measuring anything.
constexpr int64_t kMaxIterationsPerSample = int64_t{1} << 40;

std::string format(const char* fmt, double a, double b = 0, double c = 0) {
  char buf[160];
  std::snprintf(buf, sizeof buf, fmt, a, b, c);
  return buf;
}

[[noreturn]] void bad_setting(const char* field, double value, const char* accepted) {
  throw std::invalid_argument(std::string("protocol setting ") + field + " = " + format("%g", value) +
                              " is out of range; accepted: " + accepted);
}

int64_t ceil_to_int(double x) {
  if (!(x < static_cast<double>(kMaxIterationsPerSample))) return kMaxIterationsPerSample;
  return std::max<int64_t>(1, static_cast<int64_t>(std::ceil(x)));
}

}  // namespace

double steady_clock_resolution_seconds() {
  using clock = std::chrono::steady_clock;
  auto best = clock::duration::max();
  for (int i = 0; i < 200; ++i) {
    const auto t0 = clock::now();
    auto t1 = clock::now();
    while (t1 == t0) t1 = clock::now();
    best = std::min(best, t1 - t0);
  }
  return std::chrono::duration<double>(best).count();
}

double default_min_sample_ms() {
  // Measured once: the clock does not change within a process, and a settings struct built in a loop
  // should not spin on the clock each time.
  static const double ms = std::max(1.0, 1000.0 * steady_clock_resolution_seconds() * 1e3);
  return ms;
}

ProtocolSettings with_caps(ProtocolSettings base, const ProtocolCaps& caps) {
  for_each_cappable_setting([&](const char*, const SettingRange&, auto setting, auto cap) {
    if (caps.*cap) base.*setting = *(caps.*cap);
  });
  if (base.max_samples >= 1) base.min_samples = std::min(base.min_samples, base.max_samples);
  return base;
}

void validate_protocol_settings(const ProtocolSettings& s) {
  if (!(s.warmup_ms >= 0 && std::isfinite(s.warmup_ms))) bad_setting("warmup_ms", s.warmup_ms, ">= 0");
  if (s.warmup_min_iterations < 0)
    bad_setting("warmup_min_iterations", static_cast<double>(s.warmup_min_iterations), ">= 0");
  if (!(s.min_sample_ms > 0 && std::isfinite(s.min_sample_ms)))
    bad_setting("min_sample_ms", s.min_sample_ms, "> 0 (default: max(1, 1000 x timer resolution))");
  if (s.min_samples < 1) bad_setting("min_samples", static_cast<double>(s.min_samples), ">= 1");
  if (s.max_samples < s.min_samples)
    bad_setting("max_samples", static_cast<double>(s.max_samples), ">= min_samples");
  if (!(s.cv_target > 0)) bad_setting("cv_target", s.cv_target, "> 0, e.g. 0.03 for 3%");
  if (!(s.max_seconds_per_cell > 0)) bad_setting("max_seconds_per_cell", s.max_seconds_per_cell, "> 0");
  if (s.bootstrap_resamples < 1)
    bad_setting("bootstrap_resamples", static_cast<double>(s.bootstrap_resamples), ">= 1, e.g. 2000");
  if (!(s.confidence > 0 && s.confidence < 1)) bad_setting("confidence", s.confidence, "(0, 1), e.g. 0.95");
}

const char* to_string(StopReason reason) {
  switch (reason) {
    case StopReason::kNone:
      return "none";
    case StopReason::kCvTarget:
      return "cv_target";
    case StopReason::kMaxSamples:
      return "max_samples";
    case StopReason::kTimeBudget:
      return "time_budget";
  }
  return "?";
}

// ---------------------------------------------------------------------------------------------------
// CellSampler

CellSampler::CellSampler(TimedRun run, ProtocolSettings settings)
    : run_(std::move(run)), settings_(std::move(settings)) {
  if (!run_) throw std::invalid_argument("CellSampler: the timed run is empty");
  validate_protocol_settings(settings_);
}

double CellSampler::timed(int64_t iterations, const char* phase) {
  const double t = run_(iterations);
  if (!std::isfinite(t) || t < 0)
    throw std::runtime_error(std::string("CellSampler ") + phase + ": the timed run returned " +
                             format("%g s for %.0f iterations", t, static_cast<double>(iterations)) +
                             "; it must return the elapsed seconds (>= 0)");
  elapsed_seconds_ += t;
  return t;
}

void CellSampler::warm_up() {
  const double warmup_s = settings_.warmup_ms / 1e3;
  const double warmup_cap_s = settings_.max_seconds_per_cell / 2;
  int64_t batch = 1;
  while (true) {
    const double t = timed(batch, "warm-up");
    warmup_iterations_ += batch;
    warmup_seconds_ += t;
    if (t > 0) seconds_per_iteration_estimate_ = t / static_cast<double>(batch);
    const bool count_met = warmup_iterations_ >= settings_.warmup_min_iterations;
    const bool time_met = warmup_seconds_ >= warmup_s;
    if (count_met && time_met) return;

    // Doubling batches keep per-call overhead small for microsecond work; the last one is trimmed
    // to what is still needed (by time and by count) so warm-up ends close to warmup_ms.
    int64_t next = batch > kMaxIterationsPerSample / 2 ? kMaxIterationsPerSample : 2 * batch;
    if (seconds_per_iteration_estimate_ > 0) {
      const int64_t for_time =
          time_met ? 0 : ceil_to_int((warmup_s - warmup_seconds_) / seconds_per_iteration_estimate_);
      const int64_t for_count = count_met ? 0 : settings_.warmup_min_iterations - warmup_iterations_;
      next = std::min(next, std::max<int64_t>({for_time, for_count, 1}));
      if (warmup_seconds_ + static_cast<double>(next) * seconds_per_iteration_estimate_ > warmup_cap_s) {
        warmup_truncated_ = true;
        return;
      }
    } else if (next >= kMaxIterationsPerSample) {
      throw std::runtime_error(
          format("CellSampler warm-up: %.0f iterations took 0 s; the timed run is "
                 "not measuring anything (broken timer or empty work?)",
                 static_cast<double>(warmup_iterations_)));
    }
    batch = next;
  }
}

void CellSampler::calibrate() {
  const double min_sample_s = settings_.min_sample_ms / 1e3;
  if (seconds_per_iteration_estimate_ >= min_sample_s) {
    iterations_per_sample_ = 1;  // one iteration alone is long enough: no calibration run needed
    return;
  }
  int64_t k = seconds_per_iteration_estimate_ > 0
                  ? ceil_to_int(kCalibrationMargin * min_sample_s / seconds_per_iteration_estimate_)
                  : 2 * std::max<int64_t>(1, warmup_iterations_);
  while (true) {
    const double t = timed(k, "calibration");
    ++calibration_runs_;
    if (t >= min_sample_s) break;
    if (k >= kMaxIterationsPerSample)
      throw std::runtime_error(
          format("CellSampler calibration: %.0f iterations took %g s, still under "
                 "min_sample_ms = %g; the timed run is not measuring anything",
                 static_cast<double>(k), t, settings_.min_sample_ms));
    if (t * 8 < min_sample_s)
      k = std::min(kMaxIterationsPerSample, 2 * k);  // too near the timer's resolution to scale from
    else
      k = std::max(k + 1, ceil_to_int(static_cast<double>(k) * kCalibrationMargin * min_sample_s / t));
  }
  iterations_per_sample_ = k;
}

void CellSampler::prepare() {
  if (prepared_) return;
  warm_up();
  calibrate();
  prepared_ = true;
}

void CellSampler::step() {
  if (done())
    throw std::logic_error(std::string("CellSampler::step() after the cell finished (") +
                           cell_status_name(status_) + ")");
  prepare();
  const double t = timed(iterations_per_sample_, "sample");
  sampling_seconds_ += t;
  const double x = t / static_cast<double>(iterations_per_sample_);
  samples_.push_back(x);
  const double n = static_cast<double>(samples_.size());
  const double delta = x - running_mean_;
  running_mean_ += delta / n;
  running_m2_ += delta * (x - running_mean_);
  update_stop();
}

int64_t CellSampler::step_for(double seconds) {
  int64_t taken = 0;
  const double start = sampling_seconds_;
  while (!done()) {
    step();
    ++taken;
    if (sampling_seconds_ - start >= seconds) break;
  }
  return taken;
}

double CellSampler::current_cv() const {
  if (samples_.size() < 2) return kNaN;
  if (running_m2_ <= 0) return 0;
  return std::sqrt(running_m2_ / static_cast<double>(samples_.size() - 1)) / running_mean_;
}

void CellSampler::update_stop() {
  const int64_t n = sample_count();
  const double cv = current_cv();
  if (n >= settings_.min_samples && cv <= settings_.cv_target) {
    status_ = CellStatus::Converged;
    stop_reason_ = StopReason::kCvTarget;
    return;
  }
  if (n >= settings_.max_samples) {
    status_ = CellStatus::Unstable;
    stop_reason_ = StopReason::kMaxSamples;
    return;
  }
  // Time budget: stop once it is spent, or when the next sample (predicted as the mean sample so far)
  // would overrun it, but never before the floor of min(2, min_samples) samples.
  const int64_t floor = std::min<int64_t>(2, settings_.min_samples);
  const double next_sample_s = sampling_seconds_ / static_cast<double>(n);
  if (n >= floor && elapsed_seconds_ + next_sample_s > settings_.max_seconds_per_cell) {
    status_ = n >= settings_.min_samples ? CellStatus::Unstable : CellStatus::CappedSlow;
    stop_reason_ = StopReason::kTimeBudget;
  }
}

std::string CellSampler::status_reason() const {
  const double n = static_cast<double>(sample_count());
  const double cv_pct = 100 * current_cv();
  const double target_pct = 100 * settings_.cv_target;
  const std::string head = std::string(cell_status_name(status_)) + ": ";
  switch (stop_reason_) {
    case StopReason::kNone:
      return head + format("%.0f samples so far, CV %.2f%% (target %.2f%%)", n, cv_pct, target_pct);
    case StopReason::kCvTarget:
      return head + format("CV %.2f%% <= target %.2f%% after %.0f samples", cv_pct, target_pct, n);
    case StopReason::kMaxSamples:
      return head + format("CV %.2f%% > target %.2f%% after max_samples (%.0f)", cv_pct, target_pct, n);
    case StopReason::kTimeBudget:
      if (status_ == CellStatus::CappedSlow)
        return head +
               format("one sample takes %.3g s against max_seconds_per_cell = %g s: ", sampling_seconds_ / n,
                      settings_.max_seconds_per_cell) +
               format("%.0f of min_samples %.0f taken", n, static_cast<double>(settings_.min_samples));
      return head +
             format("CV %.2f%% > target %.2f%% when the time budget ran out after %.0f samples", cv_pct,
                    target_pct, n) +
             format(" (max_seconds_per_cell = %g s)", settings_.max_seconds_per_cell);
  }
  return head;
}

// ---------------------------------------------------------------------------------------------------
// InterleavedScheduler

InterleavedScheduler::InterleavedScheduler(size_t cell_count, uint64_t seed, SchedulingOrder order)
    : done_(cell_count, false), remaining_(cell_count), rng_(seed), order_(order) {}

std::vector<size_t> InterleavedScheduler::next_round() {
  std::vector<size_t> round;
  if (finished()) return round;
  ++rounds_;
  for (size_t c = 0; c < done_.size(); ++c)
    if (!done_[c]) round.push_back(c);
  if (order_ == SchedulingOrder::kSequential) {
    round.resize(1);
    return round;
  }
  // Fisher-Yates (Knuth, TAOCP vol. 2, Algorithm P): a uniform permutation from n-1 index draws.
  for (size_t i = round.size(); i > 1; --i) std::swap(round[i - 1], round[seeded_index(rng_, i)]);
  return round;
}

void InterleavedScheduler::mark_done(size_t cell) {
  if (cell >= done_.size())
    throw std::out_of_range("InterleavedScheduler::mark_done: cell " + std::to_string(cell) + " of " +
                            std::to_string(done_.size()));
  if (!done_[cell]) {
    done_[cell] = true;
    --remaining_;
  }
}

bool InterleavedScheduler::is_done(size_t cell) const {
  if (cell >= done_.size())
    throw std::out_of_range("InterleavedScheduler::is_done: cell " + std::to_string(cell) + " of " +
                            std::to_string(done_.size()));
  return done_[cell];
}

}  // namespace bb::measure
