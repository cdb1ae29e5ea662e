// The in-process loader (Boost.DLL): a plugin's library loaded into this process, its ABI
// negotiated, its probe run and its static facts read. The isolated loader (isolated_plugin.h) is
// its sibling; the registry (registry.h) chooses between them.
#pragma once

#include <memory>
#include <string>

#include "plugin/loaded_plugin.h"

namespace bb::plugin {

// Loads one candidate file (absolute path): the whole negotiation of discover() for a single .so.
// Returns the plugin when usable; `info` always says what was learnt and, if rejected, why.
std::shared_ptr<const LoadedPlugin> load_plugin(const std::string& path, PluginInfo& info);

}  // namespace bb::plugin
