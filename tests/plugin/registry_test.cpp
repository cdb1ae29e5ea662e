// Discovery and loading: the good plugin's facts, a distinct reason for every bad plugin, the
// search order, and the best-probe choice among plugins of the same name.
#include "plugin/registry.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>

#include "test_util.h"

namespace bb::plugin {
namespace {
namespace fs = std::filesystem;
using test::ScopedEnv;
using test::TempDir;
using ::testing::HasSubstr;
using ::testing::StartsWith;

SearchPaths only(std::vector<std::string> dirs, std::vector<std::string> files = {}) {
  SearchPaths paths;
  paths.dirs = std::move(dirs);
  paths.files = std::move(files);
  paths.use_env = false;
  paths.use_build_dir = false;
  return paths;
}

std::string file_name(const std::string& path) { return fs::path(path).filename().string(); }

TEST(PluginRegistry, LoadsTheGoodPluginWithItsFacts) {
  PluginRegistry registry;
  registry.discover(only({test::good_dir()}));
  ASSERT_EQ(registry.candidates().size(), 1u);
  const PluginInfo& info = registry.candidates()[0];
  ASSERT_TRUE(info.usable) << info.rejection;
  EXPECT_EQ(info.rejection, "");
  EXPECT_EQ(info.path, test::good_plugin_file());
  EXPECT_EQ(info.origin, "--plugin-dir");
  EXPECT_EQ(info.name, "test_good");
  EXPECT_EQ(info.version, "1.2.3");
  EXPECT_THAT(info.description, HasSubstr("loader test plugin"));
  EXPECT_EQ(info.abi_major, 1u);
  EXPECT_EQ(info.abi_minor, 0u);
  EXPECT_TRUE(info.has_probe);
  EXPECT_EQ(info.probe_score, 50);
  ASSERT_EQ(info.capabilities.size(), 2u);
  EXPECT_EQ(info.capabilities[0].op, BB_OP_COPY);
  EXPECT_EQ(info.capabilities[0].weight_type, BB_TYPE_ANY);
  EXPECT_EQ(info.capabilities[1].op, BB_OP_GEMV);
  EXPECT_EQ(info.capabilities[1].weight_type, BB_TYPE_F32);
  std::map<std::string, std::string> build(info.build_info.begin(), info.build_info.end());
  EXPECT_EQ(build["variant"], "test_good");
  EXPECT_THAT(build["compiler"], StartsWith("gcc "));

  auto plugin = registry.find("test_good");
  ASSERT_TRUE(plugin);
  EXPECT_EQ(plugin->info().path, info.path);
  EXPECT_NE(plugin->api(), nullptr);
  EXPECT_TRUE(plugin->supports(BB_OP_GEMV, BB_TYPE_F32));
  EXPECT_TRUE(plugin->supports(BB_OP_GEMV, BB_TYPE_ANY));
  EXPECT_FALSE(plugin->supports(BB_OP_GEMV, BB_TYPE_Q4_K));
  EXPECT_TRUE(plugin->supports(BB_OP_COPY, BB_TYPE_I8));
  EXPECT_FALSE(plugin->supports(BB_OP_RMS_NORM, BB_TYPE_F32));
  EXPECT_EQ(registry.usable().size(), 1u);
  EXPECT_EQ(registry.why_unavailable("test_good"), "");
  EXPECT_TRUE(registry.warnings().empty());
}

TEST(PluginRegistry, EveryBadPluginIsRejectedWithItsOwnReason) {
  PluginRegistry registry;
  registry.discover(only({test::bad_dir()}));
  std::map<std::string, const PluginInfo*> by_file;
  for (const auto& info : registry.candidates()) by_file[file_name(info.path)] = &info;
  ASSERT_EQ(by_file.size(), 5u);
  std::set<std::string> reasons;
  for (const auto& [file, info] : by_file) {
    EXPECT_FALSE(info->usable) << file;
    EXPECT_FALSE(info->rejection.empty()) << file;
    reasons.insert(info->rejection);
  }
  EXPECT_EQ(reasons.size(), 5u) << "two bad plugins share a reason";
  EXPECT_TRUE(registry.usable().empty());

  const PluginInfo& abi2 = *by_file.at("test_abi2.so");
  EXPECT_EQ(
      abi2.rejection,
      "built against brickbench plugin ABI 2.0; this bench speaks ABI 1.1: rebuild the plugin against this "
      "brick_abi.h");
  EXPECT_EQ(abi2.abi_major, 2u);

  EXPECT_EQ(by_file.at("test_no_entry.so")->rejection, "no bb_plugin_entry symbol: not a brickbench plugin");

  const PluginInfo& probe0 = *by_file.at("test_probe0.so");
  EXPECT_EQ(probe0.rejection, "probe returned 0: needs a frobnicator");
  EXPECT_EQ(probe0.probe_score, 0);
  EXPECT_EQ(probe0.probe_reason, "needs a frobnicator");

  EXPECT_THAT(by_file.at("test_entry_null.so")->rejection, StartsWith("bb_plugin_entry returned NULL"));

  const PluginInfo& undefined = *by_file.at("test_undefined_symbol.so");
  EXPECT_THAT(undefined.rejection, StartsWith("cannot load: "));
  EXPECT_THAT(undefined.rejection, HasSubstr("undefined symbol: bb_test_function_nobody_defines"));
  EXPECT_THAT(undefined.rejection, HasSubstr("test_undefined_symbol.so"));
}

TEST(PluginRegistry, MissingFileIsARejectedCandidate) {
  PluginRegistry registry;
  registry.discover(only({}, {"/nonexistent_bb_dir/missing.so"}));
  ASSERT_EQ(registry.candidates().size(), 1u);
  EXPECT_FALSE(registry.candidates()[0].usable);
  EXPECT_EQ(registry.candidates()[0].rejection, "file not found: /nonexistent_bb_dir/missing.so");
}

TEST(PluginRegistry, FileThatIsNotASharedObjectGivesTheLoadersText) {
  TempDir tmp;
  std::string junk = tmp.path() + "/junk.so";
  std::ofstream(junk) << "this is not an ELF file, just text that is long enough to have a header\n";
  PluginRegistry registry;
  registry.discover(only({}, {junk}));
  ASSERT_EQ(registry.candidates().size(), 1u);
  EXPECT_THAT(registry.candidates()[0].rejection, StartsWith("cannot load: " + junk));
  EXPECT_THAT(registry.candidates()[0].rejection, HasSubstr("ELF"));
}

TEST(PluginRegistry, MissingDirectoryIsAWarningNotAnError) {
  PluginRegistry registry;
  registry.discover(only({"/nonexistent_bb_dir", test::good_dir()}));
  EXPECT_TRUE(registry.find("test_good"));
  ASSERT_EQ(registry.warnings().size(), 1u);
  EXPECT_THAT(registry.warnings()[0], HasSubstr("/nonexistent_bb_dir"));
  EXPECT_THAT(registry.warnings()[0], HasSubstr("does not exist"));
  ASSERT_EQ(registry.searched_dirs().size(), 2u);
  EXPECT_EQ(registry.searched_dirs()[0].path, "/nonexistent_bb_dir");
}

TEST(PluginRegistry, HighestProbeScoreWinsAmongPluginsOfTheSameName) {
  const std::string low = test::dup_dir() + "/test_dup_low.so", high = test::dup_dir() + "/test_dup_high.so";
  for (const auto& files : {std::vector<std::string>{low, high}, std::vector<std::string>{high, low}}) {
    PluginRegistry registry;
    registry.discover(only({}, files));
    ASSERT_EQ(registry.candidates().size(), 2u);
    for (const auto& info : registry.candidates()) {
      EXPECT_TRUE(info.usable) << info.rejection;
      EXPECT_EQ(info.name, "test_dup");
    }
    auto best = registry.find("test_dup");
    ASSERT_TRUE(best);
    EXPECT_EQ(best->info().probe_score, 90);
    EXPECT_EQ(best->info().path, high);
    ASSERT_EQ(registry.usable().size(), 1u);
    EXPECT_EQ(registry.usable()[0], best);
  }
  PluginRegistry registry;
  registry.discover(only({test::dup_dir()}));
  EXPECT_EQ(registry.candidates().size(), 2u);
  ASSERT_TRUE(registry.find("test_dup"));
  EXPECT_EQ(registry.find("test_dup")->info().path, high);
}

TEST(PluginRegistry, HonoursBrickbenchPluginPath) {
  ScopedEnv env("BRICKBENCH_PLUGIN_PATH", "/nonexistent_bb_dir:" + test::good_dir());
  SearchPaths paths;
  paths.use_build_dir = false;
  PluginRegistry registry;
  registry.discover(paths);
  auto plugin = registry.find("test_good");
  ASSERT_TRUE(plugin) << registry.why_unavailable("test_good");
  EXPECT_EQ(plugin->info().origin, "BRICKBENCH_PLUGIN_PATH");
  ASSERT_EQ(registry.warnings().size(), 1u);
  EXPECT_THAT(registry.warnings()[0], HasSubstr("/nonexistent_bb_dir (BRICKBENCH_PLUGIN_PATH)"));

  paths.use_env = false;  // and off when asked
  PluginRegistry without;
  without.discover(paths);
  EXPECT_TRUE(without.candidates().empty());
}

TEST(PluginRegistry, SearchOrderIsDirsThenEnvThenBuild) {
  ScopedEnv env("BRICKBENCH_PLUGIN_PATH", "/env/a::/env/b/");
  SearchPaths paths;
  paths.dirs = {"/explicit/x", "/env/a"};
  auto dirs = plugin_search_dirs(paths);
  ASSERT_GE(dirs.size(), 4u);
  EXPECT_EQ(dirs[0].path, "/explicit/x");
  EXPECT_EQ(dirs[1].path, "/env/a");  // named twice: kept once, at its first place
  EXPECT_EQ(dirs[1].origin, "--plugin-dir");
  EXPECT_EQ(dirs[2].path, "/env/b");
  EXPECT_EQ(dirs[2].origin, "BRICKBENCH_PLUGIN_PATH");
  EXPECT_EQ(dirs.back().path, BRICKBENCH_PLUGIN_BUILD_DIR);
  for (const auto& d : dirs) EXPECT_TRUE(fs::path(d.path).is_absolute()) << d.path;
}

class CurrentDirectory {
 public:
  explicit CurrentDirectory(const std::string& dir) : old_(fs::current_path()) { fs::current_path(dir); }
  ~CurrentDirectory() { fs::current_path(old_); }

 private:
  fs::path old_;
};

TEST(PluginRegistry, TheCurrentDirectoryIsNotSearchedUnlessNamed) {
  TempDir tmp;
  fs::copy_file(test::good_plugin_file(), tmp.path() + "/in_cwd.so");
  CurrentDirectory cwd(tmp.path());
  // Empty entries of a PATH-style variable traditionally mean "."; not here.
  ScopedEnv env("BRICKBENCH_PLUGIN_PATH", ":");
  PluginRegistry registry;
  registry.discover(SearchPaths{});
  for (const auto& info : registry.candidates()) {
    EXPECT_THAT(info.path, ::testing::Not(StartsWith(tmp.path()))) << "the current directory was searched";
  }
  for (const auto& dir : registry.searched_dirs()) EXPECT_NE(dir.path, tmp.path());

  PluginRegistry named;  // "." named explicitly is searched, as an absolute path
  named.discover(only({"."}));
  ASSERT_EQ(named.candidates().size(), 1u);
  EXPECT_EQ(named.candidates()[0].path, tmp.path() + "/in_cwd.so");
  EXPECT_TRUE(named.candidates()[0].usable) << named.candidates()[0].rejection;
}

TEST(PluginRegistry, RelativeEntriesOfThePluginPathAreRefused) {
  TempDir tmp;
  fs::create_directories(tmp.path() + "/rel");
  fs::copy_file(test::good_plugin_file(), tmp.path() + "/rel/in_rel.so");
  fs::copy_file(test::good_plugin_file(), tmp.path() + "/in_cwd.so");
  CurrentDirectory cwd(tmp.path());
  // "." and "rel" would make the plugins depend on where bench runs: neither is searched.
  ScopedEnv env("BRICKBENCH_PLUGIN_PATH", ".:rel:" + test::good_dir());
  SearchPaths paths;
  paths.use_build_dir = false;
  PluginRegistry registry;
  registry.discover(paths);
  ASSERT_EQ(registry.candidates().size(), 1u);
  EXPECT_THAT(registry.candidates()[0].path, StartsWith(test::good_dir()));
  ASSERT_EQ(registry.warnings().size(), 2u);
  EXPECT_THAT(registry.warnings()[0], HasSubstr("entry '.' is relative"));
  EXPECT_THAT(registry.warnings()[1], HasSubstr("entry 'rel' is relative"));
  for (const auto& d : plugin_search_dirs(paths)) EXPECT_TRUE(fs::path(d.path).is_absolute()) << d.path;

  PluginRegistry named;  // the same relative directory given on the command line is searched
  named.discover(only({"rel"}));
  ASSERT_EQ(named.candidates().size(), 1u);
  EXPECT_EQ(named.candidates()[0].path, tmp.path() + "/rel/in_rel.so");
}

// bench run --isolate: the same negotiation in a child process per plugin gives the same verdicts
// and reasons, and a usable plugin's capabilities and build info come back whole.
TEST(PluginRegistry, IsolatedLoadingRejectsAndAcceptsLikeInProcess) {
  SearchPaths in_process = only({test::good_dir(), test::bad_dir()});
  SearchPaths isolated = in_process;
  isolated.isolate.enabled = true;
  isolated.isolate.host_executable = BRICKBENCH_BENCH_EXE;
  PluginRegistry a, b;
  a.discover(in_process);
  b.discover(isolated);
  ASSERT_EQ(a.candidates().size(), b.candidates().size());
  for (size_t i = 0; i < a.candidates().size(); ++i) {
    const PluginInfo &x = a.candidates()[i], &y = b.candidates()[i];
    EXPECT_EQ(x.path, y.path);
    EXPECT_EQ(x.usable, y.usable) << x.path;
    EXPECT_EQ(x.rejection, y.rejection) << x.path;
    EXPECT_EQ(x.name, y.name);
    EXPECT_EQ(x.probe_score, y.probe_score);
    EXPECT_EQ(x.capabilities.size(), y.capabilities.size());
    EXPECT_EQ(x.build_info, y.build_info);
  }
  auto plugin = b.find("test_good");
  ASSERT_NE(plugin, nullptr);
  EXPECT_FALSE(plugin->failure().has_value());
  EXPECT_TRUE(plugin->supports(BB_OP_GEMV, BB_TYPE_F32));
}

TEST(PluginRegistry, AFileFoundTwiceIsLoadedOnce) {
  PluginRegistry registry;
  registry.discover(only({test::good_dir(), test::good_dir() + "/"}, {test::good_plugin_file()}));
  ASSERT_EQ(registry.candidates().size(), 1u);
  EXPECT_EQ(registry.candidates()[0].origin, "--plugin");
  registry.discover(only({test::good_dir()}));
  EXPECT_EQ(registry.candidates().size(), 1u);
}

TEST(PluginRegistry, WhyUnavailableExplains) {
  PluginRegistry registry;
  registry.discover(only({test::good_dir(), test::bad_dir()}));
  EXPECT_THAT(registry.why_unavailable("test_abi2"), HasSubstr("ABI 2.0"));
  std::string why = registry.why_unavailable("no_such_backend");
  EXPECT_THAT(why, HasSubstr("no plugin named 'no_such_backend'"));
  EXPECT_THAT(why, HasSubstr(test::good_dir()));
  EXPECT_THAT(why, HasSubstr("usable: test_good"));
  EXPECT_THAT(why, HasSubstr("needs a frobnicator"));  // rejected before saying its name
}

}  // namespace
}  // namespace bb::plugin
