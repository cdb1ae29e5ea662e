// The ABI side of scalar_ref: errors, argument checks and the entry points of plans and sessions.
// Every entry point runs its body through guarded(), so no exception ever crosses the C boundary.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <new>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "../common/plugin_glue.h"
#include "brickbench/brick_abi.h"
#include "forward.h"

// One per backend instance; scalar_ref is single-threaded, so a context only remembers the host.
struct bb_context {
  const bb_host_api* host;
};

namespace bb::scalar_ref::glue {

// The shared ABI glue (plugins/common/plugin_glue.h), with this plugin's name in every message.
extern plugin_util::PluginId g_plugin;
inline constexpr const char* kName = "scalar_ref";

using plugin_util::AbiError;
using plugin_util::cancel_flag_of;
using plugin_util::element_bytes;
using plugin_util::invalid;
using plugin_util::is_compact;
using plugin_util::op_name;
using plugin_util::shape_string;
using plugin_util::TensorCheck;
using plugin_util::unsupported;

inline bb_error* make_error(int32_t status, const std::string& message) noexcept {
  return plugin_util::make_error(g_plugin, status, message);
}
inline void destroy_error(bb_error* error) noexcept { plugin_util::destroy_error(g_plugin, error); }

template <typename Body>
bb_error* guarded(const char* where, Body&& body) noexcept {
  return plugin_util::guarded(g_plugin, where, std::forward<Body>(body));
}

std::string supported_types_list();  // "F32, F16, BF16, Q4_0, Q5_0, Q8_0, Q4_K, Q5_K, Q6_K"

// Checks that a struct written by the host covers every field this plugin reads.
template <typename T>
void require_struct_size(const T* p, size_t needed, const std::string& where, const char* what) {
  plugin_util::require_struct_size(kName, p, needed, where, what);
}

// A weight of any dequantizable type (UNSUPPORTED otherwise) with exact nbytes; returns its Matrix
// (a 1-D weight is one row).
Matrix check_weight(const bb_tensor& t, const TensorCheck& c);

// Validated model hyperparameters.
LayerShape layer_shape_of(const bb_model_dims* dims, const std::string& where);

// Plans (plans.cpp) and sessions (sessions.cpp): the function table's entries.
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

}  // namespace bb::scalar_ref::glue
