// The RAII wrappers against the good test plugin: correct results, UNSUPPORTED as a skippable
// error, the library kept loaded by what came from it, and the host services.
#include "plugin/backend.h"

#include <dlfcn.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <memory>
#include <random>
#include <thread>
#include <vector>

#include "plugin/registry.h"
#include "test_util.h"

namespace bb::plugin {
namespace {
using ::testing::HasSubstr;
using ::testing::StartsWith;

SearchPaths good_only() {
  SearchPaths paths;
  paths.dirs = {test::good_dir()};
  paths.use_env = false;
  paths.use_build_dir = false;
  return paths;
}

std::shared_ptr<const LoadedPlugin> load_good() {
  PluginRegistry registry;
  registry.discover(good_only());
  auto plugin = registry.find("test_good");
  if (!plugin) throw std::runtime_error(registry.why_unavailable("test_good"));
  return plugin;  // the registry goes; the plugin stays loaded through this pointer
}

std::shared_ptr<Context> make_context(std::shared_ptr<const LoadedPlugin> plugin) {
  bb_context_args args{};
  args.struct_size = sizeof(args);
  return std::make_shared<Context>(std::move(plugin), args);
}

bb_tensor vector_tensor(int32_t type, int64_t n, void* data = nullptr) {
  bb_tensor t{};
  t.struct_size = sizeof(t);
  t.data = data;
  t.device_type = BB_DEVICE_CPU;
  t.ndim = 1;
  t.type = type;
  t.shape[0] = n;
  t.nbytes = uint64_t(n) * (type == BB_TYPE_I8 ? 1 : 4);
  return t;
}

bb_tensor matrix_tensor(int32_t type, int64_t rows, int64_t cols, void* data) {
  bb_tensor t = vector_tensor(type, rows * cols, data);
  t.ndim = 2;
  t.shape[0] = rows;
  t.shape[1] = cols;
  return t;
}

struct CopyCase {
  std::vector<bb_tensor> inputs, outputs;
  bb_plan_desc desc{};
  explicit CopyCase(int64_t n) {
    inputs = {vector_tensor(BB_TYPE_I8, n)};
    outputs = {vector_tensor(BB_TYPE_I8, n)};
    desc.struct_size = sizeof(desc);
    desc.op = BB_OP_COPY;
    desc.n_weight_sets = 1;
    desc.n_inputs = 1;
    desc.n_outputs = 1;
    desc.inputs = inputs.data();
    desc.outputs = outputs.data();
  }
};

std::vector<int8_t> random_bytes(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<int8_t> v(n);
  for (auto& b : v) b = static_cast<int8_t>(rng() & 0xff);
  return v;
}

std::vector<int8_t> run_copy(Plan& plan, const std::vector<int8_t>& src) {
  plan.write_inputs({vector_tensor(BB_TYPE_I8, int64_t(src.size()), const_cast<int8_t*>(src.data()))});
  bb_run_args run{};
  run.iterations = 3;
  plan.run(run);
  std::vector<int8_t> dst(src.size(), int8_t(0x5a));  // poisoned
  std::vector<bb_tensor> outputs = {vector_tensor(BB_TYPE_I8, int64_t(dst.size()), dst.data())};
  plan.read_outputs(outputs);
  return dst;
}

TEST(Backend, CopyPlanCopies) {
  auto ctx = make_context(load_good());
  CopyCase c(1000);
  Plan plan(ctx, c.desc);
  EXPECT_EQ(plan.op(), BB_OP_COPY);
  EXPECT_EQ(plan.label(), "copy");
  auto src = random_bytes(1000, 7);
  EXPECT_EQ(run_copy(plan, src), src);
}

TEST(Backend, GemvF32MatchesAReference) {
  const int64_t rows = 7, cols = 33, sets = 3;
  std::mt19937 rng(42);
  std::uniform_real_distribution<float> dist(-1.f, 1.f);
  std::vector<std::vector<float>> w(sets, std::vector<float>(rows * cols));
  for (auto& set : w)
    for (auto& v : set) v = dist(rng);
  std::vector<float> x(cols);
  for (auto& v : x) v = dist(rng);

  std::vector<bb_tensor> weights;
  for (auto& set : w) weights.push_back(matrix_tensor(BB_TYPE_F32, rows, cols, set.data()));
  std::vector<bb_tensor> inputs = {vector_tensor(BB_TYPE_F32, cols)},
                         outputs = {vector_tensor(BB_TYPE_F32, rows)};
  bb_plan_desc desc{};
  desc.struct_size = sizeof(desc);
  desc.op = BB_OP_GEMV;
  desc.n_weight_sets = int32_t(sets);
  desc.n_weights_per_set = 1;
  desc.n_inputs = 1;
  desc.n_outputs = 1;
  desc.weights = weights.data();
  desc.inputs = inputs.data();
  desc.outputs = outputs.data();

  auto plugin = load_good();
  ASSERT_TRUE(plugin->supports(BB_OP_GEMV, BB_TYPE_F32));
  Plan plan(make_context(plugin), desc);
  EXPECT_EQ(plan.label(), "gemv F32");
  plan.write_inputs({vector_tensor(BB_TYPE_F32, cols, x.data())});
  bb_run_args run{};
  run.iterations = 2;
  run.weight_set_begin = 1;  // iterations use sets 1 then 2: the result is W2 x
  plan.run(run);
  std::vector<float> y(rows, std::numeric_limits<float>::quiet_NaN());
  std::vector<bb_tensor> out = {vector_tensor(BB_TYPE_F32, rows, y.data())};
  plan.read_outputs(out);
  for (int64_t r = 0; r < rows; ++r) {
    double ref = 0;
    for (int64_t c = 0; c < cols; ++c) ref += double(w[2][r * cols + c]) * x[c];
    EXPECT_NEAR(y[r], ref, 1e-5 * (1 + std::abs(ref))) << "row " << r;
  }
}

TEST(Backend, UnsupportedPlanIsASkippableError) {
  auto plugin = load_good();
  auto ctx = make_context(plugin);

  bb_plan_desc norm{};
  norm.struct_size = sizeof(norm);
  norm.op = BB_OP_RMS_NORM;
  EXPECT_FALSE(plugin->supports(BB_OP_RMS_NORM, BB_TYPE_F32));
  try {
    Plan plan(ctx, norm);
    FAIL() << "plan_create rms_norm should have failed";
  } catch (const BackendError& e) {
    EXPECT_EQ(e.status(), BB_UNSUPPORTED);
    EXPECT_THAT(e.what(), StartsWith("test_good: plan_create rms_norm: "));
    EXPECT_THAT(e.what(), HasSubstr("not implemented"));
  }

  std::vector<uint8_t> q4(144 * 4);
  std::vector<bb_tensor> weights = {matrix_tensor(BB_TYPE_Q4_K, 4, 256, q4.data())};
  std::vector<bb_tensor> inputs = {vector_tensor(BB_TYPE_F32, 256)},
                         outputs = {vector_tensor(BB_TYPE_F32, 4)};
  bb_plan_desc gemv{};
  gemv.struct_size = sizeof(gemv);
  gemv.op = BB_OP_GEMV;
  gemv.n_weight_sets = 1;
  gemv.n_weights_per_set = 1;
  gemv.n_inputs = gemv.n_outputs = 1;
  gemv.weights = weights.data();
  gemv.inputs = inputs.data();
  gemv.outputs = outputs.data();
  EXPECT_FALSE(plugin->supports(BB_OP_GEMV, BB_TYPE_Q4_K));
  try {
    Plan plan(ctx, gemv);
    FAIL() << "plan_create gemv Q4_K should have failed";
  } catch (const BackendError& e) {
    EXPECT_EQ(e.status(), BB_UNSUPPORTED);
    EXPECT_THAT(e.what(), StartsWith("test_good: plan_create gemv Q4_K: "));
  }

  // Not fatal: the same context still makes plans.
  CopyCase c(64);
  Plan plan(ctx, c.desc);
  auto src = random_bytes(64, 3);
  EXPECT_EQ(run_copy(plan, src), src);
}

TEST(Backend, InvalidArgumentCarriesThePluginsMessage) {
  auto ctx = make_context(load_good());
  CopyCase c(64);
  c.outputs[0].shape[0] = 65;  // dst must match src
  try {
    Plan plan(ctx, c.desc);
    FAIL();
  } catch (const BackendError& e) {
    EXPECT_EQ(e.status(), BB_INVALID_ARGUMENT);
    EXPECT_THAT(e.what(), HasSubstr("expected in src I8 [n], out dst I8 [n]"));
  }
}

TEST(Backend, SessionsOfABackendWithoutThemAreUnsupported) {
  auto ctx = make_context(load_good());
  bb_session_desc desc{};
  desc.struct_size = sizeof(desc);
  try {
    Session session(ctx, desc);
    FAIL();
  } catch (const BackendError& e) {
    EXPECT_EQ(e.status(), BB_UNSUPPORTED);
    EXPECT_THAT(e.what(), HasSubstr("no model sessions"));
  }
}

bool library_is_loaded(const std::string& path) {
  void* handle = dlopen(path.c_str(), RTLD_NOW | RTLD_NOLOAD);
  if (!handle) return false;
  dlclose(handle);
  return true;
}

TEST(Backend, APlanKeepsItsLibraryLoadedAfterTheRegistryIsGone) {
  const std::string path = test::good_plugin_file();
  std::unique_ptr<Plan> plan;
  {
    auto registry = std::make_unique<PluginRegistry>();
    registry->discover(good_only());
    auto plugin = registry->find("test_good");
    ASSERT_TRUE(plugin);
    CopyCase c(256);
    plan = std::make_unique<Plan>(make_context(plugin), c.desc);
    registry.reset();
  }  // the registry, the plugin pointer and the context pointer are all gone; the plan holds them
  ASSERT_TRUE(library_is_loaded(path));
  auto src = random_bytes(256, 11);
  EXPECT_EQ(run_copy(*plan, src), src);
  plan.reset();
  EXPECT_FALSE(library_is_loaded(path)) << "the last owner went but the library stayed loaded";
}

TEST(Backend, ErrorsOfThePluginAreFreedByThePlugin) {
  auto plugin = load_good();
  const bb_plugin_api* api = plugin->api();
  bb_context* ctx = nullptr;
  bb_error* error = api->context_create(nullptr, &ctx);  // NULL args: the plugin makes an error
  ASSERT_NE(error, nullptr);
  ErrorReport report = take_error(api, error);
  EXPECT_EQ(report.status, BB_INVALID_ARGUMENT);
  EXPECT_THAT(report.message, HasSubstr("NULL argument"));
  EXPECT_NO_THROW(throw_if_error(api, nullptr, "nothing"));
}

TEST(Backend, NamesOfStatusesOpsAndTypes) {
  EXPECT_STREQ(status_name(BB_OK), "OK");
  EXPECT_STREQ(status_name(BB_UNSUPPORTED), "UNSUPPORTED");
  EXPECT_STREQ(status_name(BB_CANCELLED), "CANCELLED");
  EXPECT_STREQ(status_name(99), "UNKNOWN_STATUS");
  const char* ops[] = {"copy",      "o_proj", "gemv",  "rms_norm", "qkv",     "rope",
                       "attention", "ffn",    "layer", "decode",   "generate"};
  const int32_t ids[] = {BB_OP_COPY,  BB_OP_O_PROJ, BB_OP_GEMV,      BB_OP_RMS_NORM,
                         BB_OP_QKV,   BB_OP_ROPE,   BB_OP_ATTENTION, BB_OP_FFN,
                         BB_OP_LAYER, BB_OP_DECODE, BB_OP_GENERATE};
  for (size_t i = 0; i < std::size(ops); ++i) EXPECT_STREQ(op_name(ids[i]), ops[i]);
  EXPECT_STREQ(op_name(BB_OP_COUNT_), "unknown_op");
  EXPECT_STREQ(op_name(-1), "unknown_op");
  EXPECT_EQ(type_name(BB_TYPE_ANY), "any");
  EXPECT_EQ(type_name(BB_TYPE_Q4_K), "Q4_K");
  EXPECT_EQ(type_name(BB_TYPE_F32), "F32");
}

TEST(HostApi, AlignedAllocationThreadsAndVersion) {
  const bb_host_api* host = host_api();
  EXPECT_EQ(host->struct_size, sizeof(bb_host_api));
  EXPECT_EQ(host->abi_major, uint32_t(BB_ABI_VERSION_MAJOR));
  EXPECT_EQ(host->abi_minor, uint32_t(BB_ABI_VERSION_MINOR));
  for (size_t alignment : {1u, 8u, 64u, 4096u}) {
    void* p = host->aligned_alloc(host->host_data, alignment, 100);  // 100: not a multiple of 64
    ASSERT_NE(p, nullptr);
    EXPECT_EQ(reinterpret_cast<uintptr_t>(p) % alignment, 0u);
    std::memset(p, 1, 100);
    host->aligned_free(host->host_data, p);
  }
  EXPECT_EQ(host->aligned_alloc(host->host_data, 48, 100), nullptr);  // not a power of two
  EXPECT_EQ(host->aligned_alloc(host->host_data, 64, SIZE_MAX), nullptr);
  host->aligned_free(host->host_data, nullptr);

  unsigned hw = std::thread::hardware_concurrency();
  EXPECT_EQ(host->n_threads, hw ? int32_t(hw) : 1);
  set_host_threads(3);
  EXPECT_EQ(host->n_threads, 3);
  EXPECT_EQ(host_threads(), 3);
  set_host_threads(0);
  EXPECT_EQ(host->n_threads, hw ? int32_t(hw) : 1);
}

TEST(HostApi, CancelFlagStopsARun) {
  auto ctx = make_context(load_good());
  CopyCase c(16);
  Plan plan(ctx, c.desc);
  ASSERT_NE(host_api()->cancel_flag, nullptr);
  EXPECT_EQ(*host_api()->cancel_flag, 0);
  request_cancel();
  EXPECT_TRUE(cancel_requested());
  EXPECT_EQ(*host_api()->cancel_flag, 1);
  bb_run_args run{};
  run.iterations = 1;
  try {
    plan.run(run);
    FAIL() << "a cancelled run returned OK";
  } catch (const BackendError& e) {
    EXPECT_EQ(e.status(), BB_CANCELLED);
  }
  reset_cancel();
  EXPECT_NO_THROW(plan.run(run));
}

TEST(HostApi, PluginLogLinesNameThePlugin) {
  set_host_log_level(BB_LOG_DEBUG);
  ::testing::internal::CaptureStderr();
  { auto ctx = make_context(load_good()); }  // test_good logs its thread count at debug level
  std::string err = ::testing::internal::GetCapturedStderr();
  set_host_log_level(BB_LOG_INFO);
  EXPECT_THAT(err, HasSubstr("[test_good] debug: context with "));

  ::testing::internal::CaptureStderr();
  { auto ctx = make_context(load_good()); }
  EXPECT_EQ(::testing::internal::GetCapturedStderr(), "") << "debug lines must be dropped at level info";

  // A plugin that has not said its name yet is named by its file.
  ::testing::internal::CaptureStderr();
  PluginInfo info;
  EXPECT_EQ(load_plugin(test::bad_dir() + "/test_entry_null.so", info), nullptr);
  err = ::testing::internal::GetCapturedStderr();
  EXPECT_THAT(err, HasSubstr("[test_entry_null.so] warning: declining to run"));
}

}  // namespace
}  // namespace bb::plugin
