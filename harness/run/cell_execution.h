// Stage 5 of `bench run` (docs/DESIGN.md §8), every cell: each prepared in plan order (the
// reference's first, so its outputs exist before anyone is compared with them), then every prepared
// cell sampled in interleaved rounds (measure::InterleavedScheduler) until each is done, failed or
// the run is cancelled. Google Benchmark's scheduling loop, with CellRunner its BenchmarkRunner.
#pragma once

#include <cstdint>
#include <functional>
#include <vector>

#include "measure/protocol.h"
#include "run/cell_plan.h"
#include "run/cell_runner.h"
#include "run/progress_sink.h"

namespace bb::run {

// Called as each cell ends: measured = its measurement was recorded (false: a sampling call failed).
using CellFinished = std::function<void(CellRunner& cell, bool measured)>;
// Called as each cell has been prepared (whatever came of it).
using CellPrepared = std::function<void(CellRunner& cell)>;

// Prepares every cell (CellRunner::prepare) until a cancel; returns the cells that can be sampled.
std::vector<CellRunner*> prepare_cells(CellPlan& plan, CellWorkloads& w, const ProgressSink& say,
                                       const CellPrepared& prepared = {});

// Samples `runnable` in rounds of the scheduler until all are done; a cancel
// (plugin::request_cancel) ends the rest as INTERRUPTED. Returns whether the run was interrupted.
bool sample_cells(const std::vector<CellRunner*>& runnable, uint64_t seed, measure::SchedulingOrder order,
                  double progress_interval_s, const ProgressSink& say, const CellFinished& finished);

// After an interruption: the cells it came before are INTERRUPTED with why. Returns them.
std::vector<CellRunner*> mark_unprepared_interrupted(CellPlan& plan);

}  // namespace bb::run
