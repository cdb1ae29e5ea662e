// The real `bench plugins`: a drop-in .so is listed without a rebuild, JSON output, exit codes.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <rapidjson/document.h>

#include <filesystem>

#include "brickbench/brick_abi.h"
#include "test_util.h"

namespace bb::plugin {
namespace {
namespace fs = std::filesystem;
using test::run_bench;
using test::shell_quote;
using test::TempDir;
using ::testing::HasSubstr;

// Every test runs bench with BRICKBENCH_PLUGIN_PATH cleared, so only the directories it names count.
class BenchPlugins : public ::testing::Test {
 protected:
  test::ScopedEnv no_env_{"BRICKBENCH_PLUGIN_PATH", std::nullopt};
};

TEST_F(BenchPlugins, ADropInPluginIsListedWithoutRebuilding) {
  TempDir tmp;
  const std::string dropped = tmp.path() + "/my_dropin_backend.so";
  fs::copy_file(test::good_plugin_file(), dropped);
  auto r = run_bench("plugins --plugin-dir " + shell_quote(tmp.path()));
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_THAT(r.out, HasSubstr(tmp.path()));  // among the directories searched
  EXPECT_THAT(r.out, HasSubstr("test_good 1.2.3"));
  EXPECT_THAT(r.out, HasSubstr("path         " + dropped));
  EXPECT_THAT(r.out, HasSubstr("ABI          1.0"));
  EXPECT_THAT(r.out, HasSubstr("probe        50"));
  EXPECT_THAT(r.out, HasSubstr("copy: any"));
  EXPECT_THAT(r.out, HasSubstr("gemv: F32"));
  EXPECT_THAT(r.out, HasSubstr("variant=test_good"));
}

TEST_F(BenchPlugins, JsonDescribesEveryCandidate) {
  TempDir tmp;
  fs::copy_file(test::good_plugin_file(), tmp.path() + "/a.so");
  fs::copy_file(test::bad_dir() + "/test_probe0.so", tmp.path() + "/b.so");
  auto r = run_bench("plugins --json --no-default-plugin-dirs --plugin-dir " + shell_quote(tmp.path()));
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  rapidjson::Document doc;
  ASSERT_FALSE(doc.Parse(r.out.c_str()).HasParseError()) << r.out;
  ASSERT_TRUE(doc["plugins"].IsArray());
  ASSERT_EQ(doc["plugins"].Size(), 2u);
  const auto& good = doc["plugins"][0];
  EXPECT_EQ(std::string(good["path"].GetString()), tmp.path() + "/a.so");
  EXPECT_TRUE(good["usable"].GetBool());
  EXPECT_TRUE(good["selected"].GetBool());
  EXPECT_EQ(std::string(good["name"].GetString()), "test_good");
  EXPECT_EQ(std::string(good["version"].GetString()), "1.2.3");
  EXPECT_EQ(std::string(good["abi"].GetString()), "1.0");
  EXPECT_EQ(good["probe_score"].GetInt(), 50);
  ASSERT_EQ(good["capabilities"].Size(), 2u);
  EXPECT_EQ(std::string(good["capabilities"][1]["op"].GetString()), "gemv");
  EXPECT_EQ(std::string(good["capabilities"][1]["weight_type"].GetString()), "F32");
  EXPECT_EQ(std::string(good["build_info"]["variant"].GetString()), "test_good");
  const auto& bad = doc["plugins"][1];
  EXPECT_FALSE(bad["usable"].GetBool());
  EXPECT_EQ(std::string(bad["rejection"].GetString()), "probe returned 0: needs a frobnicator");
  ASSERT_EQ(doc["searched_dirs"].Size(), 1u);
  EXPECT_EQ(std::string(doc["searched_dirs"][0]["path"].GetString()), tmp.path());
}

TEST_F(BenchPlugins, ExitsOneWhenNoPluginIsUsable) {
  auto r = run_bench("plugins --no-default-plugin-dirs --plugin-dir " + shell_quote(test::bad_dir()));
  EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
  size_t rejected = 0;
  for (size_t at = r.out.find("REJECTED"); at != std::string::npos; at = r.out.find("REJECTED", at + 1))
    ++rejected;
  EXPECT_EQ(rejected, 5u) << r.out;
  EXPECT_THAT(r.out, HasSubstr("probe returned 0: needs a frobnicator"));
  EXPECT_THAT(r.out, HasSubstr("ABI 2.0; this bench speaks ABI 1.1"));
  EXPECT_THAT(r.err, HasSubstr("no usable plugin"));
}

TEST_F(BenchPlugins, AMissingDirectoryIsAWarning) {
  auto r = run_bench("plugins --no-default-plugin-dirs --plugin-dir /nonexistent_bb_dir --plugin-dir " +
                     shell_quote(test::good_dir()));
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_THAT(r.err,
              HasSubstr("warning: plugin directory /nonexistent_bb_dir (--plugin-dir) does not exist"));
}

TEST_F(BenchPlugins, ExplicitFilesAndAMissingFile) {
  auto r = run_bench("plugins --no-default-plugin-dirs --plugin " + shell_quote(test::good_plugin_file()) +
                     " --plugin /nonexistent_bb_dir/x.so");
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_THAT(r.out, HasSubstr("file not found: /nonexistent_bb_dir/x.so"));
  EXPECT_THAT(r.out, HasSubstr("test_good 1.2.3"));
}

TEST_F(BenchPlugins, SameNamePluginsShowWhichIsUsed) {
  auto r = run_bench("plugins --no-default-plugin-dirs --plugin-dir " + shell_quote(test::dup_dir()));
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_THAT(r.out,
              HasSubstr("not used: " + test::dup_dir() + "/test_dup_high.so has a higher probe score, 90"));
}

TEST_F(BenchPlugins, UsageErrorsExitTwo) {
  EXPECT_EQ(run_bench("plugins --no-such-flag").exit_code, 2);
  EXPECT_EQ(run_bench("plugins stray_argument").exit_code, 2);
  EXPECT_EQ(run_bench("plugins --plugin-dir").exit_code, 2);
}

TEST_F(BenchPlugins, HelpExplainsWherePluginsAreLookedFor) {
  auto r = run_bench("plugins --help");
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_THAT(r.out, HasSubstr("--plugin-dir"));
  EXPECT_THAT(r.out, HasSubstr("BRICKBENCH_PLUGIN_PATH"));
  EXPECT_THAT(r.out, HasSubstr("current directory is searched only when named"));
}

// The ABI a user's plugin must be built against is the header's, not a number written down twice.
TEST(BenchVersion, NamesThePluginAbiOfTheHeader) {
  auto r = run_bench("--version");
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_THAT(r.out, HasSubstr("plugin ABI " + std::to_string(BB_ABI_VERSION_MAJOR) + "." +
                               std::to_string(BB_ABI_VERSION_MINOR) + ")"));
}

}  // namespace
}  // namespace bb::plugin
