#include "weights.h"

#include <cstring>

#include "quant_math.h"
#include "repack.h"

namespace bb::cuda_bricks {

int WeightStore::add_matrix(const bb_tensor& t, int64_t rows, int64_t cols, int32_t rope_head_dim) {
  // The same host tensor registered twice (a tied LM head) is stored once.
  for (size_t i = 0; i < entries_.size(); ++i) {
    const Entry& e = entries_[i];
    if (e.is_matrix && e.data == t.data && e.type == t.type && e.rows == rows && e.cols == cols &&
        e.rope_head_dim == rope_head_dim)
      return static_cast<int>(i);
  }
  Entry e{t.data, t.type, true, rows, cols, rope_head_dim};
  const PackedSizes p = packed_sizes(t.type, rows, cols);
  e.off_q = arena_.reserve(p.q);
  e.off_aux = arena_.reserve(p.aux);
  e.off_sc = arena_.reserve(p.sc);
  e.off_d = arena_.reserve(p.d);
  entries_.push_back(e);
  return static_cast<int>(entries_.size() - 1);
}

int WeightStore::add_vector(const bb_tensor& t, int64_t n, int32_t rope_head_dim) {
  Entry e{t.data, t.type, false, 1, n, rope_head_dim};
  e.off_q = arena_.reserve(static_cast<size_t>(n) * sizeof(float));
  entries_.push_back(e);
  return static_cast<int>(entries_.size() - 1);
}

void WeightStore::upload(const volatile int32_t* cancel) {
  arena_.allocate();
  std::vector<uint8_t> staging;
  for (const Entry& e : entries_) {
    if (cancel != nullptr && *cancel != 0) throw_cancelled("weight upload");
    const PackedSizes p = packed_sizes(e.type, e.rows, e.cols);
    if (e.is_matrix) {
      const bool native = e.type == kTypeF32 || e.type == kTypeF16 || e.type == kTypeQ4_K;
      if (native && e.rope_head_dim == 0) {
        BB_CUDA(cudaMemcpy(arena_.at(e.off_q), e.data, p.q, cudaMemcpyHostToDevice));
        continue;
      }
      staging.resize(p.total());
      uint8_t* q = staging.data();
      uint8_t* aux = q + p.q;
      uint8_t* sc = aux + p.aux;
      uint8_t* d = sc + p.sc;
      if (native) {
        std::memcpy(q, e.data, p.q);
      } else {
        repack(e.type, e.rows, e.cols, e.data, q, aux, sc, d);
      }
      to_rope_order(q, p.q, e.rows, e.rope_head_dim);
      to_rope_order(aux, p.aux, e.rows, e.rope_head_dim);
      to_rope_order(sc, p.sc, e.rows, e.rope_head_dim);
      to_rope_order(d, p.d, e.rows, e.rope_head_dim);
      BB_CUDA(cudaMemcpy(arena_.at(e.off_q), q, p.q, cudaMemcpyHostToDevice));
      if (p.aux > 0) BB_CUDA(cudaMemcpy(arena_.at(e.off_aux), aux, p.aux, cudaMemcpyHostToDevice));
      if (p.sc > 0) BB_CUDA(cudaMemcpy(arena_.at(e.off_sc), sc, p.sc, cudaMemcpyHostToDevice));
      if (p.d > 0) BB_CUDA(cudaMemcpy(arena_.at(e.off_d), d, p.d, cudaMemcpyHostToDevice));
    } else {
      // Dequantize on the host with the kernels' own element formula, over host-side planes.
      staging.resize(p.total());
      uint8_t* q = staging.data();
      uint8_t* aux = q + p.q;
      uint8_t* sc = aux + p.aux;
      uint8_t* d = sc + p.sc;
      repack(e.type, 1, e.cols, e.data, q, aux, sc, d);
      MatDesc m{e.type, 1, static_cast<int32_t>(e.cols), 0, q, aux, sc, reinterpret_cast<const uint16_t*>(d)};
      std::vector<float> f(static_cast<size_t>(e.cols));
      for (int64_t i = 0; i < e.cols; ++i)
        f[static_cast<size_t>(i)] = dequant_element(m, 0, static_cast<int>(i));
      to_rope_order(reinterpret_cast<uint8_t*>(f.data()), f.size() * sizeof(float), e.cols, e.rope_head_dim);
      BB_CUDA(cudaMemcpy(arena_.at(e.off_q), f.data(), f.size() * sizeof(float), cudaMemcpyHostToDevice));
    }
  }
  // Pageable cudaMemcpy may return before its DMA lands, on the legacy stream the contexts'
  // non-blocking streams do not wait for: finish every copy before any kernel can read them.
  BB_CUDA(cudaDeviceSynchronize());
  uploaded_ = true;
}

MatDesc WeightStore::matrix(int id) const {
  const Entry& e = entries_.at(static_cast<size_t>(id));
  MatDesc m{};
  m.type = e.type;
  m.rows = static_cast<int32_t>(e.rows);
  m.cols = static_cast<int32_t>(e.cols);
  m.q = arena_.at(e.off_q);
  m.aux = arena_.at(e.off_aux);
  m.sc = arena_.at(e.off_sc);
  m.d = reinterpret_cast<const uint16_t*>(arena_.at(e.off_d));
  return m;
}

const float* WeightStore::vector(int id) const {
  return reinterpret_cast<const float*>(arena_.at(entries_.at(static_cast<size_t>(id)).off_q));
}

}  // namespace bb::cuda_bricks
