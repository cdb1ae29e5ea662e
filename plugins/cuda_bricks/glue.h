// The ABI side of cuda_bricks: errors, guarded entry points, tensor checks, CUDA error checking and
// RAII for device memory, events and graphs.
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>
#include <new>
#include <stdexcept>
#include <string>
#include <vector>

#include "brickbench/brick_abi.h"
#include "../common/abi_util.h"

struct bb_error {
  int32_t status;
  std::string message;
};

namespace bb::cuda_bricks {

class AbiError : public std::runtime_error {
 public:
  AbiError(bb_status status, const std::string& message) : std::runtime_error(message), status_(status) {}
  bb_status status() const { return status_; }

 private:
  bb_status status_;
};

[[noreturn]] inline void invalid(const std::string& m) { throw AbiError(BB_INVALID_ARGUMENT, m); }
[[noreturn]] inline void unsupported(const std::string& m) { throw AbiError(BB_UNSUPPORTED, m); }

bb_error* make_error(int32_t status, const std::string& message) noexcept;
void destroy_error(bb_error* error) noexcept;

template <typename Body>
bb_error* guarded(const char* where, Body&& body) noexcept {
  try {
    body();
    return nullptr;
  } catch (const AbiError& e) {
    return make_error(e.status(), e.what());
  } catch (const std::bad_alloc&) {
    return make_error(BB_OUT_OF_MEMORY, std::string("cuda_bricks ") + where + ": out of host memory");
  } catch (const std::exception& e) {
    return make_error(BB_INTERNAL, std::string("cuda_bricks ") + where + ": internal error: " + e.what());
  } catch (...) {
    return make_error(BB_INTERNAL, std::string("cuda_bricks ") + where + ": internal error (unknown exception)");
  }
}

// Throws AbiError(DEVICE_ERROR, or OUT_OF_MEMORY for allocation failures) naming the call and where.
void cuda_check(cudaError_t e, const char* call, const char* file, int line);
#define BB_CUDA(call) ::bb::cuda_bricks::cuda_check((call), #call, __FILE__, __LINE__)

using plugin_util::cancel_flag_of;  // plugins/common/abi_util.h
using plugin_util::is_compact;
using plugin_util::op_name;
using plugin_util::shape_string;
using plugin_util::log_line;
[[noreturn]] void throw_cancelled(const char* where);

template <typename T>
void require_struct_size(const T* p, size_t needed, const std::string& where, const char* what) {
  if (p == nullptr) invalid("cuda_bricks " + where + ": " + what + " is NULL");
  if (p->struct_size < needed) {
    invalid("cuda_bricks " + where + ": " + what + "->struct_size " + std::to_string(p->struct_size) +
            " is smaller than the " + std::to_string(needed) + " bytes of ABI v1.0");
  }
}

// Checks of host tensors (the host passes host memory: CPU or CUDA_HOST).
struct TensorCheck {
  std::string label;            // "qkv: weight 'wk' (set 2)"
  std::vector<int64_t> shape;   // expected, outermost first
  bool need_data = true;
};
void check_layout(const bb_tensor& t, const TensorCheck& c);
// A matrix (or 1-D weight) of a type this plugin runs, rows a whole number of blocks and of 32
// elements, exact nbytes.
void check_weight(const bb_tensor& t, const TensorCheck& c);
void check_activation(const bb_tensor& t, const TensorCheck& c, int32_t type);
void check_kv_cache(const bb_tensor& t, const TensorCheck& c);
uint64_t element_bytes(int32_t type);

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
