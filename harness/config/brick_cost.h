// Bytes moved and FLOPs of each brick, from the model's shapes and weight types: the numerator of
// the roofline (GB/s, GFLOP/s, fraction of the measured ceiling) and the basis of derived budgets.
//
// Conventions (docs/CONFIG.md, "Brick cost model"):
//  - Weights count at their exact GGUF storage size (ggml_row_bytes per row); 1-D weights (norms,
//    biases) are F32.
//  - Activations are F32 (the ABI's): every input read once, every output written once.
//  - KV cache: attention at context L reads L rows of K and L rows of V (2 * L * n_head_kv *
//    head_dim * 4 bytes for an F32 cache, 2 bytes an element for F16); `layer` also writes this
//    token's row of each.
//  - layer = rms_norm + qkv + rope + attention + o_proj + rms_norm + ffn (+ the KV row write and
//    two residual adds); decode = embedding row + every layer + output norm + LM head GEMV
//    (n_vocab x n_embd); generate N from context C = decode at C, C+1, ..., C+N-1.
//  - FLOPs: 2 per multiply-add; bias add, SiLU (5 per element), softmax (5 per score), RoPE (6 per
//    rotated pair) and RMS norm (4 per element) counted; dequantization and exp are not.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "brickbench/brick_abi.h"
#include "config/brick.h"
#include "config/experiment.h"

namespace bb::model {
struct Qwen2Model;
struct Qwen2Shape;
}  // namespace bb::model

namespace bb::config {

// ggml type ids of one layer's matrices.
struct LayerTypes {
  int32_t attn_q = BB_TYPE_F32, attn_k = BB_TYPE_F32, attn_v = BB_TYPE_F32, attn_output = BB_TYPE_F32;
  int32_t ffn_gate = BB_TYPE_F32, ffn_up = BB_TYPE_F32, ffn_down = BB_TYPE_F32;
};

struct ModelTypes {
  std::vector<LayerTypes> layers;  // [n_layer]
  int32_t token_embd = BB_TYPE_F32;
  int32_t output = BB_TYPE_F32;  // the LM head: output.weight, or token_embd's type when tied
};

// Types of a loaded model (throws std::invalid_argument naming a missing tensor).
ModelTypes model_types_of(const bb::model::Qwen2Model& model);
// Types of the synthetic model `bench` writes for a shape and quant (q4_k_m: the real mix).
ModelTypes synthetic_model_types(const bb::model::Qwen2Shape& shape, const std::string& quant);
// Dims of a known shape (head_dim = n_embd / n_head); n_ctx_max = the shape's context length.
bb_model_dims dims_of(const bb::model::Qwen2Shape& shape);

struct BrickCost {
  double weight_bytes = 0;
  double activation_bytes = 0;
  double kv_bytes = 0;
  double flops = 0;
  double bytes() const { return weight_bytes + activation_bytes + kv_bytes; }
  BrickCost& operator+=(const BrickCost& o);
  BrickCost scaled(double k) const;
};

struct CostParams {
  int32_t context = kDefaultContext;        // attention, layer, decode: KV positions attended;
                                            // generate: those of its first token
  int32_t kv_type = BB_TYPE_F32;            // BB_TYPE_F32 or BB_TYPE_F16
  int32_t weight_type = BB_TYPE_ANY;        // gemv: the cell's weight type
  int32_t tokens = kDefaultGenerateTokens;  // generate
  int64_t copy_bytes = kDefaultCopyBytes;   // copy
};

// The matrix a gemv cell of one weight type multiplies: the largest per-layer matrix of that type
// (ties: attn_q, attn_k, attn_v, attn_output, ffn_gate, ffn_up, ffn_down), rotated through the
// layers where that matrix has the type; else the LM head when it has the type; else (a type the
// model lacks) ffn_gate's shape filled with weights of that type, when n_embd is whole blocks of it.
struct GemvShape {
  std::string role;  // "ffn_gate", ..., "output" (the LM head)
  int32_t type = BB_TYPE_F32;
  int64_t rows = 0, cols = 0;
  std::vector<int32_t> layers;  // layers whose `role` has `type`; empty for the LM head
  bool in_model = true;         // false: no tensor of the model has this type
};
std::optional<GemvShape> gemv_shape(const bb_model_dims& d, const ModelTypes& t, int32_t type);
// Types of the model's matrices (what `type: all` expands to), ascending by id.
std::vector<int32_t> gemv_types_present(const ModelTypes& t);

// y = W x with W [rows, cols] of `type`; throws std::invalid_argument when cols is not a whole
// number of blocks of the type.
BrickCost gemv_cost(int32_t type, int64_t rows, int64_t cols);
// One brick with layer `layer`'s weights (ignored by bricks without per-layer weights).
// Throws std::invalid_argument on a bad layer or a gemv type gemv_shape cannot place.
BrickCost brick_cost(Brick brick, const bb_model_dims& d, const ModelTypes& t, int32_t layer,
                     const CostParams& p = {});
// The mean over every layer: what a cell rotating weights through the whole model moves per call.
BrickCost brick_cost_average(Brick brick, const bb_model_dims& d, const ModelTypes& t,
                             const CostParams& p = {});
// One whole token at a context: embedding row, all layers, output norm, LM head.
BrickCost decode_cost(const bb_model_dims& d, const ModelTypes& t, int32_t context,
                      int32_t kv_type = BB_TYPE_F32);

}  // namespace bb::config
