// `bench run --isolate`: a plugin loaded in a child process of its own (`bench plugin-host`), seen
// from the parent as an ordinary LoadedPlugin whose bb_plugin_api is a proxy. Each proxy call is
// forwarded over a socket (isolated_ipc.h) and executed by the real plugin in the child; tensor
// data is copied across, except weights that lie in a read-only file mapping (the model's GGUF),
// which the child maps itself.
//
// A child that dies (signal, exit, an exception escaping the plugin), outlives a call's timeout or
// grows past the memory limit is killed and never restarted: every later call of that plugin fails
// at once, and failure() says what happened, so the runner marks the backend's cells CRASHED or
// TIMEOUT while the rest of the run goes on. The child times plan_run / session_decode /
// session_generate itself; take_call_seconds() hands that time to Plan::run / Session::decode /
// Session::generate, so measured times do not include the round trip.
#pragma once

#include <memory>
#include <string>

#include "plugin/loaded_plugin.h"

namespace bb::plugin {

// Loads `path` (absolute) in a child: the whole negotiation of load_plugin() happens there, and
// `info` is what the child learnt. A child that crashes or hangs while loading makes the candidate
// rejected with that reason; *host_failed (when given) then says so, as against a rejection the
// plugin's own negotiation gave (wrong ABI, probe 0).
std::shared_ptr<const LoadedPlugin> load_isolated_plugin(const std::string& path, PluginInfo& info,
                                                         const IsolateOptions& options,
                                                         bool* host_failed = nullptr);

}  // namespace bb::plugin
