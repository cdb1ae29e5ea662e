// The ABI side of cuda_bricks: errors, guarded entry points, tensor checks, CUDA error checking and
// RAII for device memory, events and graphs.
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>
#include <new>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "../common/plugin_glue.h"
#include "brickbench/brick_abi.h"

namespace bb::cuda_bricks {

// The shared ABI glue (plugins/common/plugin_glue.h), with this plugin's name in every message.
extern plugin_util::PluginId g_plugin;
inline constexpr const char* kName = "cuda_bricks";
// What check_layout says of a device tensor: this plugin takes host tensors and uploads them itself.
inline constexpr const char* kHostMemoryNote =
    "cuda_bricks takes host tensors (CPU or CUDA_HOST) and uploads them itself";

using plugin_util::AbiError;
using plugin_util::element_bytes;
using plugin_util::invalid;
using plugin_util::TensorCheck;
using plugin_util::unsupported;

inline bb_error* make_error(int32_t status, const std::string& message) noexcept {
  return plugin_util::make_error(g_plugin, status, message);
}
inline void destroy_error(bb_error* error) noexcept { plugin_util::destroy_error(g_plugin, error); }

// Device allocations fail through cuda_check's AbiError; a std::bad_alloc is the host's.
template <typename Body>
bb_error* guarded(const char* where, Body&& body) noexcept {
  return plugin_util::guarded(g_plugin, where, std::forward<Body>(body), "out of host memory");
}

// Throws AbiError(DEVICE_ERROR, or OUT_OF_MEMORY for allocation failures) naming the call and where.
void cuda_check(cudaError_t e, const char* call, const char* file, int line);
#define BB_CUDA(call) ::bb::cuda_bricks::cuda_check((call), #call, __FILE__, __LINE__)

using plugin_util::cancel_flag_of;  // plugins/common/abi_util.h
using plugin_util::is_compact;
using plugin_util::log_line;
using plugin_util::op_name;
using plugin_util::shape_string;
[[noreturn]] void throw_cancelled(const char* where);

template <typename T>
void require_struct_size(const T* p, size_t needed, const std::string& where, const char* what) {
  plugin_util::require_struct_size(kName, p, needed, where, what);
}

// Checks of host tensors (the host passes host memory: CPU or CUDA_HOST).
inline void check_layout(const bb_tensor& t, const TensorCheck& c) {
  plugin_util::check_layout(kName, t, c, kHostMemoryNote);
}
// A matrix (or 1-D weight) of a type this plugin runs, rows a whole number of blocks and of 32
// elements, exact nbytes.
void check_weight(const bb_tensor& t, const TensorCheck& c);

// Validated model dims of one layer.
struct LayerDims {
  int32_t n_embd = 0, n_ff = 0, n_head = 0, n_head_kv = 0, head_dim = 0;
  double rms_eps = 0, rope_theta = 0;
  int64_t q_width() const { return int64_t{n_head} * head_dim; }
  int64_t kv_width() const { return int64_t{n_head_kv} * head_dim; }
};
// Also checks what the kernels need: head_dim 64 or 128, at most 8 query heads per KV head,
// n_embd and n_ff multiples of 32.
LayerDims layer_dims_of(const bb_model_dims* dims, const std::string& where);

// NEOX RoPE (cos, sin) for positions [0, n_pos), i < head_dim / 2: theta = pos *
// rope_theta^(-2i/head_dim), computed in double as scalar_ref does, stored as float pairs.
std::vector<float> rope_table(int32_t n_pos, int32_t head_dim, double rope_theta);

// ---- device memory -----------------------------------------------------------------------------
class DeviceBuffer {
 public:
  DeviceBuffer() = default;
  explicit DeviceBuffer(size_t bytes);
  ~DeviceBuffer();
  DeviceBuffer(DeviceBuffer&& o) noexcept : ptr_(o.ptr_), bytes_(o.bytes_) {
    o.ptr_ = nullptr;
    o.bytes_ = 0;
  }
  DeviceBuffer& operator=(DeviceBuffer&& o) noexcept;
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;
  void* get() const { return ptr_; }
  template <typename T>
  T* as() const {
    return static_cast<T*>(ptr_);
  }
  size_t bytes() const { return bytes_; }

 private:
  void* ptr_ = nullptr;
  size_t bytes_ = 0;
};

// Sub-allocations of one device buffer, each 256-byte aligned: sized in a first pass (reserve),
// then carved (take) in the same order.
class DeviceArena {
 public:
  size_t reserve(size_t bytes);  // returns the offset
  void allocate();               // after every reserve
  uint8_t* at(size_t offset) const { return buffer_.as<uint8_t>() + offset; }
  size_t size() const { return size_; }

 private:
  size_t size_ = 0;
  DeviceBuffer buffer_;
};

class Event {
 public:
  Event();
  ~Event();
  Event(const Event&) = delete;
  Event& operator=(const Event&) = delete;
  cudaEvent_t get() const { return e_; }

 private:
  cudaEvent_t e_ = nullptr;
};

// A captured and instantiated graph.
class Graph {
 public:
  Graph() = default;
  ~Graph();
  Graph(Graph&& o) noexcept : exec_(o.exec_), nodes_(o.nodes_) { o.exec_ = nullptr; }
  Graph& operator=(Graph&& o) noexcept;
  Graph(const Graph&) = delete;
  Graph& operator=(const Graph&) = delete;
  // Runs `record` (which launches work on `stream`) under stream capture and instantiates it.
  template <typename Record>
  static Graph capture(cudaStream_t stream, Record&& record) {
    BB_CUDA(cudaStreamBeginCapture(stream, cudaStreamCaptureModeThreadLocal));
    try {
      record();
    } catch (...) {
      cudaGraph_t broken = nullptr;
      cudaStreamEndCapture(stream, &broken);
      if (broken != nullptr) cudaGraphDestroy(broken);
      cudaGetLastError();
      throw;
    }
    cudaGraph_t graph = nullptr;
    BB_CUDA(cudaStreamEndCapture(stream, &graph));
    Graph g;
    cudaError_t e = cudaGraphGetNodes(graph, nullptr, &g.nodes_);
    if (e == cudaSuccess) e = cudaGraphInstantiate(&g.exec_, graph, 0);
    cudaGraphDestroy(graph);
    BB_CUDA(e);
    return g;
  }
  void launch(cudaStream_t stream) const;
  bool empty() const { return exec_ == nullptr; }
  size_t nodes() const { return nodes_; }  // nodes of the captured graph (kernels, copies)

 private:
  cudaGraphExec_t exec_ = nullptr;
  size_t nodes_ = 0;
};

// Host -> device copy of a struct for kernels that read their arguments from device memory.
template <typename T>
void upload_struct(T* device, const T& host) {
  BB_CUDA(cudaMemcpy(device, &host, sizeof(T), cudaMemcpyHostToDevice));
}

}  // namespace bb::cuda_bricks
