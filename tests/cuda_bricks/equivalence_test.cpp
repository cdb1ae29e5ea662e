// Every plan op and weight type of cuda_bricks against scalar_ref on the same seeded random inputs
// (never zeros), outputs poisoned first, at the 0.5B, 1.5B and 7B shapes of Qwen2.5-Coder.
// Skipped, with the probe's reason, where there is no usable GPU.
#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

#include "cuda_harness.h"

namespace bb::cuda_bricks::test {
namespace {

using scalar_ref::test::f32_random;
using scalar_ref::test::f32_tensor;
using scalar_ref::test::i32_tensor;
using scalar_ref::test::norm_weight;
using scalar_ref::test::random_floats;
using scalar_ref::test::weight_random;

std::string what(const Shape& s, const std::string& rest) { return std::string(s.name) + " " + rest; }

// A matrix shape for GEMV of `type`: [n_ff, n_embd] when the type's blocks divide n_embd, else
// [n_embd, n_ff] (a 0.5B K-quant is its ffn_down).
std::pair<int64_t, int64_t> gemv_shape(const Shape& s, int32_t type) {
  if (s.n_embd % block_elements(type) == 0) return {s.n_ff, s.n_embd};
  return {s.n_embd, s.n_ff};
}

TEST_F(CudaVsRef, Copy) {
  std::mt19937_64 rng(7);
  const int64_t n = (int64_t{1} << 20) + 13;  // a tail that is not a whole 16 bytes
  HostTensor src{BB_TYPE_I8, {n}, std::vector<uint8_t>(static_cast<size_t>(n)), "src"};
  for (auto& b : src.bytes) b = static_cast<uint8_t>(rng() | 1);
  std::vector<bb_tensor> in{src.view()}, in_desc = in;
  HostTensor dst{BB_TYPE_I8, {n}, std::vector<uint8_t>(static_cast<size_t>(n), 0xA5), "dst"};
  std::vector<bb_tensor> out{dst.view()}, out_desc = out;
  in_desc[0].data = nullptr;
  out_desc[0].data = nullptr;
  bb_plan_desc d{};
  d.struct_size = sizeof(d);
  d.op = BB_OP_COPY;
  d.n_weight_sets = 1;
  d.n_inputs = 1;
  d.n_outputs = 1;
  d.inputs = in_desc.data();
  d.outputs = out_desc.data();
  bb_plan* plan = nullptr;
  ASSERT_EQ(take_error(cuda_.api, cuda_.api->plan_create(cuda_.ctx, &d, &plan)).status, BB_OK);
  ASSERT_EQ(take_error(cuda_.api, cuda_.api->plan_write_inputs(plan, 1, in.data())).status, BB_OK);
  bb_run_args run{};
  run.struct_size = sizeof(run);
  run.iterations = 3;
  ASSERT_EQ(take_error(cuda_.api, cuda_.api->plan_run(plan, &run)).status, BB_OK);
  EXPECT_EQ(run.device_time_valid, 1);
  EXPECT_GT(run.device_time_ns, 0u);
  ASSERT_EQ(take_error(cuda_.api, cuda_.api->plan_read_outputs(plan, 1, out.data())).status, BB_OK);
  cuda_.api->plan_destroy(plan);
  EXPECT_EQ(src.bytes, dst.bytes);
}

TEST_F(CudaVsRef, GemvEveryTypeAndShape) {
  for (const Shape& s : test_shapes()) {
    for (int32_t type : kTypes) {
      const auto [rows, cols] = gemv_shape(s, type);
      std::mt19937_64 rng(100 + static_cast<uint64_t>(type));
      // Two weight sets, 3 iterations from set 1: the last iteration uses set 0.
      const std::vector<std::vector<HostTensor>> sets = {{weight_random(rng, type, {rows, cols})},
                                                         {weight_random(rng, type, {rows, cols})}};
      const std::vector<HostTensor> in = {f32_random(rng, {cols})};
      int32_t dt = 0;
      const auto got = run_plan(cuda_, BB_OP_GEMV, nullptr, sets, in, {{rows}}, 3, 1, &dt);
      const auto ref = run_plan(ref_, BB_OP_GEMV, nullptr, sets, in, {{rows}}, 3, 1);
      ASSERT_FALSE(got.empty());
      ASSERT_FALSE(ref.empty());
      EXPECT_EQ(dt, 1);
      EXPECT_CLOSE(got[0], ref[0], gemv_nmse(type), gemv_max_rel(type),
                   what(s, std::string("gemv ") + type_label(type) + " [" + std::to_string(rows) + ", " +
                               std::to_string(cols) + "]"));
    }
  }
}

TEST_F(CudaVsRef, GemvOddRowCountAndLongRotation) {
  // Rows not a multiple of the 8 rows of a block; 5 sets, 21 iterations (graphs of 8 + singles).
  std::mt19937_64 rng(5);
  const bb_model_dims d = dims_of(kShapes[0]);
  std::vector<std::vector<HostTensor>> sets;
  for (int i = 0; i < 5; ++i) sets.push_back({weight_random(rng, BB_TYPE_Q8_0, {37, 512})});
  const std::vector<HostTensor> in = {f32_random(rng, {512})};
  for (int64_t begin : {0, 3}) {
    const auto got = run_plan(cuda_, BB_OP_GEMV, &d, sets, in, {{37}}, 21, begin);
    const auto ref = run_plan(ref_, BB_OP_GEMV, &d, sets, in, {{37}}, 21, begin);
    ASSERT_FALSE(got.empty());
    EXPECT_CLOSE(got[0], ref[0], 5e-4, 5e-2, "gemv 37 rows, begin " + std::to_string(begin));
  }
}

TEST_F(CudaVsRef, RmsNorm) {
  for (const Shape& s : test_shapes()) {
    std::mt19937_64 rng(11);
    const bb_model_dims d = dims_of(s);
    const std::vector<std::vector<HostTensor>> sets = {{norm_weight(rng, s.n_embd)},
                                                       {norm_weight(rng, s.n_embd)}};
    const std::vector<HostTensor> in = {f32_random(rng, {s.n_embd})};
    const auto got = run_plan(cuda_, BB_OP_RMS_NORM, &d, sets, in, {{s.n_embd}}, 2, 0);
    const auto ref = run_plan(ref_, BB_OP_RMS_NORM, &d, sets, in, {{s.n_embd}}, 2, 0);
    ASSERT_FALSE(got.empty());
    EXPECT_CLOSE(got[0], ref[0], 1e-6, 1e-4, what(s, "rms_norm"));
  }
}

std::vector<HostTensor> qkv_set(std::mt19937_64& rng, const Shape& s, int32_t tq, int32_t tk, int32_t tv) {
  const int64_t e = s.n_embd, h = int64_t{s.n_head} * s.head_dim, k = int64_t{s.n_head_kv} * s.head_dim;
  return {weight_random(rng, tq, {h, e}), f32_random(rng, {h}, 0.1f),     weight_random(rng, tk, {k, e}),
          f32_random(rng, {k}, 0.1f),     weight_random(rng, tv, {k, e}), f32_random(rng, {k}, 0.1f)};
}

TEST_F(CudaVsRef, QkvEveryTypeAndShape) {
  for (const Shape& s : test_shapes()) {
    const bb_model_dims d = dims_of(s);
    const int64_t e = s.n_embd, h = int64_t{s.n_head} * s.head_dim, k = int64_t{s.n_head_kv} * s.head_dim;
    for (int32_t type : kTypes) {
      if (e % block_elements(type) != 0) continue;
      std::mt19937_64 rng(200 + static_cast<uint64_t>(type));
      const std::vector<std::vector<HostTensor>> sets = {qkv_set(rng, s, type, type, type)};
      const std::vector<HostTensor> in = {f32_random(rng, {e})};
      const auto got = run_plan(cuda_, BB_OP_QKV, &d, sets, in, {{h}, {k}, {k}});
      const auto ref = run_plan(ref_, BB_OP_QKV, &d, sets, in, {{h}, {k}, {k}});
      ASSERT_EQ(got.size(), 3u);
      ASSERT_EQ(ref.size(), 3u);
      for (int i = 0; i < 3; ++i)
        EXPECT_CLOSE(got[i], ref[i], gemv_nmse(type), gemv_max_rel(type),
                     what(s, std::string("qkv ") + type_label(type) + " output " + std::to_string(i)));
    }
  }
  // The Q4_K_M mix: v in Q6_K (Q8_0 where rows are 896 wide).
  for (const Shape& s : test_shapes()) {
    const bb_model_dims d = dims_of(s);
    const bool k_ok = s.n_embd % 256 == 0;
    std::mt19937_64 rng(299);
    const std::vector<std::vector<HostTensor>> sets = {qkv_set(rng, s, k_ok ? BB_TYPE_Q4_K : BB_TYPE_Q5_0,
                                                               k_ok ? BB_TYPE_Q4_K : BB_TYPE_Q5_0,
                                                               k_ok ? BB_TYPE_Q6_K : BB_TYPE_Q8_0)};
    const std::vector<HostTensor> in = {f32_random(rng, {s.n_embd})};
    const int64_t h = int64_t{s.n_head} * s.head_dim, k = int64_t{s.n_head_kv} * s.head_dim;
    const auto got = run_plan(cuda_, BB_OP_QKV, &d, sets, in, {{h}, {k}, {k}});
    const auto ref = run_plan(ref_, BB_OP_QKV, &d, sets, in, {{h}, {k}, {k}});
    ASSERT_EQ(got.size(), 3u);
    for (int i = 0; i < 3; ++i)
      EXPECT_CLOSE(got[i], ref[i], 5e-4, 5e-2, what(s, "qkv mixed " + std::to_string(i)));
  }
}

TEST_F(CudaVsRef, Rope) {
  for (const Shape& s : test_shapes()) {
    const bb_model_dims d = dims_of(s);
    const int64_t h = int64_t{s.n_head} * s.head_dim, k = int64_t{s.n_head_kv} * s.head_dim;
    for (int32_t pos : {0, 7, 511, 4095}) {
      std::mt19937_64 rng(300 + static_cast<uint64_t>(pos));
      const std::vector<HostTensor> in = {f32_random(rng, {h}), f32_random(rng, {k}), i32_tensor(pos)};
      const auto got = run_plan(cuda_, BB_OP_ROPE, &d, {}, in, {{h}, {k}});
      const auto ref = run_plan(ref_, BB_OP_ROPE, &d, {}, in, {{h}, {k}});
      ASSERT_EQ(got.size(), 2u);
      for (int i = 0; i < 2; ++i)
        EXPECT_CLOSE(got[i], ref[i], 1e-6, 1e-4, what(s, "rope pos " + std::to_string(pos)));
    }
  }
}

TEST_F(CudaVsRef, AttentionShortAndLongContexts) {
  for (const Shape& s : test_shapes()) {
    const bb_model_dims d = dims_of(s);
    const int64_t h = int64_t{s.n_head} * s.head_dim, k = int64_t{s.n_head_kv} * s.head_dim;
    for (int32_t L : {1, 37, 512, 4096}) {
      for (int32_t kv_type : {BB_TYPE_F32, BB_TYPE_F16}) {
        if (kv_type == BB_TYPE_F16 && L != 512 && L != 37) continue;
        std::mt19937_64 rng(400 + static_cast<uint64_t>(L));
        const std::vector<HostTensor> in = {f32_random(rng, {h}, 2.0f),
                                            kv_tensor(random_floats(rng, L * k), L, k, kv_type),
                                            kv_tensor(random_floats(rng, L * k), L, k, kv_type)};
        const auto got = run_plan(cuda_, BB_OP_ATTENTION, &d, {}, in, {{h}});
        const auto ref = run_plan(ref_, BB_OP_ATTENTION, &d, {}, in, {{h}});
        ASSERT_FALSE(got.empty());
        EXPECT_CLOSE(
            got[0], ref[0], 1e-5, 1e-3,
            what(s, "attention L " + std::to_string(L) + (kv_type == BB_TYPE_F16 ? " F16" : " F32")));
      }
    }
  }
}

TEST_F(CudaVsRef, OProjEveryTypeAndShape) {
  for (const Shape& s : test_shapes()) {
    const bb_model_dims d = dims_of(s);
    const int64_t e = s.n_embd, h = int64_t{s.n_head} * s.head_dim;
    for (int32_t type : kTypes) {
      if (h % block_elements(type) != 0) continue;
      std::mt19937_64 rng(500 + static_cast<uint64_t>(type));
      const std::vector<std::vector<HostTensor>> sets = {{weight_random(rng, type, {e, h})},
                                                         {weight_random(rng, type, {e, h})}};
      const std::vector<HostTensor> in = {f32_random(rng, {h})};
      const auto got = run_plan(cuda_, BB_OP_O_PROJ, &d, sets, in, {{e}}, 1, 1);
      const auto ref = run_plan(ref_, BB_OP_O_PROJ, &d, sets, in, {{e}}, 1, 1);
      ASSERT_FALSE(got.empty());
      EXPECT_CLOSE(got[0], ref[0], gemv_nmse(type), gemv_max_rel(type),
                   what(s, std::string("o_proj ") + type_label(type)));
    }
  }
}

std::vector<HostTensor> ffn_set(std::mt19937_64& rng, const Shape& s, int32_t t_gate_up, int32_t t_down) {
  return {weight_random(rng, t_gate_up, {s.n_ff, s.n_embd}),
          weight_random(rng, t_gate_up, {s.n_ff, s.n_embd}), weight_random(rng, t_down, {s.n_embd, s.n_ff})};
}

TEST_F(CudaVsRef, FfnEveryTypeAndShape) {
  for (const Shape& s : test_shapes()) {
    const bb_model_dims d = dims_of(s);
    for (int32_t type : kTypes) {
      if (s.n_embd % block_elements(type) != 0 || s.n_ff % block_elements(type) != 0) continue;
      if (std::string(s.name) == "7B" && (type == BB_TYPE_F32 || type == BB_TYPE_Q4_0)) continue;  // time
      std::mt19937_64 rng(600 + static_cast<uint64_t>(type));
      const std::vector<std::vector<HostTensor>> sets = {ffn_set(rng, s, type, type)};
      const std::vector<HostTensor> in = {f32_random(rng, {s.n_embd})};
      const auto got = run_plan(cuda_, BB_OP_FFN, &d, sets, in, {{s.n_embd}});
      const auto ref = run_plan(ref_, BB_OP_FFN, &d, sets, in, {{s.n_embd}});
      ASSERT_FALSE(got.empty());
      EXPECT_CLOSE(got[0], ref[0], gemv_nmse(type), gemv_max_rel(type),
                   what(s, std::string("ffn ") + type_label(type)));
    }
    // The Q4_K_M mix (0.5B: gate/up Q5_0, down Q6_K).
    std::mt19937_64 rng(699);
    const bool k_ok = s.n_embd % 256 == 0;
    const std::vector<std::vector<HostTensor>> sets = {
        ffn_set(rng, s, k_ok ? BB_TYPE_Q4_K : BB_TYPE_Q5_0, BB_TYPE_Q6_K)};
    const std::vector<HostTensor> in = {f32_random(rng, {s.n_embd})};
    const auto got = run_plan(cuda_, BB_OP_FFN, &d, sets, in, {{s.n_embd}});
    const auto ref = run_plan(ref_, BB_OP_FFN, &d, sets, in, {{s.n_embd}});
    ASSERT_FALSE(got.empty());
    EXPECT_CLOSE(got[0], ref[0], 5e-4, 5e-2, what(s, "ffn Q4_K_M mix"));
  }
}

// The 12 weights of a layer in LAYER's order, in a Q4_K_M-like mix or one type throughout.
std::vector<HostTensor> layer_set(std::mt19937_64& rng, const Shape& s, int32_t type, bool mix) {
  const bool k_ok = s.n_embd % 256 == 0;
  const int32_t main = mix ? (k_ok ? BB_TYPE_Q4_K : BB_TYPE_Q5_0) : type;
  const int32_t v = mix ? (k_ok ? BB_TYPE_Q6_K : BB_TYPE_Q8_0) : type;
  const int32_t down = mix ? BB_TYPE_Q6_K : type;
  auto qkv = qkv_set(rng, s, main, main, v);
  const int64_t e = s.n_embd, h = int64_t{s.n_head} * s.head_dim;
  std::vector<HostTensor> set = {norm_weight(rng, e)};
  set.insert(set.end(), qkv.begin(), qkv.end());
  set.push_back(weight_random(rng, main, {e, h}));
  set.push_back(norm_weight(rng, e));
  auto ffn = ffn_set(rng, s, main, down);
  set.insert(set.end(), ffn.begin(), ffn.end());
  return set;
}

TEST_F(CudaVsRef, LayerMixesTypesAndContexts) {
  struct Case {
    int32_t type;
    bool mix;
    int32_t kv_type;
    int32_t pos;
  };
  for (const Shape& s : test_shapes()) {
    const bool big = std::string(s.name) == "7B";
    std::vector<Case> cases = {{0, true, BB_TYPE_F32, 100}, {0, true, BB_TYPE_F32, 0}};
    if (!big) {
      cases.push_back({0, true, BB_TYPE_F16, 511});
      cases.push_back({BB_TYPE_Q8_0, false, BB_TYPE_F32, 37});
      cases.push_back({BB_TYPE_F16, false, BB_TYPE_F32, 5});
    }
    const bb_model_dims d = dims_of(s);
    const int64_t e = s.n_embd, k = int64_t{s.n_head_kv} * s.head_dim;
    for (const Case& c : cases) {
      std::mt19937_64 rng(700 + static_cast<uint64_t>(c.pos));
      const std::vector<std::vector<HostTensor>> sets = {layer_set(rng, s, c.type, c.mix),
                                                         layer_set(rng, s, c.type, c.mix)};
      const int64_t rows = c.pos + 3;  // C > pos + 1: rows past pos are never attended
      auto kh = random_floats(rng, rows * k), vh = random_floats(rng, rows * k);
      const std::vector<HostTensor> in = {f32_random(rng, {e}), i32_tensor(c.pos),
                                          kv_tensor(kh, rows, k, c.kv_type),
                                          kv_tensor(vh, rows, k, c.kv_type)};
      // Iterations 3 from set 0: set 0, 1, 0 (each rewrites row pos of the plan's own cache copy).
      const auto got = run_plan(cuda_, BB_OP_LAYER, &d, sets, in, {{e}}, 3, 0);
      const auto ref = run_plan(ref_, BB_OP_LAYER, &d, sets, in, {{e}}, 3, 0);
      ASSERT_FALSE(got.empty());
      EXPECT_CLOSE(got[0], ref[0], 1e-3, 1e-1,
                   what(s, std::string("layer ") + (c.mix ? "Q4_K_M mix" : type_label(c.type)) + " pos " +
                               std::to_string(c.pos) + (c.kv_type == BB_TYPE_F16 ? " F16 KV" : "")));
    }
  }
}

}  // namespace
}  // namespace bb::cuda_bricks::test
