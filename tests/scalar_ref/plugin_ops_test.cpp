// The plugin's plans through the C ABI: identity, capabilities, every op against the kernels, weight
// set rotation, and LAYER against the composition of the smaller ops.
#include <gtest/gtest.h>

#include <algorithm>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "plugin_harness.h"

namespace bb::scalar_ref::test {
namespace {

constexpr int32_t kAllWeightTypes[] = {BB_TYPE_F32,  BB_TYPE_F16,  BB_TYPE_BF16, BB_TYPE_Q4_0, BB_TYPE_Q5_0,
                                       BB_TYPE_Q8_0, BB_TYPE_Q4_K, BB_TYPE_Q5_K, BB_TYPE_Q6_K};

TEST(ScalarRefPluginIdentity, EntryAndProbe) {
  const bb_plugin_api* api = Plugin::get().api(nullptr);
  ASSERT_NE(api, nullptr);
  EXPECT_EQ(api->struct_size, sizeof(bb_plugin_api));
  EXPECT_EQ(api->abi_major, 1u);
  EXPECT_EQ(api->abi_minor, uint32_t(BB_ABI_VERSION_MINOR));
  EXPECT_STREQ(api->name, "scalar_ref");
  EXPECT_NE(std::string(api->version), "");
  EXPECT_NE(std::string(api->description), "");
  EXPECT_NE(api->session_write_kv, nullptr);
  EXPECT_NE(api->session_generate, nullptr);

  bb_host_api host{};
  host.struct_size = sizeof(host);
  host.abi_major = 1;
  EXPECT_EQ(Plugin::get().api(&host), api);
  host.abi_major = 2;
  EXPECT_EQ(Plugin::get().api(&host), nullptr) << "another ABI major must be refused";
  Plugin::get().api(nullptr);  // the plugin keeps the host pointer: do not leave it this stack object

  ASSERT_NE(Plugin::get().probe(), nullptr);
  char reason[64] = {};
  bb_probe_args probe{sizeof(bb_probe_args), 1, 0, reason, sizeof(reason)};
  EXPECT_EQ(Plugin::get().probe()(&probe), 100);
  EXPECT_EQ(Plugin::get().probe()(nullptr), 100);
}

TEST_F(ScalarRefPluginTest, CapabilitiesCoverEveryOpAndType) {
  const bb_capability* caps = nullptr;
  size_t n = 0;
  BB_ASSERT_OK(api_, api_->get_capabilities(&caps, &n));
  std::set<std::pair<int32_t, int32_t>> have;
  for (size_t i = 0; i < n; ++i) {
    EXPECT_EQ(caps[i].struct_size, sizeof(bb_capability));
    have.insert({caps[i].op, caps[i].weight_type});
    if (caps[i].op == BB_OP_ATTENTION || caps[i].op == BB_OP_LAYER) {
      EXPECT_TRUE(caps[i].flags & BB_CAP_KV_F16);
    }
    EXPECT_FALSE(caps[i].flags & BB_CAP_ACT_Q8) << "the reference never quantizes activations";
  }
  for (int32_t t : kAllWeightTypes) {
    for (int32_t op : {BB_OP_GEMV, BB_OP_QKV, BB_OP_O_PROJ, BB_OP_FFN, BB_OP_LAYER}) {
      EXPECT_TRUE(have.count({op, t})) << "op " << op << " type " << t;
    }
  }
  for (int32_t op : {BB_OP_COPY, BB_OP_ROPE, BB_OP_ATTENTION, BB_OP_DECODE, BB_OP_GENERATE}) {
    EXPECT_TRUE(have.count({op, BB_TYPE_ANY})) << "op " << op;
  }
  EXPECT_TRUE(have.count({BB_OP_RMS_NORM, BB_TYPE_F32}));
  EXPECT_FALSE(have.count({BB_OP_GEMV, BB_TYPE_Q2_K}));
}

TEST_F(ScalarRefPluginTest, BuildInfoSaysScalar) {
  const bb_kv* kvs = nullptr;
  size_t n = 0;
  BB_ASSERT_OK(api_, api_->get_build_info(&kvs, &n));
  std::map<std::string, std::string> info;
  for (size_t i = 0; i < n; ++i) info[kvs[i].key] = kvs[i].value;
  EXPECT_EQ(info["isa"], "scalar");
  EXPECT_NE(info["compiler"], "");
  EXPECT_TRUE(info.count("build_type"));
  EXPECT_TRUE(info.count("cxx_flags"));
}

class ScalarRefPluginGemv : public ScalarRefPluginTest, public ::testing::WithParamInterface<int32_t> {};

TEST_P(ScalarRefPluginGemv, RotatesWeightSetsAndMatchesKernel) {
  const int32_t type = GetParam();
  const int64_t rows = 40, cols = 512;
  std::mt19937_64 rng(2000 + type);
  std::vector<std::vector<HostTensor>> sets;
  for (int s = 0; s < 3; ++s) sets.push_back({weight_random(rng, type, {rows, cols}, "W")});
  const HostTensor x = f32_random(rng, {cols});
  // iteration i uses set (begin + i) % 3: 5 iterations from 1 end on set 2; 1 iteration from 4 is set 1.
  for (auto [iterations, begin, last_set] : {std::tuple{5, 1, 2}, std::tuple{1, 4, 1}, std::tuple{1, 0, 0}}) {
    const auto out = run_ok(BB_OP_GEMV, nullptr, sets, {x}, {{rows}}, iterations, begin);
    std::vector<float> expect(rows);
    gemv(sets[static_cast<size_t>(last_set)][0].matrix(), x.f32(), expect.data());
    EXPECT_TRUE(same_bits(out[0], expect)) << type_name(type) << " begin " << begin;
  }
}

INSTANTIATE_TEST_SUITE_P(AllTypes, ScalarRefPluginGemv, ::testing::ValuesIn(kAllWeightTypes),
                         [](const auto& p) { return type_name(p.param); });

// Model dims with K-quant-friendly widths (E = H = 256), GQA 2:1.
bb_model_dims dims256() { return make_dims(256, 512, 4, 2, 64); }

TEST_F(ScalarRefPluginTest, CopyRmsNormQkvRopeOprojFfnMatchKernels) {
  const bb_model_dims d = dims256();
  const int64_t e = 256, h = 256, k = 128, f = 512;
  std::mt19937_64 rng(21);

  {  // copy
    HostTensor src{BB_TYPE_I8, {1000}, std::vector<uint8_t>(1000), "src"};
    for (auto& b : src.bytes) b = static_cast<uint8_t>(rng());
    HostTensor dst{BB_TYPE_I8, {1000}, std::vector<uint8_t>(1000), "dst"};
    const PlanResult r = run_plan(BB_OP_COPY, nullptr, {}, {src}, {dst}, 3);
    ASSERT_EQ(r.error.status, BB_OK) << r.error.message;
    EXPECT_EQ(r.outputs[0].bytes, src.bytes);
  }
  const HostTensor x = f32_random(rng, {e}, 2.0f);
  {  // rms_norm
    const HostTensor g = norm_weight(rng, e, "g");
    const auto out = run_ok(BB_OP_RMS_NORM, &d, {{g}}, {x}, {{e}});
    std::vector<float> expect(e);
    rms_norm(x.f32(), g.matrix(), e, d.rms_eps, expect.data());
    EXPECT_TRUE(same_bits(out[0], expect));
  }
  {  // qkv, with mixed weight types as a Q4_K_M file has them
    const std::vector<HostTensor> w = {weight_random(rng, BB_TYPE_Q4_K, {h, e}), f32_random(rng, {h}, 0.1f),
                                       weight_random(rng, BB_TYPE_Q4_K, {k, e}), f32_random(rng, {k}, 0.1f),
                                       weight_random(rng, BB_TYPE_Q6_K, {k, e}), f32_random(rng, {k}, 0.1f)};
    const auto out = run_ok(BB_OP_QKV, &d, {w}, {x}, {{h}, {k}, {k}});
    std::vector<float> q(h), kk(k), v(k);
    qkv(QkvWeights{w[0].matrix(), w[1].matrix(), w[2].matrix(), w[3].matrix(), w[4].matrix(), w[5].matrix()},
        x.f32(), q.data(), kk.data(), v.data());
    EXPECT_TRUE(same_bits(out[0], q));
    EXPECT_TRUE(same_bits(out[1], kk));
    EXPECT_TRUE(same_bits(out[2], v));
  }
  {  // rope
    const HostTensor q = f32_random(rng, {h}), kk = f32_random(rng, {k});
    const auto out = run_ok(BB_OP_ROPE, &d, {}, {q, kk, i32_tensor(37)}, {{h}, {k}});
    auto eq = q.floats(), ek = kk.floats();
    rope_neox(eq.data(), 4, 64, 37, d.rope_theta);
    rope_neox(ek.data(), 2, 64, 37, d.rope_theta);
    EXPECT_TRUE(same_bits(out[0], eq));
    EXPECT_TRUE(same_bits(out[1], ek));
  }
  {  // o_proj
    const HostTensor wo = weight_random(rng, BB_TYPE_Q5_0, {e, h});
    const HostTensor a = f32_random(rng, {h});
    const auto out = run_ok(BB_OP_O_PROJ, &d, {{wo}}, {a}, {{e}});
    std::vector<float> expect(e);
    gemv(wo.matrix(), a.f32(), expect.data());
    EXPECT_TRUE(same_bits(out[0], expect));
  }
  {  // ffn
    const std::vector<HostTensor> w = {weight_random(rng, BB_TYPE_Q4_K, {f, e}),
                                       weight_random(rng, BB_TYPE_Q4_K, {f, e}),
                                       weight_random(rng, BB_TYPE_Q6_K, {e, f})};
    const auto out = run_ok(BB_OP_FFN, &d, {w}, {x}, {{e}});
    std::vector<float> expect(e);
    ffn(FfnWeights{w[0].matrix(), w[1].matrix(), w[2].matrix()}, x.f32(), expect.data());
    EXPECT_TRUE(same_bits(out[0], expect));
  }
}

class ScalarRefPluginAttention : public ScalarRefPluginTest, public ::testing::WithParamInterface<int32_t> {};

TEST_P(ScalarRefPluginAttention, MatchesKernel) {
  const int32_t kv_type = GetParam();
  const bb_model_dims d = make_dims(96, 128, 6, 2, 16);  // GQA 3:1
  const LayerShape s = layer_shape(d);
  const int64_t L = 9;
  std::mt19937_64 rng(31);
  const HostTensor q = f32_random(rng, {s.q_width()});
  const auto k = random_floats(rng, L * s.kv_width()), v = random_floats(rng, L * s.kv_width());
  const HostTensor kc = kv_tensor(k, L, s.kv_width(), kv_type), vc = kv_tensor(v, L, s.kv_width(), kv_type);
  const auto out = run_ok(BB_OP_ATTENTION, &d, {}, {q, kc, vc}, {{s.q_width()}});
  KvCache kk(kv_type, s.kv_width(), L), vv(kv_type, s.kv_width(), L);
  kk.ensure_rows(L);
  vv.ensure_rows(L);
  kk.write_raw(0, L, kc.bytes.data());
  vv.write_raw(0, L, vc.bytes.data());
  std::vector<float> expect(s.q_width());
  attention(q.f32(), kk, vv, L, s, expect.data());
  EXPECT_TRUE(same_bits(out[0], expect));
}

INSTANTIATE_TEST_SUITE_P(KvTypes, ScalarRefPluginAttention, ::testing::Values(BB_TYPE_F32, BB_TYPE_F16),
                         [](const auto& p) { return type_name(p.param); });

struct LayerCase {
  int32_t weight_type;
  int32_t kv_type;
};

void PrintTo(const LayerCase& c, std::ostream* os) {
  *os << type_name(c.weight_type) << " weights, " << type_name(c.kv_type) << " KV";
}

class ScalarRefLayerComposition : public ScalarRefPluginLayer,
                                  public ::testing::WithParamInterface<LayerCase> {};

TEST_P(ScalarRefLayerComposition, EqualsSmallerOps) {
  const auto [weight_type, kv_type] = GetParam();
  const bb_model_dims d = make_dims(256, 512, 4, 2, 64, 1, 32, 16);
  const TinyModel m = make_tiny_model(41 + weight_type, weight_type, d);
  const auto w = m.layer_set(0);
  std::mt19937_64 rng(42);
  const int32_t pos = 5;
  const int64_t kw = 128;
  const auto k_hist = random_floats(rng, pos * kw), v_hist = random_floats(rng, pos * kw);
  const auto x = random_floats(rng, 256);
  const LayerParts parts = by_parts(w, d, x, pos, k_hist, v_hist, kv_type);
  const auto y = layer_plan(w, d, x, pos, 12, k_hist, v_hist, kv_type);
  EXPECT_TRUE(same_bits(y, parts.y));
  // Same position, more iterations: idempotent.
  const auto y3 = layer_plan(w, d, x, pos, pos + 1, k_hist, v_hist, kv_type, 3);
  EXPECT_TRUE(same_bits(y3, parts.y));
}

INSTANTIATE_TEST_SUITE_P(
    Types, ScalarRefLayerComposition,
    ::testing::Values(LayerCase{BB_TYPE_F32, BB_TYPE_F32}, LayerCase{BB_TYPE_Q8_0, BB_TYPE_F32},
                      LayerCase{BB_TYPE_Q4_K, BB_TYPE_F32}, LayerCase{BB_TYPE_F32, BB_TYPE_F16},
                      LayerCase{BB_TYPE_Q6_K, BB_TYPE_F16}),
    [](const auto& p) { return type_name(p.param.weight_type) + "_kv" + type_name(p.param.kv_type); });

TEST_F(ScalarRefPluginLayer, LayerAtPositionZeroAttendsOnlyItself) {
  const bb_model_dims d = make_dims(96, 128, 6, 2, 16, 1, 8, 8);
  const TinyModel m = make_tiny_model(51, BB_TYPE_F32, d);
  std::mt19937_64 rng(52);
  const auto x = random_floats(rng, 96);
  const LayerParts parts = by_parts(m.layer_set(0), d, x, 0, {}, {}, BB_TYPE_F32);
  EXPECT_TRUE(same_bits(layer_plan(m.layer_set(0), d, x, 0, 1, {}, {}, BB_TYPE_F32), parts.y));
}

}  // namespace
}  // namespace bb::scalar_ref::test
