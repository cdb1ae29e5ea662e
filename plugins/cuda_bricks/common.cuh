// Device helpers shared by the kernels: warp/block reductions, two-level 8-bit quantization of 32 values,
// loads, and the RMS norm one block applies to a whole vector.
#pragma once

#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <cstdint>

#include "kernel_api.h"
#include "quant_math.h"

namespace bb::cuda_bricks {

__device__ __forceinline__ float warp_sum(float v) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xFFFFFFFFu, v, o);
  return v;
}

__device__ __forceinline__ int warp_sum_int(int v) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xFFFFFFFFu, v, o);
  return v;
}

__device__ __forceinline__ float warp_max(float v) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xFFFFFFFFu, v, o));
  return v;
}

// Sum over the block (blockDim.x a multiple of 32, <= 1024); every thread gets the result.
// `scratch` holds 32 floats; the call synchronizes the block twice.
__device__ __forceinline__ float block_sum(float v, float* scratch) {
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, n_warps = blockDim.x >> 5;
  v = warp_sum(v);
  __syncthreads();  // scratch may still be read by a previous call
  if (lane == 0) scratch[warp] = v;
  __syncthreads();
  float t = lane < n_warps ? scratch[lane] : 0.0f;
  return warp_sum(t);
}

// Two-level 8-bit quantization (quant_math.h) of the 32 values a warp holds (one per lane, element
// 32 * block + lane of the vector): writes hi and lo bytes at their places in q (2n bytes) and,
// from lane 0, ds[block] = {s, s * sum(254 hi + lo)} with s = amax / 127 / 254.
__device__ __forceinline__ void warp_quantize_q8(float v, int8_t* q, float2* ds, int block) {
  const int lane = threadIdx.x & 31;
  const float amax = warp_max(fabsf(v));
  int hi, lo;
  act_levels(v, amax, &hi, &lo);
  int8_t* p = q + 64 * block + 32 * (lane >> 4) + (lane & 15);
  p[0] = static_cast<int8_t>(hi);
  p[16] = static_cast<int8_t>(lo);
  const int s = warp_sum_int(hi * kActLo + lo);
  if (lane == 0) {
    const float sd = amax / 127.0f / static_cast<float>(kActLo);
    ds[block] = make_float2(sd, sd * static_cast<float>(s));
  }
}

// The same for a 32-element block held as float4 by 8 consecutive lanes (lane & 7 = quarter index):
// block `block` of the vector. Every lane of the warp must call it (shuffles); lanes with
// valid == false take part in nothing but the shuffles of their own (all-invalid) group.
__device__ __forceinline__ void group8_quantize(float4 v, bool valid, int8_t* q, float2* ds, int block) {
  const int lane = threadIdx.x & 31;
  float amax = fmaxf(fmaxf(fabsf(v.x), fabsf(v.y)), fmaxf(fabsf(v.z), fabsf(v.w)));
  amax = fmaxf(amax, __shfl_xor_sync(0xFFFFFFFFu, amax, 1));
  amax = fmaxf(amax, __shfl_xor_sync(0xFFFFFFFFu, amax, 2));
  amax = fmaxf(amax, __shfl_xor_sync(0xFFFFFFFFu, amax, 4));
  int h0, l0, h1, l1, h2, l2, h3, l3;
  act_levels(v.x, amax, &h0, &l0);
  act_levels(v.y, amax, &h1, &l1);
  act_levels(v.z, amax, &h2, &l2);
  act_levels(v.w, amax, &h3, &l3);
  int s = (h0 + h1 + h2 + h3) * kActLo + (l0 + l1 + l2 + l3);
  s += __shfl_xor_sync(0xFFFFFFFFu, s, 1);
  s += __shfl_xor_sync(0xFFFFFFFFu, s, 2);
  s += __shfl_xor_sync(0xFFFFFFFFu, s, 4);
  if (!valid) return;
  const uint32_t hw = (static_cast<uint32_t>(h0) & 0xFFu) | ((static_cast<uint32_t>(h1) & 0xFFu) << 8) |
                      ((static_cast<uint32_t>(h2) & 0xFFu) << 16) |
                      ((static_cast<uint32_t>(h3) & 0xFFu) << 24);
  const uint32_t lw = (static_cast<uint32_t>(l0) & 0xFFu) | ((static_cast<uint32_t>(l1) & 0xFFu) << 8) |
                      ((static_cast<uint32_t>(l2) & 0xFFu) << 16) |
                      ((static_cast<uint32_t>(l3) & 0xFFu) << 24);
  const int quarter = lane & 7;  // elements 4 quarter .. + 3 of the block
  uint32_t* p = reinterpret_cast<uint32_t*>(q + 64 * block + 32 * (quarter >> 2) + 4 * (quarter & 3));
  p[0] = hw;
  p[4] = lw;  // + 16 bytes
  if (quarter == 0) {
    const float sd = amax / 127.0f / static_cast<float>(kActLo);
    ds[block] = make_float2(sd, sd * static_cast<float>(s));
  }
}

// Loads that bypass L1 (data other blocks of the same launch wrote).
__device__ __forceinline__ float load_cg(const float* p) { return __ldcg(p); }

// y = x / sqrt(mean(x^2) + eps) * g over n elements (n a multiple of 32), by the whole block:
// float output and/or two-level 8-bit output. x may have been written by other blocks of this
// launch (read with ld.cg). `scratch`: 32 floats of shared memory. Loads go out in batches of
// kNormBatch float4 per thread before any use, so a block of 128 threads needs about two memory
// round trips per 2048 elements (g is cold in DRAM inside a decode).
inline constexpr int kNormBatch = 4;
__device__ __forceinline__ void block_rms_norm(const float* x, const float* g, float eps, int n, ActOut out,
                                               float* scratch) {
  const int n4 = n / 4;
  const float4* x4 = reinterpret_cast<const float4*>(x);
  const float4* g4 = reinterpret_cast<const float4*>(g);
  const int nt = static_cast<int>(blockDim.x);
  float ss = 0.0f;
  for (int base = 0; base < n4; base += kNormBatch * nt) {
    float4 v[kNormBatch];
#pragma unroll
    for (int k = 0; k < kNormBatch; ++k) {
      const int i = base + k * nt + static_cast<int>(threadIdx.x);
      v[k] = i < n4 ? __ldcg(x4 + i) : make_float4(0.0f, 0.0f, 0.0f, 0.0f);
    }
#pragma unroll
    for (int k = 0; k < kNormBatch; ++k)
      ss += v[k].x * v[k].x + v[k].y * v[k].y + v[k].z * v[k].z + v[k].w * v[k].w;
  }
  const float total = block_sum(ss, scratch);
  const float inv = 1.0f / sqrtf(total / static_cast<float>(n) + eps);
  // Whole warps walk the float4s together (the quantization shuffles within groups of 8 lanes).
  const int n4w = (n4 + 31) & ~31;
  for (int base = 0; base < n4w; base += kNormBatch * nt) {
    float4 v[kNormBatch], w[kNormBatch];
#pragma unroll
    for (int k = 0; k < kNormBatch; ++k) {
      const int i = base + k * nt + static_cast<int>(threadIdx.x);
      v[k] = i < n4 ? __ldcg(x4 + i) : make_float4(0.0f, 0.0f, 0.0f, 0.0f);
      w[k] = i < n4 ? __ldg(g4 + i) : make_float4(0.0f, 0.0f, 0.0f, 0.0f);
    }
#pragma unroll
    for (int k = 0; k < kNormBatch; ++k) {
      const int i = base + k * nt + static_cast<int>(threadIdx.x);
      if (base + k * nt >= n4w) break;  // block-uniform
      const bool valid = i < n4;
      const float4 y = make_float4(v[k].x * inv * w[k].x, v[k].y * inv * w[k].y, v[k].z * inv * w[k].z,
                                   v[k].w * inv * w[k].w);
      if (valid && out.f != nullptr) reinterpret_cast<float4*>(out.f)[i] = y;
      if (out.q != nullptr) group8_quantize(y, valid, out.q, out.ds, i >> 3);
    }
  }
}

// PDL (kernel_api.h, PdlChain): wait for the previous kernel of the chain (a no-op when this
// launch has no programmatic edge), then let the next kernel's blocks be scheduled.
__device__ __forceinline__ void pdl_wait_then_release() {
  asm volatile("griddepcontrol.wait;" ::: "memory");
  asm volatile("griddepcontrol.launch_dependents;" ::: "memory");
}

// The whole block asks L2 for the first bytes of rows [r0, r1) of m, about `budget` bytes in all
// (the same fraction of every row of every plane: the GEMV loops read all its rows from column 0
// up). A hint: prefetch.global.L2 never faults and never fills L1, so it is safe on any bytes.
__device__ __forceinline__ void prefetch_rows_l2(const MatDesc& m, int r0, int r1, int budget) {
  if (budget <= 0) return;
  r1 = min(r1, static_cast<int>(m.rows));
  if (r1 <= r0) return;
  int64_t rb[4];
  plane_row_bytes(m.type, m.cols, rb);
  const int64_t per_row = rb[0] + rb[1] + rb[2] + rb[3];
  if (per_row <= 0) return;
  const float f = fminf(1.0f, static_cast<float>(budget) / static_cast<float>(per_row * (r1 - r0)));
  const uint8_t* base[4] = {m.q, m.aux, m.sc, reinterpret_cast<const uint8_t*>(m.d)};
#pragma unroll
  for (int p = 0; p < 4; ++p) {
    if (base[p] == nullptr || rb[p] == 0) continue;
    const int lines = static_cast<int>((static_cast<int64_t>(f * static_cast<float>(rb[p])) + 127) / 128);
    const int n = lines * (r1 - r0);
    for (int i = static_cast<int>(threadIdx.x); i < n; i += static_cast<int>(blockDim.x)) {
      const int r = i / lines, l = i - r * lines;
      const uint8_t* a = base[p] + static_cast<int64_t>(r0 + r) * rb[p] + static_cast<int64_t>(l) * 128;
      asm volatile("prefetch.global.L2 [%0];" ::"l"(a));
    }
  }
}

// A kernel launch that carries the PDL attribute when the thread's PdlChain says so.
template <typename... P, typename... A>
cudaError_t launch_kernel(void (*kernel)(P...), dim3 grid, dim3 block, cudaStream_t stream, A... args) {
  cudaLaunchAttribute attr[1];
  attr[0].id = cudaLaunchAttributeProgrammaticStreamSerialization;
  attr[0].val.programmaticStreamSerializationAllowed = 1;
  cudaLaunchConfig_t cfg = {};
  cfg.gridDim = grid;
  cfg.blockDim = block;
  cfg.dynamicSmemBytes = 0;
  cfg.stream = stream;
  cfg.attrs = attr;
  cfg.numAttrs = pdl_take_launch() ? 1 : 0;
  return cudaLaunchKernelEx(&cfg, kernel, static_cast<P>(args)...);
}

// Ordered key of a float (larger value = larger key), NaN excluded by the caller; with the row in
// the low half inverted so that equal values prefer the lower row.
__device__ __forceinline__ unsigned long long argmax_key(float v, int row) {
  const uint32_t bits = __float_as_uint(v);
  const uint32_t ordered = (bits & 0x80000000u) ? ~bits : (bits | 0x80000000u);
  return (static_cast<unsigned long long>(ordered) << 32) |
         static_cast<unsigned long long>(0xFFFFFFFFu - static_cast<uint32_t>(row));
}

}  // namespace bb::cuda_bricks
