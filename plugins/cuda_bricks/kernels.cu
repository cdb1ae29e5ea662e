// The other kernels: split-KV decode attention (flash-decoding: blocks own slices of the cache, the
// last blocks merge their softmax partials), RMSNorm, embedding lookup, RoPE, the greedy
// step that advances a generate graph, activation quantization, and the bandwidth-probe copy.
#include <cmath>
#include <cstdio>
#include <cstdlib>

#include "common.cuh"

namespace bb::cuda_bricks {
namespace {

// The split geometry, computed identically by every block from the device position (the graph is
// replayed with a new position): splits of `chunk` rows (>= min_chunk) cover the L = pos + 1
// rows; blocks past them return at once. splits <= max_splits <= kAttnMaxSplits.
struct SplitGeometry {
  int rows, chunk, splits;
};
__device__ __forceinline__ SplitGeometry split_geometry(int pos, int max_splits, int min_chunk) {
  SplitGeometry g;
  g.rows = pos + 1;
  g.chunk = max(min_chunk, (g.rows + max_splits - 1) / max_splits);
  g.splits = (g.rows + g.chunk - 1) / g.chunk;
  return g;
}

inline constexpr int kAttnSlots = 4;  // row slots a warp loads per step (all in flight at once)
static_assert(kAttnMaxGroup * (128 / 4) <= kAttnWarps * 32, "a merge thread per float4 of the group's heads");
static_assert(kAttnMaxSplits % kAttnMergeFan == 0 && kAttnMaxSplits / kAttnMergeFan <= kAttnMergeFan,
              "two merge levels cover every split");

// Four consecutive elements of a K/V row: one 16-byte load (F32) or one 8-byte load (F16).
template <bool F16>
__device__ __forceinline__ float4 load_kv4(const void* cache, size_t offset) {
  if constexpr (F16) {
    const uint2 u = __ldg(reinterpret_cast<const uint2*>(static_cast<const __half*>(cache) + offset));
    const float2 a = __half22float2(*reinterpret_cast<const __half2*>(&u.x));
    const float2 b = __half22float2(*reinterpret_cast<const __half2*>(&u.y));
    return make_float4(a.x, a.y, b.x, b.y);
  } else {
    return __ldg(reinterpret_cast<const float4*>(static_cast<const float*>(cache) + offset));
  }
}

// Sum over the W consecutive lanes of a sub-warp (W a power of two <= 32).
template <int W>
__device__ __forceinline__ float sub_sum(float v) {
#pragma unroll
  for (int o = W / 2; o > 0; o >>= 1) v += __shfl_xor_sync(0xFFFFFFFFu, v, o);
  return v;
}

__device__ __forceinline__ float4 f4_axpby(float4 a, float fa, float4 b, float fb) {
  return make_float4(a.x * fa + b.x * fb, a.y * fa + b.y * fb, a.z * fa + b.z * fb, a.w * fa + b.w * fb);
}

// Online-softmax state (m, l, acc) merged with another; an empty state has m = -inf, l = 0, acc = 0.
__device__ __forceinline__ void merge_state(float& m, float& l, float4& a, float mo, float lo, float4 ao) {
  const float mx = fmaxf(m, mo);
  const float f = m == -INFINITY ? 0.0f : expf(m - mx);
  const float fo = mo == -INFINITY ? 0.0f : expf(mo - mx);
  m = mx;
  l = l * f + lo * fo;
  a = f4_axpby(a, f, ao, fo);
}

// Merge of n <= kAttnMergeFan partials (slots first, first + stride, ...) of every query head of KV
// head g, by the whole block: thread t owns float4 column t of the group's G * HD / 4. Each thread
// loads its n (max, sum) pairs and n float4 at once. final: o = sum acc_s e^(m_s - M) / sum l_s
// e^(m_s - M) to P->out (float and/or two-level 8-bit); else the merged partial goes to slot first.
template <int HD>
__device__ __forceinline__ void attention_merge(const AttentionLaunch* __restrict__ P, int g, int G,
                                                int first, int stride, int n, bool final) {
  constexpr int kCols = HD / 4;
  const int t = static_cast<int>(threadIdx.x);
  const bool valid = t < G * kCols;
  const int gi = valid ? t / kCols : 0, c = t % kCols;
  const size_t base = static_cast<size_t>(g * G + gi) * P->max_splits + first;
  float2 ml[kAttnMergeFan];
  float4 a[kAttnMergeFan];
#pragma unroll
  for (int k = 0; k < kAttnMergeFan; ++k) {
    if (valid && k < n) {
      const size_t slot = base + static_cast<size_t>(k) * stride;
      ml[k] = __ldcg(P->part_ml + slot);
      a[k] = __ldcg(reinterpret_cast<const float4*>(P->part_acc + slot * HD) + c);
    } else {
      ml[k] = make_float2(-INFINITY, 0.0f);
      a[k] = make_float4(0.0f, 0.0f, 0.0f, 0.0f);
    }
  }
  float mx = -INFINITY;
#pragma unroll
  for (int k = 0; k < kAttnMergeFan; ++k) mx = fmaxf(mx, ml[k].x);
  float den = 0.0f;
  float4 num = make_float4(0.0f, 0.0f, 0.0f, 0.0f);
#pragma unroll
  for (int k = 0; k < kAttnMergeFan; ++k) {
    if (k < n) {  // every partial holds at least one row: its max is finite
      const float f = expf(ml[k].x - mx);
      den += ml[k].y * f;
      num = f4_axpby(num, 1.0f, a[k], f);
    }
  }
  if (!final) {
    if (valid) {
      reinterpret_cast<float4*>(P->part_acc + base * HD)[c] = num;
      if (c == 0) P->part_ml[base] = make_float2(mx, den);
    }
    return;
  }
  const float4 o = valid ? make_float4(num.x / den, num.y / den, num.z / den, num.w / den)
                         : make_float4(0.0f, 0.0f, 0.0f, 0.0f);
  const int i4 = g * G * kCols + t;  // float4 index in the output: (g G + gi) HD / 4 + c
  if (P->out.f != nullptr && valid) reinterpret_cast<float4*>(P->out.f)[i4] = o;
  // 8 consecutive threads hold one 32-element block (kCols and g G kCols are multiples of 8).
  if (P->out.q != nullptr) group8_quantize(o, valid, P->out.q, P->out.ds, i4 >> 3);
}

// grid (n_head_kv, max_splits), kAttnWarps warps. Block (g, s) attends the rows of split s for the
// query heads of KV head g. A row is HD / 4 lanes wide (float4 of K and of V per lane), so a warp
// holds 32 / (HD / 4) rows per slot; each step a warp loads kAttnSlots slots (the next step's loads
// go out before this step's math) and keeps an online softmax (max m, sum l, weighted V sum) per query head
// and row lane group. Those states are merged into the split's partial; then the last block of each group of
// kAttnMergeFan splits (ticket counter, threadFenceReduction pattern) merges the group, and with more than
// one group the last group's block merges the groups and writes the output. No second kernel.
template <int HD, bool F16>
__global__ void __launch_bounds__(kAttnWarps * 32) attention_kernel(const AttentionLaunch* __restrict__ P) {
  constexpr int W = HD / 4;  // lanes per row
  constexpr int R = 32 / W;  // rows per slot
  constexpr int kCols = HD / 4;
  constexpr int kRowsPerStep = kAttnWarps * kAttnSlots * R;
  __shared__ float s_m[kAttnWarps][kAttnMaxGroup];
  __shared__ float s_l[kAttnWarps][kAttnMaxGroup];
  __shared__ __align__(16) float s_acc[kAttnWarps][kAttnMaxGroup][HD];
  __shared__ int s_last, s_last2;
  pdl_wait_then_release();
  const int g = blockIdx.x, s = blockIdx.y;
  const SplitGeometry geo = split_geometry(*P->pos, P->max_splits, P->min_chunk);
  if (s >= geo.splits) return;  // block-uniform, before any barrier
  const int j0 = s * geo.chunk, j1 = min(geo.rows, j0 + geo.chunk);
  const int G = P->n_head / P->n_head_kv;
  const int kw = P->n_head_kv * HD;
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
  const int sub = lane / W, d4 = lane % W;
  const float scale = P->scale;

  float4 q[kAttnMaxGroup], acc[kAttnMaxGroup];
  float m[kAttnMaxGroup], l[kAttnMaxGroup];
#pragma unroll
  for (int gi = 0; gi < kAttnMaxGroup; ++gi) {
    m[gi] = -INFINITY;
    l[gi] = 0.0f;
    acc[gi] = make_float4(0.0f, 0.0f, 0.0f, 0.0f);
    q[gi] = gi < G ? __ldg(reinterpret_cast<const float4*>(P->q + (g * G + gi) * HD) + d4)
                   : make_float4(0.0f, 0.0f, 0.0f, 0.0f);
  }
  // The slots of the step at row b: loads only (a slot past j1 loads nothing; a lane past j1 in a
  // slot that has rows reloads row j0).
  auto load_step = [&](int b, float4(&kk)[kAttnSlots], float4(&vv)[kAttnSlots]) {
#pragma unroll
    for (int k = 0; k < kAttnSlots; ++k) {
      const int row0 = b + (k * kAttnWarps + warp) * R;
      if (row0 < j1) {  // warp-uniform: the slot has a row
        const int row = row0 + sub;
        const size_t off = static_cast<size_t>(row < j1 ? row : j0) * kw + g * HD + 4 * d4;
        kk[k] = load_kv4<F16>(P->k_cache, off);
        vv[k] = load_kv4<F16>(P->v_cache, off);
      } else {
        kk[k] = make_float4(0.0f, 0.0f, 0.0f, 0.0f);
        vv[k] = kk[k];
      }
    }
  };
  float4 kk[kAttnSlots], vv[kAttnSlots];
  load_step(j0, kk, vv);
  for (int b = j0; b < j1; b += kRowsPerStep) {
    // The next step's loads go out before this step's math (one block per SM: no other warps hide it).
    float4 nk[kAttnSlots], nv[kAttnSlots];
    if (b + kRowsPerStep < j1) {
      load_step(b + kRowsPerStep, nk, nv);
    } else {
#pragma unroll
      for (int k = 0; k < kAttnSlots; ++k) nk[k] = nv[k] = make_float4(0.0f, 0.0f, 0.0f, 0.0f);
    }
    int row[kAttnSlots];
#pragma unroll
    for (int k = 0; k < kAttnSlots; ++k) row[k] = b + (k * kAttnWarps + warp) * R + sub;
#pragma unroll
    for (int gi = 0; gi < kAttnMaxGroup; ++gi) {
      if (gi < G) {  // warp-uniform
        float sc[kAttnSlots];
        float mx = m[gi];
#pragma unroll
        for (int k = 0; k < kAttnSlots; ++k) {
          float dot = q[gi].x * kk[k].x;
          dot += q[gi].y * kk[k].y;
          dot += q[gi].z * kk[k].z;
          dot += q[gi].w * kk[k].w;
          dot = sub_sum<W>(dot);
          sc[k] = row[k] < j1 ? dot * scale : -INFINITY;
          mx = fmaxf(mx, sc[k]);
        }
        // mx = -inf: no row yet in this lane group (m stays empty).
        const float corr = mx == -INFINITY ? 1.0f : expf(m[gi] - mx);
        float lsum = l[gi] * corr;
        float4 a = make_float4(acc[gi].x * corr, acc[gi].y * corr, acc[gi].z * corr, acc[gi].w * corr);
#pragma unroll
        for (int k = 0; k < kAttnSlots; ++k) {
          const float w = sc[k] == -INFINITY ? 0.0f : expf(sc[k] - mx);
          lsum += w;
          a = f4_axpby(a, 1.0f, vv[k], w);
        }
        m[gi] = mx;
        l[gi] = lsum;
        acc[gi] = a;
      }
    }
#pragma unroll
    for (int k = 0; k < kAttnSlots; ++k) {
      kk[k] = nk[k];
      vv[k] = nv[k];
    }
  }
  // The lane groups of a warp (R > 1) merge into lanes 0..W-1.
#pragma unroll
  for (int gi = 0; gi < kAttnMaxGroup; ++gi) {
    if (gi < G) {
#pragma unroll
      for (int o = 16; o >= W; o >>= 1) {
        const float mo = __shfl_xor_sync(0xFFFFFFFFu, m[gi], o);
        const float lo = __shfl_xor_sync(0xFFFFFFFFu, l[gi], o);
        float4 ao;
        ao.x = __shfl_xor_sync(0xFFFFFFFFu, acc[gi].x, o);
        ao.y = __shfl_xor_sync(0xFFFFFFFFu, acc[gi].y, o);
        ao.z = __shfl_xor_sync(0xFFFFFFFFu, acc[gi].z, o);
        ao.w = __shfl_xor_sync(0xFFFFFFFFu, acc[gi].w, o);
        merge_state(m[gi], l[gi], acc[gi], mo, lo, ao);
      }
      if (lane == 0) {
        s_m[warp][gi] = m[gi];
        s_l[warp][gi] = l[gi];
      }
      if (sub == 0) reinterpret_cast<float4*>(s_acc[warp][gi])[d4] = acc[gi];
    }
  }
  __syncthreads();
  // The split's partial: thread t owns float4 column t of the G heads. Warp 0 holds row j0, so the
  // block's max is finite; warps without rows weigh 0.
  {
    const int t = static_cast<int>(threadIdx.x);
    if (t < G * kCols) {
      const int gi = t / kCols, c = t % kCols;
      float mx = -INFINITY;
#pragma unroll
      for (int w = 0; w < kAttnWarps; ++w) mx = fmaxf(mx, s_m[w][gi]);
      float lsum = 0.0f;
      float4 a = make_float4(0.0f, 0.0f, 0.0f, 0.0f);
#pragma unroll
      for (int w = 0; w < kAttnWarps; ++w) {
        const float mw = s_m[w][gi];
        const float f = mw == -INFINITY ? 0.0f : expf(mw - mx);
        lsum += s_l[w][gi] * f;
        a = f4_axpby(a, 1.0f, reinterpret_cast<const float4*>(s_acc[w][gi])[c], f);
      }
      const size_t slot = static_cast<size_t>(g * G + gi) * P->max_splits + s;
      reinterpret_cast<float4*>(P->part_acc + slot * HD)[c] = a;
      if (c == 0) P->part_ml[slot] = make_float2(mx, lsum);
    }
  }
  // Last block of the group of kAttnMergeFan splits merges it.
  const int grp = s / kAttnMergeFan, first = grp * kAttnMergeFan;
  const int n_in = min(kAttnMergeFan, geo.splits - first);
  const int n_grp = (geo.splits + kAttnMergeFan - 1) / kAttnMergeFan;
  unsigned int* cnt = P->counters + static_cast<size_t>(g) * kAttnCounters;
  __threadfence();
  __syncthreads();
  if (threadIdx.x == 0) s_last = atomicAdd(cnt + grp, 1u) == static_cast<unsigned>(n_in - 1) ? 1 : 0;
  __syncthreads();
  if (s_last == 0) return;
  if (threadIdx.x == 0) cnt[grp] = 0u;  // every block of the group has counted: ready for the next launch
  __threadfence();
  if (n_grp == 1) {
    attention_merge<HD>(P, g, G, first, 1, n_in, true);
    return;
  }
  attention_merge<HD>(P, g, G, first, 1, n_in, false);
  // Last group: merge the groups' partials (slots 0, kAttnMergeFan, ...) into the output.
  __threadfence();
  __syncthreads();
  if (threadIdx.x == 0)
    s_last2 = atomicAdd(cnt + kAttnCounters - 1, 1u) == static_cast<unsigned>(n_grp - 1) ? 1 : 0;
  __syncthreads();
  if (s_last2 == 0) return;
  if (threadIdx.x == 0) cnt[kAttnCounters - 1] = 0u;
  __threadfence();
  attention_merge<HD>(P, g, G, 0, kAttnMergeFan, n_grp, true);
}

__global__ void __launch_bounds__(kNormThreads) rms_norm_kernel(const NormLaunch* __restrict__ P) {
  __shared__ float scratch[32];
  pdl_wait_then_release();
  if (P->x_copy != nullptr) {
    for (int i = threadIdx.x; i < P->n; i += blockDim.x) P->x_copy[i] = P->x[i];
  }
  block_rms_norm(P->x, P->g, P->eps, P->n, P->out, scratch);
}

__global__ void __launch_bounds__(256) embed_kernel(const EmbedLaunch* __restrict__ P) {
  pdl_wait_then_release();
  const MatDesc t = P->table;
  const int64_t token = *P->token;
  for (int c = threadIdx.x; c < t.cols; c += blockDim.x) P->x[c] = dequant_element(t, token, c);
}

__global__ void __launch_bounds__(256) rope_kernel(const RopeLaunch* __restrict__ P) {
  pdl_wait_then_release();
  const int hd = P->head_dim, half = hd / 2;
  const float2* cs = P->rope_cs + static_cast<size_t>(*P->pos) * half;
  const int nq = P->n_head * half, nk = P->n_head_kv * half;
  for (int i = threadIdx.x; i < nq + nk; i += blockDim.x) {
    const bool is_q = i < nq;
    const int k = is_q ? i : i - nq;
    const int h = k / half, j = k % half;
    const float* in = is_q ? P->q_in : P->k_in;
    float* out = is_q ? P->q_out : P->k_out;
    const float x0 = in[h * hd + j], x1 = in[h * hd + j + half];
    const float2 c = cs[j];
    out[h * hd + j] = x0 * c.x - x1 * c.y;
    out[h * hd + j + half] = x0 * c.y + x1 * c.x;
  }
}

// One block of 1024: the largest key of the LM head's blocks is the greedy token.
__global__ void __launch_bounds__(1024) advance_kernel(const AdvanceLaunch* __restrict__ P) {
  __shared__ unsigned long long s_best[32];
  pdl_wait_then_release();
  unsigned long long best = 0;
  for (int i = threadIdx.x; i < P->n_keys; i += blockDim.x) {
    const unsigned long long k = P->keys[i];
    best = k > best ? k : best;
  }
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) {
    const unsigned long long other = __shfl_xor_sync(0xFFFFFFFFu, best, o);
    best = other > best ? other : best;
  }
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  if (lane == 0) s_best[warp] = best;
  __syncthreads();
  if (threadIdx.x == 0) {
    for (int w = 0; w < static_cast<int>(blockDim.x >> 5); ++w) best = s_best[w] > best ? s_best[w] : best;
    // All logits NaN: token 0, as scalar_ref's argmax.
    const int token =
        best == 0 ? 0 : static_cast<int>(0xFFFFFFFFu - static_cast<uint32_t>(best & 0xFFFFFFFFull));
    *P->token = token;
    const int step = *P->step;
    if (step >= 0 && step < P->tokens_cap) P->tokens_out[step] = token;
    *P->step = step + 1;
    *P->pos = *P->pos + 1;
  }
}

__global__ void __launch_bounds__(256)
    quantize_q8_kernel(const float* __restrict__ x, int n, int8_t* q, float2* ds) {
  pdl_wait_then_release();
  const int lane = threadIdx.x & 31;
  const int warp = static_cast<int>(blockIdx.x * (blockDim.x >> 5) + (threadIdx.x >> 5));
  const int n_warps = static_cast<int>(gridDim.x * (blockDim.x >> 5));
  for (int b = warp; b < n / 32; b += n_warps) warp_quantize_q8(x[b * 32 + lane], q, ds, b);
}

// Streaming copy (the COPY op: the harness's bandwidth ceiling), 16 bytes per thread per step, U
// steps in flight. CS: the streaming cache hints (ld.cs / st.cs) of the kernel before issue 16, else
// ld.global.nc and plain stores. Shape chosen by tests/cuda_bricks/bandwidth_probe.cu on the H200.
template <int U, bool CS>
__global__ void __launch_bounds__(256)
    copy_kernel(const uint4* __restrict__ src, uint4* __restrict__ dst, size_t n16) {
  pdl_wait_then_release();
  const size_t stride = static_cast<size_t>(gridDim.x) * blockDim.x;
  size_t i = static_cast<size_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  for (; i + (U - 1) * stride < n16; i += U * stride) {
    uint4 v[U];
#pragma unroll
    for (int k = 0; k < U; ++k) v[k] = CS ? __ldcs(src + i + k * stride) : __ldg(src + i + k * stride);
#pragma unroll
    for (int k = 0; k < U; ++k) {
      if (CS) {
        __stcs(dst + i + k * stride, v[k]);
      } else {
        dst[i + k * stride] = v[k];
      }
    }
  }
  for (; i < n16; i += stride) dst[i] = __ldg(src + i);
}

// Streaming read of n16 16-byte words (the read ceiling, session_get_metrics): 8 loads in flight per
// thread; the XOR of what was read goes to *sink only in the (practically never) case that it is a
// given value, so no load is dead and nothing is written.
__global__ void __launch_bounds__(256)
    read_kernel(const uint4* __restrict__ src, size_t n16, uint32_t* sink) {
  constexpr int U = 8;
  const size_t stride = static_cast<size_t>(gridDim.x) * blockDim.x;
  size_t i = static_cast<size_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  uint32_t acc = 0;
  for (; i + (U - 1) * stride < n16; i += U * stride) {
    uint4 v[U];
#pragma unroll
    for (int k = 0; k < U; ++k) v[k] = __ldg(src + i + k * stride);
#pragma unroll
    for (int k = 0; k < U; ++k) acc ^= v[k].x ^ v[k].y ^ v[k].z ^ v[k].w;
  }
  for (; i < n16; i += stride) {
    const uint4 v = __ldg(src + i);
    acc ^= v.x ^ v.y ^ v.z ^ v.w;
  }
  if (acc == 0x9E3779B9u) *sink = acc;
}

// Nothing but the PDL handshake: chains of it measure a graph's own per-node cost.
__global__ void __launch_bounds__(32) empty_kernel() { pdl_wait_then_release(); }

__global__ void copy_tail_kernel(const uint8_t* __restrict__ src, uint8_t* __restrict__ dst, size_t n) {
  pdl_wait_then_release();
  for (size_t i = threadIdx.x; i < n; i += blockDim.x) dst[i] = src[i];
}

}  // namespace

namespace {
// 0: no chain; 1: a chain whose first launch is still to come; 2: a chain past its first launch.
thread_local int t_pdl_state = 0;

int32_t env_int(const char* name, int32_t fallback, int32_t min_value) {
  if (const char* e = std::getenv(name)) {
    int v = 0;
    if (std::sscanf(e, "%d", &v) == 1 && v >= min_value) return static_cast<int32_t>(v);
  }
  return fallback;
}
}  // namespace

bool pdl_enabled() {
  static const bool on = env_int("CUDA_BRICKS_PDL", 1, 0) != 0;
  return on;
}

int32_t pdl_prefetch_bytes() {
  static const int32_t bytes = env_int("CUDA_BRICKS_PREFETCH", 0, 0);
  return bytes;
}

PdlChain::PdlChain() : saved_(t_pdl_state) { t_pdl_state = pdl_enabled() ? 1 : 0; }
PdlChain::~PdlChain() { t_pdl_state = saved_; }

bool pdl_next_launch_programmatic() { return t_pdl_state == 2; }

bool pdl_take_launch() {
  if (t_pdl_state == 1) {
    t_pdl_state = 2;
    return false;
  }
  return t_pdl_state == 2;
}

int32_t attention_min_chunk(int32_t head_dim) {
  // Default: one block step (kAttnWarps warps x kAttnSlots slots x rows per slot), so that short
  // contexts spread over more blocks (a 64-row chunk at head_dim 128 was two serial steps).
  static const int32_t env = env_int("CUDA_BRICKS_ATTN_MIN_CHUNK", 0, 1);
  if (env > 0) return env;
  const int32_t lanes = head_dim / 4;  // lanes per row
  const int32_t r = lanes >= 1 && lanes <= 32 ? 32 / lanes : 1;
  return kAttnWarps * kAttnSlots * r;
}

int32_t attention_max_splits(int32_t n_head_kv, int32_t max_rows, int32_t n_sms, int32_t min_chunk) {
  // About one block per SM at long context (the kernel's ~150 registers a thread allow one 8-warp
  // block per SM; a second wave would cost a whole memory round trip more).
  int32_t want = n_sms / (n_head_kv < 1 ? 1 : n_head_kv);
  if (want > kAttnMaxSplits) want = kAttnMaxSplits;
  if (min_chunk < 1) min_chunk = 1;
  const int32_t useful = (max_rows + min_chunk - 1) / min_chunk;
  const int32_t n = want < useful ? want : useful;
  return n < 1 ? 1 : n;
}

cudaError_t launch_attention(const AttentionLaunch& h, const AttentionLaunch* d, cudaStream_t stream) {
  if (h.max_splits < 1 || h.max_splits > kAttnMaxSplits || h.min_chunk < 1 || h.counters == nullptr)
    return cudaErrorInvalidValue;
  const dim3 grid(static_cast<unsigned>(h.n_head_kv), static_cast<unsigned>(h.max_splits));
  const bool f16 = h.kv_type == kTypeF16;
  if (h.head_dim == 128) {
    if (f16) {
      if (cudaError_t e = launch_kernel(attention_kernel<128, true>, grid, dim3(kAttnWarps * 32), stream, d))
        return e;
    } else {
      if (cudaError_t e = launch_kernel(attention_kernel<128, false>, grid, dim3(kAttnWarps * 32), stream, d))
        return e;
    }
  } else if (h.head_dim == 64) {
    if (f16) {
      if (cudaError_t e = launch_kernel(attention_kernel<64, true>, grid, dim3(kAttnWarps * 32), stream, d))
        return e;
    } else {
      if (cudaError_t e = launch_kernel(attention_kernel<64, false>, grid, dim3(kAttnWarps * 32), stream, d))
        return e;
    }
  } else {
    return cudaErrorInvalidValue;
  }
  return cudaGetLastError();
}

cudaError_t launch_rms_norm(const NormLaunch* d, cudaStream_t stream) {
  return launch_kernel(rms_norm_kernel, dim3(1), dim3(kNormThreads), stream, d);
}

cudaError_t launch_embed(const EmbedLaunch* d, cudaStream_t stream) {
  return launch_kernel(embed_kernel, dim3(1), dim3(256), stream, d);
}

cudaError_t launch_rope(const RopeLaunch&, const RopeLaunch* d, cudaStream_t stream) {
  return launch_kernel(rope_kernel, dim3(1), dim3(256), stream, d);
}

cudaError_t launch_advance(const AdvanceLaunch* d, cudaStream_t stream) {
  return launch_kernel(advance_kernel, dim3(1), dim3(1024), stream, d);
}

cudaError_t launch_empty(cudaStream_t stream) {
  return launch_kernel(empty_kernel, dim3(1), dim3(32), stream);
}

cudaError_t launch_quantize_q8(const float* x, int32_t n, int8_t* q, float2* ds, cudaStream_t stream) {
  const int blocks = (n / 32 + 7) / 8;
  return launch_kernel(quantize_q8_kernel, dim3(blocks < 1 ? 1 : blocks), dim3(256), stream, x, n, q, ds);
}

namespace {
// CUDA_BRICKS_COPY="U,BLOCKS_PER_SM,CS" (read once): the plugin's own copy kernel in that shape
// (A/B runs) instead of cudaMemcpyAsync.
struct CopyShape {
  bool kernel = false;
  int unroll = kCopyUnroll, blocks_per_sm = kCopyBlocksPerSm, cs = 0;
};
const CopyShape& copy_shape() {
  static const CopyShape c = [] {
    CopyShape r;
    if (const char* e = std::getenv("CUDA_BRICKS_COPY")) {
      int u = 0, b = 0, cs = 0;
      if (std::sscanf(e, "%d,%d,%d", &u, &b, &cs) == 3 && (u == 4 || u == 8) && b >= 1 && b <= 64) {
        r.kernel = true;
        r.unroll = u;
        r.blocks_per_sm = b;
        r.cs = cs != 0 ? 1 : 0;
      }
    }
    return r;
  }();
  return c;
}
}  // namespace

cudaError_t launch_copy(const void* src, void* dst, uint64_t n_bytes, int32_t n_sms, cudaStream_t stream) {
  const CopyShape& c = copy_shape();
  if (!c.kernel) return cudaMemcpyAsync(dst, src, n_bytes, cudaMemcpyDeviceToDevice, stream);
  const size_t n16 = n_bytes / 16;
  if (n16 > 0) {
    const size_t want = (n16 + 255) / 256;
    const size_t cap = static_cast<size_t>(n_sms > 0 ? n_sms : 1) * static_cast<size_t>(c.blocks_per_sm);
    const unsigned blocks = static_cast<unsigned>(want < cap ? want : cap);
    const auto* s16 = static_cast<const uint4*>(src);
    auto* d16 = static_cast<uint4*>(dst);
    cudaError_t e;
    if (c.unroll == 4) {
      e = c.cs ? launch_kernel(copy_kernel<4, true>, dim3(blocks), dim3(256), stream, s16, d16, n16)
               : launch_kernel(copy_kernel<4, false>, dim3(blocks), dim3(256), stream, s16, d16, n16);
    } else {
      e = c.cs ? launch_kernel(copy_kernel<8, true>, dim3(blocks), dim3(256), stream, s16, d16, n16)
               : launch_kernel(copy_kernel<8, false>, dim3(blocks), dim3(256), stream, s16, d16, n16);
    }
    if (e != cudaSuccess) return e;
  }
  const size_t tail = n_bytes - n16 * 16;
  if (tail > 0) {
    return launch_kernel(copy_tail_kernel, dim3(1), dim3(32), stream,
                         static_cast<const uint8_t*>(src) + n16 * 16, static_cast<uint8_t*>(dst) + n16 * 16,
                         tail);
  }
  return cudaGetLastError();
}

cudaError_t launch_read(const void* src, uint64_t n_bytes, int32_t n_sms, uint32_t* sink,
                        cudaStream_t stream) {
  const size_t n16 = n_bytes / 16;
  if (n16 == 0) return cudaSuccess;
  const size_t want = (n16 + 255) / 256;
  const size_t cap = static_cast<size_t>(n_sms > 0 ? n_sms : 1) * 8;
  const unsigned blocks = static_cast<unsigned>(want < cap ? want : cap);
  return launch_kernel(read_kernel, dim3(blocks), dim3(256), stream, static_cast<const uint4*>(src), n16,
                       sink);
}

}  // namespace bb::cuda_bricks
