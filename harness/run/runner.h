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

// Runs the experiment. Throws config::ConfigError / std::runtime_error for problems found before
// any measurement (model missing, no backend at all); everything after that is recorded in the
// result (a failing backend loses only its own cells). Stops early, with state "interrupted",
// when plugin::request_cancel() was called (SIGINT).
report::RunResult run_experiment(const config::Experiment& experiment, const RunOptions& options,
                                 const ProgressSink& progress);

// Why `bench run --ci` fails this result: budget misses, failed equivalence, UNSTABLE / CAPPED_SLOW
// / FAILED cells of graded backends; and for each `required` backend (--require, e.g. the Ollama
// peer), its being skipped or any of its cells SKIPPED or FAILED. Empty = pass.
// unstable_fails = the experiment's protocol.unstable_fails_ci. When it is false, an UNSTABLE or
// CAPPED_SLOW cell is no failure, and neither is its budget miss (a cell that did not converge on a
// moving host has no median to grade); both are reported in `notes`, when given. A budget miss on a
// converged cell always fails.
std::vector<std::string> ci_failures(const report::RunResult& result,
                                     const std::vector<std::string>& required = {},
                                     bool unstable_fails = true, std::vector<std::string>* notes = nullptr);

}  // namespace bb::run
