// scalar_ref: the plugin every other backend is checked against. Single-threaded, no SIMD, double
// accumulation; this file is the function table, capabilities, build facts and contexts.
#include <cstddef>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "abi_glue.h"
#include "dequant.h"

#ifndef SCALAR_REF_VERSION
#define SCALAR_REF_VERSION "0.0.0"
#endif
#ifndef SCALAR_REF_BUILD_TYPE
#define SCALAR_REF_BUILD_TYPE "unknown"
#endif
#ifndef SCALAR_REF_CXX_FLAGS
#define SCALAR_REF_CXX_FLAGS "unknown"
#endif

namespace {

namespace sr = bb::scalar_ref;
namespace glue = bb::scalar_ref::glue;

const bb_host_api* g_host = nullptr;  // the host's services, as bb_plugin_entry received them

constexpr int32_t kWeightTypes[] = {BB_TYPE_F32,  BB_TYPE_F16,  BB_TYPE_BF16, BB_TYPE_Q4_0, BB_TYPE_Q5_0,
                                    BB_TYPE_Q8_0, BB_TYPE_Q4_K, BB_TYPE_Q5_K, BB_TYPE_Q6_K};

std::vector<bb_capability> make_capabilities() {
  std::vector<bb_capability> caps;
  auto add = [&](int32_t op, int32_t type, uint32_t flags) {
    caps.push_back(bb_capability{sizeof(bb_capability), op, type, flags});
  };
  add(BB_OP_COPY, BB_TYPE_ANY, 0);
  for (int32_t t : kWeightTypes) add(BB_OP_GEMV, t, 0);
  add(BB_OP_RMS_NORM, BB_TYPE_F32, 0);
  for (int32_t t : kWeightTypes) add(BB_OP_QKV, t, 0);
  add(BB_OP_ROPE, BB_TYPE_ANY, 0);
  add(BB_OP_ATTENTION, BB_TYPE_ANY, BB_CAP_KV_F16);
  for (int32_t t : kWeightTypes) add(BB_OP_O_PROJ, t, 0);
  for (int32_t t : kWeightTypes) add(BB_OP_FFN, t, 0);
  for (int32_t t : kWeightTypes) add(BB_OP_LAYER, t, BB_CAP_KV_F16);
  add(BB_OP_DECODE, BB_TYPE_ANY, BB_CAP_KV_F16);
  add(BB_OP_GENERATE, BB_TYPE_ANY, BB_CAP_KV_F16);
  return caps;
}

const std::vector<bb_capability>& capabilities() {
  static const std::vector<bb_capability> caps = make_capabilities();
  return caps;
}

#if defined(__OPTIMIZE__)
constexpr const char* kOptimized = "yes";
#else
constexpr const char* kOptimized = "no";
#endif

#if defined(__clang__)
constexpr const char* kCompiler = "clang " __clang_version__;
#elif defined(__GNUC__)
constexpr const char* kCompiler = "gcc " __VERSION__;
#else
constexpr const char* kCompiler = "unknown";
#endif

#if defined(__x86_64__)
constexpr const char* kArch = "x86_64";
#elif defined(__aarch64__)
constexpr const char* kArch = "aarch64";
#else
constexpr const char* kArch = "unknown";
#endif

constexpr bb_kv kBuildInfo[] = {
    {"compiler", kCompiler},
    {"build_type", SCALAR_REF_BUILD_TYPE},
    {"cxx_flags", SCALAR_REF_CXX_FLAGS},
    {"optimized", kOptimized},
    {"arch", kArch},
    {"isa", "scalar"},
    {"isa_detected", "not needed (portable C++)"},
    {"threads", "1"},
    {"accumulation", "double"},
    {"fp_contract", "off"},
    {"plugin_version", SCALAR_REF_VERSION},
};

using bb::plugin_util::error_message;  // plugins/common/plugin_glue.h
using bb::plugin_util::error_status;
void error_destroy(bb_error* error) { glue::destroy_error(error); }

bb_error* get_capabilities(const bb_capability** caps, size_t* n_caps) {
  return glue::guarded("get_capabilities", [&] {
    if (caps == nullptr || n_caps == nullptr)
      glue::invalid("scalar_ref get_capabilities: caps or n_caps is NULL");
    *caps = capabilities().data();
    *n_caps = capabilities().size();
  });
}

bb_error* get_build_info(const bb_kv** kvs, size_t* n_kvs) {
  return glue::guarded("get_build_info", [&] {
    if (kvs == nullptr || n_kvs == nullptr) glue::invalid("scalar_ref get_build_info: kvs or n_kvs is NULL");
    *kvs = kBuildInfo;
    *n_kvs = sizeof(kBuildInfo) / sizeof(kBuildInfo[0]);
  });
}

bb_error* context_create(const bb_context_args* args, bb_context** out) {
  return glue::guarded("context_create", [&] {
    if (out == nullptr) glue::invalid("scalar_ref context_create: out is NULL");
    *out = nullptr;
    // Options and thread counts are accepted and ignored: the reference runs on one thread.
    glue::require_struct_size(args, sizeof(bb_context_args), "context_create", "args");
    if (args->n_options > 0 && args->options == nullptr) {
      glue::invalid("scalar_ref context_create: n_options " + std::to_string(args->n_options) +
                    " but options is NULL");
    }
    *out = new bb_context{g_host};
  });
}

void context_destroy(bb_context* ctx) { delete ctx; }

const bb_plugin_api kApi = {
    sizeof(bb_plugin_api),
    BB_ABI_VERSION_MAJOR,
    BB_ABI_VERSION_MINOR,
    "scalar_ref",
    SCALAR_REF_VERSION,
    "Scalar C++ reference of every brick: single-threaded, double accumulation, ggml-exact dequantization",
    error_status,
    error_message,
    error_destroy,
    get_capabilities,
    get_build_info,
    context_create,
    context_destroy,
    glue::plan_create,
    glue::plan_destroy,
    glue::plan_write_inputs,
    glue::plan_run,
    glue::plan_read_outputs,
    glue::session_create,
    glue::session_destroy,
    glue::session_decode,
    glue::session_read_logits,
    glue::session_write_kv,
    glue::session_generate,
};

}  // namespace

extern "C" {

BB_EXPORT const bb_plugin_api* bb_plugin_entry(const bb_host_api* host) {
  if (host != nullptr) {
    if (host->struct_size < offsetof(bb_host_api, abi_minor) + sizeof(uint32_t)) return nullptr;
    if (host->abi_major != BB_ABI_VERSION_MAJOR) return nullptr;
  }
  g_host = host;
  return &kApi;
}

BB_EXPORT int32_t bb_plugin_probe(const bb_probe_args* args) {
  // Plain C++ without special instructions: runs on any CPU of the architecture.
  if (args != nullptr && args->struct_size >= offsetof(bb_probe_args, host_abi_minor) + sizeof(uint32_t) &&
      args->host_abi_major != BB_ABI_VERSION_MAJOR) {
    if (args->struct_size >= sizeof(bb_probe_args) && args->reason != nullptr && args->reason_capacity > 0) {
      std::snprintf(args->reason, args->reason_capacity, "scalar_ref speaks ABI %d, the host %u",
                    BB_ABI_VERSION_MAJOR, static_cast<unsigned>(args->host_abi_major));
    }
    return 0;
  }
  return 100;
}

}  // extern "C"
