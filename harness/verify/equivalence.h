// Equivalence of a backend's outputs with the reference's on the same inputs (DESIGN.md §5): the
// numbers (NMSE, normwise max relative error, NaN/Inf, top-1) and the verdict against a tolerance.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "config/tolerance.h"
#include "result/run_result.h"

namespace bb::verify {

struct OutputComparison {
  double nmse = 0;         // sum (y - ref)^2 / sum ref^2 over every output value
  double max_rel = 0;      // max |y - ref| / max |ref|
  int64_t non_finite = 0;  // NaN/Inf in the candidate (a poisoned value never overwritten shows here)
  int64_t values = 0;
  std::optional<double> top1;
  std::optional<double> top1_strict;
};

// Top-1 with ties (decode and generate): on a random synthetic model with a 151,936-token vocabulary
// the reference's two best logits are often closer than the rounding error the tolerance class
// allows, so a plain argmax comparison measures the seed, not the backend. A candidate's token counts
// as top-1 when it is the reference's argmax or its reference logit is within tie_margin of the max:
//   tie_margin = 3 * sqrt(2 * tol_nmse) * rms(reference row)
// i.e. three standard deviations of the difference of two logits each off by the largest error the
// NMSE bound admits. No NMSE bound (or 0): margin 0, plain argmax.
double tie_margin(const std::vector<float>& reference_row, std::optional<double> tol_nmse);
bool top1_acceptable(const std::vector<float>& reference_row, int32_t token, double margin);

// Every output tensor of a cell, flattened in order; the two sides must have the same sizes
// (std::invalid_argument otherwise).
OutputComparison compare_outputs(const std::vector<std::vector<float>>& candidate,
                                 const std::vector<std::vector<float>>& reference);

// The verdict: non-finite fails; each bound the tolerance sets must hold.
report::Equivalence judge(const OutputComparison& c, const config::Tolerance& tolerance,
                          config::ToleranceClass cls, const std::string& reference);

}  // namespace bb::verify
