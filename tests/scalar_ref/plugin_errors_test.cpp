// Argument validation: every misuse is an error with the right status and a message naming the op
// and the tensor, never a crash; types the reference lacks are UNSUPPORTED; cancellation.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "plugin_harness.h"

namespace bb::scalar_ref::test {
namespace {

using ::testing::HasSubstr;

class ScalarRefPluginErrors : public ScalarRefPluginTest {
 protected:
  bb_model_dims d_ = make_dims(64, 64, 4, 2, 16, 1, 40, 8);
  std::mt19937_64 rng_{101};

  std::vector<HostTensor> qkv_weights() {
    return {weight_random(rng_, BB_TYPE_F32, {64, 64}, "blk.0.attn_q.weight"),
            f32_random(rng_, {64}),
            weight_random(rng_, BB_TYPE_F32, {32, 64}, "blk.0.attn_k.weight"),
            f32_random(rng_, {32}),
            weight_random(rng_, BB_TYPE_F32, {32, 64}),
            f32_random(rng_, {32})};
  }
  PlanResult qkv(std::vector<HostTensor> w, std::vector<HostTensor> in) {
    return run_plan(BB_OP_QKV, &d_, {std::move(w)}, in,
                    {f32_poisoned({64}), f32_poisoned({32}), f32_poisoned({32})});
  }
};

TEST_F(ScalarRefPluginErrors, WrongWeightCountNamesTheOp) {
  auto w = qkv_weights();
  w.pop_back();
  const PlanResult r = qkv(w, {f32_random(rng_, {64})});
  EXPECT_EQ(r.step, "plan_create");
  EXPECT_EQ(r.error.status, BB_INVALID_ARGUMENT);
  EXPECT_THAT(r.error.message, HasSubstr("qkv"));
  EXPECT_THAT(r.error.message, HasSubstr("5 weights per set"));
}

TEST_F(ScalarRefPluginErrors, WrongWeightShapeNamesTheTensor) {
  auto w = qkv_weights();
  w[2] = weight_random(rng_, BB_TYPE_F32, {48, 64}, "blk.0.attn_k.weight");
  const PlanResult r = qkv(w, {f32_random(rng_, {64})});
  EXPECT_EQ(r.error.status, BB_INVALID_ARGUMENT);
  EXPECT_THAT(r.error.message, HasSubstr("qkv"));
  EXPECT_THAT(r.error.message, HasSubstr("'wk'"));
  EXPECT_THAT(r.error.message, HasSubstr("blk.0.attn_k.weight"));
  EXPECT_THAT(r.error.message, HasSubstr("[48, 64]"));
}

TEST_F(ScalarRefPluginErrors, WrongNbytesIsInvalid) {
  auto w = qkv_weights();
  w[0].bytes.resize(w[0].bytes.size() - 4);
  EXPECT_EQ(qkv(w, {f32_random(rng_, {64})}).error.status, BB_INVALID_ARGUMENT);
}

TEST_F(ScalarRefPluginErrors, UnsupportedWeightTypeIsUnsupported) {
  // Q2_K: 84-byte blocks of 256 elements.
  HostTensor w{BB_TYPE_Q2_K, {8, 256}, std::vector<uint8_t>(8 * 84, 1), "blk.0.ffn_down.weight"};
  const PlanResult r = run_plan(BB_OP_GEMV, nullptr, {{w}}, {f32_random(rng_, {256})}, {f32_poisoned({8})});
  EXPECT_EQ(r.error.status, BB_UNSUPPORTED);
  EXPECT_THAT(r.error.message, HasSubstr("Q2_K"));
  EXPECT_THAT(r.error.message, HasSubstr("gemv"));
}

TEST_F(ScalarRefPluginErrors, PartialBlocksAreInvalid) {
  HostTensor w = weight_random(rng_, BB_TYPE_Q8_0, {4, 64});
  w.shape = {4, 48};
  const PlanResult r = run_plan(BB_OP_GEMV, nullptr, {{w}}, {f32_random(rng_, {48})}, {f32_poisoned({4})});
  EXPECT_EQ(r.error.status, BB_INVALID_ARGUMENT);
  EXPECT_THAT(r.error.message, HasSubstr("blocks"));
}

TEST_F(ScalarRefPluginErrors, ActivationOfWrongTypeOrShape) {
  HostTensor x = f32_random(rng_, {64});
  x.type = BB_TYPE_F16;
  x.bytes.resize(128);
  PlanResult r = qkv(qkv_weights(), {x});
  EXPECT_EQ(r.error.status, BB_INVALID_ARGUMENT);
  EXPECT_THAT(r.error.message, HasSubstr("'x'"));
  r = qkv(qkv_weights(), {f32_random(rng_, {63})});
  EXPECT_EQ(r.error.status, BB_INVALID_ARGUMENT);
  EXPECT_THAT(r.error.message, HasSubstr("[63]"));
}

TEST_F(ScalarRefPluginErrors, IterationsBelowOne) {
  const PlanResult r = run_plan(BB_OP_RMS_NORM, &d_, {{norm_weight(rng_, 64)}}, {f32_random(rng_, {64})},
                                {f32_poisoned({64})}, 0);
  EXPECT_EQ(r.step, "plan_run");
  EXPECT_EQ(r.error.status, BB_INVALID_ARGUMENT);
  EXPECT_THAT(r.error.message, HasSubstr("iterations"));
}

TEST_F(ScalarRefPluginErrors, OpOutOfRangeOrSessionOnly) {
  for (int32_t op : {-1, 11, 99, int32_t{BB_OP_DECODE}, int32_t{BB_OP_GENERATE}}) {
    const PlanResult r = run_plan(op, &d_, {}, {f32_random(rng_, {64})}, {f32_poisoned({64})});
    EXPECT_EQ(r.error.status, BB_INVALID_ARGUMENT) << op;
    EXPECT_THAT(r.error.message, HasSubstr("op")) << op;
  }
}

TEST_F(ScalarRefPluginErrors, NullsAndStructSizes) {
  bb_plan* plan = nullptr;
  EXPECT_EQ(take_error(api_, api_->plan_create(ctx_, nullptr, &plan)).status, BB_INVALID_ARGUMENT);
  bb_plan_desc desc{};
  desc.struct_size = 8;
  const ErrorInfo e = take_error(api_, api_->plan_create(ctx_, &desc, &plan));
  EXPECT_EQ(e.status, BB_INVALID_ARGUMENT);
  EXPECT_THAT(e.message, HasSubstr("struct_size"));
  desc.struct_size = sizeof(desc);
  EXPECT_EQ(take_error(api_, api_->plan_create(ctx_, &desc, nullptr)).status, BB_INVALID_ARGUMENT);
  EXPECT_EQ(take_error(api_, api_->plan_create(nullptr, &desc, &plan)).status, BB_INVALID_ARGUMENT);
  EXPECT_EQ(plan, nullptr);
  EXPECT_EQ(take_error(api_, api_->plan_run(nullptr, nullptr)).status, BB_INVALID_ARGUMENT);
  EXPECT_EQ(take_error(api_, api_->context_create(nullptr, nullptr)).status, BB_INVALID_ARGUMENT);
  // A bad tensor struct_size.
  HostTensor x = f32_random(rng_, {64});
  bb_tensor xv = x.view();
  xv.struct_size = 16;
  bb_tensor out = f32_poisoned({64}).view();
  out.data = nullptr;
  const HostTensor g = norm_weight(rng_, 64);
  const bb_tensor gv = g.view();
  desc.op = BB_OP_RMS_NORM;
  desc.n_weight_sets = 1;
  desc.n_weights_per_set = 1;
  desc.n_inputs = 1;
  desc.n_outputs = 1;
  desc.dims = &d_;
  desc.weights = &gv;
  desc.inputs = &xv;
  desc.outputs = &out;
  const ErrorInfo t = take_error(api_, api_->plan_create(ctx_, &desc, &plan));
  EXPECT_EQ(t.status, BB_INVALID_ARGUMENT);
  EXPECT_THAT(t.message, HasSubstr("struct_size"));
  // Bad dims.
  bb_model_dims bad = d_;
  bad.n_head_kv = 3;
  xv.struct_size = sizeof(bb_tensor);
  desc.dims = &bad;
  EXPECT_EQ(take_error(api_, api_->plan_create(ctx_, &desc, &plan)).status, BB_INVALID_ARGUMENT);
  desc.dims = nullptr;
  EXPECT_EQ(take_error(api_, api_->plan_create(ctx_, &desc, &plan)).status, BB_INVALID_ARGUMENT);
}

TEST_F(ScalarRefPluginErrors, CallOrderIsChecked) {
  const HostTensor g = norm_weight(rng_, 64);
  const HostTensor x = f32_random(rng_, {64});
  HostTensor y = f32_poisoned({64});
  const bb_tensor gv = g.view(), xv = x.view();
  bb_tensor yv = y.view();
  bb_plan_desc desc{sizeof(bb_plan_desc), BB_OP_RMS_NORM, 1, 1, 1, 1, 0, &d_, &gv, &xv, &yv, {}};
  bb_plan* plan = nullptr;
  BB_ASSERT_OK(api_, api_->plan_create(ctx_, &desc, &plan));
  bb_run_args run{};
  run.struct_size = sizeof(run);
  run.iterations = 1;
  ErrorInfo e = take_error(api_, api_->plan_run(plan, &run));
  EXPECT_EQ(e.status, BB_INVALID_ARGUMENT);
  EXPECT_THAT(e.message, HasSubstr("before plan_write_inputs"));
  e = take_error(api_, api_->plan_read_outputs(plan, 1, &yv));
  EXPECT_EQ(e.status, BB_INVALID_ARGUMENT);
  EXPECT_EQ(take_error(api_, api_->plan_write_inputs(plan, 2, &xv)).status, BB_INVALID_ARGUMENT);
  BB_ASSERT_OK(api_, api_->plan_write_inputs(plan, 1, &xv));
  run.weight_set_begin = -1;
  EXPECT_EQ(take_error(api_, api_->plan_run(plan, &run)).status, BB_INVALID_ARGUMENT);
  run.weight_set_begin = 0;
  BB_ASSERT_OK(api_, api_->plan_run(plan, &run));
  bb_tensor wrong = yv;
  wrong.shape[0] = 32;
  wrong.nbytes = 128;
  EXPECT_EQ(take_error(api_, api_->plan_read_outputs(plan, 1, &wrong)).status, BB_INVALID_ARGUMENT);
  BB_ASSERT_OK(api_, api_->plan_read_outputs(plan, 1, &yv));
  EXPECT_TRUE(all_finite(y.floats()));
  api_->plan_destroy(plan);
  api_->plan_destroy(nullptr);
  api_->session_destroy(nullptr);
  api_->context_destroy(nullptr);
  api_->error_destroy(nullptr);
}

TEST_F(ScalarRefPluginErrors, LayerPositionBeyondCaches) {
  const TinyModel m = make_tiny_model(111, BB_TYPE_F32, d_);
  const PlanResult r =
      run_plan(BB_OP_LAYER, &d_, {m.layer_set(0)},
               {f32_random(rng_, {64}), i32_tensor(4), f32_random(rng_, {4, 32}), f32_random(rng_, {4, 32})},
               {f32_poisoned({64})});
  EXPECT_EQ(r.step, "plan_write_inputs");
  EXPECT_EQ(r.error.status, BB_INVALID_ARGUMENT);
  EXPECT_THAT(r.error.message, HasSubstr("pos"));
}

TEST_F(ScalarRefPluginErrors, KvCacheOfUnsupportedType) {
  HostTensor kc{BB_TYPE_Q8_0, {2, 32}, std::vector<uint8_t>(2 * 34), ""};
  const PlanResult r =
      run_plan(BB_OP_ATTENTION, &d_, {}, {f32_random(rng_, {64}), kc, kc}, {f32_poisoned({64})});
  EXPECT_EQ(r.error.status, BB_UNSUPPORTED);
  EXPECT_THAT(r.error.message, HasSubstr("k_cache"));
}

class ScalarRefSessionErrors : public ScalarRefPluginTest {
 protected:
  ErrorInfo create(const std::vector<bb_tensor>& tensors, const bb_model_dims& dims, int32_t kv_type,
                   bb_session** s) {
    bb_session_desc desc{};
    desc.struct_size = sizeof(desc);
    desc.n_tensors = static_cast<int32_t>(tensors.size());
    desc.kv_type = kv_type;
    desc.dims = &dims;
    desc.tensors = tensors.data();
    return take_error(api_, api_->session_create(ctx_, &desc, s));
  }
  bb_model_dims d_ = make_dims(64, 64, 4, 2, 16, 2, 40, 8);
  std::mt19937_64 rng_{120};
};

TEST_F(ScalarRefSessionErrors, CreateRejectsBadModels) {
  const TinyModel m = make_tiny_model(121, BB_TYPE_F32, d_);
  bb_session* s = nullptr;
  auto views = m.views();
  // kv_type the reference lacks
  EXPECT_EQ(create(views, d_, BB_TYPE_Q8_0, &s).status, BB_UNSUPPORTED);
  // a missing tensor, named
  auto missing = views;
  missing.erase(missing.begin() + 5);
  ErrorInfo e = create(missing, d_, BB_TYPE_F32, &s);
  EXPECT_EQ(e.status, BB_INVALID_ARGUMENT);
  EXPECT_THAT(e.message, HasSubstr(views[5].name));
  // untied without output.weight
  auto no_head = views;
  no_head.erase(no_head.begin() + 2);
  ASSERT_STREQ(views[2].name, "output.weight");
  e = create(no_head, d_, BB_TYPE_F32, &s);
  EXPECT_EQ(e.status, BB_INVALID_ARGUMENT);
  EXPECT_THAT(e.message, HasSubstr("output.weight"));
  // ... which is fine when tied
  bb_model_dims tied = d_;
  tied.tied_embeddings = 1;
  e = create(no_head, tied, BB_TYPE_F32, &s);
  EXPECT_EQ(e.status, BB_OK) << e.message;
  api_->session_destroy(s);
  s = nullptr;
  // a shape mismatch, named
  auto narrow = views;
  HostTensor short_q = weight_random(rng_, BB_TYPE_F32, {60, 64}, "blk.1.attn_q.weight");
  for (auto& v : narrow) {
    if (std::string(v.name) == "blk.1.attn_q.weight") v = short_q.view();
  }
  e = create(narrow, d_, BB_TYPE_F32, &s);
  EXPECT_EQ(e.status, BB_INVALID_ARGUMENT);
  EXPECT_THAT(e.message, HasSubstr("blk.1.attn_q.weight"));
  EXPECT_THAT(e.message, HasSubstr("[60, 64]"));
  // a name given twice
  auto dup = views;
  dup.push_back(views[3]);
  e = create(dup, d_, BB_TYPE_F32, &s);
  EXPECT_EQ(e.status, BB_INVALID_ARGUMENT);
  EXPECT_THAT(e.message, HasSubstr("twice"));
  EXPECT_EQ(s, nullptr);
}

TEST_F(ScalarRefSessionErrors, UnsupportedWeightTypeInSession) {
  bb_model_dims d = make_dims(256, 256, 4, 2, 64, 1, 8, 4);
  const TinyModel m = make_tiny_model(122, BB_TYPE_F32, d);
  auto views = m.views();
  HostTensor q2{BB_TYPE_Q2_K, {256, 256}, std::vector<uint8_t>(256 * 84, 1), "blk.0.ffn_down.weight"};
  for (auto& v : views) {
    if (std::string(v.name) == "blk.0.ffn_down.weight") v = q2.view();
  }
  bb_session* s = nullptr;
  const ErrorInfo e = create(views, d, BB_TYPE_F32, &s);
  EXPECT_EQ(e.status, BB_UNSUPPORTED);
  EXPECT_THAT(e.message, HasSubstr("Q2_K"));
  EXPECT_THAT(e.message, HasSubstr("blk.0.ffn_down.weight"));
}

TEST_F(ScalarRefSessionErrors, DecodeRejectsTokenAndPosition) {
  const TinyModel m = make_tiny_model(123, BB_TYPE_F32, d_);
  bb_session* s = nullptr;
  ASSERT_EQ(create(m.views(), d_, BB_TYPE_F32, &s).status, BB_OK);
  bb_decode_args a{};
  a.struct_size = sizeof(a);
  a.iterations = 1;
  a.token = 40;  // == n_vocab
  ErrorInfo e = take_error(api_, api_->session_decode(s, &a));
  EXPECT_EQ(e.status, BB_INVALID_ARGUMENT);
  EXPECT_THAT(e.message, HasSubstr("token 40"));
  a.token = -1;
  EXPECT_EQ(take_error(api_, api_->session_decode(s, &a)).status, BB_INVALID_ARGUMENT);
  a.token = 1;
  a.pos = 8;  // == n_ctx_max
  e = take_error(api_, api_->session_decode(s, &a));
  EXPECT_EQ(e.status, BB_INVALID_ARGUMENT);
  EXPECT_THAT(e.message, HasSubstr("position 8"));
  a.pos = 0;
  a.iterations = 0;
  EXPECT_EQ(take_error(api_, api_->session_decode(s, &a)).status, BB_INVALID_ARGUMENT);
  a.iterations = 1;
  BB_ASSERT_OK(api_, api_->session_decode(s, &a));
  std::vector<float> logits(41);
  EXPECT_EQ(take_error(api_, api_->session_read_logits(s, logits.data(), 41)).status, BB_INVALID_ARGUMENT);
  bb_kv_write_args w{};
  w.struct_size = sizeof(w);
  w.layer = 2;  // == n_layer
  w.n_pos = 1;
  std::vector<float> kv(32);
  w.k = kv.data();
  w.v = kv.data();
  EXPECT_EQ(take_error(api_, api_->session_write_kv(s, &w)).status, BB_INVALID_ARGUMENT);
  w.layer = 0;
  w.pos_begin = 7;
  w.n_pos = 2;  // rows 7, 8: past n_ctx_max
  EXPECT_EQ(take_error(api_, api_->session_write_kv(s, &w)).status, BB_INVALID_ARGUMENT);
  api_->session_destroy(s);
}

TEST(ScalarRefPluginCancel, CancelFlagStopsLongCalls) {
  volatile int32_t cancel = 0;
  bb_host_api host{};
  host.struct_size = sizeof(host);
  host.abi_major = BB_ABI_VERSION_MAJOR;
  host.abi_minor = BB_ABI_VERSION_MINOR;
  host.n_threads = 1;
  host.cancel_flag = &cancel;
  const bb_plugin_api* api = Plugin::get().api(&host);
  ASSERT_NE(api, nullptr);
  bb_context_args ca{};
  ca.struct_size = sizeof(ca);
  bb_context* ctx = nullptr;
  BB_ASSERT_OK(api, api->context_create(&ca, &ctx));

  const bb_model_dims d = make_dims(64, 64, 4, 2, 16, 2, 40, 8);
  const TinyModel m = make_tiny_model(131, BB_TYPE_F32, d);
  const auto views = m.views();
  bb_session_desc desc{sizeof(desc), static_cast<int32_t>(views.size()), BB_TYPE_F32, &d, views.data()};
  bb_session* s = nullptr;
  BB_ASSERT_OK(api, api->session_create(ctx, &desc, &s));
  bb_decode_args a{};
  a.struct_size = sizeof(a);
  a.iterations = 1;
  BB_ASSERT_OK(api, api->session_decode(s, &a));
  cancel = 1;
  const ErrorInfo e = take_error(api, api->session_decode(s, &a));
  EXPECT_EQ(e.status, BB_CANCELLED);
  EXPECT_THAT(e.message, HasSubstr("cancel"));
  cancel = 0;
  BB_ASSERT_OK(api, api->session_decode(s, &a));
  api->session_destroy(s);
  api->context_destroy(ctx);
  Plugin::get().api(nullptr);  // later tests run without the host's flag
}

}  // namespace
}  // namespace bb::scalar_ref::test
