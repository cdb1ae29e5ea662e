// What loading a plugin yields, in-process (in_process_plugin.h) or isolated in a child process
// (isolated_plugin.h): the types both loaders and the registry (registry.h) share, so that neither
// loader depends on the registry that chooses between them.
#pragma once

#include <cstdint>
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

}  // namespace bb::plugin
