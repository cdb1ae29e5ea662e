// Output formats of a run, one class each (Google Benchmark's reporters): every reporter reads the
// same RunResult and writes one format. A new format is a new Reporter, not a branch in the runner.
#pragma once

#include <memory>
#include <ostream>
#include <string>
#include <string_view>
#include <vector>

#include "result/run_result.h"

namespace bb::report {

class Reporter {
 public:
  virtual ~Reporter() = default;
  // Writes the whole report for r to out.
  virtual void report(const RunResult& r, std::ostream& out) const = 0;
  // The --format name: "console", "md", "csv", "json".
  virtual std::string_view format() const = 0;
};

// An aligned ASCII table (cell, backend, median, 95% CI, CV, GB/s, % of ceiling, budget gap and grade,
// equivalence, status), then decode tok/s per backend, notes on cells that did not pass, skipped
// backends and warnings. About 100-130 columns for typical cell and backend names.
class ConsoleReporter final : public Reporter {
 public:
  void report(const RunResult& r, std::ostream& out) const override;
  std::string_view format() const override { return "console"; }
};

// The console report as GitHub-flavoured markdown: the same columns as a pipe table, sections as lists.
class MarkdownReporter final : public Reporter {
 public:
  void report(const RunResult& r, std::ostream& out) const override;
  std::string_view format() const override { return "md"; }
};

// One row per cell under a header row; RFC 4180 quoting; raw numbers in SI units (seconds, bytes,
// bytes/s, FLOP/s) in shortest round-trip form, no unit suffixes; empty where a value does not apply.
class CsvReporter final : public Reporter {
 public:
  void report(const RunResult& r, std::ostream& out) const override;
  std::string_view format() const override { return "csv"; }
  static std::vector<std::string> header();
};

// The result file's JSON (result_json).
class JsonReporter final : public Reporter {
 public:
  void report(const RunResult& r, std::ostream& out) const override;
  std::string_view format() const override { return "json"; }
};

// Google Benchmark's JSON layout (gbench_reporter.cpp says how cells map to benchmarks), so
// tools/compare.py and gbench dashboards read brickbench results.
class GbenchReporter final : public Reporter {
 public:
  void report(const RunResult& r, std::ostream& out) const override;
  std::string_view format() const override { return "gbench"; }
};

// The reporter for a --format value ("console", "md" or "markdown", "csv", "json", "gbench");
// std::invalid_argument naming the known formats otherwise.
std::unique_ptr<Reporter> make_reporter(std::string_view format);
// The --format values make_reporter accepts, for help texts.
std::vector<std::string> reporter_formats();

// RFC 4180 field: quoted (with quotes doubled) when it contains a comma, a quote, CR or LF.
std::string csv_field(std::string_view s);

}  // namespace bb::report
