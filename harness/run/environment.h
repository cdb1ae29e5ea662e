// Facts about the machine a run measured on, for the result file (DESIGN.md §6) and for `bench diff`
// to warn when two runs come from different machines.
#pragma once

#include "result/run_result.h"

namespace bb::run {

// cpu_model, cpu_cores (online), cpu_flags_simd (avx2, avx512f, ...), governor, memory_total_mib,
// os, kernel, hostname, compiler (of bench), gpus (nvidia-smi when present, else "none").
report::KeyValues collect_environment();
std::string utc_now_iso8601();  // "2026-11-26T12:34:56Z"

}  // namespace bb::run
