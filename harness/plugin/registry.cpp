// Plugin discovery and loading: Boost.DLL with RTLD_NOW | RTLD_LOCAL on absolute paths, the optional
// probe, the entry point, ABI negotiation, and a reason for every candidate that is not usable.
#include "plugin/registry.h"

#include <algorithm>
#include <array>
#include <boost/dll/shared_library.hpp>
#include <cstddef>
#include <cstdlib>
#include <exception>
#include <filesystem>
#include <string_view>
#include <system_error>

#include "plugin/backend.h"
#include "plugin/isolated_plugin.h"
#include "plugin/plugin_host.h"

namespace bb::plugin {
namespace fs = std::filesystem;

namespace {

constexpr const char* kEnvPluginPath = "BRICKBENCH_PLUGIN_PATH";
// Bytes of the v1 tables: a reader touches a field only when the writer's struct_size covers it.
constexpr size_t kApiAbiFieldsEnd = offsetof(bb_plugin_api, abi_minor) + sizeof(uint32_t);
constexpr size_t kApiV1Size = offsetof(bb_plugin_api, session_generate) + sizeof(void*);
constexpr size_t kCapabilityV1Size = offsetof(bb_capability, flags) + sizeof(uint32_t);
constexpr size_t kMaxCapabilities = 1 << 16;  // more is a corrupt table, not a capable plugin

std::string abi_string(uint32_t major, uint32_t minor) {
  return std::to_string(major) + "." + std::to_string(minor);
}

// Boost.DLL's message is "boost::dll::shared_library::load() failed (dlerror system message: TEXT):
// Bad file descriptor"; TEXT (the dynamic loader's own words) is what a user needs.
std::string loader_text(const std::string& what) {
  static constexpr std::string_view kPrefix = "(dlerror system message: ";
  size_t begin = what.find(kPrefix);
  if (begin == std::string::npos) return what;
  begin += kPrefix.size();
  size_t end = what.rfind("): ");
  if (end == std::string::npos || end < begin) end = what.rfind(')');
  if (end == std::string::npos || end < begin) return what.substr(begin);
  return what.substr(begin, end - begin);
}

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

class DllPlugin final : public LoadedPlugin {
 public:
  DllPlugin(std::unique_ptr<PluginHost> host, boost::dll::shared_library library, const bb_plugin_api* api,
            PluginInfo info)
      : host_(std::move(host)), library_(std::move(library)), api_(api), info_(std::move(info)) {}
  const bb_plugin_api* api() const override { return api_; }
  const PluginInfo& info() const override { return info_; }

 private:
  // Declared first so it is destroyed last: the plugin may use its host until it is unloaded.
  std::unique_ptr<PluginHost> host_;
  boost::dll::shared_library library_;  // unloaded when the last owner of this plugin goes
  const bb_plugin_api* api_;
  PluginInfo info_;
};

// Reads capabilities and build info into `info`; returns the reason on failure, empty on success.
std::string read_static_facts(const bb_plugin_api* api, PluginInfo& info) {
  const bb_capability* caps = nullptr;
  size_t n_caps = 0;
  if (bb_error* error = api->get_capabilities(&caps, &n_caps)) {
    ErrorReport report = take_error(api, error);
    return std::string("get_capabilities failed: ") + status_name(report.status) + ": " + report.message;
  }
  if (n_caps > kMaxCapabilities)
    return "get_capabilities returned " + std::to_string(n_caps) + " entries: a corrupt table";
  if (n_caps > 0 && !caps)
    return "get_capabilities returned " + std::to_string(n_caps) + " entries but no array";
  if (n_caps > 0) {
    // The array's stride is the plugin's sizeof(bb_capability), which a later minor may grow.
    size_t stride = caps[0].struct_size;
    if (stride < kCapabilityV1Size) {
      return "get_capabilities: struct_size " + std::to_string(stride) +
             " is smaller than ABI 1.0's bb_capability (" + std::to_string(kCapabilityV1Size) + " bytes)";
    }
    const auto* bytes = reinterpret_cast<const unsigned char*>(caps);
    for (size_t i = 0; i < n_caps; ++i) {
      const auto* cap = reinterpret_cast<const bb_capability*>(bytes + i * stride);
      info.capabilities.push_back(
          bb_capability{sizeof(bb_capability), cap->op, cap->weight_type, cap->flags});
    }
  }

  const bb_kv* kvs = nullptr;
  size_t n_kvs = 0;
  if (bb_error* error = api->get_build_info(&kvs, &n_kvs)) {
    ErrorReport report = take_error(api, error);
    return std::string("get_build_info failed: ") + status_name(report.status) + ": " + report.message;
  }
  if (n_kvs > kMaxCapabilities)
    return "get_build_info returned " + std::to_string(n_kvs) + " entries: a corrupt table";
  if (n_kvs > 0 && !kvs) return "get_build_info returned " + std::to_string(n_kvs) + " entries but no array";
  for (size_t i = 0; i < n_kvs; ++i) {
    if (!kvs[i].key) continue;
    info.build_info.emplace_back(kvs[i].key, kvs[i].value ? kvs[i].value : "");
  }
  return {};
}

std::shared_ptr<const LoadedPlugin> load_plugin_unguarded(const std::string& path, PluginInfo& info) {
  auto reject = [&info](std::string why) -> std::shared_ptr<const LoadedPlugin> {
    info.usable = false;
    info.rejection = std::move(why);
    return nullptr;
  };
  info.path = path;
  std::error_code ec;
  if (!fs::path(path).is_absolute()) return reject("not an absolute path: " + path);
  if (!fs::exists(path, ec)) return reject("file not found: " + path);
  if (!fs::is_regular_file(path, ec)) return reject("not a regular file: " + path);

  auto host = std::make_unique<PluginHost>(fs::path(path).filename().string());
  boost::dll::shared_library library;
  try {
    library.load(fs::path(path), boost::dll::load_mode::rtld_now | boost::dll::load_mode::rtld_local);
  } catch (const std::exception& e) {
    return reject("cannot load: " + loader_text(e.what()));
  }

  // The probe first: it is built to run on any CPU, the rest of the plugin may not be.
  info.probe_score = 1;
  if (library.has(BB_PROBE_SYMBOL)) {
    info.has_probe = true;
    auto& probe = library.get<int32_t(const bb_probe_args*)>(BB_PROBE_SYMBOL);
    std::array<char, 1024> reason{};
    bb_probe_args args{sizeof(bb_probe_args), BB_ABI_VERSION_MAJOR, BB_ABI_VERSION_MINOR, reason.data(),
                       reason.size()};
    info.probe_score = probe(&args);
    reason.back() = '\0';
    info.probe_reason = reason.data();
    if (info.probe_score <= 0) {
      return reject(
          "probe returned " + std::to_string(info.probe_score) + ": " +
          (info.probe_reason.empty() ? std::string("(the plugin gave no reason)") : info.probe_reason));
    }
  }

  if (!library.has(BB_ENTRY_SYMBOL)) return reject("no bb_plugin_entry symbol: not a brickbench plugin");
  auto& entry = library.get<const bb_plugin_api*(const bb_host_api*)>(BB_ENTRY_SYMBOL);
  const bb_plugin_api* api = entry(host->api());
  if (!api) {
    return reject("bb_plugin_entry returned NULL: the plugin declined to run with this host (ABI " +
                  abi_string(BB_ABI_VERSION_MAJOR, BB_ABI_VERSION_MINOR) +
                  "); its log lines, if any, say why");
  }
  if (api->struct_size < kApiAbiFieldsEnd) {
    return reject("bb_plugin_entry returned a table of " + std::to_string(api->struct_size) +
                  " bytes, too small to hold an ABI version: not a brickbench plugin table");
  }
  info.abi_major = api->abi_major;
  info.abi_minor = api->abi_minor;
  if (api->abi_major != BB_ABI_VERSION_MAJOR) {
    return reject("built against brickbench plugin ABI " + abi_string(api->abi_major, api->abi_minor) +
                  "; this bench speaks ABI " + abi_string(BB_ABI_VERSION_MAJOR, BB_ABI_VERSION_MINOR) +
                  ": rebuild the plugin against this brick_abi.h");
  }
  if (api->struct_size < kApiV1Size) {
    return reject("plugin table has struct_size " + std::to_string(api->struct_size) + ", less than the " +
                  std::to_string(kApiV1Size) +
                  " bytes of ABI 1.0's bb_plugin_api: rebuild the plugin against this brick_abi.h");
  }
  if (!api->name || !api->name[0]) return reject("plugin table has no name");
  info.name = api->name;
  info.version = api->version ? api->version : "";
  info.description = api->description ? api->description : "";
  host->set_label(info.name);

  const std::pair<bool, const char*> required[] = {
      {api->error_status != nullptr, "error_status"},
      {api->error_message != nullptr, "error_message"},
      {api->error_destroy != nullptr, "error_destroy"},
      {api->get_capabilities != nullptr, "get_capabilities"},
      {api->get_build_info != nullptr, "get_build_info"},
      {api->context_create != nullptr, "context_create"},
      {api->context_destroy != nullptr, "context_destroy"},
  };
  for (const auto& [present, field] : required) {
    if (!present) return reject(std::string("plugin table lacks the required function ") + field);
  }
  if (std::string why = read_static_facts(api, info); !why.empty()) return reject(why);

  info.usable = true;
  info.rejection.clear();
  return std::make_shared<DllPlugin>(std::move(host), std::move(library), api, info);
}

}  // namespace

bool LoadedPlugin::supports(int32_t op, int32_t weight_type) const {
  for (const bb_capability& cap : info().capabilities) {
    if (cap.op != op) continue;
    if (cap.weight_type == weight_type || cap.weight_type == BB_TYPE_ANY || weight_type == BB_TYPE_ANY)
      return true;
  }
  return false;
}

std::shared_ptr<const LoadedPlugin> load_plugin(const std::string& path, PluginInfo& info) {
  try {
    return load_plugin_unguarded(path, info);
  } catch (const std::exception& e) {  // a C++ exception thrown through the C ABI, or ours
    info.usable = false;
    info.rejection = std::string("loading failed: ") + e.what();
  } catch (...) {
    info.usable = false;
    info.rejection = "loading failed: the plugin threw a non-standard exception through the C ABI";
  }
  return nullptr;
}

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
