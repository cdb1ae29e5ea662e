// Device helpers shared by the kernels: warp/block reductions, Q8_1 quantization of 32 values,
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

// Q8_1 quantization of the 32 values a warp holds (one per lane): q = round(v / d), d = amax / 127.
// Writes q[lane] and, from lane 0, ds = {d, d * sum(q)}.
__device__ __forceinline__ void warp_quantize_q8(float v, int8_t* q, float2* ds) {
  const int lane = threadIdx.x & 31;
  const float amax = warp_max(fabsf(v));
  const float d = amax / 127.0f;
  const int qi = amax > 0.0f ? static_cast<int>(roundf(v / d)) : 0;
  q[lane] = static_cast<int8_t>(qi);
  const int s = warp_sum_int(qi);
  if (lane == 0) *ds = make_float2(d, d * static_cast<float>(s));
}

// Loads that bypass L1 (data other blocks of the same launch wrote).
__device__ __forceinline__ float load_cg(const float* p) { return __ldcg(p); }

// y = x / sqrt(mean(x^2) + eps) * g over n elements (n a multiple of 32), by the whole block:
// float output and/or Q8_1 output. x may have been written by other blocks of this launch
// (read with ld.cg). `scratch`: 32 floats of shared memory.
__device__ __forceinline__ void block_rms_norm(const float* x, const float* g, float eps, int n, ActOut out,
                                               float* scratch) {
  float ss = 0.0f;
  for (int i = threadIdx.x; i < n; i += blockDim.x) {
    const float v = load_cg(x + i);
    ss += v * v;
  }
  const float total = block_sum(ss, scratch);
  const float inv = 1.0f / sqrtf(total / static_cast<float>(n) + eps);
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, n_warps = blockDim.x >> 5;
  for (int b = warp; b < n / 32; b += n_warps) {
    const int i = b * 32 + lane;
    const float y = load_cg(x + i) * inv * g[i];
    if (out.f != nullptr) out.f[i] = y;
    if (out.q != nullptr) warp_quantize_q8(y, out.q + b * 32, out.ds + b);
  }
}

// Ordered key of a float (larger value = larger key), NaN excluded by the caller; with the row in
// the low half inverted so that equal values prefer the lower row.
__device__ __forceinline__ unsigned long long argmax_key(float v, int row) {
  const uint32_t bits = __float_as_uint(v);
  const uint32_t ordered = (bits & 0x80000000u) ? ~bits : (bits | 0x80000000u);
  return (static_cast<unsigned long long>(ordered) << 32) | static_cast<unsigned long long>(0xFFFFFFFFu - static_cast<uint32_t>(row));
}

}  // namespace bb::cuda_bricks
