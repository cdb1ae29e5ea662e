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

// A file mapped into memory (the model's GGUF) that is truncated, or whose disk goes away, while the
// run reads it: the next read of the mapping raises SIGBUS, which killed bench run with no word
// (issue 14, defect 17). While a guard lives, SIGBUS prints `message` and ends the process with
// kExitInternal; the result file is as it was last saved.
class BusErrorGuard {
 public:
  explicit BusErrorGuard(std::string message);
  ~BusErrorGuard();
  BusErrorGuard(const BusErrorGuard&) = delete;
  BusErrorGuard& operator=(const BusErrorGuard&) = delete;
};

}  // namespace bb::cli
