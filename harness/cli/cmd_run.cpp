// bench run: measure an experiment (a YAML config) on every available backend, check every backend
// against the reference, write one result JSON, print a table.
#include <unistd.h>

#include <atomic>
#include <boost/program_options.hpp>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <iostream>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "cli/commands.h"
#include "cli/exit_guard.h"
#include "cli/parse_args.h"
#include "config/experiment.h"
#include "model/gguf.h"
#include "plugin/backend.h"
#include "plugin/plugin_options.h"
#include "plugin/registry.h"
#include "report/reporter.h"
#include "result/output_lock.h"
#include "run/environment.h"
#include "run/runner.h"
#include "run/verdicts.h"

namespace po = boost::program_options;

namespace bb::cli {
namespace {

// SIGINT, SIGTERM (kill, a CI job's timeout) and SIGHUP (the terminal closed) all stop the run the
// same way: finished cells kept, the rest INTERRUPTED, the result file written; the exit code is
// 128 + the signal, the shell's convention (130, 143, 129).
volatile std::sig_atomic_t g_stop_signal = 0;
constexpr int kStopSignals[] = {SIGINT, SIGTERM, SIGHUP};

extern "C" void on_stop_signal(int sig) {
  g_stop_signal = sig;
  plugin::request_cancel();   // async-signal-safe: the runner stops at the next cell step
  std::signal(sig, SIG_DFL);  // a second one kills at once
}

void handle_stop_signals(bool on) {
  for (int sig : kStopSignals) std::signal(sig, on ? on_stop_signal : SIG_DFL);
}

int interrupted_exit_code() { return g_stop_signal ? 128 + g_stop_signal : kExitInterrupted; }

// A plugin call that never returns (a hang in plan_run, without --isolate) keeps the runner from
// seeing the cancel: the first Ctrl-C did nothing (issue 14, defect 13). While the run is on, this
// thread watches for a stop signal; kStopGraceS after one, if the run still has not ended, it says
// so and ends the process with 128 + the signal. The result file is then as last saved: every cell
// measured by then, the others "not reached" (state: running).
constexpr double kStopGraceS = 10;

class StopWatchdog {
 public:
  explicit StopWatchdog(std::string out_path)
      : out_path_(std::move(out_path)), thread_([this] { watch(); }) {}
  ~StopWatchdog() {
    done_ = true;
    thread_.join();
  }
  StopWatchdog(const StopWatchdog&) = delete;
  StopWatchdog& operator=(const StopWatchdog&) = delete;

 private:
  void watch() {
    using Clock = std::chrono::steady_clock;
    std::optional<Clock::time_point> since;
    while (!done_) {
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
      const int sig = g_stop_signal;
      if (!sig) continue;
      if (!since) since = Clock::now();
      if (Clock::now() - *since < std::chrono::duration<double>(kStopGraceS)) continue;
      const std::string msg = "\nbench run: stopped by " + std::string(::strsignal(sig)) +
                              ", but a plugin call has not "
                              "returned " +
                              std::to_string(static_cast<int>(kStopGraceS)) +
                              " s later (it does not check the cancel flag); exiting. " + out_path_ +
                              " holds the cells saved before (state: running); bench run --isolate can "
                              "stop such a plugin.\n";
      [[maybe_unused]] const ssize_t n = ::write(STDERR_FILENO, msg.data(), msg.size());
      ::_exit(128 + sig);
    }
  }
  std::string out_path_;
  std::atomic<bool> done_{false};
  std::thread thread_;
};

std::string default_out_path(const std::string& name) {
  std::string stamp = run::utc_now_iso8601();
  for (char& c : stamp)
    if (c == ':') c = '-';
  std::string safe = name;
  for (char& c : safe)
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '.' && c != '-' && c != '_') c = '_';
  return "results/" + safe + "-" + stamp + ".json";
}

// The table on stdout, where the result went, and the exit code of a finished run; `ci_required`:
// --ci was given, with these backends required (run::RequiredBackend).
int report_run(const report::RunResult& result, report::Reporter& reporter, const std::string& out_path,
               const std::vector<run::RequiredBackend>* ci_required, bool unstable_fails_ci) {
  reporter.report(result, std::cout);
  std::cout.flush();
  std::cerr << "result: " << out_path << "\n";
  if (result.state == "interrupted") {
    std::cerr << "bench run: interrupted"
              << (g_stop_signal ? std::string(" (") + ::strsignal(g_stop_signal) + ")" : std::string())
              << "; the result file holds every cell finished so far\n";
    return interrupted_exit_code();
  }
  if (ci_required) {
    std::vector<std::string> notes;
    auto failures = run::ci_failures(result, *ci_required, unstable_fails_ci, &notes);
    if (!notes.empty()) {
      std::cerr << "bench run --ci: " << notes.size()
                << " cell(s) did not converge; reported, not failures (protocol.unstable_fails_ci: false):\n";
      for (const auto& n : notes) std::cerr << "  " << n << "\n";
    }
    if (!failures.empty()) {
      std::cerr << "bench run --ci: " << failures.size() << " failure(s):\n";
      for (const auto& f : failures) std::cerr << "  " << f << "\n";
      return kExitFailure;
    }
    std::cerr << "bench run --ci: pass\n";
  }
  return kExitOk;
}

constexpr const char* kUsage =
    "usage: bench run CONFIG.yaml [--out FILE.json] [--ci] [--format console|md|csv|json|gbench] "
    "[--backend NAME]...\n\n"
    "Measures every brick of the experiment on every backend it names (missing ones are skipped, with\n"
    "why), checks each backend's outputs against the reference backend on the same inputs, and writes\n"
    "one result JSON (rewritten atomically as cells finish: Ctrl-C keeps every finished cell).\n"
    "Config schema: docs/CONFIG.md. Result schema: results/schema/result-v1.schema.json.\n\n"
    "exit codes: 0 done (with --ci: and every graded cell met its budget, passed equivalence and\n"
    "converged), 1 --ci found a failure, 2 usage or config error (also: another run is writing the\n"
    "same --out), 3 internal error (also: a plugin called exit(), the model file was truncated during\n"
    "the run), 4 measured but the result file could not be written, 128 + the signal\n"
    "when stopped by SIGINT (130, Ctrl-C), SIGTERM (143) or SIGHUP (129); the result file is kept\n\noptions";

// What the command line gave.
struct RunArgs {
  std::string config_path, out, format = "console";
  bool ci = false, quiet = false, isolate = false;
  std::vector<std::string> only, required;
  int32_t threads = -1;  // -1: not given (the config's threads apply)
  int64_t bandwidth_mib = 256;
  plugin::SearchPaths paths;
  std::unique_ptr<report::Reporter> reporter;
};

po::options_description command_line_options(RunArgs& a) {
  po::options_description opts(kUsage);
  opts.add_options()("help,h", "this help")("config", po::value(&a.config_path),
                                            "the experiment (YAML); also the first positional argument")(
      "out,o", po::value(&a.out), "result file (default: results/<name>-<UTC time>.json)")(
      "ci", po::bool_switch(&a.ci),
      "exit 1 on a budget miss, a failed equivalence, an UNSTABLE cell, or a --backend / --require backend "
      "or the reference that did not run")(
      "format", po::value(&a.format)->default_value(a.format),
      "table format on stdout: console, md, csv, json, gbench (Google Benchmark JSON)")(
      "backend", po::value(&a.only), "measure only these backends (repeatable; the reference always runs)")(
      "require", po::value(&a.required),
      "with --ci: also fail when this backend is skipped or any of its cells is skipped or failed "
      "(repeatable;"
      " e.g. --require ollama_client when the Ollama peer must be there)")(
      "threads", po::value(&a.threads), "threads for CPU backends (default: the config's, else all cores)")(
      "bandwidth-mib", po::value(&a.bandwidth_mib)->default_value(a.bandwidth_mib),
      "size of the copy that measures each backend's bandwidth ceiling")("quiet,q", po::bool_switch(&a.quiet),
                                                                         "no progress lines on stderr")(
      "isolate", po::bool_switch(&a.isolate),
      "run each plugin in a child process of its own (bench plugin-host): a plugin that crashes, hangs or"
      " grows without bound loses only its own cells (CRASHED / TIMEOUT); times are taken in the child")(
      "isolate-timeout",
      po::value(&a.paths.isolate.call_timeout_s)->default_value(a.paths.isolate.call_timeout_s),
      "with --isolate: seconds one plugin call may take before its backend is killed (TIMEOUT)")(
      "isolate-memory-mib",
      po::value(&a.paths.isolate.memory_limit_mib)->default_value(a.paths.isolate.memory_limit_mib),
      "with --isolate: resident memory a plugin host may reach before it is killed (CRASHED); 0 = 3/4 of "
      "RAM");
  add_plugin_options(opts, a.paths);
  return opts;
}

// Reads the command line into `a`; an exit code when the command ends here (--help 0, bad usage 2).
std::optional<int> parse_run_args(const std::vector<std::string>& args, RunArgs& a) {
  a.paths.probe_in_child = true;  // a bad .so in the plugin path is rejected, never loaded here
  po::options_description opts = command_line_options(a);
  po::positional_options_description pos;
  pos.add("config", 1);
  try {
    po::variables_map vm;
    if (!parse_args(args, opts, &pos, vm)) return kExitOk;
    if (a.config_path.empty())
      throw po::error("give the experiment to run, e.g. bench run configs/smoke.yaml");
    if (a.bandwidth_mib < 1) throw po::error("--bandwidth-mib must be >= 1");
    if (vm.count("threads") && (a.threads < 0 || a.threads > config::kMaxThreads))
      throw po::error("--threads " + std::to_string(a.threads) + ": expected 0 (all hardware threads) to " +
                      std::to_string(config::kMaxThreads));
    if (!(a.paths.isolate.call_timeout_s > 0)) throw po::error("--isolate-timeout must be > 0");
    if (a.paths.isolate.memory_limit_mib < 0) throw po::error("--isolate-memory-mib must be >= 0");
    a.paths.isolate.enabled = a.isolate;
    a.reporter = report::make_reporter(a.format);
  } catch (const std::exception& e) {
    std::cerr << "bench run: " << e.what() << "\n(bench run --help for usage)\n";
    return kExitUsage;
  }
  return std::nullopt;
}

run::RunOptions run_options_of(const RunArgs& a, const config::Experiment& experiment,
                               const std::vector<std::string>& args) {
  run::RunOptions ro;
  ro.out_path = a.out.empty() ? default_out_path(experiment.name) : a.out;
  ro.plugin_paths = a.paths;
  ro.threads = a.threads;
  ro.only_backends = a.only;
  ro.bandwidth_bytes = a.bandwidth_mib << 20;
  ro.command_line = "bench run";
  for (const auto& arg : args) ro.command_line += " " + arg;
  return ro;
}

// Runs the experiment under the stop signals' handlers, the exit() guard and the stop watchdog; an
// exit code when it ended in an error instead of a result.
std::optional<int> measure(const config::Experiment& experiment, const run::RunOptions& ro, bool quiet,
                           report::RunResult& result) {
  plugin::reset_cancel();
  g_stop_signal = 0;
  handle_stop_signals(true);
  try {
    const ExitGuard guard("bench run: a plugin called exit() during the run, which stopped it (exit " +
                          std::to_string(kExitInternal) + "); " + ro.out_path +
                          " holds what was saved before, if anything (state: running). bench run --isolate "
                          "contains such a plugin; bench plugins lists where each was found.");
    const BusErrorGuard bus_guard(
        "\nbench run: SIGBUS: a file mapped into memory could not be read; most likely "
        "the model file was truncated or rewritten during the run (do not change a "
        "model while a run reads it). " +
        ro.out_path + " holds the cells saved before (state: running).");
    const StopWatchdog watchdog(ro.out_path);
    result = run::run_experiment(experiment, ro, [&](const std::string& line) {
      if (!quiet) std::cerr << line << std::endl;
    });
  } catch (const config::ConfigError& e) {
    std::cerr << "bench run: " << e.what() << "\n";
    return kExitUsage;
  } catch (const model::GgufError& e) {
    std::cerr << "bench run: " << e.what() << "\n";
    return kExitUsage;
  } catch (const run::InputError& e) {
    std::cerr << "bench run: " << e.what() << "\n";
    return kExitUsage;
  } catch (const std::exception& e) {
    std::cerr << "bench run: " << e.what() << "\n";
    return plugin::cancel_requested() ? interrupted_exit_code() : kExitInternal;
  }
  handle_stop_signals(false);
  return std::nullopt;
}

// --ci fails when a backend it was asked for did not run: each --require and --backend name, and the
// reference, without which no equivalence is checked.
std::vector<run::RequiredBackend> ci_required_backends(const config::Experiment& experiment,
                                                       const RunArgs& a) {
  std::vector<run::RequiredBackend> ci_required;
  auto require = [&](const std::string& name, const char* why) {
    for (const auto& r : ci_required)
      if (r.name == name) return;
    ci_required.push_back({name, why});
  };
  require(experiment.reference, "the reference");
  for (const auto& n : a.required) require(n, "--require");
  for (const auto& n : a.only) require(n, "--backend");
  return ci_required;
}

}  // namespace

// The stages of bench run: the command line, the experiment, the measurement (run::run_experiment),
// then the table, the --ci verdict and the exit code.
int cmd_run(const std::vector<std::string>& args) {
  RunArgs a;
  if (auto rc = parse_run_args(args, a)) return *rc;

  config::Experiment experiment;
  try {
    experiment = config::load_experiment(a.config_path);
  } catch (const std::exception& e) {
    std::cerr << "bench run: " << e.what() << "\n";
    return kExitUsage;
  }

  run::RunOptions ro = run_options_of(a, experiment, args);
  std::optional<report::OutputLock> out_lock;
  try {
    out_lock.emplace(ro.out_path);  // held to the end: a second run on this --out is refused
  } catch (const report::OutputBusy& e) {
    std::cerr << "bench run: " << e.what() << "\n";
    return kExitUsage;
  }
  std::string write_failure;
  ro.write_failure = &write_failure;
  report::RunResult result;
  if (auto rc = measure(experiment, ro, a.quiet, result)) return *rc;

  const auto ci_required = ci_required_backends(experiment, a);
  const int rc = report_run(result, *a.reporter, ro.out_path, a.ci ? &ci_required : nullptr,
                            experiment.protocol.unstable_fails_ci);
  if (write_failure.empty()) return rc;
  std::cerr << "bench run: the result could not be written to " << ro.out_path << ": " << write_failure
            << "\n  every cell was measured; the table above is what is left of it. Free space or give "
               "another --out.\n";
  return rc == kExitOk || rc == kExitFailure ? kExitNotWritten : rc;
}

}  // namespace bb::cli
