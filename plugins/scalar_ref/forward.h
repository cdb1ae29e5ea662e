// A whole-token Qwen2 decode over a KV cache: embedding row, every layer, final norm, LM head.
#pragma once

#include <cstdint>
#include <stdexcept>
#include <vector>

#include "../common/cancel.h"
#include "ops.h"

namespace bb::scalar_ref {

struct ModelShape {
  LayerShape layer;
  int32_t n_layer = 0;
  int32_t n_vocab = 0;
  int32_t n_ctx_max = 0;
};

struct ModelWeights {
  Matrix token_embd;   // [n_vocab, E]: row = token
  Matrix output_norm;  // [E]
  Matrix output;       // [n_vocab, E]: the LM head (token_embd itself when tied)
  std::vector<LayerWeights> layers;
};

// Per-layer keys and values, n_ctx_max rows each (allocated as positions are used).
struct ModelKvCache {
  ModelKvCache(const ModelShape& s, int32_t kv_type);
  std::vector<KvCache> k, v;
};

// Thrown when the host's cancel flag is seen between layers (plugins/common/cancel.h).
using plugin_util::Cancelled;
using plugin_util::check_cancel;

// Decodes `token` at `pos` (rows 0..pos-1 of the cache are the history; row pos is written) and
// writes n_vocab logits. cancel_flag may be null; when it reads non-zero between layers the call
// throws Cancelled.
void decode_token(const ModelWeights& w, const ModelShape& s, ModelKvCache& kv, int32_t token, int32_t pos,
                  float* logits, const volatile int32_t* cancel_flag = nullptr);

// Index of the largest value; ties go to the lowest index, NaN never wins.
int32_t argmax(const float* x, int64_t n);

}  // namespace bb::scalar_ref
