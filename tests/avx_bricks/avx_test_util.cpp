#include "avx_test_util.h"

namespace bb::avx_test {

bool cpu_has_avx2() {
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && __builtin_cpu_supports("avx");
}

bool cpu_has_avx512() {
  __builtin_cpu_init();
  return cpu_has_avx2() && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
         __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512vnni");
}

std::string build_plugin_dir() { return BRICKBENCH_PLUGIN_BUILD_DIR; }

test::CommandResult run_bench_with(const std::string& args, const std::optional<std::string>& probe_max) {
  test::ScopedEnv no_path("BRICKBENCH_PLUGIN_PATH", std::nullopt);
  test::ScopedEnv cap("BRICKBENCH_AVX_PROBE_MAX", probe_max);
  return test::run_bench(args);
}

}  // namespace bb::avx_test
