// One console line per cell while a run goes on: which cell, how many samples, how stable, how long.
#pragma once

#include <cstdint>
#include <limits>
#include <optional>
#include <string>

#include "report/run_result.h"

namespace bb::report {

struct CellProgress {
  std::string cell_id;  // "attention@512"
  std::string backend;
  int64_t samples = 0;                                          // taken so far
  double cv = std::numeric_limits<double>::quiet_NaN();         // of the samples so far
  double cv_target = std::numeric_limits<double>::quiet_NaN();  // the protocol's; NaN = not shown
  std::optional<double> median_s;                               // of the samples so far
  double elapsed_s = 0;                                         // time spent on this cell, warm-up included
  int64_t index = 0;                                            // 1-based position in the run; 0 = not shown
  int64_t count = 0;                                            // cells in the run
  std::string status;  // "" while running, "CONVERGED" etc. once finished
};

// "[ 3/24] attention@512   avx_bricks     n=  37  cv 2.41% (target 3.00%)  median 12.35 us  1.2 s"
// ASCII, no trailing newline, under 100 columns for typical names.
std::string progress_line(const CellProgress& p);

// The line for a finished cell, from its record.
std::string progress_line(const Cell& c, double elapsed_s, int64_t index = 0, int64_t count = 0);

}  // namespace bb::report
