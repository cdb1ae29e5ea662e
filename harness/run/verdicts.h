// Stage 6 of `bench run` (docs/DESIGN.md §8): every verdict on a cell, decided together in one
// place once sampling has ended: equivalence with the reference's check run (DESIGN.md §5), the
// budget's gap, score and grade, the roofline fraction of the backend's measured ceiling; and, from
// the finished result, why `bench run --ci` fails it.
#pragma once

#include <string>
#include <vector>

#include "config/experiment.h"
#include "result/run_result.h"
#include "run/cell_plan.h"
#include "run/cell_runner.h"
#include "run/progress_sink.h"

namespace bb::run {

// Judges every cell of the plan into its record (CellRunner::result).
void decide_verdicts(CellPlan& plan, CellWorkloads& w, const config::Experiment& e, const ProgressSink& say);

// A backend `bench run --ci` requires: named by --require (e.g. the Ollama peer) or --backend, or
// the reference (without it no equivalence is checked). `why` says which, in the failure.
struct RequiredBackend {
  std::string name;
  std::string why;  // "--require", "--backend", "the reference"
};

// Why `bench run --ci` fails this result: budget misses, failed equivalence, UNSTABLE / CAPPED_SLOW
// / FAILED cells of graded backends; and for each `required` backend, its being skipped, none of
// its cells measured, or any of them FAILED. Empty = pass.
// unstable_fails = the experiment's protocol.unstable_fails_ci. When it is false, an UNSTABLE or
// CAPPED_SLOW cell is no failure, and neither is its budget miss (a cell that did not converge on a
// moving host has no median to grade); both are reported in `notes`, when given. A budget miss on a
// converged cell always fails.
std::vector<std::string> ci_failures(const report::RunResult& result,
                                     const std::vector<RequiredBackend>& required = {},
                                     bool unstable_fails = true, std::vector<std::string>* notes = nullptr);

}  // namespace bb::run
