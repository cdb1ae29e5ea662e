// `bench run`: one experiment on every available backend, measured under the protocol of
// DESIGN.md §4, checked against the reference (§5), written down as it goes (§6).
//
// Data flows one way: config -> cells (workload) -> plans/sessions on each backend -> a check run
// whose outputs are compared with the reference's -> interleaved sampling -> statistics ->
// roofline, budget and equivalence verdicts -> the result file, rewritten atomically each time a
// cell finishes so an interrupted run keeps what it measured.
#pragma once

#include <cstdint>
#include <functional>
#include <stdexcept>
#include <string>
#include <vector>

#include "config/experiment.h"
#include "plugin/registry.h"
#include "report/run_result.h"

namespace bb::run {

struct RunOptions {
  std::string out_path;  // the result JSON ("" = do not write)
  plugin::SearchPaths plugin_paths;
  int32_t threads = -1;                          // -1 = the experiment's; 0 = hardware threads
  std::vector<std::string> only_backends;        // --backend: restrict the experiment's list
  int64_t bandwidth_bytes = int64_t{256} << 20;  // the copy that measures each backend's ceiling
  std::string command_line;
  double progress_interval_s = 1.0;  // at most one progress line per cell this often
};

// Lines for people (progress, skips, notes); the runner never prints by itself.
using ProgressSink = std::function<void(const std::string& line)>;

// A problem of the experiment's inputs found before any measurement that no config line names (no
// backend of the experiment is available): `bench run` exits 2 for it, as for a config error.
class InputError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Runs the experiment. Throws config::ConfigError / model::GgufError / InputError for problems of
// its inputs found before any measurement (model missing or corrupt, no backend at all), other
// exceptions for internal errors; everything after that is recorded in the
// result (a failing backend loses only its own cells). Stops early, with state "interrupted",
// when plugin::request_cancel() was called (SIGINT).
report::RunResult run_experiment(const config::Experiment& experiment, const RunOptions& options,
                                 const ProgressSink& progress);

// Why `bench run --ci` fails this result: budget misses, failed equivalence, UNSTABLE / CAPPED_SLOW
// / FAILED cells of graded backends; and for each `required` backend (--require, e.g. the Ollama
// peer), its being skipped or any of its cells SKIPPED or FAILED. Empty = pass.
// unstable_fails = the experiment's protocol.unstable_fails_ci.
std::vector<std::string> ci_failures(const report::RunResult& result,
                                     const std::vector<std::string>& required = {},
                                     bool unstable_fails = true);

}  // namespace bb::run
