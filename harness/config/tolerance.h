// Equivalence tolerances: how far a backend's outputs may be from the reference's on the same
// inputs, per brick, per tolerance class and (for gemv) per weight type. Defaults and the rules
// that pick them are documented in docs/CONFIG.md ("tolerances").
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

#include "brickbench/brick_abi.h"
#include "config/brick.h"

namespace bb::config {

// Backends that quantize activations to 8 bits before dot products (BB_CAP_ACT_Q8, like
// llama.cpp's CPU and CUDA kernels) get a looser class: their error against a float reference is
// dominated by that rounding, not by bugs.
enum class ToleranceClass { FloatActivations, ActQ8 };
std::string_view tolerance_class_name(ToleranceClass c);  // "float", "act_q8"

// One bound per metric; nullopt = the metric is not checked.
//  nmse    = sum_i (y_i - ref_i)^2 / sum_i ref_i^2 over every output (all positions for decode)
//  max_rel = max_i |y_i - ref_i| / max_i |ref_i|  (normwise: robust to outputs near zero)
//  top1    = fraction of positions whose argmax equals the reference's (decode: logits rows;
//            generate: generated tokens equal to the reference's, position by position)
// A non-finite output fails whatever the bounds.
struct Tolerance {
  std::optional<double> nmse;
  std::optional<double> max_rel;
  std::optional<double> top1;
  bool operator==(const Tolerance&) const = default;
};

// The built-in defaults (the table in docs/CONFIG.md).
Tolerance default_tolerance(Brick brick, ToleranceClass cls);

// A config's override of some fields (unset fields keep the default). weight_type BB_TYPE_ANY =
// every weight type of the brick; a specific type (gemv only) overrides the brick-wide values.
struct ToleranceOverride {
  Brick brick = Brick::Gemv;
  int32_t weight_type = BB_TYPE_ANY;
  ToleranceClass cls = ToleranceClass::FloatActivations;
  Tolerance values;
};

// Field by field: default(brick, cls), then the brick-wide override, then the per-type override.
Tolerance resolve_tolerance(const std::vector<ToleranceOverride>& overrides, Brick brick, int32_t weight_type,
                            ToleranceClass cls);

}  // namespace bb::config
