// Honest bandwidth ceilings of the GPU, apart from the plugin (issue 16): what a read-only streaming
// kernel and a copy kernel reach, in several shapes, against cudaMemcpy device-to-device on the same
// buffers, in one process. Built by scripts/h200-build.sh (nvcc, sm_90a), run by scripts/h200-run.sh.
//
//   cuda_bricks_bandwidth_probe [GiB per buffer, default 2] [reps, default 20]
//
// Buffers are filled with non-zero pseudo-random words first (never time zeros) and are many times
// the 60 MB L2, so every pass streams DRAM. Each variant: 3 warm-up passes, then `reps` passes timed
// one by one with events; the median pass is reported. Read: bytes read / time. Copy: bytes read +
// bytes written / time (the harness's COPY convention). One line per variant, "probe NAME GB/s", then
// the best of each kind.
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#define CK(x)                                                                                  \
  do {                                                                                         \
    cudaError_t e_ = (x);                                                                      \
    if (e_ != cudaSuccess) {                                                                   \
      std::fprintf(stderr, "%s:%d: %s: %s\n", __FILE__, __LINE__, #x, cudaGetErrorString(e_)); \
      std::exit(2);                                                                            \
    }                                                                                          \
  } while (0)

namespace {

enum Hint { kNc = 0, kCs = 1, kNoAlloc = 2 };

template <int H>
__device__ __forceinline__ uint4 load16(const uint4* p) {
  if constexpr (H == kNc) {
    return __ldg(p);
  } else if constexpr (H == kCs) {
    return __ldcs(p);
  } else {
    uint4 v;
    asm volatile("ld.global.nc.L1::no_allocate.L2::256B.v4.u32 {%0,%1,%2,%3}, [%4];"
                 : "=r"(v.x), "=r"(v.y), "=r"(v.z), "=r"(v.w)
                 : "l"(p));
    return v;
  }
}

__global__ void fill_kernel(uint4* p, size_t n16, uint32_t seed) {
  for (size_t i = blockIdx.x * static_cast<size_t>(blockDim.x) + threadIdx.x; i < n16;
       i += static_cast<size_t>(gridDim.x) * blockDim.x) {
    uint32_t x = static_cast<uint32_t>(i) * 2654435761u + seed;
    x ^= x >> 13;
    x *= 0x5bd1e995u;
    p[i] = make_uint4(x | 1u, x * 3u + 7u, x ^ 0xA5A5A5A5u, ~x);
  }
}

// Grid-stride read, U loads of 16 bytes in flight per thread; an XOR of everything read goes to
// sink[block] (so no load is dead).
template <int U, int H>
__global__ void read_kernel(const uint4* __restrict__ src, size_t n16, uint32_t* sink) {
  const size_t stride = static_cast<size_t>(gridDim.x) * blockDim.x;
  size_t i = static_cast<size_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  uint32_t acc = 0;
  for (; i + (U - 1) * stride < n16; i += U * stride) {
    uint4 v[U];
#pragma unroll
    for (int k = 0; k < U; ++k) v[k] = load16<H>(src + i + k * stride);
#pragma unroll
    for (int k = 0; k < U; ++k) acc ^= v[k].x ^ v[k].y ^ v[k].z ^ v[k].w;
  }
  for (; i < n16; i += stride) {
    const uint4 v = load16<H>(src + i);
    acc ^= v.x ^ v.y ^ v.z ^ v.w;
  }
  if (acc == 0x12345678u) sink[blockIdx.x] = acc;  // practically never: keeps the loads alive
}

// Each block reads one contiguous chunk (rows of a GEMV are read this way): U loads in flight.
template <int U, int H>
__global__ void read_chunk_kernel(const uint4* __restrict__ src, size_t n16, uint32_t* sink) {
  const size_t chunk = (n16 + gridDim.x - 1) / gridDim.x;
  const size_t b0 = blockIdx.x * chunk, b1 = min(n16, b0 + chunk);
  uint32_t acc = 0;
  size_t i = b0 + threadIdx.x;
  for (; i + (U - 1) * blockDim.x < b1; i += U * blockDim.x) {
    uint4 v[U];
#pragma unroll
    for (int k = 0; k < U; ++k) v[k] = load16<H>(src + i + k * blockDim.x);
#pragma unroll
    for (int k = 0; k < U; ++k) acc ^= v[k].x ^ v[k].y ^ v[k].z ^ v[k].w;
  }
  for (; i < b1; i += blockDim.x) {
    const uint4 v = load16<H>(src + i);
    acc ^= v.x ^ v.y ^ v.z ^ v.w;
  }
  if (acc == 0x12345678u) sink[blockIdx.x] = acc;
}

template <int U, int H, bool StreamStore>
__global__ void copy_kernel(const uint4* __restrict__ src, uint4* __restrict__ dst, size_t n16) {
  const size_t stride = static_cast<size_t>(gridDim.x) * blockDim.x;
  size_t i = static_cast<size_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  for (; i + (U - 1) * stride < n16; i += U * stride) {
    uint4 v[U];
#pragma unroll
    for (int k = 0; k < U; ++k) v[k] = load16<H>(src + i + k * stride);
#pragma unroll
    for (int k = 0; k < U; ++k) {
      if constexpr (StreamStore) {
        __stcs(dst + i + k * stride, v[k]);
      } else {
        dst[i + k * stride] = v[k];
      }
    }
  }
  for (; i < n16; i += stride) dst[i] = load16<H>(src + i);
}

struct Result {
  std::string name;
  double gbps;
};

template <typename F>
double time_median_ms(int reps, F&& f) {
  cudaEvent_t a, b;
  CK(cudaEventCreate(&a));
  CK(cudaEventCreate(&b));
  for (int i = 0; i < 3; ++i) f();
  CK(cudaGetLastError());
  CK(cudaDeviceSynchronize());
  std::vector<float> ms;
  for (int r = 0; r < reps; ++r) {
    CK(cudaEventRecord(a));
    f();
    CK(cudaEventRecord(b));
    CK(cudaEventSynchronize(b));
    CK(cudaGetLastError());
    float t = 0;
    CK(cudaEventElapsedTime(&t, a, b));
    ms.push_back(t);
  }
  CK(cudaEventDestroy(a));
  CK(cudaEventDestroy(b));
  std::sort(ms.begin(), ms.end());
  return ms[ms.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  const double gib = argc > 1 ? std::atof(argv[1]) : 2.0;
  const int reps = argc > 2 ? std::atoi(argv[2]) : 20;
  const size_t bytes = static_cast<size_t>(gib * (1ull << 30)) & ~size_t{4095};
  const size_t n16 = bytes / 16;
  int dev = 0, sms = 0;
  CK(cudaGetDevice(&dev));
  CK(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, dev));
  cudaDeviceProp prop{};
  CK(cudaGetDeviceProperties(&prop, dev));
  std::printf("device %s, %d SMs, L2 %d MB; buffers %.2f GiB each, %d timed passes, median\n", prop.name, sms,
              prop.l2CacheSize >> 20, gib, reps);
  uint4 *src = nullptr, *dst = nullptr;
  uint32_t* sink = nullptr;
  CK(cudaMalloc(&src, bytes));
  CK(cudaMalloc(&dst, bytes));
  CK(cudaMalloc(&sink, 1 << 20));
  fill_kernel<<<sms * 8, 256>>>(src, n16, 1u);
  fill_kernel<<<sms * 8, 256>>>(dst, n16, 2u);
  CK(cudaGetLastError());
  CK(cudaDeviceSynchronize());

  std::vector<Result> reads, copies;
  auto rd = [&](const char* name, auto kernel, int blocks_per_sm, int threads) {
    const int blocks = sms * blocks_per_sm;
    const double ms = time_median_ms(reps, [&] { kernel<<<blocks, threads>>>(src, n16, sink); });
    char buf[128];
    std::snprintf(buf, sizeof buf, "read %s %dx%d", name, blocks_per_sm, threads);
    reads.push_back({buf, bytes / ms / 1e6});
    std::printf("probe %-40s %8.1f GB/s\n", buf, bytes / ms / 1e6);
  };
  auto cp = [&](const char* name, auto kernel, int blocks_per_sm, int threads) {
    const int blocks = sms * blocks_per_sm;
    const double ms = time_median_ms(reps, [&] { kernel<<<blocks, threads>>>(src, dst, n16); });
    char buf[128];
    std::snprintf(buf, sizeof buf, "copy %s %dx%d", name, blocks_per_sm, threads);
    copies.push_back({buf, 2.0 * bytes / ms / 1e6});
    std::printf("probe %-40s %8.1f GB/s\n", buf, 2.0 * bytes / ms / 1e6);
  };
  for (int bps : {4, 8, 16, 32}) {
    rd("nc-u4", read_kernel<4, kNc>, bps, 256);
    rd("nc-u8", read_kernel<8, kNc>, bps, 256);
    rd("noalloc-u8", read_kernel<8, kNoAlloc>, bps, 256);
    rd("cs-u8", read_kernel<8, kCs>, bps, 256);
  }
  for (int bps : {2, 4, 8}) {
    rd("nc-u8", read_kernel<8, kNc>, bps, 512);
    rd("nc-u16", read_kernel<16, kNc>, bps, 512);
  }
  for (int bps : {4, 8, 16}) {
    rd("chunk-nc-u8", read_chunk_kernel<8, kNc>, bps, 256);
    rd("chunk-noalloc-u8", read_chunk_kernel<8, kNoAlloc>, bps, 256);
  }
  for (int bps : {4, 8, 16, 32}) {
    cp("nc-u4-st", copy_kernel<4, kNc, false>, bps, 256);
    cp("nc-u8-st", copy_kernel<8, kNc, false>, bps, 256);
    cp("cs-u4-stcs", copy_kernel<4, kCs, true>, bps, 256);  // the plugin's copy before issue 16
    cp("cs-u8-stcs", copy_kernel<8, kCs, true>, bps, 256);
    cp("noalloc-u8-st", copy_kernel<8, kNoAlloc, false>, bps, 256);
  }
  {
    const double ms =
        time_median_ms(reps, [&] { CK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToDevice)); });
    copies.push_back({"cudaMemcpy D2D", 2.0 * bytes / ms / 1e6});
    std::printf("probe %-40s %8.1f GB/s\n", "cudaMemcpy D2D", 2.0 * bytes / ms / 1e6);
  }
  auto best = [](const std::vector<Result>& v) {
    return *std::max_element(v.begin(), v.end(),
                             [](const Result& a, const Result& b) { return a.gbps < b.gbps; });
  };
  const Result br = best(reads), bc = best(copies);
  std::printf("best read: %s %.1f GB/s\nbest copy: %s %.1f GB/s\n", br.name.c_str(), br.gbps, bc.name.c_str(),
              bc.gbps);
  CK(cudaFree(src));
  CK(cudaFree(dst));
  CK(cudaFree(sink));
  return 0;
}
