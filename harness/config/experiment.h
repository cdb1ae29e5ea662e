// An experiment: what `bench run` measures, read from a YAML file (schema: docs/CONFIG.md).
// Loading validates everything it can without the model or the plugins; every problem is a
// ConfigError naming file:line:column, the bad key or value and what is accepted.
#pragma once

#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "brickbench/brick_abi.h"
#include "config/brick.h"
#include "config/tolerance.h"
#include "measure/protocol.h"

namespace bb::config {

// what() is the whole message: "configs/qwen1.5b.yaml:12:5: unknown brick 'qkvv'; known: ...".
class ConfigError : public std::runtime_error {
 public:
  ConfigError(std::string file, int line, int column, const std::string& message);
  const std::string& file() const { return file_; }
  int line() const { return line_; }      // 1-based; 0 when the error has no position
  int column() const { return column_; }  // 1-based
 private:
  std::string file_;
  int line_, column_;
};

struct SyntheticModelSpec {
  std::string model;             // a known shape name, e.g. "qwen2.5-coder-1.5b"
  std::string quant = "q4_k_m";  // q4_k_m, q8_0, f16, f32
  uint64_t seed = 1;
};

enum class ModelSource { Gguf, Synthetic, Ollama };

struct ModelSpec {
  std::string gguf;       // as written in the config ("" = none)
  std::string gguf_path;  // gguf resolved against the config file's directory (absolute)
  bool gguf_found = false;
  std::optional<SyntheticModelSpec> synthetic;
  std::string ollama;  // Ollama tag, e.g. "qwen2.5-coder:1.5b": the ollama_client peer's model
  // Ollama: the tag resolved in Ollama's store (model/ollama_models.h) when its manifest is there.
  std::string ollama_blob_path;  // the GGUF blob every backend then runs on
  std::string ollama_digest;     // "sha256:<hex>" from the manifest
  std::string ollama_note;       // why the tag was not used as the model source ("" = it was, or no tag)
  // Gguf when the file exists, else Ollama when the tag resolves, else Synthetic (loading fails when
  // none is possible; a tag alone that does not resolve says how to pull it).
  ModelSource source = ModelSource::Synthetic;
};

// The scheduling order of cells: one enum, the sampler's.
using Order = measure::SchedulingOrder;
enum class CacheState { Cold, Warm };

// The config's `protocol:` block: the sampler's settings (one type, one default per setting:
// measure::ProtocolSettings; `seed` also seeds the inputs) and what only a run needs.
struct Protocol : measure::ProtocolSettings {
  CacheState cache = CacheState::Cold;
  // `bench run --ci` fails on UNSTABLE / CAPPED_SLOW cells of graded backends. A plumbing check on
  // a shared machine (configs/smoke.yaml) turns that off: budgets and equivalence still fail it.
  bool unstable_fails_ci = true;
  bool operator==(const Protocol&) const = default;
};

// Per-backend overrides of the protocol (unset = the protocol's value; measure::with_caps).
struct BackendCaps : measure::ProtocolCaps {
  std::string backend;
  // Measured (briefly, with the caps) and used as the truth for equivalence, but never graded:
  // no budget verdict, and its UNSTABLE cells do not fail --ci.
  bool reference_only = false;
};

// One entry of `bricks:`. A brick expands to one cell per context (attention, layer, decode) or
// per weight type (gemv).
struct BrickSpec {
  Brick brick = Brick::Copy;
  std::optional<double> budget_us;     // per call; every brick but decode/generate
  std::optional<double> budget_tok_s;  // decode, generate
  std::vector<int32_t> contexts;       // attention, layer, decode: KV positions attended (default {512})
  int32_t tokens = 0;                  // generate: tokens generated (default 64)
  std::vector<int32_t> types;          // gemv: ggml type ids, when not all_types
  bool all_types = false;              // gemv: every type present in the model (the default)
  std::vector<int32_t> layers;         // weights rotated through these layers; empty = all
  int64_t bytes = 0;                   // copy: bytes per iteration (default 256 MiB)
  int32_t kv_type = BB_TYPE_F32;       // attention, layer, decode, generate: BB_TYPE_F32 or F16
  int line = 0, column = 0;            // where the entry starts in the config (1-based)
};

inline constexpr int32_t kDefaultContext = 512;
inline constexpr int32_t kDefaultGenerateTokens = 64;
inline constexpr int64_t kDefaultCopyBytes = int64_t{256} << 20;

struct Experiment {
  std::string source;  // the config's path as given (or the display name of a string)
  std::string name;    // default: the file name without .yaml
  ModelSpec model;
  std::vector<std::string> backends;  // empty = every usable plugin; else includes the reference
  std::string reference = "scalar_ref";
  int32_t threads = 0;  // 0 = the host decides (hardware threads); at most kMaxThreads
  Protocol protocol;
  std::vector<BackendCaps> backend_caps;  // sorted by backend name
  // backend_options: {NAME: {key: value}}: settings passed verbatim to that backend's context
  // (bb_context_args.options), e.g. ollama_client's host and timeouts. Sorted by backend name.
  std::vector<std::pair<std::string, std::vector<std::pair<std::string, std::string>>>> backend_options;
  std::vector<BrickSpec> bricks;  // config order
  std::vector<ToleranceOverride> tolerance_overrides;

  // The protocol for one backend: its caps applied. A cap's max_samples below min_samples lowers
  // min_samples to it.
  Protocol protocol_for(const std::string& backend) const;
  bool reference_only(const std::string& backend) const;
  // Tolerance for a cell (weight_type: the gemv cell's type, else BB_TYPE_ANY).
  Tolerance tolerance(Brick brick, int32_t weight_type, ToleranceClass cls) const;
};

// Reads and validates a config file. base of a relative model.gguf: the file's directory.
Experiment load_experiment(const std::string& path);
// The same from text (tests); display_name stands for the file in messages, relative model.gguf
// paths resolve against base_dir ("" = the current directory).
Experiment load_experiment_from_string(const std::string& yaml, const std::string& display_name,
                                       const std::string& base_dir = "");

// The experiment as canonical JSON: fixed key order, every default filled in, effective
// tolerances of every brick, numbers in shortest round-trip form. Results record it verbatim.
// Excludes where the config came from (source, resolved gguf path), so equal specs read from
// different checkouts are equal.
std::string canonical_json(const Experiment& e);
// FNV-1a 64 of canonical_json, as 16 lower-case hex digits.
std::string experiment_hash(const Experiment& e);

// The most threads a config or --threads may ask for.
inline constexpr int32_t kMaxThreads = 4096;

// "did you mean 'protocol'? " when one of `known` is close to `word` (a typo), else "".
std::string suggestion(const std::string& word, const std::vector<std::string>& known);
// The items with `sep` between them.
std::string join(const std::vector<std::string>& items, const char* sep = ", ");

std::string_view order_name(Order o);             // "interleaved", "sequential"
std::string_view cache_state_name(CacheState c);  // "cold", "warm"

}  // namespace bb::config
