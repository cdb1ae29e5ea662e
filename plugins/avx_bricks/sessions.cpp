// Sessions: a whole Qwen2 model bound by GGUF tensor names (matrices in place, vectors as F32
// copies), a KV cache of n_ctx_max rows per layer, decode and greedy generate. All buffers are
// allocated at session_create; decode allocates nothing.
#include <algorithm>
#include <chrono>
#include <cstring>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "formats.h"
#include "glue.h"

namespace av = bb::avx;

struct bb_session {
  bb_context* ctx = nullptr;
  av::LayerShape shape;
  int32_t n_layer = 0, n_vocab = 0, n_ctx = 0;
  const volatile int32_t* cancel_flag = nullptr;
  av::QMatrix token_embd, output;
  std::vector<float> output_norm;
  std::vector<av::LayerWeights> layers;
  std::vector<std::vector<float>> vectors;  // owns the F32 norms and biases the layers point at
  std::vector<av::KvCache> k, v;
  av::LayerScratch scratch;
  av::RopeTable rope;
  av::AlignedArray<float> x, xn, logits;
  av::ActQ8 act_out;
  bool has_logits = false;
};

namespace bb::avx::glue {
namespace {

class TensorIndex {
 public:
  explicit TensorIndex(const bb_session_desc& desc) {
    if (desc.n_tensors < 0) invalid("session_create: n_tensors " + std::to_string(desc.n_tensors));
    if (desc.n_tensors > 0 && desc.tensors == nullptr) invalid("session_create: tensors is NULL");
    for (int32_t i = 0; i < desc.n_tensors; ++i) {
      const bb_tensor& t = desc.tensors[i];
      if (t.struct_size < sizeof(bb_tensor))
        invalid("session_create: tensors[" + std::to_string(i) + "].struct_size " +
                std::to_string(t.struct_size) +
                " does not cover the name field (sessions find tensors by name)");
      if (t.name == nullptr) invalid("session_create: tensors[" + std::to_string(i) + "] has no name");
      if (!by_name_.emplace(t.name, &t).second)
        invalid("session_create: tensor \"" + std::string(t.name) + "\" appears twice");
    }
  }
  const bb_tensor* find(const std::string& name) const {
    const auto it = by_name_.find(name);
    return it == by_name_.end() ? nullptr : it->second;
  }
  const bb_tensor& get(const std::string& name) const {
    const bb_tensor* t = find(name);
    if (t == nullptr) invalid("session_create: tensor \"" + name + "\" is missing");
    return *t;
  }
  QMatrix matrix(const std::string& name, std::vector<int64_t> shape) const {
    return check_weight(get(name), TensorCheck{"session_create: tensor", std::move(shape), true});
  }
  std::vector<float> vector(const std::string& name, int64_t n) const {
    return weight_vector(get(name), TensorCheck{"session_create: tensor", {n}, true});
  }

 private:
  std::map<std::string, const bb_tensor*> by_name_;
};

void check_token(const bb_session& s, int32_t token, const std::string& where) {
  if (token < 0 || token >= s.n_vocab)
    invalid(where + ": token " + std::to_string(token) + " outside [0, n_vocab " + std::to_string(s.n_vocab) +
            ")");
}

void check_pos(const bb_session& s, int64_t pos, const std::string& where) {
  if (pos < 0 || pos >= s.n_ctx)
    invalid(where + ": position " + std::to_string(pos) + " outside [0, n_ctx_max " +
            std::to_string(s.n_ctx) + ")");
}

void decode_token(bb_session& s, int32_t token, int32_t pos) {
  ThreadPool& pool = *s.ctx->pool;
  const LayerShape& sh = s.shape;
  s.has_logits = false;
  dequantize_row(s.token_embd.type, s.token_embd.data + static_cast<uint64_t>(token) * s.token_embd.row_bytes,
                 s.x.data(), sh.n_embd);
  s.rope.set_pos(pos);
  for (int32_t l = 0; l < s.n_layer; ++l) {
    check_cancel(s.cancel_flag);
    layer_forward(pool, sh, s.layers[static_cast<size_t>(l)], s.x.data(), pos, s.rope,
                  s.k[static_cast<size_t>(l)], s.v[static_cast<size_t>(l)], s.scratch, s.x.data());
  }
  check_cancel(s.cancel_flag);
  rms_norm(s.x.data(), s.output_norm.data(), sh.n_embd, sh.rms_eps, s.xn.data());
  s.act_out.prepare(act_format_of(s.output.type), s.xn.data(), sh.n_embd);
  const GemvSegment head{&s.output, &s.act_out, s.logits.data(), nullptr, nullptr};
  parallel_gemv(pool, &head, 1);
  s.has_logits = true;
}

int32_t argmax(const float* x, int64_t n) {
  int32_t best = 0;
  for (int64_t i = 1; i < n; ++i)
    if (x[i] > x[best] || (x[best] != x[best] && x[i] == x[i])) best = static_cast<int32_t>(i);
  return best;
}

}  // namespace

bb_error* session_create(bb_context* ctx, const bb_session_desc* desc, bb_session** out) {
  return guarded("session_create", [&] {
    if (out == nullptr) invalid("session_create: out is NULL");
    *out = nullptr;
    if (ctx == nullptr) invalid("session_create: ctx is NULL");
    require_struct_size(desc, sizeof(bb_session_desc), "session_create", "desc");
    if (desc->kv_type != BB_TYPE_F32 && desc->kv_type != BB_TYPE_F16)
      unsupported("session_create: kv_type " + type_name(desc->kv_type) + " (avx_bricks offers F32 and F16)");
    const auto t0 = std::chrono::steady_clock::now();
    auto session = std::make_unique<bb_session>();
    bb_session& s = *session;
    s.ctx = ctx;
    s.cancel_flag = cancel_flag_of(ctx->host);
    s.shape = layer_shape_of(desc->dims, "session_create");
    const bb_model_dims& d = *desc->dims;
    for (auto [v, name] :
         {std::pair{d.n_layer, "n_layer"}, {d.n_vocab, "n_vocab"}, {d.n_ctx_max, "n_ctx_max"}})
      if (v <= 0)
        invalid(std::string("session_create: dims->") + name + " is " + std::to_string(v) + ", must be > 0");
    s.n_layer = d.n_layer;
    s.n_vocab = d.n_vocab;
    s.n_ctx = d.n_ctx_max;
    const TensorIndex index(*desc);
    const int64_t e = s.shape.n_embd, h = s.shape.q_width(), k = s.shape.kv_width(), f = s.shape.n_ff,
                  nv = d.n_vocab;
    s.token_embd = index.matrix("token_embd.weight", {nv, e});
    s.output_norm = index.vector("output_norm.weight", e);
    if (d.tied_embeddings != 0) {
      s.output = s.token_embd;
    } else if (index.find("output.weight") != nullptr) {
      s.output = index.matrix("output.weight", {nv, e});
    } else {
      invalid("session_create: tensor \"output.weight\" is missing and dims->tied_embeddings is 0");
    }
    s.vectors.reserve(static_cast<size_t>(d.n_layer) * 5);
    auto vec = [&](const std::string& name, int64_t n) {
      s.vectors.push_back(index.vector(name, n));
      return s.vectors.back().data();
    };
    for (int32_t l = 0; l < d.n_layer; ++l) {
      const std::string p = "blk." + std::to_string(l) + ".";
      LayerWeights w;
      w.attn_norm = vec(p + "attn_norm.weight", e);
      w.wq = index.matrix(p + "attn_q.weight", {h, e});
      w.bq = vec(p + "attn_q.bias", h);
      w.wk = index.matrix(p + "attn_k.weight", {k, e});
      w.bk = vec(p + "attn_k.bias", k);
      w.wv = index.matrix(p + "attn_v.weight", {k, e});
      w.bv = vec(p + "attn_v.bias", k);
      w.wo = index.matrix(p + "attn_output.weight", {e, h});
      w.ffn_norm = vec(p + "ffn_norm.weight", e);
      w.gate = index.matrix(p + "ffn_gate.weight", {f, e});
      w.up = index.matrix(p + "ffn_up.weight", {f, e});
      w.down = index.matrix(p + "ffn_down.weight", {e, f});
      s.layers.push_back(w);
    }
    s.k.resize(static_cast<size_t>(d.n_layer));
    s.v.resize(static_cast<size_t>(d.n_layer));
    for (int32_t l = 0; l < d.n_layer; ++l) {
      s.k[static_cast<size_t>(l)].init(desc->kv_type, k, s.n_ctx);
      s.v[static_cast<size_t>(l)].init(desc->kv_type, k, s.n_ctx);
    }
    s.scratch.init(s.shape, s.n_ctx, ctx->pool->size());
    s.rope.init(s.shape.head_dim, s.shape.rope_theta);
    s.x.resize(static_cast<size_t>(e) + 16);
    s.xn.resize(static_cast<size_t>(e) + 16);
    s.logits.resize(static_cast<size_t>(nv));
    s.act_out.reserve(e);
    const double ms =
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    log_line(ctx->host, BB_LOG_INFO,
             "session: " + std::to_string(d.n_layer) + " layers bound in place (no repacking), KV cache " +
                 std::to_string(s.n_ctx) + " rows " + type_name(desc->kv_type) + ", " +
                 std::to_string(ctx->pool->size()) + " threads, prepared in " + std::to_string(ms) + " ms");
    *out = session.release();
  });
}

void session_destroy(bb_session* session) { delete session; }

bb_error* session_decode(bb_session* session, bb_decode_args* args) {
  return guarded("session_decode", [&] {
    if (session == nullptr) invalid("session_decode: session is NULL");
    require_struct_size(args, sizeof(bb_decode_args), "session_decode", "args");
    args->device_time_valid = 0;
    args->device_time_ns = 0;
    check_token(*session, args->token, "decode");
    check_pos(*session, args->pos, "decode");
    if (args->iterations < 1)
      invalid("decode: iterations " + std::to_string(args->iterations) + " must be >= 1");
    for (int64_t i = 0; i < args->iterations; ++i) decode_token(*session, args->token, args->pos);
    if (args->logits != nullptr)
      std::memcpy(args->logits, session->logits.data(), static_cast<size_t>(session->n_vocab) * 4);
  });
}

bb_error* session_read_logits(bb_session* session, float* logits, int32_t n_vocab) {
  return guarded("session_read_logits", [&] {
    if (session == nullptr) invalid("session_read_logits: session is NULL");
    if (logits == nullptr) invalid("session_read_logits: logits is NULL");
    if (n_vocab != session->n_vocab)
      invalid("session_read_logits: n_vocab " + std::to_string(n_vocab) + " but the model has " +
              std::to_string(session->n_vocab));
    if (!session->has_logits) invalid("session_read_logits: no successful decode yet");
    std::memcpy(logits, session->logits.data(), static_cast<size_t>(n_vocab) * 4);
  });
}

bb_error* session_write_kv(bb_session* session, const bb_kv_write_args* args) {
  return guarded("session_write_kv", [&] {
    if (session == nullptr) invalid("session_write_kv: session is NULL");
    require_struct_size(args, sizeof(bb_kv_write_args), "session_write_kv", "args");
    bb_session& s = *session;
    if (args->layer < 0 || args->layer >= s.n_layer)
      invalid("session_write_kv: layer " + std::to_string(args->layer) + " outside [0, n_layer " +
              std::to_string(s.n_layer) + ")");
    if (args->n_pos < 0) invalid("session_write_kv: n_pos " + std::to_string(args->n_pos) + " < 0");
    if (args->pos_begin < 0 || int64_t{args->pos_begin} + args->n_pos > s.n_ctx)
      invalid("session_write_kv: positions [" + std::to_string(args->pos_begin) + ", " +
              std::to_string(int64_t{args->pos_begin} + args->n_pos) + ") outside [0, n_ctx_max " +
              std::to_string(s.n_ctx) + ")");
    if (args->n_pos > 0 && (args->k == nullptr || args->v == nullptr))
      invalid("session_write_kv: k or v is NULL");
    KvCache& kc = s.k[static_cast<size_t>(args->layer)];
    KvCache& vc = s.v[static_cast<size_t>(args->layer)];
    for (int32_t i = 0; i < args->n_pos; ++i) {
      kc.write_row(args->pos_begin + i, args->k + i * kc.width);
      vc.write_row(args->pos_begin + i, args->v + i * vc.width);
    }
  });
}

bb_error* session_generate(bb_session* session, bb_generate_args* args) {
  return guarded("session_generate", [&] {
    if (session == nullptr) invalid("session_generate: session is NULL");
    require_struct_size(args, sizeof(bb_generate_args), "session_generate", "args");
    bb_session& s = *session;
    args->device_time_valid = 0;
    args->device_time_ns = 0;
    if (args->n_prompt < 1) invalid("generate: n_prompt " + std::to_string(args->n_prompt) + " must be >= 1");
    if (args->n_generate < 0) invalid("generate: n_generate " + std::to_string(args->n_generate) + " < 0");
    if (args->prompt == nullptr) invalid("generate: prompt is NULL");
    if (args->n_generate > 0 && args->tokens_out == nullptr) invalid("generate: tokens_out is NULL");
    for (int32_t i = 0; i < args->n_prompt; ++i) check_token(s, args->prompt[i], "generate: prompt");
    const int64_t last_pos =
        int64_t{args->pos_begin} + args->n_prompt - 1 + std::max(0, args->n_generate - 1);
    check_pos(s, args->pos_begin, "generate: pos_begin");
    check_pos(s, last_pos, "generate: last position");
    int32_t pos = args->pos_begin;
    for (int32_t i = 0; i < args->n_prompt; ++i) decode_token(s, args->prompt[i], pos++);
    for (int32_t i = 0; i < args->n_generate; ++i) {
      const int32_t token = argmax(s.logits.data(), s.n_vocab);
      args->tokens_out[i] = token;
      if (i + 1 < args->n_generate) decode_token(s, token, pos++);
    }
  });
}

}  // namespace bb::avx::glue
