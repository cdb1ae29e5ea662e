// load_qwen2 on the oracle files: the dimensions the oracle README states, the ABI's tensor view,
// and errors naming the file and the tensor when a model is incomplete or inconsistent.
#include "model/qwen2_model.h"

#include <gtest/gtest.h>

#include <cstring>

#include "model/ggml_types.h"
#include "model/gguf.h"
#include "model_test_util.h"

namespace bb::model {
namespace {

using test::TempDir;

struct OracleDims {
  const char* prefix;
  int32_t n_embd, n_ff, n_layer, n_head, n_head_kv, n_vocab;
  bool tied;
};

constexpr OracleDims kTinyA{"tiny-a-", 256, 512, 2, 4, 2, 512, true};
constexpr OracleDims kTinyB{"tiny-b-", 384, 512, 2, 6, 2, 640, false};

TEST(Qwen2Model, OracleFilesGiveTheReadmeDimensions) {
  const char* files[] = {"tiny-a-f32.gguf",    "tiny-a-f16.gguf",  "tiny-a-q8_0.gguf",   "tiny-a-q5_0.gguf",
                         "tiny-a-q4_0.gguf",   "tiny-a-q6_k.gguf", "tiny-a-q4_k_m.gguf", "tiny-b-f32.gguf",
                         "tiny-b-q4_k_m.gguf", "tiny-b-q5_0.gguf", "tiny-b-q8_0.gguf"};
  for (const char* name : files) {
    SCOPED_TRACE(name);
    const OracleDims& e = std::strncmp(name, "tiny-a-", 7) == 0 ? kTinyA : kTinyB;
    Qwen2Model m = load_qwen2(test::oracle_path(name));
    const bb_model_dims& d = m.dims;
    EXPECT_EQ(d.struct_size, sizeof(bb_model_dims));
    EXPECT_EQ(d.n_embd, e.n_embd);
    EXPECT_EQ(d.n_ff, e.n_ff);
    EXPECT_EQ(d.n_layer, e.n_layer);
    EXPECT_EQ(d.n_head, e.n_head);
    EXPECT_EQ(d.n_head_kv, e.n_head_kv);
    EXPECT_EQ(d.head_dim, 64);
    EXPECT_EQ(d.n_vocab, e.n_vocab);
    EXPECT_EQ(d.tied_embeddings, e.tied ? 1 : 0);
    EXPECT_EQ(d.n_ctx_max, 4096);
    EXPECT_NEAR(d.rms_eps, 1e-6, 1e-12);
    EXPECT_DOUBLE_EQ(d.rope_theta, 1e6);
    EXPECT_FALSE(m.synthetic);
    EXPECT_EQ(m.tensors.size(), m.file->tensors().size());
    EXPECT_EQ(m.tensors.size(), 2u + 12u * 2u + (e.tied ? 0u : 1u));
    EXPECT_NE(m.describe().find("n_embd " + std::to_string(e.n_embd)), std::string::npos);
  }
}

TEST(Qwen2Model, TensorsAreAbiViewsOfTheFile) {
  Qwen2Model m = load_qwen2(test::oracle_path("tiny-b-q4_k_m.gguf"));
  ASSERT_EQ(m.tensors.size(), m.file->tensors().size());
  for (size_t i = 0; i < m.tensors.size(); ++i) {
    const bb_tensor& b = m.tensors[i];
    const GgufTensorInfo& g = m.file->tensors()[i];
    SCOPED_TRACE(g.name);
    EXPECT_EQ(b.struct_size, sizeof(bb_tensor));
    EXPECT_EQ(b.name, g.name.c_str());  // a pointer into the file's own string
    EXPECT_EQ(b.data, g.data);
    EXPECT_EQ(b.device_type, BB_DEVICE_CPU);
    EXPECT_EQ(b.type, g.type);
    EXPECT_EQ(b.nbytes, g.nbytes);
    ASSERT_EQ(b.ndim, static_cast<int32_t>(g.ne.size()));
    for (int k = 0; k < b.ndim; ++k) {
      EXPECT_EQ(b.shape[k], g.ne[g.ne.size() - 1 - static_cast<size_t>(k)]);  // outermost first
      EXPECT_EQ(b.strides[k], 0);
    }
  }
  const GgufTensorInfo& down = m.tensor("blk.1.ffn_down.weight");
  bb_tensor t = to_bb_tensor(down);
  EXPECT_EQ(t.ndim, 2);
  EXPECT_EQ(t.shape[0], 384);  // rows = n_embd
  EXPECT_EQ(t.shape[1], 512);  // row length = n_ff
  EXPECT_EQ(t.type, BB_TYPE_Q6_K);
  EXPECT_EQ(t.nbytes, 384u * 2u * 210u);
  EXPECT_THROW(m.tensor("blk.9.ffn_down.weight"), GgufError);
}

// Rewrites an oracle file through GgufWriter with edits, to build broken models.
struct Rewrite {
  std::string drop_tensor;
  std::string retype_tensor;   // to Q4_1, a type the harness does not support
  std::string reshape_tensor;  // ne[0] doubled (data zero)
  std::string drop_key;
  std::pair<std::string, GgufValue> set_key;
};

std::string rewrite(const TempDir& dir, const std::string& oracle, const Rewrite& r) {
  auto f = GgufFile::open(test::oracle_path(oracle));
  GgufWriter w;
  for (const auto& [k, v] : f->metadata())
    if (k != r.drop_key) w.add(k, v);
  if (!r.set_key.first.empty()) w.add(r.set_key.first, r.set_key.second);
  for (const auto& t : f->tensors()) {
    if (t.name == r.drop_tensor) continue;
    if (t.name == r.retype_tensor) {
      w.add_tensor(t.name, static_cast<int32_t>(GgmlType::Q4_1), t.ne, nullptr);
    } else if (t.name == r.reshape_tensor) {
      auto ne = t.ne;
      ne[0] *= 2;
      w.add_tensor(t.name, t.type, ne, nullptr);
    } else {
      const GgufTensorInfo* src = &t;
      w.add_tensor(t.name, t.type, t.ne, [src](uint8_t* d, uint64_t n) { std::memcpy(d, src->data, n); });
    }
  }
  std::string path = dir.file("rewritten.gguf");
  w.write(path);
  return path;
}

void expect_load_error(const std::string& path, const std::string& must_contain) {
  try {
    load_qwen2(path);
    ADD_FAILURE() << "loaded without an error";
  } catch (const GgufError& e) {
    std::string m = e.what();
    EXPECT_NE(m.find(path), std::string::npos) << m;
    EXPECT_NE(m.find(must_contain), std::string::npos) << m;
  }
}

TEST(Qwen2Model, RewrittenOracleStillLoads) {
  TempDir dir;
  Qwen2Model m = load_qwen2(rewrite(dir, "tiny-b-q4_k_m.gguf", {}));
  EXPECT_EQ(m.dims.n_embd, 384);
  EXPECT_EQ(m.dims.tied_embeddings, 0);
}

TEST(Qwen2Model, ErrorsNameTheFileAndTheTensor) {
  {
    TempDir dir;
    expect_load_error(rewrite(dir, "tiny-a-q8_0.gguf", {.drop_tensor = "blk.1.ffn_up.weight"}),
                      "blk.1.ffn_up.weight: missing");
  }
  {
    TempDir dir;
    expect_load_error(rewrite(dir, "tiny-a-q8_0.gguf", {.drop_tensor = "blk.0.attn_q.bias"}),
                      "blk.0.attn_q.bias");
  }
  {
    TempDir dir;
    expect_load_error(rewrite(dir, "tiny-a-f32.gguf", {.retype_tensor = "blk.0.attn_k.weight"}),
                      "blk.0.attn_k.weight: type Q4_1 is not supported");
  }
  {
    TempDir dir;
    expect_load_error(rewrite(dir, "tiny-b-f32.gguf", {.reshape_tensor = "blk.1.ffn_gate.weight"}),
                      "blk.1.ffn_gate.weight: shape ne [768, 512], expected [384, 512]");
  }
  {
    TempDir dir;
    expect_load_error(rewrite(dir, "tiny-b-f32.gguf", {.retype_tensor = "output_norm.weight"}),
                      "output_norm.weight: type Q4_1");
  }
  {
    TempDir dir;
    expect_load_error(rewrite(dir, "tiny-a-f32.gguf", {.drop_key = "qwen2.attention.head_count"}),
                      "qwen2.attention.head_count: missing");
  }
  {
    TempDir dir;
    expect_load_error(
        rewrite(dir, "tiny-a-f32.gguf", {.set_key = {"general.architecture", GgufValue::of_string("llama")}}),
        "'llama' is not a Qwen2 model");
  }
  {
    TempDir dir;
    expect_load_error(rewrite(dir, "tiny-a-f32.gguf",
                              {.set_key = {"qwen2.attention.head_count", GgufValue::of(uint32_t{3})}}),
                      "not divisible");
  }
}

TEST(Qwen2Model, DefaultsWhenOptionalKeysAreAbsent) {
  TempDir dir;
  // No rope.freq_base: 10000. No vocab_size: token_embd's rows.
  std::string path = rewrite(dir, "tiny-b-f32.gguf", {.drop_key = "qwen2.rope.freq_base"});
  EXPECT_DOUBLE_EQ(load_qwen2(path).dims.rope_theta, 10000.0);
  TempDir dir2;
  path = rewrite(dir2, "tiny-b-f32.gguf", {.drop_key = "qwen2.vocab_size"});
  EXPECT_EQ(load_qwen2(path).dims.n_vocab, 640);
}

}  // namespace
}  // namespace bb::model
