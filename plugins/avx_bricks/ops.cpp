#include "ops.h"

#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <stdexcept>

#include "formats.h"

namespace bb::avx {
namespace {

// Rows per work item: two contiguous chunks per thread. Each chunk is one sequential stream for the
// hardware prefetchers; on the 2-core EPYC (1.5B decode@512, ms a token) 64 KiB chunks gave 30.5,
// 256 KiB 27.1, 1 MiB 26.6, 1 or 2 chunks per thread 26.1. Two rather than one, so that a thread
// another process slows down can leave its second chunk to the other (atomic hand-out).
constexpr int64_t kChunksPerThread = 2;

int64_t chunk_rows(int64_t rows, int n_threads) {
  const int64_t n = int64_t{n_threads} * kChunksPerThread;
  return std::max<int64_t>(4, (rows + n - 1) / n);
}

// exp(x) for x <= 0 (Cephes' expf polynomial, ~1 ulp); 8 lanes.
inline __m256 exp256(__m256 x) {
  x = _mm256_max_ps(x, _mm256_set1_ps(-87.0f));
  __m256 fx = _mm256_fmadd_ps(x, _mm256_set1_ps(1.44269504088896341f), _mm256_set1_ps(0.5f));
  fx = _mm256_floor_ps(fx);
  x = _mm256_fnmadd_ps(fx, _mm256_set1_ps(0.693359375f), x);
  x = _mm256_fnmadd_ps(fx, _mm256_set1_ps(-2.12194440e-4f), x);
  __m256 y = _mm256_set1_ps(1.9875691500e-4f);
  y = _mm256_fmadd_ps(y, x, _mm256_set1_ps(1.3981999507e-3f));
  y = _mm256_fmadd_ps(y, x, _mm256_set1_ps(8.3334519073e-3f));
  y = _mm256_fmadd_ps(y, x, _mm256_set1_ps(4.1665795894e-2f));
  y = _mm256_fmadd_ps(y, x, _mm256_set1_ps(1.6666665459e-1f));
  y = _mm256_fmadd_ps(y, x, _mm256_set1_ps(5.0000001201e-1f));
  y = _mm256_fmadd_ps(y, _mm256_mul_ps(x, x), _mm256_add_ps(x, _mm256_set1_ps(1.0f)));
  const __m256i e = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(fx), _mm256_set1_epi32(127)), 23);
  return _mm256_mul_ps(y, _mm256_castsi256_ps(e));
}

// s[j] = exp(s[j] - max); returns the sum.
float softmax_numerators(float* s, int64_t n) {
  float m = -INFINITY;
  for (int64_t j = 0; j < n; ++j) m = std::max(m, s[j]);
  const __m256 vm = _mm256_set1_ps(m);
  __m256 acc = _mm256_setzero_ps();
  int64_t j = 0;
  for (; j + 8 <= n; j += 8) {
    const __m256 e = exp256(_mm256_sub_ps(_mm256_loadu_ps(s + j), vm));
    _mm256_storeu_ps(s + j, e);
    acc = _mm256_add_ps(acc, e);
  }
  __m128 t = _mm_add_ps(_mm256_castps256_ps128(acc), _mm256_extractf128_ps(acc, 1));
  t = _mm_add_ps(t, _mm_movehl_ps(t, t));
  t = _mm_add_ss(t, _mm_movehdup_ps(t));
  float sum = _mm_cvtss_f32(t);
  for (; j < n; ++j) {
    s[j] = std::exp(s[j] - m);
    sum += s[j];
  }
  return sum;
}

const ActQ8* prepare_as(const QMatrix& w, const float* x, int64_t n, ActQ8& slot,
                        std::initializer_list<std::pair<const QMatrix*, const ActQ8*>> done) {
  const ActFormat f = act_format_of(w.type);
  for (const auto& [m, a] : done)
    if (act_format_of(m->type) == f) return a;
  slot.prepare(f, x, n);
  return &slot;
}

}  // namespace

void parallel_gemv(ThreadPool& pool, const GemvSegment* segs, int n_segs) {
  int64_t chunk[4] = {0, 0, 0, 0}, first_item[5] = {0, 0, 0, 0, 0};
  if (n_segs > 4) throw std::logic_error("parallel_gemv: at most 4 segments");
  for (int i = 0; i < n_segs; ++i) {
    chunk[i] = chunk_rows(segs[i].w->rows, pool.size());
    first_item[i + 1] = first_item[i] + (segs[i].w->rows + chunk[i] - 1) / chunk[i];
  }
  pool.parallel_for(first_item[n_segs], [&](int64_t item, int) {
    int i = 0;
    while (item >= first_item[i + 1]) ++i;
    const GemvSegment& s = segs[i];
    const int64_t r0 = (item - first_item[i]) * chunk[i];
    const int64_t r1 = std::min(s.w->rows, r0 + chunk[i]);
    gemv_rows(*s.w, *s.x, r0, r1, s.y);
    if (s.bias)
      for (int64_t r = r0; r < r1; ++r) s.y[r] += s.bias[r];
    if (s.residual)
      for (int64_t r = r0; r < r1; ++r) s.y[r] += s.residual[r];
  });
}

void parallel_gate_up(ThreadPool& pool, const QMatrix& gate, const QMatrix& up, const ActQ8& x, float* g,
                      float* u, float* h) {
  const int64_t rows = gate.rows;
  const int64_t c = chunk_rows(rows, pool.size());
  const ActQ8& xg = x;
  pool.parallel_for((rows + c - 1) / c, [&](int64_t item, int) {
    const int64_t r0 = item * c, r1 = std::min(rows, r0 + c);
    gemv_rows(gate, xg, r0, r1, g);
    gemv_rows(up, xg, r0, r1, u);
    for (int64_t r = r0; r < r1; ++r) h[r] = g[r] / (1.0f + std::exp(-g[r])) * u[r];
  });
}

void rms_norm(const float* x, const float* w, int64_t n, double eps, float* y) {
  double ss = 0;
  for (int64_t i = 0; i < n; i += 64) ss += sum_squares_f32(x + i, std::min<int64_t>(64, n - i));
  const float inv = static_cast<float>(1.0 / std::sqrt(ss / static_cast<double>(n) + eps));
  for (int64_t i = 0; i < n; ++i) y[i] = x[i] * inv * w[i];
}

void RopeTable::init(int32_t head_dim, double theta) {
  inv_freq.resize(static_cast<size_t>(head_dim / 2));
  for (int32_t i = 0; i < head_dim / 2; ++i)
    inv_freq[static_cast<size_t>(i)] = std::pow(theta, -2.0 * i / head_dim);
  cos_.resize(static_cast<size_t>(head_dim / 2));
  sin_.resize(static_cast<size_t>(head_dim / 2));
  pos = -1;
}

void RopeTable::set_pos(int32_t p) {
  if (p == pos) return;
  for (size_t i = 0; i < inv_freq.size(); ++i) {
    const double a = static_cast<double>(p) * inv_freq[i];
    cos_[i] = static_cast<float>(std::cos(a));
    sin_[i] = static_cast<float>(std::sin(a));
  }
  pos = p;
}

void rope_neox(float* x, int32_t n_heads, int32_t head_dim, const RopeTable& t) {
  const int32_t half = head_dim / 2;
  for (int32_t h = 0; h < n_heads; ++h) {
    float* a = x + int64_t{h} * head_dim;
    float* b = a + half;
    int32_t i = 0;
    for (; i + 8 <= half; i += 8) {
      const __m256 c = _mm256_loadu_ps(t.cos_.data() + i), s = _mm256_loadu_ps(t.sin_.data() + i);
      const __m256 x0 = _mm256_loadu_ps(a + i), x1 = _mm256_loadu_ps(b + i);
      _mm256_storeu_ps(a + i, _mm256_fmsub_ps(x0, c, _mm256_mul_ps(x1, s)));
      _mm256_storeu_ps(b + i, _mm256_fmadd_ps(x0, s, _mm256_mul_ps(x1, c)));
    }
    for (; i < half; ++i) {
      const float x0 = a[i], x1 = b[i];
      a[i] = x0 * t.cos_[i] - x1 * t.sin_[i];
      b[i] = x0 * t.sin_[i] + x1 * t.cos_[i];
    }
  }
}

void KvCache::init(int32_t t, int64_t w, int64_t r) {
  type = t;
  width = w;
  rows = r;
  if (t == BB_TYPE_F32) {
    f32.resize(static_cast<size_t>(w * r));
  } else {
    f16.resize(static_cast<size_t>(w * r));
  }
}

void KvCache::write_row(int64_t row, const float* src) {
  if (type == BB_TYPE_F32) {
    std::memcpy(f32.data() + row * width, src, static_cast<size_t>(width) * 4);
  } else {
    f32_to_f16_row(src, f16.data() + row * width, width);
  }
}

void KvCache::write_raw(int64_t row, int64_t n_rows, const void* src) {
  if (type == BB_TYPE_F32) {
    std::memcpy(f32.data() + row * width, src, static_cast<size_t>(n_rows * width) * 4);
  } else {
    std::memcpy(f16.data() + row * width, src, static_cast<size_t>(n_rows * width) * 2);
  }
}

void AttentionScratch::init(const LayerShape& s, int64_t rows, int n_threads) {
  max_rows = rows;
  heads_per_task = s.n_head / s.n_head_kv;
  scores.resize(static_cast<size_t>(n_threads) * static_cast<size_t>(heads_per_task) *
                static_cast<size_t>(rows));
}

void attention(ThreadPool& pool, const LayerShape& s, const float* q, const KvCache& k, const KvCache& v,
               int64_t n_rows, AttentionScratch& scratch, float* o) {
  const int32_t hd = s.head_dim;
  const int32_t group = s.n_head / s.n_head_kv;
  // Tasks: each KV head with all its query heads when there are enough KV heads for the threads
  // (its keys and values are read once), else one task per query head.
  const int32_t per_task = s.n_head_kv >= pool.size() ? group : 1;
  const int64_t n_tasks = s.n_head / per_task;
  const float scale = static_cast<float>(1.0 / std::sqrt(static_cast<double>(hd)));
  const int64_t w = k.width;
  pool.parallel_for(n_tasks, [&](int64_t task, int thread) {
    const int32_t h0 = static_cast<int32_t>(task * per_task);
    const int32_t g = h0 / group;
    float* sc = scratch.scores.data() + static_cast<size_t>(thread) *
                                            static_cast<size_t>(scratch.heads_per_task) *
                                            static_cast<size_t>(scratch.max_rows);
    for (int64_t j = 0; j < n_rows; ++j) {
      for (int32_t i = 0; i < per_task; ++i) {
        const float* qh = q + int64_t{h0 + i} * hd;
        const float d = k.type == BB_TYPE_F32 ? dot_f32(qh, k.f32.data() + j * w + int64_t{g} * hd, hd)
                                              : dot_f32_f16(qh, k.f16.data() + j * w + int64_t{g} * hd, hd);
        sc[int64_t{i} * n_rows + j] = d * scale;
      }
    }
    for (int32_t i = 0; i < per_task; ++i) {
      float* si = sc + int64_t{i} * n_rows;
      const float inv = 1.0f / softmax_numerators(si, n_rows);
      float* oh = o + int64_t{h0 + i} * hd;
      std::memset(oh, 0, static_cast<size_t>(hd) * 4);
      for (int64_t j = 0; j < n_rows; ++j) {
        if (v.type == BB_TYPE_F32) {
          axpy_f32(si[j] * inv, v.f32.data() + j * w + int64_t{g} * hd, oh, hd);
        } else {
          axpy_f16(si[j] * inv, v.f16.data() + j * w + int64_t{g} * hd, oh, hd);
        }
      }
    }
  });
}

void LayerScratch::init(const LayerShape& s, int64_t max_ctx, int n_threads) {
  const auto e = static_cast<size_t>(s.n_embd), h = static_cast<size_t>(s.q_width()),
             kv = static_cast<size_t>(s.kv_width()), f = static_cast<size_t>(s.n_ff);
  xn.resize(e);
  q.resize(h);
  k.resize(kv);
  v.resize(kv);
  att.resize(h);
  this->h.resize(e);
  hn.resize(e);
  g.resize(f);
  u.resize(f);
  ff.resize(f);
  for (ActQ8* a : {&act_q, &act_k, &act_v, &act_gate, &act_up}) a->reserve(s.n_embd);
  act_o.reserve(s.q_width());
  act_down.reserve(s.n_ff);
  attn.init(s, max_ctx, n_threads);
}

void layer_forward(ThreadPool& pool, const LayerShape& s, const LayerWeights& w, const float* x, int32_t pos,
                   const RopeTable& rope, KvCache& kc, KvCache& vc, LayerScratch& t, float* y) {
  const int64_t e = s.n_embd;
  rms_norm(x, w.attn_norm, e, s.rms_eps, t.xn.data());
  const ActQ8* xq = prepare_as(w.wq, t.xn.data(), e, t.act_q, {});
  const ActQ8* xk = prepare_as(w.wk, t.xn.data(), e, t.act_k, {{&w.wq, xq}});
  const ActQ8* xv = prepare_as(w.wv, t.xn.data(), e, t.act_v, {{&w.wq, xq}, {&w.wk, xk}});
  const GemvSegment qkv[3] = {{&w.wq, xq, t.q.data(), w.bq, nullptr},
                              {&w.wk, xk, t.k.data(), w.bk, nullptr},
                              {&w.wv, xv, t.v.data(), w.bv, nullptr}};
  parallel_gemv(pool, qkv, 3);
  rope_neox(t.q.data(), s.n_head, s.head_dim, rope);
  rope_neox(t.k.data(), s.n_head_kv, s.head_dim, rope);
  kc.write_row(pos, t.k.data());
  vc.write_row(pos, t.v.data());
  attention(pool, s, t.q.data(), kc, vc, int64_t{pos} + 1, t.attn, t.att.data());
  t.act_o.prepare(act_format_of(w.wo.type), t.att.data(), s.q_width());
  const GemvSegment o{&w.wo, &t.act_o, t.h.data(), nullptr, x};
  parallel_gemv(pool, &o, 1);
  rms_norm(t.h.data(), w.ffn_norm, e, s.rms_eps, t.hn.data());
  if (act_format_of(w.gate.type) == act_format_of(w.up.type)) {
    t.act_gate.prepare(act_format_of(w.gate.type), t.hn.data(), e);
    parallel_gate_up(pool, w.gate, w.up, t.act_gate, t.g.data(), t.u.data(), t.ff.data());
  } else {  // gate and up of different types: two regions
    t.act_gate.prepare(act_format_of(w.gate.type), t.hn.data(), e);
    t.act_up.prepare(act_format_of(w.up.type), t.hn.data(), e);
    const GemvSegment gu[2] = {{&w.gate, &t.act_gate, t.g.data(), nullptr, nullptr},
                               {&w.up, &t.act_up, t.u.data(), nullptr, nullptr}};
    parallel_gemv(pool, gu, 2);
    for (int64_t r = 0; r < s.n_ff; ++r) t.ff[r] = t.g[r] / (1.0f + std::exp(-t.g[r])) * t.u[r];
  }
  t.act_down.prepare(act_format_of(w.down.type), t.ff.data(), s.n_ff);
  const GemvSegment dn{&w.down, &t.act_down, y, nullptr, t.h.data()};
  parallel_gemv(pool, &dn, 1);
}

}  // namespace bb::avx
