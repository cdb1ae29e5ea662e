// The host services one loaded plugin sees: a bb_host_api whose host_data points back here, so that
// the plugin's log lines carry its name. Internal to harness/plugin (the registry owns one per
// loaded library and keeps it alive until after the library is unloaded).
#pragma once

#include <cstdint>
#include <mutex>
#include <string>

#include "brickbench/brick_abi.h"

namespace bb::plugin {

class PluginHost {
 public:
  explicit PluginHost(std::string label);
  ~PluginHost();
  PluginHost(const PluginHost&) = delete;  // api_.host_data points at this object
  PluginHost& operator=(const PluginHost&) = delete;

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

}  // namespace bb::plugin
