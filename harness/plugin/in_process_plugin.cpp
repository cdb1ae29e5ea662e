// Loading in-process: Boost.DLL with RTLD_NOW | RTLD_LOCAL on an absolute path, the optional probe,
// the entry point, ABI negotiation, the static facts, and a reason for a candidate that is not usable.
#include "plugin/in_process_plugin.h"

#include <array>
#include <boost/dll/shared_library.hpp>
#include <cstddef>
#include <exception>
#include <filesystem>
#include <string_view>
#include <system_error>

#include "plugin/backend.h"
#include "plugin/host_services.h"

namespace bb::plugin {
namespace fs = std::filesystem;

namespace {

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

class DllPlugin final : public LoadedPlugin {
 public:
  DllPlugin(std::unique_ptr<HostServices> host, boost::dll::shared_library library, const bb_plugin_api* api,
            PluginInfo info)
      : host_(std::move(host)), library_(std::move(library)), api_(api), info_(std::move(info)) {}
  const bb_plugin_api* api() const override { return api_; }
  const PluginInfo& info() const override { return info_; }

 private:
  // Declared first so it is destroyed last: the plugin may use its host until it is unloaded.
  std::unique_ptr<HostServices> host_;
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

  auto host = std::make_unique<HostServices>(fs::path(path).filename().string());
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

}  // namespace bb::plugin
