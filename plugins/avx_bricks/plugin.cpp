// avx_bricks: multi-threaded AVX2 / AVX-512 kernels for every brick. This file is the function table,
// capabilities, build facts and contexts (each context owns a persistent thread pool). It is built
// twice (avx_bricks_avx2, avx_bricks_avx512); both export the backend name "avx_bricks" and the host
// keeps the build whose probe (probe.cpp, compiled without vector flags) scores highest.
//
// Nothing here may run code at load time (no dynamic initialization of globals): the library is
// loaded before its probe runs, and these translation units may contain AVX-512 instructions.
#include <cstddef>
#include <cstdio>
#include <iterator>
#include <string>
#include <thread>
#include <vector>

#include "formats.h"
#include "glue.h"
#include "kernels.h"

#ifndef AVX_BRICKS_VERSION
#define AVX_BRICKS_VERSION "0.0.0"
#endif
#ifndef AVX_BRICKS_BUILD
#define AVX_BRICKS_BUILD "unknown"
#endif
#ifndef AVX_BRICKS_CXX_FLAGS
#define AVX_BRICKS_CXX_FLAGS "unknown"
#endif

extern "C" const char* avx_bricks_detected_isa(void);  // probe.cpp (compiled without vector flags)

namespace {

namespace glue = bb::avx::glue;

const bb_host_api* g_host = nullptr;

constexpr int32_t kQuantTypes[] = {BB_TYPE_Q4_K, BB_TYPE_Q5_0, BB_TYPE_Q6_K, BB_TYPE_Q8_0};
constexpr int32_t kFloatTypes[] = {BB_TYPE_F32, BB_TYPE_F16};

const std::vector<bb_capability>& capabilities() {
  static const std::vector<bb_capability> caps = [] {
    std::vector<bb_capability> c;
    auto add = [&](int32_t op, int32_t type, uint32_t flags) {
      c.push_back(bb_capability{sizeof(bb_capability), op, type, flags});
    };
    add(BB_OP_COPY, BB_TYPE_ANY, 0);
    // Quantized weights: x is quantized to 8 bits for integer dot products (BB_CAP_ACT_Q8). F32/F16
    // weights multiply the float x.
    for (int32_t op : {BB_OP_GEMV, BB_OP_QKV, BB_OP_O_PROJ, BB_OP_FFN, BB_OP_LAYER}) {
      const uint32_t kv = op == BB_OP_LAYER ? BB_CAP_KV_F16 : 0;
      for (int32_t t : kQuantTypes) add(op, t, BB_CAP_ACT_Q8 | kv);
      for (int32_t t : kFloatTypes) add(op, t, kv);
      if (op == BB_OP_GEMV) add(BB_OP_RMS_NORM, BB_TYPE_F32, 0);
    }
    add(BB_OP_ROPE, BB_TYPE_ANY, 0);
    add(BB_OP_ATTENTION, BB_TYPE_ANY, BB_CAP_KV_F16);
    add(BB_OP_DECODE, BB_TYPE_ANY, BB_CAP_ACT_Q8 | BB_CAP_KV_F16);
    add(BB_OP_GENERATE, BB_TYPE_ANY, BB_CAP_ACT_Q8 | BB_CAP_KV_F16);
    return c;
  }();
  return caps;
}

#if defined(__clang__)
constexpr const char* kCompiler = "clang " __clang_version__;
#elif defined(__GNUC__)
constexpr const char* kCompiler = "gcc " __VERSION__;
#else
constexpr const char* kCompiler = "unknown";
#endif

constexpr bb_kv kBuildInfo[] = {
    {"build", AVX_BRICKS_BUILD},
    {"isa", AVX_BRICKS_BUILD},
    {"isa_detected", ""},  // filled at the first get_build_info from avx_bricks_detected_isa()
    {"compiler", kCompiler},
    {"cxx_flags", AVX_BRICKS_CXX_FLAGS},
    {"threads",
     "persistent pool per context: context n_threads, else the host's n_threads (default: all cores)"},
    {"activations",
     "Q5_0/Q8_0 weights: x as int8 blocks of 32; Q4_K/Q6_K: int8 blocks of 256 (llama.cpp's Q8_0/Q8_K "
     "scheme); F32/F16: float"},
    {"dot_products",
     "integer (VNNI vpdpbusd/vpdpwssd or AVX2 vpmaddubsw/vpmaddwd), float accumulation per block"},
    {"weights", "used in place from the host's buffers (zero-copy, no repacking: repack time 0)"},
    {"kv_cache", "F32 or F16"},
    {"plugin_version", AVX_BRICKS_VERSION},
};

using bb::plugin_util::error_message;  // plugins/common/plugin_glue.h
using bb::plugin_util::error_status;
void error_destroy(bb_error* error) { glue::destroy_error(error); }

bb_error* get_capabilities(const bb_capability** caps, size_t* n_caps) {
  return glue::guarded("get_capabilities", [&] {
    if (caps == nullptr || n_caps == nullptr) glue::invalid("get_capabilities: caps or n_caps is NULL");
    *caps = capabilities().data();
    *n_caps = capabilities().size();
  });
}

bb_error* get_build_info(const bb_kv** kvs, size_t* n_kvs) {
  return glue::guarded("get_build_info", [&] {
    if (kvs == nullptr || n_kvs == nullptr) glue::invalid("get_build_info: kvs or n_kvs is NULL");
    static const std::vector<bb_kv> info = [] {
      std::vector<bb_kv> v(std::begin(kBuildInfo), std::end(kBuildInfo));
      for (bb_kv& kv : v)
        if (std::string(kv.key) == "isa_detected") kv.value = avx_bricks_detected_isa();
      return v;
    }();
    *kvs = info.data();
    *n_kvs = info.size();
  });
}

bb_error* context_create(const bb_context_args* args, bb_context** out) {
  return glue::guarded("context_create", [&] {
    if (out == nullptr) glue::invalid("context_create: out is NULL");
    *out = nullptr;
    glue::require_struct_size(args, sizeof(bb_context_args), "context_create", "args");
    if (args->n_options > 0 && args->options == nullptr)
      glue::invalid("context_create: n_options " + std::to_string(args->n_options) + " but options is NULL");
    if (args->n_threads < 0)
      glue::invalid("context_create: n_threads " + std::to_string(args->n_threads) + " < 0");
    int n = args->n_threads;
    if (n == 0 && g_host != nullptr && BB_HAS_FIELD(g_host, bb_host_api, n_threads)) n = g_host->n_threads;
    if (n <= 0) n = static_cast<int>(std::thread::hardware_concurrency());
    if (n <= 0) n = 1;
    auto ctx = std::make_unique<bb_context>();
    ctx->host = g_host;
    ctx->pool = std::make_unique<bb::avx::ThreadPool>(n);
    glue::log_line(g_host, BB_LOG_DEBUG,
                   std::string("context: ") + AVX_BRICKS_BUILD + ", thread pool of " + std::to_string(n));
    *out = ctx.release();
  });
}

void context_destroy(bb_context* ctx) { delete ctx; }

constexpr bb_plugin_api kApi = {
    sizeof(bb_plugin_api),
    BB_ABI_VERSION_MAJOR,
    BB_ABI_VERSION_MINOR,
    "avx_bricks",
    AVX_BRICKS_VERSION,
    "AVX2/AVX-512 CPU kernels, multi-threaded, 8-bit activations for quantized weights "
    "(build: " AVX_BRICKS_BUILD ")",
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

extern "C" BB_EXPORT const bb_plugin_api* bb_plugin_entry(const bb_host_api* host) {
  if (host != nullptr) {
    if (host->struct_size < offsetof(bb_host_api, abi_minor) + sizeof(uint32_t)) return nullptr;
    if (host->abi_major != BB_ABI_VERSION_MAJOR) return nullptr;
  }
  g_host = host;
  return &kApi;
}
