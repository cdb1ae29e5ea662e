// The ABI side of avx_bricks: errors, argument checks, the context, and the entry points of plans
// (plans.cpp) and sessions (sessions.cpp). Every entry point runs its body through guarded(), so no
// exception ever crosses the C boundary.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <new>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "../common/plugin_glue.h"
#include "brickbench/brick_abi.h"
#include "kernels.h"
#include "ops.h"
#include "thread_pool.h"

struct bb_context {
  const bb_host_api* host = nullptr;
  std::unique_ptr<bb::avx::ThreadPool> pool;
};

namespace bb::avx::glue {

// The shared ABI glue (plugins/common/plugin_glue.h), with this plugin's name in every message.
extern plugin_util::PluginId g_plugin;
inline constexpr const char* kName = "avx_bricks";

using plugin_util::AbiError;
using plugin_util::cancel_flag_of;  // plugins/common/abi_util.h
using plugin_util::Cancelled;
using plugin_util::check_cancel;
using plugin_util::is_compact;
using plugin_util::log_line;
using plugin_util::op_name;
using plugin_util::shape_string;
using plugin_util::TensorCheck;

// Messages here name the plugin first: invalid("gemv: ...") reads "avx_bricks gemv: ...".
[[noreturn]] inline void invalid(const std::string& m) { plugin_util::invalid("avx_bricks " + m); }
[[noreturn]] inline void unsupported(const std::string& m) { plugin_util::unsupported("avx_bricks " + m); }

inline bb_error* make_error(int32_t status, const std::string& message) noexcept {
  return plugin_util::make_error(g_plugin, status, message);
}
inline void destroy_error(bb_error* error) noexcept { plugin_util::destroy_error(g_plugin, error); }

template <typename Body>
bb_error* guarded(const char* where, Body&& body) noexcept {
  return plugin_util::guarded(g_plugin, where, std::forward<Body>(body));
}

template <typename T>
void require_struct_size(const T* p, size_t needed, const std::string& where, const char* what) {
  plugin_util::require_struct_size(kName, p, needed, where, what);
}

// A matrix (2-D) or vector (1-D, one row) of a supported weight type with exact nbytes.
QMatrix check_weight(const bb_tensor& t, const TensorCheck& c);
// A 1-D weight (norm, bias) dequantized to F32.
std::vector<float> weight_vector(const bb_tensor& t, const TensorCheck& c);
LayerShape layer_shape_of(const bb_model_dims* dims, const std::string& where);

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

}  // namespace bb::avx::glue
