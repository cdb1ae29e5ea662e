// The ABI side of llama_cpp shared by plugin.cpp (function table, contexts, build facts) and
// session.cpp (decode and generate through libllama).
#pragma once

#include <cstdint>
#include <string>
#include <utility>

#include "brickbench/brick_abi.h"
#include "plugin_glue.h"

struct bb_context {
  const bb_host_api* host = nullptr;
  int32_t n_threads = 1;  // llama_context n_threads (the experiment's threads, else the host's)
  // llama_flash_attn_type, backend option flash_attn: off (0, the default: the oracle's setting, and the
  // CPU kernel rounds Q to F16), on (1), auto (-1, llama.cpp's own default)
  int32_t flash_attn = 0;
};

namespace bb::llama_cpp {

extern plugin_util::PluginId g_plugin;
inline constexpr const char* kName = "llama_cpp";

using plugin_util::AbiError;
using plugin_util::log_line;
using plugin_util::type_name;

// Messages name the plugin first: invalid("decode: ...") reads "llama_cpp decode: ...".
[[noreturn]] inline void invalid(const std::string& m) { plugin_util::invalid(std::string(kName) + " " + m); }
[[noreturn]] inline void unsupported(const std::string& m) {
  plugin_util::unsupported(std::string(kName) + " " + m);
}
[[noreturn]] inline void internal(const std::string& m) {
  throw AbiError(BB_INTERNAL, std::string(kName) + " " + m);
}

template <typename Body>
bb_error* guarded(const char* where, Body&& body) noexcept {
  return plugin_util::guarded(g_plugin, where, std::forward<Body>(body));
}

template <typename T>
void require_struct_size(const T* p, size_t needed, const std::string& where, const char* what) {
  plugin_util::require_struct_size(kName, p, needed, where, what);
}

// llama_backend_init once per process, and llama.cpp's log lines routed to the host's log.
void init_llama_once(const bb_host_api* host);

// plans.cpp: gemv and rms_norm as ggml graphs.
bb_error* plan_create(bb_context* ctx, const bb_plan_desc* desc, bb_plan** out);
void plan_destroy(bb_plan* plan);
bb_error* plan_write_inputs(bb_plan* plan, int32_t n_inputs, const bb_tensor* inputs);
bb_error* plan_run(bb_plan* plan, bb_run_args* args);
bb_error* plan_read_outputs(bb_plan* plan, int32_t n_outputs, bb_tensor* outputs);

bb_error* session_create(bb_context* ctx, const bb_session_desc* desc, bb_session** out);
void session_destroy(bb_session* session);
bb_error* session_decode(bb_session* session, bb_decode_args* args);
bb_error* session_read_logits(bb_session* session, float* logits, int32_t n_vocab);
bb_error* session_write_kv(bb_session* session, const bb_kv_write_args* args);
bb_error* session_generate(bb_session* session, bb_generate_args* args);
bb_error* session_get_metrics(bb_session* session, const bb_kv** kvs, size_t* n_kvs);

}  // namespace bb::llama_cpp
