// The GGUF reader and writer: every oracle file parses, metadata round-trips through the writer,
// and truncated or corrupted files are GgufErrors naming the file, never crashes.
#include "model/gguf.h"

#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <functional>

#include "model/ggml_types.h"
#include "model_test_util.h"
#include "test_util.h"

namespace bb::model {
namespace {

using test::TempDir;

// Offsets of the fields of a GGUF file, found by a walker written independently of the reader.
struct FieldOffsets {
  std::vector<uint64_t> key_len, value_type, string_len, array_elem_type, array_count;
  std::vector<uint64_t> name_len, n_dims, ne0, ne1, type, offset;
  std::vector<std::pair<std::string, uint64_t>> value_at;  // key -> offset of its value
  uint64_t kv_end = 0, infos_end = 0, data_start = 0, last_tensor_end = 0;
};

FieldOffsets walk(const std::vector<uint8_t>& b) {
  FieldOffsets f;
  uint64_t p = 24;
  auto u32 = [&](uint64_t at) {
    uint32_t v;
    std::memcpy(&v, &b.at(at + 3) - 3, 4);
    return v;
  };
  auto u64 = [&](uint64_t at) {
    uint64_t v;
    std::memcpy(&v, &b.at(at + 7) - 7, 8);
    return v;
  };
  const uint64_t n_tensors = u64(8), n_kv = u64(16);
  std::function<void(uint32_t)> value = [&](uint32_t t) {
    static const int kSize[] = {1, 1, 2, 2, 4, 4, 4, 1, 0, 0, 8, 8, 8};
    if (t == 8) {
      f.string_len.push_back(p);
      p += 8 + u64(p);
    } else if (t == 9) {
      f.array_elem_type.push_back(p);
      uint32_t et = u32(p);
      f.array_count.push_back(p + 4);
      uint64_t n = u64(p + 4);
      p += 12;
      for (uint64_t i = 0; i < n; ++i) value(et);
    } else {
      p += kSize[t];
    }
  };
  for (uint64_t i = 0; i < n_kv; ++i) {
    f.key_len.push_back(p);
    std::string key(reinterpret_cast<const char*>(&b.at(p + 8)), u64(p));
    p += 8 + u64(p);
    f.value_type.push_back(p);
    uint32_t t = u32(p);
    p += 4;
    f.value_at.emplace_back(key, p);
    value(t);
  }
  f.kv_end = p;
  uint64_t max_end = 0;
  std::vector<uint64_t> ends;
  for (uint64_t i = 0; i < n_tensors; ++i) {
    f.name_len.push_back(p);
    p += 8 + u64(p);
    f.n_dims.push_back(p);
    uint32_t nd = u32(p);
    p += 4;
    f.ne0.push_back(p);
    f.ne1.push_back(nd > 1 ? p + 8 : 0);
    int64_t ne[4] = {1, 1, 1, 1};
    for (uint32_t d = 0; d < nd; ++d) ne[d] = static_cast<int64_t>(u64(p + 8 * d));
    p += 8 * nd;
    f.type.push_back(p);
    int32_t type = static_cast<int32_t>(u32(p));
    p += 4;
    f.offset.push_back(p);
    uint64_t off = u64(p);
    p += 8;
    uint64_t bytes = *ggml_row_bytes(type, ne[0]) * static_cast<uint64_t>(ne[1] * ne[2] * ne[3]);
    max_end = std::max(max_end, off + bytes);
  }
  f.infos_end = p;
  f.data_start = (p + 31) / 32 * 32;
  f.last_tensor_end = f.data_start + max_end;
  return f;
}

template <class T>
void patch(std::vector<uint8_t>& b, uint64_t at, T v) {
  ASSERT_LE(at + sizeof(T), b.size());
  std::memcpy(b.data() + at, &v, sizeof(T));
}

// Opens `path` and expects a GgufError whose message names the file (and `must_contain`).
void expect_gguf_error(const std::string& path, const std::string& must_contain = "") {
  try {
    GgufFile::open(path);
    ADD_FAILURE() << path << ": opened without an error";
  } catch (const GgufError& e) {
    std::string m = e.what();
    EXPECT_NE(m.find(path), std::string::npos) << "message does not name the file: " << m;
    if (!must_contain.empty()) {
      EXPECT_NE(m.find(must_contain), std::string::npos) << m;
    }
  }
}

std::vector<std::string> oracle_gguf_files() {
  std::vector<std::string> files;
  for (const auto& e : std::filesystem::directory_iterator(test::oracle_path("")))
    if (e.path().extension() == ".gguf") files.push_back(e.path().string());
  std::sort(files.begin(), files.end());
  return files;
}

// A small file with every kind of metadata the corruption tests reach into.
void write_fixture(const std::string& path) {
  GgufWriter w;
  w.add("general.architecture", GgufValue::of_string("qwen2"));
  w.add("general.alignment", GgufValue::of(uint32_t{64}));
  w.add("test.strings",
        GgufValue::of_array(GgufValueType::STRING, {GgufValue::of_string("a"), GgufValue::of_string("bb"),
                                                    GgufValue::of_string("ccc")}));
  w.add("test.nested",
        GgufValue::of_array(GgufValueType::ARRAY,
                            {GgufValue::of_array(GgufValueType::I32, {GgufValue::of(1), GgufValue::of(2)}),
                             GgufValue::of_array(GgufValueType::I32, {GgufValue::of(3)})}));
  w.add_tensor("a", static_cast<int32_t>(GgmlType::F32), {8, 2}, [](uint8_t* d, uint64_t n) {
    for (uint64_t i = 0; i < n; ++i) d[i] = static_cast<uint8_t>(i);
  });
  w.add_tensor("b", static_cast<int32_t>(GgmlType::Q8_0), {64, 2},
               [](uint8_t* d, uint64_t n) { std::memset(d, 0x11, n); });
  w.write(path);
}

TEST(GgufReader, ParsesEveryOracleFile) {
  auto files = oracle_gguf_files();
  ASSERT_GE(files.size(), 10u);
  for (const auto& path : files) {
    SCOPED_TRACE(path);
    auto f = GgufFile::open(path);
    EXPECT_EQ(f->version(), 3u);
    EXPECT_EQ(f->alignment(), 32u);
    EXPECT_EQ(f->get_string("general.architecture"), "qwen2");
    ASSERT_GE(f->tensors().size(), 26u);
    for (const auto& t : f->tensors()) {
      EXPECT_EQ(t.offset % 32, 0u) << t.name;
      EXPECT_EQ(t.nbytes, *ggml_row_bytes(t.type, t.ne[0]) * static_cast<uint64_t>(t.n_elements() / t.ne[0]));
      ASSERT_NE(t.data, nullptr);
    }
    const auto& last = f->tensors().back();
    EXPECT_LE(static_cast<uint64_t>(last.data - f->tensors().front().data) + last.nbytes, f->file_size());
  }
}

// from_memory (the fuzz target's entry, fuzz/gguf_fuzz.cpp) reads what open() reads, in place, and
// names the buffer as it was told in its errors.
TEST(GgufReader, FromMemoryMatchesOpenAndNamesItsBuffer) {
  const std::string path = test::oracle_path("tiny-b-q4_k_m.gguf");
  const auto bytes = test::read_bytes(path);
  auto a = GgufFile::open(path);
  auto b = GgufFile::from_memory(bytes.data(), bytes.size(), "in-memory.gguf");
  EXPECT_EQ(b->path(), "in-memory.gguf");
  EXPECT_EQ(b->metadata(), a->metadata());
  ASSERT_EQ(b->tensors().size(), a->tensors().size());
  for (size_t i = 0; i < a->tensors().size(); ++i) {
    const auto &x = a->tensors()[i], &y = b->tensors()[i];
    EXPECT_EQ(x.name, y.name);
    EXPECT_EQ(x.nbytes, y.nbytes);
    ASSERT_TRUE(y.data >= bytes.data() && y.data + y.nbytes <= bytes.data() + bytes.size())
        << x.name;  // in place
    EXPECT_EQ(std::memcmp(x.data, y.data, x.nbytes), 0) << x.name;
  }
  try {
    GgufFile::from_memory(bytes.data(), 100, "cut.gguf");
    FAIL() << "a 100-byte prefix parsed";
  } catch (const GgufError& e) {
    EXPECT_EQ(std::string(e.what()).rfind("cut.gguf: ", 0), 0u) << e.what();
  }
  EXPECT_THROW(GgufFile::from_memory(nullptr, 0, "empty"), GgufError);
}

TEST(GgufReader, AcceptsVersion2AndRejectsVersion1) {
  TempDir dir;
  auto bytes = test::read_bytes(test::oracle_path("tiny-a-f32.gguf"));
  patch<uint32_t>(bytes, 4, 2);
  test::write_bytes(dir.file("v2.gguf"), bytes);
  EXPECT_EQ(GgufFile::open(dir.file("v2.gguf"))->version(), 2u);

  patch<uint32_t>(bytes, 4, 1);
  test::write_bytes(dir.file("v1.gguf"), bytes);
  expect_gguf_error(dir.file("v1.gguf"), "version 1 is not supported");
  patch<uint32_t>(bytes, 4, 4);
  test::write_bytes(dir.file("v4.gguf"), bytes);
  expect_gguf_error(dir.file("v4.gguf"), "unsupported GGUF version 4");
}

TEST(GgufReader, RejectsMissingEmptyAndForeignFiles) {
  TempDir dir;
  expect_gguf_error(dir.file("absent.gguf"), "No such file");
  test::write_bytes(dir.file("empty.gguf"), {});
  expect_gguf_error(dir.file("empty.gguf"), "too small");
  test::write_bytes(dir.file("text.gguf"), {'h', 'e', 'l', 'l', 'o', '\n'});
  expect_gguf_error(dir.file("text.gguf"), "not a GGUF file");
  expect_gguf_error(dir.path(), "is a directory, not a file");
}

TEST(GgufReader, TruncationAt20OffsetsThrows) {
  TempDir dir;
  const auto bytes = test::read_bytes(test::oracle_path("tiny-b-q4_k_m.gguf"));
  const FieldOffsets f = walk(bytes);
  ASSERT_EQ(f.last_tensor_end, bytes.size());
  std::vector<uint64_t> cuts = {0, 3, 6, 12, 20};                                            // header
  for (int i = 1; i <= 5; ++i) cuts.push_back(24 + (f.kv_end - 24) * i / 6);                 // metadata
  for (int i = 1; i <= 5; ++i) cuts.push_back(f.kv_end + (f.infos_end - f.kv_end) * i / 6);  // tensor infos
  cuts.push_back(f.data_start);  // data: its start, inside it, one byte short of the end
  for (int i = 1; i <= 3; ++i) cuts.push_back(f.data_start + (bytes.size() - f.data_start) * i / 4);
  cuts.push_back(bytes.size() - 1);
  ASSERT_EQ(cuts.size(), 20u);
  for (uint64_t cut : cuts) {
    SCOPED_TRACE("truncated to " + std::to_string(cut) + " bytes");
    std::string path = dir.file("cut" + std::to_string(cut) + ".gguf");
    test::write_bytes(path, std::vector<uint8_t>(bytes.begin(), bytes.begin() + static_cast<int64_t>(cut)));
    expect_gguf_error(path);
  }
}

struct Corruption {
  std::string what;
  std::function<void(std::vector<uint8_t>&, const FieldOffsets&)> apply;
  std::string message_contains;
};

void run_corruptions(const std::string& source, const std::vector<Corruption>& cases) {
  TempDir dir;
  const auto original = test::read_bytes(source);
  const FieldOffsets f = walk(original);
  int i = 0;
  for (const auto& c : cases) {
    SCOPED_TRACE(c.what);
    auto bytes = original;
    c.apply(bytes, f);
    ASSERT_NE(bytes, original);
    std::string path = dir.file("corrupt" + std::to_string(i++) + ".gguf");
    test::write_bytes(path, bytes);
    expect_gguf_error(path, c.message_contains);
  }
}

constexpr uint64_t kHuge = ~uint64_t{0};

TEST(GgufReader, CorruptHeaderAndTensorFieldsThrow) {
  using B = std::vector<uint8_t>;
  using F = FieldOffsets;
  std::vector<Corruption> cases = {
      {"n_kv all ones", [](B& b, const F&) { patch<uint64_t>(b, 16, kHuge); }, "header.n_kv"},
      {"n_kv 2^40", [](B& b, const F&) { patch<uint64_t>(b, 16, uint64_t{1} << 40); }, "header.n_kv"},
      {"n_kv one too many", [](B& b, const F&) { patch<uint64_t>(b, 16, 15); }, ""},
      {"n_tensors all ones", [](B& b, const F&) { patch<uint64_t>(b, 8, kHuge); }, "header.n_tensors"},
      {"n_tensors 2^33", [](B& b, const F&) { patch<uint64_t>(b, 8, uint64_t{1} << 33); },
       "header.n_tensors"},
      {"key length huge", [](B& b, const F& f) { patch<uint64_t>(b, f.key_len[0], kHuge); }, "kv[0] key"},
      {"key length 2^40", [](B& b, const F& f) { patch<uint64_t>(b, f.key_len[5], uint64_t{1} << 40); },
       "kv[5] key"},
      {"string value length huge", [](B& b, const F& f) { patch<uint64_t>(b, f.string_len[0], kHuge); },
       "string length"},
      {"string value length = file size",
       [](B& b, const F& f) { patch<uint64_t>(b, f.string_len[1], b.size()); }, "general.name"},
      {"value type 13", [](B& b, const F& f) { patch<uint32_t>(b, f.value_type[0], 13); }, "value type"},
      {"value type all ones", [](B& b, const F& f) { patch<uint32_t>(b, f.value_type[2], 0xffffffffu); },
       "unknown GGUF value type"},
      {"tensor name length huge", [](B& b, const F& f) { patch<uint64_t>(b, f.name_len[2], kHuge); },
       "tensor[2] name"},
      {"n_dims 5", [](B& b, const F& f) { patch<uint32_t>(b, f.n_dims[1], 5); }, "n_dims"},
      {"n_dims 0", [](B& b, const F& f) { patch<uint32_t>(b, f.n_dims[1], 0); }, "n_dims"},
      {"n_dims all ones", [](B& b, const F& f) { patch<uint32_t>(b, f.n_dims[3], 0xffffffffu); }, "n_dims"},
      {"ne 0", [](B& b, const F& f) { patch<int64_t>(b, f.ne0[1], 0); }, "ne[0]"},
      {"ne -1", [](B& b, const F& f) { patch<int64_t>(b, f.ne0[1], -1); }, "ne[0]"},
      {"ne 2^62 (element count overflows)",
       [](B& b, const F& f) { patch<int64_t>(b, f.ne1[1], int64_t{1} << 62); }, "overflows"},
      {"ne 2^40 (data past the end)", [](B& b, const F& f) { patch<int64_t>(b, f.ne1[1], int64_t{1} << 40); },
       "past"},
      {"ne0 not whole blocks", [](B& b, const F& f) { patch<int64_t>(b, f.ne0[1], 250); }, "block size"},
      {"type id 99", [](B& b, const F& f) { patch<uint32_t>(b, f.type[1], 99); }, "unknown ggml type id 99"},
      {"type id 4 (removed Q4_2)", [](B& b, const F& f) { patch<uint32_t>(b, f.type[1], 4); }, "type"},
      {"type id all ones", [](B& b, const F& f) { patch<uint32_t>(b, f.type[0], 0xffffffffu); }, "type"},
      {"tensor offset huge aligned",
       [](B& b, const F& f) { patch<uint64_t>(b, f.offset[1], kHuge & ~uint64_t{31}); }, "past"},
      {"tensor offset 2^63", [](B& b, const F& f) { patch<uint64_t>(b, f.offset[4], uint64_t{1} << 63); },
       "past"},
      {"tensor offset unaligned",
       [](B& b, const F& f) {
         uint64_t off;
         std::memcpy(&off, b.data() + f.offset[3], 8);
         patch<uint64_t>(b, f.offset[3], off + 1);
       },
       "alignment"},
      {"last tensor offset just past the end",
       [](B& b, const F& f) {
         uint64_t off;
         std::memcpy(&off, b.data() + f.offset.back(), 8);
         patch<uint64_t>(b, f.offset.back(), off + 32);
       },
       "data"},
      {"bad magic", [](B& b, const F&) { b[0] = 'X'; }, "header.magic"},
      // Issue 14, defect 17: two tensors sharing bytes were accepted.
      {"tensor data overlapping the one before",
       [](B& b, const F& f) {
         uint64_t off;
         std::memcpy(&off, b.data() + f.offset[1], 8);
         patch<uint64_t>(b, f.offset[2], off);
       },
       "overlap tensor"},
  };
  run_corruptions(test::oracle_path("tiny-a-q4_k_m.gguf"), cases);
}

TEST(GgufReader, CorruptArraysAndAlignmentThrow) {
  TempDir dir;
  const std::string fixture = dir.file("fixture.gguf");
  write_fixture(fixture);
  ASSERT_NO_THROW(GgufFile::open(fixture));
  using B = std::vector<uint8_t>;
  using F = FieldOffsets;
  auto value_of = [](const F& f, const std::string& key) {
    for (const auto& [k, at] : f.value_at)
      if (k == key) return at;
    throw std::runtime_error("fixture lacks " + key);
  };
  std::vector<Corruption> cases = {
      {"array count huge", [](B& b, const F& f) { patch<uint64_t>(b, f.array_count[0], kHuge); }, "count"},
      {"array count 2^40", [](B& b, const F& f) { patch<uint64_t>(b, f.array_count[0], uint64_t{1} << 40); },
       "test.strings"},
      {"array count one too many", [](B& b, const F& f) { patch<uint64_t>(b, f.array_count[0], 4); }, ""},
      {"nested array count huge", [](B& b, const F& f) { patch<uint64_t>(b, f.array_count[2], kHuge / 2); },
       "test.nested"},
      {"array element type 13", [](B& b, const F& f) { patch<uint32_t>(b, f.array_elem_type[0], 13); },
       "element type"},
      {"nested element type all ones",
       [](B& b, const F& f) { patch<uint32_t>(b, f.array_elem_type[2], 0xffffffffu); }, "element type"},
      {"string item length huge", [](B& b, const F& f) { patch<uint64_t>(b, f.string_len[2], kHuge); },
       "test.strings'[1]"},
      {"general.alignment 3",
       [&](B& b, const F& f) { patch<uint32_t>(b, value_of(f, "general.alignment"), 3); }, "power of two"},
      {"general.alignment 0",
       [&](B& b, const F& f) { patch<uint32_t>(b, value_of(f, "general.alignment"), 0); }, "power of two"},
      {"general.alignment not U32",
       [&](B& b, const F& f) { patch<uint32_t>(b, value_of(f, "general.alignment") - 4, 5); }, "U32"},
  };
  run_corruptions(fixture, cases);
}

// Seeded random byte damage in the header, metadata and tensor infos: every damaged file either
// parses (the damage hit a value, not a structure) or throws GgufError; nothing else escapes.
TEST(GgufReader, RandomDamageIsParsedOrRejectedNeverCrashes) {
  TempDir dir;
  const auto original = test::read_bytes(test::oracle_path("tiny-b-q4_k_m.gguf"));
  const FieldOffsets f = walk(original);
  uint64_t state = 12345;
  auto next = [&] {  // splitmix64
    uint64_t z = (state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
  };
  int rejected = 0;
  const std::string path = dir.file("damaged.gguf");
  for (int round = 0; round < 300; ++round) {
    auto bytes = original;
    int n_flips = 1 + static_cast<int>(next() % 4);
    for (int k = 0; k < n_flips; ++k) {
      uint64_t at = next() % f.infos_end;
      bytes[at] = (next() & 1) ? static_cast<uint8_t>(next())
                               : static_cast<uint8_t>(bytes[at] ^ (1u << (next() % 8)));
    }
    test::write_bytes(path, bytes);
    try {
      auto g = GgufFile::open(path);
      for (const auto& t : g->tensors()) ASSERT_LE(t.nbytes, g->file_size());
    } catch (const GgufError& e) {
      ++rejected;
      ASSERT_NE(std::string(e.what()).find(path), std::string::npos) << e.what();
    }
  }
  EXPECT_GT(rejected, 50);
}

TEST(GgufReader, RejectsDeepNesting) {
  TempDir dir;
  GgufValue v = GgufValue::of_array(GgufValueType::I32, {GgufValue::of(7)});
  for (int i = 0; i < 12; ++i) v = GgufValue::of_array(GgufValueType::ARRAY, {v});
  GgufWriter w;
  w.add("test.deep", v);
  w.write(dir.file("deep.gguf"));
  expect_gguf_error(dir.file("deep.gguf"), "nested");
}

TEST(GgufWriter, RoundTripsEveryValueType) {
  using T = GgufValueType;
  auto arr = [](T et, std::vector<GgufValue> items) { return GgufValue::of_array(et, std::move(items)); };
  std::vector<std::pair<std::string, GgufValue>> kv = {
      {"t.u8", GgufValue::of(uint8_t{200})},
      {"t.i8", GgufValue::of(int8_t{-100})},
      {"t.u16", GgufValue::of(uint16_t{60000})},
      {"t.i16", GgufValue::of(int16_t{-30000})},
      {"t.u32", GgufValue::of(uint32_t{4000000000u})},
      {"t.i32", GgufValue::of(int32_t{-2000000000})},
      {"t.f32", GgufValue::of(3.25f)},
      {"t.bool_true", GgufValue::of(true)},
      {"t.bool_false", GgufValue::of(false)},
      {"t.string", GgufValue::of_string("h\xc3\xa9llo\nworld \"quoted\"")},
      {"t.empty_string", GgufValue::of_string("")},
      {"t.u64", GgufValue::of((uint64_t{1} << 63) + 5)},
      {"t.i64", GgufValue::of(-(int64_t{1} << 62))},
      {"t.f64", GgufValue::of(-1.5e300)},
      {"a.u8", arr(T::U8, {GgufValue::of(uint8_t{1}), GgufValue::of(uint8_t{255})})},
      {"a.i8", arr(T::I8, {GgufValue::of(int8_t{-1}), GgufValue::of(int8_t{127})})},
      {"a.u16", arr(T::U16, {GgufValue::of(uint16_t{1})})},
      {"a.i16", arr(T::I16, {GgufValue::of(int16_t{-2}), GgufValue::of(int16_t{3})})},
      {"a.u32",
       arr(T::U32, {GgufValue::of(uint32_t{7}), GgufValue::of(uint32_t{8}), GgufValue::of(uint32_t{9})})},
      {"a.i32", arr(T::I32, {GgufValue::of(-5)})},
      {"a.f32", arr(T::F32, {GgufValue::of(0.5f), GgufValue::of(-0.0f), GgufValue::of(1e-30f)})},
      {"a.bool", arr(T::BOOL, {GgufValue::of(true), GgufValue::of(false)})},
      {"a.string", arr(T::STRING, {GgufValue::of_string("a"), GgufValue::of_string(""),
                                   GgufValue::of_string(std::string(1000, 'x'))})},
      {"a.u64", arr(T::U64, {GgufValue::of(~uint64_t{0})})},
      {"a.i64", arr(T::I64, {GgufValue::of(int64_t{-1}), GgufValue::of(int64_t{1})})},
      {"a.f64", arr(T::F64, {GgufValue::of(2.5), GgufValue::of(1e-300)})},
      {"a.empty", arr(T::I32, {})},
      {"a.nested_i32", arr(T::ARRAY, {arr(T::I32, {GgufValue::of(1), GgufValue::of(2)}), arr(T::I32, {})})},
      {"a.nested_string",
       arr(T::ARRAY, {arr(T::STRING, {GgufValue::of_string("x")}),
                      arr(T::STRING, {GgufValue::of_string("y"), GgufValue::of_string("z")})})},
      {"a.nested3", arr(T::ARRAY, {arr(T::ARRAY, {arr(T::F64, {GgufValue::of(1.0)})})})},
      {"general.alignment", GgufValue::of(uint32_t{64})},
  };
  TempDir dir;
  GgufWriter w;
  for (const auto& [k, v] : kv) w.add(k, v);
  std::vector<uint8_t> q8(34 * 4);
  for (size_t i = 0; i < q8.size(); ++i) q8[i] = static_cast<uint8_t>(i * 7);
  w.add_tensor("x.f32", static_cast<int32_t>(GgmlType::F32), {3},
               [](uint8_t* d, uint64_t n) { std::memset(d, 0xab, n); });
  w.add_tensor("x.q8", static_cast<int32_t>(GgmlType::Q8_0), {64, 2},
               [&](uint8_t* d, uint64_t n) { std::memcpy(d, q8.data(), n); });
  const std::string path = dir.file("roundtrip.gguf");
  w.write(path);
  EXPECT_FALSE(std::filesystem::exists(path + ".tmp"));

  auto f = GgufFile::open(path);
  EXPECT_EQ(f->version(), 3u);
  EXPECT_EQ(f->alignment(), 64u);
  ASSERT_EQ(f->metadata().size(), kv.size());
  for (size_t i = 0; i < kv.size(); ++i) {
    EXPECT_EQ(f->metadata()[i].first, kv[i].first);
    EXPECT_TRUE(f->metadata()[i].second == kv[i].second)
        << kv[i].first << ": wrote " << kv[i].second.to_string() << ", read "
        << f->metadata()[i].second.to_string();
  }
  ASSERT_EQ(f->tensors().size(), 2u);
  const auto& a = f->tensors()[0];
  const auto& b = f->tensors()[1];
  EXPECT_EQ(a.name, "x.f32");
  EXPECT_EQ(a.nbytes, 12u);
  EXPECT_EQ(b.ne, (std::vector<int64_t>{64, 2}));
  EXPECT_EQ(b.offset % 64, 0u);
  EXPECT_EQ(b.offset, 64u);  // the 12-byte tensor padded to the alignment
  for (int i = 0; i < 12; ++i) EXPECT_EQ(a.data[i], 0xab);
  EXPECT_EQ(std::memcmp(b.data, q8.data(), q8.size()), 0);
  EXPECT_EQ(f->file_size() % 64, 0u);  // every tensor, the last included, is padded to the alignment

  EXPECT_EQ(f->get_int("t.u32"), 4000000000);
  EXPECT_EQ(f->get_int("t.i8"), -100);
  EXPECT_DOUBLE_EQ(f->get_float("t.f32"), 3.25);
  EXPECT_DOUBLE_EQ(f->get_float("t.u16"), 60000.0);
  EXPECT_EQ(f->get_string("t.string"), "h\xc3\xa9llo\nworld \"quoted\"");
  EXPECT_TRUE(f->get_bool("t.bool_true"));
  EXPECT_FALSE(f->get_int_opt("absent.key").has_value());
  EXPECT_THROW(f->get_int("t.u64"), GgufError);  // 2^63 + 5 does not fit int64
  try {
    f->get_string("t.u8");
    ADD_FAILURE() << "a U8 read as a string";
  } catch (const GgufError& e) {
    EXPECT_NE(std::string(e.what()).find(path + ": metadata t.u8: is U8, expected STRING"), std::string::npos)
        << e.what();
  }
  EXPECT_THROW(f->get_float("missing.key"), GgufError);
  EXPECT_EQ(f->find("a.string")->to_string(2), "[\"a\", \"\", ...] (3 STRING)");
}

// Issue 14, defect 15: names from a GGUF reached messages and the terminal raw: a NUL cut the
// message, ESC bytes drove the terminal. They are shown as \xNN.
TEST(GgufReader, NamesFromTheFileAreEscapedInMessagesAndListings) {
  EXPECT_EQ(printable(std::string("a\x1b[2Jb\0c\x7f\xc3\xa9", 11)), "a\\x1b[2Jb\\x00c\\x7f\xc3\xa9");
  EXPECT_STREQ(GgufError(std::string("tensor 'x\0y\x1b'", 13)).what(), "tensor 'x\\x00y\\x1b'");

  TempDir dir;
  GgufWriter w;
  w.add("general.architecture", GgufValue::of_string(std::string("qw\0en\x1b]0;pwned\x07", 15)));
  w.add(std::string("evil\x1b[31m.key", 13), GgufValue::of_string("\x1b[2J\x1b[H"));
  w.add_tensor(std::string("t\x1b[1m\0.weight", 13), static_cast<int32_t>(GgmlType::F32), {4},
               [](uint8_t* d, uint64_t n) { std::memset(d, 0, n); });
  const std::string path = dir.file("evil.gguf");
  w.write(path);
  auto r = bb::test::run_bench("inspect " + path + " --tensors");
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out.find('\x1b'), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find('\0'), std::string::npos);
  EXPECT_EQ(r.out.find('\x07'), std::string::npos);
  EXPECT_NE(r.out.find("evil\\x1b[31m.key"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("t\\x1b[1m\\x00.weight"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("qw\\x00en\\x1b]0;pwned\\x07"), std::string::npos) << r.out;
}

TEST(GgufWriter, RejectsBadTensorsAndMixedArrays) {
  GgufWriter w;
  auto none = [](uint8_t*, uint64_t) {};
  EXPECT_THROW(w.add_tensor("q", static_cast<int32_t>(GgmlType::Q4_K), {100, 2}, none), GgufError);
  EXPECT_THROW(w.add_tensor("z", static_cast<int32_t>(GgmlType::F32), {0}, none), GgufError);
  EXPECT_THROW(w.add_tensor("t", 99, {4}, none), GgufError);
  w.add_tensor("ok", static_cast<int32_t>(GgmlType::F32), {4}, none);
  EXPECT_THROW(w.add_tensor("ok", static_cast<int32_t>(GgmlType::F32), {4}, none), GgufError);
  w.add("mixed", GgufValue::of_array(GgufValueType::I32, {GgufValue::of(1), GgufValue::of_string("x")}));
  TempDir dir;
  EXPECT_THROW(w.write(dir.file("mixed.gguf")), GgufError);
  EXPECT_FALSE(std::filesystem::exists(dir.file("mixed.gguf")));
  EXPECT_TRUE(std::filesystem::is_empty(dir.path()));  // the temp file was removed
}

}  // namespace
}  // namespace bb::model
