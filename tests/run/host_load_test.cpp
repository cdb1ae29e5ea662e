// The interference sentinel (run/host_load.h): /proc/stat and /proc/PID/stat read right, the window's
// arithmetic and its thresholds, and `bench run` beside two busy loops: its cells flagged, marked in
// the table, warned of, and kept in the result file (which still validates).
#include "run/host_load.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <vector>

#include "result/result_json.h"
#include "result/result_schema.h"
#include "test_util.h"

namespace bb::run {
namespace {

using ::testing::HasSubstr;

TEST(HostLoad, ProcStatBusyStealAndCpus) {
  const std::string text =
      "cpu  1000 200 300 5000 40 10 20 70 0 0\n"
      "cpu0 500 100 150 2500 20 5 10 35 0 0\n"
      "cpu1 500 100 150 2500 20 5 10 35 0 0\n"
      "intr 123 4 5\nctxt 99\n";
  const auto s = parse_proc_stat(text, 100);
  ASSERT_TRUE(s.has_value());
  EXPECT_DOUBLE_EQ(s->busy_s, (1000 + 200 + 300 + 10 + 20) / 100.0);  // idle and iowait left out
  EXPECT_DOUBLE_EQ(s->steal_s, 0.7);
  EXPECT_EQ(s->cpus, 2);
  // An old kernel without steal (and irq/softirq): four fields are enough.
  const auto old = parse_proc_stat("cpu 10 0 10 80\ncpu0 10 0 10 80\n", 100);
  ASSERT_TRUE(old.has_value());
  EXPECT_DOUBLE_EQ(old->busy_s, 0.2);
  EXPECT_DOUBLE_EQ(old->steal_s, 0);
  EXPECT_FALSE(parse_proc_stat("cpu0 1 2 3 4\n", 100).has_value());  // no aggregate line
  EXPECT_FALSE(parse_proc_stat("cpu 1 2\n", 100).has_value());
  EXPECT_FALSE(parse_proc_stat("", 100).has_value());
}

TEST(HostLoad, PidStatCpuTimeWithAnAwkwardCommandName) {
  // utime 250 and stime 50 ticks; the name holds a space and a parenthesis.
  const std::string line = "4242 (bench (x) y) S 1 4242 4242 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 3 0 77";
  const auto t = parse_pid_cpu_seconds(line, 100);
  ASSERT_TRUE(t.has_value());
  EXPECT_DOUBLE_EQ(*t, 3.0);
  EXPECT_FALSE(parse_pid_cpu_seconds("4242 (bench) S 1 2", 100).has_value());
  EXPECT_FALSE(parse_pid_cpu_seconds("no parenthesis here", 100).has_value());
  EXPECT_FALSE(parse_pid_cpu_seconds("1 (a) S 1 1 1 0 -1 0 0 0 0 0 x 50", 100).has_value());
}

TEST(HostLoad, WindowArithmeticAndThresholds) {
  const HostReading from{.wall_s = 10, .busy_s = 100, .steal_s = 5, .own_s = 3, .cpus = 2};
  // One second: the CPUs were busy 1.8 s, 1.0 s of it this run's: others kept 0.8 cores busy.
  HostReading to{.wall_s = 11, .busy_s = 101.8, .steal_s = 5, .own_s = 4, .cpus = 2};
  report::Interference i = interference_between(from, to);
  EXPECT_DOUBLE_EQ(i.window_s, 1);
  EXPECT_NEAR(i.other_cores, 0.8, 1e-9);
  EXPECT_EQ(i.cpus, 2);
  EXPECT_TRUE(i.flagged);
  // Alone: busy exactly as much as this run itself (ticks may even lag a little: never negative).
  to.busy_s = 100.95;
  i = interference_between(from, to);
  EXPECT_DOUBLE_EQ(i.other_cores, 0);
  EXPECT_FALSE(i.flagged);
  // Just under the core threshold: not flagged; steal of 15% of the machine: flagged.
  to.busy_s = 101 + 0.99 * kInterferenceCores;
  EXPECT_FALSE(interference_between(from, to).flagged);
  to.steal_s = 5 + 0.15 * 2;
  i = interference_between(from, to);
  EXPECT_NEAR(i.steal_fraction, 0.15, 1e-9);
  EXPECT_TRUE(i.flagged);
  // A window too short for 10 ms ticks is recorded but never flagged.
  const HostReading brief{.wall_s = 10.05, .busy_s = 100.2, .steal_s = 5, .own_s = 3.05, .cpus = 2};
  i = interference_between(from, brief);
  EXPECT_GT(i.other_cores, kInterferenceCores);
  EXPECT_FALSE(i.flagged);
}

TEST(HostLoad, ReadsThisMachine) {
  if (!std::ifstream("/proc/stat"))
    GTEST_SKIP() << "no /proc/stat on this machine: the sentinel reads nothing";
  const HostLoad host;
  const auto a = host.read();
  ASSERT_TRUE(a.has_value());
  EXPECT_GT(a->cpus, 0);
  volatile double x = 0;
  for (int k = 0; k < 20000000; ++k) x = x + 1e-9 * k;  // some CPU of our own
  const auto b = host.read();
  ASSERT_TRUE(b.has_value());
  EXPECT_GT(b->own_s, a->own_s);
  EXPECT_GE(b->busy_s, a->busy_s);
  EXPECT_GT(b->wall_s, a->wall_s);
}

// Busy loops in child processes for as long as it lives.
class Hogs {
 public:
  explicit Hogs(int n) {
    for (int k = 0; k < n; ++k) {
      const pid_t pid = ::fork();
      if (pid == 0) {
        volatile unsigned long spin = 0;
        for (;;) spin = spin + 1;
      }
      if (pid > 0) pids_.push_back(pid);
    }
  }
  ~Hogs() {
    for (pid_t p : pids_) ::kill(p, SIGKILL);
    for (pid_t p : pids_) ::waitpid(p, nullptr, 0);
  }
  Hogs(const Hogs&) = delete;
  Hogs& operator=(const Hogs&) = delete;
  size_t size() const { return pids_.size(); }

 private:
  std::vector<pid_t> pids_;
};

TEST(HostLoad, ARunBesideTwoBusyLoopsFlagsItsCellsAndSaysSo) {
  if (!std::ifstream("/proc/stat"))
    GTEST_SKIP() << "no /proc/stat on this machine: the sentinel reads nothing";
  test::TempDir dir;
  test::ScopedEnv no_env_plugins("BRICKBENCH_PLUGIN_PATH", std::nullopt);
  const std::string cfg = dir.path() + "/hogs.yaml", out = dir.path() + "/r.json";
  std::ofstream(cfg)
      << "name: hogs\nmodel:\n  gguf: " << BRICKBENCH_TEST_DATA_DIR
      << "/oracle/tiny-b-q4_k_m.gguf\nreference: scalar_ref\nbackends: [scalar_ref]\n"
         "protocol: {warmup_ms: 20, warmup_min_iterations: 3, min_samples: 40, max_samples: 80,"
         " cv_target: 0.05, max_seconds_per_cell: 2}\n"
         "bricks: [rms_norm, qkv, {brick: gemv, type: all}]\n";
  test::CommandResult r;
  {
    const Hogs hogs(2);
    ASSERT_EQ(hogs.size(), 2u);
    r = test::run_bench("run " + cfg + " --bandwidth-mib 8 --out " + out);
  }
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const report::RunResult res = report::read_result_json(out);
  int judged = 0, flagged = 0;
  for (const auto& c : res.cells) {
    if (c.samples.empty()) continue;
    ASSERT_TRUE(c.interference.has_value()) << c.id;
    EXPECT_EQ(c.interference->cpus, static_cast<int32_t>(::sysconf(_SC_NPROCESSORS_ONLN))) << c.id;
    if (c.interference->window_s < kInterferenceMinWindowS) continue;
    ++judged;
    flagged += c.interference->flagged;
  }
  ASSERT_GT(judged, 3) << r.err;
  EXPECT_GE(flagged, judged - 1) << r.err;  // two busy loops: at least a core of other processes
  EXPECT_THAT(r.err, HasSubstr("WARNING: other processes used "));
  EXPECT_THAT(r.out + r.err, HasSubstr("! measured under interference: other processes used "));
  EXPECT_THAT(r.out + r.err, ::testing::ContainsRegex("(CONVERGED|UNSTABLE|CAPPED_SLOW) !"));
  bool warned = false;
  for (const auto& w : res.warnings) warned |= w.find("cells were measured (marked '!'") != std::string::npos;
  EXPECT_TRUE(warned);
  std::ifstream in(out);
  const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_TRUE(report::validate_result_json(text, report::default_result_schema_path()).empty());
}

}  // namespace
}  // namespace bb::run
