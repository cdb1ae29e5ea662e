// How a cell ended, one type for the sampler (measure/protocol.h), the runner and the result file
// (result/run_result.h, which spells it in JSON and tables). CONVERGED / UNSTABLE / CAPPED_SLOW
// come from the protocol; the others from the runner: SKIPPED (the backend lacks the op or type:
// UNSUPPORTED; or not reached yet), FAILED (an error while preparing or running), INTERRUPTED (the
// run was stopped before the cell finished); with `bench run --isolate`, CRASHED (the backend's
// plugin host died: signal, exit, escaped exception, memory limit; the reason names it and the call
// and brick it was in) and TIMEOUT (a call outlived --isolate-timeout). RUNNING is the sampler's
// state before it ends; no result file holds it.
#pragma once

#include <optional>
#include <string_view>

namespace bb::measure {

enum class CellStatus {
  Converged,  // n >= min_samples and CV <= cv_target
  Unstable,   // max_samples or the time budget reached with CV still above the target
  // The time budget ran out before min_samples samples, because one sample is long against the
  // budget (typically K = 1 and one iteration takes seconds: a scalar reference at a large shape).
  // Such a cell still gets min(2, min_samples) samples, even past the budget, so it has a median and
  // a spread; then it stops as soon as the budget is spent or the next sample would not fit in what
  // is left. Its numbers are honest but few: a runner treats it like UNSTABLE for --ci unless the
  // backend is configured as reference-only.
  CappedSlow,
  Skipped,
  Failed,
  Interrupted,
  Crashed,
  Timeout,
  Running,  // the sampler's: not done yet
};

const char* cell_status_name(CellStatus s);  // "CONVERGED", ..., "RUNNING"
// The inverse of cell_status_name (exact, upper case) for the statuses a result file may hold
// (RUNNING is none of them), or nullopt.
std::optional<CellStatus> cell_status_from_name(std::string_view name);

}  // namespace bb::measure
