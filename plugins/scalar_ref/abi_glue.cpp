#include "abi_glue.h"

#include <algorithm>
#include <cmath>
#include <cstddef>

#include "dequant.h"

namespace bb::scalar_ref::glue {

constinit plugin_util::PluginId g_plugin{
    kName, {BB_OUT_OF_MEMORY, "scalar_ref: out of memory (while reporting an error)"}};

std::string supported_types_list() {
  std::string s;
  for (int32_t t :
       {kTypeF32, kTypeF16, kTypeBF16, kTypeQ4_0, kTypeQ5_0, kTypeQ8_0, kTypeQ4_K, kTypeQ5_K, kTypeQ6_K}) {
    if (!s.empty()) s += ", ";
    s += type_name(t);
  }
  return s;
}

Matrix check_weight(const bb_tensor& t, const TensorCheck& c) {
  plugin_util::check_layout(kName, t, c);
  const std::string what = plugin_util::describe(kName, t, c);
  const auto format = type_format(t.type);
  if (!format) {
    unsupported(what + ": type " + type_name(t.type) +
                " is not supported by scalar_ref (supported: " + supported_types_list() + ")");
  }
  const int64_t cols = c.shape.back();
  const int64_t rows = c.shape.size() == 2 ? c.shape[0] : 1;
  if (cols % format->block_elements != 0) {
    invalid(what + ": rows of " + std::to_string(cols) + " elements are not a whole number of " +
            format->name + " blocks of " + std::to_string(format->block_elements));
  }
  const uint64_t bytes = static_cast<uint64_t>(rows) * *row_bytes(t.type, cols);
  if (t.nbytes != bytes) {
    invalid(what + ": nbytes " + std::to_string(t.nbytes) + " but " +
            shape_string(c.shape.data(), static_cast<int32_t>(c.shape.size())) + " of " + format->name +
            " takes " + std::to_string(bytes));
  }
  return Matrix::of(t.type, rows, cols, t.data);
}

LayerShape layer_shape_of(const bb_model_dims* dims, const std::string& where) {
  plugin_util::check_model_dims(kName, dims, where);
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
