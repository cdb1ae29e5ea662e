// Small helpers every plugin of this repository needs at the C ABI boundary, written once: op and
// type names for messages, shape strings, the host's cancel flag and log callback, the compact-layout test.
// Header-only and inline on purpose: no static initializers and no instruction-set flags of its own
// (avx_bricks' AVX-512 build must load and probe on a CPU without AVX-512), and nothing to link.
#pragma once

#include <cstdint>
#include <string>

#include "brickbench/brick_abi.h"
#include "cancel.h"  // Cancelled, check_cancel

namespace bb::plugin_util {

// "gemv", "rms_norm", ...; "op#?" for ids outside the enum.
inline const char* op_name(int32_t op) {
  switch (op) {
    case BB_OP_COPY:
      return "copy";
    case BB_OP_GEMV:
      return "gemv";
    case BB_OP_RMS_NORM:
      return "rms_norm";
    case BB_OP_QKV:
      return "qkv";
    case BB_OP_ROPE:
      return "rope";
    case BB_OP_ATTENTION:
      return "attention";
    case BB_OP_O_PROJ:
      return "o_proj";
    case BB_OP_FFN:
      return "ffn";
    case BB_OP_LAYER:
      return "layer";
    case BB_OP_DECODE:
      return "decode";
    case BB_OP_GENERATE:
      return "generate";
    default:
      return "op#?";
  }
}

// "Q4_K", "F32", "I8", ...: every bb_type by name; "type#N" for others.
inline std::string type_name(int32_t type) {
  switch (type) {
    case BB_TYPE_F32:
      return "F32";
    case BB_TYPE_F16:
      return "F16";
    case BB_TYPE_Q4_0:
      return "Q4_0";
    case BB_TYPE_Q4_1:
      return "Q4_1";
    case BB_TYPE_Q5_0:
      return "Q5_0";
    case BB_TYPE_Q5_1:
      return "Q5_1";
    case BB_TYPE_Q8_0:
      return "Q8_0";
    case BB_TYPE_Q8_1:
      return "Q8_1";
    case BB_TYPE_Q2_K:
      return "Q2_K";
    case BB_TYPE_Q3_K:
      return "Q3_K";
    case BB_TYPE_Q4_K:
      return "Q4_K";
    case BB_TYPE_Q5_K:
      return "Q5_K";
    case BB_TYPE_Q6_K:
      return "Q6_K";
    case BB_TYPE_Q8_K:
      return "Q8_K";
    case BB_TYPE_I8:
      return "I8";
    case BB_TYPE_I16:
      return "I16";
    case BB_TYPE_I32:
      return "I32";
    case BB_TYPE_I64:
      return "I64";
    case BB_TYPE_F64:
      return "F64";
    case BB_TYPE_BF16:
      return "BF16";
    default:
      return "type#" + std::to_string(type);
  }
}

// "[2, 3]": at most BB_MAX_DIMS entries.
inline std::string shape_string(const int64_t* shape, int32_t ndim) {
  std::string s = "[";
  for (int32_t i = 0; i < ndim && i < BB_MAX_DIMS; ++i) {
    if (i > 0) s += ", ";
    s += std::to_string(shape[i]);
  }
  return s + "]";
}

// The host's cancel flag (ABI 1.1 field), or null when the host is older or gives none.
inline const volatile int32_t* cancel_flag_of(const bb_host_api* host) {
  if (host == nullptr || !BB_HAS_FIELD(host, bb_host_api, cancel_flag)) return nullptr;
  return host->cancel_flag;
}

// One line through the host's log callback, when it has one.
inline void log_line(const bb_host_api* host, int32_t level, const std::string& message) {
  if (host != nullptr && BB_HAS_FIELD(host, bb_host_api, log) && host->log != nullptr)
    host->log(host->host_data, level, message.c_str());
}

// All strides zero, or exactly the compact row-major strides of its shape.
inline bool is_compact(const bb_tensor& t) {
  bool all_zero = true;
  for (int32_t i = 0; i < t.ndim; ++i) all_zero = all_zero && t.strides[i] == 0;
  if (all_zero) return true;
  int64_t expect = 1;
  for (int32_t i = t.ndim - 1; i >= 0; --i) {
    if (t.strides[i] != expect) return false;
    expect *= t.shape[i];
  }
  return true;
}

}  // namespace bb::plugin_util
