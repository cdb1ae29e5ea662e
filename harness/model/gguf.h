// GGUF files (versions 2 and 3): a bounds-checked, mmap-backed reader and a streaming writer.
// Every offset and size read from a file is checked; a truncated or corrupt file is a GgufError
// naming the file and the field, never a crash.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

namespace bb::model {

// `s` with every control byte (below 0x20, and 0x7f) written as \xNN: names and strings read from a
// file reach messages and the terminal this way, so a NUL cannot cut a message short and an escape
// sequence cannot reach the terminal (issue 14, defect 15). Other bytes (UTF-8) are kept.
std::string printable(std::string_view s);

// The message is made printable (above): it quotes names from the file.
class GgufError : public std::runtime_error {
 public:
  explicit GgufError(const std::string& message) : std::runtime_error(printable(message)) {}
};

// GGUF metadata value types (gguf.h: GGUF_TYPE_*)
enum class GgufValueType : uint32_t {
  U8 = 0,
  I8 = 1,
  U16 = 2,
  I16 = 3,
  U32 = 4,
  I32 = 5,
  F32 = 6,
  BOOL = 7,
  STRING = 8,
  ARRAY = 9,
  U64 = 10,
  I64 = 11,
  F64 = 12,
};

struct GgufArray;
using GgufScalar = std::variant<uint8_t, int8_t, uint16_t, int16_t, uint32_t, int32_t, float, bool,
                                std::string, uint64_t, int64_t, double>;
struct GgufValue {
  GgufValueType type = GgufValueType::U8;
  GgufScalar scalar;                                  // when type != ARRAY
  std::shared_ptr<GgufArray> array;                   // when type == ARRAY
  std::string to_string(size_t max_items = 8) const;  // for `bench inspect`

  // A scalar value; the GGUF type follows the C++ type (uint32_t -> U32, std::string -> STRING).
  static GgufValue of(GgufScalar scalar);
  static GgufValue of_string(std::string s) { return of(GgufScalar(std::move(s))); }
  // An array whose items all have element_type (items may themselves be arrays).
  static GgufValue of_array(GgufValueType element_type, std::vector<GgufValue> items);
  // Deep equality (type, scalar or every array item).
  bool operator==(const GgufValue& other) const;
};
struct GgufArray {
  GgufValueType element_type = GgufValueType::U8;
  std::vector<GgufValue> items;
};

struct GgufTensorInfo {
  std::string name;
  int32_t type = 0;               // ggml type id
  std::vector<int64_t> ne;        // GGUF order: ne[0] = row length
  uint64_t offset = 0;            // relative to the data section
  uint64_t nbytes = 0;            // computed from type and ne
  const uint8_t* data = nullptr;  // into the mapping (reader) or nullptr
  int64_t n_elements() const;
};

class GgufFile {
 public:
  // Maps and parses the file; throws GgufError("FILE: FIELD: what") on anything malformed.
  static std::shared_ptr<GgufFile> open(const std::string& path);
  // Parses a GGUF image already in memory (fuzzing, tests), under NAME in messages. The file does
  // not own or copy the bytes: data must outlive it and every tensor pointer into it.
  static std::shared_ptr<GgufFile> from_memory(const uint8_t* data, uint64_t size, const std::string& name);
  ~GgufFile();
  GgufFile(const GgufFile&) = delete;
  GgufFile& operator=(const GgufFile&) = delete;

  const std::string& path() const { return path_; }
  uint32_t version() const { return version_; }
  uint64_t alignment() const { return alignment_; }
  uint64_t file_size() const { return size_; }
  const std::vector<std::pair<std::string, GgufValue>>& metadata() const { return kv_; }
  const std::vector<GgufTensorInfo>& tensors() const { return tensors_; }

  const GgufValue* find(const std::string& key) const;
  const GgufTensorInfo* find_tensor(const std::string& name) const;
  // Typed getters: throw GgufError naming the key when absent or of another type
  // (integers of any width convert when the value fits).
  std::string get_string(const std::string& key) const;
  bool get_bool(const std::string& key) const;
  int64_t get_int(const std::string& key) const;
  double get_float(const std::string& key) const;
  std::optional<int64_t> get_int_opt(const std::string& key) const;
  std::optional<double> get_float_opt(const std::string& key) const;
  std::optional<std::string> get_string_opt(const std::string& key) const;
  std::optional<bool> get_bool_opt(const std::string& key) const;

 private:
  GgufFile() = default;
  void parse();
  std::string path_;
  uint32_t version_ = 0;
  uint64_t alignment_ = 32;
  const uint8_t* map_ = nullptr;
  uint64_t size_ = 0;
  bool owns_map_ = false;  // map_ came from mmap (open) rather than the caller (from_memory)
  std::vector<std::pair<std::string, GgufValue>> kv_;
  std::vector<GgufTensorInfo> tensors_;
};

// Writes a GGUF v3 file: metadata, tensor infos, aligned data. Tensor data is produced by a
// callback so multi-GB files stream without being held in memory. Written to PATH.tmp and renamed.
class GgufWriter {
 public:
  // Adds (or replaces) a metadata key. "general.alignment" (U32, a power of two) sets the alignment.
  void add(const std::string& key, GgufValue value);
  // fill(dst, nbytes) writes the tensor's bytes.
  using FillFn = std::function<void(uint8_t* dst, uint64_t nbytes)>;
  void add_tensor(const std::string& name, int32_t type, std::vector<int64_t> ne, FillFn fill);
  // Throws GgufError naming the path on I/O failure (e.g. a full disk); the temp file is removed.
  void write(const std::string& path) const;
  size_t tensor_count() const { return tensors_.size(); }

 private:
  struct PendingTensor {
    GgufTensorInfo info;
    FillFn fill;
  };
  std::vector<std::pair<std::string, GgufValue>> kv_;
  std::vector<PendingTensor> tensors_;
};

}  // namespace bb::model
