// Small helpers every plugin of this repository needs at the C ABI boundary, written once: op names
// for messages, shape strings, the host's cancel flag and log callback, the compact-layout test.
// Header-only and inline on purpose: no static initializers and no instruction-set flags of its own
// (avx_bricks' AVX-512 build must load and probe on a CPU without AVX-512), and nothing to link.
#pragma once

#include <cstdint>
#include <string>

#include "brickbench/brick_abi.h"

namespace bb::plugin_util {

// "gemv", "rms_norm", ...; "op#?" for ids outside the enum.
inline const char* op_name(int32_t op) {
  switch (op) {
    case BB_OP_COPY: return "copy";
    case BB_OP_GEMV: return "gemv";
    case BB_OP_RMS_NORM: return "rms_norm";
    case BB_OP_QKV: return "qkv";
    case BB_OP_ROPE: return "rope";
    case BB_OP_ATTENTION: return "attention";
    case BB_OP_O_PROJ: return "o_proj";
    case BB_OP_FFN: return "ffn";
    case BB_OP_LAYER: return "layer";
    case BB_OP_DECODE: return "decode";
    case BB_OP_GENERATE: return "generate";
    default: return "op#?";
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
