// What one `bench run` produced, in memory: the runner fills it cell by cell, the reporters (result
// JSON, console table, markdown, CSV) read it. Nothing here measures or decides; it records.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "measure/cell_status.h"
#include "measure/statistics.h"

namespace bb::report {

inline constexpr int kResultSchemaVersion = 1;

using KeyValues = std::vector<std::pair<std::string, std::string>>;

// How a cell ended: one type with the sampler's (measure/cell_status.h, which documents each).
using measure::cell_status_from_name;
using measure::cell_status_name;
using measure::CellStatus;

struct Equivalence {
  bool checked = false;  // false: this is the reference, or the reference had no output for it
  bool pass = false;
  std::string reference;        // backend compared against
  std::string tolerance_class;  // "float" or "act_q8"
  double nmse = 0;
  double max_rel = 0;      // max |y - ref| / max |ref|
  int64_t non_finite = 0;  // NaN/Inf outputs
  // decode: positions whose argmax is the reference's or ties with it within the class's noise
  // (verify::tie_margin); generate: the same, for the candidate's tokens teacher-forced through the
  // reference. top1_strict: plain argmax / token-by-token agreement, for information.
  std::optional<double> top1;
  std::optional<double> top1_strict;
  std::optional<double> tol_nmse, tol_max_rel, tol_top1;
  std::string note;  // why not checked, or which bound failed
};

struct Roofline {
  double bytes = 0;  // per call, from the cost model
  double flops = 0;
  double gbps = 0;  // bytes / median time
  double gflops = 0;
  double ceiling_gbps = 0;  // this backend's measured copy bandwidth (0 = not measured)
  double fraction_of_ceiling = 0;
};

struct Budget {
  bool has_budget = false;
  double budget_us = 0;  // per call (per token for decode/generate: 1e6 / budget_tok_s)
  std::optional<double> budget_tok_s;
  double gap = 0;     // measured median / budget: <= 1 meets it
  double score = 0;   // 100 * min(1, budget / measured)
  std::string grade;  // A >= 90, B >= 80, C >= 70, D >= 60, F < 60
  bool pass = false;
  bool graded = true;  // false for reference-only backends
};

// What else used the machine while a cell was measured: the interference sentinel's reading
// (run/host_load.h), from before the cell's first slice of sampling to after its last.
struct Interference {
  double window_s = 0;        // wall time of that window
  double other_cores = 0;     // other processes' mean CPU use in it, in cores (busy - this run's own)
  double steal_fraction = 0;  // time the hypervisor took from this VM, a fraction of window x cpus
  int32_t cpus = 0;           // CPUs /proc/stat counts
  bool flagged = false;       // run::interfered (host_load.h): the cell was measured under interference
};

struct Cell {
  std::string id;     // "qkv", "attention@512", "gemv.Q4_K", "decode@512", "generate64@512"
  std::string brick;  // brick name
  std::string backend;
  std::string shape;  // human-readable: "1536x8960 Q4_K, 28 layers"
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
  std::string time_source;          // "host" or "device"
  std::vector<double> samples;      // seconds per call (per token for generate), raw, in order
  measure::SampleStatistics stats;  // of samples
  std::optional<double> tok_s;      // decode / generate: 1 / median
  Roofline roofline;
  Budget budget;
  Equivalence equivalence;
  // decode / generate: the engine.* key-values (ABI 1.1 session_get_metrics, e.g. the backend's
  // CUDA graph) its session reported once after the check run, keys and values as given; empty
  // when it reported none.
  KeyValues engine;
  // nullopt: not read (no /proc/stat on this machine, or the cell was never sampled)
  std::optional<Interference> interference;
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
  std::string synthetic_spec;  // "qwen2.5-coder-1.5b q4_k_m seed 1"
  KeyValues dims;              // n_embd, n_ff, ...
  KeyValues type_counts;       // "Q4_K" -> "168"
  double weight_mib = 0;
  std::string ollama_tag;     // model.ollama of the config ("" = none)
  std::string ollama_digest;  // "sha256:<hex>" when the model is that tag's blob in Ollama's store
};

// One timed request to a whole-model peer (ollama_client): the server's own counters and
// durations, and the stream's timing seen from here. nullopt = the server did not say: unknown,
// never 0.
struct PeerRequest {
  int64_t sample = 0;  // index into the cell's samples_s this request belongs to
  std::optional<double> eval_count, eval_duration_s;
  std::optional<double> prompt_eval_count, prompt_eval_duration_s;
  std::optional<double> load_duration_s, total_duration_s;
  std::optional<double> ttft_s, gap_p50_s, gap_p99_s;  // host clock
  std::string done_reason;
  std::optional<double> decode_tok_s() const;   // eval_count / eval_duration
  std::optional<double> prefill_tok_s() const;  // prompt_eval_count / prompt_eval_duration
};

// Another backend on the same cell, against the peer: ratio = its tok/s / the peer's decode tok/s.
struct PeerVersus {
  std::string backend;
  std::optional<double> tok_s, ratio;
};

// A peer's measurements of one cell (its generate cells): every sampled request, their medians, and
// every other backend's tok/s on the same cell id beside the peer's.
struct PeerCell {
  std::string cell_id;
  std::vector<PeerRequest> requests;
  std::optional<double> decode_tok_s, prefill_tok_s, ttft_s, gap_p50_s, gap_p99_s,
      load_duration_s;  // medians
  std::vector<PeerVersus> versus;
};

// Keys every peer record states, null when unknown (the plugin's peer.* metrics without "peer.").
inline constexpr const char* kPeerFactKeys[] = {"kind",   "endpoint",  "server_version", "model",
                                                "digest", "family",    "parameter_size", "quantization_level",
                                                "size",   "size_vram", "context_length"};

struct PeerRecord {
  std::string backend;  // "ollama_client"
  KeyValues facts;      // known facts only; see kPeerFactKeys
  std::vector<PeerCell> cells;
  const std::string* fact(std::string_view key) const;  // nullptr = unknown
};

struct RunResult {
  int schema_version = kResultSchemaVersion;
  std::string tool_version, git_commit;
  std::string state = "running";  // running, complete, interrupted, failed
  std::string started_utc, finished_utc;
  std::string command_line;
  std::string experiment_name, experiment_hash, experiment_json;  // canonical JSON, verbatim
  std::string config_path;
  KeyValues environment;  // cpu, cores, governor, memory, os, compiler, gpus...
  std::vector<PluginRecord> plugins;
  std::vector<SkippedBackend> skipped_backends;
  ModelRecord model;
  std::vector<Cell> cells;
  std::vector<PeerRecord> peers;  // whole-model peers (Ollama) with their own server-side timings
  std::vector<std::string> warnings;
};

// Medians of each peer cell's requests and the versus list (every other backend's tok/s on the same
// cell id, as a ratio to the peer's decode tok/s), from r.cells. Idempotent; the runner calls it as
// cells finish.
void compare_with_peers(RunResult& r);

// The median of the values present; nullopt when none is.
std::optional<double> median_of_present(const std::vector<std::optional<double>>& values);

}  // namespace bb::report
