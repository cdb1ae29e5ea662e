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
#include <vector>

#include "brickbench/brick_abi.h"
#include "../common/abi_util.h"
#include "kernels.h"
#include "ops.h"
#include "thread_pool.h"

// Trivially destructible on purpose: the static out-of-memory error must need no code at load or unload
// (this library may be an AVX-512 build that the host loads, probes and unloads on a CPU without it).
struct bb_error {
  int32_t status;
  const char* message;  // NUL-terminated; owned (malloc) unless this is the static error
};

struct bb_context {
  const bb_host_api* host = nullptr;
  std::unique_ptr<bb::avx::ThreadPool> pool;
};

namespace bb::avx::glue {

class AbiError : public std::runtime_error {
 public:
  AbiError(bb_status status, const std::string& message) : std::runtime_error(message), status_(status) {}
  bb_status status() const { return status_; }

 private:
  bb_status status_;
};

class Cancelled : public std::runtime_error {
 public:
  Cancelled() : std::runtime_error("cancelled by the host") {}
};

[[noreturn]] inline void invalid(const std::string& m) { throw AbiError(BB_INVALID_ARGUMENT, "avx_bricks " + m); }
[[noreturn]] inline void unsupported(const std::string& m) { throw AbiError(BB_UNSUPPORTED, "avx_bricks " + m); }

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
    return make_error(BB_CANCELLED, std::string("avx_bricks ") + where + ": cancelled by the host");
  } catch (const std::bad_alloc&) {
    return make_error(BB_OUT_OF_MEMORY, std::string("avx_bricks ") + where + ": out of memory");
  } catch (const std::exception& e) {
    return make_error(BB_INTERNAL, std::string("avx_bricks ") + where + ": internal error: " + e.what());
  } catch (...) {
    return make_error(BB_INTERNAL, std::string("avx_bricks ") + where + ": internal error (unknown exception)");
  }
}

using plugin_util::cancel_flag_of;  // plugins/common/abi_util.h
using plugin_util::is_compact;
using plugin_util::op_name;
using plugin_util::shape_string;
inline void check_cancel(const volatile int32_t* flag) {
  if (flag != nullptr && *flag != 0) throw Cancelled();
}
using plugin_util::log_line;

template <typename T>
void require_struct_size(const T* p, size_t needed, const std::string& where, const char* what) {
  if (p == nullptr) invalid(where + ": " + what + " is NULL");
  if (p->struct_size < needed)
    invalid(where + ": " + what + "->struct_size " + std::to_string(p->struct_size) + " is smaller than the " +
            std::to_string(needed) + " bytes of ABI v1.0");
}

struct TensorCheck {
  std::string label;           // "qkv: weight 'wk' (set 2)"
  std::vector<int64_t> shape;  // expected, outermost first
  bool need_data = true;
};
void check_layout(const bb_tensor& t, const TensorCheck& c);
// A matrix (2-D) or vector (1-D, one row) of a supported weight type with exact nbytes.
QMatrix check_weight(const bb_tensor& t, const TensorCheck& c);
// A 1-D weight (norm, bias) dequantized to F32.
std::vector<float> weight_vector(const bb_tensor& t, const TensorCheck& c);
void check_activation(const bb_tensor& t, const TensorCheck& c, int32_t type);
void check_kv_cache(const bb_tensor& t, const TensorCheck& c);
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
