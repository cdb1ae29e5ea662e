// bench diff / export as users and the nightly call them: exit codes, formats, and a few A/A and power
// trials with the real `bench run` and the test backend `faulty` (delay:<op>:<fraction>). The full
// validation (hundreds of cell comparisons, a delay sweep) is scripts/diff-validation.py; its numbers
// are in docs/VALIDATION.md. These trials are the part that fits CI time.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <rapidjson/document.h>

#include <fstream>
#include <iostream>
#include <sstream>

#include "result/result_json.h"
#include "sample_result.h"
#include "test_util.h"

namespace bb::report {
namespace {

using ::testing::HasSubstr;
const std::string kPowerConfig = std::string(BRICKBENCH_DIFF_TEST_DIR) + "/power.yaml";
const std::string kFaultyDir = std::string(BRICKBENCH_TEST_PLUGIN_DIR) + "/faulty";

class BenchDiffCli : public ::testing::Test {
 protected:
  test::ScopedEnv no_env_plugins_{"BRICKBENCH_PLUGIN_PATH", std::nullopt};
  test::TempDir dir_;
  std::string path(const std::string& name) const { return dir_.path() + "/" + name; }
};

// A copy of the sample result with one cell's samples scaled.
RunResult scaled(const std::string& id, const std::string& backend, double factor) {
  RunResult r = testing::sample_result();
  for (auto& c : r.cells)
    if (c.id == id && c.backend == backend)
      for (double& s : c.samples) s *= factor;
  return r;
}

TEST_F(BenchDiffCli, SameFileIsNoRegression) {
  write_result_json(testing::sample_result(), path("a.json"));
  auto r = test::run_bench("diff " + path("a.json") + " " + path("a.json"));
  EXPECT_EQ(r.exit_code, 0) << r.err << r.out;
  EXPECT_THAT(r.out, HasSubstr("OK: no cell significantly slower by more than 3.0%"));
  EXPECT_THAT(r.out, ::testing::Not(HasSubstr("warnings")));
}

TEST_F(BenchDiffCli, ASlowerCellExitsOneAndIsNamed) {
  write_result_json(testing::sample_result(), path("a.json"));
  write_result_json(scaled("qkv", "avx_bricks", 1.25), path("b.json"));
  auto r = test::run_bench("diff " + path("a.json") + " " + path("b.json"));
  EXPECT_EQ(r.exit_code, 1) << r.err << r.out;
  EXPECT_THAT(
      r.out,
      HasSubstr("REGRESSION: 1 cell significantly slower by more than 3.0%: qkv on avx_bricks (+25.0%)"));
  // A minimum effect above the change lets it pass.
  auto loose = test::run_bench("diff " + path("a.json") + " " + path("b.json") + " --min-effect 30%");
  EXPECT_EQ(loose.exit_code, 0) << loose.out;
  // Faster is no regression.
  write_result_json(scaled("qkv", "avx_bricks", 0.8), path("c.json"));
  EXPECT_EQ(test::run_bench("diff " + path("a.json") + " " + path("c.json")).exit_code, 0);
}

TEST_F(BenchDiffCli, FormatsMdAndJson) {
  write_result_json(testing::sample_result(), path("a.json"));
  write_result_json(scaled("qkv", "avx_bricks", 1.25), path("b.json"));
  auto md = test::run_bench("diff " + path("a.json") + " " + path("b.json") + " --format md");
  EXPECT_EQ(md.exit_code, 1);
  EXPECT_THAT(md.out, HasSubstr("| qkv | avx_bricks |"));
  auto js = test::run_bench("diff " + path("a.json") + " " + path("b.json") + " --format json --alpha 0.05");
  EXPECT_EQ(js.exit_code, 1);
  rapidjson::Document doc;
  doc.Parse(js.out.c_str());
  ASSERT_FALSE(doc.HasParseError()) << js.out;
  EXPECT_TRUE(doc["regression"].GetBool());
  EXPECT_DOUBLE_EQ(doc["settings"]["alpha"].GetDouble(), 0.05);
}

TEST_F(BenchDiffCli, UsageErrorsExitTwo) {
  write_result_json(testing::sample_result(), path("a.json"));
  const std::string a = path("a.json");
  auto missing = test::run_bench("diff " + a + " " + path("nope.json"));
  EXPECT_EQ(missing.exit_code, 2);
  EXPECT_THAT(missing.err, HasSubstr("nope.json: cannot open the result file"));
  EXPECT_EQ(test::run_bench("diff " + a).exit_code, 2);
  auto ambiguous = test::run_bench("diff " + a + " " + a + " --min-effect 3");
  EXPECT_EQ(ambiguous.exit_code, 2);
  EXPECT_THAT(ambiguous.err, HasSubstr("ambiguous; write 3% or a fraction"));
  EXPECT_EQ(test::run_bench("diff " + a + " " + a + " --alpha 1.5").exit_code, 2);
  EXPECT_EQ(test::run_bench("diff " + a + " " + a + " --format html").exit_code, 2);
  std::ofstream(path("bad.json")) << "{\"schema_version\": 1}";
  auto bad = test::run_bench("diff " + a + " " + path("bad.json"));
  EXPECT_EQ(bad.exit_code, 2);
  EXPECT_THAT(bad.err, HasSubstr("bad.json: /tool: missing"));
}

TEST_F(BenchDiffCli, ExportGbenchToAFile) {
  write_result_json(testing::sample_result(), path("a.json"));
  auto r = test::run_bench("export --format gbench " + path("a.json") + " -o " + path("a.gbench.json"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::ifstream in(path("a.gbench.json"));
  std::stringstream ss;
  ss << in.rdbuf();
  rapidjson::Document doc;
  doc.Parse(ss.str().c_str());
  ASSERT_FALSE(doc.HasParseError());
  EXPECT_TRUE(doc.HasMember("context"));
  EXPECT_GT(doc["benchmarks"].Size(), 10u);
  EXPECT_EQ(test::run_bench("export --format nope " + path("a.json")).exit_code, 2);
}

// A few A/A and power trials on this machine (the full sweep: scripts/diff-validation.py power).
// BASE runs faulty without delay, NEW with qkv 10% slower; consecutive BASE runs are A/A pairs.
// An A/A pair whose diff itself warns of a machine-wide change (most cells moved the same way by
// more than the minimum effect: the CI machine's clock or load changed between the two runs, as on
// the shared CI host once, 13 of 14 cells 5-10% slower at once) is the detector working as
// documented, not a false alarm: it is logged, left out, and replaced by a fresh pair, at most 3
// times, so a detector that flags everything still fails.
TEST_F(BenchDiffCli, PowerAndFalseAlarmTrialsWithTheDelayPlugin) {
  test::ScopedEnv inner("BB_FAULTY_INNER", std::string(BRICKBENCH_SCALAR_REF));
  const int trials = 3, wanted_pairs = 2, max_replaced = 3;
  int detected = 0, aa_pairs = 0, aa_cells = 0, aa_flagged = 0, replaced = 0;
  std::string log;
  auto run = [&](const std::string& out, const std::string& mode) {
    test::ScopedEnv m("BB_FAULTY_MODE", mode);
    auto r = test::run_bench("run " + kPowerConfig + " --quiet --bandwidth-mib 8 --plugin-dir " + kFaultyDir +
                             " --backend faulty --out " + out);
    ASSERT_EQ(r.exit_code, 0) << r.err;
  };
  auto diff_json = [&](const std::string& a, const std::string& b) {
    auto r = test::run_bench("diff " + a + " " + b + " --format json");
    auto doc = std::make_unique<rapidjson::Document>();
    doc->Parse(r.out.c_str());
    return doc;
  };
  auto base_path = [&](int i) { return path("base" + std::to_string(i) + ".json"); };
  // Judges the A/A pair (base i-1, base i); false when the diff warned of a machine-wide change.
  auto judge_aa = [&](int i) {
    auto aa = diff_json(base_path(i - 1), base_path(i));
    EXPECT_FALSE(aa->HasParseError());
    if (aa->HasParseError()) return true;
    for (const auto& w : (*aa)["warnings"].GetArray()) {
      if (std::string(w.GetString()).find("machine-wide change") != std::string::npos) {
        log += "A/A pair " + std::to_string(i) + " left out: " + w.GetString() + "\n";
        return false;
      }
    }
    ++aa_pairs;
    for (const auto& c : (*aa)["cells"].GetArray()) {
      const std::string v = c["verdict"].GetString();
      if (v == "only-in-base" || v == "only-in-new" || !c["gates"].GetBool()) continue;
      ++aa_cells;
      aa_flagged += v == "slower" || v == "faster";
      if (v == "slower" || v == "faster")
        log += "A/A pair " + std::to_string(i) + " flagged: " + c["id"].GetString() + " " + v + "\n";
    }
    return true;
  };
  for (int t = 0; t < trials; ++t) {
    const std::string next = path("new" + std::to_string(t) + ".json");
    run(base_path(t), "delay:qkv:0");
    run(next, "delay:qkv:0.10");
    auto d = diff_json(base_path(t), next);
    ASSERT_FALSE(d->HasParseError());
    for (const auto& c : (*d)["cells"].GetArray()) {
      if (std::string(c["id"].GetString()) == "qkv" && std::string(c["backend"].GetString()) == "faulty") {
        const bool hit = std::string(c["verdict"].GetString()) == "slower";
        detected += hit;
        log += "trial " + std::to_string(t) + ": qkv on faulty " + c["verdict"].GetString() + " ratio " +
               std::to_string(c["ratio"].GetDouble()) + "\n";
      }
    }
    if (t > 0 && !judge_aa(t)) ++replaced;
  }
  for (int i = trials; aa_pairs < wanted_pairs && i < trials + max_replaced; ++i) {
    run(base_path(i), "delay:qkv:0");
    if (!judge_aa(i)) ++replaced;
  }
  // Measured power at 10% is 100% (docs/VALIDATION.md); 2 of 3 leaves room for a bad minute on a
  // shared CI machine without letting a broken detector through.
  EXPECT_GE(detected, 2) << log;
  ASSERT_EQ(aa_pairs, wanted_pairs) << "every A/A pair warned of a machine-wide change\n" << log;
  EXPECT_EQ(aa_cells, wanted_pairs * 2 * 7) << log;  // 2 backends x 7 brick cells (not the ceiling probe)
  EXPECT_LE(aa_flagged, 2) << log;                   // <= 7%; measured 2-3% over hundreds of comparisons
  if (replaced > 0) std::cout << log;                // the left-out pairs, for whoever reads the CI log
}

}  // namespace
}  // namespace bb::report
