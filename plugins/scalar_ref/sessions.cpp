// Sessions: a whole Qwen2 model bound by GGUF tensor names, a KV cache, decode and greedy generate.
#include <algorithm>
#include <cstring>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "abi_glue.h"
#include "dequant.h"
#include "forward.h"

namespace sr = bb::scalar_ref;

struct bb_session {
  sr::ModelShape shape;
  sr::ModelWeights weights;
  std::unique_ptr<sr::ModelKvCache> kv;
  const volatile int32_t* cancel_flag = nullptr;
  std::vector<float> logits;
  bool has_logits = false;
};

namespace bb::scalar_ref::glue {
namespace {

class TensorIndex {
 public:
  TensorIndex(const bb_session_desc& desc) {
    if (desc.n_tensors < 0) invalid("scalar_ref session_create: n_tensors " + std::to_string(desc.n_tensors));
    if (desc.n_tensors > 0 && desc.tensors == nullptr) invalid("scalar_ref session_create: tensors is NULL");
    for (int32_t i = 0; i < desc.n_tensors; ++i) {
      const bb_tensor& t = desc.tensors[i];
      if (t.struct_size < sizeof(bb_tensor)) {
        invalid("scalar_ref session_create: tensors[" + std::to_string(i) + "].struct_size " +
                std::to_string(t.struct_size) +
                " does not cover the name field (sessions find tensors by name)");
      }
      if (t.name == nullptr)
        invalid("scalar_ref session_create: tensors[" + std::to_string(i) + "] has no name");
      if (!by_name_.emplace(t.name, &t).second) {
        invalid("scalar_ref session_create: tensor \"" + std::string(t.name) + "\" appears twice");
      }
    }
  }

  const bb_tensor* find(const std::string& name) const {
    const auto it = by_name_.find(name);
    return it == by_name_.end() ? nullptr : it->second;
  }

  Matrix weight(const std::string& name, std::vector<int64_t> shape) const {
    const bb_tensor* t = find(name);
    if (t == nullptr) invalid("scalar_ref session_create: tensor \"" + name + "\" is missing");
    return check_weight(*t, TensorCheck{"session_create: tensor", std::move(shape), true});
  }

 private:
  std::map<std::string, const bb_tensor*> by_name_;
};

ModelShape model_shape_of(const bb_model_dims* dims) {
  ModelShape s;
  s.layer = layer_shape_of(dims, "session_create");
  auto positive = [&](int32_t v, const char* name) {
    if (v <= 0)
      invalid(std::string("scalar_ref session_create: dims->") + name + " is " + std::to_string(v) +
              ", must be > 0");
  };
  positive(dims->n_layer, "n_layer");
  positive(dims->n_vocab, "n_vocab");
  positive(dims->n_ctx_max, "n_ctx_max");
  s.n_layer = dims->n_layer;
  s.n_vocab = dims->n_vocab;
  s.n_ctx_max = dims->n_ctx_max;
  return s;
}

ModelWeights bind_weights(const TensorIndex& index, const ModelShape& s, bool tied) {
  const int64_t e = s.layer.n_embd, h = s.layer.q_width(), k = s.layer.kv_width(), f = s.layer.n_ff,
                v = s.n_vocab;
  ModelWeights w;
  w.token_embd = index.weight("token_embd.weight", {v, e});
  w.output_norm = index.weight("output_norm.weight", {e});
  if (tied) {
    w.output = w.token_embd;
  } else if (index.find("output.weight") != nullptr) {
    w.output = index.weight("output.weight", {v, e});
  } else {
    invalid("scalar_ref session_create: tensor \"output.weight\" is missing and dims->tied_embeddings is 0");
  }
  for (int32_t l = 0; l < s.n_layer; ++l) {
    const std::string p = "blk." + std::to_string(l) + ".";
    LayerWeights lw;
    lw.attn_norm = index.weight(p + "attn_norm.weight", {e});
    lw.qkv.wq = index.weight(p + "attn_q.weight", {h, e});
    lw.qkv.bq = index.weight(p + "attn_q.bias", {h});
    lw.qkv.wk = index.weight(p + "attn_k.weight", {k, e});
    lw.qkv.bk = index.weight(p + "attn_k.bias", {k});
    lw.qkv.wv = index.weight(p + "attn_v.weight", {k, e});
    lw.qkv.bv = index.weight(p + "attn_v.bias", {k});
    lw.wo = index.weight(p + "attn_output.weight", {e, h});
    lw.ffn_norm = index.weight(p + "ffn_norm.weight", {e});
    lw.ffn.gate = index.weight(p + "ffn_gate.weight", {f, e});
    lw.ffn.up = index.weight(p + "ffn_up.weight", {f, e});
    lw.ffn.down = index.weight(p + "ffn_down.weight", {e, f});
    w.layers.push_back(lw);
  }
  return w;
}

void check_token(const bb_session& s, int32_t token, const std::string& where) {
  if (token < 0 || token >= s.shape.n_vocab) {
    invalid("scalar_ref " + where + ": token " + std::to_string(token) + " outside [0, n_vocab " +
            std::to_string(s.shape.n_vocab) + ")");
  }
}

void check_pos(const bb_session& s, int64_t pos, const std::string& where) {
  if (pos < 0 || pos >= s.shape.n_ctx_max) {
    invalid("scalar_ref " + where + ": position " + std::to_string(pos) + " outside [0, n_ctx_max " +
            std::to_string(s.shape.n_ctx_max) + ")");
  }
}

void decode_into_session(bb_session& s, int32_t token, int32_t pos) {
  s.has_logits = false;
  decode_token(s.weights, s.shape, *s.kv, token, pos, s.logits.data(), s.cancel_flag);
  s.has_logits = true;
}

}  // namespace

bb_error* session_create(bb_context* ctx, const bb_session_desc* desc, bb_session** out) {
  return guarded("session_create", [&] {
    if (out == nullptr) invalid("scalar_ref session_create: out is NULL");
    *out = nullptr;
    if (ctx == nullptr) invalid("scalar_ref session_create: ctx is NULL");
    require_struct_size(desc, sizeof(bb_session_desc), "session_create", "desc");
    if (desc->kv_type != BB_TYPE_F32 && desc->kv_type != BB_TYPE_F16) {
      unsupported("scalar_ref session_create: kv_type " + type_name(desc->kv_type) +
                  " (scalar_ref offers F32 and F16)");
    }
    auto session = std::make_unique<bb_session>();
    session->shape = model_shape_of(desc->dims);
    const TensorIndex index(*desc);
    session->weights = bind_weights(index, session->shape, desc->dims->tied_embeddings != 0);
    session->kv = std::make_unique<ModelKvCache>(session->shape, desc->kv_type);
    session->cancel_flag = cancel_flag_of(ctx->host);
    session->logits.assign(static_cast<size_t>(session->shape.n_vocab), 0.0f);
    *out = session.release();
  });
}

void session_destroy(bb_session* session) { delete session; }

bb_error* session_decode(bb_session* session, bb_decode_args* args) {
  return guarded("session_decode", [&] {
    if (session == nullptr) invalid("scalar_ref session_decode: session is NULL");
    require_struct_size(args, sizeof(bb_decode_args), "session_decode", "args");
    args->device_time_valid = 0;
    args->device_time_ns = 0;
    check_token(*session, args->token, "decode");
    check_pos(*session, args->pos, "decode");
    if (args->iterations < 1) {
      invalid("scalar_ref decode: iterations " + std::to_string(args->iterations) + " must be >= 1");
    }
    for (int64_t i = 0; i < args->iterations; ++i) decode_into_session(*session, args->token, args->pos);
    if (args->logits != nullptr) {
      std::memcpy(args->logits, session->logits.data(), session->logits.size() * sizeof(float));
    }
  });
}

bb_error* session_read_logits(bb_session* session, float* logits, int32_t n_vocab) {
  return guarded("session_read_logits", [&] {
    if (session == nullptr) invalid("scalar_ref session_read_logits: session is NULL");
    if (logits == nullptr) invalid("scalar_ref session_read_logits: logits is NULL");
    if (n_vocab != session->shape.n_vocab) {
      invalid("scalar_ref session_read_logits: n_vocab " + std::to_string(n_vocab) + " but the model has " +
              std::to_string(session->shape.n_vocab));
    }
    if (!session->has_logits) invalid("scalar_ref session_read_logits: no successful decode yet");
    std::memcpy(logits, session->logits.data(), session->logits.size() * sizeof(float));
  });
}

bb_error* session_write_kv(bb_session* session, const bb_kv_write_args* args) {
  return guarded("session_write_kv", [&] {
    if (session == nullptr) invalid("scalar_ref session_write_kv: session is NULL");
    require_struct_size(args, sizeof(bb_kv_write_args), "session_write_kv", "args");
    const ModelShape& s = session->shape;
    if (args->layer < 0 || args->layer >= s.n_layer) {
      invalid("scalar_ref session_write_kv: layer " + std::to_string(args->layer) + " outside [0, n_layer " +
              std::to_string(s.n_layer) + ")");
    }
    if (args->n_pos < 0)
      invalid("scalar_ref session_write_kv: n_pos " + std::to_string(args->n_pos) + " < 0");
    if (args->pos_begin < 0 || int64_t{args->pos_begin} + args->n_pos > s.n_ctx_max) {
      invalid("scalar_ref session_write_kv: positions [" + std::to_string(args->pos_begin) + ", " +
              std::to_string(int64_t{args->pos_begin} + args->n_pos) + ") outside [0, n_ctx_max " +
              std::to_string(s.n_ctx_max) + ")");
    }
    if (args->n_pos > 0 && (args->k == nullptr || args->v == nullptr)) {
      invalid("scalar_ref session_write_kv: k or v is NULL");
    }
    KvCache& kc = session->kv->k[static_cast<size_t>(args->layer)];
    KvCache& vc = session->kv->v[static_cast<size_t>(args->layer)];
    kc.ensure_rows(int64_t{args->pos_begin} + args->n_pos);
    vc.ensure_rows(int64_t{args->pos_begin} + args->n_pos);
    const int64_t width = s.layer.kv_width();
    for (int32_t i = 0; i < args->n_pos; ++i) {
      kc.write_row(args->pos_begin + i, args->k + i * width);
      vc.write_row(args->pos_begin + i, args->v + i * width);
    }
  });
}

bb_error* session_generate(bb_session* session, bb_generate_args* args) {
  return guarded("session_generate", [&] {
    if (session == nullptr) invalid("scalar_ref session_generate: session is NULL");
    require_struct_size(args, sizeof(bb_generate_args), "session_generate", "args");
    args->device_time_valid = 0;
    args->device_time_ns = 0;
    if (args->n_prompt < 1)
      invalid("scalar_ref generate: n_prompt " + std::to_string(args->n_prompt) + " must be >= 1");
    if (args->n_generate < 0)
      invalid("scalar_ref generate: n_generate " + std::to_string(args->n_generate) + " < 0");
    if (args->prompt == nullptr) invalid("scalar_ref generate: prompt is NULL");
    if (args->n_generate > 0 && args->tokens_out == nullptr)
      invalid("scalar_ref generate: tokens_out is NULL");
    for (int32_t i = 0; i < args->n_prompt; ++i) check_token(*session, args->prompt[i], "generate: prompt");
    // Positions used: the prompt, then every generated token but the last is fed back.
    const int64_t last_pos =
        int64_t{args->pos_begin} + args->n_prompt - 1 + std::max(0, args->n_generate - 1);
    check_pos(*session, args->pos_begin, "generate: pos_begin");
    check_pos(*session, last_pos, "generate: last position");

    int32_t pos = args->pos_begin;
    for (int32_t i = 0; i < args->n_prompt; ++i) decode_into_session(*session, args->prompt[i], pos++);
    for (int32_t i = 0; i < args->n_generate; ++i) {
      const int32_t token = argmax(session->logits.data(), session->shape.n_vocab);
      args->tokens_out[i] = token;
      if (i + 1 < args->n_generate) decode_into_session(*session, token, pos++);
    }
  });
}

}  // namespace bb::scalar_ref::glue
