// The wire between an isolated plugin's proxy (isolated_plugin.cpp, in `bench`) and the child that
// runs the real plugin (`bench plugin-host`, plugin_host_server.cpp). Internal to harness/plugin.
//
// One request, one reply, in order, over a Unix stream socket. A frame is a uint32 byte count and
// that many bytes, native byte order (both ends are the same executable on the same machine).
//   request: u32 Call, then the call's arguments
//   reply:   i32 status (0 = OK, a bb_status, or kFatalStatus), str message (status != 0), results
// Tensors travel as their descriptor plus their data in one of three forms: none, the bytes
// inline, or a reference (path, offset) into a read-only file the parent has mapped (the model's
// GGUF), which the child maps once itself: weights are never copied per call.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "brickbench/brick_abi.h"

namespace bb::plugin {
struct PluginInfo;  // registry.h
}

namespace bb::plugin::ipc {

enum class Call : uint32_t {
  Load = 1,           // -> PluginInfo (usable or the rejection), which table entries exist
  ContextCreate,      // host threads, device_id, n_threads, options -> id
  ContextDestroy,     // id
  PlanCreate,         // context id, desc, weights (data), inputs/outputs (descriptors) -> id
  PlanDestroy,        // id
  PlanWriteInputs,    // id, tensors (inline data)
  PlanRun,            // id, iterations, weight_set_begin -> elapsed ns, device time
  PlanReadOutputs,    // id, tensors (inline data: the host's poisoned buffers) -> each one's bytes
  SessionCreate,      // context id, kv_type, dims, tensors (data) -> id
  SessionDestroy,     // id
  SessionDecode,      // id, token, pos, iterations, want logits -> elapsed ns, device time, logits
  SessionReadLogits,  // id, n_vocab -> floats
  SessionWriteKv,     // id, layer, pos_begin, n_pos, k, v
  SessionGenerate,    // id, prompt, n_generate, pos_begin -> elapsed ns, device time, tokens
  SessionGetMetrics,  // id -> key-values
};

// A reply status outside bb_status: the child caught something it cannot survive (a C++ exception
// escaped the plugin's C boundary); it exits after sending the reply.
inline constexpr int32_t kFatalStatus = -1;

// Largest frame either side accepts (a corrupt length must not become a huge allocation).
inline constexpr uint32_t kMaxFrame = 1u << 31;

class ProtocolError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

class Writer {
 public:
  template <typename T>
  void pod(const T& v) {
    append(&v, sizeof(T));
  }
  void str(const std::string& s) { blob(s.data(), s.size()); }
  void cstr(const char* s) { str(s ? std::string(s) : std::string()); }
  void blob(const void* data, size_t n) {
    pod<uint64_t>(n);
    append(data, n);
  }
  // resize + memcpy rather than vector::insert, which gcc 12 warns about (-Wstringop-overflow).
  void append(const void* data, size_t n) {
    if (n == 0) return;
    const size_t at = buf_.size();
    buf_.resize(at + n);
    std::memcpy(buf_.data() + at, data, n);
  }
  std::vector<uint8_t>& buffer() { return buf_; }

 private:
  std::vector<uint8_t> buf_;
};

class Reader {
 public:
  Reader() = default;
  Reader(const uint8_t* data, size_t size) : p_(data), end_(data + size) {}
  template <typename T>
  T pod() {
    need(sizeof(T));
    T v;
    std::memcpy(&v, p_, sizeof(T));
    p_ += sizeof(T);
    return v;
  }
  std::string str() {
    auto [p, n] = blob();
    return std::string(reinterpret_cast<const char*>(p), n);
  }
  // A view into the frame: valid while the frame's buffer lives.
  std::pair<const uint8_t*, size_t> blob() {
    const uint64_t n = pod<uint64_t>();
    need(n);
    const uint8_t* p = p_;
    p_ += n;
    return {p, static_cast<size_t>(n)};
  }

 private:
  void need(uint64_t n) const {
    if (n > static_cast<uint64_t>(end_ - p_)) throw ProtocolError("plugin host protocol: truncated message");
  }
  const uint8_t* p_ = nullptr;
  const uint8_t* end_ = nullptr;
};

// Whole frames over a blocking socket. send_frame never raises SIGPIPE; both return false when the
// other end is gone (EOF, EPIPE, ECONNRESET) or on any other error.
bool send_frame(int fd, const std::vector<uint8_t>& payload);
bool recv_frame(int fd, std::vector<uint8_t>& payload);

// How a tensor's data crosses.
enum class DataForm : uint8_t { None = 0, Inline = 1, FileRef = 2 };

// Writes a tensor descriptor and its data. allow_file_ref: weights (which stay valid and unchanged
// while their plan/session lives) may travel as a file reference when the bytes lie in a read-only
// file mapping of this process; everything else is copied.
void write_tensor(Writer& w, const bb_tensor& t, bool with_data, bool allow_file_ref);

// The child's side: tensors read back, their names and inline data owned here, file references
// resolved through `files`.
class FileMappings {
 public:
  FileMappings() = default;
  ~FileMappings();
  FileMappings(const FileMappings&) = delete;
  FileMappings& operator=(const FileMappings&) = delete;
  // [offset, offset + nbytes) of `path`, mapped read-only once per file; throws ProtocolError.
  const uint8_t* resolve(const std::string& path, uint64_t offset, uint64_t nbytes);

 private:
  struct Mapping {
    const uint8_t* base = nullptr;
    uint64_t size = 0;
  };
  std::map<std::string, Mapping> maps_;
};

// 64-byte aligned bytes (a frame's own bytes sit at any alignment; kernels may want vectors').
class AlignedBytes {
 public:
  explicit AlignedBytes(size_t n);
  uint8_t* data() const { return p_.get(); }

 private:
  struct Free {
    void operator()(uint8_t* p) const;
  };
  std::unique_ptr<uint8_t, Free> p_;
};

struct TensorStore {
  std::vector<bb_tensor> tensors;
  std::vector<std::string> names;   // tensors[i].name points here (or is NULL)
  std::vector<AlignedBytes> owned;  // inline data, copied out of the frame, aligned
  // Reads n tensors; file references resolve through `files`.
  void read(Reader& r, size_t n, FileMappings& files);
};

// Everything of a PluginInfo but path and origin (the parent knows those).
void write_plugin_info(Writer& w, const PluginInfo& info);
void read_plugin_info(Reader& r, PluginInfo& info);

// Which optional entries of the real plugin's table exist (the proxy offers the same set).
enum TableBits : uint32_t {
  kHasPlans = 1u << 0,  // plan_create, plan_destroy, plan_run
  kHasWriteInputs = 1u << 1,
  kHasReadOutputs = 1u << 2,
  kHasSessions = 1u << 3,  // session_create, _destroy, _decode, _read_logits
  kHasWriteKv = 1u << 4,
  kHasGenerate = 1u << 5,
  kHasMetrics = 1u << 6,  // ABI 1.1 session_get_metrics
};

}  // namespace bb::plugin::ipc
