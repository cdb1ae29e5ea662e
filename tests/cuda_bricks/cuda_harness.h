// Both plugins loaded as the host loads them (dlopen): cuda_bricks and the scalar_ref reference.
// A test runs the same plan or session on both and compares the outputs (poisoned first).
// GPU tests skip, with the probe's reason, where cuda_bricks' probe returns 0.
#pragma once

#include <dlfcn.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "../scalar_ref/test_util.h"  // HostTensor, random rows, ...
#include "brickbench/brick_abi.h"

namespace bb::cuda_bricks::test {

using scalar_ref::test::HostTensor;
using scalar_ref::test::kNaN;

struct LoadedPlugin {
  void* handle = nullptr;
  const bb_plugin_api* api = nullptr;
  bb_plugin_probe_fn probe = nullptr;
  explicit LoadedPlugin(const char* path) {
    handle = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (handle == nullptr) throw std::runtime_error(std::string("dlopen: ") + dlerror());
    auto entry = reinterpret_cast<bb_plugin_entry_fn>(dlsym(handle, BB_ENTRY_SYMBOL));
    probe = reinterpret_cast<bb_plugin_probe_fn>(dlsym(handle, BB_PROBE_SYMBOL));
    if (entry == nullptr) throw std::runtime_error(std::string(path) + ": no bb_plugin_entry");
    api = entry(nullptr);
  }
};

// The plugins' paths: the build's, unless $CUDA_BRICKS_PLUGIN / $SCALAR_REF_PLUGIN name others (a
// build carried to another machine, scripts/h100-run.sh).
inline const char* plugin_path(const char* env, const char* built) {
  const char* p = std::getenv(env);
  return p != nullptr && *p != 0 ? p : built;
}
inline LoadedPlugin& cuda_plugin() {
  static LoadedPlugin p(plugin_path("CUDA_BRICKS_PLUGIN", CUDA_BRICKS_PLUGIN_PATH));
  return p;
}
inline LoadedPlugin& ref_plugin() {
  static LoadedPlugin p(plugin_path("SCALAR_REF_PLUGIN", SCALAR_REF_PLUGIN_PATH));
  return p;
}

// The probe's verdict, asked once: score and reason.
struct ProbeResult {
  int32_t score = 0;
  std::string reason;
};
inline const ProbeResult& probe_once() {
  static const ProbeResult r = [] {
    ProbeResult p;
    char reason[1024] = {};
    bb_probe_args args{sizeof(bb_probe_args), BB_ABI_VERSION_MAJOR, BB_ABI_VERSION_MINOR, reason,
                       sizeof(reason)};
    p.score = cuda_plugin().probe(&args);
    p.reason = reason;
    return p;
  }();
  return r;
}

#define CUDA_BRICKS_REQUIRE_GPU()                                                                        \
  do {                                                                                                   \
    if (::bb::cuda_bricks::test::probe_once().score <= 0)                                                \
      GTEST_SKIP() << "no usable GPU for cuda_bricks: " << ::bb::cuda_bricks::test::probe_once().reason; \
  } while (0)

struct ErrorInfo {
  int32_t status = BB_OK;
  std::string message;
};
inline ErrorInfo take_error(const bb_plugin_api* api, bb_error* e) {
  ErrorInfo info;
  if (e != nullptr) {
    info.status = api->error_status(e);
    info.message = api->error_message(e);
    api->error_destroy(e);
  }
  return info;
}

struct Backend {
  const bb_plugin_api* api = nullptr;
  bb_context* ctx = nullptr;
};

struct Comparison {
  double nmse = 0, max_rel = 0;
  bool finite = true;
};
inline Comparison compare(const std::vector<float>& got, const std::vector<float>& ref) {
  Comparison c;
  double err2 = 0, ref2 = 0, max_err = 0, max_ref = 0;
  for (size_t i = 0; i < ref.size(); ++i) {
    if (!std::isfinite(got[i])) c.finite = false;
    const double e = static_cast<double>(got[i]) - ref[i];
    err2 += e * e;
    ref2 += static_cast<double>(ref[i]) * ref[i];
    max_err = std::max(max_err, std::fabs(e));
    max_ref = std::max(max_ref, std::fabs(static_cast<double>(ref[i])));
  }
  c.nmse = ref2 > 0 ? err2 / ref2 : err2;
  c.max_rel = max_ref > 0 ? max_err / max_ref : max_err;
  return c;
}

#define EXPECT_CLOSE(got, ref, nmse_bound, max_rel_bound, what)                                \
  do {                                                                                         \
    ASSERT_EQ((got).size(), (ref).size()) << (what);                                           \
    const auto cmp_ = ::bb::cuda_bricks::test::compare((got), (ref));                          \
    EXPECT_TRUE(cmp_.finite) << (what) << ": NaN/Inf in the output (poison not overwritten?)"; \
    EXPECT_LE(cmp_.nmse, (nmse_bound)) << (what) << " (max_rel " << cmp_.max_rel << ")";       \
    EXPECT_LE(cmp_.max_rel, (max_rel_bound)) << (what) << " (nmse " << cmp_.nmse << ")";       \
  } while (0)

class CudaVsRef : public ::testing::Test {
 protected:
  void SetUp() override {
    CUDA_BRICKS_REQUIRE_GPU();
    for (Backend* b : {&cuda_, &ref_}) {
      b->api = (b == &cuda_ ? cuda_plugin() : ref_plugin()).api;
      ASSERT_NE(b->api, nullptr);
      bb_context_args args{};
      args.struct_size = sizeof(args);
      const ErrorInfo e = take_error(b->api, b->api->context_create(&args, &b->ctx));
      ASSERT_EQ(e.status, BB_OK) << e.message;
    }
  }
  void TearDown() override {
    for (Backend* b : {&cuda_, &ref_})
      if (b->api != nullptr && b->ctx != nullptr) b->api->context_destroy(b->ctx);
  }

  // One plan's whole life on `b`; outputs are poisoned (NaN) before the read-back.
  std::vector<std::vector<float>> run_plan(const Backend& b, int32_t op, const bb_model_dims* dims,
                                           const std::vector<std::vector<HostTensor>>& sets,
                                           const std::vector<HostTensor>& inputs,
                                           const std::vector<std::vector<int64_t>>& out_shapes,
                                           int64_t iterations = 1, int64_t begin = 0,
                                           int32_t* device_time_valid = nullptr) {
    std::vector<bb_tensor> w, in, out;
    for (const auto& set : sets)
      for (const auto& t : set) w.push_back(t.view());
    for (const auto& t : inputs) in.push_back(t.view());
    std::vector<HostTensor> outs;
    for (const auto& s : out_shapes) outs.push_back(scalar_ref::test::f32_poisoned(s));
    for (auto& t : outs) out.push_back(t.view());
    std::vector<bb_tensor> in_desc = in, out_desc = out;
    for (auto& t : in_desc) t.data = nullptr;
    for (auto& t : out_desc) t.data = nullptr;
    bb_plan_desc desc{};
    desc.struct_size = sizeof(desc);
    desc.op = op;
    desc.n_weight_sets = sets.empty() ? 1 : static_cast<int32_t>(sets.size());
    desc.n_weights_per_set = sets.empty() ? 0 : static_cast<int32_t>(sets[0].size());
    desc.n_inputs = static_cast<int32_t>(in.size());
    desc.n_outputs = static_cast<int32_t>(out.size());
    desc.dims = dims;
    desc.weights = w.empty() ? nullptr : w.data();
    desc.inputs = in_desc.data();
    desc.outputs = out_desc.data();
    bb_plan* plan = nullptr;
    std::vector<std::vector<float>> result;
    const std::string who = b.api->name;
    ErrorInfo e = take_error(b.api, b.api->plan_create(b.ctx, &desc, &plan));
    EXPECT_EQ(e.status, BB_OK) << who << " plan_create: " << e.message;
    if (e.status != BB_OK) return result;
    e = take_error(b.api, b.api->plan_write_inputs(plan, desc.n_inputs, in.data()));
    EXPECT_EQ(e.status, BB_OK) << who << " plan_write_inputs: " << e.message;
    bb_run_args run{};
    run.struct_size = sizeof(run);
    run.iterations = iterations;
    run.weight_set_begin = begin;
    if (e.status == BB_OK) {
      e = take_error(b.api, b.api->plan_run(plan, &run));
      EXPECT_EQ(e.status, BB_OK) << who << " plan_run: " << e.message;
    }
    if (device_time_valid != nullptr) *device_time_valid = run.device_time_valid;
    if (e.status == BB_OK) {
      e = take_error(b.api, b.api->plan_read_outputs(plan, desc.n_outputs, out.data()));
      EXPECT_EQ(e.status, BB_OK) << who << " plan_read_outputs: " << e.message;
    }
    b.api->plan_destroy(plan);
    if (e.status == BB_OK)
      for (const auto& t : outs) result.push_back(t.floats());
    return result;
  }

  Backend cuda_, ref_;
};

// A KV cache tensor of rows given in F32, stored as `type` (F16 rounded to nearest even).
inline HostTensor kv_tensor(const std::vector<float>& rows, int64_t n_rows, int64_t width, int32_t type) {
  if (type == BB_TYPE_F32) return scalar_ref::test::f32_tensor(rows, {n_rows, width});
  HostTensor t{BB_TYPE_F16, {n_rows, width}, std::vector<uint8_t>(rows.size() * 2), ""};
  for (size_t i = 0; i < rows.size(); ++i) {
    const uint16_t hv = scalar_ref::fp32_to_fp16(rows[i]);
    std::memcpy(t.bytes.data() + 2 * i, &hv, 2);
  }
  return t;
}

// Model shapes of Qwen2.5-Coder (n_embd, n_ff, heads, KV heads, head_dim).
struct Shape {
  const char* name;
  int32_t n_embd, n_ff, n_head, n_head_kv, head_dim;
};
inline constexpr Shape kShapes[] = {
    {"0.5B", 896, 4864, 14, 2, 64},
    {"1.5B", 1536, 8960, 12, 2, 128},
    {"7B", 3584, 18944, 28, 4, 128},
};

// The shapes a run tests: all, or those named in $CUDA_BRICKS_TEST_SHAPES (e.g. "0.5B", for the
// slow compute-sanitizer runs).
inline std::vector<Shape> test_shapes() {
  std::vector<Shape> out;
  const char* only = std::getenv("CUDA_BRICKS_TEST_SHAPES");
  for (const Shape& s : kShapes)
    if (only == nullptr || *only == 0 || std::string(only).find(s.name) != std::string::npos)
      out.push_back(s);
  return out;
}

inline bb_model_dims dims_of(const Shape& s, int32_t n_ctx = 4096) {
  return scalar_ref::test::make_dims(s.n_embd, s.n_ff, s.n_head, s.n_head_kv, s.head_dim, 1, 1, n_ctx);
}

inline int64_t block_elements(int32_t type) {
  switch (type) {
    case BB_TYPE_Q4_K:
    case BB_TYPE_Q6_K:
      return 256;
    case BB_TYPE_F32:
    case BB_TYPE_F16:
      return 1;
    default:
      return 32;
  }
}

inline const char* type_label(int32_t t) {
  switch (t) {
    case BB_TYPE_F32:
      return "F32";
    case BB_TYPE_F16:
      return "F16";
    case BB_TYPE_Q4_0:
      return "Q4_0";
    case BB_TYPE_Q5_0:
      return "Q5_0";
    case BB_TYPE_Q8_0:
      return "Q8_0";
    case BB_TYPE_Q4_K:
      return "Q4_K";
    case BB_TYPE_Q6_K:
      return "Q6_K";
    default:
      return "?";
  }
}

inline constexpr int32_t kTypes[] = {BB_TYPE_Q4_K, BB_TYPE_Q6_K, BB_TYPE_Q5_0, BB_TYPE_Q8_0,
                                     BB_TYPE_Q4_0, BB_TYPE_F16,  BB_TYPE_F32};

// Bounds (docs/CONFIG.md): the act_q8 class for quantized weights, float for F16/F32.
inline double gemv_nmse(int32_t type) { return type == BB_TYPE_F32 || type == BB_TYPE_F16 ? 1e-5 : 5e-4; }
inline double gemv_max_rel(int32_t type) { return type == BB_TYPE_F32 || type == BB_TYPE_F16 ? 1e-3 : 5e-2; }

}  // namespace bb::cuda_bricks::test
