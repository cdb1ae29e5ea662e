// Synthetic models: the Q4_K_M rule reproduces llama-quantize's measured tables, synthesized files
// read back as written, are deterministic per seed whatever the thread count, and hold valid blocks.
#include "model/synthetic.h"

#include <gtest/gtest.h>
#include <rapidjson/document.h>
#include <sys/stat.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <map>
#include <memory>

#include "model/ggml_types.h"
#include "model/gguf.h"
#include "model/qwen2_model.h"
#include "model_test_util.h"

namespace bb::model {
namespace {

using test::TempDir;

struct MeasuredTensor {
  std::string type;
  std::vector<int64_t> ne;
};
using MeasuredTable = std::map<std::string, MeasuredTensor>;

// q4_k_m_mix.json: models -> name -> [type, ne]
std::map<std::string, MeasuredTable> load_mix_tables() {
  auto bytes = test::read_bytes(test::mix_json_path());
  rapidjson::Document doc;
  doc.Parse(reinterpret_cast<const char*>(bytes.data()), bytes.size());
  if (doc.HasParseError() || !doc.HasMember("models"))
    throw std::runtime_error("cannot parse q4_k_m_mix.json");
  std::map<std::string, MeasuredTable> tables;
  for (const auto& model : doc["models"].GetObject()) {
    MeasuredTable& t = tables[model.name.GetString()];
    for (const auto& tensor : model.value.GetObject()) {
      MeasuredTensor m;
      m.type = tensor.value[0].GetString();
      for (const auto& d : tensor.value[1].GetArray()) m.ne.push_back(d.GetInt64());
      t[tensor.name.GetString()] = m;
    }
  }
  return tables;
}

void expect_plan_matches(const std::vector<SynthTensor>& plan, const MeasuredTable& table) {
  EXPECT_EQ(plan.size(), table.size());
  for (const auto& t : plan) {
    auto it = table.find(t.name);
    if (it == table.end()) {
      ADD_FAILURE() << t.name << " is not in the measured table";
      continue;
    }
    EXPECT_EQ(ggml_type_name(t.type), it->second.type) << t.name;
    EXPECT_EQ(t.ne, it->second.ne) << t.name;
  }
}

TEST(Q4KMRule, ReproducesTheMeasuredTables) {
  auto tables = load_mix_tables();
  ASSERT_EQ(tables.size(), 2u);
  for (const char* name : {"qwen2.5-coder-0.5b", "qwen2.5-coder-1.5b"}) {
    SCOPED_TRACE(name);
    ASSERT_TRUE(tables.count(name));
    const Qwen2Shape& shape = find_qwen2_shape(name);
    // The rule itself, tensor by tensor...
    for (const auto& [tensor, m] : tables[name])
      EXPECT_EQ(ggml_type_name(q4_k_m_type(tensor, m.ne[0], shape.n_layer, m.ne.size() == 1, shape.tied)),
                m.type)
          << tensor;
    // ... and the synthesis plan built on it: names, ne and types.
    expect_plan_matches(synthetic_tensor_plan(shape, "q4_k_m"), tables[name]);
  }
}

TEST(Q4KMRule, UntiedModelsQuantizeTheEmbeddingAsQ4KAndTheHeadAsQ6K) {
  const Qwen2Shape& s = find_qwen2_shape("qwen2.5-coder-7b");
  EXPECT_EQ(q4_k_m_type("token_embd.weight", s.n_embd, s.n_layer, false, false), BB_TYPE_Q4_K);
  EXPECT_EQ(q4_k_m_type("output.weight", s.n_embd, s.n_layer, false, false), BB_TYPE_Q6_K);
  EXPECT_EQ(q4_k_m_type("blk.0.attn_v.weight", s.n_embd, s.n_layer, false), BB_TYPE_Q6_K);
  EXPECT_EQ(q4_k_m_type("blk.3.attn_v.weight", s.n_embd, s.n_layer, false), BB_TYPE_Q4_K);
  EXPECT_EQ(q4_k_m_type("blk.5.ffn_down.weight", s.n_ff, s.n_layer, false), BB_TYPE_Q6_K);
  EXPECT_EQ(q4_k_m_type("blk.5.ffn_norm.weight", s.n_embd, s.n_layer, true), BB_TYPE_F32);
  auto plan = synthetic_tensor_plan(s, "q4_k_m");
  EXPECT_EQ(plan.front().name, "token_embd.weight");
  EXPECT_EQ(plan.back().name, "output.weight");
  EXPECT_EQ(plan[plan.size() - 2].name, "output_norm.weight");
  EXPECT_EQ(plan.size(), 2u + 1u + 12u * 28u);
}

TEST(SyntheticShapes, KnownShapesAndNames) {
  ASSERT_EQ(known_qwen2_shapes().size(), 5u);
  const Qwen2Shape& s = find_qwen2_shape("1.5b");
  EXPECT_EQ(s.name, "qwen2.5-coder-1.5b");
  EXPECT_EQ(s.n_embd, 1536);
  EXPECT_EQ(s.n_vocab, 151936);
  EXPECT_EQ(find_qwen2_shape("qwen2.5-coder-32b").n_vocab, 152064);
  EXPECT_FALSE(find_qwen2_shape("qwen2.5-coder-32b").tied);
  try {
    find_qwen2_shape("qwen2.5-coder-2b");
    ADD_FAILURE() << "an unknown model was accepted";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("known: qwen2.5-coder-0.5b, qwen2.5-coder-1.5b"), std::string::npos)
        << e.what();
  }
  EXPECT_THROW(synthetic_tensor_plan(s, "q3_k_s"), std::invalid_argument);
  for (const auto& t : synthetic_tensor_plan(s, "q8_0"))
    EXPECT_EQ(t.type, t.ne.size() == 1 ? BB_TYPE_F32 : BB_TYPE_Q8_0) << t.name;
  for (const auto& t : synthetic_tensor_plan(s, "f16"))
    EXPECT_EQ(t.type, t.ne.size() == 1 ? BB_TYPE_F32 : BB_TYPE_F16) << t.name;
}

float f16_to_f32(uint16_t h) {
  uint32_t sign = (h & 0x8000u) << 16, exp = (h >> 10) & 0x1f, mant = h & 0x3ff;
  if (exp == 0x1f) return mant ? NAN : (sign ? -INFINITY : INFINITY);
  double v = exp == 0 ? std::ldexp(mant, -24) : std::ldexp(mant | 0x400, static_cast<int>(exp) - 25);
  return static_cast<float>(sign ? -v : v);
}

uint16_t u16_at(const uint8_t* p) {
  uint16_t v;
  std::memcpy(&v, p, 2);
  return v;
}

// Every f16 scale finite and positive, every f32/f16 value finite, the tensor not all zeros.
void expect_valid_blocks(const GgufTensorInfo& t) {
  SCOPED_TRACE(t.name + " " + ggml_type_name(t.type));
  auto traits = ggml_type_traits(t.type);
  ASSERT_TRUE(traits);
  const uint64_t block = static_cast<uint64_t>(traits->block_bytes), n_blocks = t.nbytes / block;
  std::vector<int> scale_at;  // byte offsets of f16 scales in a block
  switch (static_cast<GgmlType>(t.type)) {
    case GgmlType::Q8_0:
    case GgmlType::Q5_0:
    case GgmlType::Q4_0:
      scale_at = {0};
      break;
    case GgmlType::Q4_K:
    case GgmlType::Q5_K:
      scale_at = {0, 2};
      break;
    case GgmlType::Q6_K:
      scale_at = {208};
      break;
    default:
      break;
  }
  uint64_t bad = 0, nonzero = 0;
  for (uint64_t b = 0; b < n_blocks; ++b) {
    const uint8_t* p = t.data + b * block;
    for (int at : scale_at) {
      float d = f16_to_f32(u16_at(p + at));
      if (!std::isfinite(d) || !(d > 0)) ++bad;
    }
  }
  if (t.type == BB_TYPE_F32)
    for (uint64_t i = 0; i < t.nbytes / 4; ++i) {
      float v;
      std::memcpy(&v, t.data + 4 * i, 4);
      if (!std::isfinite(v)) ++bad;
    }
  if (t.type == BB_TYPE_F16)
    for (uint64_t i = 0; i < t.nbytes / 2; ++i)
      if (!std::isfinite(f16_to_f32(u16_at(t.data + 2 * i)))) ++bad;
  for (uint64_t i = 0; i < t.nbytes; i += 4096 / 8 + 1) nonzero += t.data[i] != 0;
  EXPECT_EQ(bad, 0u);
  EXPECT_GT(nonzero, 0u);
  EXPECT_FALSE(
      std::all_of(t.data, t.data + std::min<uint64_t>(t.nbytes, 1 << 16), [](uint8_t x) { return x == 0; }));
}

bool same_file_bytes(const std::string& x, const std::string& y) {
  std::unique_ptr<std::FILE, int (*)(std::FILE*)> fx(std::fopen(x.c_str(), "rb"), std::fclose);
  std::unique_ptr<std::FILE, int (*)(std::FILE*)> fy(std::fopen(y.c_str(), "rb"), std::fclose);
  if (!fx || !fy) return false;
  std::vector<uint8_t> bx(1 << 20), by(1 << 20);
  for (;;) {
    size_t nx = std::fread(bx.data(), 1, bx.size(), fx.get());
    size_t ny = std::fread(by.data(), 1, by.size(), fy.get());
    if (nx != ny || std::memcmp(bx.data(), by.data(), nx) != 0) return false;
    if (nx == 0) return true;
  }
}

uint64_t tensor_hash(const GgufTensorInfo& t) { return test::fnv1a64(t.data, t.nbytes); }

// Synthesized on first use and kept for the rest of the test binary (ctest runs each test in its
// own process, so each synthesizes only the files it reads): 1.5B seed 1 on 2 threads, 0.5B seed 1
// on 1 thread and on 2, 0.5B seed 2. Removed with the temporary directory at the end.
class SyntheticFiles : public ::testing::Test {
 protected:
  static void TearDownTestSuite() {
    delete dir_;
    dir_ = nullptr;
  }
  static std::string synthesized(const std::string& name) {
    if (!dir_) dir_ = new TempDir();
    std::string path = dir_->file(name);
    if (!std::filesystem::exists(path)) {
      auto t0 = std::chrono::steady_clock::now();
      if (name == "1.5b.gguf")
        write_synthetic_gguf({"qwen2.5-coder-1.5b", "q4_k_m", 1, 2}, path);
      else if (name == "0.5b-t1.gguf")
        write_synthetic_gguf({"qwen2.5-coder-0.5b", "q4_k_m", 1, 1}, path);
      else if (name == "0.5b-t2.gguf")
        write_synthetic_gguf({"qwen2.5-coder-0.5b", "q4_k_m", 1, 2}, path);
      else if (name == "0.5b-seed2.gguf")
        write_synthetic_gguf({"qwen2.5-coder-0.5b", "q4_k_m", 2, 2}, path);
      else
        throw std::invalid_argument("no synthetic test file " + name);
      double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      std::printf("synthesized %s in %.2f s\n", name.c_str(), secs);
      if (name == "1.5b.gguf") seconds_1_5b_ = secs;
    }
    return path;
  }
  static TempDir* dir_;
  static double seconds_1_5b_;
};
TempDir* SyntheticFiles::dir_ = nullptr;
double SyntheticFiles::seconds_1_5b_ = 0;

TEST_F(SyntheticFiles, TensorsEqualTheMeasuredTables) {
  auto tables = load_mix_tables();
  for (auto [file, model] :
       {std::pair{"1.5b.gguf", "qwen2.5-coder-1.5b"}, {"0.5b-t1.gguf", "qwen2.5-coder-0.5b"}}) {
    SCOPED_TRACE(file);
    auto f = GgufFile::open(synthesized(file));
    std::vector<SynthTensor> in_file;
    for (const auto& t : f->tensors()) in_file.push_back({t.name, t.type, t.ne});
    expect_plan_matches(in_file, tables[model]);
    EXPECT_EQ(f->tensors().front().name, "token_embd.weight");
    EXPECT_EQ(f->tensors().back().name, "output_norm.weight");
  }
}

TEST_F(SyntheticFiles, LoadsAsTheModelItClaims) {
  Qwen2Model m = load_qwen2(synthesized("1.5b.gguf"));
  const GgufFile& f = *m.file;
  EXPECT_TRUE(m.synthetic);
  EXPECT_EQ(m.dims.n_embd, 1536);
  EXPECT_EQ(m.dims.n_ff, 8960);
  EXPECT_EQ(m.dims.n_layer, 28);
  EXPECT_EQ(m.dims.n_head, 12);
  EXPECT_EQ(m.dims.n_head_kv, 2);
  EXPECT_EQ(m.dims.head_dim, 128);
  EXPECT_EQ(m.dims.n_vocab, 151936);
  EXPECT_EQ(m.dims.n_ctx_max, 32768);
  EXPECT_EQ(m.dims.tied_embeddings, 1);
  EXPECT_NEAR(m.dims.rms_eps, 1e-6, 1e-12);
  EXPECT_DOUBLE_EQ(m.dims.rope_theta, 1e6);
  EXPECT_EQ(f.get_string("general.architecture"), "qwen2");
  EXPECT_EQ(f.get_int("general.file_type"), 15);
  EXPECT_EQ(f.get_int("general.quantization_version"), 2);
  EXPECT_EQ(f.get_string("tokenizer.ggml.model"), "none");
  EXPECT_EQ(f.get_int("qwen2.vocab_size"), 151936);
  EXPECT_TRUE(f.get_bool("brickbench.synthetic"));
  EXPECT_EQ(f.get_int("brickbench.seed"), 1);
  EXPECT_EQ(f.get_string("brickbench.synth_model"), "qwen2.5-coder-1.5b");

  uint64_t weight_bytes = 0;
  for (const auto& t : f.tensors()) weight_bytes += t.nbytes;
  const double mib = static_cast<double>(weight_bytes) / (1024.0 * 1024.0);
  EXPECT_NEAR(mib, 934.7, 934.7 * 0.01);
  EXPECT_LT(seconds_1_5b_, 60.0);
}

TEST_F(SyntheticFiles, ReadsBackWhatTheWriterWrote) {
  auto f = GgufFile::open(synthesized("1.5b.gguf"));
  for (const char* name :
       {"token_embd.weight", "blk.0.attn_k.bias", "blk.0.attn_v.weight", "blk.4.attn_v.weight",
        "blk.13.ffn_up.weight", "blk.27.ffn_down.weight", "output_norm.weight"}) {
    SCOPED_TRACE(name);
    const GgufTensorInfo* t = f->find_tensor(name);
    ASSERT_NE(t, nullptr);
    std::vector<uint8_t> expected(t->nbytes);
    fill_synthetic_tensor({t->name, t->type, t->ne}, 1, expected.data(), 3);  // another thread count
    EXPECT_EQ(std::memcmp(expected.data(), t->data, t->nbytes), 0);
  }
}

TEST_F(SyntheticFiles, BlocksAreValid) {
  for (const char* file : {"1.5b.gguf", "0.5b-t1.gguf"}) {
    auto f = GgufFile::open(synthesized(file));
    for (const auto& t : f->tensors()) expect_valid_blocks(t);
    // Norm weights around 1.
    const GgufTensorInfo* norm = f->find_tensor("blk.0.attn_norm.weight");
    ASSERT_NE(norm, nullptr);
    for (int64_t i = 0; i < norm->ne[0]; ++i) {
      float v;
      std::memcpy(&v, norm->data + 4 * i, 4);
      EXPECT_GE(v, 0.9f);
      EXPECT_LE(v, 1.1f);
    }
  }
}

TEST_F(SyntheticFiles, SameSeedSameBytesOtherSeedOtherBytes) {
  auto a = GgufFile::open(synthesized("0.5b-t1.gguf"));
  auto b = GgufFile::open(synthesized("0.5b-t2.gguf"));
  auto c = GgufFile::open(synthesized("0.5b-seed2.gguf"));
  ASSERT_EQ(a->file_size(), b->file_size());
  ASSERT_EQ(a->tensors().size(), c->tensors().size());
  // Whole files equal whatever the thread count.
  EXPECT_TRUE(same_file_bytes(a->path(), b->path()));
  for (size_t i = 0; i < a->tensors().size(); ++i) {
    const auto& ta = a->tensors()[i];
    const auto& tc = c->tensors()[i];
    SCOPED_TRACE(ta.name);
    if (i % 7 == 0) {
      EXPECT_EQ(tensor_hash(ta), tensor_hash(b->tensors()[i]));
    }
    EXPECT_NE(tensor_hash(ta), tensor_hash(tc));
  }
  EXPECT_EQ(c->get_int("brickbench.seed"), 2);
}

TEST(SyntheticFill, FloatTypesAreFiniteAndSpread) {
  SynthTensor f16{"blk.0.ffn_up.weight", BB_TYPE_F16, {256, 8}};
  std::vector<uint8_t> bytes(256 * 8 * 2);
  fill_synthetic_tensor(f16, 5, bytes.data());
  double sum2 = 0;
  for (size_t i = 0; i < bytes.size() / 2; ++i) {
    float v = f16_to_f32(u16_at(bytes.data() + 2 * i));
    ASSERT_TRUE(std::isfinite(v));
    sum2 += static_cast<double>(v) * v;
  }
  double std = std::sqrt(sum2 / (256 * 8));
  EXPECT_GT(std, 0.02);
  EXPECT_LT(std, 0.05);
}

TEST(SyntheticCache, SynthesizesOnceReusesAndRepairs) {
  TempDir dir;
  const char* old = std::getenv("BRICKBENCH_CACHE_DIR");
  std::string saved = old ? old : "";
  ::setenv("BRICKBENCH_CACHE_DIR", dir.path().c_str(), 1);
  EXPECT_EQ(cache_dir(), dir.path());
  SynthOptions o{"0.5b", "q4_k_m", 7, 2};
  std::string path = ensure_synthetic_model(o);
  EXPECT_EQ(path, dir.path() + "/models/qwen2.5-coder-0.5b.q4_k_m.seed7.gguf");
  ASSERT_TRUE(std::filesystem::exists(path));
  const auto size = std::filesystem::file_size(path);
  struct stat st1 {};
  ::stat(path.c_str(), &st1);

  EXPECT_EQ(ensure_synthetic_model(o), path);  // reused: same inode, not rewritten
  struct stat st2 {};
  ::stat(path.c_str(), &st2);
  EXPECT_EQ(st1.st_ino, st2.st_ino);

  std::filesystem::resize_file(path, size / 2);  // a cached file that no longer parses
  EXPECT_EQ(ensure_synthetic_model(o), path);
  EXPECT_EQ(std::filesystem::file_size(path), size);
  EXPECT_NO_THROW(load_qwen2(path));

  if (old)
    ::setenv("BRICKBENCH_CACHE_DIR", saved.c_str(), 1);
  else
    ::unsetenv("BRICKBENCH_CACHE_DIR");
}

}  // namespace
}  // namespace bb::model
