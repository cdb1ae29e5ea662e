// The cells of an experiment: each brick entry of the config expanded over its contexts (attention,
// layer, decode) or weight types (gemv), with the layers its weights rotate through and its cost
// (bytes and FLOPs per call) from the model's real shapes and types.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "config/brick_cost.h"
#include "config/experiment.h"
#include "model/qwen2_model.h"

namespace bb::workload {

struct CellSpec {
  std::string id;  // "qkv", "attention@512", "gemv.Q4_K", "decode@512", "generate64@512", "copy"
  config::Brick brick = config::Brick::Copy;
  const config::BrickSpec* entry = nullptr;  // the config entry it came from (line, budgets)
  int32_t context = 0;                // attention/layer/decode/generate: KV positions attended (own included)
  int32_t weight_type = BB_TYPE_ANY;  // gemv
  int32_t kv_type = BB_TYPE_F32;
  int32_t tokens = 0;           // generate
  int64_t copy_bytes = 0;       // copy
  std::vector<int32_t> layers;  // weight sets, in rotation order (cold: every selected layer; warm: one)
  std::string gemv_role;        // gemv: "ffn_gate", ..., "output"
  int64_t gemv_rows = 0, gemv_cols = 0;
  config::BrickCost cost;  // per call (per token for decode/generate), averaged over `layers`
  std::string shape;       // for people: "8960x1536 Q4_K x28 layers"
};

// Throws config::ConfigError at the entry's line when the model cannot host a cell (context beyond
// the model's, a layer index past n_layer, a gemv type the model lacks).
std::vector<CellSpec> expand_cells(const config::Experiment& experiment, const model::Qwen2Model& model,
                                   const config::ModelTypes& types);

// The per-iteration cost of the bandwidth probe (a copy of `bytes`).
CellSpec bandwidth_probe_cell(int64_t bytes);

}  // namespace bb::workload
