// Stage 2 of `bench run` (docs/DESIGN.md §8): the experiment's model made or found, loaded, and its
// record in the result (path, sha256, name, dims, type counts, size).
#pragma once

#include <string>

#include "config/brick_cost.h"
#include "config/experiment.h"
#include "model/qwen2_model.h"
#include "result/run_result.h"

namespace bb::run {

struct ModelUnderTest {
  std::string path;
  model::Qwen2Model model;
  config::ModelTypes types;
};

// Fills r.model (and a warning for an Ollama note). Throws model::GgufError for a file that is not
// a Qwen2 GGUF, std::runtime_error when a synthetic model cannot be made or the file not hashed.
ModelUnderTest load_model(const config::Experiment& e, report::RunResult& r);

}  // namespace bb::run
