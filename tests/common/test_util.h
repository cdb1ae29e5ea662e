// Helpers shared by the tests: where the test plugins are, temporary directories, environment
// variables set for one test, and running the real `bench`.
#pragma once

#include <optional>
#include <string>

namespace bb::test {

std::string good_dir();  // test_plugins/good: test_good.so only
std::string bad_dir();   // test_plugins/bad: one .so per way of being rejected
std::string dup_dir();   // test_plugins/dup: two builds of "test_dup" with probe 10 and 90
std::string good_plugin_file();

// A fresh directory under the system temp dir, removed with everything in it at destruction.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// Sets (or, with nullopt, unsets) an environment variable until destruction, then restores it.
class ScopedEnv {
 public:
  ScopedEnv(std::string name, const std::optional<std::string>& value);
  ~ScopedEnv();
  ScopedEnv(const ScopedEnv&) = delete;
  ScopedEnv& operator=(const ScopedEnv&) = delete;

 private:
  std::string name_;
  std::optional<std::string> old_;
};

struct CommandResult {
  int exit_code = -1;
  std::string out;  // stdout
  std::string err;  // stderr
};
// Runs `bench` (BRICKBENCH_BENCH_EXE) with the given arguments, already shell-quoted as needed.
CommandResult run_bench(const std::string& args);
std::string shell_quote(const std::string& s);

}  // namespace bb::test
