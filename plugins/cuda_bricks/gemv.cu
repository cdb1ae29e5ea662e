// Batch-1 GEMV for every weight type: y = W x with one warp streaming two rows at a time, 16-byte
// loads, dp4a against two-level 8-bit activations (quantized types) or fp32 FMA (F16/F32). Fused variants:
// up to three matrices in one launch (Q, K, V + bias, with RoPE and the KV-cache store done by the
// warps themselves: Q and K rows are stored in RoPE pair order), residual add + the next RMSNorm
// (last block), gate+up+SiLU with quantized output, and the LM head with a per-block argmax key for
// on-device greedy decoding.
#include <algorithm>
#include <cstdio>
#include <cstdlib>

#include "common.cuh"
#include "gemv_tile.h"

namespace bb::cuda_bricks {
namespace {

// Lane-strided loop over the units of rows r0 and r1 (both valid), two units in flight per lane.
// KS warps share the two rows (split K): warp slice ks takes units ks*32 + lane, then every 32*KS.
// KSU (KS > 1 only): 2 = two units in flight per lane as in the unsplit loop (issue 16 A/B,
// CUDA_BRICKS_GEMV_KSU=2), 1 = one (the loop before).
template <void (*UnitDot2)(const MatDesc&, int, int, int, const Act&, float&, float&), int KS, int KSU = 1>
__device__ __forceinline__ void lane_dot2(const MatDesc& m, int r0, int r1, int ks, const Act& x, float& a0,
                                          float& a1) {
  const int units = unit_count(m.type, m.cols);
  if (KS == 1) {
#pragma unroll 2
    for (int u = static_cast<int>(threadIdx.x & 31); u < units; u += 32) UnitDot2(m, r0, r1, u, x, a0, a1);
  } else if (KSU == 2) {
#pragma unroll 2
    for (int u = static_cast<int>(threadIdx.x & 31) + 32 * ks; u < units; u += 32 * KS)
      UnitDot2(m, r0, r1, u, x, a0, a1);
  } else {
#pragma unroll 1
    for (int u = static_cast<int>(threadIdx.x & 31) + 32 * ks; u < units; u += 32 * KS)
      UnitDot2(m, r0, r1, u, x, a0, a1);
  }
}

// Warp-wide: this warp's slice ks (of KS) of the dot products of rows r0, r1 (both valid), in every lane.
template <int KS = 1, int KSU = 1>
__device__ __forceinline__ void warp_dot2(const MatDesc& m, int r0, int r1, const Act& x, float& a0,
                                          float& a1, int ks = 0) {
  a0 = 0.0f;
  a1 = 0.0f;
  switch (m.type) {
    case kTypeQ4_K:
      lane_dot2<unit_dot2_q4_k, KS, KSU>(m, r0, r1, ks, x, a0, a1);
      break;
    case kTypeQ6_K:
      lane_dot2<unit_dot2_q6_k, KS, KSU>(m, r0, r1, ks, x, a0, a1);
      break;
    case kTypeQ8_0:
      lane_dot2<unit_dot2_q8_0, KS, KSU>(m, r0, r1, ks, x, a0, a1);
      break;
    case kTypeQ5_0:
      lane_dot2<unit_dot2_q5_0, KS, KSU>(m, r0, r1, ks, x, a0, a1);
      break;
    case kTypeQ4_0:
      lane_dot2<unit_dot2_q4_0, KS, KSU>(m, r0, r1, ks, x, a0, a1);
      break;
    case kTypeF16:
      lane_dot2<unit_dot2_f16, KS, KSU>(m, r0, r1, ks, x, a0, a1);
      break;
    case kTypeF32:
      lane_dot2<unit_dot2_f32, KS, KSU>(m, r0, r1, ks, x, a0, a1);
      break;
    default:
      break;
  }
  a0 = warp_sum(a0);
  a1 = warp_sum(a1);
}

// kQkvRope, lane 0 of the warp that owns rows r0, r0 + 1 of segment s (after the bias). Q and K
// are in RoPE row order (kernel_api.h): the pair is (x[p], x[p + hd/2]) of head r0 / hd, rotated
// by the angle of pair p at the device position; q goes to q_rot, k to the K cache row. V rows go
// to the V cache row as they are.
__device__ __forceinline__ void store_kv(void* cache, size_t i, bool f16, float v) {
  if (f16) {
    static_cast<__half*>(cache)[i] = __float2half_rn(v);
  } else {
    static_cast<float*>(cache)[i] = v;
  }
}

__device__ __forceinline__ void qkv_rope_pair(const GemvLaunch* __restrict__ L, int s, int r0, float a0,
                                              float a1) {
  const int pos = *L->pos;
  const size_t row = static_cast<size_t>(pos) * static_cast<size_t>(L->n_head_kv * L->head_dim);
  const bool f16 = L->kv_type == kTypeF16;
  if (s == 2) {
    store_kv(L->v_cache, row + r0, f16, a0);
    store_kv(L->v_cache, row + r0 + 1, f16, a1);
    return;
  }
  const int hd = L->head_dim, half = hd / 2;
  const int h = r0 / hd, p = (r0 % hd) / 2;
  const float2 cs = __ldg(L->rope_cs + static_cast<size_t>(pos) * half + p);
  const float y0 = a0 * cs.x - a1 * cs.y, y1 = a0 * cs.y + a1 * cs.x;
  const int o = h * hd + p;
  if (s == 0) {
    L->q_rot[o] = y0;
    L->q_rot[o + half] = y1;
  } else {
    store_kv(L->k_cache, row + o, f16, y0);
    store_kv(L->k_cache, row + o + half, f16, y1);
  }
}

// KS warps per row pair (split K, partial sums reduced in shared memory in a fixed order): a
// block is kGemvWarps * KS warps and still covers kGemvRowsPerBlock rows, so small matrices (grids
// of a few blocks per SM) keep more loads in flight. Residency (ptxas, sm_90a): KS 1 80 registers
// (6 blocks of 4 warps per SM), KS 2 capped at 85 (80 used: 3 blocks of 8 warps), KS 4 120 (one
// block of 16 warps); a cap of 64 spills. launch_gemv picks KS so that the whole grid is resident.
// KSU 2 (two units in flight in the split loops) caps KS 2 at 2 blocks a SM (128 registers).
template <int KS, int KSU = 1>
struct GemvBounds {
  static constexpr int kThreads = kGemvWarps * KS * 32;
  static constexpr int kMinBlocks = KS == 1 ? 0 : KS == 2 ? (KSU == 2 ? 2 : 3) : 1;  // 0: none
};

template <GemvEpilogue E, int KS, int KSU = 1>
__global__ void __launch_bounds__(GemvBounds<KS, KSU>::kThreads, GemvBounds<KS, KSU>::kMinBlocks)
    gemv_kernel(const GemvLaunch* __restrict__ L, int prefetch, int prefetch_blocks) {
  __shared__ float s_scratch[32];
  __shared__ unsigned long long s_keys[kGemvRowsPerBlock];
  __shared__ float s_part[KS > 1 ? KS - 1 : 1][kGemvRowsPerBlock];
  __shared__ int s_last;
  const int n_seg = L->n_seg;
  int s = 0;
  if (n_seg > 1 && static_cast<int>(blockIdx.x) >= L->seg[1].block_begin) s = 1;
  if (n_seg > 2 && static_cast<int>(blockIdx.x) >= L->seg[2].block_begin) s = 2;
  const MatDesc m = L->seg[s].m;
  const float* bias = L->seg[s].bias;
  float* y = L->seg[s].y;
  const int warp_all = threadIdx.x >> 5, lane = threadIdx.x & 31;
  const int warp = warp_all % kGemvWarps, ks = warp_all / kGemvWarps;  // row pair, K slice
  const int row_begin = (static_cast<int>(blockIdx.x) - L->seg[s].block_begin) * kGemvRowsPerBlock;
  if (static_cast<int>(blockIdx.x) < prefetch_blocks)
    prefetch_rows_l2(m, row_begin, row_begin + kGemvRowsPerBlock, prefetch);
  pdl_wait_then_release();
  const int r0 = row_begin + warp * kGemvRowsPerWarp;
  const int r1 = r0 + 1;
  const bool has1 = r1 < m.rows;
  float a0 = 0.0f, a1 = 0.0f;
  if (r0 < m.rows) warp_dot2<KS, KSU>(m, r0, has1 ? r1 : r0, L->x, a0, a1, ks);  // warp-uniform
  if (KS > 1) {
    if (ks > 0 && lane == 0) {
      s_part[ks - 1][warp * 2] = a0;
      s_part[ks - 1][warp * 2 + 1] = a1;
    }
    __syncthreads();
    if (ks == 0) {
#pragma unroll
      for (int k = 0; k < KS - 1; ++k) {
        a0 += s_part[k][warp * 2];
        a1 += s_part[k][warp * 2 + 1];
      }
    }
  }
  unsigned long long key0 = 0, key1 = 0;
  if (ks == 0 && r0 < m.rows) {  // warp-uniform
    if (lane == 0) {
      if (E == GemvEpilogue::kResidualNorm) {
        y[r0] += a0;
        if (has1) y[r1] += a1;
      } else if (E == GemvEpilogue::kQkvRope) {  // rows come in pairs: has1 holds
        qkv_rope_pair(L, s, r0, a0 + (bias != nullptr ? bias[r0] : 0.0f),
                      a1 + (bias != nullptr ? bias[r1] : 0.0f));
      } else {
        if (bias != nullptr) {
          a0 += bias[r0];
          if (has1) a1 += bias[r1];
        }
        y[r0] = a0;
        if (has1) y[r1] = a1;
        if (E == GemvEpilogue::kArgmax) {
          if (a0 == a0) key0 = argmax_key(a0, r0);
          if (has1 && a1 == a1) key1 = argmax_key(a1, r1);
        }
      }
    }
  }
  if (E == GemvEpilogue::kArgmax) {
    if (ks == 0 && lane == 0) {
      s_keys[warp * 2] = key0;
      s_keys[warp * 2 + 1] = key1;
    }
    __syncthreads();
    if (threadIdx.x == 0) {
      unsigned long long best = 0;
      for (int i = 0; i < kGemvRowsPerBlock; ++i) best = s_keys[i] > best ? s_keys[i] : best;
      L->keys[blockIdx.x] = best;
    }
    return;
  }
  if (E == GemvEpilogue::kStore || E == GemvEpilogue::kQkvRope) return;
  if (E == GemvEpilogue::kResidualNorm && L->norm_g == nullptr) return;
  // Last block: every block publishes its rows, then takes a ticket; the one that draws the last
  // ticket sees every row (threadFenceReduction pattern) and finishes the vector.
  __threadfence();
  __syncthreads();
  if (threadIdx.x == 0) s_last = atomicAdd(L->counter, 1u) == gridDim.x - 1 ? 1 : 0;
  __syncthreads();
  if (s_last == 0) return;
  __threadfence();
  block_rms_norm(L->seg[0].y, L->norm_g, L->norm_eps, L->norm_n, L->norm_out, s_scratch);
  if (threadIdx.x == 0) *L->counter = 0u;
}

// Issue 16 A/B (CUDA_BRICKS_GEMV_QUAD=1): the residual GEMVs (O projection, FFN down) with four
// rows a warp, the activations of a unit loaded once for the four (as gate+up variant 1 does for its
// eight), Q4_K and Q6_K. KQ warps share a row quad (split K); a block is two quads = the 8 rows of
// kGemvRowsPerBlock, so grids are those of gemv_kernel. Partials are summed in a fixed order.
template <int KQ>
__device__ __forceinline__ void quad_dot_q4k(const MatDesc& m, int r, int ks, const Act& x, float (&a)[4]) {
  const int units = unit_count(kTypeQ4_K, m.cols);
  const int64_t row_bytes = static_cast<int64_t>(m.cols / 256) * 144;
  const uint8_t* base = m.q + static_cast<int64_t>(r) * row_bytes;
#pragma unroll 1
  for (int k = static_cast<int>(threadIdx.x & 31) + 32 * ks; k < units; k += 32 * KQ) {
    const int sb = k >> 3, c = k & 7, j = c >> 1;
    uint4 h[4], w[4];
#pragma unroll
    for (int i = 0; i < 4; ++i) {
      const uint8_t* p = base + i * row_bytes + sb * 144;
      h[i] = ld_u4(p);
      w[i] = ld_u4(p + 16 + c * 16);
    }
    const int e = sb * 256 + 64 * j + (c & 1) * 16;
    const ActPiece xa = ld_act(x.q, e), xb = ld_act(x.q, e + 32);
    const float2 dsa = ld_f2(x.ds + sb * 8 + 2 * j), dsb = ld_f2(x.ds + sb * 8 + 2 * j + 1);
#pragma unroll
    for (int i = 0; i < 4; ++i) a[i] += q4k_unit(h[i], w[i], c, xa, xb, dsa, dsb);
  }
}

template <int KQ>
__device__ __forceinline__ void quad_dot_q6k(const MatDesc& m, int r, int ks, const Act& x, float (&a)[4]) {
  const int64_t nb = m.cols / 256;
  const int units = unit_count(kTypeQ6_K, m.cols);
#pragma unroll 1
  for (int k = static_cast<int>(threadIdx.x & 31) + 32 * ks; k < units; k += 32 * KQ) {
    const int sb = k >> 2, t = k & 3, hh = t >> 1, l0 = (t & 1) * 16;
    uint4 qa[4], qb[4], qh[4];
    uint32_t sc[4];
    uint16_t d[4];
#pragma unroll
    for (int i = 0; i < 4; ++i) {
      const int64_t b = static_cast<int64_t>(r + i) * nb + sb;
      qa[i] = ld_u4(m.q + b * 128 + t * 32);
      qb[i] = ld_u4(m.q + b * 128 + t * 32 + 16);
      qh[i] = ld_u4(m.aux + b * 64 + t * 16);
      sc[i] = ld_u32(m.sc + b * 16 + t * 4);
      d[i] = ld_u16(m.d + b);
    }
    const int e = sb * 256 + hh * 128 + l0;
    const ActPiece xv[4] = {ld_act(x.q, e), ld_act(x.q, e + 32), ld_act(x.q, e + 64), ld_act(x.q, e + 96)};
    const int q0 = sb * 8 + hh * 4;
    const float dx[4] = {ld_f2(x.ds + q0).x, ld_f2(x.ds + q0 + 1).x, ld_f2(x.ds + q0 + 2).x,
                         ld_f2(x.ds + q0 + 3).x};
#pragma unroll
    for (int i = 0; i < 4; ++i) a[i] += q6k_unit(qa[i], qb[i], qh[i], sc[i], d[i], xv, dx);
  }
}

// kResidualNorm only: y += W x, then the last block RMS-normalizes y into norm_out (when norm_g set).
// T: kTypeQ4_K or kTypeQ6_K (the launcher checks); one segment; rows a multiple of 8.
template <int KQ, int T>
__global__ void __launch_bounds__(2 * KQ * 32) gemv_quad_kernel(const GemvLaunch* __restrict__ L) {
  __shared__ float s_scratch[32];
  __shared__ float s_part[KQ > 1 ? KQ - 1 : 1][kGemvRowsPerBlock];
  __shared__ int s_last;
  const MatDesc m = L->seg[0].m;
  float* y = L->seg[0].y;
  const int warp_all = threadIdx.x >> 5, lane = threadIdx.x & 31;
  const int quad = warp_all & 1, ks = warp_all >> 1;
  pdl_wait_then_release();
  const int r = static_cast<int>(blockIdx.x) * kGemvRowsPerBlock + 4 * quad;
  float a[4] = {0.0f, 0.0f, 0.0f, 0.0f};
  if (T == kTypeQ4_K) {
    quad_dot_q4k<KQ>(m, r, ks, L->x, a);
  } else {
    quad_dot_q6k<KQ>(m, r, ks, L->x, a);
  }
#pragma unroll
  for (int i = 0; i < 4; ++i) a[i] = warp_sum(a[i]);
  if (KQ > 1) {
    if (ks > 0 && lane == 0) {
#pragma unroll
      for (int i = 0; i < 4; ++i) s_part[ks - 1][4 * quad + i] = a[i];
    }
    __syncthreads();
    if (ks == 0) {
#pragma unroll
      for (int k = 0; k < KQ - 1; ++k) {
#pragma unroll
        for (int i = 0; i < 4; ++i) a[i] += s_part[k][4 * quad + i];
      }
    }
  }
  if (ks == 0 && lane == 0) {
#pragma unroll
    for (int i = 0; i < 4; ++i) y[r + i] += a[i];
  }
  if (L->norm_g == nullptr) return;
  __threadfence();
  __syncthreads();
  if (threadIdx.x == 0) s_last = atomicAdd(L->counter, 1u) == gridDim.x - 1 ? 1 : 0;
  __syncthreads();
  if (s_last == 0) return;
  __threadfence();
  block_rms_norm(L->seg[0].y, L->norm_g, L->norm_eps, L->norm_n, L->norm_out, s_scratch);
  if (threadIdx.x == 0) *L->counter = 0u;
}

// ---- gemv_res_kernel (issue 16): split K over warps, any number of slices -------------------------
// A warp takes one K slice (a contiguous range of units) of a quad of rows; the S slices of a quad
// are S consecutive warps of the grid (possibly in two blocks). Each slice writes its four partial
// sums to L->part and takes a ticket on the quad's counter; the slice that draws the last ticket sums
// the S partials in slice order (deterministic) and runs the epilogue for the quad: residual add,
// store (+ bias), or bias + RoPE + KV-cache store. The launcher picks S so that the whole grid is
// resident at once (one wave, every SM busy to the end), which the 8-row blocks of gemv_kernel are
// not at 7B (448 blocks, 396 resident: 1.13 waves).
template <int U>
__device__ __forceinline__ void res_dot_q4k(const MatDesc& m, int r, int kb, int ke, const Act& x,
                                            float (&a)[4]) {
  const int64_t row_bytes = static_cast<int64_t>(m.cols / 256) * 144;
  const uint8_t* base = m.q + static_cast<int64_t>(r) * row_bytes;
#pragma unroll 1
  for (int k0 = kb + static_cast<int>(threadIdx.x & 31); k0 < ke; k0 += 32 * U) {
    uint4 h[U][4], w[U][4];
    ActPiece xa[U], xb[U];
    float2 dsa[U], dsb[U];
#pragma unroll
    for (int i = 0; i < U; ++i) {
      const int k = min(k0 + 32 * i, ke - 1);  // past the slice: reloads its last unit (not summed)
      const int sb = k >> 3, c = k & 7, j = c >> 1;
#pragma unroll
      for (int q = 0; q < 4; ++q) {
        const uint8_t* p = base + q * row_bytes + sb * 144;
        h[i][q] = ld_u4(p);
        w[i][q] = ld_u4(p + 16 + c * 16);
      }
      const int e = sb * 256 + 64 * j + (c & 1) * 16;
      xa[i] = ld_act(x.q, e);
      xb[i] = ld_act(x.q, e + 32);
      dsa[i] = ld_f2(x.ds + sb * 8 + 2 * j);
      dsb[i] = ld_f2(x.ds + sb * 8 + 2 * j + 1);
    }
#pragma unroll
    for (int i = 0; i < U; ++i) {
      if (k0 + 32 * i < ke) {
        const int c = (k0 + 32 * i) & 7;
#pragma unroll
        for (int q = 0; q < 4; ++q) a[q] += q4k_unit(h[i][q], w[i][q], c, xa[i], xb[i], dsa[i], dsb[i]);
      }
    }
  }
}

// Variant 4: the same sums, software-pipelined: the header and quants of a lane's next unit (4 rows)
// are loaded before the current unit is computed, so DRAM loads stay in flight during the math.
// A lane's last step reloads its current unit (clamped index; not summed twice).
__device__ __forceinline__ void res_load_q4k(const uint8_t* base, int64_t row_bytes, int k, uint4 (&h)[4],
                                             uint4 (&w)[4]) {
  const int sb = k >> 3, c = k & 7;
#pragma unroll
  for (int q = 0; q < 4; ++q) {
    const uint8_t* p = base + q * row_bytes + sb * 144;
    h[q] = ld_u4(p);
    w[q] = ld_u4(p + 16 + c * 16);
  }
}

__device__ __forceinline__ void res_dot_q4k_pipe(const MatDesc& m, int r, int kb, int ke, const Act& x,
                                                 float (&a)[4]) {
  const int64_t row_bytes = static_cast<int64_t>(m.cols / 256) * 144;
  const uint8_t* base = m.q + static_cast<int64_t>(r) * row_bytes;
  int k = kb + static_cast<int>(threadIdx.x & 31);
  if (k >= ke) return;
  uint4 h[4], w[4];
  res_load_q4k(base, row_bytes, k, h, w);
#pragma unroll 1
  for (;;) {
    const int kn = k + 32;
    uint4 hn[4], wn[4];
    res_load_q4k(base, row_bytes, min(kn, ke - 1), hn, wn);
    const int sb = k >> 3, c = k & 7, j = c >> 1;
    const int e = sb * 256 + 64 * j + (c & 1) * 16;
    const ActPiece xa = ld_act(x.q, e), xb = ld_act(x.q, e + 32);
    const float2 dsa = ld_f2(x.ds + sb * 8 + 2 * j), dsb = ld_f2(x.ds + sb * 8 + 2 * j + 1);
#pragma unroll
    for (int q = 0; q < 4; ++q) a[q] += q4k_unit(h[q], w[q], c, xa, xb, dsa, dsb);
    if (kn >= ke) break;
#pragma unroll
    for (int q = 0; q < 4; ++q) {
      h[q] = hn[q];
      w[q] = wn[q];
    }
    k = kn;
  }
}

__device__ __forceinline__ void res_dot_q6k(const MatDesc& m, int r, int kb, int ke, const Act& x,
                                            float (&a)[4]) {
  const int64_t nb = m.cols / 256;
#pragma unroll 1
  for (int k = kb + static_cast<int>(threadIdx.x & 31); k < ke; k += 32) {
    const int sb = k >> 2, t = k & 3, hh = t >> 1, l0 = (t & 1) * 16;
    uint4 qa[4], qb[4], qh[4];
    uint32_t sc[4];
    uint16_t d[4];
#pragma unroll
    for (int i = 0; i < 4; ++i) {
      const int64_t b = static_cast<int64_t>(r + i) * nb + sb;
      qa[i] = ld_u4(m.q + b * 128 + t * 32);
      qb[i] = ld_u4(m.q + b * 128 + t * 32 + 16);
      qh[i] = ld_u4(m.aux + b * 64 + t * 16);
      sc[i] = ld_u32(m.sc + b * 16 + t * 4);
      d[i] = ld_u16(m.d + b);
    }
    const int e = sb * 256 + hh * 128 + l0;
    const ActPiece xv[4] = {ld_act(x.q, e), ld_act(x.q, e + 32), ld_act(x.q, e + 64), ld_act(x.q, e + 96)};
    const int q0 = sb * 8 + hh * 4;
    const float dx[4] = {ld_f2(x.ds + q0).x, ld_f2(x.ds + q0 + 1).x, ld_f2(x.ds + q0 + 2).x,
                         ld_f2(x.ds + q0 + 3).x};
#pragma unroll
    for (int i = 0; i < 4; ++i) a[i] += q6k_unit(qa[i], qb[i], qh[i], sc[i], d[i], xv, dx);
  }
}

template <void (*UnitDot2)(const MatDesc&, int, int, int, const Act&, float&, float&)>
__device__ __forceinline__ void res_dot_pairs(const MatDesc& m, int r, int kb, int ke, const Act& x,
                                              float (&a)[4]) {
#pragma unroll 2
  for (int k = kb + static_cast<int>(threadIdx.x & 31); k < ke; k += 32) {
    UnitDot2(m, r, r + 1, k, x, a[0], a[1]);
    UnitDot2(m, r + 2, r + 3, k, x, a[2], a[3]);
  }
}

// T: kTypeQ4_K / kTypeQ6_K (the launcher checks the matrix), or -1 = switch on each segment's type.
template <int T, int U>
__device__ __forceinline__ void res_dot(const MatDesc& m, int r, int kb, int ke, const Act& x,
                                        float (&a)[4]) {
  if constexpr (T == kTypeQ4_K) {
    if constexpr (U == 0) {
      res_dot_q4k_pipe(m, r, kb, ke, x, a);
    } else {
      res_dot_q4k<U>(m, r, kb, ke, x, a);
    }
  } else if constexpr (T == kTypeQ6_K) {
    res_dot_q6k(m, r, kb, ke, x, a);
  } else {
    switch (m.type) {
      case kTypeQ4_K:
        if constexpr (U == 0) {
          res_dot_q4k_pipe(m, r, kb, ke, x, a);
        } else {
          res_dot_q4k<U>(m, r, kb, ke, x, a);
        }
        break;
      case kTypeQ6_K:
        res_dot_q6k(m, r, kb, ke, x, a);
        break;
      case kTypeQ8_0:
        res_dot_pairs<unit_dot2_q8_0>(m, r, kb, ke, x, a);
        break;
      case kTypeQ5_0:
        res_dot_pairs<unit_dot2_q5_0>(m, r, kb, ke, x, a);
        break;
      case kTypeQ4_0:
        res_dot_pairs<unit_dot2_q4_0>(m, r, kb, ke, x, a);
        break;
      case kTypeF16:
        res_dot_pairs<unit_dot2_f16>(m, r, kb, ke, x, a);
        break;
      case kTypeF32:
        res_dot_pairs<unit_dot2_f32>(m, r, kb, ke, x, a);
        break;
      default:
        break;
    }
  }
}

// Variants (CUDA_BRICKS_GEMV_RES=V; ptxas, sm_90a, 256 threads): 1 = one unit in flight a lane (Q4_K
// 80 registers = 3 blocks a SM; Q6_K and the type switch 128 = 2); 2 = two units in flight (Q4_K)
// under a cap of 2 blocks a SM (128 registers, 4 bytes spilled); 3 = one unit, the Q4_K kernel capped
// at 4 blocks a SM (64 registers, 120 bytes spilled; the others uncapped); 4 = Q4_K software-pipelined
// (res_dot_q4k_pipe, res_units 0; 120 registers), capped at 2 blocks a SM.
// Measured on the H200 (results/h200/2026-12-03), decode@512 with CUDA_BRICKS_GEMV_RES_EPI=1 (O
// projection and FFN down only) against the default: 7B V4 328.5 -> 336.9 tok/s, V1 -> 333.9; 3B
// 493.5 -> 495.2; 1.5B 702.7 -> 697.9; 0.5B 1176.9 -> 1124.3; 32B (default: gemv_quad_kernel)
// 102.1 -> 99.3. With QKV too (EPI unset) 7B V4 330.8. Hence off by default (kGemvResDefault).
constexpr int res_units(int v) { return v == 2 ? 2 : v == 4 ? 0 : 1; }
constexpr int res_min_blocks(int v, int t) {
  return v == 2 || v == 4 ? 2 : (v == 3 && t == kTypeQ4_K) ? 4 : 0;
}

template <GemvEpilogue E, int T, int V>
__global__ void __launch_bounds__(kResWarps * 32, res_min_blocks(V, T))
    gemv_res_kernel(const GemvLaunch* __restrict__ L, int S) {
  __shared__ float s_scratch[32];
  __shared__ int s_last;
  const int lane = static_cast<int>(threadIdx.x & 31);
  const int gw = static_cast<int>(blockIdx.x) * kResWarps + static_cast<int>(threadIdx.x >> 5);
  const int gq = gw / S, slice = gw - gq * S;
  const int n_seg = L->n_seg;
  int s = 0, q0 = 0, nq = L->seg[0].m.rows / kResRows;
  if (n_seg > 1 && gq >= q0 + nq) {
    q0 += nq;
    s = 1;
    nq = L->seg[1].m.rows / kResRows;
  }
  if (n_seg > 2 && gq >= q0 + nq) {
    q0 += nq;
    s = 2;
    nq = L->seg[2].m.rows / kResRows;
  }
  const bool active = gq < q0 + nq;  // warp-uniform
  if (E == GemvEpilogue::kResidualNorm && threadIdx.x == 0 && L->norm_g != nullptr &&
      static_cast<int>(blockIdx.x) * 32 < L->norm_n) {  // the norm's weights, for the last block
    asm volatile("prefetch.global.L2 [%0];" ::"l"(L->norm_g + blockIdx.x * 32));
  }
  pdl_wait_then_release();
  const MatDesc m = L->seg[s].m;
  const int r = (gq - q0) * kResRows;
  float a[4] = {0.0f, 0.0f, 0.0f, 0.0f};
  if (active) {
    const int units = unit_count(m.type, m.cols);
    const int chunk = (units + S - 1) / S;
    const int kb = slice * chunk, ke = min(units, kb + chunk);
    res_dot<T, res_units(V)>(m, r, kb, ke, L->x, a);
  }
#pragma unroll
  for (int i = 0; i < 4; ++i) a[i] = warp_sum(a[i]);
  float v = lane == 0 ? a[0] : lane == 1 ? a[1] : lane == 2 ? a[2] : a[3];  // lanes 0-3: rows r..r+3
  bool finish = active;
  if (active && S > 1) {
    const int grow = gq * kResRows + lane;  // the row over all segments (lanes 0-3)
    if (lane < kResRows) L->part[grow * S + slice] = v;
    __threadfence();
    __syncwarp();  // lanes 1-3's fenced stores before lane 0's ticket
    unsigned int t = 0;
    if (lane == 0) t = atomicAdd(L->qcnt + gq, 1u);
    t = __shfl_sync(0xFFFFFFFFu, t, 0);
    finish = t == static_cast<unsigned int>(S - 1);
    if (finish) {
      __threadfence();
      if (lane < kResRows) {
        float sum = 0.0f;
        for (int k = 0; k < S; ++k) sum += __ldcg(L->part + grow * S + k);
        v = sum;
      }
      if (lane == 0) L->qcnt[gq] = 0u;
    }
  }
  if (finish) {  // warp-uniform
    const float* bias = L->seg[s].bias;
    float* y = L->seg[s].y;
    if (E == GemvEpilogue::kQkvRope) {
      if (bias != nullptr && lane < kResRows) v += bias[r + lane];
      const float v1 = __shfl_down_sync(0xFFFFFFFFu, v, 1);
      if (lane == 0 || lane == 2) qkv_rope_pair(L, s, r + lane, v, v1);
    } else if (lane < kResRows) {
      if (E == GemvEpilogue::kResidualNorm) {
        y[r + lane] += v;
      } else {
        y[r + lane] = v + (bias != nullptr ? bias[r + lane] : 0.0f);
      }
    }
  }
  if (E != GemvEpilogue::kResidualNorm || L->norm_g == nullptr) return;
  __threadfence();
  __syncthreads();
  if (threadIdx.x == 0) s_last = atomicAdd(L->counter, 1u) == gridDim.x - 1 ? 1 : 0;
  __syncthreads();
  if (s_last == 0) return;
  __threadfence();
  block_rms_norm(L->seg[0].y, L->norm_g, L->norm_eps, L->norm_n, L->norm_out, s_scratch);
  if (threadIdx.x == 0) *L->counter = 0u;
}

// Lane-strided loop over the units of rows o..o+3 of gate and of up (same type and width): eight
// rows' loads in flight per lane per step (the four calls reload the same activations: L1 hits).
template <void (*UnitDot2)(const MatDesc&, int, int, int, const Act&, float&, float&)>
__device__ __forceinline__ void lane_dot_gate_up(const MatDesc& g, const MatDesc& u, int o, const Act& x,
                                                 float (&a)[8]) {
  const int units = unit_count(g.type, g.cols);
#pragma unroll 1
  for (int k = static_cast<int>(threadIdx.x & 31); k < units; k += 32) {
    UnitDot2(g, o, o + 1, k, x, a[0], a[1]);
    UnitDot2(g, o + 2, o + 3, k, x, a[2], a[3]);
    UnitDot2(u, o, o + 1, k, x, a[4], a[5]);
    UnitDot2(u, o + 2, o + 3, k, x, a[6], a[7]);
  }
}

// Issue 16: gate+up with the activations of a unit loaded once for all eight rows (the lane loop
// above loads them four times: ptxas does not merge the four calls' loads), Q4_K and Q5_0 (the types
// gate and up have in the Q4_K_M models). U units in flight per lane: each step issues every load of
// its U units (8 rows each) before any math. CUDA_BRICKS_GATE_UP picks the variant (launch_gate_up).
template <int U>
__device__ __forceinline__ void gate_up_q4k(const MatDesc& g, const MatDesc& up, int o, const Act& x,
                                            float (&a)[8]) {
  const int units = unit_count(kTypeQ4_K, g.cols);
  const int64_t row_bytes = static_cast<int64_t>(g.cols / 256) * 144;
  const uint8_t* base[8];
#pragma unroll
  for (int r = 0; r < 4; ++r) {
    base[r] = g.q + static_cast<int64_t>(o + r) * row_bytes;
    base[4 + r] = up.q + static_cast<int64_t>(o + r) * row_bytes;
  }
  const int lane = static_cast<int>(threadIdx.x & 31);
#pragma unroll 1
  for (int k0 = lane; k0 < units; k0 += 32 * U) {
    uint4 h[U][8], w[U][8];
    ActPiece xa[U], xb[U];
    float2 dsa[U], dsb[U];
#pragma unroll
    for (int i = 0; i < U; ++i) {
      const int k = min(k0 + 32 * i, units - 1);  // a unit past the row reloads the last one (not summed)
      const int sb = k >> 3, c = k & 7, j = c >> 1;
#pragma unroll
      for (int r = 0; r < 8; ++r) {
        const uint8_t* p = base[r] + sb * 144;
        h[i][r] = ld_u4(p);
        w[i][r] = ld_u4(p + 16 + c * 16);
      }
      const int e = sb * 256 + 64 * j + (c & 1) * 16;
      xa[i] = ld_act(x.q, e);
      xb[i] = ld_act(x.q, e + 32);
      dsa[i] = ld_f2(x.ds + sb * 8 + 2 * j);
      dsb[i] = ld_f2(x.ds + sb * 8 + 2 * j + 1);
    }
#pragma unroll
    for (int i = 0; i < U; ++i) {
      if (k0 + 32 * i < units) {
        const int c = (k0 + 32 * i) & 7;
#pragma unroll
        for (int r = 0; r < 8; ++r) a[r] += q4k_unit(h[i][r], w[i][r], c, xa[i], xb[i], dsa[i], dsb[i]);
      }
    }
  }
}

template <int U>
__device__ __forceinline__ void gate_up_q5_0(const MatDesc& g, const MatDesc& up, int o, const Act& x,
                                             float (&a)[8]) {
  const int64_t nb = g.cols / 32;
  const int units = static_cast<int>(nb);
  const int lane = static_cast<int>(threadIdx.x & 31);
#pragma unroll 1
  for (int k0 = lane; k0 < units; k0 += 32 * U) {
    uint4 q[U][8];
    uint32_t qh[U][8];
    uint16_t d[U][8];
    ActPiece xa[U], xb[U];
    float dx[U];
#pragma unroll
    for (int i = 0; i < U; ++i) {
      const int k = min(k0 + 32 * i, units - 1);
#pragma unroll
      for (int r = 0; r < 8; ++r) {
        const MatDesc& m = r < 4 ? g : up;
        const int64_t b = static_cast<int64_t>(o + (r & 3)) * nb + k;
        q[i][r] = ld_u4(m.q + b * 16);
        qh[i][r] = ld_u32(m.aux + b * 4);
        d[i][r] = ld_u16(m.d + b);
      }
      xa[i] = ld_act(x.q, k * 32);
      xb[i] = ld_act(x.q, k * 32 + 16);
      dx[i] = ld_f2(x.ds + k).x;
    }
#pragma unroll
    for (int i = 0; i < U; ++i) {
      if (k0 + 32 * i < units) {
#pragma unroll
        for (int r = 0; r < 8; ++r) a[r] += q5_0_unit(q[i][r], qh[i][r], d[i][r], xa[i], xb[i], dx[i]);
      }
    }
  }
}

// gate+up+SiLU: block b computes outputs [32b, 32b + 32): warp w rows 32b + 4w .. + 3 of both
// matrices, then warp 0 forms h = silu(g) * u and quantizes the 32 values (one activation block).
// V: 0 the four-call lane loop for every type (T unused); 1, 2: gate_up_q4k (T = Q4_K) or
// gate_up_q5_0 (T = Q5_0) with U = V units in flight, a kernel of its own per type (the registers
// of the other types' paths do not limit its residency); the launcher checks both matrices' type.
// V 3 = U 1 and V 4 = U 2 under register caps of 3 and 2 blocks a SM (85 / 128 registers).
constexpr int gate_up_units(int v) { return v == 3 ? 1 : v == 4 ? 2 : v; }
constexpr int gate_up_min_blocks(int v) { return v == 3 ? 3 : v == 4 ? 2 : 0; }

template <int V, int T>
__global__ void __launch_bounds__(kGateUpWarps * 32, gate_up_min_blocks(V))
    gate_up_kernel(const GateUpLaunch* __restrict__ L, int prefetch, int prefetch_blocks) {
  __shared__ float s_g[kGateUpOutputs];
  __shared__ float s_u[kGateUpOutputs];
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
  const int o = static_cast<int>(blockIdx.x) * kGateUpOutputs + warp * 4;
  const MatDesc gate = L->gate;
  const MatDesc up = L->up;
  const int o_begin = static_cast<int>(blockIdx.x) * kGateUpOutputs;
  if (static_cast<int>(blockIdx.x) < prefetch_blocks) {
    prefetch_rows_l2(gate, o_begin, o_begin + kGateUpOutputs, prefetch / 2);
    prefetch_rows_l2(up, o_begin, o_begin + kGateUpOutputs, prefetch / 2);
  }
  pdl_wait_then_release();
  float a[8] = {0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f};
  bool fused = gate.type == up.type && gate.cols == up.cols;
  if constexpr (V > 0) {
    if constexpr (T == kTypeQ4_K) {
      gate_up_q4k<gate_up_units(V)>(gate, up, o, L->x, a);
    } else {
      gate_up_q5_0<gate_up_units(V)>(gate, up, o, L->x, a);
    }
#pragma unroll
    for (int r = 0; r < 8; ++r) a[r] = warp_sum(a[r]);
  } else if (fused) {
    switch (gate.type) {
      case kTypeQ4_K:
        lane_dot_gate_up<unit_dot2_q4_k>(gate, up, o, L->x, a);
        break;
      case kTypeQ6_K:
        lane_dot_gate_up<unit_dot2_q6_k>(gate, up, o, L->x, a);
        break;
      case kTypeQ8_0:
        lane_dot_gate_up<unit_dot2_q8_0>(gate, up, o, L->x, a);
        break;
      case kTypeQ5_0:
        lane_dot_gate_up<unit_dot2_q5_0>(gate, up, o, L->x, a);
        break;
      case kTypeQ4_0:
        lane_dot_gate_up<unit_dot2_q4_0>(gate, up, o, L->x, a);
        break;
      default:
        fused = false;
        break;
    }
  }
  if constexpr (V > 0) {
  } else if (fused) {
#pragma unroll
    for (int r = 0; r < 8; ++r) a[r] = warp_sum(a[r]);
  } else {
    warp_dot2(gate, o, o + 1, L->x, a[0], a[1]);
    warp_dot2(gate, o + 2, o + 3, L->x, a[2], a[3]);
    warp_dot2(up, o, o + 1, L->x, a[4], a[5]);
    warp_dot2(up, o + 2, o + 3, L->x, a[6], a[7]);
  }
  if (lane == 0) {
#pragma unroll
    for (int r = 0; r < 4; ++r) {
      s_g[warp * 4 + r] = a[r];
      s_u[warp * 4 + r] = a[4 + r];
    }
  }
  __syncthreads();
  if (warp == 0) {
    const float z = s_g[lane];
    const float h = z / (1.0f + expf(-z)) * s_u[lane];
    const int i = static_cast<int>(blockIdx.x) * kGateUpOutputs + lane;
    if (L->h.f != nullptr) L->h.f[i] = h;
    if (L->h.q != nullptr) warp_quantize_q8(h, L->h.q, L->h.ds, static_cast<int>(blockIdx.x));
  }
}

}  // namespace

namespace {
// Grid sizes (blocks per SM) up to which launch_gemv splits K 4 ways / 2 ways; default 1 and 4.
// At 2 ways 3 blocks per SM are resident (GemvBounds), so a grid of up to 4 per SM takes a short
// second wave: measured on the H100 (results/h100/2026-11-26c/ab-summary.txt) that still beat the
// unsplit kernel at 7B (448-block o_proj and ffn down: ffn 86.9 -> 78.4 us, decode 228 -> 248
// tok/s), while 1 and 3 left 7B unchanged. CUDA_BRICKS_GEMV_SPLIT="K4,K2" overrides them (A/B runs
// on the device; "0,0" = no split, the kernel as before split K).
struct GemvSplit {
  int sms = 132;
  int ks4_per_sm = 1;
  int ks2_per_sm = 4;
};
const GemvSplit& gemv_split() {
  static const GemvSplit s = [] {
    GemvSplit r;
    int dev = 0, v = 0;
    if (cudaGetDevice(&dev) == cudaSuccess &&
        cudaDeviceGetAttribute(&v, cudaDevAttrMultiProcessorCount, dev) == cudaSuccess && v > 0) {
      r.sms = v;
    }
    if (const char* e = std::getenv("CUDA_BRICKS_GEMV_SPLIT")) {
      int a = 0, b = 0;
      if (std::sscanf(e, "%d,%d", &a, &b) == 2 && a >= 0 && b >= 0) {
        r.ks4_per_sm = a;
        r.ks2_per_sm = b;
      }
    }
    return r;
  }();
  return s;
}

// Blocks of `kernel` resident at once on the device (the first wave: the only blocks that can start
// before a PDL predecessor ends, so the only ones whose L2 prefetch can pay). Queried once.
template <typename K>
int first_wave_blocks(K kernel, int threads, int sms) {
  int per_sm = 0;
  if (cudaOccupancyMaxActiveBlocksPerMultiprocessor(&per_sm, kernel, threads, 0) != cudaSuccess) {
    cudaGetLastError();
    per_sm = 1;
  }
  return per_sm * sms;
}

template <GemvEpilogue E, int KS, int KSU>
cudaError_t launch_gemv_e(const GemvLaunch* d, dim3 grid, dim3 block, int prefetch, cudaStream_t stream) {
  static const int wave =
      first_wave_blocks(gemv_kernel<E, KS, KSU>, GemvBounds<KS, KSU>::kThreads, gemv_split().sms);
  return launch_kernel(gemv_kernel<E, KS, KSU>, grid, block, stream, d, prefetch, prefetch > 0 ? wave : 0);
}

// CUDA_BRICKS_GEMV_KSU=2 (read once): two units in flight a lane in the split-K loops (A/B runs).
int gemv_ksu() {
  static const int v = [] {
    const char* e = std::getenv("CUDA_BRICKS_GEMV_KSU");
    return e != nullptr && std::atoi(e) == 2 ? 2 : 1;
  }();
  return v;
}

// The L2 prefetch the first wave of the next launch gets (kernel_api.h, PdlChain): only a
// programmatic launch can start before its predecessor ends.
int prefetch_for_next_launch() { return pdl_next_launch_programmatic() ? pdl_prefetch_bytes() : 0; }

template <int KS, int KSU = 1>
cudaError_t launch_gemv_ks(const GemvLaunch* d, unsigned n_blocks, GemvEpilogue epilogue, int pf,
                           cudaStream_t stream) {
  if constexpr (KS > 1 && KSU == 1) {
    if (gemv_ksu() == 2) return launch_gemv_ks<KS, 2>(d, n_blocks, epilogue, pf, stream);
  }
  const dim3 grid(n_blocks), block(GemvBounds<KS, KSU>::kThreads);
  switch (epilogue) {
    case GemvEpilogue::kStore:
      return launch_gemv_e<GemvEpilogue::kStore, KS, KSU>(d, grid, block, pf, stream);
    case GemvEpilogue::kResidualNorm:
      return launch_gemv_e<GemvEpilogue::kResidualNorm, KS, KSU>(d, grid, block, pf, stream);
    case GemvEpilogue::kQkvRope:
      return launch_gemv_e<GemvEpilogue::kQkvRope, KS, KSU>(d, grid, block, pf, stream);
    case GemvEpilogue::kArgmax:
      return launch_gemv_e<GemvEpilogue::kArgmax, KS, KSU>(d, grid, block, pf, stream);
  }
  return cudaErrorInvalidValue;
}
}  // namespace

// Split K where the grid is small (0.5B-3B projections, e.g. 112-320 blocks of 8 rows on 132
// SMs): at most one block per SM -> 4 warps per row pair, at most 4 -> 2, else 1 (4-warp blocks).
namespace {
// CUDA_BRICKS_GEMV_QUAD (read once): 1 = gemv_quad_kernel for every residual GEMV it covers, 0 =
// for none; unset = for those whose grid the unsplit kernel would run (more than ks2_per_sm blocks
// a SM: the 32B model's, 640 blocks). Measured on the H200 (results/h200/2026-12-02/run2): 32B
// decode 89.5 -> 102.5 tok/s; where the default splits K (0.5B-7B) it lost 1.5-10%.
int gemv_quad() {
  static const int v = [] {
    const char* e = std::getenv("CUDA_BRICKS_GEMV_QUAD");
    return e == nullptr ? -1 : std::atoi(e) == 1 ? 1 : 0;
  }();
  return v;
}

template <int KQ, int T>
cudaError_t launch_quad(const GemvLaunch* d, unsigned n, cudaStream_t stream) {
  return launch_kernel(gemv_quad_kernel<KQ, T>, dim3(n), dim3(2 * KQ * 32), stream, d);
}

// CUDA_BRICKS_GEMV_RES=V (read once): gemv_res_kernel variant V (1-4, res_units/res_min_blocks) for
// every launch that has its buffers (GemvLaunch::part, qcnt), 0 = never; unset = kGemvResDefault.
// CUDA_BRICKS_GEMV_RES_S=N: N slices a quad instead of the launcher's choice (A/B runs).
int gemv_res_variant() {
  static const int v = [] {
    const char* e = std::getenv("CUDA_BRICKS_GEMV_RES");
    const int x = e != nullptr ? std::atoi(e) : kGemvResDefault;
    return x >= 0 && x <= 4 ? x : kGemvResDefault;
  }();
  return v;
}
int gemv_res_split_env() {
  static const int v = [] {
    const char* e = std::getenv("CUDA_BRICKS_GEMV_RES_S");
    return e != nullptr ? std::atoi(e) : 0;
  }();
  return v;
}

// CUDA_BRICKS_GEMV_RES_EPI=MASK (read once): the epilogues gemv_res_kernel takes when on: 1 =
// residual (+ norm: O projection, FFN down), 2 = QKV + RoPE, 4 = plain store; default 7 (A/B runs).
int gemv_res_epilogues() {
  static const int v = [] {
    const char* e = std::getenv("CUDA_BRICKS_GEMV_RES_EPI");
    return e != nullptr ? std::atoi(e) & 7 : 7;
  }();
  return v;
}

// Slices a quad: as many as keep the whole grid resident (blocks a SM by the occupancy API), at most
// kResMaxSplit, each slice at least one lane step of units. A grid that would fill less than half of
// the resident warps (rows of few units: 0.5B's Q5_0 / Q8_0 projections) is left to gemv_kernel:
// *used = false and nothing launched.
template <GemvEpilogue E, int T, int V>
cudaError_t launch_res_t(const GemvLaunch& h, const GemvLaunch* d, cudaStream_t stream, bool* used) {
  static const int wave = first_wave_blocks(gemv_res_kernel<E, T, V>, kResWarps * 32, gemv_split().sms);
  int quads = 0, units = 0;
  for (int k = 0; k < h.n_seg; ++k) {
    quads += h.seg[k].m.rows / kResRows;
    units = std::max(units, unit_count(h.seg[k].m.type, h.seg[k].m.cols));
  }
  const int resident_warps = wave * kResWarps;
  int sl = gemv_res_split_env();
  const bool forced = sl > 0;
  if (!forced) sl = std::max(1, resident_warps / std::max(quads, 1));
  sl = std::min(sl, std::min(kResMaxSplit, std::max(1, (units + 31) / 32)));
  if (!forced && 2 * quads * sl < resident_warps) {
    *used = false;
    return cudaSuccess;
  }
  *used = true;
  const unsigned blocks = static_cast<unsigned>((quads * sl + kResWarps - 1) / kResWarps);
  return launch_kernel(gemv_res_kernel<E, T, V>, dim3(blocks), dim3(kResWarps * 32), stream, d, sl);
}

template <int V>
cudaError_t launch_res_v(const GemvLaunch& h, const GemvLaunch* d, GemvEpilogue epilogue, cudaStream_t stream,
                         bool* used) {
  const int qt = h.seg[0].m.type;
  switch (epilogue) {
    case GemvEpilogue::kResidualNorm:
      if (h.n_seg == 1 && qt == kTypeQ4_K)
        return launch_res_t<GemvEpilogue::kResidualNorm, kTypeQ4_K, V>(h, d, stream, used);
      if (h.n_seg == 1 && qt == kTypeQ6_K)
        return launch_res_t<GemvEpilogue::kResidualNorm, kTypeQ6_K, V>(h, d, stream, used);
      return launch_res_t<GemvEpilogue::kResidualNorm, -1, V>(h, d, stream, used);
    case GemvEpilogue::kQkvRope:
      return launch_res_t<GemvEpilogue::kQkvRope, -1, V>(h, d, stream, used);
    default:
      return launch_res_t<GemvEpilogue::kStore, -1, V>(h, d, stream, used);
  }
}

// Whether launch_gemv runs gemv_res_kernel: its buffers given, rows in quads, an epilogue it has.
bool res_applies(const GemvLaunch& h, GemvEpilogue epilogue) {
  if (h.part == nullptr || h.qcnt == nullptr || gemv_res_variant() == 0) return false;
  const int mask = gemv_res_epilogues();
  switch (epilogue) {
    case GemvEpilogue::kResidualNorm:
      if ((mask & 1) == 0) return false;
      break;
    case GemvEpilogue::kQkvRope:
      if ((mask & 2) == 0) return false;
      break;
    case GemvEpilogue::kStore:
      if ((mask & 4) == 0) return false;
      break;
    default:
      return false;
  }
  for (int k = 0; k < h.n_seg; ++k) {
    if (h.seg[k].m.rows % kResRows != 0) return false;
  }
  return true;
}
}  // namespace

cudaError_t launch_gemv(const GemvLaunch& h, const GemvLaunch* d, GemvEpilogue epilogue,
                        cudaStream_t stream) {
  cudaError_t te = cudaSuccess;
  if (launch_gemv_tile(h, d, epilogue, stream, &te)) return te;
  if (res_applies(h, epilogue)) {
    bool used = false;
    cudaError_t e = cudaSuccess;
    switch (gemv_res_variant()) {
      case 1:
        e = launch_res_v<1>(h, d, epilogue, stream, &used);
        break;
      case 2:
        e = launch_res_v<2>(h, d, epilogue, stream, &used);
        break;
      case 4:
        e = launch_res_v<4>(h, d, epilogue, stream, &used);
        break;
      default:
        e = launch_res_v<3>(h, d, epilogue, stream, &used);
        break;
    }
    if (used || e != cudaSuccess) return e;
  }
  const GemvSplit& sp = gemv_split();
  const int qt = h.seg[0].m.type;
  const int quad = gemv_quad();
  const bool unsplit = h.n_blocks > sp.ks4_per_sm * sp.sms && h.n_blocks > sp.ks2_per_sm * sp.sms;
  if ((quad == 1 || (quad < 0 && unsplit)) && epilogue == GemvEpilogue::kResidualNorm && h.n_seg == 1 &&
      h.seg[0].m.rows % 8 == 0 && (qt == kTypeQ4_K || qt == kTypeQ6_K)) {
    // K slices a row quad: 4 where a row has at least 4 lane steps of units at 4 slices, else 2.
    const bool k4 = unit_count(qt, h.seg[0].m.cols) >= 4 * 32 * 4;
    const unsigned nq = static_cast<unsigned>(h.n_blocks);
    if (qt == kTypeQ4_K)
      return k4 ? launch_quad<4, kTypeQ4_K>(d, nq, stream) : launch_quad<2, kTypeQ4_K>(d, nq, stream);
    return k4 ? launch_quad<4, kTypeQ6_K>(d, nq, stream) : launch_quad<2, kTypeQ6_K>(d, nq, stream);
  }
  const unsigned n = static_cast<unsigned>(h.n_blocks);
  const int pf = prefetch_for_next_launch();
  if (h.n_blocks <= sp.ks4_per_sm * sp.sms) return launch_gemv_ks<4>(d, n, epilogue, pf, stream);
  if (h.n_blocks <= sp.ks2_per_sm * sp.sms) return launch_gemv_ks<2>(d, n, epilogue, pf, stream);
  return launch_gemv_ks<1>(d, n, epilogue, pf, stream);
}

// CUDA_BRICKS_GATE_UP=V (read once) picks gate_up_kernel<V> (0 to 4: gate_up_units, gate_up_min_blocks; A/B
// runs).
// Without it: kGateUpDefaultQ4K for Q4_K (1: +13% decode at 7B and 32B, +8% at 1.5B on the H200,
// results/h200/2026-12-02) and 0 for every other type (variant 1 lost 1% at 0.5B, whose gate and up
// are Q5_0). -1 = not set.
int gate_up_env() {
  static const int v = [] {
    const char* e = std::getenv("CUDA_BRICKS_GATE_UP");
    const int x = e != nullptr ? std::atoi(e) : -1;
    return x >= 0 && x <= 4 ? x : -1;
  }();
  return v;
}

template <int V, int T>
cudaError_t launch_gate_up_v(const GateUpLaunch& h, const GateUpLaunch* d, cudaStream_t stream) {
  static const int wave = first_wave_blocks(gate_up_kernel<V, T>, kGateUpWarps * 32, gemv_split().sms);
  const int pf = prefetch_for_next_launch();
  return launch_kernel(gate_up_kernel<V, T>, dim3(static_cast<unsigned>(h.n_blocks)), dim3(kGateUpWarps * 32),
                       stream, d, pf, pf > 0 ? wave : 0);
}

cudaError_t launch_gate_up(const GateUpLaunch& h, const GateUpLaunch* d, cudaStream_t stream) {
  cudaError_t te = cudaSuccess;
  if (launch_gate_up_tile(h, d, stream, &te)) return te;
  const bool same = h.gate.type == h.up.type && h.gate.cols == h.up.cols;
  const int env = gate_up_env();
  const int v = env >= 0 ? env : h.gate.type == kTypeQ4_K ? kGateUpDefaultQ4K : 0;
  if (v > 0 && same && (h.gate.type == kTypeQ4_K || h.gate.type == kTypeQ5_0)) {
    const bool k4 = h.gate.type == kTypeQ4_K;
    switch (v) {
      case 1:
        return k4 ? launch_gate_up_v<1, kTypeQ4_K>(h, d, stream)
                  : launch_gate_up_v<1, kTypeQ5_0>(h, d, stream);
      case 2:
        return k4 ? launch_gate_up_v<2, kTypeQ4_K>(h, d, stream)
                  : launch_gate_up_v<2, kTypeQ5_0>(h, d, stream);
      case 3:
        return k4 ? launch_gate_up_v<3, kTypeQ4_K>(h, d, stream)
                  : launch_gate_up_v<3, kTypeQ5_0>(h, d, stream);
      default:
        return k4 ? launch_gate_up_v<4, kTypeQ4_K>(h, d, stream)
                  : launch_gate_up_v<4, kTypeQ5_0>(h, d, stream);
    }
  }
  return launch_gate_up_v<0, 0>(h, d, stream);
}

}  // namespace bb::cuda_bricks
