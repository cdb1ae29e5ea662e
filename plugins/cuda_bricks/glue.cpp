#include "glue.h"

#include <algorithm>
#include <cmath>
#include <cstddef>

#include "kernel_api.h"
#include "repack.h"

namespace bb::cuda_bricks {

constinit plugin_util::PluginId g_plugin{
    kName, {BB_OUT_OF_MEMORY, "cuda_bricks: out of memory (while reporting an error)"}};

void cuda_check(cudaError_t e, const char* call, const char* file, int line) {
  if (e == cudaSuccess) return;
  const char* base = file;
  for (const char* p = file; *p; ++p)
    if (*p == '/') base = p + 1;
  std::string msg = std::string("cuda_bricks: ") + call + " failed at " + base + ":" + std::to_string(line) +
                    ": " + cudaGetErrorName(e) + " (" + cudaGetErrorString(e) + ")";
  if (e == cudaErrorMemoryAllocation) {
    cudaGetLastError();  // not sticky: clear it so the context stays usable
    throw AbiError(BB_OUT_OF_MEMORY, msg);
  }
  throw AbiError(BB_DEVICE_ERROR, msg);
}

void throw_cancelled(const char* where) {
  throw AbiError(BB_CANCELLED, std::string("cuda_bricks ") + where + ": cancelled by the host");
}

void check_weight(const bb_tensor& t, const TensorCheck& c) {
  check_layout(t, c);
  const std::string what = plugin_util::describe(kName, t, c);
  const auto info = type_info(t.type);
  if (!info) {
    unsupported(what + ": type " + type_name(t.type) +
                " is not supported by cuda_bricks (supported: " + supported_types_list() + ")");
  }
  const int64_t cols = c.shape.back();
  const int64_t rows = c.shape.size() == 2 ? c.shape[0] : 1;
  if (cols % info->block_elements != 0) {
    invalid(what + ": rows of " + std::to_string(cols) + " elements are not a whole number of " + info->name +
            " blocks of " + std::to_string(info->block_elements));
  }
  if (c.shape.size() == 2 && cols % 32 != 0) {
    unsupported(what + ": rows of " + std::to_string(cols) +
                " elements; the GPU kernels need a multiple of 32");
  }
  if (rows > INT32_MAX || cols > INT32_MAX) unsupported(what + ": more than 2^31 rows or columns");
  const uint64_t bytes = static_cast<uint64_t>(rows) * static_cast<uint64_t>(cols / info->block_elements) *
                         static_cast<uint64_t>(info->block_bytes);
  if (t.nbytes != bytes) {
    invalid(what + ": nbytes " + std::to_string(t.nbytes) + " but " +
            shape_string(c.shape.data(), static_cast<int32_t>(c.shape.size())) + " of " + info->name +
            " takes " + std::to_string(bytes));
  }
}

LayerDims layer_dims_of(const bb_model_dims* dims, const std::string& where) {
  plugin_util::check_model_dims(kName, dims, where);
  if (dims->head_dim != 64 && dims->head_dim != 128)
    unsupported("cuda_bricks " + where + ": head_dim " + std::to_string(dims->head_dim) +
                "; the attention kernels are built for 64 and 128");
  if (dims->n_head / dims->n_head_kv > kAttnMaxGroup)
    unsupported("cuda_bricks " + where + ": " + std::to_string(dims->n_head / dims->n_head_kv) +
                " query heads per KV head; the attention kernel takes up to " +
                std::to_string(kAttnMaxGroup));
  if (dims->n_embd % 32 != 0 || dims->n_ff % 32 != 0)
    unsupported("cuda_bricks " + where + ": n_embd " + std::to_string(dims->n_embd) + " and n_ff " +
                std::to_string(dims->n_ff) + " must be multiples of 32 (Q8_1 activation blocks)");
  LayerDims s;
  s.n_embd = dims->n_embd;
  s.n_ff = dims->n_ff;
  s.n_head = dims->n_head;
  s.n_head_kv = dims->n_head_kv;
  s.head_dim = dims->head_dim;
  s.rms_eps = dims->rms_eps;
  s.rope_theta = dims->rope_theta;
  return s;
}

std::vector<float> rope_table(int32_t n_pos, int32_t head_dim, double rope_theta) {
  const int32_t half = head_dim / 2;
  std::vector<float> t(static_cast<size_t>(n_pos) * static_cast<size_t>(half) * 2);
  std::vector<double> inv(static_cast<size_t>(half));
  for (int32_t i = 0; i < half; ++i) inv[static_cast<size_t>(i)] = std::pow(rope_theta, -2.0 * i / head_dim);
  for (int32_t p = 0; p < n_pos; ++p) {
    for (int32_t i = 0; i < half; ++i) {
      const double theta = static_cast<double>(p) * inv[static_cast<size_t>(i)];
      const size_t at = (static_cast<size_t>(p) * static_cast<size_t>(half) + static_cast<size_t>(i)) * 2;
      t[at] = static_cast<float>(std::cos(theta));
      t[at + 1] = static_cast<float>(std::sin(theta));
    }
  }
  return t;
}

// ---- RAII ----------------------------------------------------------------------------------------
DeviceBuffer::DeviceBuffer(size_t bytes) : bytes_(bytes) {
  if (bytes > 0) BB_CUDA(cudaMalloc(&ptr_, bytes));
}

DeviceBuffer::~DeviceBuffer() {
  if (ptr_ != nullptr) cudaFree(ptr_);
}

DeviceBuffer& DeviceBuffer::operator=(DeviceBuffer&& o) noexcept {
  if (this != &o) {
    if (ptr_ != nullptr) cudaFree(ptr_);
    ptr_ = o.ptr_;
    bytes_ = o.bytes_;
    o.ptr_ = nullptr;
    o.bytes_ = 0;
  }
  return *this;
}

size_t DeviceArena::reserve(size_t bytes) {
  const size_t at = size_;
  size_ += (bytes + 255) / 256 * 256;
  return at;
}

void DeviceArena::allocate() {
  buffer_ = DeviceBuffer(size_ == 0 ? 256 : size_);
  BB_CUDA(cudaMemset(buffer_.get(), 0, buffer_.bytes()));
  // cudaMemset runs on the legacy stream, which the contexts' non-blocking streams do not wait for.
  BB_CUDA(cudaDeviceSynchronize());
}

Event::Event() { BB_CUDA(cudaEventCreate(&e_)); }
Event::~Event() {
  if (e_ != nullptr) cudaEventDestroy(e_);
}

Graph::~Graph() {
  if (exec_ != nullptr) cudaGraphExecDestroy(exec_);
}

Graph& Graph::operator=(Graph&& o) noexcept {
  if (this != &o) {
    if (exec_ != nullptr) cudaGraphExecDestroy(exec_);
    exec_ = o.exec_;
    nodes_ = o.nodes_;
    o.exec_ = nullptr;
  }
  return *this;
}

void Graph::launch(cudaStream_t stream) const { BB_CUDA(cudaGraphLaunch(exec_, stream)); }

}  // namespace bb::cuda_bricks
