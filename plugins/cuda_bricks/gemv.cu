// Batch-1 GEMV for every weight type: y = W x with one warp streaming two rows at a time, 16-byte
// loads, dp4a against two-level 8-bit activations (quantized types) or fp32 FMA (F16/F32). Fused variants:
// up to three matrices in one launch (Q, K, V + bias, with RoPE and the KV-cache store done by the
// warps themselves: Q and K rows are stored in RoPE pair order), residual add + the next RMSNorm
// (last block), gate+up+SiLU with quantized output, and the LM head with a per-block argmax key for
// on-device greedy decoding.
#include <cstdio>
#include <cstdlib>

#include "common.cuh"

namespace bb::cuda_bricks {
namespace {

// Lane-strided loop over the units of rows r0 and r1 (both valid), two units in flight per lane.
// KS warps share the two rows (split K): warp slice ks takes units ks*32 + lane, then every 32*KS.
template <void (*UnitDot2)(const MatDesc&, int, int, int, const Act&, float&, float&), int KS>
__device__ __forceinline__ void lane_dot2(const MatDesc& m, int r0, int r1, int ks, const Act& x, float& a0,
                                          float& a1) {
  const int units = unit_count(m.type, m.cols);
  if (KS == 1) {
#pragma unroll 2
    for (int u = static_cast<int>(threadIdx.x & 31); u < units; u += 32) UnitDot2(m, r0, r1, u, x, a0, a1);
  } else {
#pragma unroll 1
    for (int u = static_cast<int>(threadIdx.x & 31) + 32 * ks; u < units; u += 32 * KS)
      UnitDot2(m, r0, r1, u, x, a0, a1);
  }
}

// Warp-wide: this warp's slice ks (of KS) of the dot products of rows r0, r1 (both valid), in every lane.
template <int KS = 1>
__device__ __forceinline__ void warp_dot2(const MatDesc& m, int r0, int r1, const Act& x, float& a0,
                                          float& a1, int ks = 0) {
  a0 = 0.0f;
  a1 = 0.0f;
  switch (m.type) {
    case kTypeQ4_K:
      lane_dot2<unit_dot2_q4_k, KS>(m, r0, r1, ks, x, a0, a1);
      break;
    case kTypeQ6_K:
      lane_dot2<unit_dot2_q6_k, KS>(m, r0, r1, ks, x, a0, a1);
      break;
    case kTypeQ8_0:
      lane_dot2<unit_dot2_q8_0, KS>(m, r0, r1, ks, x, a0, a1);
      break;
    case kTypeQ5_0:
      lane_dot2<unit_dot2_q5_0, KS>(m, r0, r1, ks, x, a0, a1);
      break;
    case kTypeQ4_0:
      lane_dot2<unit_dot2_q4_0, KS>(m, r0, r1, ks, x, a0, a1);
      break;
    case kTypeF16:
      lane_dot2<unit_dot2_f16, KS>(m, r0, r1, ks, x, a0, a1);
      break;
    case kTypeF32:
      lane_dot2<unit_dot2_f32, KS>(m, r0, r1, ks, x, a0, a1);
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
template <int KS>
struct GemvBounds {
  static constexpr int kThreads = kGemvWarps * KS * 32;
  static constexpr int kMinBlocks = KS == 1 ? 0 : KS == 2 ? 3 : 1;  // 0: none (as before split K)
};

template <GemvEpilogue E, int KS>
__global__ void __launch_bounds__(GemvBounds<KS>::kThreads, GemvBounds<KS>::kMinBlocks)
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
  if (r0 < m.rows) warp_dot2<KS>(m, r0, has1 ? r1 : r0, L->x, a0, a1, ks);  // warp-uniform
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

// gate+up+SiLU: block b computes outputs [32b, 32b + 32): warp w rows 32b + 4w .. + 3 of both
// matrices, then warp 0 forms h = silu(g) * u and quantizes the 32 values (one activation block).
__global__ void __launch_bounds__(kGateUpWarps * 32)
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
  if (fused) {
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
  if (fused) {
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

template <GemvEpilogue E, int KS>
cudaError_t launch_gemv_e(const GemvLaunch* d, dim3 grid, dim3 block, int prefetch, cudaStream_t stream) {
  static const int wave = first_wave_blocks(gemv_kernel<E, KS>, GemvBounds<KS>::kThreads, gemv_split().sms);
  return launch_kernel(gemv_kernel<E, KS>, grid, block, stream, d, prefetch, prefetch > 0 ? wave : 0);
}

// The L2 prefetch the first wave of the next launch gets (kernel_api.h, PdlChain): only a
// programmatic launch can start before its predecessor ends.
int prefetch_for_next_launch() { return pdl_next_launch_programmatic() ? pdl_prefetch_bytes() : 0; }

template <int KS>
cudaError_t launch_gemv_ks(const GemvLaunch* d, unsigned n_blocks, GemvEpilogue epilogue, int pf,
                           cudaStream_t stream) {
  const dim3 grid(n_blocks), block(GemvBounds<KS>::kThreads);
  switch (epilogue) {
    case GemvEpilogue::kStore:
      return launch_gemv_e<GemvEpilogue::kStore, KS>(d, grid, block, pf, stream);
    case GemvEpilogue::kResidualNorm:
      return launch_gemv_e<GemvEpilogue::kResidualNorm, KS>(d, grid, block, pf, stream);
    case GemvEpilogue::kQkvRope:
      return launch_gemv_e<GemvEpilogue::kQkvRope, KS>(d, grid, block, pf, stream);
    case GemvEpilogue::kArgmax:
      return launch_gemv_e<GemvEpilogue::kArgmax, KS>(d, grid, block, pf, stream);
  }
  return cudaErrorInvalidValue;
}
}  // namespace

// Split K where the grid is small (0.5B-3B projections, e.g. 112-320 blocks of 8 rows on 132
// SMs): at most one block per SM -> 4 warps per row pair, at most 4 -> 2, else 1 (4-warp blocks).
cudaError_t launch_gemv(const GemvLaunch& h, const GemvLaunch* d, GemvEpilogue epilogue,
                        cudaStream_t stream) {
  const GemvSplit& sp = gemv_split();
  const unsigned n = static_cast<unsigned>(h.n_blocks);
  const int pf = prefetch_for_next_launch();
  if (h.n_blocks <= sp.ks4_per_sm * sp.sms) return launch_gemv_ks<4>(d, n, epilogue, pf, stream);
  if (h.n_blocks <= sp.ks2_per_sm * sp.sms) return launch_gemv_ks<2>(d, n, epilogue, pf, stream);
  return launch_gemv_ks<1>(d, n, epilogue, pf, stream);
}

cudaError_t launch_gate_up(const GateUpLaunch& h, const GateUpLaunch* d, cudaStream_t stream) {
  static const int wave = first_wave_blocks(gate_up_kernel, kGateUpWarps * 32, gemv_split().sms);
  const int pf = prefetch_for_next_launch();
  return launch_kernel(gate_up_kernel, dim3(static_cast<unsigned>(h.n_blocks)), dim3(kGateUpWarps * 32),
                       stream, d, pf, pf > 0 ? wave : 0);
}

}  // namespace bb::cuda_bricks
