// A hand-built RunResult that exercises every field and every odd case the reporters must handle.
#pragma once

#include "result/run_result.h"

namespace bb::report::testing {

// Two backends (scalar_ref, the reference; avx_bricks) x four cells (qkv, gemv.Q4_K, ffn, decode@64):
//   qkv        both CONVERGED; avx_bricks passes equivalence (nmse 1.2e-7) and its budget (x0.85, A)
//   gemv.Q4_K  avx_bricks SKIPPED (UNSUPPORTED), no samples, stats all NaN
//   ffn        scalar_ref UNSTABLE; avx_bricks FAILED with a reason containing a comma and quotes
//   decode@64  both measured; avx_bricks fails equivalence (nmse 3.4e-2, top1 0.80) and reports
//              engine facts (engine.graph_nodes 146, engine.graph_empty_replay_ns 812.5)
// plus plugins, a skipped backend (cuda_bricks), model, environment and two warnings. Its
// experiment_json is spelled as RapidJSON's Writer spells it (canonical_json), e.g. 1e-5 as 0.00001.
RunResult sample_result();

}  // namespace bb::report::testing
