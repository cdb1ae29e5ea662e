// Every command that reads a user's file, given something that is no file (issue 14, defect 14): a
// FIFO hung `inspect`, `generate`, `diff` and `export`; `bench run` called a FIFO, a directory or
// /dev/zero "no such file". Each now refuses at once, saying what the path is (exit 2). ctest's
// timeout is what would catch a hang.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <fstream>
#include <string>

#include "test_util.h"

namespace {

using ::testing::HasSubstr;

const std::string kTiny = std::string(BRICKBENCH_TEST_DATA_DIR) + "/oracle/tiny-b-q4_k_m.gguf";

class InputFiles : public ::testing::Test {
 protected:
  bb::test::ScopedEnv no_env_plugins_{"BRICKBENCH_PLUGIN_PATH", std::nullopt};
  bb::test::TempDir dir_;
  std::string path(const std::string& name) const { return dir_.path() + "/" + name; }

  void expect_refused(const std::string& args, const std::string& what) {
    auto r = bb::test::run_bench(args);
    EXPECT_EQ(r.exit_code, 2) << args << "\n" << r.err;
    EXPECT_THAT(r.err, HasSubstr(what)) << args;
  }
};

TEST_F(InputFiles, AFifoADirectoryOrADeviceIsRefusedAtOnceByEveryReader) {
  const std::string fifo = path("pipe");
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  const std::string fifo_words = "is a FIFO (named pipe)";
  expect_refused("inspect " + fifo, fifo_words);
  expect_refused("generate --model " + fifo + " --n 1", fifo_words);
  expect_refused("diff " + fifo + " " + fifo, fifo_words);
  expect_refused("export " + fifo, fifo_words);
  expect_refused("report " + fifo + " -o " + path("r.html"), fifo_words);
  expect_refused("generate --model " + kTiny + " --check-against " + fifo, fifo_words);
  expect_refused("run " + fifo, fifo_words);
  expect_refused("run " + dir_.path(), "is a directory");
  // A config whose model is no file: named as what it is, not "no such file".
  for (const auto& [model, words] :
       {std::pair{fifo, fifo_words}, std::pair{dir_.path(), std::string("is a directory")},
        std::pair{std::string("/dev/zero"), std::string("is a character device")}}) {
    const std::string cfg = path("cfg.yaml");
    std::ofstream(cfg) << "name: x\nmodel: {gguf: " << model << "}\nbricks: [rms_norm]\n";
    expect_refused("run " + cfg + " --out " + path("o.json"), "model.gguf: " + model + " " + words);
  }
}

}  // namespace
