// The channel of an isolated plugin (isolated_plugin.h): the `bench plugin-host` child process and
// the socket to it, one call at a time under a watchdog (the call timeout, the memory limit), and
// what happened when the child died. The proxy table in isolated_plugin.cpp forwards every ABI call
// through it.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "plugin/isolated_ipc.h"
#include "plugin/loaded_plugin.h"

namespace bb::plugin {

// The memory limit used when IsolateOptions::memory_limit_mib is 0: 3/4 of physical memory.
int64_t default_isolate_memory_limit_mib();

// The plugin hosts alive now (every IsolatedChannel's child between spawn and reap), for the
// interference sentinel (run/host_load.h), which counts their CPU time as the run's own.
std::vector<pid_t> live_plugin_host_pids();

// The child process and the socket to it: one call at a time, each under the watchdog.
class IsolatedChannel {
 public:
  IsolatedChannel(std::string label, const IsolateOptions& options)
      : label_(std::move(label)), options_(options) {
    memory_limit_mib_ =
        options.memory_limit_mib > 0 ? options.memory_limit_mib : default_isolate_memory_limit_mib();
  }
  ~IsolatedChannel() { shut_down(); }
  IsolatedChannel(const IsolatedChannel&) = delete;
  IsolatedChannel& operator=(const IsolatedChannel&) = delete;

  // Starts `bench plugin-host`; false with the reason in failure_ when it cannot.
  bool spawn(const std::string& plugin_path);

  struct Reply {
    int32_t status = BB_OK;
    std::string message;
    std::vector<uint8_t> frame;
    ipc::Reader results;
  };
  // Sends the request and waits for the reply. False when the child is (or now becomes) unusable;
  // then reply.status/message describe that and failure() is set.
  bool call(ipc::Writer& request, const std::string& what, Reply& reply);

  const std::optional<PluginFailure>& failure() const { return failure_; }
  void set_label(std::string label) { label_ = std::move(label); }
  int64_t take_elapsed_ns() { return std::exchange(elapsed_ns_, -1); }
  void set_elapsed_ns(int64_t ns) { elapsed_ns_ = ns; }

 private:
  void fail(bool timeout, const std::string& what, const std::string& how);
  void reap(bool kill_first);
  void shut_down();

  std::string label_;
  IsolateOptions options_;
  int64_t memory_limit_mib_ = 0;
  pid_t pid_ = -1;
  int fd_ = -1;
  std::optional<PluginFailure> failure_;
  int64_t elapsed_ns_ = -1;
};

}  // namespace bb::plugin
