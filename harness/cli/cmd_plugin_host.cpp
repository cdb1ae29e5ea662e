// `bench plugin-host --fd N --plugin FILE.so`: hidden; started by `bench run --isolate` for each
// plugin (plugin/isolated_plugin.h), never by people. Serves the plugin over the inherited socket.
#include <signal.h>
#include <sys/prctl.h>

#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "cli/commands.h"
#include "plugin/plugin_host_server.h"

namespace bb::cli {

int cmd_plugin_host(const std::vector<std::string>& args) {
  int fd = -1;
  std::string plugin;
  for (size_t i = 0; i + 1 < args.size(); i += 2) {
    if (args[i] == "--fd")
      fd = std::atoi(args[i + 1].c_str());
    else if (args[i] == "--plugin")
      plugin = args[i + 1];
  }
  if (fd < 0 || plugin.empty() || args.size() % 2 != 0) {
    std::fprintf(
        stderr,
        "bench plugin-host: internal command of `bench run --isolate`; usage: bench plugin-host --fd N "
        "--plugin FILE.so\n");
    return kExitUsage;
  }
  // Dies with its parent; Ctrl-C is the parent's to handle (it stops between calls), not ours.
  ::prctl(PR_SET_PDEATHSIG, SIGKILL);
  ::signal(SIGINT, SIG_IGN);
  return plugin::serve_plugin_host(fd, plugin);
}

}  // namespace bb::cli
