#include "test_util.h"

#include <sys/wait.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>

namespace bb::test {
namespace fs = std::filesystem;

std::string good_dir() { return std::string(BRICKBENCH_TEST_PLUGIN_DIR) + "/good"; }
std::string bad_dir() { return std::string(BRICKBENCH_TEST_PLUGIN_DIR) + "/bad"; }
std::string dup_dir() { return std::string(BRICKBENCH_TEST_PLUGIN_DIR) + "/dup"; }
std::string good_plugin_file() { return good_dir() + "/test_good.so"; }

TempDir::TempDir() {
  std::string pattern = (fs::temp_directory_path() / "bb_plugin_test_XXXXXX").string();
  if (!mkdtemp(pattern.data())) throw std::runtime_error("mkdtemp failed for " + pattern);
  path_ = pattern;
}

TempDir::~TempDir() {
  std::error_code ec;
  fs::remove_all(path_, ec);
}

ScopedEnv::ScopedEnv(std::string name, const std::optional<std::string>& value) : name_(std::move(name)) {
  if (const char* old = std::getenv(name_.c_str())) old_ = old;
  if (value) {
    setenv(name_.c_str(), value->c_str(), 1);
  } else {
    unsetenv(name_.c_str());
  }
}

ScopedEnv::~ScopedEnv() {
  if (old_) {
    setenv(name_.c_str(), old_->c_str(), 1);
  } else {
    unsetenv(name_.c_str());
  }
}

std::string shell_quote(const std::string& s) {
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

CommandResult run_bench(const std::string& args) {
  TempDir tmp;
  std::string err_file = tmp.path() + "/stderr";
  std::string cmd = shell_quote(BRICKBENCH_BENCH_EXE) + " " + args + " 2>" + shell_quote(err_file);
  CommandResult result;
  FILE* pipe = popen(cmd.c_str(), "r");
  if (!pipe) throw std::runtime_error("popen failed: " + cmd);
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, pipe)) > 0) result.out.append(buf, n);
  int status = pclose(pipe);
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  std::ifstream in(err_file);
  std::stringstream ss;
  ss << in.rdbuf();
  result.err = ss.str();
  return result;
}

}  // namespace bb::test
