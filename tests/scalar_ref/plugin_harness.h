// Drives the scalar_ref plugin through its C ABI exactly as the host would: a context per test,
// plans created/written/run/read with outputs poisoned with NaN first, sessions built from
// in-memory tiny models.
#pragma once

#include <dlfcn.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "test_util.h"

namespace bb::scalar_ref::test {

// ---------------------------------------------------------------------------------------------
// The plugin, loaded as the host loads it.
class Plugin {
 public:
  static Plugin& get() {
    static Plugin plugin;
    return plugin;
  }
  const bb_plugin_api* api(const bb_host_api* host = nullptr) const { return entry_(host); }
  bb_plugin_probe_fn probe() const { return probe_; }

 private:
  Plugin() {
    handle_ = dlopen(SCALAR_REF_PLUGIN_PATH, RTLD_NOW | RTLD_LOCAL);
    if (handle_ == nullptr) throw std::runtime_error(std::string("dlopen: ") + dlerror());
    entry_ = reinterpret_cast<bb_plugin_entry_fn>(dlsym(handle_, BB_ENTRY_SYMBOL));
    probe_ = reinterpret_cast<bb_plugin_probe_fn>(dlsym(handle_, BB_PROBE_SYMBOL));
    if (entry_ == nullptr) throw std::runtime_error("no bb_plugin_entry");
  }
  void* handle_ = nullptr;  // kept loaded for the whole process
  bb_plugin_entry_fn entry_ = nullptr;
  bb_plugin_probe_fn probe_ = nullptr;
};

// Status and message of an error, freed here. OK for NULL.
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

#define BB_ASSERT_OK(api, call)                                         \
  do {                                                                  \
    const auto bb_err_ = ::bb::scalar_ref::test::take_error(api, call); \
    ASSERT_EQ(bb_err_.status, BB_OK) << bb_err_.message;                \
  } while (0)

struct PlanResult {
  ErrorInfo error;                  // the first failing step's error (OK when all succeeded)
  std::string step;                 // which call failed
  std::vector<HostTensor> outputs;  // as read back
};

class ScalarRefPluginTest : public ::testing::Test {
 protected:
  void SetUp() override {
    api_ = Plugin::get().api(nullptr);
    ASSERT_NE(api_, nullptr);
    bb_context_args args{};
    args.struct_size = sizeof(args);
    BB_ASSERT_OK(api_, api_->context_create(&args, &ctx_));
    ASSERT_NE(ctx_, nullptr);
  }
  void TearDown() override {
    if (api_ != nullptr) api_->context_destroy(ctx_);
  }

  // One plan's whole life. `outputs` give the shapes and types; they are poisoned (NaN, or 0xA5
  // bytes for I8) before the run, and every read value must then be overwritten.
  PlanResult run_plan(int32_t op, const bb_model_dims* dims, const std::vector<std::vector<HostTensor>>& sets,
                      const std::vector<HostTensor>& inputs, std::vector<HostTensor> outputs,
                      int64_t iterations = 1, int64_t weight_set_begin = 0) {
    PlanResult result;
    std::vector<bb_tensor> w, in, out;
    for (const auto& set : sets) {
      for (const auto& t : set) w.push_back(t.view());
    }
    for (const auto& t : inputs) in.push_back(t.view());
    for (auto& t : outputs) {
      if (t.type == BB_TYPE_F32) {
        for (size_t i = 0; i < t.bytes.size(); i += 4) std::memcpy(t.bytes.data() + i, &kNaN, 4);
      } else {
        std::fill(t.bytes.begin(), t.bytes.end(), uint8_t{0xA5});
      }
      out.push_back(t.view());
    }
    // Descriptors carry no data, as the ABI allows.
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
    auto fail = [&](const char* step, bb_error* e) {
      result.error = take_error(api_, e);
      result.step = step;
      return result.error.status != BB_OK;
    };
    if (fail("plan_create", api_->plan_create(ctx_, &desc, &plan))) return result;
    bool ok = !fail("plan_write_inputs", api_->plan_write_inputs(plan, desc.n_inputs, in.data()));
    if (ok) {
      bb_run_args run{};
      run.struct_size = sizeof(run);
      run.iterations = iterations;
      run.weight_set_begin = weight_set_begin;
      ok = !fail("plan_run", api_->plan_run(plan, &run));
      if (ok) {
        EXPECT_EQ(run.device_time_valid, 0);
      }
    }
    if (ok) ok = !fail("plan_read_outputs", api_->plan_read_outputs(plan, desc.n_outputs, out.data()));
    api_->plan_destroy(plan);
    if (ok) {
      for (const auto& t : outputs) {
        if (t.type == BB_TYPE_F32) {
          EXPECT_TRUE(all_finite(t.floats())) << "output of op " << op << " not fully overwritten";
        }
      }
    }
    result.outputs = std::move(outputs);
    return result;
  }

  // run_plan that must succeed; returns the outputs as float vectors.
  std::vector<std::vector<float>> run_ok(int32_t op, const bb_model_dims* dims,
                                         const std::vector<std::vector<HostTensor>>& sets,
                                         const std::vector<HostTensor>& inputs,
                                         const std::vector<std::vector<int64_t>>& out_shapes,
                                         int64_t iterations = 1, int64_t weight_set_begin = 0) {
    std::vector<HostTensor> outs;
    for (const auto& s : out_shapes) outs.push_back(f32_poisoned(s));
    PlanResult r = run_plan(op, dims, sets, inputs, std::move(outs), iterations, weight_set_begin);
    EXPECT_EQ(r.error.status, BB_OK) << r.step << ": " << r.error.message;
    std::vector<std::vector<float>> v;
    for (const auto& t : r.outputs) v.push_back(t.floats());
    return v;
  }

  const bb_plugin_api* api_ = nullptr;
  bb_context* ctx_ = nullptr;
};

// A Qwen2 model in memory: GGUF-named tensors, matrices of one type, 1-D tensors F32.
struct TinyModel {
  bb_model_dims dims{};
  std::vector<HostTensor> tensors;

  const HostTensor& get(const std::string& name) const {
    for (const auto& t : tensors) {
      if (t.name == name) return t;
    }
    throw std::out_of_range("TinyModel: no tensor " + name);
  }
  std::vector<bb_tensor> views() const {
    std::vector<bb_tensor> v;
    for (const auto& t : tensors) v.push_back(t.view());
    return v;
  }
  // The 12 weights of layer l in LAYER's order.
  std::vector<HostTensor> layer_set(int l) const {
    const std::string p = "blk." + std::to_string(l) + ".";
    std::vector<HostTensor> s;
    for (const char* n : {"attn_norm.weight", "attn_q.weight", "attn_q.bias", "attn_k.weight", "attn_k.bias",
                          "attn_v.weight", "attn_v.bias", "attn_output.weight", "ffn_norm.weight",
                          "ffn_gate.weight", "ffn_up.weight", "ffn_down.weight"}) {
      s.push_back(get(p + n));
    }
    return s;
  }
};

inline TinyModel make_tiny_model(uint64_t seed, int32_t matrix_type, const bb_model_dims& dims) {
  std::mt19937_64 rng(seed);
  TinyModel m;
  m.dims = dims;
  const int64_t e = dims.n_embd, h = int64_t{dims.n_head} * dims.head_dim,
                k = int64_t{dims.n_head_kv} * dims.head_dim, f = dims.n_ff, v = dims.n_vocab;
  m.tensors.push_back(weight_random(rng, matrix_type, {v, e}, "token_embd.weight"));
  m.tensors.push_back(norm_weight(rng, e, "output_norm.weight"));
  if (!dims.tied_embeddings) m.tensors.push_back(weight_random(rng, matrix_type, {v, e}, "output.weight"));
  for (int l = 0; l < dims.n_layer; ++l) {
    const std::string p = "blk." + std::to_string(l) + ".";
    m.tensors.push_back(norm_weight(rng, e, p + "attn_norm.weight"));
    m.tensors.push_back(weight_random(rng, matrix_type, {h, e}, p + "attn_q.weight"));
    m.tensors.push_back(f32_random(rng, {h}, 0.1f, p + "attn_q.bias"));
    m.tensors.push_back(weight_random(rng, matrix_type, {k, e}, p + "attn_k.weight"));
    m.tensors.push_back(f32_random(rng, {k}, 0.1f, p + "attn_k.bias"));
    m.tensors.push_back(weight_random(rng, matrix_type, {k, e}, p + "attn_v.weight"));
    m.tensors.push_back(f32_random(rng, {k}, 0.1f, p + "attn_v.bias"));
    m.tensors.push_back(weight_random(rng, matrix_type, {e, h}, p + "attn_output.weight"));
    m.tensors.push_back(norm_weight(rng, e, p + "ffn_norm.weight"));
    m.tensors.push_back(weight_random(rng, matrix_type, {f, e}, p + "ffn_gate.weight"));
    m.tensors.push_back(weight_random(rng, matrix_type, {f, e}, p + "ffn_up.weight"));
    m.tensors.push_back(weight_random(rng, matrix_type, {e, f}, p + "ffn_down.weight"));
  }
  return m;
}

inline HostTensor kv_tensor(const std::vector<float>& rows, int64_t n_rows, int64_t width, int32_t type) {
  if (type == BB_TYPE_F32) return f32_tensor(rows, {n_rows, width});
  HostTensor t{BB_TYPE_F16, {n_rows, width}, std::vector<uint8_t>(rows.size() * 2), ""};
  for (size_t i = 0; i < rows.size(); ++i) {
    const uint16_t hv = fp32_to_fp16(rows[i]);
    std::memcpy(t.bytes.data() + 2 * i, &hv, 2);
  }
  return t;
}

// ---------------------------------------------------------------------------------------------
// LAYER = the composition of rms_norm, qkv, rope, attention, o_proj, rms_norm, ffn plans.
struct LayerParts {
  std::vector<float> y, k_rope, v;  // the layer's output and this token's cache rows
};

class ScalarRefPluginLayer : public ScalarRefPluginTest {
 protected:
  // The layer computed op by op through plans, with cache history rows [0, pos) given in F32 and
  // stored as kv_type.
  LayerParts by_parts(const std::vector<HostTensor>& w, const bb_model_dims& d, const std::vector<float>& x,
                      int32_t pos, const std::vector<float>& k_hist, const std::vector<float>& v_hist,
                      int32_t kv_type) {
    const LayerShape s = layer_shape(d);
    const int64_t e = s.n_embd, h = s.q_width(), kw = s.kv_width();
    const HostTensor xt = f32_tensor(x, {e});
    const auto xn = run_ok(BB_OP_RMS_NORM, &d, {{w[0]}}, {xt}, {{e}})[0];
    const auto qkv_out = run_ok(BB_OP_QKV, &d, {{w[1], w[2], w[3], w[4], w[5], w[6]}}, {f32_tensor(xn, {e})},
                                {{h}, {kw}, {kw}});
    const auto roped =
        run_ok(BB_OP_ROPE, &d, {},
               {f32_tensor(qkv_out[0], {h}), f32_tensor(qkv_out[1], {kw}), i32_tensor(pos)}, {{h}, {kw}});
    std::vector<float> kc(k_hist.begin(), k_hist.begin() + pos * kw),
        vc(v_hist.begin(), v_hist.begin() + pos * kw);
    kc.insert(kc.end(), roped[1].begin(), roped[1].end());
    vc.insert(vc.end(), qkv_out[2].begin(), qkv_out[2].end());
    const auto a = run_ok(
        BB_OP_ATTENTION, &d, {},
        {f32_tensor(roped[0], {h}), kv_tensor(kc, pos + 1, kw, kv_type), kv_tensor(vc, pos + 1, kw, kv_type)},
        {{h}})[0];
    const auto o = run_ok(BB_OP_O_PROJ, &d, {{w[7]}}, {f32_tensor(a, {h})}, {{e}})[0];
    std::vector<float> hres(e);
    for (int64_t i = 0; i < e; ++i) hres[i] = x[i] + o[i];
    const auto hn = run_ok(BB_OP_RMS_NORM, &d, {{w[8]}}, {f32_tensor(hres, {e})}, {{e}})[0];
    const auto ff = run_ok(BB_OP_FFN, &d, {{w[9], w[10], w[11]}}, {f32_tensor(hn, {e})}, {{e}})[0];
    LayerParts parts;
    parts.y.resize(e);
    for (int64_t i = 0; i < e; ++i) parts.y[i] = hres[i] + ff[i];
    parts.k_rope = roped[1];
    parts.v = qkv_out[2];
    return parts;
  }

  // The LAYER plan over caches of C rows: history in rows < pos, NaN at row pos (the plan must
  // overwrite it in its own copy) and beyond (never attended).
  std::vector<float> layer_plan(const std::vector<HostTensor>& w, const bb_model_dims& d,
                                const std::vector<float>& x, int32_t pos, int64_t c,
                                const std::vector<float>& k_hist, const std::vector<float>& v_hist,
                                int32_t kv_type, int64_t iterations = 1) {
    const int64_t kw = int64_t{d.n_head_kv} * d.head_dim;
    std::vector<float> kc(c * kw, kNaN), vc(c * kw, kNaN);
    std::copy(k_hist.begin(), k_hist.begin() + pos * kw, kc.begin());
    std::copy(v_hist.begin(), v_hist.begin() + pos * kw, vc.begin());
    return run_ok(BB_OP_LAYER, &d, {w},
                  {f32_tensor(x, {d.n_embd}), i32_tensor(pos), kv_tensor(kc, c, kw, kv_type),
                   kv_tensor(vc, c, kw, kv_type)},
                  {{d.n_embd}}, iterations)[0];
  }
};

}  // namespace bb::scalar_ref::test
