// `bench generate` as a user runs it: the real executable, its exit codes and its output files.
#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <string>

#include "test_util.h"
#include "verify/logits_compare.h"

namespace {

const std::string kOracle = std::string(BRICKBENCH_TEST_DATA_DIR) + "/oracle/";

struct Result {
  int exit_code;
  std::string output;  // stdout and stderr together
};

Result run(const std::string& args) {
  bb::test::ScopedEnv no_env_plugins("BRICKBENCH_PLUGIN_PATH", std::nullopt);
  auto r = bb::test::run_bench(args);
  return {r.exit_code, r.out + r.err};
}

// Issue 14, defect 17: --n beyond the model's context decoded for 25 s, then exited 1.
TEST(GenerateCli, MoreTokensThanTheContextIsAUsageErrorUpFront) {
  auto r = run("generate --model " + kOracle + "tiny-a-q8_0.gguf --backend scalar_ref --n 100000");
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_NE(r.output.find("= 100003 positions, more than the model's context of"), std::string::npos)
      << r.output;
  EXPECT_EQ(r.output.find("decoded"), std::string::npos) << r.output;  // nothing was decoded
}

TEST(GenerateCli, WritesLogitsInTheOracleLayout) {
  bb::test::TempDir dir;
  auto out = dir.path() + "/logits.json";
  auto r = run("generate --model " + kOracle +
               "tiny-a-q8_0.gguf --backend scalar_ref --tokens 3,17,42 --n 5 --logits-out " + out);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  auto rec = bb::verify::read_logits_json(out);
  EXPECT_EQ(rec.n_vocab, 512);
  EXPECT_EQ(rec.prompt, (std::vector<int32_t>{3, 17, 42}));
  EXPECT_EQ(rec.prompt_logits.size(), 3u);
  EXPECT_EQ(rec.greedy.size(), 5u);
  EXPECT_EQ(rec.greedy_logits.size(), 5u);
  // Greedy means each token is the argmax of the logits before it.
  EXPECT_EQ(rec.greedy[0], bb::verify::argmax(rec.prompt_logits.back()));
  for (size_t i = 1; i < rec.greedy.size(); ++i)
    EXPECT_EQ(rec.greedy[i], bb::verify::argmax(rec.greedy_logits[i - 1]));
  EXPECT_NE(r.output.find("greedy:"), std::string::npos);
}

TEST(GenerateCli, CheckAgainstOraclePassesAndExitsZero) {
  auto r = run("generate --model " + kOracle + "tiny-b-q4_k_m.gguf --check-against " + kOracle +
               "tiny-b-q4_k_m.logits.json");
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("PASS"), std::string::npos) << r.output;
}

TEST(GenerateCli, CheckAgainstTheWrongModelFails) {
  // tiny-a's logits against tiny-a-q4_0's file: same vocabulary, different weights, must FAIL (exit 1).
  auto r = run("generate --model " + kOracle + "tiny-a-q4_0.gguf --check-against " + kOracle +
               "tiny-a-f32.logits.json --max-nmse 1e-6");
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_NE(r.output.find("FAIL"), std::string::npos) << r.output;
}

TEST(GenerateCli, UsageErrorsExitTwoWithAClearMessage) {
  auto no_model = run("generate --backend scalar_ref");
  EXPECT_EQ(no_model.exit_code, 2);
  EXPECT_NE(no_model.output.find("--model"), std::string::npos) << no_model.output;

  auto bad_tokens = run("generate --model " + kOracle + "tiny-a-f32.gguf --tokens 3,x,5");
  EXPECT_EQ(bad_tokens.exit_code, 2);
  EXPECT_NE(bad_tokens.output.find("'x'"), std::string::npos) << bad_tokens.output;

  auto out_of_vocab = run("generate --model " + kOracle + "tiny-a-f32.gguf --tokens 3,999");
  EXPECT_EQ(out_of_vocab.exit_code, 2);
  EXPECT_NE(out_of_vocab.output.find("999"), std::string::npos) << out_of_vocab.output;

  auto no_backend = run("generate --model " + kOracle + "tiny-a-f32.gguf --backend no_such_backend");
  EXPECT_EQ(no_backend.exit_code, 2);
  EXPECT_NE(no_backend.output.find("no_such_backend"), std::string::npos) << no_backend.output;

  auto missing_file = run("generate --model /nonexistent/model.gguf");
  EXPECT_EQ(missing_file.exit_code, 2);
  EXPECT_NE(missing_file.output.find("/nonexistent/model.gguf"), std::string::npos) << missing_file.output;
}

TEST(GenerateCli, HelpExitsZero) {
  auto r = run("generate --help");
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_NE(r.output.find("--logits-out"), std::string::npos);
}

}  // namespace
