// llama_cpp: llama.cpp's own kernels (libllama + ggml, linked statically) as a brickbench backend.
// This file is the function table, capabilities, build facts and contexts; session.cpp runs decode
// and generate through libllama, plans.cpp gemv and rms_norm as small ggml graphs. The other plan
// bricks are not offered (not in the capability list), so the host skips those cells, saying so.
#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "ggml.h"
#include "glue.h"
#include "llama.h"

#ifndef LLAMA_CPP_PLUGIN_VERSION
#define LLAMA_CPP_PLUGIN_VERSION "0.0.0"
#endif
#ifndef LLAMA_CPP_NPM_VERSION
#define LLAMA_CPP_NPM_VERSION "unknown"
#endif
#ifndef LLAMA_CPP_BUILD_FLAGS
#define LLAMA_CPP_BUILD_FLAGS "unknown"
#endif

namespace bb::llama_cpp {

constinit plugin_util::PluginId g_plugin{
    kName, {BB_OUT_OF_MEMORY, "llama_cpp: out of memory (while reporting an error)"}};

namespace {

const bb_host_api* g_host = nullptr;
std::once_flag g_init_once;

// llama.cpp talks a lot: the host hears its errors as errors, its warnings as INFO (e.g. "adding 512
// dummy tokens" for a GGUF without a tokenizer), the rest at DEBUG.
void forward_log(enum ggml_log_level level, const char* text, void* /*user_data*/) {
  if (g_host == nullptr || text == nullptr) return;
  std::string line(text);
  while (!line.empty() && (line.back() == '\n' || line.back() == '\r')) line.pop_back();
  if (line.empty()) return;
  const int32_t l = level == GGML_LOG_LEVEL_ERROR  ? BB_LOG_ERROR
                    : level == GGML_LOG_LEVEL_WARN ? BB_LOG_INFO
                                                   : BB_LOG_DEBUG;
  log_line(g_host, l, "llama.cpp: " + line);
}

const std::vector<bb_capability>& capabilities() {
  static const std::vector<bb_capability> caps = [] {
    std::vector<bb_capability> c;
    auto add = [&](int32_t op, int32_t type, uint32_t flags) {
      c.push_back(bb_capability{sizeof(bb_capability), op, type, flags});
    };
    // ggml's CPU kernels quantize the activations to 8 bits for quantized weights' dot products.
    for (int32_t t : {BB_TYPE_Q4_K, BB_TYPE_Q5_0, BB_TYPE_Q6_K, BB_TYPE_Q8_0, BB_TYPE_Q4_0})
      add(BB_OP_GEMV, t, BB_CAP_ACT_Q8);
    for (int32_t t : {BB_TYPE_F32, BB_TYPE_F16}) add(BB_OP_GEMV, t, 0);
    add(BB_OP_RMS_NORM, BB_TYPE_F32, 0);
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

// "llama.cpp de3ff81 (ggml 0.x.y)": what libllama and ggml say of themselves at run time.
const std::string& llama_version() {
  static const std::string v = std::string("llama.cpp ") + ggml_commit() + " (ggml " + ggml_version() + ")";
  return v;
}

void error_destroy(bb_error* error) { plugin_util::destroy_error(g_plugin, error); }

bb_error* get_capabilities(const bb_capability** caps, size_t* n_caps) {
  return guarded("get_capabilities", [&] {
    if (caps == nullptr || n_caps == nullptr) invalid("get_capabilities: caps or n_caps is NULL");
    *caps = capabilities().data();
    *n_caps = capabilities().size();
  });
}

bb_error* get_build_info(const bb_kv** kvs, size_t* n_kvs) {
  return guarded("get_build_info", [&] {
    if (kvs == nullptr || n_kvs == nullptr) invalid("get_build_info: kvs or n_kvs is NULL");
    static const std::string system_info = [] {
      std::string s = llama_print_system_info();
      while (!s.empty() && (s.back() == ' ' || s.back() == '|')) s.pop_back();
      return s;
    }();
    static const std::vector<bb_kv> info = {
        {"llama_cpp", llama_version().c_str()},
        {"llama_cpp_commit", ggml_commit()},
        {"source", LLAMA_CPP_NPM_VERSION " (npm registry; llama/gitRelease.bundle, pinned by "
                                         "plugins/llama_cpp/source/package-lock.json)"},
        {"build_flags", LLAMA_CPP_BUILD_FLAGS},
        {"system_info", system_info.c_str()},
        {"backend", LLAMA_CPP_CUDA ? "ggml CPU + CUDA (sm_90), all layers offloaded" : "ggml CPU"},
        {"compiler", kCompiler},
        {"threads",
         "llama_context n_threads: the experiment's threads, else the host's (default: all cores)"},
        {"bricks",
         "decode, generate (libllama sessions); gemv, rms_norm (ggml graphs on the host's tensors, "
         "ggml's plain CPU kernels, no repacking)"},
        {"plugin_version", LLAMA_CPP_PLUGIN_VERSION},
    };
    *kvs = info.data();
    *n_kvs = info.size();
  });
}

// "auto" | "on" | "off" as a llama_flash_attn_type.
int32_t flash_attn_of(const std::string& value, const std::string& what) {
  if (value == "auto") return LLAMA_FLASH_ATTN_TYPE_AUTO;
  if (value == "on" || value == "true") return LLAMA_FLASH_ATTN_TYPE_ENABLED;
  if (value == "off" || value == "false") return LLAMA_FLASH_ATTN_TYPE_DISABLED;
  invalid("context_create: " + what + " is \"" + value + "\"; use auto, on or off");
}

bb_error* context_create(const bb_context_args* args, bb_context** out) {
  return guarded("context_create", [&] {
    if (out == nullptr) invalid("context_create: out is NULL");
    *out = nullptr;
    require_struct_size(args, sizeof(bb_context_args), "context_create", "args");
    if (args->n_options > 0 && args->options == nullptr)
      invalid("context_create: n_options " + std::to_string(args->n_options) + " but options is NULL");
    if (args->n_threads < 0) invalid("context_create: n_threads " + std::to_string(args->n_threads) + " < 0");
    int n = args->n_threads;
    if (n == 0 && g_host != nullptr && BB_HAS_FIELD(g_host, bb_host_api, n_threads)) n = g_host->n_threads;
    if (n <= 0) n = static_cast<int>(std::thread::hardware_concurrency());
    if (n <= 0) n = 1;
    init_llama_once(g_host);
    auto ctx = std::make_unique<bb_context>();
    ctx->host = g_host;
    ctx->n_threads = n;
    // flash_attn: the backend option, else $BRICKBENCH_LLAMA_CPP_FLASH_ATTN, else off. (The host makes
    // decode/generate sessions in a context of their own without the backend options, so today only
    // the environment variable reaches them.)
    if (const char* env = std::getenv("BRICKBENCH_LLAMA_CPP_FLASH_ATTN"); env != nullptr && *env != '\0')
      ctx->flash_attn = flash_attn_of(env, "$BRICKBENCH_LLAMA_CPP_FLASH_ATTN");
    for (size_t i = 0; i < args->n_options; ++i) {
      const bb_kv& o = args->options[i];
      const std::string key = o.key ? o.key : "";
      if (key == "flash_attn") {
        ctx->flash_attn = flash_attn_of(o.value ? o.value : "", "backend option flash_attn");
      } else {  // the host's convention: backends ignore keys they do not know (e.g. model.ollama)
        log_line(g_host, BB_LOG_DEBUG,
                 "context: option \"" + key + "\" ignored (llama_cpp knows flash_attn)");
      }
    }
    log_line(g_host, BB_LOG_DEBUG, "context: " + llama_version() + ", " + std::to_string(n) + " threads");
    *out = ctx.release();
  });
}

void context_destroy(bb_context* ctx) { delete ctx; }

const bb_plugin_api kApi = {
    sizeof(bb_plugin_api),
    BB_ABI_VERSION_MAJOR,
    BB_ABI_VERSION_MINOR,
    kName,
    LLAMA_CPP_PLUGIN_VERSION,
    "llama.cpp's own kernels (libllama + ggml, " LLAMA_CPP_NPM_VERSION "): decode, generate, gemv, rms_norm",
    plugin_util::error_status,
    plugin_util::error_message,
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

void init_llama_once(const bb_host_api* host) {
  std::call_once(g_init_once, [host] {
    g_host = host;
    llama_log_set(forward_log, nullptr);
    llama_backend_init();
  });
}

}  // namespace bb::llama_cpp

extern "C" BB_EXPORT const bb_plugin_api* bb_plugin_entry(const bb_host_api* host) {
  if (host != nullptr) {
    if (host->struct_size < offsetof(bb_host_api, abi_minor) + sizeof(uint32_t)) return nullptr;
    if (host->abi_major != BB_ABI_VERSION_MAJOR) return nullptr;
  }
  bb::llama_cpp::g_host = host;
  return &bb::llama_cpp::kApi;
}
