#include "verify/logits_compare.h"

#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>

namespace {

using bb::verify::compare_logits;

TEST(LogitsCompare, NmseAndTop1OnValuesComputedByHand) {
  // reference rows: [1, 2], [3, 0]; candidate: [1, 2.5], [2, 4]
  // err = 0 + 0.25 + 1 + 16 = 17.25; ref = 1 + 4 + 9 + 0 = 14; NMSE = 17.25 / 14
  // argmax: row 0 both 1 (agree); row 1 ref 0, candidate 1 (disagree) -> top-1 0.5
  auto a = compare_logits({{1, 2.5f}, {2, 4}}, {{1, 2}, {3, 0}});
  EXPECT_NEAR(a.nmse, 17.25 / 14.0, 1e-12);
  EXPECT_DOUBLE_EQ(a.top1_agreement, 0.5);
  EXPECT_DOUBLE_EQ(a.max_abs_error, 4.0);
  EXPECT_EQ(a.positions, 2);
  EXPECT_EQ(a.non_finite, 0);
}

TEST(LogitsCompare, IdenticalRowsAgreeExactly) {
  auto a = compare_logits({{0.5f, -1, 3}}, {{0.5f, -1, 3}});
  EXPECT_EQ(a.nmse, 0.0);
  EXPECT_EQ(a.top1_agreement, 1.0);
}

TEST(LogitsCompare, NonFiniteValuesMakeNmseInfinite) {
  float nan = std::numeric_limits<float>::quiet_NaN();
  auto a = compare_logits({{nan, 1}}, {{0, 1}});
  EXPECT_EQ(a.non_finite, 1);
  EXPECT_TRUE(std::isinf(a.nmse));
}

TEST(LogitsCompare, ShapeMismatchThrows) {
  EXPECT_THROW(compare_logits({{1, 2}}, {{1, 2}, {3, 4}}), std::invalid_argument);
  EXPECT_THROW(compare_logits({{1, 2, 3}}, {{1, 2}}), std::invalid_argument);
}

TEST(LogitsCompare, ArgmaxTakesTheFirstMaximum) {
  EXPECT_EQ(bb::verify::argmax({1, 5, 5, 2}), 1);
  EXPECT_EQ(bb::verify::argmax({-3}), 0);
}

TEST(LogitsJson, RoundTripsExactlyAndReadsTheOracle) {
  bb::verify::LogitsRecord r;
  r.n_vocab = 3;
  r.prompt = {1, 2};
  r.prompt_logits = {{0.1f, -2.5e-8f, 3e7f}, {1.0f / 3, 2, 3}};
  r.greedy = {2};
  r.greedy_logits = {{-1, -2, -3.14159274f}};
  auto path = (std::filesystem::temp_directory_path() / ("bb_logits_" + std::to_string(::getpid()) + ".json"))
                  .string();
  bb::verify::write_logits_json(r, path);
  auto back = bb::verify::read_logits_json(path);
  EXPECT_EQ(back.prompt, r.prompt);
  EXPECT_EQ(back.greedy, r.greedy);
  EXPECT_EQ(back.prompt_logits, r.prompt_logits);  // 9 significant digits round-trip floats exactly
  EXPECT_EQ(back.greedy_logits, r.greedy_logits);
  EXPECT_EQ(back.fed_tokens(), (std::vector<int32_t>{1, 2}));
  std::filesystem::remove(path);

  auto oracle =
      bb::verify::read_logits_json(std::string(BRICKBENCH_TEST_DATA_DIR) + "/oracle/tiny-a-f32.logits.json");
  EXPECT_EQ(oracle.n_vocab, 512);
  EXPECT_EQ(oracle.prompt.size(), 12u);
  EXPECT_EQ(oracle.fed_tokens().size(), 23u);
  EXPECT_EQ(oracle.fed_logits().size(), 23u);
}

TEST(LogitsJson, MalformedFilesNameTheFileAndTheField) {
  auto path =
      (std::filesystem::temp_directory_path() / ("bb_bad_" + std::to_string(::getpid()) + ".json")).string();
  std::ofstream(path)
      << R"({"n_vocab": 2, "prompt": [1], "prompt_logits": [[1]], "greedy": [], "greedy_logits": []})";
  try {
    bb::verify::read_logits_json(path);
    FAIL() << "a row of the wrong width was accepted";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find(path), std::string::npos);
    EXPECT_NE(std::string(e.what()).find("prompt_logits"), std::string::npos);
  }
  std::ofstream(path) << "{ not json";
  EXPECT_THROW(bb::verify::read_logits_json(path), std::runtime_error);
  std::filesystem::remove(path);
}

}  // namespace
