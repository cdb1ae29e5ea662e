#include "ops.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <stdexcept>
#include <string>

#include "dequant.h"

namespace bb::scalar_ref {

Matrix Matrix::of(int32_t type, int64_t rows, int64_t cols, const void* data) {
  if (rows < 0 || cols < 0) throw std::invalid_argument("Matrix::of: negative shape");
  const auto rb = scalar_ref::row_bytes(type, cols);
  if (!rb) {
    throw std::invalid_argument("Matrix::of: " + type_name(type) + " rows of " + std::to_string(cols) +
                                " elements cannot be dequantized");
  }
  Matrix m;
  m.type = type;
  m.rows = rows;
  m.cols = cols;
  m.data = static_cast<const uint8_t*>(data);
  m.row_bytes = *rb;
  return m;
}

void Matrix::dequantize_row(int64_t r, float* out) const {
  if (r < 0 || r >= rows) {
    throw std::out_of_range("Matrix::dequantize_row: row " + std::to_string(r) + " of " +
                            std::to_string(rows));
  }
  scalar_ref::dequantize_row(type, data + static_cast<uint64_t>(r) * row_bytes, out, cols);
}

std::vector<float> Matrix::dequantize_row(int64_t r) const {
  std::vector<float> out(static_cast<size_t>(cols));
  dequantize_row(r, out.data());
  return out;
}

// ---------------------------------------------------------------------------------------------
KvCache::KvCache(int32_t type, int64_t width, int64_t max_rows)
    : type_(type), width_(width), max_rows_(max_rows) {
  if (type != kTypeF32 && type != kTypeF16) {
    throw std::invalid_argument("KvCache: type " + type_name(type) + " (only F32 and F16 caches)");
  }
  if (width <= 0 || max_rows < 0) throw std::invalid_argument("KvCache: bad shape");
  row_bytes_ = static_cast<uint64_t>(width) * (type == kTypeF32 ? 4u : 2u);
}

int64_t KvCache::allocated_rows() const { return static_cast<int64_t>(bytes_.size() / row_bytes_); }

void KvCache::ensure_rows(int64_t n_rows) {
  if (n_rows > max_rows_) {
    throw std::out_of_range("KvCache: " + std::to_string(n_rows) + " rows exceed the cache's " +
                            std::to_string(max_rows_));
  }
  const int64_t have = allocated_rows();
  if (n_rows <= have) return;
  // Geometric growth keeps a long decode from reallocating at every position.
  const int64_t grown = std::min(max_rows_, std::max(n_rows, have * 2));
  bytes_.resize(static_cast<size_t>(grown) * row_bytes_, 0);
}

void KvCache::check_row(int64_t row, int64_t n_rows, const char* what) const {
  if (row < 0 || n_rows < 0 || row + n_rows > allocated_rows()) {
    throw std::out_of_range(std::string("KvCache::") + what + ": rows [" + std::to_string(row) + ", " +
                            std::to_string(row + n_rows) + ") outside the " +
                            std::to_string(allocated_rows()) + " allocated");
  }
}

void KvCache::write_row(int64_t row, const float* src) {
  check_row(row, 1, "write_row");
  uint8_t* dst = bytes_.data() + static_cast<uint64_t>(row) * row_bytes_;
  if (type_ == kTypeF32) {
    std::memcpy(dst, src, row_bytes_);
  } else {
    for (int64_t i = 0; i < width_; ++i) {
      const uint16_t h = fp32_to_fp16(src[i]);
      std::memcpy(dst + 2 * i, &h, 2);
    }
  }
}

void KvCache::read_row(int64_t row, float* dst) const {
  check_row(row, 1, "read_row");
  scalar_ref::dequantize_row(type_, bytes_.data() + static_cast<uint64_t>(row) * row_bytes_, dst, width_);
}

void KvCache::write_raw(int64_t row, int64_t n_rows, const void* src) {
  check_row(row, n_rows, "write_raw");
  if (n_rows == 0) return;
  std::memcpy(bytes_.data() + static_cast<uint64_t>(row) * row_bytes_, src,
              static_cast<uint64_t>(n_rows) * row_bytes_);
}

// ---------------------------------------------------------------------------------------------
void gemv(const Matrix& w, const float* x, float* y, const Matrix* bias) {
  std::vector<float> row(static_cast<size_t>(w.cols));
  std::vector<float> b;
  if (bias != nullptr) {
    if (bias->rows != 1 || bias->cols != w.rows) throw std::invalid_argument("gemv: bias shape");
    b = bias->dequantize_row(0);
  }
  for (int64_t r = 0; r < w.rows; ++r) {
    w.dequantize_row(r, row.data());
    double sum = 0.0;
    for (int64_t c = 0; c < w.cols; ++c) sum += static_cast<double>(row[c]) * static_cast<double>(x[c]);
    if (bias != nullptr) sum += static_cast<double>(b[r]);
    y[r] = static_cast<float>(sum);
  }
}

void rms_norm(const float* x, const Matrix& g, int64_t n, double eps, float* y) {
  if (g.rows != 1 || g.cols != n) throw std::invalid_argument("rms_norm: weight shape");
  const std::vector<float> gv = g.dequantize_row(0);
  double sum_sq = 0.0;
  for (int64_t i = 0; i < n; ++i) sum_sq += static_cast<double>(x[i]) * static_cast<double>(x[i]);
  const double inv_rms = 1.0 / std::sqrt(sum_sq / static_cast<double>(n) + eps);
  for (int64_t i = 0; i < n; ++i) {
    y[i] = static_cast<float>(static_cast<double>(x[i]) * inv_rms * static_cast<double>(gv[i]));
  }
}

void qkv(const QkvWeights& w, const float* x, float* q, float* k, float* v) {
  gemv(w.wq, x, q, &w.bq);
  gemv(w.wk, x, k, &w.bk);
  gemv(w.wv, x, v, &w.bv);
}

void rope_neox(float* x, int32_t n_heads, int32_t head_dim, int32_t pos, double rope_theta) {
  if (head_dim % 2 != 0) throw std::invalid_argument("rope_neox: odd head_dim");
  const int32_t half = head_dim / 2;
  for (int32_t h = 0; h < n_heads; ++h) {
    float* head = x + static_cast<int64_t>(h) * head_dim;
    for (int32_t i = 0; i < half; ++i) {
      const double theta = static_cast<double>(pos) * std::pow(rope_theta, -2.0 * i / head_dim);
      const double c = std::cos(theta);
      const double s = std::sin(theta);
      const double x0 = head[i];
      const double x1 = head[i + half];
      head[i] = static_cast<float>(x0 * c - x1 * s);
      head[i + half] = static_cast<float>(x0 * s + x1 * c);
    }
  }
}

void attention(const float* q, const KvCache& k, const KvCache& v, int64_t n_rows, const LayerShape& s,
               float* o) {
  const int64_t hd = s.head_dim;
  if (s.n_head_kv <= 0 || s.n_head % s.n_head_kv != 0)
    throw std::invalid_argument("attention: n_head % n_head_kv");
  if (k.width() != s.kv_width() || v.width() != s.kv_width())
    throw std::invalid_argument("attention: cache width");
  if (n_rows < 1) throw std::invalid_argument("attention: no rows to attend");
  const int32_t group = s.n_head / s.n_head_kv;  // query heads per KV head
  const double scale = 1.0 / std::sqrt(static_cast<double>(hd));

  // scores[h * n_rows + j] = q_h . k_j * scale
  std::vector<double> scores(static_cast<size_t>(s.n_head * n_rows));
  std::vector<float> row(static_cast<size_t>(s.kv_width()));
  for (int64_t j = 0; j < n_rows; ++j) {
    k.read_row(j, row.data());
    for (int32_t h = 0; h < s.n_head; ++h) {
      const float* qh = q + h * hd;
      const float* kh = row.data() + (h / group) * hd;
      double dot = 0.0;
      for (int64_t d = 0; d < hd; ++d) dot += static_cast<double>(qh[d]) * static_cast<double>(kh[d]);
      scores[static_cast<size_t>(h * n_rows + j)] = dot * scale;
    }
  }
  // softmax per head, max subtracted so exp never overflows
  for (int32_t h = 0; h < s.n_head; ++h) {
    double* sh = scores.data() + h * n_rows;
    const double max = *std::max_element(sh, sh + n_rows);
    double sum = 0.0;
    for (int64_t j = 0; j < n_rows; ++j) {
      sh[j] = std::exp(sh[j] - max);
      sum += sh[j];
    }
    for (int64_t j = 0; j < n_rows; ++j) sh[j] /= sum;
  }
  std::vector<double> acc(static_cast<size_t>(s.q_width()), 0.0);
  for (int64_t j = 0; j < n_rows; ++j) {
    v.read_row(j, row.data());
    for (int32_t h = 0; h < s.n_head; ++h) {
      const double p = scores[static_cast<size_t>(h * n_rows + j)];
      const float* vh = row.data() + (h / group) * hd;
      double* oh = acc.data() + h * hd;
      for (int64_t d = 0; d < hd; ++d) oh[d] += p * static_cast<double>(vh[d]);
    }
  }
  for (int64_t i = 0; i < s.q_width(); ++i) o[i] = static_cast<float>(acc[static_cast<size_t>(i)]);
}

void ffn(const FfnWeights& w, const float* x, float* y) {
  const int64_t n_ff = w.gate.rows;
  std::vector<float> g(static_cast<size_t>(n_ff)), u(static_cast<size_t>(n_ff)), h(static_cast<size_t>(n_ff));
  gemv(w.gate, x, g.data());
  gemv(w.up, x, u.data());
  for (int64_t i = 0; i < n_ff; ++i) {
    const double z = g[i];
    const double silu = z / (1.0 + std::exp(-z));
    h[i] = static_cast<float>(silu * static_cast<double>(u[i]));
  }
  gemv(w.down, h.data(), y);
}

void layer(const LayerWeights& w, const LayerShape& s, const float* x, int32_t pos, KvCache& k, KvCache& v,
           float* y) {
  const int64_t e = s.n_embd;
  std::vector<float> xn(e), q(s.q_width()), kk(s.kv_width()), vv(s.kv_width()), a(s.q_width()), o(e), h(e),
      hn(e), f(e);
  rms_norm(x, w.attn_norm, e, s.rms_eps, xn.data());
  qkv(w.qkv, xn.data(), q.data(), kk.data(), vv.data());
  rope_neox(q.data(), s.n_head, s.head_dim, pos, s.rope_theta);
  rope_neox(kk.data(), s.n_head_kv, s.head_dim, pos, s.rope_theta);
  k.ensure_rows(int64_t{pos} + 1);
  v.ensure_rows(int64_t{pos} + 1);
  k.write_row(pos, kk.data());
  v.write_row(pos, vv.data());
  attention(q.data(), k, v, int64_t{pos} + 1, s, a.data());
  gemv(w.wo, a.data(), o.data());
  for (int64_t i = 0; i < e; ++i) h[i] = x[i] + o[i];
  rms_norm(h.data(), w.ffn_norm, e, s.rms_eps, hn.data());
  ffn(w.ffn, hn.data(), f.data());
  for (int64_t i = 0; i < e; ++i) y[i] = h[i] + f[i];
}

}  // namespace bb::scalar_ref
