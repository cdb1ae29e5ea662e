// Synthetic Qwen2.5-Coder models: the real shapes, the real Q4_K_M type mix, seeded random weights
// that are valid blocks of each type (finite scales, never all zeros), written as GGUF that
// llama.cpp loads.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace bb::model {

struct Qwen2Shape {
  std::string name;  // "qwen2.5-coder-1.5b"
  int32_t n_embd, n_ff, n_layer, n_head, n_head_kv, n_vocab;
  bool tied;
  double rms_eps, rope_theta;
  int32_t context_length;
};

const std::vector<Qwen2Shape>& known_qwen2_shapes();  // 0.5b, 1.5b, 3b, 7b, 32b
const Qwen2Shape& find_qwen2_shape(
    const std::string& name);  // throws std::invalid_argument listing known names

// The ggml type llama-quantize's Q4_K_M picks for a tensor (the rule of q4_k_m_mix.json).
// tied_embeddings: the model has no output.weight, so token_embd.weight doubles as the LM head
// and gets the LM head's type (Q6_K, or Q8_0 when ne0 is not a multiple of 256).
int32_t q4_k_m_type(const std::string& tensor_name, int64_t ne0, int n_layer, bool is_1d,
                    bool tied_embeddings = false);

struct SynthOptions {
  std::string model;             // a known shape name
  std::string quant = "q4_k_m";  // q4_k_m, q8_0, f16, f32
  uint64_t seed = 1;
  int threads = 0;             // 0 = hardware threads
  bool show_progress = false;  // percent done to stderr while filling
};

const std::vector<std::string>& known_synth_quants();  // q4_k_m, q8_0, f16, f32

// One tensor of a synthetic model: GGUF name, ggml type id, GGUF ne (ne[0] = row length).
struct SynthTensor {
  std::string name;
  int32_t type;
  std::vector<int64_t> ne;
};
// Every tensor of the model in file order (token_embd, blk.0 .. blk.N-1 each sorted by name,
// output_norm, output when untied) with the types `quant` gives them. Throws std::invalid_argument
// for an unknown quant.
std::vector<SynthTensor> synthetic_tensor_plan(const Qwen2Shape& shape, const std::string& quant);
// The bytes write_synthetic_gguf stores for tensor t: a function of (seed, t.name, t.type, t.ne)
// only, whatever the thread count. dst holds exactly the tensor's byte size.
void fill_synthetic_tensor(const SynthTensor& t, uint64_t seed, uint8_t* dst, int threads = 1);

// Writes the file (atomically: temp + rename).
void write_synthetic_gguf(const SynthOptions& opt, const std::string& path);
// The cache directory: $BRICKBENCH_CACHE_DIR, else $XDG_CACHE_HOME/brickbench, else ~/.cache/brickbench.
std::string cache_dir();
// The cached file for these options, synthesizing it on first use (progress to stderr).
std::string ensure_synthetic_model(const SynthOptions& opt);

}  // namespace bb::model
