// The bricks of a Qwen2 decode step on the thread pool: parallel GEMV (several matrices in one
// parallel region), fused FFN gate+up, RMSNorm, NEOX RoPE, GQA attention over an F32/F16 KV cache,
// and the whole layer. Every buffer a run touches is allocated when the plan or session is created.
#pragma once

#include <cstdint>
#include <vector>

#include "aligned.h"
#include "kernels.h"
#include "thread_pool.h"

namespace bb::avx {

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

// One matrix of a parallel GEMV: y[r] = W[r] . x (+ bias[r]) (+ residual[r]).
struct GemvSegment {
  const QMatrix* w = nullptr;
  const ActQ8* x = nullptr;
  float* y = nullptr;
  const float* bias = nullptr;
  const float* residual = nullptr;
};
void parallel_gemv(ThreadPool& pool, const GemvSegment* segs, int n_segs);

// h[r] = silu(gate[r] . x) * (up[r] . x); g and u are scratch of n_ff floats.
void parallel_gate_up(ThreadPool& pool, const QMatrix& gate, const QMatrix& up, const ActQ8& x, float* g,
                      float* u, float* h);

// y = x / sqrt(mean(x^2) + eps) * w
void rms_norm(const float* x, const float* w, int64_t n, double eps, float* y);

// cos/sin of pos * theta^(-2i/hd), i < hd/2, computed in double (one table per position).
struct RopeTable {
  std::vector<double> inv_freq;  // theta^(-2i/hd)
  AlignedArray<float> cos_, sin_;
  int32_t pos = -1;
  void init(int32_t head_dim, double theta);
  void set_pos(int32_t p);  // no allocation
};
// NEOX RoPE in place: (x[i], x[i + hd/2]) rotated by the table's angles, every head.
void rope_neox(float* x, int32_t n_heads, int32_t head_dim, const RopeTable& t);

// A KV cache of one layer: rows of n_head_kv * head_dim, F32 or F16.
struct KvCache {
  int32_t type = 0;  // BB_TYPE_F32 or BB_TYPE_F16
  int64_t width = 0;
  int64_t rows = 0;
  AlignedArray<float> f32;
  AlignedArray<uint16_t> f16;
  void init(int32_t type, int64_t width, int64_t rows);
  void write_row(int64_t row, const float* src);
  void write_raw(int64_t row, int64_t n_rows, const void* src);  // rows in the cache's own type
};

// Scratch of attention: one scores row per query head of a task, per thread.
struct AttentionScratch {
  int64_t max_rows = 0;
  int32_t heads_per_task = 0;
  AlignedArray<float> scores;  // [n_threads][heads_per_task][max_rows]
  void init(const LayerShape& s, int64_t max_rows, int n_threads);
};
// o_h = softmax_j(q_h . k_j / sqrt(hd)) . v_j over rows j < n_rows; head h reads KV head
// h / (n_head / n_head_kv).
void attention(ThreadPool& pool, const LayerShape& s, const float* q, const KvCache& k, const KvCache& v,
               int64_t n_rows, AttentionScratch& scratch, float* o);

// Weights of one layer: matrices used in place, vectors as F32 copies.
struct LayerWeights {
  const float* attn_norm = nullptr;
  QMatrix wq, wk, wv, wo, gate, up, down;
  const float* bq = nullptr;
  const float* bk = nullptr;
  const float* bv = nullptr;
  const float* ffn_norm = nullptr;
};

// Scratch of one layer's forward pass.
struct LayerScratch {
  AlignedArray<float> xn, q, k, v, att, h, hn, g, u, ff;
  ActQ8 act_q, act_k, act_v, act_o, act_gate, act_up, act_down;
  AttentionScratch attn;
  void init(const LayerShape& s, int64_t max_ctx, int n_threads);
};

// One Qwen2 layer for the token at pos: rows 0..pos-1 of the caches are the history, row pos is
// written. y may equal x.
void layer_forward(ThreadPool& pool, const LayerShape& s, const LayerWeights& w, const float* x, int32_t pos,
                   const RopeTable& rope, KvCache& k, KvCache& v, LayerScratch& t, float* y);

}  // namespace bb::avx
