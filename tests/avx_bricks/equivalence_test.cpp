// avx_bricks against scalar_ref through `bench run`, as users run it: every brick (copy, rms_norm,
// qkv, rope, attention with F32 and F16 caches, o_proj, ffn, layer, decode, generate, gemv of every
// weight type of the file) at the real Qwen2.5-Coder 0.5B and 1.5B shapes of the synthetic Q4_K_M
// models, plus F16 and F32 weights on the float oracle models. The runner feeds both backends the
// same seeded random inputs (never zeros), poisons outputs with NaN before every check run and
// compares with the tolerances of the act_q8 class the plugin declares. Both builds: AVX-512 as
// picked, AVX2 by capping the probe.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fstream>
#include <map>
#include <set>
#include <string>

#include "avx_test_util.h"
#include "result/result_json.h"

namespace {

using bb::avx_test::run_bench_with;
using bb::report::CellStatus;

const std::string kOracle = std::string(BRICKBENCH_TEST_DATA_DIR) + "/oracle/";

// A seed of its own, unlike the shipped configs' 42: inputs the kernels were not tuned on.
constexpr int kSeed = 20261126;

std::string protocol() {
  return "protocol: {warmup_ms: 0, warmup_min_iterations: 1, min_samples: 1, max_samples: 2, cv_target: 0.5,"
         " max_seconds_per_cell: 0.05, seed: " +
         std::to_string(kSeed) + "}\n";
}

const char* kEveryBrick =
    "  - copy\n"
    "  - rms_norm\n"
    "  - qkv\n"
    "  - rope\n"
    "  - {brick: attention, context: 512}\n"
    "  - {brick: attention, context: 77, kv_type: F16}\n"
    "  - o_proj\n"
    "  - ffn\n"
    "  - {brick: layer, context: 512}\n"
    "  - {brick: layer, context: 33, kv_type: F16}\n"
    "  - {brick: decode, context: 512}\n"
    "  - {brick: generate, tokens: 4}\n"
    "  - {brick: gemv, type: all}\n";

struct RunOutcome {
  bb::report::RunResult result;
  std::string log;
};

RunOutcome run_config(const std::string& name, const std::string& model, const std::string& bricks,
                      const std::optional<std::string>& cap) {
  bb::test::TempDir dir;
  const std::string cfg = dir.path() + "/" + name + ".yaml", out = dir.path() + "/" + name + ".json";
  std::ofstream(cfg) << "name: " << name << "\nmodel: " << model << "\nbackends: [scalar_ref, avx_bricks]\n"
                     << protocol() << "bricks:\n"
                     << bricks;
  auto r = run_bench_with(
      "run " + bb::test::shell_quote(cfg) + " --quiet --bandwidth-mib 16 --out " + bb::test::shell_quote(out),
      cap);
  RunOutcome o;
  o.log = r.err + r.out;
  EXPECT_EQ(r.exit_code, 0) << o.log;
  o.result = bb::report::read_result_json(out);
  return o;
}

std::string build_of(const bb::report::RunResult& r) {
  for (const auto& p : r.plugins)
    if (p.name == "avx_bricks")
      for (const auto& [k, v] : p.build_info)
        if (k == "build") return v;
  return "";
}

// Every avx_bricks cell ran, was compared with scalar_ref and passed; returns the cell ids seen.
std::set<std::string> expect_all_equivalent(const RunOutcome& o) {
  std::set<std::string> ids;
  for (const auto& c : o.result.cells) {
    if (c.backend != "avx_bricks") continue;
    ids.insert(c.id);
    SCOPED_TRACE(c.id + " (" + c.shape + ")");
    EXPECT_NE(c.status, CellStatus::Failed) << c.status_reason;
    EXPECT_NE(c.status, CellStatus::Skipped) << c.status_reason;
    EXPECT_NE(c.status, CellStatus::Interrupted) << c.status_reason;
    EXPECT_TRUE(c.equivalence.checked) << c.equivalence.note;
    EXPECT_TRUE(c.equivalence.pass) << c.equivalence.note;
    EXPECT_EQ(c.equivalence.non_finite, 0);
    if (c.id != "copy" && c.id != "bandwidth" && c.brick != "rope" && c.brick != "rms_norm" &&
        c.brick != "attention") {
      EXPECT_EQ(c.equivalence.tolerance_class, "act_q8");
    }
    std::printf("[equiv] %-8s %-14s %-18s nmse %.2e max_rel %.2e%s\n", build_of(o.result).c_str(),
                c.id.c_str(), c.equivalence.tolerance_class.c_str(), c.equivalence.nmse,
                c.equivalence.max_rel,
                c.equivalence.top1 ? (" top1 " + std::to_string(*c.equivalence.top1)).c_str() : "");
  }
  EXPECT_GE(ids.size(), 5u) << "too few avx_bricks cells in the result:\n" << o.log;
  return ids;
}

const std::string k05 = "{synthetic: {model: qwen2.5-coder-0.5b, quant: q4_k_m, seed: 1}}";
const std::string k15 = "{synthetic: {model: qwen2.5-coder-1.5b, quant: q4_k_m, seed: 1}}";

TEST(AvxEquivalence, Qwen05bEveryBrickAvx512) {
  AVX_TEST_REQUIRE_AVX512();
  auto o = run_config("avx-equiv-0.5b", k05, kEveryBrick, std::nullopt);
  EXPECT_EQ(build_of(o.result), "avx512");
  const auto ids = expect_all_equivalent(o);
  for (const char* id :
       {"gemv.Q5_0", "gemv.Q8_0", "gemv.Q4_K", "gemv.Q6_K", "decode@512", "layer@512", "ffn"})
    EXPECT_TRUE(ids.count(id)) << id << " missing";
}

TEST(AvxEquivalence, Qwen15bEveryBrickAvx512) {
  AVX_TEST_REQUIRE_AVX512();
  auto o = run_config("avx-equiv-1.5b", k15, kEveryBrick, std::nullopt);
  EXPECT_EQ(build_of(o.result), "avx512");
  const auto ids = expect_all_equivalent(o);
  for (const char* id : {"gemv.Q4_K", "gemv.Q6_K", "decode@512", "layer@512", "ffn", "qkv"})
    EXPECT_TRUE(ids.count(id)) << id << " missing";
}

TEST(AvxEquivalence, Qwen05bEveryBrickAvx2) {
  AVX_TEST_REQUIRE_AVX2();
  auto o = run_config("avx2-equiv-0.5b", k05, kEveryBrick, std::string("avx2"));
  EXPECT_EQ(build_of(o.result), "avx2");
  expect_all_equivalent(o);
}

TEST(AvxEquivalence, Qwen15bKernelsAvx2) {
  AVX_TEST_REQUIRE_AVX2();
  auto o = run_config(
      "avx2-equiv-1.5b", k15,
      "  - qkv\n  - o_proj\n  - ffn\n  - {brick: layer, context: 300}\n  - {brick: gemv, type: all}\n",
      std::string("avx2"));
  EXPECT_EQ(build_of(o.result), "avx2");
  expect_all_equivalent(o);
}

// F16 and F32 weights (float activations) on llama.cpp's float oracle models.
TEST(AvxEquivalence, FloatWeightModelsBothBuilds) {
  AVX_TEST_REQUIRE_AVX2();
  const char* bricks =
      "  - rms_norm\n  - qkv\n  - o_proj\n  - ffn\n  - {brick: layer, context: 20}\n"
      "  - {brick: decode, context: 20}\n  - {brick: gemv, type: all}\n";
  for (const std::optional<std::string>& cap :
       {std::optional<std::string>{}, std::optional<std::string>{"avx2"}}) {
    if (!cap && !bb::avx_test::cpu_has_avx512()) continue;
    for (const char* m : {"tiny-a-f16", "tiny-a-f32", "tiny-b-f32"}) {
      SCOPED_TRACE(std::string(m) + (cap ? " avx2" : " avx512"));
      auto o = run_config(std::string("avx-float-") + m, "{gguf: " + kOracle + m + ".gguf}", bricks, cap);
      const auto ids = expect_all_equivalent(o);
      EXPECT_TRUE(ids.count(std::string("gemv.") +
                            (std::string(m).find("f16") != std::string::npos ? "F16" : "F32")));
    }
  }
}

}  // namespace
