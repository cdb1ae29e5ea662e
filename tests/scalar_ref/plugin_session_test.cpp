// Sessions through the C ABI: decode equals the layer-by-layer composition of plans on tiny
// in-memory models, KV writes, greedy generation, F16 caches.
#include <gtest/gtest.h>

#include <vector>

#include "forward.h"
#include "plugin_harness.h"

namespace bb::scalar_ref::test {
namespace {

class ScalarRefSession : public ScalarRefPluginLayer {
 protected:
  void TearDown() override {
    for (bb_session* s : sessions_) api_->session_destroy(s);
    ScalarRefPluginLayer::TearDown();
  }

  bb_session* create(const TinyModel& m, int32_t kv_type) {
    const auto views = m.views();
    bb_session_desc desc{};
    desc.struct_size = sizeof(desc);
    desc.n_tensors = static_cast<int32_t>(views.size());
    desc.kv_type = kv_type;
    desc.dims = &m.dims;
    desc.tensors = views.data();
    bb_session* s = nullptr;
    const ErrorInfo e = take_error(api_, api_->session_create(ctx_, &desc, &s));
    EXPECT_EQ(e.status, BB_OK) << e.message;
    if (s != nullptr) sessions_.push_back(s);
    return s;
  }

  std::vector<float> decode(bb_session* s, int32_t token, int32_t pos, int64_t iterations = 1) {
    std::vector<float> logits(static_cast<size_t>(n_vocab_), kNaN);
    bb_decode_args args{};
    args.struct_size = sizeof(args);
    args.token = token;
    args.pos = pos;
    args.iterations = iterations;
    args.logits = logits.data();
    const ErrorInfo e = take_error(api_, api_->session_decode(s, &args));
    EXPECT_EQ(e.status, BB_OK) << e.message;
    EXPECT_EQ(args.device_time_valid, 0);
    EXPECT_TRUE(all_finite(logits));
    std::vector<float> again(logits.size(), kNaN);
    const ErrorInfo r = take_error(api_, api_->session_read_logits(s, again.data(), n_vocab_));
    EXPECT_EQ(r.status, BB_OK) << r.message;
    EXPECT_TRUE(same_bits(again, logits));
    return logits;
  }

  // The same token through plans: embedding row, per layer LAYER (checked against the op-by-op
  // composition, whose k and v extend the host-side history), output norm, LM head gemv.
  std::vector<float> compose(const TinyModel& m, std::vector<std::vector<float>>& k_hist,
                             std::vector<std::vector<float>>& v_hist, int32_t token, int32_t pos) {
    const bb_model_dims& d = m.dims;
    std::vector<float> x = m.get("token_embd.weight").matrix().dequantize_row(token);
    for (int l = 0; l < d.n_layer; ++l) {
      const auto w = m.layer_set(l);
      const LayerParts parts = by_parts(w, d, x, pos, k_hist[l], v_hist[l], BB_TYPE_F32);
      const auto y = layer_plan(w, d, x, pos, d.n_ctx_max, k_hist[l], v_hist[l], BB_TYPE_F32);
      EXPECT_TRUE(same_bits(y, parts.y)) << "layer " << l << " pos " << pos;
      k_hist[l].insert(k_hist[l].end(), parts.k_rope.begin(), parts.k_rope.end());
      v_hist[l].insert(v_hist[l].end(), parts.v.begin(), parts.v.end());
      x = y;
    }
    const auto xn = run_ok(BB_OP_RMS_NORM, &d, {{m.get("output_norm.weight")}}, {f32_tensor(x, {d.n_embd})},
                           {{d.n_embd}})[0];
    const HostTensor& head = d.tied_embeddings ? m.get("token_embd.weight") : m.get("output.weight");
    return run_ok(BB_OP_GEMV, nullptr, {{head}}, {f32_tensor(xn, {d.n_embd})}, {{d.n_vocab}})[0];
  }

  int32_t n_vocab_ = 80;
  std::vector<bb_session*> sessions_;
};

// E 96 (not a multiple of 256, like 0.5B's 896), GQA 3:1, 2 layers, vocab 80.
bb_model_dims tiny_dims(bool tied) { return make_dims(96, 128, 6, 2, 16, 2, 80, 12, tied); }

struct ModelCase {
  int32_t type;
  bool tied;
};

void PrintTo(const ModelCase& c, std::ostream* os) {
  *os << type_name(c.type) << (c.tied ? " tied" : " untied");
}

class ScalarRefSessionDecode : public ScalarRefSession, public ::testing::WithParamInterface<ModelCase> {};

TEST_P(ScalarRefSessionDecode, EqualsLayerByLayerComposition) {
  const TinyModel m = make_tiny_model(61 + GetParam().type, GetParam().type, tiny_dims(GetParam().tied));
  bb_session* s = create(m, BB_TYPE_F32);
  ASSERT_NE(s, nullptr);
  std::vector<std::vector<float>> k_hist(2), v_hist(2);
  const int32_t tokens[] = {3, 77, 0, 41, 41};
  for (int32_t pos = 0; pos < 5; ++pos) {
    const auto expect = compose(m, k_hist, v_hist, tokens[pos], pos);
    const auto got = decode(s, tokens[pos], pos, pos == 2 ? 3 : 1);  // repeats at one pos are idempotent
    EXPECT_TRUE(same_bits(got, expect)) << "pos " << pos;
  }
}

INSTANTIATE_TEST_SUITE_P(Models, ScalarRefSessionDecode,
                         ::testing::Values(ModelCase{BB_TYPE_F32, false}, ModelCase{BB_TYPE_Q8_0, true},
                                           ModelCase{BB_TYPE_Q5_0, false}),
                         [](const auto& p) {
                           return type_name(p.param.type) + (p.param.tied ? "_tied" : "_untied");
                         });

TEST_F(ScalarRefSession, WriteKvThenDecodeUsesTheWrittenHistory) {
  const TinyModel m = make_tiny_model(71, BB_TYPE_F32, tiny_dims(false));
  bb_session* s = create(m, BB_TYPE_F32);
  ASSERT_NE(s, nullptr);
  std::mt19937_64 rng(72);
  const int32_t pos = 6;
  const int64_t kw = 32;
  std::vector<std::vector<float>> k_hist, v_hist;
  for (int l = 0; l < 2; ++l) {
    k_hist.push_back(random_floats(rng, pos * kw));
    v_hist.push_back(random_floats(rng, pos * kw));
    bb_kv_write_args w{};
    w.struct_size = sizeof(w);
    w.layer = l;
    w.pos_begin = 0;
    w.n_pos = pos;
    w.k = k_hist[l].data();
    w.v = v_hist[l].data();
    BB_ASSERT_OK(api_, api_->session_write_kv(s, &w));
  }
  const auto expect = compose(m, k_hist, v_hist, 9, pos);
  EXPECT_TRUE(same_bits(decode(s, 9, pos), expect));
}

TEST_F(ScalarRefSession, GenerateIsGreedyDecode) {
  const TinyModel m = make_tiny_model(81, BB_TYPE_Q8_0, tiny_dims(true));
  bb_session* a = create(m, BB_TYPE_F32);
  bb_session* b = create(m, BB_TYPE_F32);
  ASSERT_TRUE(a && b);
  const std::vector<int32_t> prompt = {5, 6, 7};
  std::vector<int32_t> out(6, -1);
  bb_generate_args g{};
  g.struct_size = sizeof(g);
  g.n_prompt = 3;
  g.n_generate = 6;
  g.prompt = prompt.data();
  g.tokens_out = out.data();
  g.pos_begin = 0;
  BB_ASSERT_OK(api_, api_->session_generate(a, &g));

  std::vector<float> logits;
  int32_t pos = 0;
  for (int32_t t : prompt) logits = decode(b, t, pos++);
  for (int i = 0; i < 6; ++i) {
    const int32_t t = argmax(logits.data(), n_vocab_);
    EXPECT_EQ(out[i], t) << "token " << i;
    if (i + 1 < 6) logits = decode(b, t, pos++);
  }
  // The session's logits are those after the last token fed (the 5th generated one).
  std::vector<float> last(n_vocab_);
  BB_ASSERT_OK(api_, api_->session_read_logits(a, last.data(), n_vocab_));
  EXPECT_TRUE(same_bits(last, logits));
  // A context that would run past n_ctx_max (12) is refused before any work.
  g.n_generate = 11;
  std::vector<int32_t> longer(11);
  g.tokens_out = longer.data();
  EXPECT_EQ(take_error(api_, api_->session_generate(a, &g)).status, BB_INVALID_ARGUMENT);
}

TEST_F(ScalarRefSession, F16KvCacheIsCloseToF32) {
  const TinyModel m = make_tiny_model(91, BB_TYPE_F32, tiny_dims(false));
  bb_session* s32 = create(m, BB_TYPE_F32);
  bb_session* s16 = create(m, BB_TYPE_F16);
  ASSERT_TRUE(s32 && s16);
  double err = 0, ref = 0;
  for (int32_t pos = 0; pos < 6; ++pos) {
    const auto a = decode(s32, pos * 7 % 80, pos), b = decode(s16, pos * 7 % 80, pos);
    for (size_t i = 0; i < a.size(); ++i) {
      err += (double{a[i]} - b[i]) * (double{a[i]} - b[i]);
      ref += double{a[i]} * a[i];
    }
  }
  EXPECT_LT(err / ref, 1e-5);
}

TEST_F(ScalarRefSession, LogitsStayInSessionWhenNotAsked) {
  const TinyModel m = make_tiny_model(95, BB_TYPE_F32, tiny_dims(false));
  bb_session* s = create(m, BB_TYPE_F32);
  ASSERT_NE(s, nullptr);
  std::vector<float> logits(80, kNaN);
  ASSERT_EQ(take_error(api_, api_->session_read_logits(s, logits.data(), 80)).status, BB_INVALID_ARGUMENT)
      << "no decode yet";
  bb_decode_args args{};
  args.struct_size = sizeof(args);
  args.token = 1;
  args.pos = 0;
  args.iterations = 1;
  BB_ASSERT_OK(api_, api_->session_decode(s, &args));
  BB_ASSERT_OK(api_, api_->session_read_logits(s, logits.data(), 80));
  EXPECT_TRUE(all_finite(logits));
}

}  // namespace
}  // namespace bb::scalar_ref::test
