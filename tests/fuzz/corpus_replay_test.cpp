// Replays a committed fuzz corpus (fuzz/corpus/<target>, and fuzz/regressions/<target> where inputs
// that once crashed are kept) through the fuzz target's own LLVMFuzzerTestOneInput, compiled into
// this test without libFuzzer: every seed keeps parsing or failing cleanly in every build of the
// suite, the sanitized one included. A contract violation aborts the test (the target's abort()).
#include <gtest/gtest.h>

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);
extern "C" int LLVMFuzzerInitialize(int* argc, char*** argv) __attribute__((weak));

namespace {

namespace fs = std::filesystem;

std::vector<fs::path> inputs() {
  std::vector<fs::path> out;
  for (const char* dir : {FUZZ_CORPUS_DIR, FUZZ_REGRESSION_DIR}) {
    std::error_code ec;
    if (!fs::is_directory(dir, ec)) continue;
    for (const auto& e : fs::directory_iterator(dir))
      if (e.is_regular_file()) out.push_back(e.path());
  }
  return out;
}

TEST(FuzzCorpusReplay, EverySeedAndRegressionPassesTheTarget) {
  if (LLVMFuzzerInitialize) {
    int argc = 0;
    char** argv = nullptr;
    LLVMFuzzerInitialize(&argc, &argv);
  }
  const auto files = inputs();
  ASSERT_FALSE(files.empty()) << "no inputs in " << FUZZ_CORPUS_DIR;
  for (const auto& f : files) {
    std::ifstream in(f, std::ios::binary);
    std::vector<uint8_t> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    SCOPED_TRACE(f.string());
    EXPECT_EQ(LLVMFuzzerTestOneInput(bytes.data(), bytes.size()), 0);
    // Every prefix of a seed too (cheap, and what truncated downloads look like).
    for (size_t n = 0; n < bytes.size(); n += 1 + bytes.size() / 64) LLVMFuzzerTestOneInput(bytes.data(), n);
  }
}

}  // namespace
