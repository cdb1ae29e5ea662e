// llama_cpp's session through the harness's own DecodeDriver (the host's calls, no bench process):
// the KV history survives a decode at an earlier position (the stash of session.cpp), repeats at one
// position are idempotent, and a decode past the history written is refused with what is missing.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "model/qwen2_model.h"
#include "plugin/backend.h"
#include "plugin/registry.h"
#include "test_util.h"
#include "workload/decode_driver.h"

namespace {

using ::testing::HasSubstr;

struct Backends {
  bb::plugin::PluginRegistry registry;
  std::shared_ptr<const bb::plugin::LoadedPlugin> ref, llama;
  Backends() {
    bb::test::ScopedEnv no_path("BRICKBENCH_PLUGIN_PATH", std::nullopt);
    bb::plugin::SearchPaths paths;
    paths.use_env = false;
    registry.discover(paths);
    ref = registry.find("scalar_ref");
    llama = registry.find("llama_cpp");
  }
};

const std::string kModel = std::string(BRICKBENCH_TEST_DATA_DIR) + "/oracle/tiny-b-q4_k_m.gguf";

double nmse(const std::vector<float>& y, const std::vector<float>& ref) {
  double num = 0, den = 0;
  for (size_t i = 0; i < ref.size(); ++i) {
    num += (double(y[i]) - ref[i]) * (double(y[i]) - ref[i]);
    den += double(ref[i]) * ref[i];
  }
  return num / den;
}

// decode@10 between the history's write and decode@39 (as interleaved cells do) must leave rows
// 11..38 of the history in place: both backends then hold the same cache (row 10 rewritten by the
// decode in both) and agree at 39 within the decode bound. Without the stash llama.cpp would refuse
// position 39 (its cache cut at 10); with the history lost it would differ by far more.
TEST(LlamaCppSession, HistoryBeyondADecodedPositionSurvivesIt) {
  Backends b;
  ASSERT_TRUE(b.ref && b.llama) << b.registry.why_unavailable("llama_cpp");
  const auto model = bb::model::load_qwen2(kModel);
  bb::workload::DecodeDriver dr(b.ref, model, 64), dl(b.llama, model, 64);
  constexpr uint64_t kSeed = 4242;
  dr.write_kv_history(39, kSeed);
  dl.write_kv_history(39, kSeed);
  const auto r10 = dr.decode(17, 10), l10 = dl.decode(17, 10);
  EXPECT_LT(nmse(l10, r10), 2e-3);
  const auto r39 = dr.decode(5, 39), l39 = dl.decode(5, 39);
  EXPECT_LT(nmse(l39, r39), 2e-3);
  // and the last decode's own row is there for the next position
  const auto r40 = dr.decode(6, 40), l40 = dl.decode(6, 40);
  EXPECT_LT(nmse(l40, r40), 2e-3);
}

TEST(LlamaCppSession, RepeatsAtOnePositionAreIdempotent) {
  Backends b;
  ASSERT_TRUE(b.llama) << b.registry.why_unavailable("llama_cpp");
  const auto model = bb::model::load_qwen2(kModel);
  bb::workload::DecodeDriver dl(b.llama, model, 32);
  dl.write_kv_history(20, 7);
  const auto first = dl.decode(3, 20);
  const auto again = dl.decode(3, 20);
  ASSERT_EQ(first.size(), again.size());
  for (size_t i = 0; i < first.size(); ++i) {
    ASSERT_TRUE(std::isfinite(first[i])) << i;
    ASSERT_EQ(first[i], again[i]) << "logit " << i;
  }
}

TEST(LlamaCppSession, ADecodePastTheWrittenHistoryIsRefusedWithWhatIsMissing) {
  Backends b;
  ASSERT_TRUE(b.llama) << b.registry.why_unavailable("llama_cpp");
  const auto model = bb::model::load_qwen2(kModel);
  bb::workload::DecodeDriver dl(b.llama, model, 64);
  dl.write_kv_history(10, 7);
  try {
    dl.decode(3, 20);
    FAIL() << "decode at 20 after 10 history rows was accepted";
  } catch (const bb::plugin::BackendError& e) {
    EXPECT_EQ(e.status(), BB_INVALID_ARGUMENT);
    EXPECT_THAT(e.what(), HasSubstr("position 20 needs the KV rows 0..19"));
    EXPECT_THAT(e.what(), HasSubstr("rows 0..9"));
  }
}

}  // namespace
