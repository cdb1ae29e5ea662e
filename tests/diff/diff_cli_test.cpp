// bench diff / export as users and the nightly call them: exit codes, formats, and a few A/A and power
// trials with the real `bench run` and the test backend `faulty` (delay:<op>:<fraction>). The full
// validation (hundreds of cell comparisons, a delay sweep) is scripts/diff-validation.py; its numbers
// are in docs/VALIDATION.md. These trials are the part that fits CI time.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <rapidjson/document.h>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <sstream>
#include <thread>

#include "result/result_json.h"
#include "sample_result.h"
#include "test_util.h"
#include "timing_judge.h"

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

// Issue 14, defect 4 as the nightly meets it: NEW was interrupted before any avx_bricks cell finished.
TEST_F(BenchDiffCli, ANewFileThatLostCellsExitsOneUnlessAllowed) {
  write_result_json(testing::sample_result(), path("a.json"));
  RunResult lost = testing::sample_result();
  lost.state = "interrupted";
  std::erase_if(lost.cells, [](const Cell& c) { return c.backend == "avx_bricks"; });
  write_result_json(lost, path("b.json"));
  auto r = test::run_bench("diff " + path("a.json") + " " + path("b.json"));
  EXPECT_EQ(r.exit_code, 1) << r.err << r.out;
  EXPECT_THAT(r.out, HasSubstr("MISSING: "));
  EXPECT_THAT(r.out, HasSubstr("backend avx_bricks (all "));
  auto js = test::run_bench("diff " + path("a.json") + " " + path("b.json") + " --format json");
  rapidjson::Document doc;
  doc.Parse(js.out.c_str());
  ASSERT_FALSE(doc.HasParseError()) << js.out;
  EXPECT_FALSE(doc["regression"].GetBool());
  EXPECT_TRUE(doc["failed"].GetBool());
  EXPECT_GT(doc["missing"].GetInt(), 0);
  auto allowed = test::run_bench("diff " + path("a.json") + " " + path("b.json") + " --allow-missing");
  EXPECT_EQ(allowed.exit_code, 0) << allowed.out;
  EXPECT_THAT(allowed.out, HasSubstr("missing (accepted, --allow-missing)"));
}

// Issue 14, defect 7: a 2 MB file of '[' crashed diff, report, export and generate --check-against
// with a stack overflow. Every reader refuses it with the place and a usage exit.
TEST_F(BenchDiffCli, DeeplyNestedJsonIsRefusedByEveryReader) {
  write_result_json(testing::sample_result(), path("a.json"));
  std::ofstream(path("deep.json")) << std::string(2 << 20, '[');
  const std::string deep = path("deep.json");
  for (const std::string& cmd : {"diff " + path("a.json") + " " + deep, "diff " + deep + " " + path("a.json"),
                                 "export " + deep, "report " + deep + " -o " + path("r.html"),
                                 "report " + path("a.json") + " --baseline " + deep + " -o " + path("r.html"),
                                 "generate --model " + std::string(BRICKBENCH_TEST_DATA_DIR) +
                                     "/oracle/tiny-b-q4_k_m.gguf --check-against " + deep}) {
    auto r = test::run_bench(cmd);
    EXPECT_EQ(r.exit_code, 2) << cmd << "\n" << r.err;
    EXPECT_THAT(r.err, HasSubstr("JSON nested deeper than 128 levels at offset 128")) << cmd;
  }
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

// The cells of `backend` in the result file `from`, written to `to` under the backend name `as`: one
// side of a pair taken within one run, where the two backends' samples were interleaved.
void one_backend(const std::string& from, const std::string& backend, const std::string& as,
                 const std::string& to) {
  RunResult r = read_result_json(from);
  std::vector<Cell> kept;
  for (auto& c : r.cells)
    if (c.backend == backend) {
      c.backend = as;
      kept.push_back(std::move(c));
    }
  r.cells = std::move(kept);
  write_result_json(r, to);
}

// A few A/A and power trials on this machine (the full sweep: scripts/diff-validation.py power).
// Each round runs faulty (scalar_ref's code through a wrapper) beside scalar_ref twice: BASE without
// delay, NEW with qkv 10% slower. That gives three pairs a round for bench diff to judge:
//   A/A within BASE   scalar_ref's cells against faulty's of the same run (samples interleaved)
//   trial within NEW  scalar_ref against faulty of the NEW run: qkv must be `slower`
//   trial across      BASE against NEW: qkv on faulty must be `slower`
// A/A pairs across two runs are not judged: on the development VM, pairs that held still by the host
// tolerances still had single cells move 3-17% between runs (a false alarm of the host, not of the
// detector), where pairs within one run stayed within 1% (docs/VALIDATION.md).
// Each pair is judged only when the host held still under it (test::TimingJudge: the cells not slowed
// on purpose kept their medians; the shared CI host once moved 13 of 14 cells 5-10% at once, and the
// development VM 12-21% between two runs seconds apart, and by up to 40% from one second to the next
// under load). Pairs under a moving host are left out and replaced, with a pause, within a bounded
// number of rounds and seconds; when too few clean pairs came of them the test skips and says what it
// saw. A wrong verdict from clean pairs fails it.
// BB_TIMING_DIFF_ARGS adds arguments to every `bench diff` (e.g. "--min-effect 50%": a detector made
// blind on purpose, which must fail this test: BenchDiffCli.ABlindDetectorFails... in CMakeLists.txt).
TEST_F(BenchDiffCli, PowerAndFalseAlarmTrialsWithTheDelayPlugin) {
  test::ScopedEnv inner("BB_FAULTY_INNER", std::string(BRICKBENCH_SCALAR_REF));
  const char* extra_env = std::getenv("BB_TIMING_DIFF_ARGS");
  const std::string extra = extra_env ? std::string(" ") + extra_env : "";
  // 3 trials at 10% (measured power 100%, docs/VALIDATION.md) may miss one; 5 A/A pairs of 7 brick
  // cells (35; the ceiling probe never gates) may flag 2 cells in all (6%).
  test::TimingJudge judge({.aa_pairs = 5, .max_aa_flagged = 2, .trials = 3, .max_missed = 1});
  const int max_rounds = 10;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(300);
  auto run = [&](const std::string& out, const std::string& mode) {
    test::ScopedEnv m("BB_FAULTY_MODE", mode);
    auto r = test::run_bench("run " + kPowerConfig + " --quiet --bandwidth-mib 8 --plugin-dir " + kFaultyDir +
                             " --backend faulty --out " + out);
    ASSERT_EQ(r.exit_code, 0) << r.err;
  };
  auto diff = [&](const std::string& a, const std::string& b, const std::string& label,
                  const std::string& target_backend) {
    auto r = test::run_bench("diff " + a + " " + b + " --format json" + extra);
    rapidjson::Document doc;
    doc.Parse(r.out.c_str());
    EXPECT_FALSE(doc.HasParseError()) << r.out << r.err;
    if (doc.HasParseError()) return test::PairReading{};
    return test::read_pair(doc, label, target_backend.empty() ? "" : "qkv", target_backend);
  };
  // The pair within one run: scalar_ref's cells as BASE, faulty's as NEW (named scalar_ref).
  auto within = [&](const std::string& run_file, const std::string& label,
                    const std::string& target_backend) {
    one_backend(run_file, "scalar_ref", "scalar_ref", run_file + ".ref.json");
    one_backend(run_file, "faulty", "scalar_ref", run_file + ".faulty.json");
    return diff(run_file + ".ref.json", run_file + ".faulty.json", label, target_backend);
  };
  auto base_path = [&](int i) { return path("base" + std::to_string(i) + ".json"); };
  for (int i = 0; i < max_rounds && !judge.enough() && !judge.failed(); ++i) {
    if (std::chrono::steady_clock::now() > deadline) break;
    if (i > 0 && judge.left_out() > 0) std::this_thread::sleep_for(std::chrono::seconds(2));
    const std::string round = " " + std::to_string(i);
    ASSERT_NO_FATAL_FAILURE(run(base_path(i), "delay:qkv:0"));
    if (judge.need_aa()) judge.add_aa(within(base_path(i), "A/A within BASE" + round, ""));
    if (judge.need_trials()) {
      const std::string next = path("new" + std::to_string(i) + ".json");
      ASSERT_NO_FATAL_FAILURE(run(next, "delay:qkv:0.10"));
      judge.add_trial(within(next, "trial within NEW" + round, "scalar_ref"));
      if (judge.need_trials()) judge.add_trial(diff(base_path(i), next, "trial across" + round, "faulty"));
    }
  }
  ASSERT_FALSE(judge.failed()) << judge.failure();
  if (!judge.enough()) GTEST_SKIP() << judge.skip_reason();
  std::cout << judge.log();  // every pair read, the left-out ones with why, for whoever reads the CI log
}

}  // namespace
}  // namespace bb::report
