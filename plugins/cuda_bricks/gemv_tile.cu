// Issue 16: the bandwidth-bound GEMVs of a decode token (gate+up, FFN down, the LM head; Q4_K and
// Q6_K), with the weights streamed through shared memory by cp.async instead of registers.
//
// Work: a group is 4 rows (gate+up: rows o, o + 1 of gate and of up, outputs o = 2g, 2g + 1); a
// tile is a group's slice of at most 8 super-blocks, nc = ceil(nb / 8) tiles a row, so 32 lanes =
// 8 super-blocks x 4 lane units (Q4_K: the 32 qs bytes of sub-blocks 2j, 2j + 1, q4k_pair; Q6_K:
// unit t, q6k_unit). A warp copies its tiles (the rows' bytes as they lie, 16 bytes a lane and
// instruction) into a ring of S stages of its own in shared memory, S - 1 tiles ahead of the one it
// computes, so the bytes in flight are not bounded by registers; the first S - 1 go out before the
// wait for the previous kernel (weights are never written). The activations come from L1 (the
// weights bypass it: cp.async.cg). No block-wide barrier until the epilogue: each warp syncs only
// itself (cp.async.wait_group + __syncwarp before it reads its stage, __syncwarp before it refills).
//
// Warps: as many as are resident (the occupancy API), each a contiguous range of tiles: whole
// groups (split 0), or (split 1, where GemvLaunch::part / qcnt are given) an equal share of all
// tiles, a group cut between warps summed by its last warp (ticket per group, partials in warp
// order: deterministic). Epilogues: store (+ bias), residual add with the last block's RMSNorm,
// gate+up's SiLU product (a ticket per 32 outputs: the last of their 16 groups quantizes them).
// CUDA_BRICKS_TILE=MASK turns it on (1 = residual, 2 = gate+up, 4 = store); CUDA_BRICKS_TILE_S
// (stages, 2-3; 4 lost on the H200), _W (warps a block), _MIN_KB (matrices of at least that size),
// _SPLIT=0 (whole groups only), _ORDER=1 (interleaved walks), _L2PF=1 (L2::256B hint) are for A/B runs.
// Measured on the H200 (results/h200/2026-12-03-r2), decode@512 against the default kernels: 7B
// 328.2 -> 259.7 tok/s (S 3, W 8), 274.5 (S 2), 235.8 (S 4), 243.2 (W 4), 237.6 (ORDER=1), 235.1
// (ORDER=1, L2PF); 32B 102.0 -> 72.8; hence off (kGemvTileDefault). The warps are issue-bound
// (Nsight: 0.3-0.4 instructions a cycle a scheduler, 3.5 warps a scheduler: registers and the
// ring's shared memory both cap occupancy at 25%), not short of bytes in flight.
#include <algorithm>
#include <cstdio>
#include <cstdlib>

#include "common.cuh"
#include "gemv_tile.h"

namespace bb::cuda_bricks {
namespace {

constexpr int kTR = 4;   // rows of a group
constexpr int kTSb = 8;  // super-blocks of a tile, at most
constexpr int kTMaxThreads = 512;

template <int T>
struct TileGeo;
template <>
struct TileGeo<kTypeQ4_K> {  // a row's slice: native 144-byte blocks
  static constexpr int kRowBytes = kTSb * 144;
};
template <>
struct TileGeo<kTypeQ6_K> {  // a row's slice of each plane; d from its 16-byte line (offset dmis)
  static constexpr int kAux = kTSb * 128, kSc = kAux + kTSb * 64, kD = kSc + kTSb * 16;
  static constexpr int kRowBytes = kD + 32;
};
template <int T>
constexpr int tile_stage_bytes() {
  return kTR * TileGeo<T>::kRowBytes;
}

struct TileArgs {
  int64_t n_tiles;   // n_groups * nc
  int32_t n_groups;  // groups of 4 rows
  int32_t nb;        // super-blocks a row
  int32_t nc;        // tiles a row
  int32_t n_warps;   // warps that take tiles (the first n_warps of the grid)
  int32_t split;     // 1: equal tile ranges, groups cut between warps; 0: whole groups a warp
  int32_t order;     // 0: contiguous ranges a warp; 1: interleaved (TileCursor modes 1, 2)
};

// PF 1: with the L2::256B prefetch hint (L2 fetches the whole 256-byte block around the chunk).
template <int PF>
__device__ __forceinline__ void cp_async16(uint8_t* dst, const uint8_t* src) {
  const unsigned s = static_cast<unsigned>(__cvta_generic_to_shared(dst));
  if constexpr (PF != 0) {
    asm volatile("cp.async.cg.shared.global.L2::256B [%0], [%1], 16;" ::"r"(s), "l"(src) : "memory");
  } else {
    asm volatile("cp.async.cg.shared.global [%0], [%1], 16;" ::"r"(s), "l"(src) : "memory");
  }
}
__device__ __forceinline__ void cp_async_commit() { asm volatile("cp.async.commit_group;" ::: "memory"); }
template <int N>
__device__ __forceinline__ void cp_async_wait() {
  asm volatile("cp.async.wait_group %0;" ::"n"(N) : "memory");
}

// Row r (0..3) of group g. KIND 0: rows 4g + r of one matrix; 1 (gate+up): gate 2g, 2g + 1, up 2g, 2g + 1.
template <int KIND>
__device__ __forceinline__ int group_row(int g, int r) {
  return KIND == 0 ? 4 * g + r : 2 * g + (r & 1);
}

// The warp that owns tile t under split 1 (the last w with w * n_tiles / n_warps <= t).
__host__ __device__ __forceinline__ int tile_owner(int64_t t, int64_t n_tiles, int n_warps) {
  return static_cast<int>(((t + 1) * n_warps - 1) / n_tiles);
}

// A warp's walk over its tiles (group g, chunk c: super-blocks sb0 .. sb1; t = g * nc + c). mode 0:
// tiles t, t + 1, ... (a contiguous range); 1: groups w, w + N, ..., each group's tiles in order; 2:
// tiles w, w + N, ... (N = the warps that take tiles). Modes 1 and 2 keep the warps of the grid on
// neighbouring rows at any moment, as a grid of blocks in row order is.
struct TileCursor {
  int t, g, c, sb0, sb1;
  __device__ __forceinline__ void at(int tt, int nb, int nc) {
    t = tt;
    g = tt / nc;
    c = tt - g * nc;
    sb0 = c * nb / nc;
    sb1 = (c + 1) * nb / nc;
  }
  __device__ __forceinline__ void next(int mode, int n_warps, int nb, int nc) {
    if (mode == 2) {
      at(t + n_warps, nb, nc);
      return;
    }
    if (++c == nc) {
      c = 0;
      g += mode == 1 ? n_warps : 1;
      sb0 = 0;
    } else {
      sb0 = sb1;
    }
    t = g * nc + c;
    sb1 = (c + 1) * nb / nc;
  }
};

// The lane's copies of tile (g, super-blocks sb0 .. sb0 + kt) into stage st.
template <int T, int KIND, int PF>
__device__ __forceinline__ void tile_issue(const MatDesc& m0, const MatDesc& m1, int nb, int g, int sb0,
                                           int kt, uint8_t* st, int lane) {
#pragma unroll
  for (int r = 0; r < kTR; ++r) {
    const MatDesc& m = (KIND == 0 || r < 2) ? m0 : m1;
    const int64_t blk = static_cast<int64_t>(group_row<KIND>(g, r)) * nb + sb0;
    uint8_t* dst = st + r * TileGeo<T>::kRowBytes;
    if constexpr (T == kTypeQ4_K) {
      const uint8_t* src = m.q + blk * 144;
      const int n = kt * 9;
      for (int i = lane; i < n; i += 32) cp_async16<PF>(dst + 16 * i, src + 16 * i);
    } else {
      // q: kt * 8 chunks (two lane steps at most), aux: kt * 4 (one), then sc (kt) and d's lines
      // (nd <= 2) together in one more.
      const uint8_t* q = m.q + blk * 128;
      for (int i = lane; i < kt * 8; i += 32) cp_async16<PF>(dst + 16 * i, q + 16 * i);
      if (lane < kt * 4) cp_async16<PF>(dst + TileGeo<T>::kAux + 16 * lane, m.aux + blk * 64 + 16 * lane);
      const int64_t db = 2 * blk;
      const int nd = (static_cast<int>(db & 15) + 2 * kt + 15) >> 4;
      if (lane < kt) {
        cp_async16<PF>(dst + TileGeo<T>::kSc + 16 * lane, m.sc + blk * 16 + 16 * lane);
      } else if (lane < kt + nd) {
        const int k = lane - kt;
        cp_async16<PF>(dst + TileGeo<T>::kD + 16 * k,
                       reinterpret_cast<const uint8_t*>(m.d) + (db & ~int64_t{15}) + 16 * k);
      }
    }
  }
}

// The activations of a lane's unit: Q4_K pair (sb, j) or Q6_K unit (sb, t).
struct TileAct {
  ActPiece x[4];
  float2 ds[4];
};

template <int T>
__device__ __forceinline__ void tile_act(const Act& x, int sb, int u, TileAct& a) {
  if constexpr (T == kTypeQ4_K) {
    const int e = sb * 256 + 64 * u;  // x[0], x[1]: low nibbles of qa, qb; x[2], x[3]: high
#pragma unroll
    for (int k = 0; k < 4; ++k) a.x[k] = ld_act(x.q, e + 16 * k);
    a.ds[0] = ld_f2(x.ds + sb * 8 + 2 * u);
    a.ds[1] = ld_f2(x.ds + sb * 8 + 2 * u + 1);
  } else {
    const int e = sb * 256 + (u >> 1) * 128 + (u & 1) * 16, q0 = sb * 8 + (u >> 1) * 4;
#pragma unroll
    for (int k = 0; k < 4; ++k) {
      a.x[k] = ld_act(x.q, e + 32 * k);
      a.ds[k] = ld_f2(x.ds + q0 + k);
    }
  }
}

// The lane's unit of the tile's 4 rows from stage st (lane unit u of super-block sbl of the tile).
template <int T, int KIND>
__device__ __forceinline__ void tile_dot(const uint8_t* st, int nb, int g, int sb0, int sbl, int u,
                                         const TileAct& x, float (&a)[kTR]) {
#pragma unroll
  for (int r = 0; r < kTR; ++r) {
    const uint8_t* p = st + r * TileGeo<T>::kRowBytes;
    if constexpr (T == kTypeQ4_K) {
      const uint8_t* b = p + sbl * 144;
      const uint4 head = *reinterpret_cast<const uint4*>(b);
      const uint4 qa = *reinterpret_cast<const uint4*>(b + 16 + 32 * u);
      const uint4 qb = *reinterpret_cast<const uint4*>(b + 32 + 32 * u);
      a[r] += q4k_pair(head, qa, qb, u, x.x[0], x.x[1], x.x[2], x.x[3], x.ds[0], x.ds[1]);
    } else {
      const int64_t blk = static_cast<int64_t>(group_row<KIND>(g, r)) * nb + sb0;
      const int dmis = static_cast<int>((2 * blk) & 15);
      const uint4 qa = *reinterpret_cast<const uint4*>(p + sbl * 128 + u * 32);
      const uint4 qb = *reinterpret_cast<const uint4*>(p + sbl * 128 + u * 32 + 16);
      const uint4 qh = *reinterpret_cast<const uint4*>(p + TileGeo<T>::kAux + sbl * 64 + u * 16);
      const uint32_t sc = *reinterpret_cast<const uint32_t*>(p + TileGeo<T>::kSc + sbl * 16 + u * 4);
      const uint16_t d = *reinterpret_cast<const uint16_t*>(p + TileGeo<T>::kD + dmis + 2 * sbl);
      const float dx[4] = {x.ds[0].x, x.ds[1].x, x.ds[2].x, x.ds[3].x};
      a[r] += q6k_unit(qa, qb, qh, sc, d, x.x, dx);
    }
  }
}

// KIND 0: one matrix (L), epilogue E (kStore or kResidualNorm); KIND 1: gate+up (G), SiLU product.
template <int T, int S, int KIND, GemvEpilogue E, int PF>
__global__ void __launch_bounds__(kTMaxThreads)
    gemv_tile_kernel(const GemvLaunch* __restrict__ L, const GateUpLaunch* __restrict__ G, TileArgs A) {
  extern __shared__ __align__(16) uint8_t tile_smem[];
  __shared__ float s_scratch[32];
  __shared__ int s_last;
  constexpr int kStage = tile_stage_bytes<T>();
  const int lane = static_cast<int>(threadIdx.x & 31), wib = static_cast<int>(threadIdx.x >> 5);
  const int w = static_cast<int>(blockIdx.x) * static_cast<int>(blockDim.x >> 5) + wib;
  uint8_t* ring = tile_smem + static_cast<size_t>(wib) * S * kStage;
  const MatDesc m0 = KIND == 0 ? L->seg[0].m : G->gate;
  const MatDesc m1 = KIND == 0 ? m0 : G->up;
  const int nb = A.nb, nc = A.nc;
  const int mode = A.order == 0 ? 0 : A.split ? 2 : 1;
  const int N = A.n_warps;
  int t0 = 0, t1 = 0, n_my = 0;  // t0, t1: mode 0's range
  if (w < N) {
    if (mode == 0) {
      if (A.split) {
        t0 = static_cast<int>(static_cast<int64_t>(w) * A.n_tiles / N);
        t1 = static_cast<int>(static_cast<int64_t>(w + 1) * A.n_tiles / N);
      } else {
        t0 = static_cast<int>(static_cast<int64_t>(w) * A.n_groups / N) * nc;
        t1 = static_cast<int>(static_cast<int64_t>(w + 1) * A.n_groups / N) * nc;
      }
      n_my = t1 - t0;
    } else if (mode == 1) {
      t0 = w * nc;
      n_my = (A.n_groups - w + N - 1) / N * nc;
    } else {
      t0 = w;
      n_my = static_cast<int>((A.n_tiles - w + N - 1) / N);
    }
  }
  // Two cursors over the warp's tiles: the next one to issue, the one to compute.
  TileCursor in, cur;
  in.at(t0, nb, nc);
  cur = in;
  // The first S - 1 tiles before the wait: weights only.
  int issued = 0;
#pragma unroll
  for (int s = 0; s < S - 1; ++s) {
    if (issued < n_my) {
      tile_issue<T, KIND, PF>(m0, m1, nb, in.g, in.sb0, in.sb1 - in.sb0, ring + s * kStage, lane);
      in.next(mode, N, nb, nc);
      ++issued;
    }
    cp_async_commit();
  }
  pdl_wait_then_release();
  const Act x = KIND == 0 ? L->x : G->x;
  const int sbl = lane >> 2, u = lane & 3;
  float a[kTR] = {0.0f, 0.0f, 0.0f, 0.0f};
  int slot = 0;
  for (int i = 0; i < n_my; ++i) {
    if (issued < n_my) {  // tile i + S - 1 of the walk, into the stage tile i - 1 used
      tile_issue<T, KIND, PF>(m0, m1, nb, in.g, in.sb0, in.sb1 - in.sb0, ring + ((slot + S - 1) % S) * kStage,
                              lane);
      in.next(mode, N, nb, nc);
      ++issued;
    }
    cp_async_commit();
    const int g = cur.g, c = cur.c, sb0 = cur.sb0, kt = cur.sb1 - cur.sb0;
    cur.next(mode, N, nb, nc);
    const bool on = sbl < kt;
    TileAct xa;
    if (on) tile_act<T>(x, sb0 + sbl, u, xa);
    cp_async_wait<S - 1>();
    __syncwarp();
    if (on) tile_dot<T, KIND>(ring + slot * kStage, nb, g, sb0, sbl, u, xa, a);
    __syncwarp();  // every lane is done with the stage before any lane refills it
    slot = slot + 1 == S ? 0 : slot + 1;
    if (mode != 2 && c != nc - 1 && i != n_my - 1) continue;  // warp-uniform
    // The group's sums (or this warp's part of them): lanes 0-3 = rows 0-3.
    float v = 0.0f;
#pragma unroll
    for (int r = 0; r < kTR; ++r) {
      const float s = warp_sum(a[r]);
      v = lane == r ? s : v;
      a[r] = 0.0f;
    }
    bool finish = true;
    if (KIND == 0 && A.split) {
      const int gt0 = g * nc, gt1 = gt0 + nc;
      if (mode == 2 ? nc > 1 : gt0 < t0 || gt1 > t1) {
        // The warps of the group's tiles in tile order: mode 2 one tile each (slot c), mode 0 ranges.
        const int wf = mode == 2 ? 0 : tile_owner(gt0, A.n_tiles, N);
        const int n = mode == 2 ? nc : tile_owner(gt1 - 1, A.n_tiles, N) - wf + 1;
        const int my = mode == 2 ? c : w - wf;
        const size_t row = static_cast<size_t>(4 * g + lane);
        if (lane < kTR) L->part[row * kResMaxSplit + static_cast<size_t>(my)] = v;
        __threadfence();
        __syncwarp();
        unsigned int tk = 0;
        if (lane == 0) tk = atomicAdd(L->qcnt + g, 1u);
        tk = __shfl_sync(0xFFFFFFFFu, tk, 0);
        finish = tk == static_cast<unsigned int>(n - 1);
        if (finish) {
          __threadfence();
          if (lane < kTR) {
            float sum = 0.0f;
            for (int k = 0; k < n; ++k) sum += __ldcg(L->part + row * kResMaxSplit + k);
            v = sum;
          }
          if (lane == 0) L->qcnt[g] = 0u;
        }
      }
    }
    if (!finish) continue;  // warp-uniform
    if constexpr (KIND == 0) {
      if (lane < kTR) {
        float* y = L->seg[0].y;
        const int row = 4 * g + lane;
        if constexpr (E == GemvEpilogue::kResidualNorm) {
          y[row] += v;
        } else {
          const float* bias = L->seg[0].bias;
          y[row] = v + (bias != nullptr ? bias[row] : 0.0f);
        }
      }
    } else {
      const float up = __shfl_down_sync(0xFFFFFFFFu, v, 2);  // lanes 0, 1: up rows of outputs 2g, 2g + 1
      if (lane < 2) G->h.f[2 * g + lane] = v / (1.0f + expf(-v)) * up;
      __threadfence();
      __syncwarp();
      const int b = (2 * g) / kGateUpOutputs;
      unsigned int tk = 0;
      if (lane == 0) tk = atomicAdd(G->counters + b, 1u);
      tk = __shfl_sync(0xFFFFFFFFu, tk, 0);
      if (tk == kGateUpOutputs / 2 - 1) {  // the block's 16 groups are in
        __threadfence();
        const float h = __ldcg(G->h.f + b * kGateUpOutputs + lane);
        if (G->h.q != nullptr) warp_quantize_q8(h, G->h.q, G->h.ds, b);
        if (lane == 0) G->counters[b] = 0u;
      }
    }
  }
  if constexpr (KIND == 0 && E == GemvEpilogue::kResidualNorm) {
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
}

// ---- host ---------------------------------------------------------------------------------------
struct TileCfg {
  int mask = kGemvTileDefault;  // 1 residual, 2 gate+up, 4 store
  int stages = 3;
  int warps = 8;
  int64_t min_bytes = 0;
  int split = 1;
  int order = 0;
  int l2pf = 0;
  int sms = 132;
};

int env_int(const char* name, int def) {
  const char* e = std::getenv(name);
  return e != nullptr ? std::atoi(e) : def;
}

const TileCfg& tile_cfg() {
  static const TileCfg c = [] {
    TileCfg r;
    r.mask = env_int("CUDA_BRICKS_TILE", r.mask) & 7;
    r.stages = std::clamp(env_int("CUDA_BRICKS_TILE_S", r.stages), 2, 3);
    r.warps = std::clamp(env_int("CUDA_BRICKS_TILE_W", r.warps), 1, kTMaxThreads / 32);
    r.min_bytes = static_cast<int64_t>(std::max(0, env_int("CUDA_BRICKS_TILE_MIN_KB", 0))) * 1024;
    r.split = env_int("CUDA_BRICKS_TILE_SPLIT", 1) != 0 ? 1 : 0;
    r.order = env_int("CUDA_BRICKS_TILE_ORDER", r.order) != 0 ? 1 : 0;
    r.l2pf = env_int("CUDA_BRICKS_TILE_L2PF", 0) != 0 ? 1 : 0;
    int dev = 0, v = 0;
    if (cudaGetDevice(&dev) == cudaSuccess &&
        cudaDeviceGetAttribute(&v, cudaDevAttrMultiProcessorCount, dev) == cudaSuccess && v > 0) {
      r.sms = v;
    }
    return r;
  }();
  return c;
}

// Blocks of the kernel resident a SM at cfg.warps warps and its stages' shared memory (queried
// once a kernel; the attribute raised past 48 KB first). 0 = it does not fit.
template <typename K>
int tile_blocks_per_sm(K kernel, int smem) {
  if (smem > 227 * 1024) return 0;
  if (cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, smem) != cudaSuccess) {
    cudaGetLastError();
    return 0;
  }
  int b = 0;
  if (cudaOccupancyMaxActiveBlocksPerMultiprocessor(&b, kernel, tile_cfg().warps * 32,
                                                    static_cast<size_t>(smem)) != cudaSuccess) {
    cudaGetLastError();
    return 0;
  }
  return b;
}

// Warps and tile ranges for n_groups groups of nb super-blocks a row on at most n_max warps.
TileArgs tile_args(int n_groups, int nb, int n_max, bool can_split, int order) {
  TileArgs A{};
  A.n_groups = n_groups;
  A.nb = nb;
  A.nc = (nb + kTSb - 1) / kTSb;
  A.n_tiles = static_cast<int64_t>(n_groups) * A.nc;
  A.order = order;
  // Cutting groups pays where whole groups would leave warps idle or uneven (few groups a warp).
  A.split = can_split && n_groups < 16 * n_max ? 1 : 0;
  if (A.split && order != 0 && A.nc <= kResMaxSplit) {  // one tile a part, slot = chunk
    A.n_warps = static_cast<int>(std::min<int64_t>(n_max, A.n_tiles));
  } else if (A.split) {
    A.order = 0;
    int n = static_cast<int>(std::min<int64_t>(n_max, A.n_tiles));
    for (;;) {  // at most kResMaxSplit warps share a group (GemvLaunch::part)
      int worst = 1;
      for (int g = 0; g < n_groups; ++g) {
        const int64_t gt0 = static_cast<int64_t>(g) * A.nc;
        worst = std::max(worst, tile_owner(gt0 + A.nc - 1, A.n_tiles, n) - tile_owner(gt0, A.n_tiles, n) + 1);
      }
      if (worst <= kResMaxSplit || n <= 1) break;
      n = std::max(1, n * 3 / 4);
    }
    A.n_warps = n;
  } else {
    int n = std::max(1, std::min(n_max, n_groups));
    const int per = (n_groups + n - 1) / n;
    A.n_warps = (n_groups + per - 1) / per;  // the same longest range on fewer warps
  }
  return A;
}

template <int T, int S, int KIND, GemvEpilogue E, int PF>
cudaError_t tile_launch(const GemvLaunch* dl, const GateUpLaunch* dg, int n_groups, int nb, bool can_split,
                        cudaStream_t stream, bool* used) {
  const TileCfg& cfg = tile_cfg();
  const int smem = cfg.warps * S * tile_stage_bytes<T>();
  static const int per_sm = tile_blocks_per_sm(gemv_tile_kernel<T, S, KIND, E, PF>, smem);
  if (per_sm <= 0) {
    *used = false;
    return cudaSuccess;
  }
  *used = true;
  const TileArgs A = tile_args(n_groups, nb, per_sm * cfg.sms * cfg.warps, can_split, cfg.order);
  const unsigned blocks = static_cast<unsigned>((A.n_warps + cfg.warps - 1) / cfg.warps);
  cudaLaunchAttribute attr[1];
  attr[0].id = cudaLaunchAttributeProgrammaticStreamSerialization;
  attr[0].val.programmaticStreamSerializationAllowed = 1;
  cudaLaunchConfig_t lc = {};
  lc.gridDim = dim3(blocks);
  lc.blockDim = dim3(static_cast<unsigned>(cfg.warps * 32));
  lc.dynamicSmemBytes = static_cast<size_t>(smem);
  lc.stream = stream;
  lc.attrs = attr;
  lc.numAttrs = pdl_take_launch() ? 1 : 0;
  return cudaLaunchKernelEx(&lc, gemv_tile_kernel<T, S, KIND, E, PF>, dl, dg, A);
}

template <int T, int KIND, GemvEpilogue E>
cudaError_t tile_launch_s(const GemvLaunch* dl, const GateUpLaunch* dg, int n_groups, int nb, bool can_split,
                          cudaStream_t stream, bool* used) {
  const bool pf = tile_cfg().l2pf != 0;
  if (tile_cfg().stages == 2) {
    return pf ? tile_launch<T, 2, KIND, E, 1>(dl, dg, n_groups, nb, can_split, stream, used)
              : tile_launch<T, 2, KIND, E, 0>(dl, dg, n_groups, nb, can_split, stream, used);
  }
  return pf ? tile_launch<T, 3, KIND, E, 1>(dl, dg, n_groups, nb, can_split, stream, used)
            : tile_launch<T, 3, KIND, E, 0>(dl, dg, n_groups, nb, can_split, stream, used);
}

int64_t q_bytes(const MatDesc& m) {
  const int64_t nb = m.cols / 256;
  return static_cast<int64_t>(m.rows) * nb * (m.type == kTypeQ4_K ? 144 : 210);
}
}  // namespace

bool launch_gemv_tile(const GemvLaunch& h, const GemvLaunch* d, GemvEpilogue epilogue, cudaStream_t stream,
                      cudaError_t* err) {
  const TileCfg& cfg = tile_cfg();
  const int bit = epilogue == GemvEpilogue::kResidualNorm ? 1 : epilogue == GemvEpilogue::kStore ? 4 : 0;
  if ((cfg.mask & bit) == 0 || h.n_seg != 1) return false;
  const MatDesc& m = h.seg[0].m;
  if ((m.type != kTypeQ4_K && m.type != kTypeQ6_K) || m.cols % 256 != 0 || m.rows % 8 != 0 || m.rows <= 0)
    return false;
  if (q_bytes(m) < cfg.min_bytes) return false;
  // The partial sums are sized for the launch's rows (GemvLaunch::part); the ticket per group is qcnt.
  const bool can_split = cfg.split != 0 && h.part != nullptr && h.qcnt != nullptr;
  const int n_groups = m.rows / kTR, nb = m.cols / 256;
  bool used = false;
  cudaError_t e = cudaSuccess;
  if (epilogue == GemvEpilogue::kResidualNorm) {
    e = m.type == kTypeQ4_K ? tile_launch_s<kTypeQ4_K, 0, GemvEpilogue::kResidualNorm>(
                                  d, nullptr, n_groups, nb, can_split, stream, &used)
                            : tile_launch_s<kTypeQ6_K, 0, GemvEpilogue::kResidualNorm>(
                                  d, nullptr, n_groups, nb, can_split, stream, &used);
  } else {
    e = m.type == kTypeQ4_K ? tile_launch_s<kTypeQ4_K, 0, GemvEpilogue::kStore>(d, nullptr, n_groups, nb,
                                                                                can_split, stream, &used)
                            : tile_launch_s<kTypeQ6_K, 0, GemvEpilogue::kStore>(d, nullptr, n_groups, nb,
                                                                                can_split, stream, &used);
  }
  if (!used) return false;
  *err = e;
  return true;
}

bool launch_gate_up_tile(const GateUpLaunch& h, const GateUpLaunch* d, cudaStream_t stream,
                         cudaError_t* err) {
  const TileCfg& cfg = tile_cfg();
  if ((cfg.mask & 2) == 0 || h.counters == nullptr || h.h.f == nullptr) return false;
  const MatDesc& g = h.gate;
  const MatDesc& u = h.up;
  if (g.type != kTypeQ4_K || u.type != kTypeQ4_K || g.cols != u.cols || g.rows != u.rows ||
      g.cols % 256 != 0 || g.rows % kGateUpOutputs != 0 || g.rows <= 0)
    return false;
  if (2 * q_bytes(g) < cfg.min_bytes) return false;
  bool used = false;
  const cudaError_t e = tile_launch_s<kTypeQ4_K, 1, GemvEpilogue::kStore>(nullptr, d, g.rows / 2,
                                                                          g.cols / 256, false, stream, &used);
  if (!used) return false;
  *err = e;
  return true;
}

}  // namespace bb::cuda_bricks
