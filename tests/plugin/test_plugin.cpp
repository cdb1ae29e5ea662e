// A minimal, correct brickbench plugin for the loader tests (COPY, and GEMV with F32 weights), and,
// chosen by compile definitions, the misbehaving variants the registry must reject with a reason:
//   TEST_PLUGIN_NAME "x"           backend name in the table (default "test_good")
//   TEST_PLUGIN_VARIANT "x"        reported as build info `variant` (the CMake target)
//   TEST_PLUGIN_PROBE_SCORE n      what bb_plugin_probe returns (default 50)
//   TEST_PLUGIN_PROBE_REASON "x"   what the probe writes into its reason buffer
//   TEST_PLUGIN_ABI_MAJOR n        abi_major the table claims (default BB_ABI_VERSION_MAJOR)
//   TEST_PLUGIN_NO_ENTRY           export only the probe
//   TEST_PLUGIN_ENTRY_NULL         bb_plugin_entry returns NULL
//   TEST_PLUGIN_UNDEFINED_SYMBOL   call a function nobody defines: dlopen(RTLD_NOW) fails
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <new>
#include <string>
#include <vector>

#include "brickbench/brick_abi.h"

#ifndef TEST_PLUGIN_NAME
#define TEST_PLUGIN_NAME "test_good"
#endif
#ifndef TEST_PLUGIN_VARIANT
#define TEST_PLUGIN_VARIANT TEST_PLUGIN_NAME
#endif
#ifndef TEST_PLUGIN_PROBE_SCORE
#define TEST_PLUGIN_PROBE_SCORE 50
#endif
#ifndef TEST_PLUGIN_PROBE_REASON
#define TEST_PLUGIN_PROBE_REASON ""
#endif
#ifndef TEST_PLUGIN_ABI_MAJOR
#define TEST_PLUGIN_ABI_MAJOR BB_ABI_VERSION_MAJOR
#endif

struct bb_error {
  int32_t status;
  std::string message;
};

struct bb_context {
  int32_t n_threads;
};

struct bb_plan {
  int32_t op = BB_OP_COPY;
  int64_t n = 0;                   // COPY: bytes
  int64_t rows = 0, cols = 0;      // GEMV
  std::vector<const float*> sets;  // GEMV: W of each weight set, used in place (zero copy)
  void* in = nullptr;              // host-allocated input / output buffers
  void* out = nullptr;
};

namespace {

const bb_host_api* g_host = nullptr;
bb_error g_out_of_memory{BB_OUT_OF_MEMORY, "out of memory"};

void log(int32_t level, const std::string& message) {
  if (g_host && g_host->log) g_host->log(g_host->host_data, level, message.c_str());
}

bb_error* fail(bb_status status, const std::string& message) {
  try {
    return new bb_error{status, std::string(TEST_PLUGIN_NAME ": ") + message};
  } catch (...) {
    return &g_out_of_memory;
  }
}

bool cancelled() { return g_host && g_host->cancel_flag && *g_host->cancel_flag != 0; }

int32_t error_status(const bb_error* error) { return error ? error->status : BB_OK; }
const char* error_message(const bb_error* error) { return error ? error->message.c_str() : ""; }
void error_destroy(bb_error* error) {
  if (error != &g_out_of_memory) delete error;
}

const bb_capability kCapabilities[] = {
    {sizeof(bb_capability), BB_OP_COPY, BB_TYPE_ANY, 0},
    {sizeof(bb_capability), BB_OP_GEMV, BB_TYPE_F32, 0},
};
const bb_kv kBuildInfo[] = {
    {"compiler", "gcc " __VERSION__},
    {"variant", TEST_PLUGIN_VARIANT},
    {"isa_compiled", "baseline"},
};

bb_error* get_capabilities(const bb_capability** caps, size_t* n_caps) {
  if (!caps || !n_caps) return fail(BB_INVALID_ARGUMENT, "get_capabilities: NULL output");
  *caps = kCapabilities;
  *n_caps = sizeof(kCapabilities) / sizeof(kCapabilities[0]);
  return nullptr;
}

bb_error* get_build_info(const bb_kv** kvs, size_t* n_kvs) {
  if (!kvs || !n_kvs) return fail(BB_INVALID_ARGUMENT, "get_build_info: NULL output");
  *kvs = kBuildInfo;
  *n_kvs = sizeof(kBuildInfo) / sizeof(kBuildInfo[0]);
  return nullptr;
}

bb_error* context_create(const bb_context_args* args, bb_context** out) {
  if (!args || !out) return fail(BB_INVALID_ARGUMENT, "context_create: NULL argument");
  try {
    *out = new bb_context{args->n_threads > 0 ? args->n_threads : g_host->n_threads};
  } catch (...) {
    return fail(BB_OUT_OF_MEMORY, "context_create");
  }
  log(BB_LOG_DEBUG, "context with " + std::to_string((*out)->n_threads) + " threads");
  return nullptr;
}

void context_destroy(bb_context* ctx) { delete ctx; }

void plan_destroy(bb_plan* plan) {
  if (!plan) return;
  g_host->aligned_free(g_host->host_data, plan->in);
  g_host->aligned_free(g_host->host_data, plan->out);
  delete plan;
}

bool is_vector(const bb_tensor& t, int32_t type, int64_t n) {
  return t.ndim == 1 && t.type == type && t.shape[0] == n;
}

bb_error* plan_create_copy(const bb_plan_desc& d, bb_plan& plan) {
  if (d.n_inputs != 1 || d.n_outputs != 1 || !d.inputs || !d.outputs || d.inputs[0].ndim != 1 ||
      d.inputs[0].type != BB_TYPE_I8 || !is_vector(d.outputs[0], BB_TYPE_I8, d.inputs[0].shape[0])) {
    return fail(BB_INVALID_ARGUMENT, "copy: expected in src I8 [n], out dst I8 [n]");
  }
  plan.n = d.inputs[0].shape[0];
  plan.in = g_host->aligned_alloc(g_host->host_data, 64, size_t(plan.n));
  plan.out = g_host->aligned_alloc(g_host->host_data, 64, size_t(plan.n));
  if (!plan.in || !plan.out) return fail(BB_OUT_OF_MEMORY, "copy buffers");
  return nullptr;
}

bb_error* plan_create_gemv(const bb_plan_desc& d, bb_plan& plan) {
  if (d.n_weights_per_set != 1 || d.n_weight_sets < 1 || !d.weights) {
    return fail(BB_INVALID_ARGUMENT, "gemv: expected one weight per set");
  }
  const bb_tensor& w0 = d.weights[0];
  if (w0.type != BB_TYPE_F32) {
    return fail(BB_UNSUPPORTED,
                "gemv with weight type " + std::to_string(w0.type) + " is not implemented (F32 only)");
  }
  if (w0.ndim != 2) return fail(BB_INVALID_ARGUMENT, "gemv: W must be 2-D");
  plan.rows = w0.shape[0];
  plan.cols = w0.shape[1];
  for (int32_t s = 0; s < d.n_weight_sets; ++s) {
    const bb_tensor& w = d.weights[s];
    if (w.type != BB_TYPE_F32 || w.ndim != 2 || w.shape[0] != plan.rows || w.shape[1] != plan.cols ||
        !w.data) {
      return fail(BB_INVALID_ARGUMENT, "gemv: weight set " + std::to_string(s) + " differs from set 0");
    }
    plan.sets.push_back(static_cast<const float*>(w.data));
  }
  if (d.n_inputs != 1 || d.n_outputs != 1 || !is_vector(d.inputs[0], BB_TYPE_F32, plan.cols) ||
      !is_vector(d.outputs[0], BB_TYPE_F32, plan.rows)) {
    return fail(BB_INVALID_ARGUMENT, "gemv: expected in x F32 [cols], out y F32 [rows]");
  }
  plan.in = g_host->aligned_alloc(g_host->host_data, 64, size_t(plan.cols) * sizeof(float));
  plan.out = g_host->aligned_alloc(g_host->host_data, 64, size_t(plan.rows) * sizeof(float));
  if (!plan.in || !plan.out) return fail(BB_OUT_OF_MEMORY, "gemv buffers");
  return nullptr;
}

bb_error* plan_create(bb_context* ctx, const bb_plan_desc* desc, bb_plan** out) {
  if (!ctx || !desc || !out) return fail(BB_INVALID_ARGUMENT, "plan_create: NULL argument");
  *out = nullptr;
  bb_plan* plan = nullptr;
  try {
    plan = new bb_plan;
    plan->op = desc->op;
    bb_error* error = nullptr;
    if (desc->op == BB_OP_COPY) {
      error = plan_create_copy(*desc, *plan);
    } else if (desc->op == BB_OP_GEMV) {
      error = plan_create_gemv(*desc, *plan);
    } else {
      error = fail(BB_UNSUPPORTED, "op " + std::to_string(desc->op) + " is not implemented");
    }
    if (error) {
      plan_destroy(plan);
      return error;
    }
  } catch (...) {
    plan_destroy(plan);
    return fail(BB_OUT_OF_MEMORY, "plan_create");
  }
  *out = plan;
  return nullptr;
}

bb_error* plan_write_inputs(bb_plan* plan, int32_t n_inputs, const bb_tensor* inputs) {
  if (!plan || n_inputs != 1 || !inputs || !inputs[0].data)
    return fail(BB_INVALID_ARGUMENT, "write_inputs: one input");
  size_t bytes = plan->op == BB_OP_COPY ? size_t(plan->n) : size_t(plan->cols) * sizeof(float);
  std::memcpy(plan->in, inputs[0].data, bytes);
  return nullptr;
}

bb_error* plan_run(bb_plan* plan, bb_run_args* args) {
  if (!plan || !args || args->iterations < 1) return fail(BB_INVALID_ARGUMENT, "plan_run: bad arguments");
  for (int64_t it = 0; it < args->iterations; ++it) {
    if (cancelled()) return fail(BB_CANCELLED, "plan_run: cancelled");
    if (plan->op == BB_OP_COPY) {
      std::memcpy(plan->out, plan->in, size_t(plan->n));
      continue;
    }
    const float* w = plan->sets[size_t((args->weight_set_begin + it) % int64_t(plan->sets.size()))];
    const auto* x = static_cast<const float*>(plan->in);
    auto* y = static_cast<float*>(plan->out);
    for (int64_t r = 0; r < plan->rows; ++r) {
      double acc = 0;
      for (int64_t c = 0; c < plan->cols; ++c) acc += double(w[r * plan->cols + c]) * x[c];
      y[r] = float(acc);
    }
  }
  args->device_time_valid = 0;
  return nullptr;
}

bb_error* plan_read_outputs(bb_plan* plan, int32_t n_outputs, bb_tensor* outputs) {
  if (!plan || n_outputs != 1 || !outputs || !outputs[0].data)
    return fail(BB_INVALID_ARGUMENT, "read_outputs: one output");
  size_t bytes = plan->op == BB_OP_COPY ? size_t(plan->n) : size_t(plan->rows) * sizeof(float);
  std::memcpy(outputs[0].data, plan->out, bytes);
  return nullptr;
}

// A v2 table would be larger; the host must not read past abi_minor of it.
struct VersionedApi {
  bb_plugin_api api;
  unsigned char appended_in_a_later_version[64];
};

const VersionedApi kApi = {
    {
        .struct_size =
            TEST_PLUGIN_ABI_MAJOR == BB_ABI_VERSION_MAJOR ? sizeof(bb_plugin_api) : sizeof(VersionedApi),
        .abi_major = TEST_PLUGIN_ABI_MAJOR,
        .abi_minor = 0,
        .name = TEST_PLUGIN_NAME,
        .version = "1.2.3",
        .description = "loader test plugin (" TEST_PLUGIN_VARIANT "): copy and F32 gemv",
        .error_status = error_status,
        .error_message = error_message,
        .error_destroy = error_destroy,
        .get_capabilities = get_capabilities,
        .get_build_info = get_build_info,
        .context_create = context_create,
        .context_destroy = context_destroy,
        .plan_create = plan_create,
        .plan_destroy = plan_destroy,
        .plan_write_inputs = plan_write_inputs,
        .plan_run = plan_run,
        .plan_read_outputs = plan_read_outputs,
        .session_create = nullptr,
        .session_destroy = nullptr,
        .session_decode = nullptr,
        .session_read_logits = nullptr,
        .session_write_kv = nullptr,
        .session_generate = nullptr,
    },
    {},
};

}  // namespace

#ifdef TEST_PLUGIN_UNDEFINED_SYMBOL
extern "C" int bb_test_function_nobody_defines(void);
#endif

extern "C" BB_EXPORT int32_t bb_plugin_probe(const bb_probe_args* args) {
  if (args && args->reason && args->reason_capacity > 0) {
    std::snprintf(args->reason, args->reason_capacity, "%s", TEST_PLUGIN_PROBE_REASON);
  }
  return TEST_PLUGIN_PROBE_SCORE;
}

#ifndef TEST_PLUGIN_NO_ENTRY
extern "C" BB_EXPORT const bb_plugin_api* bb_plugin_entry(const bb_host_api* host) {
  if (!host) return nullptr;
  g_host = host;
#if defined(TEST_PLUGIN_ENTRY_NULL)
  log(BB_LOG_WARN, "declining to run: this test plugin's entry always returns NULL");
  return nullptr;
#else
#if defined(TEST_PLUGIN_UNDEFINED_SYMBOL)
  if (bb_test_function_nobody_defines() != 0) return nullptr;
#endif
  if (host->abi_major != BB_ABI_VERSION_MAJOR) return nullptr;
  return &kApi.api;
#endif
}
#endif
