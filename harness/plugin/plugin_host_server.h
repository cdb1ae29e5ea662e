// The child side of `bench run --isolate`: `bench plugin-host --fd N --plugin FILE.so` loads one
// plugin in its own process and executes the calls its proxy in the parent forwards over the
// socket `fd` (protocol: isolated_ipc.h). It times plan_run / session_decode / session_generate
// itself and returns the elapsed time, so the parent's samples do not include the round trip.
#pragma once

#include <string>

namespace bb::plugin {

// Serves until the parent closes the socket; returns the process exit code (0 when the parent
// hung up, 3 on a protocol error). A C++ exception escaping the plugin is reported to the parent
// as fatal and ends the process (exit code 4): the plugin's state is unknown after it.
int serve_plugin_host(int fd, const std::string& plugin_path);

}  // namespace bb::plugin
