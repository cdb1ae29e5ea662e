// `bench run`: one experiment on every available backend, measured under the protocol of
// DESIGN.md §4, checked against the reference (§5), written down as it goes (§6).
//
// run_experiment is the stages of docs/DESIGN.md §8, in order, each in a unit of its own:
// experiment (config/) -> model record (model_record.h) -> backend setup (backend_setup.h) -> cell
// plan (cell_plan.h) -> cell execution (cell_execution.h, cell_runner.h) -> verdicts (verdicts.h)
// -> peers (peers.h) -> result sink (result_sink.h).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "config/experiment.h"
#include "plugin/registry.h"
#include "result/run_result.h"
#include "run/input_error.h"
#include "run/progress_sink.h"
#include "run/verdicts.h"

namespace bb::run {

struct RunOptions {
  std::string out_path;  // the result JSON ("" = do not write)
  plugin::SearchPaths plugin_paths;
  int32_t threads = -1;                          // -1 = the experiment's; 0 = hardware threads
  std::vector<std::string> only_backends;        // --backend: restrict the experiment's list
  int64_t bandwidth_bytes = int64_t{256} << 20;  // the copy that measures each backend's ceiling
  std::string command_line;
  double progress_interval_s = 1.0;  // at most one progress line per cell this often
  // Set to why the last write of the result file failed ("" = the file holds the result). A write
  // that fails (disk full) does not stop the run: measuring goes on into memory, each later save
  // tries again, and the progress says so once.
  std::string* write_failure = nullptr;
};

// Runs the experiment. Throws config::ConfigError / model::GgufError / InputError for problems of
// its inputs found before any measurement (model missing or corrupt, no backend at all), other
// exceptions for internal errors; everything after that is recorded in the
// result (a failing backend loses only its own cells). Stops early, with state "interrupted",
// when plugin::request_cancel() was called (SIGINT).
report::RunResult run_experiment(const config::Experiment& experiment, const RunOptions& options,
                                 const ProgressSink& progress);

}  // namespace bb::run
