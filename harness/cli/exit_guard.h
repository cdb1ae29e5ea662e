// A plugin that calls exit() (in its entry, a constructor, a brick) ends the harness process with
// the plugin's exit code: `bench run --ci` exited 0 with no result file, no table and no message
// (issue 14, defect 3). While a guard is armed, an exit() that is not the command's own prints what
// happened and ends the process with kExitInternal instead. A plugin that calls _exit() or kills the
// process is beyond this; `bench run --isolate` contains those.
#pragma once

#include <string>

namespace bb::cli {

class ExitGuard {
 public:
  // `message`: what to print (a line or two, without the trailing newline) if exit() is called
  // while this guard lives.
  explicit ExitGuard(std::string message);
  ~ExitGuard();
  ExitGuard(const ExitGuard&) = delete;
  ExitGuard& operator=(const ExitGuard&) = delete;
};

}  // namespace bb::cli
