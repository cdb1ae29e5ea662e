// cuda_bricks where there may be no GPU (CI, development machines): the plugin loads, its probe
// answers 0 with a reason instead of crashing, entry and capabilities work without a device, and
// `bench plugins` lists it as rejected with that reason.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <cstdio>
#include <cstdlib>
#include <set>
#include <string>

#include "../common/test_util.h"
#include "cuda_harness.h"

namespace bb::cuda_bricks::test {
namespace {

using ::testing::HasSubstr;

TEST(CudaBricksPlugin, ProbeAnswersWithAScoreOrAReason) {
  const ProbeResult& p = probe_once();
  if (p.score == 0) {
    EXPECT_FALSE(p.reason.empty()) << "a probe that says no must say why";
    std::printf("cuda_bricks probe: 0 (%s)\n", p.reason.c_str());
  } else {
    EXPECT_EQ(p.score, 100);
  }
  // Another host ABI major is refused, with a reason.
  char reason[256] = {};
  bb_probe_args other{sizeof(bb_probe_args), BB_ABI_VERSION_MAJOR + 1, 0, reason, sizeof(reason)};
  EXPECT_EQ(cuda_plugin().probe(&other), 0);
  EXPECT_THAT(std::string(reason), HasSubstr("ABI"));
  // A probe without room for a reason still answers.
  bb_probe_args no_room{sizeof(bb_probe_args), BB_ABI_VERSION_MAJOR, BB_ABI_VERSION_MINOR, nullptr, 0};
  EXPECT_EQ(cuda_plugin().probe(&no_room), p.score);
}

TEST(CudaBricksPlugin, EntryTableAndCapabilitiesNeedNoDevice) {
  const bb_plugin_api* api = cuda_plugin().api;
  ASSERT_NE(api, nullptr);
  EXPECT_EQ(api->struct_size, sizeof(bb_plugin_api));
  EXPECT_EQ(api->abi_major, uint32_t(BB_ABI_VERSION_MAJOR));
  EXPECT_STREQ(api->name, "cuda_bricks");
  EXPECT_NE(api->session_generate, nullptr);
  EXPECT_NE(api->session_write_kv, nullptr);
  const bb_capability* caps = nullptr;
  size_t n = 0;
  ASSERT_EQ(take_error(api, api->get_capabilities(&caps, &n)).status, BB_OK);
  std::set<std::pair<int32_t, int32_t>> have;
  for (size_t i = 0; i < n; ++i) {
    have.insert({caps[i].op, caps[i].weight_type});
    EXPECT_TRUE(caps[i].flags & BB_CAP_DEVICE_TIME);
  }
  for (int32_t t : kTypes)
    for (int32_t op : {BB_OP_GEMV, BB_OP_QKV, BB_OP_O_PROJ, BB_OP_FFN, BB_OP_LAYER})
      EXPECT_TRUE(have.count({op, t})) << "op " << op << " type " << type_label(t);
  for (int32_t op : {BB_OP_COPY, BB_OP_ROPE, BB_OP_ATTENTION, BB_OP_DECODE, BB_OP_GENERATE})
    EXPECT_TRUE(have.count({op, BB_TYPE_ANY})) << "op " << op;
  const bb_kv* kvs = nullptr;
  size_t n_kvs = 0;
  ASSERT_EQ(take_error(api, api->get_build_info(&kvs, &n_kvs)).status, BB_OK);
  bool arch = false;
  for (size_t i = 0; i < n_kvs; ++i) arch = arch || std::string(kvs[i].key) == "cuda_arch";
  EXPECT_TRUE(arch);
}

TEST(CudaBricksPlugin, ContextCreateFailsCleanlyWithoutADevice) {
  if (probe_once().score > 0) GTEST_SKIP() << "a usable GPU is present";
  const bb_plugin_api* api = cuda_plugin().api;
  bb_context_args args{};
  args.struct_size = sizeof(args);
  bb_context* ctx = nullptr;
  const ErrorInfo e = take_error(api, api->context_create(&args, &ctx));
  EXPECT_NE(e.status, BB_OK);
  EXPECT_EQ(ctx, nullptr);
  EXPECT_THAT(e.message, HasSubstr("cuda_bricks"));
  api->context_destroy(nullptr);
  api->plan_destroy(nullptr);
  api->session_destroy(nullptr);
}

// `bench plugins` of the build, or of $BB_BENCH_EXE (a build carried to another machine).
bb::test::CommandResult bench_plugins(const std::string& plugin) {
  const std::string args = "plugins --no-default-plugin-dirs --plugin " + bb::test::shell_quote(plugin);
  const char* exe = std::getenv("BB_BENCH_EXE");
  if (exe == nullptr || *exe == 0) return bb::test::run_bench(args);
  bb::test::CommandResult r;
  FILE* p = popen((bb::test::shell_quote(exe) + " " + args + " 2>&1").c_str(), "r");
  if (p == nullptr) return r;
  char buf[4096];
  for (size_t n; (n = fread(buf, 1, sizeof buf, p)) > 0;) r.out.append(buf, n);
  const int status = pclose(p);
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

TEST(CudaBricksPlugin, BenchPluginsListsItWithTheProbesVerdict) {
  bb::test::ScopedEnv no_env{"BRICKBENCH_PLUGIN_PATH", std::nullopt};
  const auto r = bench_plugins(plugin_path("CUDA_BRICKS_PLUGIN", CUDA_BRICKS_PLUGIN_PATH));
  if (probe_once().score == 0) {
    EXPECT_THAT(r.out, HasSubstr("REJECTED")) << r.out << r.err;
    EXPECT_THAT(r.out, HasSubstr("probe returned 0: " + probe_once().reason)) << r.out;
  } else {
    EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
    EXPECT_THAT(r.out, HasSubstr("cuda_bricks")) << r.out;
    EXPECT_THAT(r.out, HasSubstr("sm_90a")) << r.out;
  }
}

}  // namespace
}  // namespace bb::cuda_bricks::test
