// Plugin discovery: the search directories, every candidate loaded by the in-process loader
// (in_process_plugin.h) or, with --isolate, the isolated one (isolated_plugin.h), and a reason for
// every candidate that is not usable.
#include "plugin/registry.h"

#include <algorithm>
#include <cstdlib>
#include <exception>
#include <filesystem>
#include <string_view>
#include <system_error>

#include "plugin/backend.h"
#include "plugin/in_process_plugin.h"
#include "plugin/isolated_plugin.h"

namespace bb::plugin {
namespace fs = std::filesystem;

namespace {

constexpr const char* kEnvPluginPath = "BRICKBENCH_PLUGIN_PATH";
fs::path executable_dir() {
  std::error_code ec;
  fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  return ec ? fs::path() : exe.parent_path();
}

std::string absolute_dir(const std::string& dir) {
  std::error_code ec;
  fs::path p = fs::absolute(dir, ec);
  if (ec) p = dir;
  p = p.lexically_normal();
  if (!p.has_filename() && p.has_parent_path() && p != p.root_path()) p = p.parent_path();  // "a/b/" -> "a/b"
  return p.string();
}

}  // namespace

// The entries of BRICKBENCH_PLUGIN_PATH, empty ones dropped.
std::vector<std::string> env_plugin_path_entries() {
  std::vector<std::string> out;
  const char* env = std::getenv(kEnvPluginPath);
  if (!env) return out;
  std::string_view rest = env;
  while (true) {
    size_t colon = rest.find(':');
    if (colon != 0 && !rest.empty()) out.emplace_back(rest.substr(0, colon));
    if (colon == std::string_view::npos) break;
    rest.remove_prefix(colon + 1);
  }
  return out;
}

std::vector<SearchDir> plugin_search_dirs(const SearchPaths& paths) {
  std::vector<SearchDir> dirs;
  auto add = [&dirs](const std::string& dir, const char* origin) {
    if (dir.empty()) return;  // an empty PATH-style entry would mean ".": never implied
    std::string abs = absolute_dir(dir);
    for (const auto& d : dirs) {
      if (d.path == abs) return;
    }
    dirs.push_back({abs, origin});
  };
  for (const auto& d : paths.dirs) add(d, "--plugin-dir");
  if (paths.use_env) {
    for (const auto& entry : env_plugin_path_entries()) {
      // A relative entry would resolve against whatever directory bench runs in: not a place the
      // user named (discover() warns about it). --plugin-dir names a relative directory on purpose.
      if (!fs::path(entry).is_absolute()) continue;
      add(entry, kEnvPluginPath);
    }
  }
  if (paths.use_build_dir) {
    std::error_code ec;
    fs::path beside = executable_dir();
    bool have_beside = !beside.empty() && fs::is_directory(beside / "plugins", ec);
    if (have_beside) add((beside / "plugins").string(), "beside the executable");
    if (fs::is_directory(BRICKBENCH_PLUGIN_BUILD_DIR, ec) || !have_beside)
      add(BRICKBENCH_PLUGIN_BUILD_DIR, "build tree");
  }
  return dirs;
}

std::vector<std::string> plugin_directories(const SearchPaths& paths) {
  std::vector<std::string> out;
  for (auto& d : plugin_search_dirs(paths)) out.push_back(std::move(d.path));
  return out;
}

std::string plugin_search_help() {
  std::string beside = (executable_dir() / "plugins").string(), build = BRICKBENCH_PLUGIN_BUILD_DIR;
  std::string defaults =
      beside == build ? "the plugins/ directory beside bench (" + beside + ")"
                      : "plugins/ beside bench (" + beside + ") and the build's plugins/ (" + build + ")";
  return "Plugins are shared objects (*.so) exporting bb_plugin_entry. They are looked for, in this order, "
         "in:\n"
         "  1. each --plugin-dir DIR, in the order given;\n"
         "  2. the ':'-separated directories of $BRICKBENCH_PLUGIN_PATH;\n"
         "  3. " +
         defaults +
         ".\n"
         "--plugin FILE.so loads one file wherever it is. The current directory is searched only when "
         "named.\n"
         "A new .so dropped into any of these directories is found without rebuilding bench. Among usable\n"
         "plugins of the same name, the one whose probe scores highest is used (ties: the one found "
         "first).\n";
}

void PluginRegistry::discover(const SearchPaths& paths) {
  auto consider = [this, &paths](const fs::path& file, const std::string& origin) {
    std::error_code ec;
    fs::path canonical = fs::weakly_canonical(file, ec);
    std::string key = ec ? file.string() : canonical.string();
    if (std::find(seen_files_.begin(), seen_files_.end(), key) != seen_files_.end()) return;
    seen_files_.push_back(key);
    PluginInfo info;
    info.origin = origin;
    if (paths.probe_in_child && !paths.isolate.enabled) {
      // Probed in a child first; what it rejects (a crash, a hang, an exit, a wrong ABI, a probe of 0)
      // is recorded as the child saw it and never loaded here.
      IsolateOptions probe = paths.isolate;
      probe.enabled = true;
      probe.call_timeout_s = kProbeTimeoutS;
      PluginInfo probed;
      probed.origin = origin;
      bool host_failed = false;
      if (!load_isolated_plugin(file.string(), probed, probe, &host_failed)) {
        if (host_failed)
          probed.rejection = "failed while being probed in a child process: " + probed.rejection;
        candidates_.push_back(std::move(probed));
        return;
      }
    }
    auto plugin = paths.isolate.enabled ? load_isolated_plugin(file.string(), info, paths.isolate)
                                        : load_plugin(file.string(), info);
    candidates_.push_back(std::move(info));
    if (plugin) loaded_.push_back(std::move(plugin));
  };

  // Explicit files first: the most specific thing the user asked for wins ties.
  for (const auto& file : paths.files) {
    std::error_code ec;
    fs::path abs = fs::absolute(file, ec);
    consider(ec ? fs::path(file) : abs.lexically_normal(), "--plugin");
  }
  if (paths.use_env) {
    for (const auto& entry : env_plugin_path_entries()) {
      if (!fs::path(entry).is_absolute())
        warnings_.push_back(
            std::string(kEnvPluginPath) + " entry '" + entry +
            "' is relative (it would depend on the current directory): ignored; use an absolute "
            "path, or --plugin-dir to name a directory relative to here");
    }
  }
  for (const auto& dir : plugin_search_dirs(paths)) {
    searched_dirs_.push_back(dir);
    std::error_code ec;
    if (!fs::exists(dir.path, ec)) {
      warnings_.push_back("plugin directory " + dir.path + " (" + dir.origin + ") does not exist");
      continue;
    }
    if (!fs::is_directory(dir.path, ec)) {
      warnings_.push_back("plugin directory " + dir.path + " (" + dir.origin + ") is not a directory");
      continue;
    }
    std::vector<fs::path> files;
    for (fs::directory_iterator it(dir.path, ec), end; !ec && it != end; it.increment(ec)) {
      std::error_code type_ec;
      if (it->path().extension() == ".so" && it->is_regular_file(type_ec)) files.push_back(it->path());
    }
    if (ec) warnings_.push_back("cannot list plugin directory " + dir.path + ": " + ec.message());
    std::sort(files.begin(), files.end());
    for (const auto& file : files) consider(file, dir.origin);
  }
}

std::shared_ptr<const LoadedPlugin> PluginRegistry::find(const std::string& name) const {
  std::shared_ptr<const LoadedPlugin> best;
  for (const auto& plugin : loaded_) {
    if (plugin->info().name != name) continue;
    if (!best || plugin->info().probe_score > best->info().probe_score) best = plugin;
  }
  return best;
}

std::string PluginRegistry::why_unavailable(const std::string& name) const {
  if (find(name)) return {};
  for (const auto& c : candidates_) {
    if (c.name == name) return "plugin '" + name + "' (" + c.path + ") was rejected: " + c.rejection;
  }
  std::string why = "no plugin named '" + name + "' found; searched:";
  for (const auto& d : searched_dirs_) why += " " + d.path;
  if (searched_dirs_.empty()) why += " (no directories)";
  std::string usable_names;
  for (const auto& plugin : usable()) usable_names += " " + plugin->info().name;
  why += usable_names.empty() ? "; no usable plugins" : "; usable:" + usable_names;
  for (const auto& c : candidates_) {
    if (c.name.empty()) why += "; rejected " + c.path + ": " + c.rejection;
  }
  return why;
}

std::vector<std::shared_ptr<const LoadedPlugin>> PluginRegistry::usable() const {
  std::vector<std::shared_ptr<const LoadedPlugin>> out;
  for (const auto& plugin : loaded_) {
    auto best = find(plugin->info().name);
    if (std::find(out.begin(), out.end(), best) == out.end()) out.push_back(best);
  }
  return out;
}

}  // namespace bb::plugin
