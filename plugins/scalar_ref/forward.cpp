#include "forward.h"

#include <string>

namespace bb::scalar_ref {

ModelKvCache::ModelKvCache(const ModelShape& s, int32_t kv_type) {
  k.reserve(s.n_layer);
  v.reserve(s.n_layer);
  for (int32_t l = 0; l < s.n_layer; ++l) {
    k.emplace_back(kv_type, s.layer.kv_width(), s.n_ctx_max);
    v.emplace_back(kv_type, s.layer.kv_width(), s.n_ctx_max);
  }
}

void decode_token(const ModelWeights& w, const ModelShape& s, ModelKvCache& kv, int32_t token, int32_t pos,
                  float* logits, const volatile int32_t* cancel_flag) {
  if (token < 0 || token >= s.n_vocab) {
    throw std::out_of_range("decode_token: token " + std::to_string(token) + " outside [0, " +
                            std::to_string(s.n_vocab) + ")");
  }
  if (pos < 0 || pos >= s.n_ctx_max) {
    throw std::out_of_range("decode_token: pos " + std::to_string(pos) + " outside [0, " +
                            std::to_string(s.n_ctx_max) + ")");
  }
  const int64_t e = s.layer.n_embd;
  std::vector<float> x = w.token_embd.dequantize_row(token);
  std::vector<float> y(e);
  for (int32_t l = 0; l < s.n_layer; ++l) {
    check_cancel(cancel_flag);
    layer(w.layers[l], s.layer, x.data(), pos, kv.k[l], kv.v[l], y.data());
    x.swap(y);
  }
  check_cancel(cancel_flag);
  std::vector<float> xn(e);
  rms_norm(x.data(), w.output_norm, e, s.layer.rms_eps, xn.data());
  gemv(w.output, xn.data(), logits);
}

int32_t argmax(const float* x, int64_t n) {
  int32_t best = 0;
  for (int64_t i = 1; i < n; ++i) {
    if (x[i] > x[best] || (x[best] != x[best] && x[i] == x[i])) best = static_cast<int32_t>(i);
  }
  return best;
}

}  // namespace bb::scalar_ref
