// What the host code of cuda_bricks hands its kernels: plain structs (shared by g++ and nvcc) and
// the launchers the .cu files define. Every pointer here is a device pointer.
//
// Weight layouts on the device ("repacked": the same bytes as GGUF, regrouped so that every
// 16-byte load is aligned and each work unit's bytes are contiguous; see repack.h):
//   Q4_K  native 144-byte super-blocks (d, dmin, 12 scale bytes, 128 bytes of nibbles): q plane
//   Q6_K  q = ql [rows][nb][4 units][32], aux = qh [rows][nb][4][16], sc = scales [rows][nb][4][4],
//         d = fp16 [rows][nb]    (unit t = 2h + l0/16 covers half h, lanes l0..l0+15 of ggml's loop)
//   Q8_0  q = qs [rows][nb][32], d [rows][nb]
//   Q5_0  q = qs [rows][nb][16], aux = qh (uint32) [rows][nb], d [rows][nb]
//   Q4_0  q = qs [rows][nb][16], d [rows][nb]
//   F16   q = the row as stored; F32 likewise
// Activations for quantized weights are two-level 8-bit (quant_math.h): q holds 2n bytes (per 16
// elements 16 hi bytes, then 16 lo bytes) and per 32 elements a float2 {s, s * sum(254 hi + lo)},
// so x[i] ~= s * (254 hi[i] + lo[i]) (llama.cpp's MMVQ Q8_1 scheme plus a second byte; declared
// BB_CAP_ACT_Q8).
#pragma once

#include <cstdint>

#if defined(__CUDACC__)
#include <cuda_runtime.h>
#else
#include <cuda_runtime_api.h>
#endif

namespace bb::cuda_bricks {

inline constexpr int kTypeF32 = 0;
inline constexpr int kTypeF16 = 1;
inline constexpr int kTypeQ4_0 = 2;
inline constexpr int kTypeQ5_0 = 6;
inline constexpr int kTypeQ8_0 = 8;
inline constexpr int kTypeQ4_K = 12;
inline constexpr int kTypeQ6_K = 14;

// Geometry of the kernels (the host sizes grids with these).
inline constexpr int kGemvWarps = 4;        // warps per GEMV block
inline constexpr int kGemvRowsPerWarp = 2;  // rows a warp streams at once
inline constexpr int kGemvRowsPerBlock = kGemvWarps * kGemvRowsPerWarp;
inline constexpr int kGateUpWarps = 8;  // gate+up blocks: 32 outputs each
// gemv_res_kernel (gemv.cu, issue 16): blocks of kResWarps warps, each warp one K slice of a quad of
// rows; at most kResMaxSplit slices a quad (the size of GemvLaunch::part per row).
inline constexpr int kResWarps = 8;
inline constexpr int kResRows = 4;
inline constexpr int kResMaxSplit = 16;
// Its variant without CUDA_BRICKS_GEMV_RES (gemv.cu, launch_gemv): 0 = not used (on the H200 it
// won 2.6% at 7B and lost up to 4.5% elsewhere: results/h200/2026-12-03).
inline constexpr int kGemvResDefault = 0;
inline constexpr int kGateUpOutputs = 32;
// gemv_tile.cu (issue 16): the GEMVs it takes without CUDA_BRICKS_TILE (1 = residual, 2 = gate+up,
// 4 = store; 0 = none). 0: every variant lost 16-38% of decode at 7B and 32B on the H200
// (results/h200/2026-12-03-r2).
inline constexpr int kGemvTileDefault = 0;
// gate+up kernel variant for Q4_K without CUDA_BRICKS_GATE_UP (gemv.cu, launch_gate_up): 0 = four
// unit calls a lane step, 1/2 = activations loaded once for the eight rows, 1/2 units in flight; 3/4
// = 1/2 under register caps (Q4_K and Q5_0 only; other types always 0).
inline constexpr int kGateUpDefaultQ4K = 1;
inline constexpr int kAttnWarps = 8;
inline constexpr int kAttnMaxGroup = 8;    // query heads per KV head
inline constexpr int kAttnMaxSplits = 64;  // splits per KV head, at most
inline constexpr int kAttnMergeFan = 8;    // partials one merge step reads
// Ticket counters per KV head: one per group of kAttnMergeFan splits, one for the final merge.
inline constexpr int kAttnCounters = kAttnMaxSplits / kAttnMergeFan + 1;
inline constexpr int kNormThreads = 512;

// RoPE row order, for the Q and K matrices (and biases) of a kQkvRope launch: stored row 2p + w of
// head h is GGUF row h * head_dim + p + w * head_dim / 2 (p < head_dim / 2, w in {0, 1}). A warp's
// row pair (2p, 2p + 1) then holds the two elements one NEOX rotation mixes, and the GEMV's
// epilogue rotates them at once (no pass over q and k after the projection).
#if defined(__CUDACC__)
__host__ __device__
#endif
    inline int64_t
    rope_pair_source_row(int64_t stored, int32_t head_dim) {
  const int64_t h = stored / head_dim, r = stored % head_dim;
  return h * head_dim + r / 2 + (r % 2) * (head_dim / 2);
}

// One weight matrix on the device.
struct MatDesc {
  int32_t type;
  int32_t rows;
  int32_t cols;
  int32_t reserved;
  const uint8_t* q;
  const uint8_t* aux;
  const uint8_t* sc;
  const uint16_t* d;
};

// An activation vector in both forms: float (F16/F32 weights) and 8-bit pairs (quantized weights).
struct Act {
  const float* f;
  const int8_t* q;
  const float2* ds;
};

// Output of a vector in both forms (any pointer may be null = not wanted).
struct ActOut {
  float* f;
  int8_t* q;
  float2* ds;
};

// One matrix of a (possibly fused) GEMV launch: rows [0, rows) of m, blocks from block_begin.
struct GemvSeg {
  MatDesc m;
  const float* bias;  // [rows] or null
  float* y;           // [rows]
  int32_t block_begin;
  int32_t reserved;
};

enum class GemvEpilogue : int32_t {
  kStore = 0,         // y = W x (+ bias)
  kResidualNorm = 1,  // y += W x; the last block then RMS-normalizes y into `norm_out` (when g set)
  kQkvRope = 2,       // q, k, v (+ bias), Q and K in RoPE row order: each warp ropes its q pair into
                      // q_rot, its k pair into the K cache row, stores its v rows (no y written)
  kArgmax = 3,        // y = W x, and each block writes its best (value, row) key to `keys`
};

// Everything one GEMV launch reads; lives in device memory (the kernel reads it with loads).
struct GemvLaunch {
  GemvSeg seg[3];
  int32_t n_seg;
  int32_t n_blocks;
  Act x;
  // kResidualNorm
  const float* norm_g;  // null: no norm after the residual
  float norm_eps;
  int32_t norm_n;
  ActOut norm_out;
  // kQkvRope: seg[0] = Q, seg[1] = K (both in RoPE row order), seg[2] = V
  const int32_t* pos;     // device position
  const float2* rope_cs;  // [positions][head_dim / 2] (cos, sin)
  float* q_rot;           // [n_head * head_dim]
  void* k_cache;          // [C][n_head_kv * head_dim] of kv_type
  void* v_cache;
  int32_t kv_type;
  int32_t n_head;
  int32_t n_head_kv;
  int32_t head_dim;
  // kArgmax
  unsigned long long* keys;  // [n_blocks]
  // last-block bookkeeping
  unsigned int* counter;  // zero before the launch; the last block resets it
  // gemv_res_kernel (split K over warps, partial sums reduced per row quad by its last slice); both
  // null = that kernel is not used for this launch
  float* part;         // [rows of all segments][kResMaxSplit]
  unsigned int* qcnt;  // [rows of all segments / 4], zero before the launch; left zero
};

struct GateUpLaunch {
  MatDesc gate;
  MatDesc up;
  Act x;
  ActOut h;  // [n_ff] silu(gate x) * (up x)
  int32_t n_blocks;
  // gemv_tile.cu (issue 16): one ticket counter per 32 outputs (the last of a block's 16 row groups
  // quantizes it), zero before the launch, left zero; null = that kernel is not used for the launch
  unsigned int* counters;  // [n_ff / 32]
};

struct AttentionLaunch {
  const float* q;       // [n_head * head_dim], roped
  const void* k_cache;  // [C][n_head_kv * head_dim]
  const void* v_cache;
  int32_t kv_type;
  int32_t n_head;
  int32_t n_head_kv;
  int32_t head_dim;
  const int32_t* pos;  // attends rows 0..*pos
  int32_t max_splits;  // grid.y of the split kernel
  int32_t min_chunk;   // rows per split, at least (>= 1; attention_min_chunk)
  float scale;
  float2* part_ml;         // [n_head][max_splits] (max, sum of exp)
  float* part_acc;         // [n_head][max_splits][head_dim]
  unsigned int* counters;  // [n_head_kv][kAttnCounters], zero before the first launch; left zero
  ActOut out;              // [n_head * head_dim]
};

struct NormLaunch {
  const float* x;
  float* x_copy;  // optional: x copied here (a layer's residual stream)
  const float* g;
  float eps;
  int32_t n;
  ActOut out;
};

struct EmbedLaunch {
  MatDesc table;  // [n_vocab, n_embd]
  const int32_t* token;
  float* x;
};

struct RopeLaunch {
  const float* q_in;
  const float* k_in;
  float* q_out;
  float* k_out;
  const int32_t* pos;
  const float2* rope_cs;
  int32_t n_head;
  int32_t n_head_kv;
  int32_t head_dim;
};

struct AdvanceLaunch {
  const unsigned long long* keys;
  int32_t n_keys;
  int32_t* token;  // next input token
  int32_t* pos;    // incremented
  int32_t* step;   // index into tokens_out; written only when >= 0, then incremented
  int32_t* tokens_out;
  int32_t tokens_cap;
};

// Launchers: each checks the launch (cudaGetLastError) and returns the error, never throws.
// `d_launch` points at the struct in device memory; `h_launch` is the same struct on the host
// (for grid sizes).
cudaError_t launch_gemv(const GemvLaunch& h_launch, const GemvLaunch* d_launch, GemvEpilogue epilogue,
                        cudaStream_t stream);
cudaError_t launch_gate_up(const GateUpLaunch& h_launch, const GateUpLaunch* d_launch, cudaStream_t stream);
cudaError_t launch_attention(const AttentionLaunch& h_launch, const AttentionLaunch* d_launch,
                             cudaStream_t stream);
cudaError_t launch_rms_norm(const NormLaunch* d_launch, cudaStream_t stream);
cudaError_t launch_embed(const EmbedLaunch* d_launch, cudaStream_t stream);
cudaError_t launch_rope(const RopeLaunch& h_launch, const RopeLaunch* d_launch, cudaStream_t stream);
cudaError_t launch_advance(const AdvanceLaunch* d_launch, cudaStream_t stream);
cudaError_t launch_quantize_q8(const float* x, int32_t n, int8_t* q, float2* ds, cudaStream_t stream);
cudaError_t launch_empty(cudaStream_t stream);  // one block of 32 threads that does nothing
// The COPY op (the harness's bandwidth ceiling): cudaMemcpyAsync device to device, the card's own
// copy. On the H200 (results/h200/2026-12-02, tests/cuda_bricks/bandwidth_probe.cu) it moved 4.23
// TB/s where the best of 20 copy-kernel shapes moved 3.95 and the plugin's kernel before issue 16
// 3.78. CUDA_BRICKS_COPY="U,B,CS" runs the plugin's kernel instead (kernels.cu): U (4 or 8) 16-byte
// loads in flight a thread, at most B blocks of 256 a SM, CS 1 = streaming cache hints.
inline constexpr int kCopyUnroll = 8;
inline constexpr int kCopyBlocksPerSm = 8;
cudaError_t launch_copy(const void* src, void* dst, uint64_t n_bytes, int32_t n_sms, cudaStream_t stream);
// A streaming read of n_bytes (16-byte loads, 8 in flight a thread): the read ceiling that
// session_get_metrics reports. sink: 4 bytes the kernel (practically) never writes.
cudaError_t launch_read(const void* src, uint64_t n_bytes, int32_t n_sms, uint32_t* sink,
                        cudaStream_t stream);

// Programmatic dependent launch (Hopper PDL). While a PdlChain lives on this thread, every launch
// after the chain's first carries cudaLaunchAttributeProgrammaticStreamSerialization: its blocks may
// become resident while the previous kernel still runs. Each kernel waits for the previous kernel's
// completion and memory (griddepcontrol.wait) before anything else, then lets its own dependent
// start launching: the launch and the block scheduling of a kernel overlap its predecessor's end
// (its last-block tail included). With CUDA_BRICKS_PREFETCH=N (bytes, default 0 = off) the blocks of
// a programmatic GEMV launch's first wave first ask L2 for N bytes of their weights. Measured on the
// H100 (results/h100/2026-11-26e), 16 KB moved decode by +2% at 0.5B, +1.4% at 1.5B and -1% at 7B,
// and the one rule by a launch's weight bytes tried (<= 6 MB) lost the gains too: off by default. A chain
// covers one decode token or one plan iteration: consecutive iterations of a brick stay fully
// serialized. CUDA_BRICKS_PDL=0 turns PDL off (both read once; A/B runs).
class PdlChain {
 public:
  PdlChain();
  ~PdlChain();
  PdlChain(const PdlChain&) = delete;
  PdlChain& operator=(const PdlChain&) = delete;

 private:
  int saved_;
};
bool pdl_enabled();
int32_t pdl_prefetch_bytes();
// Whether the launch being made now takes the PDL attribute (advances the chain): launchers only.
bool pdl_take_launch();
// The same without advancing: whether the next launch will (a kernel's first launch in a chain, or
// outside any chain, starts after its predecessor ends: an L2 prefetch there only costs).
bool pdl_next_launch_programmatic();

// Rows per attention split, at least: the rows one block covers in one step for head_dim (64 at
// head_dim 64, 32 at 128), or CUDA_BRICKS_ATTN_MIN_CHUNK=N (N >= 1; read once) for A/B runs.
int32_t attention_min_chunk(int32_t head_dim);
// Blocks of the attention split kernel for a context of up to max_rows rows, splits of at least
// min_chunk rows (the value the launch's min_chunk holds).
int32_t attention_max_splits(int32_t n_head_kv, int32_t max_rows, int32_t n_sms, int32_t min_chunk);

}  // namespace bb::cuda_bricks
