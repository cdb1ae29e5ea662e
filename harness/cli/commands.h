// The subcommands of `bench`. Each takes the arguments after its name and returns the process
// exit code: one of the constants below (README.md's "Exit codes").
#pragma once

#include <string>
#include <vector>

namespace bb::cli {

inline constexpr int kExitOk = 0;             // success
inline constexpr int kExitFailure = 1;        // the command ran and found a failure (bench run --ci, ...)
inline constexpr int kExitUsage = 2;          // usage or input error: bad flag, bad config, bad input file
inline constexpr int kExitInternal = 3;       // internal error: anything else that stopped the command
inline constexpr int kExitNotWritten = 4;     // bench run measured, but its result file could not be written
inline constexpr int kExitInterrupted = 130;  // stopped by SIGINT (128 + 2, the shell's convention)

int cmd_plugins(const std::vector<std::string>& args);
int cmd_synth(const std::vector<std::string>& args);
int cmd_generate(const std::vector<std::string>& args);
int cmd_inspect(const std::vector<std::string>& args);
int cmd_run(const std::vector<std::string>& args);
int cmd_diff(const std::vector<std::string>& args);
int cmd_report(const std::vector<std::string>& args);
int cmd_export(const std::vector<std::string>& args);
// Hidden (not listed): the child process of `bench run --isolate` (plugin/isolated_plugin.h).
int cmd_plugin_host(const std::vector<std::string>& args);

}  // namespace bb::cli
