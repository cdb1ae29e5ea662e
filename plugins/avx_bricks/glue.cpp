#include "glue.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>

#include "formats.h"

namespace bb::avx::glue {

// constinit: no code may run when the library is loaded (it may be an AVX-512 build on a CPU without).
constinit plugin_util::PluginId g_plugin{
    kName, {BB_OUT_OF_MEMORY, "avx_bricks: out of memory (while reporting an error)"}};

QMatrix check_weight(const bb_tensor& t, const TensorCheck& c) {
  plugin_util::check_layout(kName, t, c);
  const std::string what = plugin_util::describe(kName, t, c);
  const TypeFacts f = type_facts(t.type);
  if (f.block_elements == 0)
    plugin_util::unsupported(what + ": weight type " + type_name(t.type) +
                             " is not supported by avx_bricks (supported: F32, F16, Q5_0, Q8_0, Q4_K, Q6_K)");
  const int64_t cols = c.shape.back();
  const int64_t rows = c.shape.size() == 2 ? c.shape[0] : 1;
  if (cols % f.block_elements != 0)
    plugin_util::invalid(what + ": rows of " + std::to_string(cols) + " elements are not a whole number of " +
                         type_name(t.type) + " blocks of " + std::to_string(f.block_elements));
  const uint64_t row_bytes = static_cast<uint64_t>(cols / f.block_elements * f.block_bytes);
  if (t.nbytes != static_cast<uint64_t>(rows) * row_bytes)
    plugin_util::invalid(what + ": nbytes " + std::to_string(t.nbytes) + " but " +
                         shape_string(c.shape.data(), static_cast<int32_t>(c.shape.size())) + " of " +
                         type_name(t.type) + " takes " +
                         std::to_string(static_cast<uint64_t>(rows) * row_bytes));
  QMatrix m;
  m.type = t.type;
  m.rows = rows;
  m.cols = cols;
  m.data = static_cast<const uint8_t*>(t.data);
  m.row_bytes = row_bytes;
  return m;
}

std::vector<float> weight_vector(const bb_tensor& t, const TensorCheck& c) {
  const QMatrix m = check_weight(t, c);
  std::vector<float> v(static_cast<size_t>(m.cols));
  dequantize_row(m.type, m.data, v.data(), m.cols);
  return v;
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

}  // namespace bb::avx::glue
