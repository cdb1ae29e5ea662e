// Finding backend plugins: directories, explicit files, and the reason every rejected candidate was
// rejected. Loading is the in-process loader's (in_process_plugin.h) or the isolated one's
// (isolated_plugin.h), which share the types of loaded_plugin.h; the registry chooses between them.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "brickbench/brick_abi.h"
#include "plugin/host_services.h"
#include "plugin/in_process_plugin.h"
#include "plugin/loaded_plugin.h"

namespace bb::plugin {

struct SearchPaths {
  std::vector<std::string> dirs;   // --plugin-dir (repeatable)
  std::vector<std::string> files;  // --plugin FILE.so (repeatable)
  bool use_env = true;             // BRICKBENCH_PLUGIN_PATH (':'-separated dirs)
  bool use_build_dir = true;       // the build's own plugins/ directory
  IsolateOptions isolate;          // load each plugin in a child process (bench run --isolate)
  // Load each discovered plugin in a child process (`bench plugin-host`, isolate's host_executable)
  // before loading it here: one whose entry crashes, hangs (kProbeTimeoutS) or exits there is
  // rejected with why and never runs in this process, so one bad .so in a plugin directory cannot
  // take down a command that does not use it (issue 14, defect 8). The bench commands set it; the
  // default is off because a process that is not `bench` (a test binary) cannot serve plugin-host.
  bool probe_in_child = false;
};

// How long a plugin's entry and probe may take in the probing child before it is rejected.
inline constexpr double kProbeTimeoutS = 30;

// One directory of the search, with where it came from (for `bench plugins` and error messages).
struct SearchDir {
  std::string path;    // absolute
  std::string origin;  // "--plugin-dir", "BRICKBENCH_PLUGIN_PATH", "beside bench", "build tree"
};

// The directories searched, in order: explicit dirs, BRICKBENCH_PLUGIN_PATH, then plugins/ beside
// the running executable and the build's plugins/ (BRICKBENCH_PLUGIN_BUILD_DIR), those two only
// when they exist. A relative --plugin-dir is made absolute against the current directory (the user
// named it); empty and relative entries of BRICKBENCH_PLUGIN_PATH are ignored (discover() warns
// about relative ones), so the current directory is never searched unless named on the command
// line. Duplicates are dropped.
std::vector<SearchDir> plugin_search_dirs(const SearchPaths& paths);
std::vector<std::string> plugin_directories(const SearchPaths& paths);  // the paths of the above

// Where plugins are looked for, in words, for --help texts.
std::string plugin_search_help();

class PluginRegistry {
 public:
  // Loads every *.so of the directories and every explicit file; never throws for a bad plugin
  // (it is recorded as rejected with the reason). A directory that does not exist is a warning.
  // May be called more than once; a file already seen (same canonical path) is not loaded again.
  void discover(const SearchPaths& paths);
  // Every candidate, usable or not, in discovery order.
  const std::vector<PluginInfo>& candidates() const { return candidates_; }
  // The directories discover() searched, in order, and what it found worth a warning.
  const std::vector<SearchDir>& searched_dirs() const { return searched_dirs_; }
  const std::vector<std::string>& warnings() const { return warnings_; }
  // The usable plugin of that name with the highest probe score; nullptr if none.
  std::shared_ptr<const LoadedPlugin> find(const std::string& name) const;
  // Why `name` is not usable: the rejection of the best candidate of that name, or "not found in ...".
  std::string why_unavailable(const std::string& name) const;
  std::vector<std::shared_ptr<const LoadedPlugin>> usable() const;  // best per name

 private:
  std::vector<PluginInfo> candidates_;
  std::vector<std::shared_ptr<const LoadedPlugin>> loaded_;
  std::vector<SearchDir> searched_dirs_;
  std::vector<std::string> warnings_;
  std::vector<std::string> seen_files_;  // canonical paths already loaded or rejected
};

}  // namespace bb::plugin
