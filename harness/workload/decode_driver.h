// Driving a backend's model session token by token: greedy generation and teacher-forced logits
// (feeding a given token sequence), the two ways `bench generate` and the oracle tests use a model.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "model/qwen2_model.h"
#include "plugin/backend.h"
#include "plugin/registry.h"
#include "workload/logits_record.h"

namespace bb::workload {

// A backend's session over a whole model, with the context and plugin it needs kept alive.
class DecodeDriver {
 public:
  // n_ctx: positions the KV cache must hold (clamped to the model's own context length).
  // ctx: a context of `backend` to make the session in (with its options); none = a fresh one.
  // A backend that offers generate but not decode (a whole-model peer such as ollama_client) gets a
  // session too: its decode calls are its own errors.
  DecodeDriver(std::shared_ptr<const plugin::LoadedPlugin> backend, const model::Qwen2Model& model,
               int32_t n_ctx, int32_t n_threads = 0, std::shared_ptr<plugin::Context> ctx = nullptr);
  // Decodes `token` at `pos` and returns its logits.
  std::vector<float> decode(int32_t token, int32_t pos);
  // Logits after each of `tokens`, fed from position 0.
  std::vector<std::vector<float>> teacher_forced(const std::vector<int32_t>& tokens);
  // prompt from position 0, then n greedy tokens fed back one at a time (the oracle's layout).
  // progress(i, n_total) is called after each decode when set.
  LogitsRecord greedy(const std::vector<int32_t>& prompt, int32_t n,
                      const std::function<void(int, int)>& progress = {});
  const bb_model_dims& dims() const { return dims_; }

  // Benchmark use. Fills KV rows [0, n_rows) of every layer with kv_history(seed, ...) through
  // session_write_kv; BackendError(UNSUPPORTED) when the backend has no write_kv.
  void write_kv_history(int32_t n_rows, uint64_t seed);
  // One timed call: `iterations` repeats of decoding `token` at `pos`; its seconds (Session::decode:
  // the host's clock, or an isolated plugin's host process's), logits stay in
  // the session. device_seconds is set when the backend reports device time.
  double decode_timed(int32_t token, int32_t pos, int64_t iterations, double* device_seconds = nullptr);
  // n greedy tokens after `prompt` fed from pos_begin: session_generate when the backend has it,
  // else decode + argmax here. Returns the tokens; *seconds = session_generate's own time
  // (Session::generate), or the host time of the whole decode + argmax loop;
  // *device_seconds = the time the backend reports for it (session_generate's device_time), or -1.
  std::vector<int32_t> generate(const std::vector<int32_t>& prompt, int32_t pos_begin, int32_t n,
                                double* seconds = nullptr, double* device_seconds = nullptr);
  bool can_write_kv() const { return session_->can_write_kv(); }
  // The session's key-values about its last call (ABI 1.1 session_get_metrics); empty when none.
  std::vector<std::pair<std::string, std::string>> metrics() { return session_->metrics(); }

 private:
  bb_model_dims dims_{};
  std::shared_ptr<plugin::Context> ctx_;
  std::unique_ptr<plugin::Session> session_;
};

}  // namespace bb::workload
