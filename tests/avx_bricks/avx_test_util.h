// Shared by the avx_bricks tests: what this CPU can run (asked without any vector instruction), and
// `bench` invocations restricted to the build's own plugin directory.
#pragma once

#include <optional>
#include <string>

#include "test_util.h"

namespace bb::avx_test {

bool cpu_has_avx2();    // AVX2 + FMA + F16C, as the avx2 build needs
bool cpu_has_avx512();  // AVX-512 F/BW/VL/VNNI, as the avx512 build needs

// Skips the calling test (GTEST_SKIP needs to be in the test body: use the macros below).
#define AVX_TEST_REQUIRE_AVX2()                                                   \
  do {                                                                            \
    if (!::bb::avx_test::cpu_has_avx2())                                          \
      GTEST_SKIP() << "this CPU lacks AVX2+FMA+F16C: avx_bricks cannot run here"; \
  } while (0)
#define AVX_TEST_REQUIRE_AVX512()                                                              \
  do {                                                                                         \
    if (!::bb::avx_test::cpu_has_avx512())                                                     \
      GTEST_SKIP() << "this CPU lacks AVX-512 F/BW/VL/VNNI: the avx512 build cannot run here"; \
  } while (0)

// `bench ARGS` with only the build's plugins (no BRICKBENCH_PLUGIN_PATH) and the probe capped at
// `probe_max` ("avx2", "none") when given.
test::CommandResult run_bench_with(const std::string& args, const std::optional<std::string>& probe_max);

std::string build_plugin_dir();

}  // namespace bb::avx_test
