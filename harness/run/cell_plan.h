// Stage 4 of `bench run` (docs/DESIGN.md §8): the cells, (bandwidth probe + every cell spec of the
// experiment) x every backend, reference first, each with its record as far as it is known before
// anything runs: what it is, its shape and cost, its budget and whether it is graded.
#pragma once

#include <map>
#include <memory>
#include <vector>

#include "run/backend_setup.h"
#include "run/cell_runner.h"
#include "workload/cells.h"

namespace bb::run {

struct CellPlan {
  std::vector<std::unique_ptr<CellRunner>> cells;  // in preparation order: backend by backend
  std::map<const workload::CellSpec*, CellRunner*> reference_cell;  // the reference's cell of each spec
};

// The reason every planned cell carries (status SKIPPED) until it is prepared and measured or fails:
// a result file written mid-run, or left by a killed run, says so for each cell not reached yet.
inline constexpr const char* kNotReached =
    "not reached: the run had not come to this cell when this file was written";

CellPlan plan_cells(const std::vector<workload::CellSpec>& specs, const workload::CellSpec& bandwidth_spec,
                    const std::vector<std::unique_ptr<Backend>>& backends);

}  // namespace bb::run
