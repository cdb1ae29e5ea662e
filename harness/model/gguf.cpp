#include "model/gguf.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstdio>
#include <cstring>
#include <limits>
#include <set>
#include <type_traits>
#include <unordered_set>

#include "io/input_file.h"
#include "model/ggml_types.h"

namespace bb::model {
namespace {

constexpr uint32_t kGgufMagic = 0x46554747;  // "GGUF" read as a little-endian u32
constexpr uint64_t kDefaultAlignment = 32;
constexpr int kMaxArrayNesting = 8;
// All metadata array items of one file together. The largest real vocabularies (256k tokens,
// 3 arrays, plus merges) stay far below; a count beyond it is corruption, and honouring it would
// allocate tens of bytes per item.
constexpr uint64_t kMaxMetadataItems = uint64_t{1} << 23;

const char* value_type_name(uint32_t t) {
  static const char* const kNames[] = {"U8",   "I8",     "U16",   "I16", "U32", "I32", "F32",
                                       "BOOL", "STRING", "ARRAY", "U64", "I64", "F64"};
  return t < std::size(kNames) ? kNames[t] : "unknown";
}

bool is_valid_value_type(uint32_t t) { return t <= static_cast<uint32_t>(GgufValueType::F64); }

// Bytes one item of a type takes at least (arrays: their element type and count).
uint64_t min_item_bytes(GgufValueType t) {
  switch (t) {
    case GgufValueType::U8:
    case GgufValueType::I8:
    case GgufValueType::BOOL:
      return 1;
    case GgufValueType::U16:
    case GgufValueType::I16:
      return 2;
    case GgufValueType::U32:
    case GgufValueType::I32:
    case GgufValueType::F32:
      return 4;
    case GgufValueType::U64:
    case GgufValueType::I64:
    case GgufValueType::F64:
      return 8;
    case GgufValueType::STRING:
      return 8;
    case GgufValueType::ARRAY:
      return 12;
  }
  return 1;
}

uint64_t align_up(uint64_t x, uint64_t a) { return (x + a - 1) / a * a; }

bool mul_overflows(uint64_t a, uint64_t b, uint64_t* out) { return __builtin_mul_overflow(a, b, out); }

// A bounds-checked read position in the mapping. Field descriptions are built only on failure.
class Cursor {
 public:
  Cursor(const std::string& path, const uint8_t* data, uint64_t size)
      : path_(path), data_(data), size_(size) {}

  uint64_t pos() const { return pos_; }
  uint64_t remaining() const { return size_ - pos_; }

  [[noreturn]] void fail(const std::string& field, const std::string& what) const {
    throw GgufError(path_ + ": " + field + ": " + what);
  }

  template <class Field>
  void need(uint64_t n, const Field& field) const {
    if (n > remaining())
      fail(field(), "needs " + std::to_string(n) + " bytes at offset " + std::to_string(pos_) +
                        " but the file has " + std::to_string(remaining()) +
                        " left (truncated or corrupt file)");
  }

  template <class T, class Field>
  T read(const Field& field) {
    static_assert(std::is_trivially_copyable_v<T>);
    need(sizeof(T), field);
    T v;
    std::memcpy(&v, data_ + pos_, sizeof(T));
    pos_ += sizeof(T);
    return v;
  }

  template <class Field>
  std::string read_string(const Field& field) {
    auto len = read<uint64_t>([&] { return field() + " length"; });
    if (len > remaining())
      fail(field(), "string length " + std::to_string(len) + " exceeds the " + std::to_string(remaining()) +
                        " bytes left in the file (truncated or corrupt file)");
    std::string s(reinterpret_cast<const char*>(data_ + pos_), static_cast<size_t>(len));
    pos_ += len;
    return s;
  }

 private:
  const std::string& path_;
  const uint8_t* data_;
  uint64_t size_;
  uint64_t pos_ = 0;
};

class MetadataParser {
 public:
  explicit MetadataParser(Cursor& c) : c_(c) {}

  // Field descriptions are type-erased here: the parser recurses into nested arrays.
  using Field = std::function<std::string()>;

  GgufValue read_value(GgufValueType type, int depth, const Field& field) {
    GgufValue v;
    v.type = type;
    switch (type) {
      case GgufValueType::U8:
        v.scalar = c_.read<uint8_t>(field);
        break;
      case GgufValueType::I8:
        v.scalar = c_.read<int8_t>(field);
        break;
      case GgufValueType::U16:
        v.scalar = c_.read<uint16_t>(field);
        break;
      case GgufValueType::I16:
        v.scalar = c_.read<int16_t>(field);
        break;
      case GgufValueType::U32:
        v.scalar = c_.read<uint32_t>(field);
        break;
      case GgufValueType::I32:
        v.scalar = c_.read<int32_t>(field);
        break;
      case GgufValueType::F32:
        v.scalar = c_.read<float>(field);
        break;
      case GgufValueType::BOOL: {
        auto b = c_.read<uint8_t>(field);
        if (b > 1) c_.fail(field(), "bool value " + std::to_string(b) + " is neither 0 nor 1 (corrupt file)");
        v.scalar = b != 0;
        break;
      }
      case GgufValueType::STRING:
        v.scalar = c_.read_string(field);
        break;
      case GgufValueType::U64:
        v.scalar = c_.read<uint64_t>(field);
        break;
      case GgufValueType::I64:
        v.scalar = c_.read<int64_t>(field);
        break;
      case GgufValueType::F64:
        v.scalar = c_.read<double>(field);
        break;
      case GgufValueType::ARRAY:
        v.array = read_array(depth + 1, field);
        break;
    }
    return v;
  }

 private:
  std::shared_ptr<GgufArray> read_array(int depth, const Field& field) {
    if (depth > kMaxArrayNesting)
      c_.fail(field(),
              "arrays nested more than " + std::to_string(kMaxArrayNesting) + " deep (corrupt file)");
    auto et = c_.read<uint32_t>([&] { return field() + " element type"; });
    if (!is_valid_value_type(et))
      c_.fail(field() + " element type", "unknown GGUF value type " + std::to_string(et) + " (known: 0..12)");
    auto count = c_.read<uint64_t>([&] { return field() + " count"; });
    auto arr = std::make_shared<GgufArray>();
    arr->element_type = static_cast<GgufValueType>(et);
    uint64_t min_bytes = min_item_bytes(arr->element_type);
    if (count > c_.remaining() / min_bytes)
      c_.fail(field() + " count", "array of " + std::to_string(count) + " " + value_type_name(et) +
                                      " items cannot fit in the " + std::to_string(c_.remaining()) +
                                      " bytes left in the file (truncated or corrupt file)");
    items_ += count;
    if (items_ > kMaxMetadataItems)
      c_.fail(field() + " count", "metadata arrays hold more than " + std::to_string(kMaxMetadataItems) +
                                      " items in all; no model's metadata is that large (corrupt count?)");
    arr->items.reserve(static_cast<size_t>(count));
    for (uint64_t i = 0; i < count; ++i)
      arr->items.push_back(read_value(arr->element_type, depth,
                                      Field([&] { return field() + "[" + std::to_string(i) + "]"; })));
    return arr;
  }

  Cursor& c_;
  uint64_t items_ = 0;
};

template <class T>
std::string format_number(T v) {
  char buf[64];
  auto r = std::to_chars(buf, buf + sizeof(buf), v);
  return std::string(buf, r.ptr);
}

std::string quote(const std::string& s, size_t max_chars) {
  std::string out = "\"";
  size_t n = 0;
  for (unsigned char ch : s) {
    if (n++ == max_chars) {
      out += "...";
      break;
    }
    if (ch == '"' || ch == '\\') {
      out += '\\';
      out += static_cast<char>(ch);
    } else if (ch < 0x20 || ch == 0x7f) {
      char buf[8];
      std::snprintf(buf, sizeof(buf), "\\x%02x", ch);
      out += buf;
    } else {
      out += static_cast<char>(ch);
    }
  }
  out += "\"";
  return out;
}

// Integer value of any width as int64, or nullopt (not an integer or does not fit).
std::optional<int64_t> as_int64(const GgufValue& v) {
  if (v.type == GgufValueType::ARRAY) return std::nullopt;
  return std::visit(
      [](const auto& x) -> std::optional<int64_t> {
        using T = std::decay_t<decltype(x)>;
        if constexpr (std::is_same_v<T, bool> || std::is_floating_point_v<T> ||
                      std::is_same_v<T, std::string>) {
          return std::nullopt;
        } else if constexpr (std::is_same_v<T, uint64_t>) {
          if (x > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) return std::nullopt;
          return static_cast<int64_t>(x);
        } else {
          return static_cast<int64_t>(x);
        }
      },
      v.scalar);
}

// ---- writer helpers ------------------------------------------------------------------------------
template <class T>
void put(std::vector<uint8_t>& buf, T v) {
  static_assert(std::is_trivially_copyable_v<T>);
  size_t at = buf.size();
  buf.resize(at + sizeof(T));
  std::memcpy(buf.data() + at, &v, sizeof(T));
}

void put_string(std::vector<uint8_t>& buf, const std::string& s) {
  put<uint64_t>(buf, s.size());
  buf.insert(buf.end(), s.begin(), s.end());
}

void put_value_body(std::vector<uint8_t>& buf, const GgufValue& v, const std::string& key) {
  if (v.type == GgufValueType::ARRAY) {
    if (!v.array) throw GgufError("GgufWriter: metadata " + key + ": ARRAY value without items");
    put<uint32_t>(buf, static_cast<uint32_t>(v.array->element_type));
    put<uint64_t>(buf, v.array->items.size());
    for (const auto& item : v.array->items) {
      if (item.type != v.array->element_type)
        throw GgufError("GgufWriter: metadata " + key + ": array of " +
                        value_type_name(static_cast<uint32_t>(v.array->element_type)) + " holds a " +
                        value_type_name(static_cast<uint32_t>(item.type)) + " item");
      put_value_body(buf, item, key);
    }
    return;
  }
  std::visit(
      [&](const auto& x) {
        using T = std::decay_t<decltype(x)>;
        if constexpr (std::is_same_v<T, std::string>) {
          put_string(buf, x);
        } else if constexpr (std::is_same_v<T, bool>) {
          put<uint8_t>(buf, x ? 1 : 0);
        } else {
          put<T>(buf, x);
        }
      },
      v.scalar);
}

GgufValueType type_of_scalar(const GgufScalar& s) {
  auto i = static_cast<uint32_t>(s.index());  // the variant lists the GGUF types in order, ARRAY skipped
  return static_cast<GgufValueType>(i >= static_cast<uint32_t>(GgufValueType::ARRAY) ? i + 1 : i);
}

}  // namespace

// ---- GgufValue ----------------------------------------------------------------------------------
GgufValue GgufValue::of(GgufScalar scalar) {
  GgufValue v;
  v.type = type_of_scalar(scalar);
  v.scalar = std::move(scalar);
  return v;
}

GgufValue GgufValue::of_array(GgufValueType element_type, std::vector<GgufValue> items) {
  GgufValue v;
  v.type = GgufValueType::ARRAY;
  v.array = std::make_shared<GgufArray>();
  v.array->element_type = element_type;
  v.array->items = std::move(items);
  return v;
}

bool GgufValue::operator==(const GgufValue& other) const {
  if (type != other.type) return false;
  if (type != GgufValueType::ARRAY) return scalar == other.scalar;
  if (!array || !other.array) return !array && !other.array;
  return array->element_type == other.array->element_type && array->items == other.array->items;
}

std::string GgufValue::to_string(size_t max_items) const {
  if (type == GgufValueType::ARRAY) {
    if (!array) return "[]";
    std::string out = "[";
    size_t n = array->items.size();
    for (size_t i = 0; i < n && i < max_items; ++i) {
      if (i) out += ", ";
      out += array->items[i].to_string(max_items);
    }
    if (n > max_items) out += ", ...";
    out += "]";
    if (n > max_items)
      out +=
          " (" + std::to_string(n) + " " + value_type_name(static_cast<uint32_t>(array->element_type)) + ")";
    return out;
  }
  return std::visit(
      [](const auto& x) -> std::string {
        using T = std::decay_t<decltype(x)>;
        if constexpr (std::is_same_v<T, std::string>) {
          return quote(x, 120);
        } else if constexpr (std::is_same_v<T, bool>) {
          return x ? "true" : "false";
        } else if constexpr (std::is_same_v<T, uint8_t> || std::is_same_v<T, int8_t>) {
          return std::to_string(static_cast<int>(x));
        } else {
          return format_number(x);
        }
      },
      scalar);
}

int64_t GgufTensorInfo::n_elements() const {
  int64_t n = 1;
  for (auto d : ne) n *= d;
  return n;
}

// ---- GgufFile -----------------------------------------------------------------------------------
std::string printable(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (const char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    if (c < 0x20 || c == 0x7f) {
      static const char kHex[] = "0123456789abcdef";
      out += "\\x";
      out += kHex[c >> 4];
      out += kHex[c & 15];
    } else {
      out += ch;
    }
  }
  return out;
}

std::shared_ptr<GgufFile> GgufFile::open(const std::string& path) {
  std::shared_ptr<GgufFile> f(new GgufFile());
  f->path_ = path;
  if (auto why = io::not_a_regular_file(path)) throw GgufError(path + ": " + *why);
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);  // never blocks, were it a FIFO after all
  if (fd < 0) throw GgufError(path + ": open: " + std::strerror(errno));
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    int e = errno;
    ::close(fd);
    throw GgufError(path + ": stat: " + std::strerror(e));
  }
  if (!S_ISREG(st.st_mode)) {
    ::close(fd);
    throw GgufError(path + ": open: not a regular file");
  }
  f->size_ = static_cast<uint64_t>(st.st_size);
  if (f->size_ > 0) {
    void* p = ::mmap(nullptr, f->size_, PROT_READ, MAP_PRIVATE, fd, 0);
    int e = errno;
    ::close(fd);
    if (p == MAP_FAILED) throw GgufError(path + ": mmap: " + std::strerror(e));
    f->map_ = static_cast<const uint8_t*>(p);
    f->owns_map_ = true;
  } else {
    ::close(fd);
  }
  f->parse();
  return f;
}

std::shared_ptr<GgufFile> GgufFile::from_memory(const uint8_t* data, uint64_t size, const std::string& name) {
  std::shared_ptr<GgufFile> f(new GgufFile());
  f->path_ = name;
  f->map_ = size > 0 ? data : nullptr;
  f->size_ = size;
  f->parse();
  return f;
}

GgufFile::~GgufFile() {
  if (map_ && owns_map_) ::munmap(const_cast<uint8_t*>(map_), size_);
}

namespace {

// One tensor info of the header, checked: name, extents, type, byte size, aligned offset.
GgufTensorInfo read_tensor_info(Cursor& c, uint64_t i, uint64_t alignment) {
  std::string where = "tensor[" + std::to_string(i) + "]";
  GgufTensorInfo t;
  t.name = c.read_string([&] { return where + " name"; });
  if (t.name.empty()) c.fail(where + " name", "empty tensor name (corrupt file)");
  std::string field = where + " '" + t.name + "'";
  auto n_dims = c.read<uint32_t>([&] { return field + " n_dims"; });
  if (n_dims < 1 || n_dims > 4)
    c.fail(field + " n_dims", std::to_string(n_dims) + " dimensions; GGUF tensors have 1 to 4");
  uint64_t n_elements = 1;
  for (uint32_t d = 0; d < n_dims; ++d) {
    std::string ne_field = field + " ne[" + std::to_string(d) + "]";
    auto ne = c.read<int64_t>([&] { return ne_field; });
    if (ne <= 0) c.fail(ne_field, std::to_string(ne) + " is not a positive extent");
    if (mul_overflows(n_elements, static_cast<uint64_t>(ne), &n_elements) ||
        n_elements > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()))
      c.fail(ne_field, "the element count overflows 63 bits (corrupt file)");
    t.ne.push_back(ne);
  }
  auto type = c.read<uint32_t>([&] { return field + " type"; });
  auto traits = type <= static_cast<uint32_t>(std::numeric_limits<int32_t>::max())
                    ? ggml_type_traits(static_cast<int32_t>(type))
                    : std::nullopt;
  if (!traits)
    c.fail(field + " type",
           "unknown ggml type id " + std::to_string(type) +
               " (known: F32 F16 BF16 Q4_0 Q4_1 Q5_0 Q5_1 Q8_0 Q8_1 Q2_K..Q8_K I8..I64 F64)");
  t.type = static_cast<int32_t>(type);
  if (t.ne[0] % traits->block_elements != 0)
    c.fail(field + " ne[0]", "row length " + std::to_string(t.ne[0]) + " is not a multiple of the " +
                                 traits->name + " block size " + std::to_string(traits->block_elements));
  uint64_t n_blocks = n_elements / static_cast<uint64_t>(traits->block_elements);
  if (mul_overflows(n_blocks, static_cast<uint64_t>(traits->block_bytes), &t.nbytes))
    c.fail(field, "the tensor's byte size overflows 64 bits (corrupt file)");
  t.offset = c.read<uint64_t>([&] { return field + " offset"; });
  if (t.offset % alignment != 0)
    c.fail(field + " offset",
           std::to_string(t.offset) + " is not a multiple of the alignment " + std::to_string(alignment));
  return t;
}

}  // namespace

void GgufFile::parse() {
  Cursor c(path_, map_, size_);
  if (size_ < 4)
    c.fail("header.magic", "the file is " + std::to_string(size_) + " bytes, too small for a GGUF header");
  auto magic = c.read<uint32_t>([] { return std::string("header.magic"); });
  if (magic != kGgufMagic) {
    char buf[64];
    std::snprintf(buf, sizeof(buf), "%02x %02x %02x %02x", map_[0], map_[1], map_[2], map_[3]);
    c.fail("header.magic", std::string("expected \"GGUF\", found bytes ") + buf + ": not a GGUF file");
  }
  version_ = c.read<uint32_t>([] { return std::string("header.version"); });
  if (version_ == 1)
    c.fail("header.version",
           "GGUF version 1 is not supported (it predates 64-bit counts); re-convert the model "
           "with a current llama.cpp");
  if (version_ != 2 && version_ != 3)
    c.fail("header.version", "unsupported GGUF version " + std::to_string(version_) +
                                 " (supported: 2, 3; a big-endian or newer file?)");
  auto n_tensors = c.read<uint64_t>([] { return std::string("header.n_tensors"); });
  auto n_kv = c.read<uint64_t>([] { return std::string("header.n_kv"); });
  // Each metadata pair takes at least 13 bytes (key length, value type, a 1-byte value); each tensor
  // info at least 24 (name length, n_dims, type, offset).
  if (n_kv > c.remaining() / 13)
    c.fail("header.n_kv", std::to_string(n_kv) + " metadata pairs cannot fit in the " +
                              std::to_string(c.remaining()) + " bytes left (truncated or corrupt file)");
  if (n_tensors > c.remaining() / 24)
    c.fail("header.n_tensors", std::to_string(n_tensors) + " tensor infos cannot fit in the " +
                                   std::to_string(c.remaining()) + " bytes left (truncated or corrupt file)");

  MetadataParser meta(c);
  std::unordered_set<std::string> keys;
  kv_.reserve(static_cast<size_t>(n_kv));
  for (uint64_t i = 0; i < n_kv; ++i) {
    std::string where = "kv[" + std::to_string(i) + "]";
    std::string key = c.read_string([&] { return where + " key"; });
    if (key.empty()) c.fail(where + " key", "empty key (corrupt file)");
    std::string field = where + " '" + key + "'";
    auto t = c.read<uint32_t>([&] { return field + " value type"; });
    if (!is_valid_value_type(t))
      c.fail(field + " value type", "unknown GGUF value type " + std::to_string(t) + " (known: 0..12)");
    GgufValue v = meta.read_value(static_cast<GgufValueType>(t), 0, [&] { return field; });  // NOLINT
    if (!keys.insert(key).second) c.fail(field, "duplicate key (corrupt file)");
    kv_.emplace_back(std::move(key), std::move(v));
  }

  if (const GgufValue* a = find("general.alignment")) {
    if (a->type != GgufValueType::U32)
      c.fail(
          "metadata general.alignment",
          std::string("is ") + value_type_name(static_cast<uint32_t>(a->type)) + ", the GGUF spec says U32");
    auto al = std::get<uint32_t>(a->scalar);
    if (al == 0 || (al & (al - 1)) != 0)
      c.fail("metadata general.alignment", std::to_string(al) + " is not a power of two");
    alignment_ = al;
  } else {
    alignment_ = kDefaultAlignment;
  }

  std::unordered_set<std::string> names;
  tensors_.reserve(static_cast<size_t>(n_tensors));
  for (uint64_t i = 0; i < n_tensors; ++i) {
    GgufTensorInfo t = read_tensor_info(c, i, alignment_);
    const std::string field = "tensor[" + std::to_string(i) + "] '" + t.name + "'";
    if (!names.insert(t.name).second) c.fail(field, "duplicate tensor name (corrupt file)");
    tensors_.push_back(std::move(t));
  }

  uint64_t data_start = align_up(c.pos(), alignment_);
  if (!tensors_.empty() && data_start > size_)
    c.fail("data", "the data section would start at offset " + std::to_string(data_start) +
                       ", past the end of the " + std::to_string(size_) + "-byte file (truncated file)");
  uint64_t data_size = data_start <= size_ ? size_ - data_start : 0;
  for (size_t i = 0; i < tensors_.size(); ++i) {
    auto& t = tensors_[i];
    if (t.offset > data_size || t.nbytes > data_size - t.offset)
      c.fail("tensor[" + std::to_string(i) + "] '" + t.name + "' data",
             "bytes [" + std::to_string(t.offset) + ", " + std::to_string(t.offset) + " + " +
                 std::to_string(t.nbytes) + ") of the data section run past its end (" +
                 std::to_string(data_size) + " bytes from offset " + std::to_string(data_start) +
                 "; truncated or corrupt file)");
    t.data = map_ + data_start + t.offset;
  }
  // No two tensors may share bytes: a writer never lays them out so, and a kernel writing one would
  // change the other (issue 14, defect 17: overlapping tensor data was accepted).
  std::vector<size_t> order(tensors_.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::sort(order.begin(), order.end(),
            [&](size_t a, size_t b) { return tensors_[a].offset < tensors_[b].offset; });
  for (size_t k = 1; k < order.size(); ++k) {
    const auto& prev = tensors_[order[k - 1]];
    const auto& t = tensors_[order[k]];
    if (prev.nbytes > 0 && t.nbytes > 0 && t.offset < prev.offset + prev.nbytes)
      c.fail("tensor[" + std::to_string(order[k]) + "] '" + t.name + "' data",
             "bytes [" + std::to_string(t.offset) + ", +" + std::to_string(t.nbytes) + ") overlap tensor '" +
                 prev.name + "' at [" + std::to_string(prev.offset) + ", +" + std::to_string(prev.nbytes) +
                 ") (corrupt file)");
  }
}

const GgufValue* GgufFile::find(const std::string& key) const {
  for (const auto& [k, v] : kv_)
    if (k == key) return &v;
  return nullptr;
}

const GgufTensorInfo* GgufFile::find_tensor(const std::string& name) const {
  for (const auto& t : tensors_)
    if (t.name == name) return &t;
  return nullptr;
}

namespace {
[[noreturn]] void key_error(const std::string& path, const std::string& key, const std::string& what) {
  throw GgufError(path + ": metadata " + key + ": " + what);
}
std::string wrong_type(const GgufValue& v, const char* expected) {
  return std::string("is ") + value_type_name(static_cast<uint32_t>(v.type)) + ", expected " + expected;
}
}  // namespace

std::optional<std::string> GgufFile::get_string_opt(const std::string& key) const {
  const GgufValue* v = find(key);
  if (!v) return std::nullopt;
  if (v->type != GgufValueType::STRING) key_error(path_, key, wrong_type(*v, "STRING"));
  return std::get<std::string>(v->scalar);
}

std::string GgufFile::get_string(const std::string& key) const {
  auto s = get_string_opt(key);
  if (!s) key_error(path_, key, "missing (a STRING is required)");
  return *s;
}

std::optional<bool> GgufFile::get_bool_opt(const std::string& key) const {
  const GgufValue* v = find(key);
  if (!v) return std::nullopt;
  if (v->type != GgufValueType::BOOL) key_error(path_, key, wrong_type(*v, "BOOL"));
  return std::get<bool>(v->scalar);
}

bool GgufFile::get_bool(const std::string& key) const {
  auto b = get_bool_opt(key);
  if (!b) key_error(path_, key, "missing (a BOOL is required)");
  return *b;
}

std::optional<int64_t> GgufFile::get_int_opt(const std::string& key) const {
  const GgufValue* v = find(key);
  if (!v) return std::nullopt;
  auto i = as_int64(*v);
  if (!i) key_error(path_, key, wrong_type(*v, "an integer that fits int64"));
  return i;
}

int64_t GgufFile::get_int(const std::string& key) const {
  auto i = get_int_opt(key);
  if (!i) key_error(path_, key, "missing (an integer is required)");
  return *i;
}

std::optional<double> GgufFile::get_float_opt(const std::string& key) const {
  const GgufValue* v = find(key);
  if (!v) return std::nullopt;
  if (v->type == GgufValueType::F32) return static_cast<double>(std::get<float>(v->scalar));
  if (v->type == GgufValueType::F64) return std::get<double>(v->scalar);
  if (auto i = as_int64(*v)) return static_cast<double>(*i);
  key_error(path_, key, wrong_type(*v, "F32, F64 or an integer"));
}

double GgufFile::get_float(const std::string& key) const {
  auto f = get_float_opt(key);
  if (!f) key_error(path_, key, "missing (a number is required)");
  return *f;
}

// ---- GgufWriter ---------------------------------------------------------------------------------
void GgufWriter::add(const std::string& key, GgufValue value) {
  if (key.empty()) throw GgufError("GgufWriter: metadata key is empty");
  for (auto& [k, v] : kv_)
    if (k == key) {
      v = std::move(value);
      return;
    }
  kv_.emplace_back(key, std::move(value));
}

void GgufWriter::add_tensor(const std::string& name, int32_t type, std::vector<int64_t> ne, FillFn fill) {
  std::string where = "GgufWriter: tensor '" + name + "'";
  if (name.empty()) throw GgufError("GgufWriter: tensor name is empty");
  for (const auto& t : tensors_)
    if (t.info.name == name) throw GgufError(where + ": added twice");
  if (ne.empty() || ne.size() > 4)
    throw GgufError(where + ": " + std::to_string(ne.size()) + " dimensions (1..4)");
  auto traits = ggml_type_traits(type);
  if (!traits) throw GgufError(where + ": unknown ggml type id " + std::to_string(type));
  uint64_t n = 1;
  for (auto d : ne) {
    if (d <= 0) throw GgufError(where + ": extent " + std::to_string(d) + " is not positive");
    if (mul_overflows(n, static_cast<uint64_t>(d), &n)) throw GgufError(where + ": element count overflows");
  }
  auto row = ggml_row_bytes(type, ne[0]);
  if (!row)
    throw GgufError(where + ": row length " + std::to_string(ne[0]) + " is not a multiple of the " +
                    traits->name + " block size " + std::to_string(traits->block_elements));
  PendingTensor p;
  p.info.name = name;
  p.info.type = type;
  p.info.nbytes = *row * (n / static_cast<uint64_t>(ne[0]));
  p.info.ne = std::move(ne);
  p.fill = std::move(fill);
  tensors_.push_back(std::move(p));
}

void GgufWriter::write(const std::string& path) const {
  uint64_t alignment = kDefaultAlignment;
  for (const auto& [k, v] : kv_)
    if (k == "general.alignment") {
      if (v.type != GgufValueType::U32 || std::get<uint32_t>(v.scalar) == 0 ||
          (std::get<uint32_t>(v.scalar) & (std::get<uint32_t>(v.scalar) - 1)) != 0)
        throw GgufError("GgufWriter: general.alignment must be a U32 power of two");
      alignment = std::get<uint32_t>(v.scalar);
    }

  std::vector<uint8_t> header;
  put<uint32_t>(header, kGgufMagic);
  put<uint32_t>(header, 3);
  put<uint64_t>(header, tensors_.size());
  put<uint64_t>(header, kv_.size());
  for (const auto& [k, v] : kv_) {
    put_string(header, k);
    put<uint32_t>(header, static_cast<uint32_t>(v.type));
    put_value_body(header, v, k);
  }
  std::vector<uint64_t> offsets;
  uint64_t data_size = 0;
  for (const auto& t : tensors_) {
    put_string(header, t.info.name);
    put<uint32_t>(header, static_cast<uint32_t>(t.info.ne.size()));
    for (auto d : t.info.ne) put<int64_t>(header, d);
    put<uint32_t>(header, static_cast<uint32_t>(t.info.type));
    put<uint64_t>(header, data_size);
    offsets.push_back(data_size);
    data_size += align_up(t.info.nbytes, alignment);  // llama.cpp pads every tensor, the last included
  }
  uint64_t data_start = align_up(header.size(), alignment);
  uint64_t total = data_start + data_size;

  std::string tmp = path + "." + std::to_string(::getpid()) + ".tmp";
  auto io_error = [&](const std::string& what, int e) {
    return GgufError(path + ": " + what + " (via " + tmp + "): " + std::strerror(e));
  };
  int fd = ::open(tmp.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) throw io_error("create", errno);
  uint8_t* map = nullptr;
  try {
    // Reserve the space up front so a full disk is an error here, not a SIGBUS while filling.
    if (int e = ::posix_fallocate(fd, 0, static_cast<off_t>(total)); e != 0)
      throw io_error("reserve " + std::to_string(total) + " bytes", e);
    void* p = ::mmap(nullptr, total, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (p == MAP_FAILED) throw io_error("mmap", errno);
    map = static_cast<uint8_t*>(p);
    std::memcpy(map, header.data(), header.size());
    std::memset(map + header.size(), 0, data_start - header.size());
    for (size_t i = 0; i < tensors_.size(); ++i) {
      const auto& t = tensors_[i];
      uint8_t* dst = map + data_start + offsets[i];
      if (t.fill)
        t.fill(dst, t.info.nbytes);
      else
        std::memset(dst, 0, t.info.nbytes);
      std::memset(dst + t.info.nbytes, 0, align_up(t.info.nbytes, alignment) - t.info.nbytes);
    }
    if (::munmap(map, total) != 0) {
      map = nullptr;
      throw io_error("munmap", errno);
    }
    map = nullptr;
    int rc = ::close(fd);
    fd = -1;
    if (rc != 0) throw io_error("close", errno);
    if (::rename(tmp.c_str(), path.c_str()) != 0) throw io_error("rename to " + path, errno);
  } catch (...) {
    if (map) ::munmap(map, total);
    if (fd >= 0) ::close(fd);
    ::unlink(tmp.c_str());
    throw;
  }
}

}  // namespace bb::model
