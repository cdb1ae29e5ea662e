#include "config/brick_cost.h"

#include <algorithm>
#include <functional>
#include <stdexcept>

#include "model/ggml_types.h"
#include "model/qwen2_model.h"
#include "model/synthetic.h"

namespace bb::config {
namespace {

using TypeOf = std::function<std::optional<int32_t>(const std::string&)>;

ModelTypes model_types_from(int32_t n_layer, bool tied, const TypeOf& type_of) {
  auto need = [&](const std::string& name) {
    auto t = type_of(name);
    if (!t) throw std::invalid_argument("model has no tensor '" + name + "'");
    return *t;
  };
  ModelTypes m;
  for (int32_t i = 0; i < n_layer; ++i) {
    const std::string p = "blk." + std::to_string(i) + ".";
    LayerTypes l;
    l.attn_q = need(p + "attn_q.weight");
    l.attn_k = need(p + "attn_k.weight");
    l.attn_v = need(p + "attn_v.weight");
    l.attn_output = need(p + "attn_output.weight");
    l.ffn_gate = need(p + "ffn_gate.weight");
    l.ffn_up = need(p + "ffn_up.weight");
    l.ffn_down = need(p + "ffn_down.weight");
    m.layers.push_back(l);
  }
  m.token_embd = need("token_embd.weight");
  m.output = tied ? m.token_embd : need("output.weight");
  return m;
}

double row_bytes(int32_t type, int64_t n) {
  auto b = bb::model::ggml_row_bytes(type, n);
  if (!b)
    throw std::invalid_argument("rows of " + std::to_string(n) + " elements are not whole blocks of " +
                                bb::model::ggml_type_name(type));
  return static_cast<double>(*b);
}

double elem_bytes(int32_t kv_type) { return kv_type == BB_TYPE_F16 ? 2.0 : 4.0; }

struct Dims {
  double E, F, H, K, V, n_head, head_dim;
  explicit Dims(const bb_model_dims& d)
      : E(d.n_embd),
        F(d.n_ff),
        H(double(d.n_head) * d.head_dim),
        K(double(d.n_head_kv) * d.head_dim),
        V(d.n_vocab),
        n_head(d.n_head),
        head_dim(d.head_dim) {}
};

// Bricks whose cost depends on which layer's weights they use.
bool uses_layer_weights(Brick b) {
  return b == Brick::RmsNorm || b == Brick::Qkv || b == Brick::OProj || b == Brick::Ffn || b == Brick::Layer;
}

BrickCost rms_norm_cost(const Dims& x) { return {4 * x.E, 8 * x.E, 0, 4 * x.E}; }

struct Role {
  const char* name;
  int32_t LayerTypes::*type;
  int64_t rows, cols;
};

std::vector<Role> roles(const bb_model_dims& d) {
  const int64_t E = d.n_embd, F = d.n_ff, H = int64_t{d.n_head} * d.head_dim,
                K = int64_t{d.n_head_kv} * d.head_dim;
  return {{"attn_q", &LayerTypes::attn_q, H, E},     {"attn_k", &LayerTypes::attn_k, K, E},
          {"attn_v", &LayerTypes::attn_v, K, E},     {"attn_output", &LayerTypes::attn_output, E, H},
          {"ffn_gate", &LayerTypes::ffn_gate, F, E}, {"ffn_up", &LayerTypes::ffn_up, F, E},
          {"ffn_down", &LayerTypes::ffn_down, E, F}};
}

}  // namespace

ModelTypes model_types_of(const bb::model::Qwen2Model& model) {
  return model_types_from(model.dims.n_layer, model.dims.tied_embeddings != 0,
                          [&](const std::string& name) -> std::optional<int32_t> {
                            for (const bb_tensor& t : model.tensors)
                              if (t.name && name == t.name) return t.type;
                            return std::nullopt;
                          });
}

ModelTypes synthetic_model_types(const bb::model::Qwen2Shape& shape, const std::string& quant) {
  const auto plan = bb::model::synthetic_tensor_plan(shape, quant);
  return model_types_from(shape.n_layer, shape.tied, [&](const std::string& name) -> std::optional<int32_t> {
    for (const auto& t : plan)
      if (t.name == name) return t.type;
    return std::nullopt;
  });
}

bb_model_dims dims_of(const bb::model::Qwen2Shape& s) {
  bb_model_dims d{};
  d.struct_size = sizeof(bb_model_dims);
  d.n_embd = s.n_embd;
  d.n_ff = s.n_ff;
  d.n_head = s.n_head;
  d.n_head_kv = s.n_head_kv;
  d.head_dim = s.n_embd / s.n_head;
  d.n_layer = s.n_layer;
  d.n_vocab = s.n_vocab;
  d.n_ctx_max = s.context_length;
  d.rms_eps = s.rms_eps;
  d.rope_theta = s.rope_theta;
  d.tied_embeddings = s.tied ? 1 : 0;
  return d;
}

BrickCost& BrickCost::operator+=(const BrickCost& o) {
  weight_bytes += o.weight_bytes;
  activation_bytes += o.activation_bytes;
  kv_bytes += o.kv_bytes;
  flops += o.flops;
  return *this;
}

BrickCost BrickCost::scaled(double k) const {
  return {weight_bytes * k, activation_bytes * k, kv_bytes * k, flops * k};
}

BrickCost gemv_cost(int32_t type, int64_t rows, int64_t cols) {
  const double r = static_cast<double>(rows), c = static_cast<double>(cols);
  return {r * row_bytes(type, cols), 4 * (r + c), 0, 2 * r * c};
}

std::optional<GemvShape> gemv_shape(const bb_model_dims& d, const ModelTypes& t, int32_t type) {
  std::optional<GemvShape> best;
  for (const Role& r : roles(d)) {
    GemvShape s{r.name, type, r.rows, r.cols, {}, true};
    for (size_t i = 0; i < t.layers.size(); ++i)
      if (t.layers[i].*r.type == type) s.layers.push_back(static_cast<int32_t>(i));
    if (!s.layers.empty() && (!best || s.rows * s.cols > best->rows * best->cols)) best = s;
  }
  if (best) return best;
  if (t.output == type) return GemvShape{"output", type, d.n_vocab, d.n_embd, {}, true};
  if (!bb::model::ggml_row_bytes(type, d.n_embd)) return std::nullopt;
  GemvShape s{"ffn_gate", type, d.n_ff, d.n_embd, {}, false};
  for (int32_t i = 0; i < d.n_layer; ++i) s.layers.push_back(i);
  return s;
}

std::vector<int32_t> gemv_types_present(const ModelTypes& t) {
  std::vector<int32_t> out = {t.output};
  for (const LayerTypes& l : t.layers)
    for (int32_t x : {l.attn_q, l.attn_k, l.attn_v, l.attn_output, l.ffn_gate, l.ffn_up, l.ffn_down})
      out.push_back(x);
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

BrickCost brick_cost(Brick brick, const bb_model_dims& d, const ModelTypes& t, int32_t layer,
                     const CostParams& p) {
  const Dims x(d);
  const bool per_layer = uses_layer_weights(brick);
  if (per_layer && (layer < 0 || layer >= static_cast<int32_t>(t.layers.size())))
    throw std::invalid_argument("layer " + std::to_string(layer) + " out of range: the model has " +
                                std::to_string(t.layers.size()) + " layers");
  const LayerTypes& l = per_layer ? t.layers[static_cast<size_t>(layer)] : LayerTypes{};
  const double kv_elem = elem_bytes(p.kv_type);
  switch (brick) {
    case Brick::Copy:
      return {0, 2.0 * static_cast<double>(p.copy_bytes), 0, 0};
    case Brick::Gemv: {
      auto s = gemv_shape(d, t, p.weight_type);
      if (!s)
        throw std::invalid_argument("no gemv of type " + bb::model::ggml_type_name(p.weight_type) +
                                    " fits this model (n_embd " + std::to_string(d.n_embd) + ")");
      return gemv_cost(s->type, s->rows, s->cols);
    }
    case Brick::RmsNorm:
      return rms_norm_cost(x);
    case Brick::Qkv: {
      BrickCost c = gemv_cost(l.attn_q, int64_t(x.H), d.n_embd);
      c += gemv_cost(l.attn_k, int64_t(x.K), d.n_embd);
      c += gemv_cost(l.attn_v, int64_t(x.K), d.n_embd);
      c.activation_bytes = 4 * (x.E + x.H + 2 * x.K);  // x read once for all three
      c.weight_bytes += 4 * (x.H + 2 * x.K);           // biases
      c.flops += x.H + 2 * x.K;
      return c;
    }
    case Brick::Rope:
      return {0, 8 * (x.H + x.K) + 4, 0, 3 * (x.H + x.K)};
    case Brick::Attention: {
      const double L = p.context;
      return {0, 8 * x.H, 2 * L * x.K * kv_elem, x.n_head * L * (4 * x.head_dim + 5)};
    }
    case Brick::OProj:
      return gemv_cost(l.attn_output, d.n_embd, int64_t(x.H));
    case Brick::Ffn: {
      BrickCost c = gemv_cost(l.ffn_gate, d.n_ff, d.n_embd);
      c += gemv_cost(l.ffn_up, d.n_ff, d.n_embd);
      c += gemv_cost(l.ffn_down, d.n_embd, d.n_ff);
      c.activation_bytes = 8 * x.E;  // x in, y out; the F-wide intermediates stay inside
      c.flops += 5 * x.F;            // silu(g) * u
      return c;
    }
    case Brick::Layer: {
      BrickCost c = rms_norm_cost(x);
      for (Brick b : {Brick::Qkv, Brick::Rope, Brick::Attention, Brick::OProj, Brick::RmsNorm, Brick::Ffn})
        c += brick_cost(b, d, t, layer, p);
      c.kv_bytes += 2 * x.K * kv_elem;  // this token's K and V row
      c.flops += 2 * x.E;               // residual adds
      return c;
    }
    case Brick::Decode:
      return decode_cost(d, t, p.context, p.kv_type);
    case Brick::Generate: {
      BrickCost c;
      for (int32_t i = 0; i < p.tokens; ++i) c += decode_cost(d, t, p.context + i, p.kv_type);
      return c;
    }
  }
  throw std::invalid_argument("unknown brick");
}

BrickCost brick_cost_average(Brick brick, const bb_model_dims& d, const ModelTypes& t, const CostParams& p) {
  if (t.layers.empty()) throw std::invalid_argument("model has no layers");
  if (!uses_layer_weights(brick)) return brick_cost(brick, d, t, 0, p);
  BrickCost sum;
  for (size_t i = 0; i < t.layers.size(); ++i) sum += brick_cost(brick, d, t, static_cast<int32_t>(i), p);
  return sum.scaled(1.0 / static_cast<double>(t.layers.size()));
}

BrickCost decode_cost(const bb_model_dims& d, const ModelTypes& t, int32_t context, int32_t kv_type) {
  const Dims x(d);
  CostParams p;
  p.context = context;
  p.kv_type = kv_type;
  BrickCost c{row_bytes(t.token_embd, d.n_embd), 4 * x.E, 0, 0};  // embedding row (dequantized) out
  for (size_t i = 0; i < t.layers.size(); ++i)
    c += brick_cost(Brick::Layer, d, t, static_cast<int32_t>(i), p);
  c += rms_norm_cost(x);
  c += gemv_cost(t.output, d.n_vocab, d.n_embd);
  return c;
}

}  // namespace bb::config
