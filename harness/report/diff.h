// `bench diff`: is NEW slower than BASE? Two result files compared cell by cell (id, backend) on their
// raw samples, the way DESIGN.md section 4 asks: a Mann-Whitney U test (no normality assumed) plus a
// minimum effect size, so a regression is both statistically significant and large enough to matter.
//
// Per cell, with r = median(NEW) / median(BASE) (> 1: NEW is slower) and e = min_effect:
// - ratio CI: a percentile bootstrap of r (each file's samples resampled independently, B resamples,
//   seeded from the settings and the cell's name, so the same files always give the same interval);
//   optionally by circular blocks of ~cbrt(n) consecutive samples (--bootstrap block), which widens
//   the interval of cells whose interference came in bursts (it did not lower the A/A rate measured on
//   the development machine, docs/VALIDATION.md, so it is not the default);
// - p: two-sided Mann-Whitney U on the raw samples (measure::mann_whitney_u);
// - verdict:
//     slower   p < alpha, r > 1 + e and the CI of r lies above 1; when either cell is UNSTABLE or
//              CAPPED_SLOW (its protocol never reached the CV target), the CI must lie above 1 + e
//     faster   the mirror image: p < alpha, r < 1 / (1 + e), the CI below 1 (below 1 / (1 + e) when unstable)
//     same     neither, and the whole CI of r lies within [1/(1+e), 1+e]: whatever changed is smaller
//              than the minimum effect, with the CI's confidence
//     noisy    neither: the data can not tell a change of e from none (a change beyond e that is not
//              significant, an unstable cell, too few samples for the U test to reach alpha, or a CI
//              reaching past the minimum effect); the note says which
//     only-in-base / only-in-new   the cell was measured in one file only (missing, skipped, failed,
//              interrupted, or with fewer than 2 samples in the other)
// The comparison fails (bench diff exits 1) when any cell is `slower`, except the bandwidth-ceiling
// probe (cell id "bandwidth"), whose change is reported as a warning about the machine instead; and
// when a cell measured in BASE is not measured in NEW (only-in-base: NEW lost it, by an interrupted
// run, a backend that did not load, a failure), unless allow_missing says that is expected.
//
// Defaults and why (docs/VALIDATION.md has the measurements): alpha 0.01 keeps the per-cell false-alarm
// rate of the U test itself at 1%; min_effect 3% is below what a nightly should catch (a 10% slowdown
// of one brick) and above the run-to-run drift of a converged cell on a quiet machine.
#pragma once

#include <cstdint>
#include <memory>
#include <ostream>
#include <string>
#include <string_view>
#include <vector>

#include "result/run_result.h"

namespace bb::report {

// Most samples one cell's bootstrap draws (resamples x both sides) before it thins the sides.
inline constexpr double kBootstrapDraws = 4e7;

struct DiffSettings {
  double alpha = 0.01;       // significance level of the two-sided U test
  double min_effect = 0.03;  // relative change of the median below which a cell is never flagged
  double confidence = 0.95;  // level of the bootstrap interval of the ratio
  int64_t resamples = 2000;  // bootstrap resamples B
  uint64_t seed = 42;        // with the cell's id and backend, seeds each cell's bootstrap
  bool block_bootstrap =
      false;  // true: resample blocks of consecutive samples (bench diff --bootstrap block)
  // true: cells measured in BASE but not in NEW are reported, not failures (bench diff --allow-missing)
  bool allow_missing = false;
};

enum class DiffVerdict { Faster, Slower, Same, Noisy, OnlyInBase, OnlyInNew };
const char* diff_verdict_name(DiffVerdict v);  // "faster", "slower", "same", "noisy", "only-in-base", ...

struct CellDiff {
  std::string id, backend, brick, shape;
  std::string status_base, status_new;      // cell_status_name, or "" when the cell is absent from that file
  int64_t n_base = 0, n_new = 0;            // samples
  double median_base = 0, median_new = 0;   // seconds (NaN when not measured)
  double ratio = 0;                         // median_new / median_base (NaN for only-in-* cells)
  double ratio_lower = 0, ratio_upper = 0;  // bootstrap CI of the ratio
  double p_value = 1;                       // two-sided Mann-Whitney U
  DiffVerdict verdict = DiffVerdict::Same;
  std::string note;  // why noisy / only in one, in a few words
  // false for the bandwidth-ceiling probe (cell id "bandwidth"): it measures the machine's memory
  // system for the roofline, not a brick, so it never makes a regression; a change of it becomes a
  // warning instead (on a shared machine it moves with other processes' memory traffic).
  bool gates = true;
  bool compared() const { return verdict != DiffVerdict::OnlyInBase && verdict != DiffVerdict::OnlyInNew; }
};

// Per backend: the geometric mean of the ratios of its compared cells, and the verdict counts.
struct BackendDiffSummary {
  std::string backend;
  int compared = 0;
  double geomean_ratio = 0;  // NaN when nothing was compared
  int faster = 0, slower = 0, same = 0, noisy = 0, only_in_one = 0;
};

struct DiffResult {
  DiffSettings settings;
  std::string base_label, new_label;  // file paths (or names) as given
  std::string base_started_utc, new_started_utc;
  std::vector<CellDiff> cells;               // in BASE's table order, then NEW's cells absent from BASE
  std::vector<BackendDiffSummary> backends;  // in order of first appearance
  // Differences in machine (environment), model digest, plugin builds or protocol (experiment hash):
  // the comparison may then measure the change of setup, not of code.
  std::vector<std::string> warnings;
  int count(DiffVerdict v) const;  // cells that gate (see CellDiff::gates) with verdict v
  bool regression() const { return count(DiffVerdict::Slower) > 0; }
  int missing() const { return count(DiffVerdict::OnlyInBase); }  // measured in BASE, not in NEW
  // What bench diff exits 1 for: a regression, or a missing cell unless settings.allow_missing.
  bool failed() const { return regression() || (missing() > 0 && !settings.allow_missing); }
};

// The whole comparison. std::invalid_argument when the settings are out of range (alpha not in (0,1),
// min_effect < 0, confidence not in (0,1), resamples < 1).
DiffResult diff_results(const RunResult& base, const RunResult& next, const DiffSettings& settings = {},
                        std::string base_label = "BASE", std::string new_label = "NEW");

// The bootstrap interval of median(b) / median(a) (a: base, b: new), percentile method. Exposed for tests.
struct RatioInterval {
  double lower = 0, upper = 0;
};
// blocks: circular moving blocks of round(cbrt(n)) consecutive samples (see diff.cpp), else single samples.
RatioInterval bootstrap_ratio_of_medians(const std::vector<double>& a, const std::vector<double>& b,
                                         int64_t resamples, double confidence, uint64_t seed,
                                         bool blocks = false);

// What differs between the two runs' setups (machine, model, plugin builds, protocol, run state).
std::vector<std::string> setup_differences(const RunResult& base, const RunResult& next);

// Output formats of a diff, one class each (as the run's reporters).
class DiffReporter {
 public:
  virtual ~DiffReporter() = default;
  virtual void report(const DiffResult& d, std::ostream& out) const = 0;
  virtual std::string_view format() const = 0;
};

// Aligned table: cell, backend, base and new medians, change with its CI, p, verdict; then the
// per-backend geometric means, the warnings and the outcome line.
class DiffConsoleReporter final : public DiffReporter {
 public:
  void report(const DiffResult& d, std::ostream& out) const override;
  std::string_view format() const override { return "console"; }
};
class DiffMarkdownReporter final : public DiffReporter {
 public:
  void report(const DiffResult& d, std::ostream& out) const override;
  std::string_view format() const override { return "md"; }
};
// Machine-readable: settings, cells (numbers in SI units, ratio and CI as ratios), summaries, warnings,
// "regression": true/false.
class DiffJsonReporter final : public DiffReporter {
 public:
  void report(const DiffResult& d, std::ostream& out) const override;
  std::string_view format() const override { return "json"; }
};
// "console", "md"/"markdown", "json"; std::invalid_argument naming the known ones otherwise.
std::unique_ptr<DiffReporter> make_diff_reporter(std::string_view format);

// Texts shared by the reporters (and the HTML report's diff table).
std::string change_text(double ratio);          // "+12.3%", "-4.0%", "-" when not finite
std::string change_ci_text(const CellDiff& c);  // "[+8.1%, +16.0%]"
std::string p_value_text(double p);             // "0.0012", "<1e-6"
// "REGRESSION: 2 cells slower ...", then "MISSING: 3 cells measured in BASE but not in NEW: ..." when
// cells are missing; "OK: ..." when neither.
std::string diff_outcome_line(const DiffResult& d);
// The missing cells in few words: "ffn, rope on a; backend b (all 2 of its cells)".
std::string missing_text(const DiffResult& d);

}  // namespace bb::report
