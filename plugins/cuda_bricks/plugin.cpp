// cuda_bricks: the bricks and a graph-captured decode on one NVIDIA Hopper GPU (sm_90a). This file
// is the function table, capabilities, build facts and contexts; probe.cpp decides whether the
// plugin may load at all.
#include <cuda_runtime_api.h>

#include <cstddef>
#include <cstdio>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "context.h"
#include "glue.h"

#ifndef CUDA_BRICKS_VERSION
#define CUDA_BRICKS_VERSION "0.0.0"
#endif
#ifndef CUDA_BRICKS_BUILD_TYPE
#define CUDA_BRICKS_BUILD_TYPE "unknown"
#endif
#ifndef CUDA_BRICKS_NVCC_VERSION
#define CUDA_BRICKS_NVCC_VERSION "unknown"
#endif

namespace bb::cuda_bricks {

// Entry points defined in plans.cpp and session.cpp.
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
bb_error* session_get_metrics(bb_session* session, const bb_kv** kvs, size_t* n);

namespace {

const bb_host_api* g_host = nullptr;

constexpr int32_t kQuantTypes[] = {BB_TYPE_Q4_0, BB_TYPE_Q5_0, BB_TYPE_Q8_0, BB_TYPE_Q4_K, BB_TYPE_Q6_K};
constexpr int32_t kFloatTypes[] = {BB_TYPE_F32, BB_TYPE_F16};

std::vector<bb_capability> make_capabilities() {
  std::vector<bb_capability> caps;
  auto add = [&](int32_t op, int32_t type, uint32_t flags) {
    caps.push_back(bb_capability{sizeof(bb_capability), op, type, flags | BB_CAP_DEVICE_TIME});
  };
  add(BB_OP_COPY, BB_TYPE_ANY, 0);
  for (int32_t op : {BB_OP_GEMV, BB_OP_QKV, BB_OP_O_PROJ, BB_OP_FFN, BB_OP_LAYER}) {
    const uint32_t kv = op == BB_OP_LAYER ? BB_CAP_KV_F16 : 0u;
    for (int32_t t : kQuantTypes) add(op, t, BB_CAP_ACT_Q8 | kv);
    for (int32_t t : kFloatTypes) add(op, t, BB_CAP_ACT_Q8 | kv);  // mixed models quantize there too
  }
  add(BB_OP_RMS_NORM, BB_TYPE_F32, 0);
  add(BB_OP_ROPE, BB_TYPE_ANY, 0);
  add(BB_OP_ATTENTION, BB_TYPE_ANY, BB_CAP_KV_F16);
  add(BB_OP_DECODE, BB_TYPE_ANY, BB_CAP_ACT_Q8 | BB_CAP_KV_F16);
  add(BB_OP_GENERATE, BB_TYPE_ANY, BB_CAP_ACT_Q8 | BB_CAP_KV_F16);
  return caps;
}

const std::vector<bb_capability>& capabilities() {
  static const std::vector<bb_capability> caps = make_capabilities();
  return caps;
}

std::string version_string(int v) {
  if (v <= 0) return "unavailable";
  return std::to_string(v / 1000) + "." + std::to_string((v % 1000) / 10);
}

// Build and environment facts, gathered once (strings live until unload).
struct BuildInfo {
  std::vector<std::pair<std::string, std::string>> strings;
  std::vector<bb_kv> kvs;
};

const BuildInfo& build_info() {
  static const BuildInfo info = [] {
    BuildInfo b;
    auto add = [&](const char* k, std::string v) { b.strings.emplace_back(k, std::move(v)); };
#if defined(__GNUC__) && !defined(__clang__)
    add("compiler", std::string("gcc ") + __VERSION__);
#else
    add("compiler", "unknown");
#endif
    add("nvcc", CUDA_BRICKS_NVCC_VERSION);
    add("build_type", CUDA_BRICKS_BUILD_TYPE);
    add("cuda_arch", "sm_90a (-gencode=arch=compute_90a,code=sm_90a)");
    add("cudart", "static");
    int rt = 0, drv = 0;
    if (cudaRuntimeGetVersion(&rt) != cudaSuccess) rt = 0;
    if (cudaDriverGetVersion(&drv) != cudaSuccess) drv = 0;
    add("cuda_runtime", version_string(rt));
    add("cuda_driver", version_string(drv));
    int n = 0;
    if (cudaGetDeviceCount(&n) != cudaSuccess) n = 0;
    cudaGetLastError();
    std::string devices;
    for (int i = 0; i < n; ++i) {
      cudaDeviceProp p{};
      if (cudaGetDeviceProperties(&p, i) != cudaSuccess) continue;
      char line[512];
      std::snprintf(line, sizeof line, "%s%d: %s sm_%d%d, %d SMs, %.1f GiB, L2 %d MiB",
                    devices.empty() ? "" : "; ", i, p.name, p.major, p.minor, p.multiProcessorCount,
                    static_cast<double>(p.totalGlobalMem) / (1024.0 * 1024.0 * 1024.0), p.l2CacheSize >> 20);
      devices += line;
    }
    cudaGetLastError();
    add("devices", devices.empty() ? "none visible" : devices);
    add("gemv",
        "dp4a on two-level 8-bit activations (hi + lo/254 per 32-block scale; quantized weights), fp32 FMA "
        "(F16/F32); 16-byte loads, 2 rows per warp, "
        "8 rows per block");
    add("decode", "one CUDA graph per token, 6 kernels per layer, position and token in device memory");
    add("attention", "split-KV (flash-decoding), splits merged by the last blocks (one kernel)");
    add("plan_graphs", "one graph per iteration and per 8 iterations, per weight set");
    add("plugin_version", CUDA_BRICKS_VERSION);
    for (const auto& [k, v] : b.strings) b.kvs.push_back(bb_kv{k.c_str(), v.c_str()});
    return b;
  }();
  return info;
}

using plugin_util::error_message;  // plugins/common/plugin_glue.h
using plugin_util::error_status;
void error_destroy(bb_error* error) { destroy_error(error); }

bb_error* get_capabilities(const bb_capability** caps, size_t* n_caps) {
  return guarded("get_capabilities", [&] {
    if (caps == nullptr || n_caps == nullptr) invalid("cuda_bricks get_capabilities: caps or n_caps is NULL");
    *caps = capabilities().data();
    *n_caps = capabilities().size();
  });
}

bb_error* get_build_info(const bb_kv** kvs, size_t* n_kvs) {
  return guarded("get_build_info", [&] {
    if (kvs == nullptr || n_kvs == nullptr) invalid("cuda_bricks get_build_info: kvs or n_kvs is NULL");
    *kvs = build_info().kvs.data();
    *n_kvs = build_info().kvs.size();
  });
}

bb_error* context_create(const bb_context_args* args, bb_context** out) {
  return guarded("context_create", [&] {
    if (out == nullptr) invalid("cuda_bricks context_create: out is NULL");
    *out = nullptr;
    require_struct_size(args, sizeof(bb_context_args), "context_create", "args");
    if (args->n_options > 0 && args->options == nullptr)
      invalid("cuda_bricks context_create: n_options " + std::to_string(args->n_options) +
              " but options is NULL");
    int n = 0;
    const cudaError_t count_rc = cudaGetDeviceCount(&n);
    if (count_rc != cudaSuccess) {
      cudaGetLastError();
      throw AbiError(BB_DEVICE_ERROR, std::string("cuda_bricks context_create: no usable CUDA device: ") +
                                          cudaGetErrorString(count_rc));
    }
    if (args->device_id < 0 || args->device_id >= n)
      invalid("cuda_bricks context_create: device_id " + std::to_string(args->device_id) + " outside [0, " +
              std::to_string(n) + ")");
    cudaDeviceProp p{};
    BB_CUDA(cudaGetDeviceProperties(&p, args->device_id));
    if (p.major != 9 || p.minor != 0)
      unsupported("cuda_bricks context_create: device " + std::to_string(args->device_id) + " (" + p.name +
                  ") is sm_" + std::to_string(p.major) + std::to_string(p.minor) +
                  "; this build carries sm_90a code only");
    auto ctx = std::make_unique<bb_context>();
    ctx->host = g_host;
    ctx->device = args->device_id;
    ctx->n_sms = p.multiProcessorCount;
    ctx->device_name = p.name;
    BB_CUDA(cudaSetDevice(ctx->device));
    BB_CUDA(cudaStreamCreateWithFlags(&ctx->stream, cudaStreamNonBlocking));
    *out = ctx.release();
  });
}

void context_destroy(bb_context* ctx) {
  if (ctx == nullptr) return;
  cudaSetDevice(ctx->device);
  if (ctx->stream != nullptr) {
    cudaStreamSynchronize(ctx->stream);
    cudaStreamDestroy(ctx->stream);
  }
  delete ctx;
}

const bb_plugin_api kApi = {
    sizeof(bb_plugin_api),
    BB_ABI_VERSION_MAJOR,
    BB_ABI_VERSION_MINOR,
    "cuda_bricks",
    CUDA_BRICKS_VERSION,
    "CUDA kernels for NVIDIA Hopper (sm_90a): dp4a GEMVs on two-level 8-bit activations, split-KV attention, "
    "one CUDA graph per token",
    error_status,
    error_message,
    error_destroy,
    get_capabilities,
    get_build_info,
    context_create,
    context_destroy,
    plan_create,
    plan_destroy,
    plan_write_inputs,
    plan_run,
    plan_read_outputs,
    session_create,
    session_destroy,
    session_decode,
    session_read_logits,
    session_write_kv,
    session_generate,
    session_get_metrics,
};

}  // namespace
}  // namespace bb::cuda_bricks

extern "C" BB_EXPORT const bb_plugin_api* bb_plugin_entry(const bb_host_api* host) {
  if (host != nullptr) {
    if (host->struct_size < offsetof(bb_host_api, abi_minor) + sizeof(uint32_t)) return nullptr;
    if (host->abi_major != BB_ABI_VERSION_MAJOR) return nullptr;
  }
  bb::cuda_bricks::g_host = host;
  return &bb::cuda_bricks::kApi;
}
