#include "abi_glue.h"

#include <algorithm>
#include <cmath>
#include <cstddef>

#include "dequant.h"

namespace bb::scalar_ref::glue {
namespace {

// Handed out when even an error cannot be allocated; destroy_error never frees it.
bb_error g_out_of_memory_error{BB_OUT_OF_MEMORY, "scalar_ref: out of memory (while reporting an error)"};

constexpr size_t kTensorNeeded = offsetof(bb_tensor, nbytes) + sizeof(uint64_t);

std::string describe(const bb_tensor& t, const TensorCheck& c) {
  std::string s = "scalar_ref " + c.label;
  if (BB_HAS_FIELD(&t, bb_tensor, name) && t.name != nullptr) s += " (\"" + std::string(t.name) + "\")";
  return s;
}

void check_nbytes(const bb_tensor& t, const TensorCheck& c, uint64_t expected) {
  // A descriptor without data may leave nbytes 0; a tensor with data must state its exact size.
  if (t.data == nullptr && t.nbytes == 0) return;
  if (t.nbytes != expected) {
    invalid(describe(t, c) + ": nbytes " + std::to_string(t.nbytes) + " but shape " +
            shape_string(t.shape, t.ndim) + " of " + type_name(t.type) + " takes " +
            std::to_string(expected));
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

std::string supported_types_list() {
  std::string s;
  for (int32_t t :
       {kTypeF32, kTypeF16, kTypeBF16, kTypeQ4_0, kTypeQ5_0, kTypeQ8_0, kTypeQ4_K, kTypeQ5_K, kTypeQ6_K}) {
    if (!s.empty()) s += ", ";
    s += type_name(t);
  }
  return s;
}

uint64_t element_bytes(int32_t type) {
  switch (type) {
    case BB_TYPE_F32:
    case BB_TYPE_I32:
      return 4;
    case BB_TYPE_F16:
      return 2;
    case BB_TYPE_I8:
      return 1;
    default:
      throw std::logic_error("element_bytes: not an activation type");
  }
}

void check_layout(const bb_tensor& t, const TensorCheck& c) {
  if (t.struct_size < kTensorNeeded) {
    invalid("scalar_ref " + c.label + ": struct_size " + std::to_string(t.struct_size) +
            " is smaller than the " + std::to_string(kTensorNeeded) + " bytes of a v1.0 bb_tensor");
  }
  if (t.device_type != BB_DEVICE_CPU && t.device_type != BB_DEVICE_CUDA_HOST) {
    unsupported(describe(t, c) + ": device_type " + std::to_string(t.device_type) +
                "; scalar_ref reads host memory only (CPU or CUDA_HOST)");
  }
  const auto ndim = static_cast<int32_t>(c.shape.size());
  bool same = t.ndim == ndim;
  for (int32_t i = 0; same && i < ndim; ++i) same = t.shape[i] == c.shape[static_cast<size_t>(i)];
  if (!same) {
    invalid(describe(t, c) + ": shape " + shape_string(t.shape, std::max(0, std::min(t.ndim, BB_MAX_DIMS))) +
            " but the op needs " + shape_string(c.shape.data(), ndim));
  }
  if (!is_compact(t))
    unsupported(describe(t, c) + ": strided tensors are not supported (pass compact row-major)");
  if (c.need_data && t.data == nullptr) invalid(describe(t, c) + ": data is NULL");
}

Matrix check_weight(const bb_tensor& t, const TensorCheck& c) {
  check_layout(t, c);
  const auto format = type_format(t.type);
  if (!format) {
    unsupported(describe(t, c) + ": type " + type_name(t.type) +
                " is not supported by scalar_ref (supported: " + supported_types_list() + ")");
  }
  const int64_t cols = c.shape.back();
  const int64_t rows = c.shape.size() == 2 ? c.shape[0] : 1;
  if (cols % format->block_elements != 0) {
    invalid(describe(t, c) + ": rows of " + std::to_string(cols) + " elements are not a whole number of " +
            format->name + " blocks of " + std::to_string(format->block_elements));
  }
  const uint64_t bytes = static_cast<uint64_t>(rows) * *row_bytes(t.type, cols);
  if (t.nbytes != bytes) {
    invalid(describe(t, c) + ": nbytes " + std::to_string(t.nbytes) + " but " +
            shape_string(c.shape.data(), static_cast<int32_t>(c.shape.size())) + " of " + format->name +
            " takes " + std::to_string(bytes));
  }
  return Matrix::of(t.type, rows, cols, t.data);
}

void check_activation(const bb_tensor& t, const TensorCheck& c, int32_t type) {
  check_layout(t, c);
  if (t.type != type) {
    invalid(describe(t, c) + ": type " + type_name(t.type) + " but the op's convention is " +
            type_name(type));
  }
  uint64_t n = 1;
  for (int64_t d : c.shape) n *= static_cast<uint64_t>(d);
  check_nbytes(t, c, n * element_bytes(type));
}

void check_kv_cache(const bb_tensor& t, const TensorCheck& c) {
  check_layout(t, c);
  if (t.type != BB_TYPE_F32 && t.type != BB_TYPE_F16) {
    unsupported(describe(t, c) + ": KV cache type " + type_name(t.type) + " (scalar_ref takes F32 or F16)");
  }
  check_nbytes(t, c,
               static_cast<uint64_t>(c.shape[0]) * static_cast<uint64_t>(c.shape[1]) * element_bytes(t.type));
}

LayerShape layer_shape_of(const bb_model_dims* dims, const std::string& where) {
  require_struct_size(dims, offsetof(bb_model_dims, tied_embeddings) + sizeof(int32_t), where, "dims");
  auto positive = [&](int32_t v, const char* name) {
    if (v <= 0)
      invalid("scalar_ref " + where + ": dims->" + name + " is " + std::to_string(v) + ", must be > 0");
  };
  positive(dims->n_embd, "n_embd");
  positive(dims->n_ff, "n_ff");
  positive(dims->n_head, "n_head");
  positive(dims->n_head_kv, "n_head_kv");
  positive(dims->head_dim, "head_dim");
  if (dims->n_head % dims->n_head_kv != 0) {
    invalid("scalar_ref " + where + ": dims->n_head " + std::to_string(dims->n_head) +
            " is not a multiple of n_head_kv " + std::to_string(dims->n_head_kv));
  }
  if (dims->head_dim % 2 != 0) {
    invalid("scalar_ref " + where + ": dims->head_dim " + std::to_string(dims->head_dim) +
            " is odd; NEOX RoPE rotates halves");
  }
  if (!std::isfinite(dims->rms_eps) || dims->rms_eps < 0) {
    invalid("scalar_ref " + where + ": dims->rms_eps " + std::to_string(dims->rms_eps) +
            " must be finite, >= 0");
  }
  if (!std::isfinite(dims->rope_theta) || dims->rope_theta <= 0) {
    invalid("scalar_ref " + where + ": dims->rope_theta " + std::to_string(dims->rope_theta) +
            " must be finite, > 0");
  }
  LayerShape s;
  s.n_embd = dims->n_embd;
  s.n_ff = dims->n_ff;
  s.n_head = dims->n_head;
  s.n_head_kv = dims->n_head_kv;
  s.head_dim = dims->head_dim;
  s.rms_eps = dims->rms_eps;
  s.rope_theta = dims->rope_theta;
  return s;
}

}  // namespace bb::scalar_ref::glue
