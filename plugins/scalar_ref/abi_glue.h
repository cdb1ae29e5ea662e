// The ABI side of scalar_ref: errors, argument checks and the entry points of plans and sessions.
// Every entry point runs its body through guarded(), so no exception ever crosses the C boundary.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <new>
#include <stdexcept>
#include <string>
#include <vector>

#include "brickbench/brick_abi.h"
#include "../common/abi_util.h"
#include "forward.h"

// The ABI's opaque error: made here, freed by error_destroy.
struct bb_error {
  int32_t status;
  std::string message;
};

// One per backend instance; scalar_ref is single-threaded, so a context only remembers the host.
struct bb_context {
  const bb_host_api* host;
};

namespace bb::scalar_ref::glue {

// An error with its ABI status, thrown inside the plugin and turned into a bb_error at the boundary.
class AbiError : public std::runtime_error {
 public:
  AbiError(bb_status status, const std::string& message) : std::runtime_error(message), status_(status) {}
  bb_status status() const { return status_; }

 private:
  bb_status status_;
};

[[noreturn]] inline void invalid(const std::string& message) { throw AbiError(BB_INVALID_ARGUMENT, message); }
[[noreturn]] inline void unsupported(const std::string& message) { throw AbiError(BB_UNSUPPORTED, message); }

// Never throws: under memory exhaustion it hands out a static OUT_OF_MEMORY error.
bb_error* make_error(int32_t status, const std::string& message) noexcept;
void destroy_error(bb_error* error) noexcept;

template <typename Body>
bb_error* guarded(const char* where, Body&& body) noexcept {
  try {
    body();
    return nullptr;
  } catch (const AbiError& e) {
    return make_error(e.status(), e.what());
  } catch (const Cancelled&) {
    return make_error(BB_CANCELLED, std::string("scalar_ref ") + where + ": cancelled by the host");
  } catch (const std::bad_alloc&) {
    return make_error(BB_OUT_OF_MEMORY, std::string("scalar_ref ") + where + ": out of memory");
  } catch (const std::exception& e) {
    return make_error(BB_INTERNAL, std::string("scalar_ref ") + where + ": internal error: " + e.what());
  } catch (...) {
    return make_error(BB_INTERNAL,
                      std::string("scalar_ref ") + where + ": internal error (unknown exception)");
  }
}

using plugin_util::op_name;  // plugins/common/abi_util.h
using plugin_util::shape_string;
std::string supported_types_list();  // "F32, F16, BF16, Q4_0, Q5_0, Q8_0, Q4_K, Q5_K, Q6_K"

// The host's cancel flag, or null when the host has none.
using plugin_util::cancel_flag_of;
using plugin_util::is_compact;

// Checks that a struct written by the host covers every field this plugin reads.
template <typename T>
void require_struct_size(const T* p, size_t needed, const std::string& where, const char* what) {
  if (p == nullptr) invalid("scalar_ref " + where + ": " + what + " is NULL");
  if (p->struct_size < needed) {
    invalid("scalar_ref " + where + ": " + what + "->struct_size " + std::to_string(p->struct_size) +
            " is smaller than the " + std::to_string(needed) + " bytes of ABI v1.0");
  }
}

// What a tensor must be. `label` names it in messages, e.g. "qkv: weight 'wk' (set 2)".
struct TensorCheck {
  std::string label;
  std::vector<int64_t> shape;  // expected, outermost first
  bool need_data = true;       // false for descriptors (data may be NULL)
};

// Common checks of any tensor: struct_size, CPU-accessible, compact, the expected ndim and shape.
void check_layout(const bb_tensor& t, const TensorCheck& c);
// A weight of any dequantizable type (UNSUPPORTED otherwise) with exact nbytes; returns its Matrix
// (a 1-D weight is one row).
Matrix check_weight(const bb_tensor& t, const TensorCheck& c);
// An activation of a fixed type (F32, I32, I8) with exact nbytes when data is present.
void check_activation(const bb_tensor& t, const TensorCheck& c, int32_t type);
// A KV cache tensor [rows, width], F32 or F16 (UNSUPPORTED otherwise).
void check_kv_cache(const bb_tensor& t, const TensorCheck& c);
uint64_t element_bytes(int32_t type);  // F32 4, F16 2, I32 4, I8 1

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
