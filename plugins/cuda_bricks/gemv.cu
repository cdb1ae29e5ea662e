// Batch-1 GEMV for every weight type: y = W x with one warp streaming two rows at a time, 16-byte
// loads, dp4a against Q8_1 activations (quantized types) or fp32 FMA (F16/F32). Fused variants:
// up to three matrices in one launch (Q, K, V + bias, then RoPE and the KV-cache store in the last
// block), residual add + the next RMSNorm (last block), gate+up+SiLU with Q8_1 output, and the
// LM head with a per-block argmax key for on-device greedy decoding.
#include "common.cuh"

namespace bb::cuda_bricks {
namespace {

// Lane-strided loop over the units of rows r0 and r1 (both valid), two units in flight per lane.
template <void (*UnitDot2)(const MatDesc&, int, int, int, const Act&, float&, float&)>
__device__ __forceinline__ void lane_dot2(const MatDesc& m, int r0, int r1, const Act& x, float& a0, float& a1) {
  const int units = unit_count(m.type, m.cols);
#pragma unroll 2
  for (int u = static_cast<int>(threadIdx.x & 31); u < units; u += 32) UnitDot2(m, r0, r1, u, x, a0, a1);
}

// Warp-wide: full dot products of rows r0, r1 (both valid), in every lane.
__device__ __forceinline__ void warp_dot2(const MatDesc& m, int r0, int r1, const Act& x, float& a0, float& a1) {
  a0 = 0.0f;
  a1 = 0.0f;
  switch (m.type) {
    case kTypeQ4_K: lane_dot2<unit_dot2_q4_k>(m, r0, r1, x, a0, a1); break;
    case kTypeQ6_K: lane_dot2<unit_dot2_q6_k>(m, r0, r1, x, a0, a1); break;
    case kTypeQ8_0: lane_dot2<unit_dot2_q8_0>(m, r0, r1, x, a0, a1); break;
    case kTypeQ5_0: lane_dot2<unit_dot2_q5_0>(m, r0, r1, x, a0, a1); break;
    case kTypeQ4_0: lane_dot2<unit_dot2_q4_0>(m, r0, r1, x, a0, a1); break;
    case kTypeF16: lane_dot2<unit_dot2_f16>(m, r0, r1, x, a0, a1); break;
    case kTypeF32: lane_dot2<unit_dot2_f32>(m, r0, r1, x, a0, a1); break;
    default: break;
  }
  a0 = warp_sum(a0);
  a1 = warp_sum(a1);
}

// The last block of a QKV launch: NEOX RoPE on q (into q_rot) and k, then k and v into row pos of
// the caches. q, k, v were written by other blocks: read with ld.cg.
__device__ void qkv_rope_store(const GemvLaunch* __restrict__ L) {
  const int hd = L->head_dim, half = hd / 2, pos = *L->pos;
  const float2* cs = L->rope_cs + static_cast<size_t>(pos) * half;
  const float* q = L->seg[0].y;
  const float* k = L->seg[1].y;
  const float* v = L->seg[2].y;
  const int kw = L->n_head_kv * hd;
  for (int i = threadIdx.x; i < L->n_head * half; i += blockDim.x) {
    const int h = i / half, j = i % half;
    const float x0 = load_cg(q + h * hd + j), x1 = load_cg(q + h * hd + j + half);
    const float2 c = cs[j];
    L->q_rot[h * hd + j] = x0 * c.x - x1 * c.y;
    L->q_rot[h * hd + j + half] = x0 * c.y + x1 * c.x;
  }
  const size_t row = static_cast<size_t>(pos) * kw;
  for (int i = threadIdx.x; i < L->n_head_kv * half; i += blockDim.x) {
    const int h = i / half, j = i % half;
    const float x0 = load_cg(k + h * hd + j), x1 = load_cg(k + h * hd + j + half);
    const float2 c = cs[j];
    const float y0 = x0 * c.x - x1 * c.y, y1 = x0 * c.y + x1 * c.x;
    if (L->kv_type == kTypeF16) {
      __half* kc = static_cast<__half*>(L->k_cache) + row;
      kc[h * hd + j] = __float2half_rn(y0);
      kc[h * hd + j + half] = __float2half_rn(y1);
    } else {
      float* kc = static_cast<float*>(L->k_cache) + row;
      kc[h * hd + j] = y0;
      kc[h * hd + j + half] = y1;
    }
  }
  for (int i = threadIdx.x; i < kw; i += blockDim.x) {
    const float val = load_cg(v + i);
    if (L->kv_type == kTypeF16) {
      static_cast<__half*>(L->v_cache)[row + i] = __float2half_rn(val);
    } else {
      static_cast<float*>(L->v_cache)[row + i] = val;
    }
  }
}

template <GemvEpilogue E>
__global__ void __launch_bounds__(kGemvWarps * 32) gemv_kernel(const GemvLaunch* __restrict__ L) {
  __shared__ float s_scratch[32];
  __shared__ unsigned long long s_keys[kGemvRowsPerBlock];
  __shared__ int s_last;
  const int n_seg = L->n_seg;
  int s = 0;
  if (n_seg > 1 && static_cast<int>(blockIdx.x) >= L->seg[1].block_begin) s = 1;
  if (n_seg > 2 && static_cast<int>(blockIdx.x) >= L->seg[2].block_begin) s = 2;
  const MatDesc m = L->seg[s].m;
  const float* bias = L->seg[s].bias;
  float* y = L->seg[s].y;
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
  const int r0 = (static_cast<int>(blockIdx.x) - L->seg[s].block_begin) * kGemvRowsPerBlock + warp * kGemvRowsPerWarp;
  const int r1 = r0 + 1;
  unsigned long long key0 = 0, key1 = 0;
  if (r0 < m.rows) {  // warp-uniform
    const bool has1 = r1 < m.rows;
    float a0, a1;
    warp_dot2(m, r0, has1 ? r1 : r0, L->x, a0, a1);
    if (lane == 0) {
      if (E == GemvEpilogue::kResidualNorm) {
        y[r0] += a0;
        if (has1) y[r1] += a1;
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
    if (lane == 0) {
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
  if (E == GemvEpilogue::kStore) return;
  if (E == GemvEpilogue::kResidualNorm && L->norm_g == nullptr) return;
  // Last block: every block publishes its rows, then takes a ticket; the one that draws the last
  // ticket sees every row (threadFenceReduction pattern) and finishes the vector.
  __threadfence();
  __syncthreads();
  if (threadIdx.x == 0) s_last = atomicAdd(L->counter, 1u) == gridDim.x - 1 ? 1 : 0;
  __syncthreads();
  if (s_last == 0) return;
  __threadfence();
  if (E == GemvEpilogue::kResidualNorm) {
    block_rms_norm(L->seg[0].y, L->norm_g, L->norm_eps, L->norm_n, L->norm_out, s_scratch);
  } else {
    qkv_rope_store(L);
  }
  if (threadIdx.x == 0) *L->counter = 0u;
}

// gate+up+SiLU: block b computes outputs [32b, 32b + 32): warp w rows 32b + 4w .. + 3 of both
// matrices, then warp 0 forms h = silu(g) * u and quantizes the 32 values (one Q8_1 block).
__global__ void __launch_bounds__(kGateUpWarps * 32) gate_up_kernel(const GateUpLaunch* __restrict__ L) {
  __shared__ float s_g[kGateUpOutputs];
  __shared__ float s_u[kGateUpOutputs];
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
  const int o = static_cast<int>(blockIdx.x) * kGateUpOutputs + warp * 4;
  const MatDesc gate = L->gate;
  const MatDesc up = L->up;
  float g0, g1, g2, g3, u0, u1, u2, u3;
  warp_dot2(gate, o, o + 1, L->x, g0, g1);
  warp_dot2(gate, o + 2, o + 3, L->x, g2, g3);
  warp_dot2(up, o, o + 1, L->x, u0, u1);
  warp_dot2(up, o + 2, o + 3, L->x, u2, u3);
  if (lane == 0) {
    s_g[warp * 4 + 0] = g0;
    s_g[warp * 4 + 1] = g1;
    s_g[warp * 4 + 2] = g2;
    s_g[warp * 4 + 3] = g3;
    s_u[warp * 4 + 0] = u0;
    s_u[warp * 4 + 1] = u1;
    s_u[warp * 4 + 2] = u2;
    s_u[warp * 4 + 3] = u3;
  }
  __syncthreads();
  if (warp == 0) {
    const float z = s_g[lane];
    const float h = z / (1.0f + expf(-z)) * s_u[lane];
    const int i = static_cast<int>(blockIdx.x) * kGateUpOutputs + lane;
    if (L->h.f != nullptr) L->h.f[i] = h;
    if (L->h.q != nullptr) warp_quantize_q8(h, L->h.q + blockIdx.x * kGateUpOutputs, L->h.ds + blockIdx.x);
  }
}

}  // namespace

cudaError_t launch_gemv(const GemvLaunch& h, const GemvLaunch* d, GemvEpilogue epilogue, cudaStream_t stream) {
  const dim3 grid(static_cast<unsigned>(h.n_blocks)), block(kGemvWarps * 32);
  switch (epilogue) {
    case GemvEpilogue::kStore: gemv_kernel<GemvEpilogue::kStore><<<grid, block, 0, stream>>>(d); break;
    case GemvEpilogue::kResidualNorm: gemv_kernel<GemvEpilogue::kResidualNorm><<<grid, block, 0, stream>>>(d); break;
    case GemvEpilogue::kQkvRope: gemv_kernel<GemvEpilogue::kQkvRope><<<grid, block, 0, stream>>>(d); break;
    case GemvEpilogue::kArgmax: gemv_kernel<GemvEpilogue::kArgmax><<<grid, block, 0, stream>>>(d); break;
  }
  return cudaGetLastError();
}

cudaError_t launch_gate_up(const GateUpLaunch& h, const GateUpLaunch* d, cudaStream_t stream) {
  gate_up_kernel<<<dim3(static_cast<unsigned>(h.n_blocks)), dim3(kGateUpWarps * 32), 0, stream>>>(d);
  return cudaGetLastError();
}

}  // namespace bb::cuda_bricks
