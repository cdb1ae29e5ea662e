// The cost model against hand calculations. Storage per block (ggml): Q5_0 22 bytes / 32 elements,
// Q8_0 34 / 32, Q4_K 144 / 256, Q6_K 210 / 256; activations F32.
#include "config/brick_cost.h"

#include <gtest/gtest.h>
#include <rapidjson/document.h>
#include <rapidjson/istreamwrapper.h>

#include <fstream>
#include <stdexcept>
#include <string>

#include "model/ggml_types.h"
#include "model/qwen2_model.h"
#include "model/synthetic.h"

namespace bb::config {
namespace {

const std::string kData = BRICKBENCH_TEST_DATA_DIR;

// tiny-b: E 384, F 512, 6 heads, 2 KV heads, head_dim 64 (H 384, K 128), vocab 640, 2 layers,
// untied. Its Q4_K_M types (read from the file with a separate script): every 384-wide matrix
// Q5_0 except blk.1.attn_v and output (Q8_0); ffn_down Q4_K in layer 0, Q6_K in layer 1;
// token_embd Q5_0.
class TinyB : public ::testing::Test {
 protected:
  void SetUp() override {
    model_ = bb::model::load_qwen2(kData + "/oracle/tiny-b-q4_k_m.gguf");
    d_ = model_.dims;
    t_ = model_types_of(model_);
  }
  bb::model::Qwen2Model model_;
  bb_model_dims d_{};
  ModelTypes t_;
};

TEST_F(TinyB, TypesComeFromTheFile) {
  ASSERT_EQ(t_.layers.size(), 2u);
  EXPECT_EQ(t_.layers[0].attn_q, BB_TYPE_Q5_0);
  EXPECT_EQ(t_.layers[0].attn_v, BB_TYPE_Q5_0);
  EXPECT_EQ(t_.layers[1].attn_v, BB_TYPE_Q8_0);
  EXPECT_EQ(t_.layers[0].ffn_down, BB_TYPE_Q4_K);
  EXPECT_EQ(t_.layers[1].ffn_down, BB_TYPE_Q6_K);
  EXPECT_EQ(t_.token_embd, BB_TYPE_Q5_0);
  EXPECT_EQ(t_.output, BB_TYPE_Q8_0);
  EXPECT_EQ(gemv_types_present(t_),
            (std::vector<int32_t>{BB_TYPE_Q5_0, BB_TYPE_Q8_0, BB_TYPE_Q4_K, BB_TYPE_Q6_K}));
}

TEST_F(TinyB, PerLayerBricksByHand) {
  // qkv, layer 0: wq 384 rows * (384/32*22 = 264) = 101376; wk, wv 128 * 264 = 33792 each;
  // biases (384 + 128 + 128) * 4 = 2560 -> weights 171520. Activations: x 384 in, q 384 + k 128 +
  // v 128 out, * 4 = 4096. FLOPs: 2 * 384 * 640 + 640 = 492160.
  BrickCost qkv0 = brick_cost(Brick::Qkv, d_, t_, 0);
  EXPECT_EQ(qkv0.weight_bytes, 171520);
  EXPECT_EQ(qkv0.activation_bytes, 4096);
  EXPECT_EQ(qkv0.kv_bytes, 0);
  EXPECT_EQ(qkv0.flops, 492160);
  // Layer 1's wv is Q8_0: 128 * (384/32*34 = 408) = 52224 instead of 33792.
  BrickCost qkv1 = brick_cost(Brick::Qkv, d_, t_, 1);
  EXPECT_EQ(qkv1.weight_bytes, 171520 - 33792 + 52224);
  EXPECT_EQ(brick_cost_average(Brick::Qkv, d_, t_).weight_bytes, (171520 + 189952) / 2.0);

  // ffn, layer 0: gate, up 512 * 264 = 135168 each; down (Q4_K) 384 * (512/256*144 = 288) =
  // 110592 -> 380928; x in, y out 2 * 384 * 4 = 3072. FLOPs 3 * 2 * 384 * 512 + 5 * 512.
  BrickCost ffn0 = brick_cost(Brick::Ffn, d_, t_, 0);
  EXPECT_EQ(ffn0.weight_bytes, 380928);
  EXPECT_EQ(ffn0.activation_bytes, 3072);
  EXPECT_EQ(ffn0.flops, 6.0 * 384 * 512 + 5 * 512);
  // Layer 1's down is Q6_K: 384 * (512/256*210 = 420) = 161280.
  EXPECT_EQ(brick_cost(Brick::Ffn, d_, t_, 1).weight_bytes, 2 * 135168 + 161280);

  // o_proj: 384 * 264 = 101376 weights, (384 + 384) * 4 activations, 2 * 384 * 384 FLOPs.
  BrickCost o = brick_cost(Brick::OProj, d_, t_, 0);
  EXPECT_EQ(o.weight_bytes, 101376);
  EXPECT_EQ(o.activation_bytes, 3072);
  EXPECT_EQ(o.flops, 2.0 * 384 * 384);

  // rms_norm: g 384 * 4 weights, x in + y out 2 * 384 * 4.
  BrickCost n = brick_cost(Brick::RmsNorm, d_, t_, 0);
  EXPECT_EQ(n.weight_bytes, 1536);
  EXPECT_EQ(n.activation_bytes, 3072);

  // rope: q 384 + k 128 in and out, plus the I32 position: 8 * 512 + 4.
  EXPECT_EQ(brick_cost(Brick::Rope, d_, t_, 0).bytes(), 4100);
}

TEST_F(TinyB, AttentionKvBytes) {
  CostParams p;
  p.context = 64;
  // 2 (K and V) * 64 rows * 2 KV heads * 64 * 4 bytes = 65536; q in, o out 2 * 384 * 4 = 3072.
  // FLOPs per head and row: q.k 2*64, p*v 2*64, softmax 5 -> 6 heads * 64 rows * 261.
  BrickCost a = brick_cost(Brick::Attention, d_, t_, 0, p);
  EXPECT_EQ(a.kv_bytes, 65536);
  EXPECT_EQ(a.activation_bytes, 3072);
  EXPECT_EQ(a.weight_bytes, 0);
  EXPECT_EQ(a.flops, 6.0 * 64 * 261);
  p.kv_type = BB_TYPE_F16;
  EXPECT_EQ(brick_cost(Brick::Attention, d_, t_, 0, p).kv_bytes, 32768);
}

TEST_F(TinyB, LayerAndDecodeByHand) {
  CostParams p;
  p.context = 64;
  // layer 0 = 2 rms_norm (4608 each) + qkv 175616 + rope 4100 + attention 68608 + o_proj 104448 +
  // ffn 384000 + this token's K, V row 2 * 128 * 4 = 1024 -> 747012 bytes.
  EXPECT_EQ(brick_cost(Brick::Layer, d_, t_, 0, p).bytes(), 747012);
  // layer 1: qkv 194048, ffn 434688 -> 816132.
  EXPECT_EQ(brick_cost(Brick::Layer, d_, t_, 1, p).bytes(), 816132);
  // decode at 64: embedding row (Q5_0: 264 bytes, 1536 out) + layers + output norm 4608 + LM head
  // (Q8_0: 640 * 408 = 261120 weights, (640 + 384) * 4 activations) = 1834768.
  EXPECT_EQ(decode_cost(d_, t_, 64).bytes(), 1834768);
  EXPECT_EQ(brick_cost(Brick::Decode, d_, t_, 0, p).bytes(), 1834768);
  // generate 3 tokens from context 64: decode at 64, 65, 66; each row more moves 2 layers * 1024.
  p.tokens = 3;
  EXPECT_EQ(brick_cost(Brick::Generate, d_, t_, 0, p).bytes(), 3 * 1834768 + (1 + 2) * 2 * 1024);
}

TEST_F(TinyB, GemvShapes) {
  // Q5_0: the largest Q5_0 matrix is ffn_gate (512 x 384) in both layers.
  auto q5 = gemv_shape(d_, t_, BB_TYPE_Q5_0);
  ASSERT_TRUE(q5);
  EXPECT_EQ(q5->role, "ffn_gate");
  EXPECT_EQ(q5->rows, 512);
  EXPECT_EQ(q5->cols, 384);
  EXPECT_EQ(q5->layers, (std::vector<int32_t>{0, 1}));
  // Q8_0: attn_v of layer 1 (128 x 384, 6.5 KB) beats nothing else per layer; the LM head is only
  // the fallback when no layer matrix has the type.
  auto q8 = gemv_shape(d_, t_, BB_TYPE_Q8_0);
  ASSERT_TRUE(q8);
  EXPECT_EQ(q8->role, "attn_v");
  EXPECT_EQ(q8->layers, (std::vector<int32_t>{1}));
  auto q6 = gemv_shape(d_, t_, BB_TYPE_Q6_K);
  ASSERT_TRUE(q6);
  EXPECT_EQ(q6->role, "ffn_down");
  EXPECT_EQ(q6->rows, 384);
  EXPECT_EQ(q6->cols, 512);
  CostParams p;
  p.weight_type = BB_TYPE_Q6_K;
  EXPECT_EQ(brick_cost(Brick::Gemv, d_, t_, 0, p).weight_bytes, 161280);
  EXPECT_EQ(brick_cost(Brick::Gemv, d_, t_, 0, p).activation_bytes, (384 + 512) * 4);
  // A type the model lacks: ffn_gate's shape, marked as not in the model.
  auto f16 = gemv_shape(d_, t_, BB_TYPE_F16);
  ASSERT_TRUE(f16);
  EXPECT_FALSE(f16->in_model);
  EXPECT_EQ(f16->role, "ffn_gate");
  // Q5_K needs rows of 256: 384 is not, so there is no Q5_K GEMV for this model.
  EXPECT_FALSE(gemv_shape(d_, t_, BB_TYPE_Q5_K));
  p.weight_type = BB_TYPE_Q5_K;
  EXPECT_THROW(brick_cost(Brick::Gemv, d_, t_, 0, p), std::invalid_argument);
}

TEST_F(TinyB, BadArguments) {
  EXPECT_THROW(brick_cost(Brick::Qkv, d_, t_, 2), std::invalid_argument);
  EXPECT_THROW(brick_cost(Brick::Ffn, d_, t_, -1), std::invalid_argument);
  EXPECT_THROW(gemv_cost(BB_TYPE_Q4_K, 10, 896), std::invalid_argument);  // 896 is not whole blocks of 256
}

TEST(BrickCost, Qwen15bByHand) {
  const auto& shape = bb::model::find_qwen2_shape("qwen2.5-coder-1.5b");
  const bb_model_dims d = dims_of(shape);
  const ModelTypes t = synthetic_model_types(shape, "q4_k_m");
  EXPECT_EQ(d.head_dim, 128);
  // One 1536 x 1536 Q4_K GEMV (attn_q) moves 1536 * 1536 / 256 * 144 = 1327104 weight bytes.
  EXPECT_EQ(gemv_cost(BB_TYPE_Q4_K, 1536, 1536).weight_bytes, 1536.0 * 1536 / 256 * 144);
  EXPECT_EQ(gemv_cost(BB_TYPE_Q4_K, 1536, 1536).flops, 2.0 * 1536 * 1536);
  // o_proj is that GEMV plus 1536 in and 1536 out.
  EXPECT_EQ(brick_cost(Brick::OProj, d, t, 0).bytes(), 1327104 + 2 * 1536 * 4);
  // gemv Q4_K: ffn_gate (8960 x 1536, first of three equal-sized roles) = 7741440 bytes.
  auto q4 = gemv_shape(d, t, BB_TYPE_Q4_K);
  ASSERT_TRUE(q4);
  EXPECT_EQ(q4->role, "ffn_gate");
  EXPECT_EQ(q4->rows * q4->cols / 256 * 144, 7741440);
  // gemv Q6_K: ffn_down [1536, 8960] where llama-quantize keeps it Q6_K (n = 28: i < 3, i >= 24,
  // or (i - 3) % 3 == 2): 1536 * 8960 / 256 * 210 = 11289600 bytes.
  auto q6 = gemv_shape(d, t, BB_TYPE_Q6_K);
  ASSERT_TRUE(q6);
  EXPECT_EQ(q6->role, "ffn_down");
  EXPECT_EQ(q6->layers, (std::vector<int32_t>{0, 1, 2, 5, 8, 11, 14, 17, 20, 23, 24, 25, 26, 27}));
  CostParams p;
  p.weight_type = BB_TYPE_Q6_K;
  EXPECT_EQ(brick_cost(Brick::Gemv, d, t, 0, p).weight_bytes, 11289600);
  // Attention at 4096: 2 * 4096 * (2 KV heads * 128) * 4 = 8388608 KV bytes.
  p.context = 4096;
  EXPECT_EQ(brick_cost(Brick::Attention, d, t, 0, p).kv_bytes, 8388608);
  // The LM head is the tied Q6_K embedding: 151936 * 1536 / 256 * 210 = 191439360 bytes.
  EXPECT_EQ(t.output, BB_TYPE_Q6_K);
  const double head = 151936.0 * 1536 / 256 * 210;
  // A whole token: ffn weights dominate; the token is the embedding row (1536/256*210 = 1260
  // bytes), all 28 layers, the output norm and the LM head.
  BrickCost token = decode_cost(d, t, 512);
  BrickCost layers;
  CostParams p512;
  for (int32_t i = 0; i < 28; ++i) layers += brick_cost(Brick::Layer, d, t, i, p512);
  EXPECT_EQ(token.weight_bytes, 1260 + layers.weight_bytes + 1536 * 4 + head);
  EXPECT_NEAR(token.bytes(), 1.0127e9, 0.001e9);  // about the size of a Q4_K_M 1.5B file
}

// synthetic_model_types follows the Q4_K_M rule recorded from llama-quantize in q4_k_m_mix.json.
TEST(BrickCost, SyntheticTypesMatchTheRecordedQ4KMMix) {
  std::ifstream in(kData + "/q4_k_m_mix.json");
  ASSERT_TRUE(in);
  rapidjson::IStreamWrapper isw(in);
  rapidjson::Document doc;
  doc.ParseStream(isw);
  ASSERT_FALSE(doc.HasParseError());
  int checked = 0;
  for (const auto& m : doc["models"].GetObject()) {
    const std::string name = m.name.GetString();
    SCOPED_TRACE(name);
    const auto& shape = bb::model::find_qwen2_shape(name);
    const ModelTypes t = synthetic_model_types(shape, "q4_k_m");
    auto type_of = [](const rapidjson::Value& v) {
      return static_cast<int32_t>(*bb::model::ggml_type_from_name(v[0].GetString()));
    };
    const auto& tensors = m.value;
    EXPECT_EQ(t.token_embd, type_of(tensors["token_embd.weight"]));
    for (int32_t i = 0; i < shape.n_layer; ++i) {
      const std::string p = "blk." + std::to_string(i) + ".";
      const LayerTypes& l = t.layers[static_cast<size_t>(i)];
      EXPECT_EQ(l.attn_q, type_of(tensors[(p + "attn_q.weight").c_str()])) << p;
      EXPECT_EQ(l.attn_k, type_of(tensors[(p + "attn_k.weight").c_str()])) << p;
      EXPECT_EQ(l.attn_v, type_of(tensors[(p + "attn_v.weight").c_str()])) << p;
      EXPECT_EQ(l.attn_output, type_of(tensors[(p + "attn_output.weight").c_str()])) << p;
      EXPECT_EQ(l.ffn_gate, type_of(tensors[(p + "ffn_gate.weight").c_str()])) << p;
      EXPECT_EQ(l.ffn_up, type_of(tensors[(p + "ffn_up.weight").c_str()])) << p;
      EXPECT_EQ(l.ffn_down, type_of(tensors[(p + "ffn_down.weight").c_str()])) << p;
      checked += 7;
    }
  }
  EXPECT_EQ(checked, 7 * (24 + 28));
}

}  // namespace
}  // namespace bb::config
