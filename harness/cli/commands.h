// The subcommands of `bench`. Each takes the arguments after its name and returns the process
// exit code: 0 success, 1 the command ran and found a failure, 2 a usage error (bad flag, bad
// input file), 3 an internal error.
#pragma once

#include <string>
#include <vector>

namespace bb::cli {

inline constexpr int kExitOk = 0;
inline constexpr int kExitFailure = 1;
inline constexpr int kExitUsage = 2;
inline constexpr int kExitInternal = 3;

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
