// The host services of the plugin ABI (logging, aligned allocation, thread count, cancel flag):
// the process-wide settings, and HostServices, the bb_host_api one loaded plugin sees (internal to
// harness/plugin: the in-process loader owns one per loaded library and keeps it alive until after
// the library is unloaded). Named apart from `bench plugin-host`, the child process of --isolate.
#pragma once

#include <cstdint>
#include <mutex>
#include <string>

#include "brickbench/brick_abi.h"

namespace bb::plugin {

// A bb_host_api whose host_data points back here, so that the plugin's log lines carry its name.
class HostServices {
 public:
  explicit HostServices(std::string label);
  ~HostServices();
  HostServices(const HostServices&) = delete;  // api_.host_data points at this object
  HostServices& operator=(const HostServices&) = delete;

  const bb_host_api* api() const { return &api_; }
  // The name log lines carry: the file name until the plugin has said its own name.
  void set_label(std::string label);
  std::string label() const;
  void set_threads(int32_t n_threads) { api_.n_threads = n_threads; }

 private:
  bb_host_api api_;
  mutable std::mutex label_mutex_;  // plugins may log from their own threads
  std::string label_;
};

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
