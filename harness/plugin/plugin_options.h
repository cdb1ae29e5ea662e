// The command-line options every command that loads plugins shares (plugins, generate, run):
// --plugin-dir DIR and --plugin FILE, both repeatable, and --no-default-plugin-dirs.
#pragma once

#include <boost/program_options/options_description.hpp>
#include <boost/program_options/variables_map.hpp>

#include "plugin/registry.h"

namespace bb::plugin {

// Adds the plugin options to a command's options_description; po::notify() fills `paths`, which
// must outlive the parse.
void add_plugin_options(boost::program_options::options_description& options, SearchPaths& paths);
// Same options, read back from the variables_map instead (search_paths_from after po::store).
void add_plugin_options(boost::program_options::options_description& options);
SearchPaths search_paths_from(const boost::program_options::variables_map& vm);

}  // namespace bb::plugin
