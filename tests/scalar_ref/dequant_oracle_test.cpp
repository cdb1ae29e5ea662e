// scalar_ref's dequantization against ggml's own output (tests/data/oracle): every tensor listed in
// dequant_index.json, every row, bit for bit.
#include <gtest/gtest.h>
#include <rapidjson/document.h>

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "dequant.h"
#include "model/gguf.h"

namespace bb::scalar_ref {
namespace {

const std::string kOracleDir = std::string(BRICKBENCH_TEST_DATA_DIR) + "/oracle";

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot open " + path);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

struct OracleEntry {
  std::string gguf, tensor, type, values_file;
  std::vector<int64_t> shape_ne;
  int64_t count = 0;
};

std::vector<OracleEntry> load_index() {
  const std::string text = read_file(kOracleDir + "/dequant_index.json");
  rapidjson::Document doc;
  doc.Parse(text.c_str(), text.size());
  if (doc.HasParseError() || !doc.IsArray()) throw std::runtime_error("dequant_index.json: not a JSON array");
  std::vector<OracleEntry> entries;
  for (const auto& e : doc.GetArray()) {
    OracleEntry o;
    o.gguf = e["gguf"].GetString();
    o.tensor = e["tensor"].GetString();
    o.type = e["type"].GetString();
    o.values_file = e["values_file"].GetString();
    for (const auto& n : e["shape_ne"].GetArray()) o.shape_ne.push_back(n.GetInt64());
    o.count = e["count"].GetInt64();
    entries.push_back(std::move(o));
  }
  return entries;
}

void PrintTo(const OracleEntry& e, std::ostream* os) {
  *os << e.gguf << ":" << e.tensor << " (" << e.type << ")";
}

class ScalarRefDequantOracle : public ::testing::TestWithParam<OracleEntry> {};

TEST_P(ScalarRefDequantOracle, BitExactAgainstGgml) {
  const OracleEntry& o = GetParam();
  const auto file = model::GgufFile::open(kOracleDir + "/" + o.gguf);
  const model::GgufTensorInfo* t = file->find_tensor(o.tensor);
  ASSERT_NE(t, nullptr) << o.gguf << " has no tensor " << o.tensor;
  ASSERT_EQ(type_name(t->type), o.type) << o.gguf << ":" << o.tensor;
  ASSERT_EQ(t->ne, o.shape_ne);
  ASSERT_NE(t->data, nullptr);

  const int64_t row_len = t->ne[0];
  const int64_t rows = t->n_elements() / row_len;
  ASSERT_EQ(rows * row_len, o.count);
  const auto rb = row_bytes(t->type, row_len);
  ASSERT_TRUE(rb.has_value());
  ASSERT_EQ(*rb * static_cast<uint64_t>(rows), t->nbytes);

  const std::string expected_bytes = read_file(kOracleDir + "/" + o.values_file);
  ASSERT_EQ(expected_bytes.size(), static_cast<size_t>(o.count) * 4) << o.values_file;
  std::vector<float> expected(static_cast<size_t>(o.count));
  std::memcpy(expected.data(), expected_bytes.data(), expected_bytes.size());

  std::vector<float> got(static_cast<size_t>(o.count));
  for (int64_t r = 0; r < rows; ++r) {
    dequantize_row(t->type, t->data + static_cast<uint64_t>(r) * *rb, got.data() + r * row_len, row_len);
  }
  for (size_t i = 0; i < got.size(); ++i) {
    if (std::memcmp(&got[i], &expected[i], 4) != 0) {
      uint32_t gb, eb;
      std::memcpy(&gb, &got[i], 4);
      std::memcpy(&eb, &expected[i], 4);
      char buf[160];
      std::snprintf(
          buf, sizeof(buf), "first mismatch at %zu (row %zu, col %zu): got %.9g (0x%08x), ggml %.9g (0x%08x)",
          i, i / static_cast<size_t>(row_len), i % static_cast<size_t>(row_len), got[i], gb, expected[i], eb);
      FAIL() << o.gguf << ":" << o.tensor << " (" << o.type << "): " << buf;
    }
  }
}

std::string entry_name(const ::testing::TestParamInfo<OracleEntry>& info) {
  std::string n = info.param.gguf + "_" + info.param.tensor;
  for (char& c : n) {
    if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
  }
  return n;
}

INSTANTIATE_TEST_SUITE_P(Oracle, ScalarRefDequantOracle, ::testing::ValuesIn(load_index()), entry_name);

TEST(ScalarRefDequantOracleIndex, CoversEveryQuantTypeOfTheOracle) {
  std::vector<std::string> types;
  for (const auto& e : load_index()) types.push_back(e.type);
  for (const char* t : {"Q8_0", "Q5_0", "Q4_0", "Q4_K", "Q6_K"}) {
    EXPECT_NE(std::find(types.begin(), types.end(), t), types.end()) << t;
  }
}

}  // namespace
}  // namespace bb::scalar_ref
