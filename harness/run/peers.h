// Stage 7 of `bench run` (docs/DESIGN.md §8): a whole-model peer's cell (its calls carried peer.*
// metrics, e.g. ollama_client) into RunResult::peers with every sampled request's server-side
// timings and whether it served the same weights.
#pragma once

#include "result/run_result.h"
#include "run/cell_runner.h"

namespace bb::run {

// Does nothing for a cell whose calls carried no peer.* metrics (not a peer).
void record_peer(const CellRunner& cell, report::RunResult& r);

}  // namespace bb::run
