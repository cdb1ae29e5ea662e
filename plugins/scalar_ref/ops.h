// The bricks of a Qwen2 decode step, written plainly: weights are dequantized row by row
// (dequant.h), dot products and reductions accumulate in double, activations are float.
#pragma once

#include <cstdint>
#include <vector>

namespace bb::scalar_ref {

// A row-major matrix of any dequantizable type, used in place (not owned). A vector is one row.
struct Matrix {
  int32_t type = 0;
  int64_t rows = 0;
  int64_t cols = 0;
  const uint8_t* data = nullptr;
  uint64_t row_bytes = 0;

  // Throws std::invalid_argument when the type is not dequantizable or cols is not whole blocks.
  static Matrix of(int32_t type, int64_t rows, int64_t cols, const void* data);
  void dequantize_row(int64_t r, float* out) const;
  std::vector<float> dequantize_row(int64_t r) const;
};

// Keys or values of one layer: rows of `width` = n_head_kv * head_dim elements, stored F32 or F16
// (F16 rows are written rounded to nearest even and read back exactly). Storage grows on demand up
// to max_rows, so a session with a long n_ctx_max does not allocate it all up front.
class KvCache {
 public:
  KvCache(int32_t type, int64_t width, int64_t max_rows);
  int32_t type() const { return type_; }
  int64_t width() const { return width_; }
  int64_t max_rows() const { return max_rows_; }
  int64_t allocated_rows() const;
  uint64_t row_bytes() const { return row_bytes_; }

  void ensure_rows(int64_t n_rows);  // rows [0, n_rows) exist afterwards; new rows are zero
  void write_row(int64_t row, const float* src);
  void read_row(int64_t row, float* dst) const;
  // Raw rows in the cache's own type (a host's F32 or F16 tensor), rows [row, row + n_rows).
  void write_raw(int64_t row, int64_t n_rows, const void* src);

 private:
  void check_row(int64_t row, int64_t n_rows, const char* what) const;
  int32_t type_;
  int64_t width_;
  int64_t max_rows_;
  uint64_t row_bytes_;
  std::vector<uint8_t> bytes_;
};

struct LayerShape {
  int32_t n_embd = 0;
  int32_t n_ff = 0;
  int32_t n_head = 0;
  int32_t n_head_kv = 0;
  int32_t head_dim = 0;
  double rms_eps = 0;
  double rope_theta = 0;
  int64_t q_width() const { return int64_t{n_head} * head_dim; }
  int64_t kv_width() const { return int64_t{n_head_kv} * head_dim; }
};

struct QkvWeights {
  Matrix wq, bq, wk, bk, wv, bv;  // wq [H,E], bq [H], wk/wv [K,E], bk/bv [K]
};
struct FfnWeights {
  Matrix gate, up, down;  // gate/up [F,E], down [E,F]
};
struct LayerWeights {
  Matrix attn_norm;  // [E]
  QkvWeights qkv;
  Matrix wo;        // [E,H]
  Matrix ffn_norm;  // [E]
  FfnWeights ffn;
};

// y[r] = sum_c W[r,c] x[c] (+ bias[r]), accumulated in double and rounded once.
void gemv(const Matrix& w, const float* x, float* y, const Matrix* bias = nullptr);
// y = x / sqrt(mean(x^2) + eps) * g
void rms_norm(const float* x, const Matrix& g, int64_t n, double eps, float* y);
// q = wq x + bq, k = wk x + bk, v = wv x + bv
void qkv(const QkvWeights& w, const float* x, float* q, float* k, float* v);
// NEOX RoPE in place on n_heads heads: (x[i], x[i + hd/2]) rotated by pos * theta^(-2i/hd).
void rope_neox(float* x, int32_t n_heads, int32_t head_dim, int32_t pos, double rope_theta);
// o_h = softmax_j(q_h . k_j / sqrt(hd)) . v_j over rows j < n_rows; query head h reads KV head
// h / (n_head / n_head_kv). Softmax subtracts the max score first.
void attention(const float* q, const KvCache& k, const KvCache& v, int64_t n_rows, const LayerShape& s,
               float* o);
// y = down (silu(gate x) * (up x)), silu(z) = z / (1 + exp(-z))
void ffn(const FfnWeights& w, const float* x, float* y);
// One Qwen2 layer for the token at `pos`: writes its k, v to row pos of the caches, attends rows
// 0..pos. h = x + wo attn(rope(qkv(rms(x)))); y = h + ffn(rms(h)).
void layer(const LayerWeights& w, const LayerShape& s, const float* x, int32_t pos, KvCache& k, KvCache& v,
           float* y);

}  // namespace bb::scalar_ref
