// scalar_ref against llama.cpp's own logits on every oracle model (tests/data/oracle, provenance in
// its README): feed llama.cpp's token sequence (prompt + greedy[:-1]) and compare the logits of every
// position. Bounds from the oracle README: f32/f16 NMSE <= 5e-6 and top-1 100%; quantized
// NMSE <= 2e-3 and top-1 >= 85%. A wrong RoPE style, GQA mapping, bias or eps lands above 1e-1.
#include <gtest/gtest.h>

#include <cstdio>
#include <ostream>
#include <string>

#include "model/qwen2_model.h"
#include "plugin/registry.h"
#include "verify/logits_compare.h"
#include "workload/decode_driver.h"

namespace {

const std::string kOracle = std::string(BRICKBENCH_TEST_DATA_DIR) + "/oracle/";

struct OracleCase {
  const char* model;
  bool float_weights;
};

void PrintTo(const OracleCase& c, std::ostream* os) { *os << c.model; }

class OracleConformance : public ::testing::TestWithParam<OracleCase> {};

TEST_P(OracleConformance, ScalarRefMatchesLlamaCpp) {
  const OracleCase c = GetParam();
  auto model = bb::model::load_qwen2(kOracle + c.model + ".gguf");
  auto oracle = bb::verify::read_logits_json(kOracle + c.model + ".logits.json");
  ASSERT_EQ(oracle.n_vocab, model.dims.n_vocab);

  bb::plugin::PluginRegistry registry;
  bb::plugin::SearchPaths paths;
  paths.use_env = false;  // the build's own scalar_ref, whatever the environment says
  registry.discover(paths);
  auto ref = registry.find("scalar_ref");
  ASSERT_TRUE(ref) << registry.why_unavailable("scalar_ref");

  auto fed = oracle.fed_tokens();
  bb::workload::DecodeDriver driver(ref, model, static_cast<int32_t>(fed.size()));
  auto ours = driver.teacher_forced(fed);
  auto a = bb::verify::compare_logits(ours, oracle.fed_logits());

  // Printed so docs/VALIDATION.md can quote the run.
  std::printf("[oracle] %-16s positions %d  NMSE %.3e  top-1 %.1f%%  max|err| %.3e\n", c.model, a.positions,
              a.nmse, 100 * a.top1_agreement, a.max_abs_error);
  RecordProperty("nmse", std::to_string(a.nmse));
  RecordProperty("top1", std::to_string(a.top1_agreement));
  EXPECT_EQ(a.positions, 23);
  EXPECT_EQ(a.non_finite, 0);
  if (c.float_weights) {
    EXPECT_LE(a.nmse, 5e-6);
    EXPECT_EQ(a.top1_agreement, 1.0);
  } else {
    EXPECT_LE(a.nmse, 2e-3);
    EXPECT_GE(a.top1_agreement, 0.85);
  }
}

INSTANTIATE_TEST_SUITE_P(AllOracleModels, OracleConformance,
                         ::testing::Values(OracleCase{"tiny-a-f32", true}, OracleCase{"tiny-a-f16", true},
                                           OracleCase{"tiny-a-q8_0", false}, OracleCase{"tiny-a-q5_0", false},
                                           OracleCase{"tiny-a-q4_0", false}, OracleCase{"tiny-a-q6_k", false},
                                           OracleCase{"tiny-a-q4_k_m", false}, OracleCase{"tiny-b-f32", true},
                                           OracleCase{"tiny-b-q4_k_m", false},
                                           OracleCase{"tiny-b-q5_0", false},
                                           OracleCase{"tiny-b-q8_0", false}),
                         [](const auto& param_info) {
                           std::string n = param_info.param.model;
                           for (auto& ch : n)
                             if (ch == '-') ch = '_';
                           return n;
                         });

// The greedy path of the driver reproduces llama.cpp's greedy tokens on the f32 model, where the
// logits agree to ~1e-7 and no argmax is close enough to flip.
TEST(OracleGreedy, F32GreedyTokensEqualLlamaCpp) {
  auto model = bb::model::load_qwen2(kOracle + "tiny-a-f32.gguf");
  auto oracle = bb::verify::read_logits_json(kOracle + "tiny-a-f32.logits.json");
  bb::plugin::PluginRegistry registry;
  bb::plugin::SearchPaths paths;
  paths.use_env = false;
  registry.discover(paths);
  auto ref = registry.find("scalar_ref");
  ASSERT_TRUE(ref) << registry.why_unavailable("scalar_ref");
  bb::workload::DecodeDriver driver(ref, model, 64);
  auto rec = driver.greedy(oracle.prompt, static_cast<int32_t>(oracle.greedy.size()));
  EXPECT_EQ(rec.greedy, oracle.greedy);
  ASSERT_EQ(rec.greedy_logits.size(), oracle.greedy_logits.size());
  auto a = bb::verify::compare_logits(rec.greedy_logits, oracle.greedy_logits);
  EXPECT_LE(a.nmse, 5e-6);
}

}  // namespace
