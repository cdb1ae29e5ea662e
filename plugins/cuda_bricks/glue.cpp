#include "glue.h"

#include <algorithm>
#include <cmath>
#include <cstddef>

#include "kernel_api.h"
#include "repack.h"

namespace bb::cuda_bricks {
namespace {

bb_error g_out_of_memory_error{BB_OUT_OF_MEMORY, "cuda_bricks: out of memory (while reporting an error)"};

constexpr size_t kTensorNeeded = offsetof(bb_tensor, nbytes) + sizeof(uint64_t);

std::string describe(const bb_tensor& t, const TensorCheck& c) {
  std::string s = "cuda_bricks " + c.label;
  if (BB_HAS_FIELD(&t, bb_tensor, name) && t.name != nullptr) s += " (\"" + std::string(t.name) + "\")";
  return s;
}

void check_nbytes(const bb_tensor& t, const TensorCheck& c, uint64_t expected) {
  if (t.data == nullptr && t.nbytes == 0) return;
  if (t.nbytes != expected) {
    invalid(describe(t, c) + ": nbytes " + std::to_string(t.nbytes) + " but shape " + shape_string(t.shape, t.ndim) +
            " of " + type_name(t.type) + " takes " + std::to_string(expected));
  }
}

}  // namespace

bb_error* make_error(int32_t status, const std::string& message) noexcept {
  try {
    return new bb_error{status, message};
  } catch (...) {
    return &g_out_of_memory_error;
  }
}

void destroy_error(bb_error* error) noexcept {
  if (error != &g_out_of_memory_error) delete error;
}

void cuda_check(cudaError_t e, const char* call, const char* file, int line) {
  if (e == cudaSuccess) return;
  const char* base = file;
  for (const char* p = file; *p; ++p)
    if (*p == '/') base = p + 1;
  std::string msg = std::string("cuda_bricks: ") + call + " failed at " + base + ":" + std::to_string(line) + ": " +
                    cudaGetErrorName(e) + " (" + cudaGetErrorString(e) + ")";
  if (e == cudaErrorMemoryAllocation) {
    cudaGetLastError();  // not sticky: clear it so the context stays usable
    throw AbiError(BB_OUT_OF_MEMORY, msg);
  }
  throw AbiError(BB_DEVICE_ERROR, msg);
}

void throw_cancelled(const char* where) {
  throw AbiError(BB_CANCELLED, std::string("cuda_bricks ") + where + ": cancelled by the host");
}

uint64_t element_bytes(int32_t type) {
  switch (type) {
    case BB_TYPE_F32:
    case BB_TYPE_I32: return 4;
    case BB_TYPE_F16: return 2;
    case BB_TYPE_I8: return 1;
    default: throw std::logic_error("element_bytes: not an activation type");
  }
}

void check_layout(const bb_tensor& t, const TensorCheck& c) {
  if (t.struct_size < kTensorNeeded) {
    invalid("cuda_bricks " + c.label + ": struct_size " + std::to_string(t.struct_size) + " is smaller than the " +
            std::to_string(kTensorNeeded) + " bytes of a v1.0 bb_tensor");
  }
  if (t.device_type != BB_DEVICE_CPU && t.device_type != BB_DEVICE_CUDA_HOST) {
    unsupported(describe(t, c) + ": device_type " + std::to_string(t.device_type) +
                "; cuda_bricks takes host tensors (CPU or CUDA_HOST) and uploads them itself");
  }
  const auto ndim = static_cast<int32_t>(c.shape.size());
  bool same = t.ndim == ndim;
  for (int32_t i = 0; same && i < ndim; ++i) same = t.shape[i] == c.shape[static_cast<size_t>(i)];
  if (!same) {
    invalid(describe(t, c) + ": shape " + shape_string(t.shape, std::max(0, std::min(t.ndim, BB_MAX_DIMS))) +
            " but the op needs " + shape_string(c.shape.data(), ndim));
  }
  if (!is_compact(t)) unsupported(describe(t, c) + ": strided tensors are not supported (pass compact row-major)");
  if (c.need_data && t.data == nullptr) invalid(describe(t, c) + ": data is NULL");
}

void check_weight(const bb_tensor& t, const TensorCheck& c) {
  check_layout(t, c);
  const auto info = type_info(t.type);
  if (!info) {
    unsupported(describe(t, c) + ": type " + type_name(t.type) + " is not supported by cuda_bricks (supported: " +
                supported_types_list() + ")");
  }
  const int64_t cols = c.shape.back();
  const int64_t rows = c.shape.size() == 2 ? c.shape[0] : 1;
  if (cols % info->block_elements != 0) {
    invalid(describe(t, c) + ": rows of " + std::to_string(cols) + " elements are not a whole number of " +
            info->name + " blocks of " + std::to_string(info->block_elements));
  }
  if (c.shape.size() == 2 && cols % 32 != 0) {
    unsupported(describe(t, c) + ": rows of " + std::to_string(cols) +
                " elements; the GPU kernels need a multiple of 32");
  }
  if (rows > INT32_MAX || cols > INT32_MAX) unsupported(describe(t, c) + ": more than 2^31 rows or columns");
  const uint64_t bytes = static_cast<uint64_t>(rows) * static_cast<uint64_t>(cols / info->block_elements) *
                         static_cast<uint64_t>(info->block_bytes);
  if (t.nbytes != bytes) {
    invalid(describe(t, c) + ": nbytes " + std::to_string(t.nbytes) + " but " +
            shape_string(c.shape.data(), static_cast<int32_t>(c.shape.size())) + " of " + info->name + " takes " +
            std::to_string(bytes));
  }
}

void check_activation(const bb_tensor& t, const TensorCheck& c, int32_t type) {
  check_layout(t, c);
  if (t.type != type) {
    invalid(describe(t, c) + ": type " + type_name(t.type) + " but the op's convention is " + type_name(type));
  }
  uint64_t n = 1;
  for (int64_t d : c.shape) n *= static_cast<uint64_t>(d);
  check_nbytes(t, c, n * element_bytes(type));
}

void check_kv_cache(const bb_tensor& t, const TensorCheck& c) {
  check_layout(t, c);
  if (t.type != BB_TYPE_F32 && t.type != BB_TYPE_F16) {
    unsupported(describe(t, c) + ": KV cache type " + type_name(t.type) + " (cuda_bricks takes F32 or F16)");
  }
  check_nbytes(t, c, static_cast<uint64_t>(c.shape[0]) * static_cast<uint64_t>(c.shape[1]) * element_bytes(t.type));
}

LayerDims layer_dims_of(const bb_model_dims* dims, const std::string& where) {
  require_struct_size(dims, offsetof(bb_model_dims, tied_embeddings) + sizeof(int32_t), where, "dims");
  auto positive = [&](int32_t v, const char* name) {
    if (v <= 0) invalid("cuda_bricks " + where + ": dims->" + name + " is " + std::to_string(v) + ", must be > 0");
  };
  positive(dims->n_embd, "n_embd");
  positive(dims->n_ff, "n_ff");
  positive(dims->n_head, "n_head");
  positive(dims->n_head_kv, "n_head_kv");
  positive(dims->head_dim, "head_dim");
  if (dims->n_head % dims->n_head_kv != 0) {
    invalid("cuda_bricks " + where + ": dims->n_head " + std::to_string(dims->n_head) +
            " is not a multiple of n_head_kv " + std::to_string(dims->n_head_kv));
  }
  if (!std::isfinite(dims->rms_eps) || dims->rms_eps < 0)
    invalid("cuda_bricks " + where + ": dims->rms_eps must be finite, >= 0");
  if (!std::isfinite(dims->rope_theta) || dims->rope_theta <= 0)
    invalid("cuda_bricks " + where + ": dims->rope_theta must be finite, > 0");
  if (dims->head_dim != 64 && dims->head_dim != 128)
    unsupported("cuda_bricks " + where + ": head_dim " + std::to_string(dims->head_dim) +
                "; the attention kernels are built for 64 and 128");
  if (dims->n_head / dims->n_head_kv > kAttnMaxGroup)
    unsupported("cuda_bricks " + where + ": " + std::to_string(dims->n_head / dims->n_head_kv) +
                " query heads per KV head; the attention kernel takes up to " + std::to_string(kAttnMaxGroup));
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
