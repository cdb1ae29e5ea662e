// Finding and loading backend plugins (Boost.DLL): directories, explicit files, ABI negotiation,
// the probe, and the reason every rejected candidate was rejected.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "brickbench/brick_abi.h"

namespace bb::plugin {

// What `bench plugins` prints and result files record about one candidate .so.
struct PluginInfo {
  std::string path;       // absolute
  std::string origin;     // where it was found: "--plugin", "--plugin-dir", "BRICKBENCH_PLUGIN_PATH", ...
  bool usable = false;    // loaded, right ABI major, probe > 0
  std::string rejection;  // why not usable (empty when usable)
  std::string name, version, description;
  uint32_t abi_major = 0, abi_minor = 0;  // 0.0 until the plugin's table was read
  int32_t probe_score = 0;                // 1 when the plugin has no probe
  bool has_probe = false;
  std::string probe_reason;  // what the probe wrote (required when it returns 0, optional else)
  std::vector<bb_capability> capabilities;
  std::vector<std::pair<std::string, std::string>> build_info;
};

// Why an isolated plugin (isolated_plugin.h) stopped working: its child process died or was
// killed. TIMEOUT when a call outlived the timeout; CRASHED for everything else.
struct PluginFailure {
  bool timeout = false;
  std::string reason;  // "the plugin host of faulty died during plan_run (brick ffn): killed by SIGSEGV ..."
};

// A loaded library and its function table; lives as long as anything made from it.
class LoadedPlugin {
 public:
  virtual ~LoadedPlugin() = default;
  virtual const bb_plugin_api* api() const = 0;
  virtual const PluginInfo& info() const = 0;
  bool supports(int32_t op, int32_t weight_type) const;  // honours BB_TYPE_ANY on either side
  // Isolated plugins only: set once the child is gone; every later call fails.
  virtual std::optional<PluginFailure> failure() const { return std::nullopt; }
  // Isolated plugins only: the child's own clock around the last plan_run / session_decode /
  // session_generate (seconds), read once; nullopt in-process (the host's clock is the truth).
  virtual std::optional<double> take_call_seconds() const { return std::nullopt; }
};

// `bench run --isolate` (isolated_plugin.h): each plugin in a child process of its own.
struct IsolateOptions {
  bool enabled = false;
  std::string host_executable;   // the `bench` that serves `plugin-host`; "" = this executable
  double call_timeout_s = 120;   // one call (plan_create, plan_run, ...) longer than this: TIMEOUT
  int64_t memory_limit_mib = 0;  // child RSS above this: killed, CRASHED; 0 = 3/4 of physical memory
};

struct SearchPaths {
  std::vector<std::string> dirs;   // --plugin-dir (repeatable)
  std::vector<std::string> files;  // --plugin FILE.so (repeatable)
  bool use_env = true;             // BRICKBENCH_PLUGIN_PATH (':'-separated dirs)
  bool use_build_dir = true;       // the build's own plugins/ directory
  IsolateOptions isolate;          // load each plugin in a child process (bench run --isolate)
};

// One directory of the search, with where it came from (for `bench plugins` and error messages).
struct SearchDir {
  std::string path;    // absolute
  std::string origin;  // "--plugin-dir", "BRICKBENCH_PLUGIN_PATH", "beside bench", "build tree"
};

// The directories searched, in order: explicit dirs, BRICKBENCH_PLUGIN_PATH, then plugins/ beside
// the running executable and the build's plugins/ (BRICKBENCH_PLUGIN_BUILD_DIR), those two only
// when they exist. A relative --plugin-dir is made absolute against the current directory (the user
// named it); empty and relative entries of BRICKBENCH_PLUGIN_PATH are ignored (discover() warns
// about relative ones), so the current directory is never searched unless named on the command
// line. Duplicates are dropped.
std::vector<SearchDir> plugin_search_dirs(const SearchPaths& paths);
std::vector<std::string> plugin_directories(const SearchPaths& paths);  // the paths of the above

// Where plugins are looked for, in words, for --help texts.
std::string plugin_search_help();

class PluginRegistry {
 public:
  // Loads every *.so of the directories and every explicit file; never throws for a bad plugin
  // (it is recorded as rejected with the reason). A directory that does not exist is a warning.
  // May be called more than once; a file already seen (same canonical path) is not loaded again.
  void discover(const SearchPaths& paths);
  // Every candidate, usable or not, in discovery order.
  const std::vector<PluginInfo>& candidates() const { return candidates_; }
  // The directories discover() searched, in order, and what it found worth a warning.
  const std::vector<SearchDir>& searched_dirs() const { return searched_dirs_; }
  const std::vector<std::string>& warnings() const { return warnings_; }
  // The usable plugin of that name with the highest probe score; nullptr if none.
  std::shared_ptr<const LoadedPlugin> find(const std::string& name) const;
  // Why `name` is not usable: the rejection of the best candidate of that name, or "not found in ...".
  std::string why_unavailable(const std::string& name) const;
  std::vector<std::shared_ptr<const LoadedPlugin>> usable() const;  // best per name

 private:
  std::vector<PluginInfo> candidates_;
  std::vector<std::shared_ptr<const LoadedPlugin>> loaded_;
  std::vector<SearchDir> searched_dirs_;
  std::vector<std::string> warnings_;
  std::vector<std::string> seen_files_;  // canonical paths already loaded or rejected
};

// Loads one candidate file (absolute path): the whole negotiation of discover() for a single .so.
// Returns the plugin when usable; `info` always says what was learnt and, if rejected, why.
std::shared_ptr<const LoadedPlugin> load_plugin(const std::string& path, PluginInfo& info);

// The host services handed to every plugin (logging to stderr, aligned allocation, thread count,
// cancel flag). One static instance per process; each loaded plugin gets a copy whose host_data
// names the plugin in its log lines.
const bb_host_api* host_api();
// Threads offered to plugins (host->n_threads); <= 0 restores std::thread::hardware_concurrency().
// Updates the plugins already loaded too.
void set_host_threads(int32_t n_threads);
int32_t host_threads();
// Plugin log lines below this level (bb_log_level) are dropped; default BB_LOG_INFO.
void set_host_log_level(int32_t level);
// Sets the cancel flag plugins poll. Async-signal-safe (a lock-free atomic store), so a SIGINT
// handler may call it.
void request_cancel();
bool cancel_requested();
void reset_cancel();  // for tests and for a host that runs again after a cancelled cell

}  // namespace bb::plugin
