// The shared plugin options of bench's commands.
#include "plugin/plugin_options.h"

#include <string>
#include <vector>

namespace bb::plugin {
namespace po = boost::program_options;
namespace {

constexpr const char* kDirHelp =
    "also look for plugins (*.so) in DIR; repeatable, searched in the order given, before "
    "$BRICKBENCH_PLUGIN_PATH and the default plugins/ directory";
constexpr const char* kFileHelp = "load the plugin FILE.so wherever it is; repeatable";
constexpr const char* kNoDefaultHelp =
    "search only --plugin-dir and --plugin: ignore $BRICKBENCH_PLUGIN_PATH and the default plugins/ "
    "directory (a hermetic set of backends)";

}  // namespace

// One option per line reads better than the formatter's packing of the chain.
// clang-format off
void add_plugin_options(po::options_description& options, SearchPaths& paths) {
  options.add_options()
      ("plugin-dir", po::value(&paths.dirs)->composing()->value_name("DIR"), kDirHelp)
      ("plugin", po::value(&paths.files)->composing()->value_name("FILE"), kFileHelp)
      ("no-default-plugin-dirs", po::bool_switch()->notifier([&paths](bool on) {
         if (on) {
           paths.use_env = false;
           paths.use_build_dir = false;
         }
       }), kNoDefaultHelp);
}

void add_plugin_options(po::options_description& options) {
  options.add_options()
      ("plugin-dir", po::value<std::vector<std::string>>()->composing()->value_name("DIR"), kDirHelp)
      ("plugin", po::value<std::vector<std::string>>()->composing()->value_name("FILE"), kFileHelp)
      ("no-default-plugin-dirs", po::bool_switch(), kNoDefaultHelp);
}
// clang-format on

SearchPaths search_paths_from(const po::variables_map& vm) {
  SearchPaths paths;
  if (vm.count("plugin-dir")) paths.dirs = vm["plugin-dir"].as<std::vector<std::string>>();
  if (vm.count("plugin")) paths.files = vm["plugin"].as<std::vector<std::string>>();
  if (vm.count("no-default-plugin-dirs") && vm["no-default-plugin-dirs"].as<bool>()) {
    paths.use_env = false;
    paths.use_build_dir = false;
  }
  return paths;
}

}  // namespace bb::plugin
