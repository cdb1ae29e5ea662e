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
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <sstream>
#include <thread>
#include <tuple>

#include "result/output_lock.h"
#include "result/result_json.h"
#include "result/result_schema.h"
#include "run/cell_plan.h"
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
  // Named backends: the run must have no warnings, which another installed plugin's cells could give
  // on a loaded machine (llama_cpp's decode warm-up cut at its time cap, 2026-12-04).
  write(cfg, tiny_config("  - {brick: decode, context: 64}\n", "backends: [scalar_ref, faulty]\n"));
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
  // No warning of the engine's failure (the interference sentinel may warn of a busy machine).
  std::vector<std::string> others = result.warnings;
  std::erase_if(others, [](const std::string& w) { return w.rfind("other processes used ", 0) == 0; });
  EXPECT_TRUE(others.empty()) << ::testing::PrintToString(result.warnings);
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

// A run of ~20 s (unreachable CV target, sequential order: cells finish one by one at their 1.5 s
// cap) of `model`, its stderr to `err_path`, stopped by `stop(pid)` once the result file shows
// `wait_finished` finished cells (0: as soon as the file exists, while cells are still being
// prepared). Returns the wait status, or -2 when it did not get that far within 60 s; the file is out.
int run_and_stop(const std::string& dir, const std::string& out, const std::function<void(pid_t)>& stop,
                 size_t wait_finished, size_t* finished_seen,
                 const std::string& model = kOracle + "tiny-b-q4_k_m.gguf",
                 const std::string& err_path = "/dev/null") {
  const std::string cfg = dir + "/long.yaml";
  write(
      cfg,
      "name: long\nmodel: {gguf: " + model +
          "}\n"
          "protocol: {warmup_ms: 5, min_samples: 5, max_samples: 100000, cv_target: 0.000001,"
          " max_seconds_per_cell: 1.5, order: sequential}\n"
          "bricks: [rms_norm, qkv, rope, o_proj, ffn, {brick: attention, context: [64, 128, 256]},"
          " {brick: gemv, type: all}, {brick: layer, context: [64, 128]}, {brick: decode, context: [64]}]\n");
  pid_t pid = fork();
  if (pid < 0) return -1;
  if (pid == 0) {
    unsetenv("BRICKBENCH_PLUGIN_PATH");
    int devnull = open("/dev/null", O_WRONLY);
    int err = open(err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    dup2(devnull, 1);
    dup2(err >= 0 ? err : devnull, 2);
    execl(BRICKBENCH_BENCH_EXE, "bench", "run", cfg.c_str(), "--bandwidth-mib", "8", "--out", out.c_str(),
          static_cast<char*>(nullptr));
    _exit(127);
  }
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  size_t finished = 0;
  bool seen = false;
  while (std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(wait_finished ? 100 : 5));
    try {
      auto r = report::read_result_json(out);
      seen = true;
      finished = 0;
      for (const auto& c : r.cells)
        finished += c.status == report::CellStatus::Unstable || c.status == report::CellStatus::Converged;
      if (finished >= wait_finished) break;
    } catch (const std::exception&) {
    }
  }
  *finished_seen = seen ? finished : 0;
  stop(pid);
  int status = 0;
  waitpid(pid, &status, 0);
  return seen && finished >= wait_finished ? status : -2;
}

int run_and_stop(const std::string& dir, const std::string& out, int sig, size_t wait_finished,
                 size_t* finished_seen) {
  return run_and_stop(
      dir, out, [sig](pid_t pid) { kill(pid, sig); }, wait_finished, finished_seen);
}

// The result file of a stopped run: valid against the schema, state interrupted, the finished cells
// kept with their samples, every other cell INTERRUPTED with its reason (none SKIPPED for want of
// time, none with an empty reason).
void expect_interrupted_result(const std::string& out, size_t finished) {
  const std::string text = slurp(out);
  auto errors = report::validate_result_json(text, report::default_result_schema_path());
  EXPECT_TRUE(errors.empty()) << ::testing::PrintToString(errors);
  auto r = report::read_result_json(out);
  EXPECT_EQ(r.state, "interrupted");
  size_t kept = 0, interrupted = 0;
  for (const auto& c : r.cells) {
    if (c.status == report::CellStatus::Unstable || c.status == report::CellStatus::Converged) {
      ++kept;
      EXPECT_FALSE(c.samples.empty()) << c.id;
      continue;
    }
    EXPECT_FALSE(c.status_reason.empty()) << c.id << " on " << c.backend;
    EXPECT_NE(c.status_reason, run::kNotReached) << c.id << " on " << c.backend;
    if (c.status == report::CellStatus::Skipped)
      EXPECT_THAT(c.status_reason, HasSubstr("does not list")) << c.id << " on " << c.backend;
    else
      EXPECT_EQ(c.status, report::CellStatus::Interrupted)
          << c.id << " on " << c.backend << ": " << c.status_reason;
    interrupted += c.status == report::CellStatus::Interrupted;
  }
  EXPECT_GE(kept, finished);
  EXPECT_GT(interrupted, 0u);
}

TEST_F(BenchRun, SigintLeavesAValidResultWithTheFinishedCells) {
  size_t finished = 0;
  const int status = run_and_stop(dir_.path(), out_, SIGINT, 2, &finished);
  ASSERT_NE(status, -2) << "no two cells finished within 60 s";
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 130);
  expect_interrupted_result(out_, finished);
}

// Issue 14, defect 9: SIGTERM (a CI timeout, kill) and SIGHUP (a closed terminal) were not handled:
// exit 143 with no result file when killed while preparing, `state: running` mid-run. They stop the
// run as SIGINT does, exit 128 + the signal; killed while preparing, the file is still complete.
TEST_F(BenchRun, SigtermAndSighupLeaveAValidResultLikeSigint) {
  for (const auto& [sig, wait, code] :
       {std::tuple{SIGTERM, size_t{1}, 143}, std::tuple{SIGHUP, size_t{1}, 129},
        std::tuple{SIGTERM, size_t{0}, 143}}) {
    SCOPED_TRACE(std::string(strsignal(sig)) + (wait ? " mid-run" : " while preparing"));
    std::filesystem::remove(out_);
    size_t finished = 0;
    const int status = run_and_stop(dir_.path(), out_, sig, wait, &finished);
    ASSERT_NE(status, -2) << "the run did not get far enough within 60 s";
    ASSERT_TRUE(WIFEXITED(status)) << "killed by signal " << (WIFSIGNALED(status) ? WTERMSIG(status) : 0);
    EXPECT_EQ(WEXITSTATUS(status), code);
    expect_interrupted_result(out_, finished);
  }
}

// After SIGKILL nothing can be finished, but every cell the file holds says what became of it: the
// ones not reached say so.
TEST_F(BenchRun, AfterSigkillCellsNotReachedSaySo) {
  size_t finished = 0;
  const int status = run_and_stop(dir_.path(), out_, SIGKILL, 1, &finished);
  ASSERT_NE(status, -2) << "no cell finished within 60 s";
  ASSERT_TRUE(WIFSIGNALED(status));
  auto r = report::read_result_json(out_);
  EXPECT_EQ(r.state, "running");
  size_t not_reached = 0;
  for (const auto& c : r.cells) {
    EXPECT_FALSE(c.status_reason.empty() && c.samples.empty()) << c.id << " on " << c.backend;
    not_reached += c.status_reason == run::kNotReached;
  }
  EXPECT_GT(not_reached, 0u);
}

// Issue 14, defect 17: a model file truncated during a run killed it with SIGBUS and no word. It now
// ends with exit 3 and a message; the result file keeps the cells finished before.
TEST_F(BenchRun, AModelTruncatedDuringTheRunEndsWithAMessage) {
  const std::string model = dir_.path() + "/model.gguf", err = dir_.path() + "/err.txt";
  std::filesystem::copy_file(kOracle + "tiny-b-q4_k_m.gguf", model);
  size_t finished = 0;
  // Truncated once a cell has finished; the run reads the mapping again when it prepares the next.
  const int status = run_and_stop(
      dir_.path(), out_, [&](pid_t) { std::filesystem::resize_file(model, 0); }, 1, &finished, model, err);
  ASSERT_NE(status, -2) << "no cell finished within 60 s";
  ASSERT_TRUE(WIFEXITED(status)) << "killed by signal " << (WIFSIGNALED(status) ? WTERMSIG(status) : 0);
  EXPECT_EQ(WEXITSTATUS(status), 3);
  const std::string text = slurp(err);
  EXPECT_THAT(text,
              HasSubstr("SIGBUS: a file mapped into memory could not be read; most likely the model file "
                        "was truncated or rewritten during the run"));
  EXPECT_GE(report::read_result_json(out_).cells.size(), finished);
}

// Issue 14, defect 17: two runs writing one --out both rewrote it (the last writer won, no warning).
TEST_F(BenchRun, ASecondRunOnTheSameOutIsRefused) {
  const std::string cfg = dir_.path() + "/tiny.yaml";
  write(cfg, tiny_config("  - rms_norm\n"));
  {
    const report::OutputLock first(out_);  // what a run holds while it writes out_
    ASSERT_TRUE(first.held());
    auto r = test::run_bench("run " + cfg + " --quiet --bandwidth-mib 8 --out " + out_);
    EXPECT_EQ(r.exit_code, 2) << r.err;
    EXPECT_THAT(r.err, HasSubstr("another bench run (pid " + std::to_string(getpid()) + ") is writing"));
    EXPECT_THAT(r.err, HasSubstr("give this run another --out"));
    EXPECT_FALSE(std::filesystem::exists(out_));
  }
  auto r = test::run_bench("run " + cfg + " --quiet --bandwidth-mib 8 --out " + out_);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_FALSE(std::filesystem::exists(dir_.path() + "/.result.json.lock"));  // removed at the end
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

// Issue 14, defects 1 and 2: `--backend avx_brick --ci` (a typo) exited 0 with only the reference
// measured, and a typo in `reference:` turned every equivalence check off. Unknown names are usage
// errors that list what exists; a named backend that did not run fails --ci.
TEST_F(BenchRun, UnknownBackendOrReferenceNamesAreErrorsAndCiNeedsEveryNamedBackend) {
  const std::string cfg = dir_.path() + "/names.yaml";
  write(cfg, tiny_config("  - rms_norm\n", "backends: [scalar_ref, avx_bricks, cuda_bricks]\n"));
  auto typo =
      test::run_bench("run " + cfg + " --ci --quiet --bandwidth-mib 8 --backend avx_brick --out " + out_);
  EXPECT_EQ(typo.exit_code, 2) << typo.err;
  EXPECT_THAT(typo.err, HasSubstr("--backend avx_brick: no such backend; did you mean 'avx_bricks'?"));
  EXPECT_THAT(typo.err, HasSubstr("known: "));
  EXPECT_FALSE(std::filesystem::exists(out_));

  write(cfg, tiny_config("  - rms_norm\n", "reference: scalar_reff\n"));
  auto ref = test::run_bench("run " + cfg + " --ci --quiet --bandwidth-mib 8 --out " + out_);
  EXPECT_EQ(ref.exit_code, 2) << ref.err;
  EXPECT_THAT(ref.err, HasSubstr("reference backend 'scalar_reff'"));
  EXPECT_THAT(ref.err, HasSubstr("did you mean 'scalar_ref'?"));

  // A backend the config names but this machine lacks (no plugin of that name, or one that does not
  // load): skipped with why; fine without --ci, a failure of --ci when it was asked for by --backend.
  // scalar_ref reference-only: not graded, so the host's noise (an UNSTABLE cell) cannot fail --ci here.
  write(cfg, tiny_config("  - rms_norm\n",
                         "backends: [scalar_ref, no_such_gpu]\n"
                         "backend_caps: {scalar_ref: {reference_only: true}}\n"));
  auto plain =
      test::run_bench("run " + cfg + " --quiet --bandwidth-mib 8 --backend no_such_gpu --out " + out_);
  EXPECT_EQ(plain.exit_code, 0) << plain.err;
  auto ci =
      test::run_bench("run " + cfg + " --ci --quiet --bandwidth-mib 8 --backend no_such_gpu --out " + out_);
  EXPECT_EQ(ci.exit_code, 1) << ci.err;
  EXPECT_THAT(ci.err, HasSubstr("no_such_gpu: required (--backend) but skipped: "));
  // Without --backend the config's list is what the machine has; --ci passes on what ran.
  auto all = test::run_bench("run " + cfg + " --ci --quiet --bandwidth-mib 8 --out " + out_);
  EXPECT_EQ(all.exit_code, 0) << all.err;
  // Options for a backend nobody knows (defect 17) are a warning in the result, not silence.
  write(cfg, tiny_config("  - rms_norm\n", "backend_options: {avx_brick: {x: 1}}\n"));
  auto opts = test::run_bench("run " + cfg + " --quiet --bandwidth-mib 8 --out " + out_);
  EXPECT_EQ(opts.exit_code, 0) << opts.err;
  const auto warned = report::read_result_json(out_).warnings;
  EXPECT_THAT(warned, ::testing::Contains(HasSubstr("backend_options for 'avx_brick', which is no backend")));
}

// Issue 14, defect 17: `warmup_ms: 1e12` was cut short (at half of max_seconds_per_cell) with no note.
TEST_F(BenchRun, AWarmUpCutShortIsNoted) {
  const std::string cfg = dir_.path() + "/warm.yaml";
  write(cfg, "name: warm\nmodel: {gguf: " + kOracle +
                 "tiny-b-q4_k_m.gguf}\nprotocol: {warmup_ms: 1e12, min_samples: 3, max_samples: 5,"
                 " max_seconds_per_cell: 0.4}\nbricks: [rms_norm]\n");
  auto r = test::run_bench("run " + cfg + " --quiet --bandwidth-mib 8 --out " + out_);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(report::read_result_json(out_).warnings,
              ::testing::Contains(HasSubstr("rms_norm on scalar_ref: warm-up cut short after")));
}

// Issue 14, defect 17: `copy bytes: 1 TiB` failed with "std::bad_alloc" as its only reason.
TEST_F(BenchRun, ACopyTooLargeForMemoryFailsSayingSo) {
#ifdef __SANITIZE_ADDRESS__
  GTEST_SKIP() << "ASan's allocator may reserve 1 TiB without failing; the Release stage runs this test";
#endif
  std::ifstream overcommit("/proc/sys/vm/overcommit_memory");
  int mode = 1;
  overcommit >> mode;
  if (mode == 1)
    GTEST_SKIP() << "vm.overcommit_memory is 1: a 1 TiB allocation would succeed, then exhaust memory";
  const std::string cfg = dir_.path() + "/copy.yaml";
  write(cfg, tiny_config("  - {brick: copy, bytes: 1099511627776}\n"));
  auto r = test::run_bench("run " + cfg + " --quiet --bandwidth-mib 8 --backend scalar_ref --out " + out_);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  const report::RunResult result = report::read_result_json(out_);
  const auto* copy = find_cell(result, "copy", "scalar_ref");
  ASSERT_NE(copy, nullptr);
  EXPECT_EQ(copy->status, report::CellStatus::Failed);
  EXPECT_THAT(copy->status_reason, HasSubstr("out of memory"));
  EXPECT_THAT(copy->status_reason, HasSubstr("1099511627776 bytes = 1.02e+03 GiB"));
  EXPECT_THAT(copy->status_reason, HasSubstr("lower its bytes:"));
}

// Issue 14, defect 11: --threads 100000 aborted avx_bricks, --threads -5 was accepted.
TEST_F(BenchRun, ThreadCountsOutOfRangeAreUsageErrors) {
  const std::string cfg = dir_.path() + "/threads.yaml";
  write(cfg, tiny_config("  - rms_norm\n"));
  for (const char* bad : {"-5", "100000"}) {
    auto r = test::run_bench("run " + cfg + " --quiet --threads " + bad + " --out " + out_);
    EXPECT_EQ(r.exit_code, 2) << bad << ": " << r.err;
    EXPECT_THAT(r.err, HasSubstr(std::string("--threads ") + bad + ": expected 0"));
    auto g = test::run_bench(std::string("generate --synthetic tiny --n 1 --threads ") + bad);
    EXPECT_EQ(g.exit_code, 2) << bad << ": " << g.err;
    EXPECT_THAT(g.err, HasSubstr(std::string("--threads ") + bad + ": expected 0"));
  }
  EXPECT_FALSE(std::filesystem::exists(out_));
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
