// `bench run` as users and CI run it: the real executable on the smoke config and on small configs
// written by the tests, with a deliberately faulty backend (faulty_plugin.cpp) beside scalar_ref.
#include <fcntl.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <rapidjson/document.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <fstream>
#include <iostream>
#include <sstream>
#include <thread>

#include "result/result_json.h"
#include "result/result_schema.h"
#include "test_util.h"

namespace bb::run {
namespace {

using ::testing::HasSubstr;
const std::string kConfigs = BRICKBENCH_CONFIGS_DIR;
const std::string kOracle = std::string(BRICKBENCH_TEST_DATA_DIR) + "/oracle/";
const std::string kFaultyDir = std::string(BRICKBENCH_TEST_PLUGIN_DIR) + "/faulty";

std::string slurp(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void write(const std::string& path, const std::string& text) { std::ofstream(path) << text; }

const report::Cell* find_cell(const report::RunResult& r, const std::string& id, const std::string& backend) {
  for (const auto& c : r.cells)
    if (c.id == id && c.backend == backend) return &c;
  return nullptr;
}

class BenchRun : public ::testing::Test {
 protected:
  test::ScopedEnv no_env_plugins_{"BRICKBENCH_PLUGIN_PATH", std::nullopt};
  test::ScopedEnv inner_{"BB_FAULTY_INNER", std::string(BRICKBENCH_SCALAR_REF)};
  test::TempDir dir_;
  std::string out_ = dir_.path() + "/result.json";
};

// A small experiment on the tiny oracle model: the given bricks, a short protocol.
std::string tiny_config(const std::string& bricks, const std::string& extra = "") {
  return "name: tiny\nmodel: {gguf: " + kOracle + "tiny-b-q4_k_m.gguf}\n" +
         "protocol: {warmup_ms: 5, warmup_min_iterations: 2, min_samples: 8, max_samples: 40, cv_target: 0.2,"
         " max_seconds_per_cell: 0.5}\n" +
         extra + "bricks:\n" + bricks;
}

TEST_F(BenchRun, SmokeConfigPassesCiAndWritesAResultThatValidates) {
  auto r = test::run_bench("run " + kConfigs + "/smoke.yaml --ci --quiet --bandwidth-mib 16 --out " + out_);
  ASSERT_EQ(r.exit_code, 0) << r.err << r.out;
  EXPECT_THAT(r.err, HasSubstr("bench run --ci: pass"));
  const std::string text = slurp(out_);
  auto errors = report::validate_result_json(text, report::default_result_schema_path());
  EXPECT_TRUE(errors.empty()) << ::testing::PrintToString(errors);
  auto result = report::read_result_json(out_);
  EXPECT_EQ(result.state, "complete");
  EXPECT_EQ(result.experiment_name, "smoke");
  EXPECT_FALSE(result.model.sha256.empty());
  ASSERT_FALSE(result.plugins.empty());
  EXPECT_TRUE(std::any_of(result.plugins.begin(), result.plugins.end(), [](const report::PluginRecord& p) {
    return p.name == "scalar_ref" && !p.sha256.empty();
  }));
  // Every brick of DESIGN.md §3 has a measured cell on the reference.
  for (const char* id : {"bandwidth", "rms_norm", "qkv", "rope", "attention@64", "attention@512", "o_proj",
                         "ffn", "layer@64", "layer@512", "decode@64", "decode@512", "generate8@512",
                         "gemv.Q4_K", "gemv.Q5_0", "gemv.Q6_K", "gemv.Q8_0"}) {
    const report::Cell* c = find_cell(result, id, "scalar_ref");
    ASSERT_NE(c, nullptr) << id;
    EXPECT_GE(c->samples.size(), 2u) << id;
    EXPECT_GT(c->stats.median, 0) << id;
    EXPECT_LE(c->stats.median_ci.lower, c->stats.median) << id;
    EXPECT_GE(c->stats.median_ci.upper, c->stats.median) << id;
    EXPECT_GT(c->roofline.gbps, 0) << id;
  }
  EXPECT_GT(find_cell(result, "bandwidth", "scalar_ref")->roofline.ceiling_gbps, 0);
  EXPECT_TRUE(find_cell(result, "decode@512", "scalar_ref")->tok_s.has_value());
  // The console table names the columns a performance engineer reads.
  EXPECT_THAT(r.out, HasSubstr("median"));
  EXPECT_THAT(r.out, HasSubstr("95% CI"));
  EXPECT_THAT(r.out, HasSubstr("decode tok/s"));
}

TEST_F(BenchRun, WrongNumbersFromOneBrickAreCaughtByEquivalence) {
  const std::string cfg = dir_.path() + "/wrong.yaml";
  write(cfg, tiny_config("  - rms_norm\n  - qkv\n"));
  test::ScopedEnv mode("BB_FAULTY_MODE", std::string("wrong:rms_norm"));
  auto r = test::run_bench("run " + cfg + " --ci --quiet --bandwidth-mib 8 --plugin-dir " + kFaultyDir +
                           " --out " + out_);
  EXPECT_EQ(r.exit_code, 1) << r.err;
  EXPECT_THAT(r.err, HasSubstr("rms_norm on faulty: equivalence failed"));
  auto result = report::read_result_json(out_);
  const report::Cell* bad = find_cell(result, "rms_norm", "faulty");
  ASSERT_NE(bad, nullptr);
  EXPECT_TRUE(bad->equivalence.checked);
  EXPECT_FALSE(bad->equivalence.pass);
  // Outputs scaled by 1.01: NMSE = 0.01^2 = 1e-4 (the float rounding of the scale aside).
  EXPECT_NEAR(bad->equivalence.nmse, 1e-4, 1e-5);
  const report::Cell* good = find_cell(result, "qkv", "faulty");
  ASSERT_NE(good, nullptr);
  EXPECT_TRUE(good->equivalence.pass) << good->equivalence.note;
  EXPECT_EQ(good->equivalence.nmse, 0.0);  // the same code on the same inputs: bit-identical
}

// The "engine" object of the result file's cell (id, backend), or nullptr when the cell has none.
const rapidjson::Value* engine_of(const rapidjson::Document& d, const std::string& id,
                                  const std::string& backend) {
  for (const auto& c : d["cells"].GetArray())
    if (id == c["id"].GetString() && backend == c["backend"].GetString())
      return c.HasMember("engine") ? &c["engine"] : nullptr;
  ADD_FAILURE() << "no cell " << id << " on " << backend;
  return nullptr;
}

TEST_F(BenchRun, EngineFactsOfASessionLandOnItsDecodeAndGenerateCells) {
  const std::string cfg = dir_.path() + "/engine.yaml";
  write(cfg,
        tiny_config("  - rms_norm\n  - {brick: decode, context: 64}\n  - {brick: generate, tokens: 4}\n"));
  test::ScopedEnv mode("BB_FAULTY_MODE", std::string("engine"));
  auto r = test::run_bench("run " + cfg + " --quiet --bandwidth-mib 8 --plugin-dir " + kFaultyDir +
                           " --out " + out_);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const std::string text = slurp(out_);
  EXPECT_TRUE(report::validate_result_json(text, report::default_result_schema_path()).empty());
  rapidjson::Document d;
  d.Parse(text.c_str());
  ASSERT_FALSE(d.HasParseError());
  for (const char* id : {"decode@64", "generate4@512"}) {
    const rapidjson::Value* engine = engine_of(d, id, "faulty");
    ASSERT_NE(engine, nullptr) << id;
    ASSERT_TRUE(engine->IsObject()) << id;
    // The engine.* keys whole, the values as the plugin wrote them; its other keys are not engine facts.
    EXPECT_EQ(engine->MemberCount(), 3u) << id;
    EXPECT_STREQ((*engine)["engine.graph_nodes"].GetString(), "146") << id;
    EXPECT_STREQ((*engine)["engine.graph_launch_host_ns"].GetString(), "2150") << id;
    EXPECT_STREQ((*engine)["engine.graph_empty_replay_ns"].GetString(), "812.5") << id;
    // A backend without session_get_metrics has no "engine" key, nor has a cell without a session.
    EXPECT_EQ(engine_of(d, id, "scalar_ref"), nullptr) << id;
  }
  EXPECT_EQ(engine_of(d, "rms_norm", "faulty"), nullptr);
  // bench diff and bench report read the file back with them.
  const auto result = report::read_result_json(out_);
  const report::Cell* dec = find_cell(result, "decode@64", "faulty");
  ASSERT_NE(dec, nullptr);
  EXPECT_EQ(dec->engine, (report::KeyValues{{"engine.graph_nodes", "146"},
                                            {"engine.graph_launch_host_ns", "2150"},
                                            {"engine.graph_empty_replay_ns", "812.5"}}));
}

TEST_F(BenchRun, ASessionWhoseMetricsFailStillMeasuresItsDecodeCell) {
  const std::string cfg = dir_.path() + "/engine_error.yaml";
  write(cfg, tiny_config("  - {brick: decode, context: 64}\n"));
  test::ScopedEnv mode("BB_FAULTY_MODE", std::string("engine_error"));
  auto r = test::run_bench("run " + cfg + " --bandwidth-mib 8 --plugin-dir " + kFaultyDir + " --out " + out_);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.err + r.out, HasSubstr("decode@64 on faulty: no engine facts"));
  const auto result = report::read_result_json(out_);
  const report::Cell* dec = find_cell(result, "decode@64", "faulty");
  ASSERT_NE(dec, nullptr);
  EXPECT_FALSE(dec->samples.empty()) << report::cell_status_name(dec->status) << ": " << dec->status_reason;
  EXPECT_TRUE(dec->equivalence.pass) << dec->equivalence.note;
  EXPECT_TRUE(dec->engine.empty());
  EXPECT_TRUE(result.warnings.empty()) << ::testing::PrintToString(result.warnings);
}

TEST_F(BenchRun, ATwiceSlowerBackendMissesItsBudgetAndCiExitsOne) {
  // First measure the reference's qkv here, then give qkv a budget of 1.3x its fastest sample (the
  // minimum: robust to load spikes during the probe): a backend doing the work twice cannot meet it.
  // o_proj, the same code on every side, is the host's sentinel: when its median moved by more than
  // 20% between the probe and the slow run, the host changed speed under the pair (a 2-core VM moves
  // 12-21% between runs seconds apart) and the pair says nothing of the budget verdict. Such a pair is
  // retried after a pause, at most 4 times in 120 s; the test skips, saying so, when none was clean.
  const std::string probe = dir_.path() + "/probe.yaml", cfg = dir_.path() + "/slow.yaml";
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(120);
  std::string seen;
  for (int attempt = 0; attempt < 4 && std::chrono::steady_clock::now() < deadline; ++attempt) {
    if (attempt > 0) std::this_thread::sleep_for(std::chrono::seconds(2));
    write(probe, tiny_config("  - qkv\n  - o_proj\n"));
    auto p =
        test::run_bench("run " + probe + " --quiet --bandwidth-mib 8 --out " + dir_.path() + "/probe.json");
    ASSERT_EQ(p.exit_code, 0) << p.err;
    const auto probed = report::read_result_json(dir_.path() + "/probe.json");
    const double fastest_us = find_cell(probed, "qkv", "scalar_ref")->stats.min * 1e6;
    const double sentinel_before = find_cell(probed, "o_proj", "scalar_ref")->stats.median;

    write(cfg,
          tiny_config("  - {brick: qkv, budget_us: " + std::to_string(1.3 * fastest_us) + "}\n  - o_proj\n",
                      "backend_caps: {scalar_ref: {reference_only: true}}\n"));
    test::ScopedEnv mode("BB_FAULTY_MODE", std::string("slow:qkv"));
    auto r = test::run_bench("run " + cfg + " --ci --quiet --bandwidth-mib 8 --plugin-dir " + kFaultyDir +
                             " --out " + out_);
    auto result = report::read_result_json(out_);
    const report::Cell* slow = find_cell(result, "qkv", "faulty");
    const report::Cell* sentinel = find_cell(result, "o_proj", "faulty");
    ASSERT_NE(slow, nullptr);
    ASSERT_NE(sentinel, nullptr);
    const double host = sentinel->stats.median / sentinel_before;
    seen += "attempt " + std::to_string(attempt) + ": o_proj moved x" + std::to_string(host) + ", qkv gap x" +
            std::to_string(slow->budget.gap) + ", exit " + std::to_string(r.exit_code) + "\n";
    if (host > 1.2 || host < 1 / 1.2) continue;  // the host moved under the pair: not a clean pair
    EXPECT_EQ(r.exit_code, 1) << r.err << seen;
    EXPECT_THAT(r.err, HasSubstr("qkv on faulty: over budget"));
    EXPECT_GT(slow->budget.gap, 1.0) << seen;
    EXPECT_FALSE(slow->budget.pass);
    EXPECT_TRUE(slow->equivalence.pass);  // slow, but right
    std::cout << seen;
    return;
  }
  GTEST_SKIP() << "the host moved under every probe/slow pair (o_proj's median by more than 20%):\n" << seen;
}

TEST_F(BenchRun, SigintLeavesAValidResultWithTheFinishedCells) {
  const std::string cfg = dir_.path() + "/long.yaml";
  // Unreachable CV target and sequential order: cells finish one by one, each at its 1.5 s cap, so the
  // run would last ~20 s; it is interrupted after the second.
  write(cfg, "name: long\nmodel: {gguf: " + kOracle +
                 "tiny-b-q4_k_m.gguf}\n"
                 "protocol: {warmup_ms: 5, min_samples: 5, max_samples: 100000, cv_target: 0.000001,"
                 " max_seconds_per_cell: 1.5, order: sequential}\n"
                 "bricks: [rms_norm, qkv, rope, o_proj, ffn, {brick: attention, context: [64, 128, 256]},"
                 " {brick: gemv, type: all}, {brick: layer, context: [64, 128]}]\n");
  pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    unsetenv("BRICKBENCH_PLUGIN_PATH");
    int devnull = open("/dev/null", O_WRONLY);
    dup2(devnull, 1);
    dup2(devnull, 2);
    execl(BRICKBENCH_BENCH_EXE, "bench", "run", cfg.c_str(), "--bandwidth-mib", "8", "--out", out_.c_str(),
          static_cast<char*>(nullptr));
    _exit(127);
  }
  // Wait until the file shows at least two finished cells, then interrupt.
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  size_t finished = 0;
  while (std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    try {
      auto r = report::read_result_json(out_);
      finished = 0;
      for (const auto& c : r.cells)
        finished += c.status == report::CellStatus::Unstable || c.status == report::CellStatus::Converged;
      if (finished >= 2) break;
    } catch (const std::exception&) {
    }
  }
  ASSERT_GE(finished, 2u) << "no cell finished within 60 s";
  kill(pid, SIGINT);
  int status = 0;
  waitpid(pid, &status, 0);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 130);

  const std::string text = slurp(out_);
  auto errors = report::validate_result_json(text, report::default_result_schema_path());
  EXPECT_TRUE(errors.empty()) << ::testing::PrintToString(errors);
  auto r = report::read_result_json(out_);
  EXPECT_EQ(r.state, "interrupted");
  size_t kept = 0, interrupted = 0;
  for (const auto& c : r.cells) {
    if (c.status == report::CellStatus::Unstable || c.status == report::CellStatus::Converged) {
      ++kept;
      EXPECT_FALSE(c.samples.empty()) << c.id;
    }
    interrupted += c.status == report::CellStatus::Interrupted;
  }
  EXPECT_GE(kept, finished);
  EXPECT_GT(interrupted, 0u);
}

TEST_F(BenchRun, BadConfigsAreUsageErrorsNamingFileLineAndChoices) {
  const std::string cfg = dir_.path() + "/bad.yaml";
  write(cfg, tiny_config("  - rms_norm\n  - qkvv\n"));
  auto r = test::run_bench("run " + cfg + " --out " + out_);
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_THAT(r.err, HasSubstr(cfg + ":6:"));
  EXPECT_THAT(r.err, HasSubstr("unknown brick 'qkvv'"));
  EXPECT_THAT(r.err, HasSubstr("rms_norm"));  // the accepted names are listed

  write(cfg, "name: x\nmodel: {gguf: /nonexistent/model.gguf}\nbricks: [qkv]\n");
  auto missing = test::run_bench("run " + cfg + " --out " + out_);
  EXPECT_EQ(missing.exit_code, 2);
  EXPECT_THAT(missing.err, HasSubstr("/nonexistent/model.gguf"));
  EXPECT_THAT(missing.err, HasSubstr("synthetic"));  // says how to fix it

  auto no_file = test::run_bench("run " + dir_.path() + "/absent.yaml");
  EXPECT_EQ(no_file.exit_code, 2);
  EXPECT_THAT(no_file.err, HasSubstr("absent.yaml"));
}

TEST_F(BenchRun, MissingBackendsAreSkippedWithTheReasonAndTheRestRuns) {
  const std::string cfg = dir_.path() + "/skip.yaml";
  write(cfg, tiny_config("  - rms_norm\n", "backends: [scalar_ref, cuda_bricks, ollama_client]\n"));
  auto r = test::run_bench("run " + cfg + " --quiet --bandwidth-mib 8 --out " + out_);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  auto result = report::read_result_json(out_);
  ASSERT_EQ(result.skipped_backends.size(), 2u);
  EXPECT_EQ(result.skipped_backends[0].name, "cuda_bricks");
  EXPECT_FALSE(result.skipped_backends[0].reason.empty());
  ASSERT_NE(find_cell(result, "rms_norm", "scalar_ref"), nullptr);
  EXPECT_THAT(r.out, HasSubstr("cuda_bricks"));  // the console says what it skipped
}

TEST_F(BenchRun, FormatsAreSelectable) {
  const std::string cfg = dir_.path() + "/fmt.yaml";
  write(cfg, tiny_config("  - rms_norm\n"));
  auto csv = test::run_bench("run " + cfg + " --quiet --format csv --bandwidth-mib 8 --out " + out_);
  ASSERT_EQ(csv.exit_code, 0) << csv.err;
  EXPECT_THAT(csv.out.substr(0, csv.out.find('\n')), HasSubstr("backend"));
  auto md = test::run_bench("run " + cfg + " --quiet --format md --bandwidth-mib 8 --out " + out_);
  EXPECT_THAT(md.out, HasSubstr("| ---"));
  auto bad = test::run_bench("run " + cfg + " --format xml");
  EXPECT_EQ(bad.exit_code, 2);
  EXPECT_THAT(bad.err, HasSubstr("csv"));
}

}  // namespace
}  // namespace bb::run
