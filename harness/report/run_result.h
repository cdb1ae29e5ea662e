// What one `bench run` produced, in memory: the runner fills it cell by cell, the reporters (result
// JSON, console table, markdown, CSV) read it. Nothing here measures or decides; it records.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "measure/statistics.h"

namespace bb::report {

inline constexpr int kResultSchemaVersion = 1;

using KeyValues = std::vector<std::pair<std::string, std::string>>;

// How a cell ended. CONVERGED / UNSTABLE / CAPPED_SLOW come from the protocol; the others from the
// runner: SKIPPED (the backend lacks the op or type: UNSUPPORTED), FAILED (an error while preparing
// or running), INTERRUPTED (the run was stopped before the cell finished).
enum class CellStatus { Converged, Unstable, CappedSlow, Skipped, Failed, Interrupted };
const char* cell_status_name(CellStatus s);  // "CONVERGED", ...
// The inverse of cell_status_name (exact, upper case), or nullopt.
std::optional<CellStatus> cell_status_from_name(std::string_view name);

struct Equivalence {
  bool checked = false;   // false: this is the reference, or the reference had no output for it
  bool pass = false;
  std::string reference;  // backend compared against
  std::string tolerance_class;  // "float" or "act_q8"
  double nmse = 0;
  double max_rel = 0;           // max |y - ref| / max |ref|
  int64_t non_finite = 0;       // NaN/Inf outputs
  std::optional<double> top1;   // decode: logits argmax agreement; generate: token agreement
  std::optional<double> tol_nmse, tol_max_rel, tol_top1;
  std::string note;             // why not checked, or which bound failed
};

struct Roofline {
  double bytes = 0;             // per call, from the cost model
  double flops = 0;
  double gbps = 0;              // bytes / median time
  double gflops = 0;
  double ceiling_gbps = 0;      // this backend's measured copy bandwidth (0 = not measured)
  double fraction_of_ceiling = 0;
};

struct Budget {
  bool has_budget = false;
  double budget_us = 0;          // per call (per token for decode/generate: 1e6 / budget_tok_s)
  std::optional<double> budget_tok_s;
  double gap = 0;                // measured median / budget: <= 1 meets it
  double score = 0;              // 100 * min(1, budget / measured)
  std::string grade;             // A >= 90, B >= 80, C >= 70, D >= 60, F < 60
  bool pass = false;
  bool graded = true;            // false for reference-only backends
};

struct Cell {
  std::string id;       // "qkv", "attention@512", "gemv.Q4_K", "decode@512", "generate64@512"
  std::string brick;    // brick name
  std::string backend;
  std::string shape;    // human-readable: "1536x8960 Q4_K, 28 layers"
  int32_t context = 0;
  int32_t weight_type = -1;
  int32_t tokens = 0;
  int32_t n_weight_sets = 0;  // layers rotated through (cold cache)
  CellStatus status = CellStatus::Skipped;
  std::string status_reason;
  // protocol
  int64_t warmup_iterations = 0;
  double warmup_seconds = 0;
  int64_t iterations_per_sample = 0;
  std::string time_source;    // "host" or "device"
  std::vector<double> samples;  // seconds per call (per token for generate), raw, in order
  measure::SampleStatistics stats;  // of samples
  std::optional<double> tok_s;      // decode / generate: 1 / median
  Roofline roofline;
  Budget budget;
  Equivalence equivalence;
};

struct PluginRecord {
  std::string name, version, path, sha256;
  uint32_t abi_major = 0, abi_minor = 0;
  int32_t probe_score = 0;
  KeyValues build_info;
};

struct SkippedBackend {
  std::string name;
  std::string reason;
};

struct ModelRecord {
  std::string path, sha256, name;
  bool synthetic = false;
  std::string synthetic_spec;   // "qwen2.5-coder-1.5b q4_k_m seed 1"
  KeyValues dims;               // n_embd, n_ff, ...
  KeyValues type_counts;        // "Q4_K" -> "168"
  double weight_mib = 0;
};

struct RunResult {
  int schema_version = kResultSchemaVersion;
  std::string tool_version, git_commit;
  std::string state = "running";  // running, complete, interrupted, failed
  std::string started_utc, finished_utc;
  std::string command_line;
  std::string experiment_name, experiment_hash, experiment_json;  // canonical JSON, verbatim
  std::string config_path;
  KeyValues environment;        // cpu, cores, governor, memory, os, compiler, gpus...
  std::vector<PluginRecord> plugins;
  std::vector<SkippedBackend> skipped_backends;
  ModelRecord model;
  std::vector<Cell> cells;
  std::vector<std::string> warnings;
};

}  // namespace bb::report
