// The other kernels: split-KV decode attention (flash-decoding: blocks own slices of the cache,
// a combine kernel merges their softmax partials), RMSNorm, embedding lookup, RoPE, the greedy
// step that advances a generate graph, activation quantization, and the bandwidth-probe copy.
#include <cmath>

#include "common.cuh"

namespace bb::cuda_bricks {
namespace {

// The split geometry, computed identically by both attention kernels from the device position:
// splits of `chunk` rows (>= kAttnMinChunk) cover the L = pos + 1 rows; blocks past them idle.
struct SplitGeometry {
  int rows, chunk, splits;
};
__device__ __forceinline__ SplitGeometry split_geometry(int pos, int max_splits) {
  SplitGeometry g;
  g.rows = pos + 1;
  g.chunk = max(kAttnMinChunk, (g.rows + max_splits - 1) / max_splits);
  g.splits = (g.rows + g.chunk - 1) / g.chunk;
  return g;
}

template <int EPL>
__device__ __forceinline__ void load_kv(const void* cache, int kv_type, size_t offset, float (&v)[EPL]) {
  if (kv_type == kTypeF16) {
    const __half2* p = reinterpret_cast<const __half2*>(static_cast<const __half*>(cache) + offset);
#pragma unroll
    for (int e = 0; e < EPL / 2; ++e) {
      const float2 f = __half22float2(__ldg(p + e));
      v[2 * e] = f.x;
      v[2 * e + 1] = f.y;
    }
  } else {
    const float* p = static_cast<const float*>(cache) + offset;
    if constexpr (EPL == 4) {
      const float4 f = __ldg(reinterpret_cast<const float4*>(p));
      v[0] = f.x;
      v[1] = f.y;
      v[2] = f.z;
      v[3] = f.w;
    } else {
      const float2 f = __ldg(reinterpret_cast<const float2*>(p));
      v[0] = f.x;
      v[1] = f.y;
    }
  }
}

// grid (n_head_kv, max_splits), kAttnWarps warps. Block (g, s) attends rows of split s for the
// query heads of KV head g: each warp takes every kAttnWarps-th row and keeps an online softmax
// (running max m, sum l, weighted V sum) per head; the warps' states are merged into the split's
// partial.
template <int HD>
__global__ void __launch_bounds__(kAttnWarps * 32) attention_split_kernel(const AttentionLaunch* __restrict__ P) {
  constexpr int EPL = HD / 32;
  __shared__ float s_m[kAttnWarps][kAttnMaxGroup];
  __shared__ float s_l[kAttnWarps][kAttnMaxGroup];
  __shared__ float s_acc[kAttnWarps][kAttnMaxGroup][HD];
  const int g = blockIdx.x, s = blockIdx.y;
  const SplitGeometry geo = split_geometry(*P->pos, P->max_splits);
  if (s >= geo.splits) return;  // block-uniform, before any barrier
  const int j0 = s * geo.chunk, j1 = min(geo.rows, j0 + geo.chunk);
  const int G = P->n_head / P->n_head_kv;
  const int kw = P->n_head_kv * HD;
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
  const float scale = P->scale;

  float q[kAttnMaxGroup][EPL];
  float m[kAttnMaxGroup], l[kAttnMaxGroup], acc[kAttnMaxGroup][EPL];
#pragma unroll
  for (int gi = 0; gi < kAttnMaxGroup; ++gi) {
    m[gi] = -INFINITY;
    l[gi] = 0.0f;
#pragma unroll
    for (int e = 0; e < EPL; ++e) {
      q[gi][e] = gi < G ? P->q[(g * G + gi) * HD + lane * EPL + e] : 0.0f;
      acc[gi][e] = 0.0f;
    }
  }
  // Two rows per warp step: four 16-byte (or 8-byte) loads in flight per lane before the math.
  for (int j = j0 + 2 * warp; j < j1; j += 2 * kAttnWarps) {
    const bool two = j + 1 < j1;  // warp-uniform
    float k0[EPL], v0[EPL], k1[EPL], v1[EPL];
    const size_t off = static_cast<size_t>(j) * kw + g * HD + lane * EPL;
    load_kv<EPL>(P->k_cache, P->kv_type, off, k0);
    load_kv<EPL>(P->v_cache, P->kv_type, off, v0);
    load_kv<EPL>(P->k_cache, P->kv_type, two ? off + kw : off, k1);
    load_kv<EPL>(P->v_cache, P->kv_type, two ? off + kw : off, v1);
#pragma unroll
    for (int gi = 0; gi < kAttnMaxGroup; ++gi) {
      if (gi < G) {  // warp-uniform
        float dot0 = 0.0f, dot1 = 0.0f;
#pragma unroll
        for (int e = 0; e < EPL; ++e) {
          dot0 += q[gi][e] * k0[e];
          dot1 += q[gi][e] * k1[e];
        }
        const float s0 = warp_sum(dot0) * scale;
        const float s1 = two ? warp_sum(dot1) * scale : -INFINITY;
        const float m_new = fmaxf(m[gi], fmaxf(s0, s1));
        const float corr = expf(m[gi] - m_new);
        const float w0 = expf(s0 - m_new);
        const float w1 = two ? expf(s1 - m_new) : 0.0f;
        l[gi] = l[gi] * corr + w0 + w1;
#pragma unroll
        for (int e = 0; e < EPL; ++e) acc[gi][e] = acc[gi][e] * corr + w0 * v0[e] + w1 * v1[e];
        m[gi] = m_new;
      }
    }
  }
#pragma unroll
  for (int gi = 0; gi < kAttnMaxGroup; ++gi) {
    if (gi < G) {
      if (lane == 0) {
        s_m[warp][gi] = m[gi];
        s_l[warp][gi] = l[gi];
      }
#pragma unroll
      for (int e = 0; e < EPL; ++e) s_acc[warp][gi][lane * EPL + e] = acc[gi][e];
    }
  }
  __syncthreads();
  // Warp 0 always has row j0, so the block's max is finite; warps without rows weigh exp(-inf) = 0.
  for (int idx = threadIdx.x; idx < G * HD; idx += blockDim.x) {
    const int gi = idx / HD, d = idx % HD;
    float mx = -INFINITY;
#pragma unroll
    for (int w = 0; w < kAttnWarps; ++w) mx = fmaxf(mx, s_m[w][gi]);
    float lsum = 0.0f, a = 0.0f;
#pragma unroll
    for (int w = 0; w < kAttnWarps; ++w) {
      const float f = expf(s_m[w][gi] - mx);
      lsum += s_l[w][gi] * f;
      a += s_acc[w][gi][d] * f;
    }
    const int h = g * G + gi;
    P->part_acc[(static_cast<size_t>(h) * P->max_splits + s) * HD + d] = a;
    if (d == 0) P->part_ml[static_cast<size_t>(h) * P->max_splits + s] = make_float2(mx, lsum);
  }
}

// grid n_head, HD threads: o_h = sum_s acc_s e^(m_s - M) / sum_s l_s e^(m_s - M); then the head's
// output in float and/or 8-bit pairs (each warp owns one 32-element block).
template <int HD>
__global__ void __launch_bounds__(HD) attention_combine_kernel(const AttentionLaunch* __restrict__ P) {
  const int h = blockIdx.x, d = threadIdx.x;
  const SplitGeometry geo = split_geometry(*P->pos, P->max_splits);
  const float2* ml = P->part_ml + static_cast<size_t>(h) * P->max_splits;
  float mx = -INFINITY;
#pragma unroll 8
  for (int s = 0; s < geo.splits; ++s) mx = fmaxf(mx, ml[s].x);
  float den = 0.0f, num = 0.0f;
#pragma unroll 8
  for (int s = 0; s < geo.splits; ++s) {
    const float2 v = ml[s];
    const float f = expf(v.x - mx);
    den += v.y * f;
    num += P->part_acc[(static_cast<size_t>(h) * P->max_splits + s) * HD + d] * f;
  }
  const float o = num / den;
  const int i = h * HD + d;
  if (P->out.f != nullptr) P->out.f[i] = o;
  if (P->out.q != nullptr) warp_quantize_q8(o, P->out.q, P->out.ds, i >> 5);
}

__global__ void __launch_bounds__(kNormThreads) rms_norm_kernel(const NormLaunch* __restrict__ P) {
  __shared__ float scratch[32];
  if (P->x_copy != nullptr) {
    for (int i = threadIdx.x; i < P->n; i += blockDim.x) P->x_copy[i] = P->x[i];
  }
  block_rms_norm(P->x, P->g, P->eps, P->n, P->out, scratch);
}

__global__ void __launch_bounds__(256) embed_kernel(const EmbedLaunch* __restrict__ P) {
  const MatDesc t = P->table;
  const int64_t token = *P->token;
  for (int c = threadIdx.x; c < t.cols; c += blockDim.x) P->x[c] = dequant_element(t, token, c);
}

__global__ void __launch_bounds__(256) rope_kernel(const RopeLaunch* __restrict__ P) {
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
    const int token = best == 0 ? 0 : static_cast<int>(0xFFFFFFFFu - static_cast<uint32_t>(best & 0xFFFFFFFFull));
    *P->token = token;
    const int step = *P->step;
    if (step >= 0 && step < P->tokens_cap) P->tokens_out[step] = token;
    *P->step = step + 1;
    *P->pos = *P->pos + 1;
  }
}

__global__ void __launch_bounds__(256) quantize_q8_kernel(const float* __restrict__ x, int n, int8_t* q, float2* ds) {
  const int lane = threadIdx.x & 31;
  const int warp = static_cast<int>(blockIdx.x * (blockDim.x >> 5) + (threadIdx.x >> 5));
  const int n_warps = static_cast<int>(gridDim.x * (blockDim.x >> 5));
  for (int b = warp; b < n / 32; b += n_warps) warp_quantize_q8(x[b * 32 + lane], q, ds, b);
}

// Streaming copy, 16 bytes per thread per step, four steps in flight.
__global__ void __launch_bounds__(256) copy_kernel(const uint4* __restrict__ src, uint4* __restrict__ dst, size_t n16) {
  const size_t stride = static_cast<size_t>(gridDim.x) * blockDim.x;
  size_t i = static_cast<size_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  for (; i + 3 * stride < n16; i += 4 * stride) {
    const uint4 a = __ldcs(src + i), b = __ldcs(src + i + stride), c = __ldcs(src + i + 2 * stride),
                d = __ldcs(src + i + 3 * stride);
    __stcs(dst + i, a);
    __stcs(dst + i + stride, b);
    __stcs(dst + i + 2 * stride, c);
    __stcs(dst + i + 3 * stride, d);
  }
  for (; i < n16; i += stride) __stcs(dst + i, __ldcs(src + i));
}

__global__ void copy_tail_kernel(const uint8_t* __restrict__ src, uint8_t* __restrict__ dst, size_t n) {
  for (size_t i = threadIdx.x; i < n; i += blockDim.x) dst[i] = src[i];
}

}  // namespace

int32_t attention_max_splits(int32_t n_head_kv, int32_t max_rows, int32_t n_sms) {
  const int32_t want = (2 * n_sms + n_head_kv - 1) / n_head_kv;  // about two blocks per SM
  const int32_t useful = (max_rows + kAttnMinChunk - 1) / kAttnMinChunk;
  return want < 1 ? 1 : (want < useful ? want : (useful < 1 ? 1 : useful));
}

cudaError_t launch_attention(const AttentionLaunch& h, const AttentionLaunch* d, cudaStream_t stream) {
  const dim3 split_grid(static_cast<unsigned>(h.n_head_kv), static_cast<unsigned>(h.max_splits));
  if (h.head_dim == 128) {
    attention_split_kernel<128><<<split_grid, kAttnWarps * 32, 0, stream>>>(d);
    if (cudaError_t e = cudaGetLastError(); e != cudaSuccess) return e;
    attention_combine_kernel<128><<<h.n_head, 128, 0, stream>>>(d);
  } else if (h.head_dim == 64) {
    attention_split_kernel<64><<<split_grid, kAttnWarps * 32, 0, stream>>>(d);
    if (cudaError_t e = cudaGetLastError(); e != cudaSuccess) return e;
    attention_combine_kernel<64><<<h.n_head, 64, 0, stream>>>(d);
  } else {
    return cudaErrorInvalidValue;
  }
  return cudaGetLastError();
}

cudaError_t launch_rms_norm(const NormLaunch* d, cudaStream_t stream) {
  rms_norm_kernel<<<1, kNormThreads, 0, stream>>>(d);
  return cudaGetLastError();
}

cudaError_t launch_embed(const EmbedLaunch* d, cudaStream_t stream) {
  embed_kernel<<<1, 256, 0, stream>>>(d);
  return cudaGetLastError();
}

cudaError_t launch_rope(const RopeLaunch&, const RopeLaunch* d, cudaStream_t stream) {
  rope_kernel<<<1, 256, 0, stream>>>(d);
  return cudaGetLastError();
}

cudaError_t launch_advance(const AdvanceLaunch* d, cudaStream_t stream) {
  advance_kernel<<<1, 1024, 0, stream>>>(d);
  return cudaGetLastError();
}

cudaError_t launch_quantize_q8(const float* x, int32_t n, int8_t* q, float2* ds, cudaStream_t stream) {
  const int blocks = (n / 32 + 7) / 8;
  quantize_q8_kernel<<<blocks < 1 ? 1 : blocks, 256, 0, stream>>>(x, n, q, ds);
  return cudaGetLastError();
}

cudaError_t launch_copy(const void* src, void* dst, uint64_t n_bytes, int32_t n_sms, cudaStream_t stream) {
  const size_t n16 = n_bytes / 16;
  if (n16 > 0) {
    const size_t want = (n16 + 255) / 256;
    const size_t cap = static_cast<size_t>(n_sms > 0 ? n_sms : 1) * 8;
    const unsigned blocks = static_cast<unsigned>(want < cap ? want : cap);
    copy_kernel<<<blocks, 256, 0, stream>>>(static_cast<const uint4*>(src), static_cast<uint4*>(dst), n16);
    if (cudaError_t e = cudaGetLastError(); e != cudaSuccess) return e;
  }
  const size_t tail = n_bytes - n16 * 16;
  if (tail > 0) {
    copy_tail_kernel<<<1, 32, 0, stream>>>(static_cast<const uint8_t*>(src) + n16 * 16,
                                           static_cast<uint8_t*>(dst) + n16 * 16, tail);
  }
  return cudaGetLastError();
}

}  // namespace bb::cuda_bricks
