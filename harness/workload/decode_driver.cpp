#include "workload/decode_driver.h"

#include <algorithm>
#include <chrono>
#include <limits>
#include <stdexcept>

#include "workload/plan_workload.h"

namespace bb::workload {

DecodeDriver::DecodeDriver(std::shared_ptr<const plugin::LoadedPlugin> backend,
                           const model::Qwen2Model& model, int32_t n_ctx, int32_t n_threads,
                           std::shared_ptr<plugin::Context> ctx)
    : dims_(model.dims) {
  if (!backend) throw std::invalid_argument("DecodeDriver: no backend");
  const bool generate_only =
      backend->supports(BB_OP_GENERATE, BB_TYPE_ANY) && backend->api()->session_generate;
  if ((!backend->supports(BB_OP_DECODE, BB_TYPE_ANY) && !generate_only) || !backend->api()->session_create)
    throw plugin::BackendError(BB_UNSUPPORTED,
                               backend->info().name + ": does not offer the decode brick (no sessions)");
  dims_.n_ctx_max =
      std::max<int32_t>(1, std::min(n_ctx, model.dims.n_ctx_max > 0 ? model.dims.n_ctx_max : n_ctx));
  if (ctx) {
    ctx_ = std::move(ctx);
  } else {
    bb_context_args cargs{};
    cargs.struct_size = sizeof(cargs);
    cargs.n_threads = n_threads;
    ctx_ = std::make_shared<plugin::Context>(backend, cargs);
  }
  bb_session_desc sd{};
  sd.struct_size = sizeof(sd);
  sd.n_tensors = static_cast<int32_t>(model.tensors.size());
  sd.kv_type = BB_TYPE_F32;
  sd.dims = &dims_;
  sd.tensors = model.tensors.data();
  session_ = std::make_unique<plugin::Session>(ctx_, sd);
}

std::vector<float> DecodeDriver::decode(int32_t token, int32_t pos) {
  if (token < 0 || token >= dims_.n_vocab)
    throw std::invalid_argument("token " + std::to_string(token) + " is outside the vocabulary [0, " +
                                std::to_string(dims_.n_vocab) + ")");
  if (pos >= dims_.n_ctx_max)
    throw std::invalid_argument("position " + std::to_string(pos) + " exceeds the context of " +
                                std::to_string(dims_.n_ctx_max));
  bb_decode_args a{};
  a.struct_size = sizeof(a);
  a.token = token;
  a.pos = pos;
  a.iterations = 1;
  a.logits = nullptr;
  session_->decode(a);
  // Poisoned first, so a backend that leaves entries unwritten is caught by the comparison.
  std::vector<float> logits(static_cast<size_t>(dims_.n_vocab), std::numeric_limits<float>::quiet_NaN());
  session_->read_logits(logits.data(), dims_.n_vocab);
  return logits;
}

std::vector<std::vector<float>> DecodeDriver::teacher_forced(const std::vector<int32_t>& tokens) {
  std::vector<std::vector<float>> out;
  out.reserve(tokens.size());
  for (size_t p = 0; p < tokens.size(); ++p) out.push_back(decode(tokens[p], static_cast<int32_t>(p)));
  return out;
}

LogitsRecord DecodeDriver::greedy(const std::vector<int32_t>& prompt, int32_t n,
                                  const std::function<void(int, int)>& progress) {
  if (prompt.empty()) throw std::invalid_argument("greedy decode needs at least one prompt token");
  LogitsRecord r;
  r.n_vocab = dims_.n_vocab;
  r.prompt = prompt;
  const int total = static_cast<int>(prompt.size()) + n;
  int done = 0;
  for (size_t p = 0; p < prompt.size(); ++p) {
    r.prompt_logits.push_back(decode(prompt[p], static_cast<int32_t>(p)));
    if (progress) progress(++done, total);
  }
  const std::vector<float>* last = &r.prompt_logits.back();
  for (int32_t i = 0; i < n; ++i) {
    int32_t next = argmax(*last);
    r.greedy.push_back(next);
    r.greedy_logits.push_back(decode(next, static_cast<int32_t>(prompt.size()) + i));
    last = &r.greedy_logits.back();
    if (progress) progress(++done, total);
  }
  return r;
}

void DecodeDriver::write_kv_history(int32_t n_rows, uint64_t seed) {
  if (n_rows <= 0) return;
  if (!session_->can_write_kv())
    throw plugin::BackendError(
        BB_UNSUPPORTED,
        ctx_->plugin()->info().name + ": has no session_write_kv, so long contexts cannot be set up");
  const int32_t width = dims_.n_head_kv * dims_.head_dim;
  for (int32_t layer = 0; layer < dims_.n_layer; ++layer) {
    auto k = kv_history(seed, layer, false, n_rows, width);
    auto v = kv_history(seed, layer, true, n_rows, width);
    bb_kv_write_args a{};
    a.struct_size = sizeof(a);
    a.layer = layer;
    a.pos_begin = 0;
    a.n_pos = n_rows;
    a.k = k.data();
    a.v = v.data();
    session_->write_kv(a);
  }
}

double DecodeDriver::decode_timed(int32_t token, int32_t pos, int64_t iterations, double* device_seconds) {
  bb_decode_args a{};
  a.struct_size = sizeof(a);
  a.token = token;
  a.pos = pos;
  a.iterations = iterations;
  a.logits = nullptr;
  const double s = session_->decode(a);  // the call's own time (isolated plugins: the child's clock)
  if (device_seconds)
    *device_seconds = a.device_time_valid ? static_cast<double>(a.device_time_ns) * 1e-9 : -1;
  return s;
}

std::vector<int32_t> DecodeDriver::generate(const std::vector<int32_t>& prompt, int32_t pos_begin, int32_t n,
                                            double* seconds, double* device_seconds) {
  if (prompt.empty()) throw std::invalid_argument("generate needs at least one prompt token");
  std::vector<int32_t> out(static_cast<size_t>(n), -1);
  auto t0 = std::chrono::steady_clock::now();
  double call_seconds = -1;  // session_generate's own time, when the backend has it
  if (session_->can_generate()) {
    bb_generate_args a{};
    a.struct_size = sizeof(a);
    a.n_prompt = static_cast<int32_t>(prompt.size());
    a.n_generate = n;
    a.prompt = prompt.data();
    a.tokens_out = out.data();
    a.pos_begin = pos_begin;
    call_seconds = session_->generate(a);
    if (device_seconds)
      *device_seconds = a.device_time_valid ? static_cast<double>(a.device_time_ns) * 1e-9 : -1;
  } else {
    if (device_seconds) *device_seconds = -1;
    std::vector<float> logits;
    int32_t pos = pos_begin;
    for (int32_t t : prompt) logits = decode(t, pos++);
    for (int32_t i = 0; i < n; ++i) {
      out[static_cast<size_t>(i)] = argmax(logits);
      if (i + 1 < n) logits = decode(out[static_cast<size_t>(i)], pos++);
    }
  }
  if (seconds)
    *seconds = call_seconds >= 0
                   ? call_seconds
                   : std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return out;
}

}  // namespace bb::workload
