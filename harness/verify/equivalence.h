// Equivalence of a backend's outputs with the reference's on the same inputs (DESIGN.md §5): the
// numbers (NMSE, normwise max relative error, NaN/Inf, top-1) and the verdict against a tolerance.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "config/tolerance.h"
#include "report/run_result.h"

namespace bb::verify {

struct OutputComparison {
  double nmse = 0;         // sum (y - ref)^2 / sum ref^2 over every output value
  double max_rel = 0;      // max |y - ref| / max |ref|
  int64_t non_finite = 0;  // NaN/Inf in the candidate (a poisoned value never overwritten shows here)
  int64_t values = 0;
  std::optional<double> top1;
};

// Every output tensor of a cell, flattened in order; the two sides must have the same sizes
// (std::invalid_argument otherwise).
OutputComparison compare_outputs(const std::vector<std::vector<float>>& candidate,
                                 const std::vector<std::vector<float>>& reference);
// Byte outputs (copy): NMSE stands for the fraction of differing bytes.
OutputComparison compare_bytes(const std::vector<uint8_t>& candidate, const std::vector<uint8_t>& reference);

// The verdict: non-finite fails; each bound the tolerance sets must hold.
report::Equivalence judge(const OutputComparison& c, const config::Tolerance& tolerance,
                          config::ToleranceClass cls, const std::string& reference);

}  // namespace bb::verify
