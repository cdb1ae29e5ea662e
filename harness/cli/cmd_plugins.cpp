// bench plugins: every candidate plugin found, what it offers, or why it was rejected.
#include <rapidjson/prettywriter.h>
#include <rapidjson/stringbuffer.h>

#include <algorithm>
#include <boost/program_options.hpp>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <map>
#include <string>
#include <vector>

#include "cli/commands.h"
#include "cli/exit_guard.h"
#include "cli/parse_args.h"
#include "plugin/backend.h"
#include "plugin/plugin_options.h"
#include "plugin/registry.h"

namespace po = boost::program_options;

namespace bb::cli {
namespace {

using plugin::PluginInfo;
using plugin::PluginRegistry;

std::vector<std::string> flag_names(uint32_t flags) {
  std::vector<std::string> names;
  if (flags & BB_CAP_ACT_Q8) names.push_back("act_q8");
  if (flags & BB_CAP_DEVICE_TIME) names.push_back("device_time");
  if (flags & BB_CAP_KV_F16) names.push_back("kv_f16");
  uint32_t unknown = flags & ~uint32_t(BB_CAP_ACT_Q8 | BB_CAP_DEVICE_TIME | BB_CAP_KV_F16);
  if (unknown)
    names.push_back("0x" + [unknown] {
      char buf[16];
      std::snprintf(buf, sizeof buf, "%x", unknown);
      return std::string(buf);
    }());
  return names;
}

std::string flags_text(uint32_t flags) {
  std::string text;
  for (const auto& f : flag_names(flags)) text += (text.empty() ? "" : ",") + f;
  if (text.empty()) return text;
  text.insert(text.begin(), '[');
  text += ']';
  return text;
}

// op -> "F32 F16 Q4_K [kv_f16]": one line per op, in op order, types in the plugin's order; flags once
// at the end when every type of the op has the same ones, else after each type.
std::map<int32_t, std::string> ops_by_type(const PluginInfo& info) {
  std::map<int32_t, std::vector<const bb_capability*>> caps_of_op;
  for (const auto& cap : info.capabilities) caps_of_op[cap.op].push_back(&cap);
  std::map<int32_t, std::string> ops;
  for (const auto& [op, caps] : caps_of_op) {
    bool same_flags = std::all_of(caps.begin(), caps.end(),
                                  [&](const bb_capability* c) { return c->flags == caps[0]->flags; });
    std::string line;
    for (const bb_capability* cap : caps) {
      if (!line.empty()) line += ' ';
      line += plugin::type_name(cap->weight_type);
      if (!same_flags) line += flags_text(cap->flags);
    }
    if (same_flags && caps[0]->flags) {
      line += ' ';
      line += flags_text(caps[0]->flags);
    }
    ops[op] = line;
  }
  return ops;
}

// key=value, the value quoted when it has spaces so the line stays unambiguous.
std::string key_value(const std::string& key, const std::string& value) {
  bool quote = value.empty() || value.find_first_of(" \t\"") != std::string::npos;
  std::string text = key + "=";
  if (quote) text += '"';
  text += value;
  if (quote) text += '"';
  return text;
}

// The usable candidate that find() picked for this name; nullptr when `info` is itself the pick.
const PluginInfo* shadowed_by(const PluginRegistry& registry, const PluginInfo& info) {
  if (!info.usable) return nullptr;
  auto best = registry.find(info.name);
  if (!best || best->info().path == info.path) return nullptr;
  return &best->info();
}

std::string abi_text(const PluginInfo& info) {
  return std::to_string(info.abi_major) + "." + std::to_string(info.abi_minor);
}

void print_text(const PluginRegistry& registry, bool verbose) {
  std::printf("plugin directories searched, in order:\n");
  if (registry.searched_dirs().empty()) std::printf("  (none)\n");
  for (const auto& dir : registry.searched_dirs()) {
    std::error_code ec;
    bool missing = !std::filesystem::is_directory(dir.path, ec);
    std::printf("  %-60s %s%s\n", dir.path.c_str(), dir.origin.c_str(), missing ? " (does not exist)" : "");
  }

  for (const auto& info : registry.candidates()) {
    std::printf("\n");
    if (!info.usable) {
      std::printf("REJECTED %s\n", info.path.c_str());
      std::printf("  reason       %s\n", info.rejection.c_str());
      if (!info.name.empty()) std::printf("  name         %s %s\n", info.name.c_str(), info.version.c_str());
      if (info.abi_major || info.abi_minor) std::printf("  ABI          %s\n", abi_text(info).c_str());
      if (verbose) std::printf("  found via    %s\n", info.origin.c_str());
      continue;
    }
    std::printf("%s %s", info.name.c_str(), info.version.c_str());
    if (const PluginInfo* best = shadowed_by(registry, info)) {
      std::printf("  (not used: %s has a higher probe score, %d)", best->path.c_str(), best->probe_score);
    }
    std::printf("\n");
    if (!info.description.empty()) std::printf("  description  %s\n", info.description.c_str());
    std::printf("  path         %s\n", info.path.c_str());
    if (verbose) std::printf("  found via    %s\n", info.origin.c_str());
    std::printf("  ABI          %s\n", abi_text(info).c_str());
    std::printf("  probe        %d%s%s\n", info.probe_score, info.has_probe ? "" : " (no probe)",
                info.probe_reason.empty() ? "" : (": " + info.probe_reason).c_str());
    bool first = true;
    for (const auto& [op, types] : ops_by_type(info)) {
      std::printf("  %-12s %s: %s\n", first ? "ops" : "", plugin::op_name(op), types.c_str());
      first = false;
    }
    if (first) std::printf("  ops          (none)\n");
    if (verbose) {
      first = true;
      for (const auto& [key, value] : info.build_info) {
        std::printf("  %-12s %s\n", first ? "build" : "", key_value(key, value).c_str());
        first = false;
      }
    } else {
      std::string line;
      for (const auto& [key, value] : info.build_info) {
        if (!line.empty()) line += ' ';
        line += key_value(key, value);
      }
      if (!line.empty()) std::printf("  build        %s\n", line.c_str());
    }
  }

  size_t usable = 0;
  for (const auto& info : registry.candidates()) usable += info.usable;
  std::printf("\n%zu candidate%s: %zu usable, %zu rejected\n", registry.candidates().size(),
              registry.candidates().size() == 1 ? "" : "s", usable, registry.candidates().size() - usable);
}

void print_json(const PluginRegistry& registry) {
  rapidjson::StringBuffer buffer;
  rapidjson::PrettyWriter<rapidjson::StringBuffer> w(buffer);
  w.SetIndent(' ', 2);
  w.StartObject();
  w.Key("abi");
  w.String((std::to_string(BB_ABI_VERSION_MAJOR) + "." + std::to_string(BB_ABI_VERSION_MINOR)).c_str());
  w.Key("searched_dirs");
  w.StartArray();
  for (const auto& dir : registry.searched_dirs()) {
    w.StartObject();
    w.Key("path");
    w.String(dir.path.c_str());
    w.Key("origin");
    w.String(dir.origin.c_str());
    w.EndObject();
  }
  w.EndArray();
  w.Key("warnings");
  w.StartArray();
  for (const auto& warning : registry.warnings()) w.String(warning.c_str());
  w.EndArray();
  w.Key("plugins");
  w.StartArray();
  for (const auto& info : registry.candidates()) {
    w.StartObject();
    w.Key("path");
    w.String(info.path.c_str());
    w.Key("origin");
    w.String(info.origin.c_str());
    w.Key("usable");
    w.Bool(info.usable);
    if (info.usable) {
      w.Key("selected");
      w.Bool(shadowed_by(registry, info) == nullptr);
    } else {
      w.Key("rejection");
      w.String(info.rejection.c_str());
    }
    w.Key("name");
    w.String(info.name.c_str());
    w.Key("version");
    w.String(info.version.c_str());
    w.Key("description");
    w.String(info.description.c_str());
    w.Key("abi");
    w.String(abi_text(info).c_str());
    w.Key("probe_score");
    w.Int(info.probe_score);
    w.Key("has_probe");
    w.Bool(info.has_probe);
    w.Key("probe_reason");
    w.String(info.probe_reason.c_str());
    w.Key("capabilities");
    w.StartArray();
    for (const auto& cap : info.capabilities) {
      w.StartObject();
      w.Key("op");
      w.String(plugin::op_name(cap.op));
      w.Key("weight_type");
      w.String(plugin::type_name(cap.weight_type).c_str());
      w.Key("flags");
      w.StartArray();
      for (const auto& f : flag_names(cap.flags)) w.String(f.c_str());
      w.EndArray();
      w.EndObject();
    }
    w.EndArray();
    w.Key("build_info");
    w.StartObject();
    for (const auto& [key, value] : info.build_info) {
      w.Key(key.c_str());
      w.String(value.c_str());
    }
    w.EndObject();
    w.EndObject();
  }
  w.EndArray();
  w.EndObject();
  std::printf("%s\n", buffer.GetString());
}

}  // namespace

int cmd_plugins(const std::vector<std::string>& args) {
  plugin::SearchPaths paths;
  paths.probe_in_child = true;  // a bad .so in the plugin path is rejected, never loaded here
  bool json = false, verbose = false;
  po::options_description opts(
      "usage: bench plugins [--plugin-dir DIR]... [--plugin FILE.so]... [--json] [--verbose]\n\n"
      "Lists every candidate backend plugin: name, version, ABI, probe score, path, the (op, weight type)\n"
      "pairs it supports and its build info; or REJECTED with the reason. Exit 0 when at least one\n"
      "plugin is usable, 1 when none is, 2 on a usage error.\n\n" +
      plugin::plugin_search_help() + "\noptions");
  // clang-format off
  opts.add_options()
      ("help,h", "this help")
      ("json", po::bool_switch(&json), "print the same as JSON")
      ("verbose,v", po::bool_switch(&verbose),
       "also where each was found, one build key per line, and the plugins' debug log");
  // clang-format on
  plugin::add_plugin_options(opts, paths);
  try {
    po::variables_map vm;
    po::positional_options_description no_positionals;  // a stray word is an error, not ignored
    if (!parse_args(args, opts, &no_positionals, vm)) return kExitOk;
  } catch (const po::error& e) {
    std::cerr << "bench plugins: " << e.what() << "\n(bench plugins --help for usage)\n";
    return kExitUsage;
  }

  if (verbose) plugin::set_host_log_level(BB_LOG_DEBUG);
  PluginRegistry registry;
  {
    const ExitGuard guard("bench plugins: a plugin called exit() while it was being loaded (exit " +
                          std::to_string(kExitInternal) +
                          "); remove it from the plugin path, or load the others with --plugin FILE.so");
    registry.discover(paths);
  }
  for (const auto& warning : registry.warnings()) std::cerr << "bench plugins: warning: " << warning << "\n";
  if (json) {
    print_json(registry);
  } else {
    print_text(registry, verbose);
  }
  if (registry.usable().empty()) {
    std::cerr << "bench plugins: no usable plugin found\n";
    return kExitFailure;
  }
  return kExitOk;
}

}  // namespace bb::cli
