// The arithmetic of one GEMV work unit per weight type, on raw words already loaded: shared by the
// kernels (nvcc) and a host test (g++) that checks it against scalar_ref's dequantization.
//
// A unit is the bytes one lane loads in one step (16 or 32 bytes of quants, plus the scales it
// needs). unit_count(type, cols) units make a row; unit u of a row reads only its own bytes.
// Quantized types are dotted with two-level 8-bit activations through dp4a (integer 4-way dot
// products): per 32 elements x_i ~= s * (254 * hi_i + lo_i), hi = round(x / (amax / 127)), lo =
// the rounded remainder in 1/254 steps, so sum_i w_i x_i ~= scale_w * s * (254 dp(w, hi) +
// dp(w, lo)) (- the min term of Q4_K). One level (Q8_1, llama.cpp's MMVQ) leaves a relative error
// of ~0.4% per element, which 24-36 layers grow past the decode NMSE bound; two levels cost one
// more dp4a per 4 weights and 16 more bytes per 16 activations (L1), not weight bandwidth.
#pragma once

#include <cmath>
#include <cstdint>

#include "../common/half.h"
#include "kernel_api.h"

#if defined(__CUDACC__)
#define BB_HD __host__ __device__ __forceinline__
#else
#define BB_HD inline
#endif
#if defined(__CUDA_ARCH__)
#define BB_UNROLL _Pragma("unroll")
#else
#define BB_UNROLL
#endif

namespace bb::cuda_bricks {

BB_HD int unit_count(int type, int cols) {
  switch (type) {
    case kTypeQ4_K:
      return (cols / 256) * 8;
    case kTypeQ6_K:
      return (cols / 256) * 4;
    case kTypeQ8_0:
    case kTypeQ5_0:
    case kTypeQ4_0:
      return cols / 32;
    case kTypeF16:
      return cols / 8;
    case kTypeF32:
      return cols / 4;
    default:
      return 0;
  }
}

// Bytes per row of each plane (q, aux, sc, d) of a repacked matrix (kernel_api.h layouts); all 0 for
// a type this plugin lacks. packed_sizes (repack.h) and the kernels' L2 prefetch both read it.
BB_HD void plane_row_bytes(int type, int64_t cols, int64_t (&rb)[4]) {
  rb[0] = rb[1] = rb[2] = rb[3] = 0;
  switch (type) {
    case kTypeF32:
      rb[0] = cols * 4;
      break;
    case kTypeF16:
      rb[0] = cols * 2;
      break;
    case kTypeQ4_K:
      rb[0] = cols / 256 * 144;
      break;
    case kTypeQ6_K:
      rb[0] = cols / 256 * 128;
      rb[1] = cols / 256 * 64;
      rb[2] = cols / 256 * 16;
      rb[3] = cols / 256 * 2;
      break;
    case kTypeQ8_0:
      rb[0] = cols / 32 * 32;
      rb[3] = cols / 32 * 2;
      break;
    case kTypeQ5_0:
      rb[0] = cols / 32 * 16;
      rb[1] = cols / 32 * 4;
      rb[3] = cols / 32 * 2;
      break;
    case kTypeQ4_0:
      rb[0] = cols / 32 * 16;
      rb[3] = cols / 32 * 2;
      break;
    default:
      break;
  }
}

// ---- integer helpers (dp4a, per-byte saturating subtract), with host twins for the test -------
BB_HD int dp4a_s8(int a, int b, int c) {
#if defined(__CUDA_ARCH__)
  return __dp4a(a, b, c);
#else
  for (int i = 0; i < 4; ++i) {
    c += static_cast<int>(static_cast<int8_t>(static_cast<uint32_t>(a) >> (8 * i))) *
         static_cast<int>(static_cast<int8_t>(static_cast<uint32_t>(b) >> (8 * i)));
  }
  return c;
#endif
}

// Per byte a - b for bytes in [0, 127]: the results fit a signed byte, no borrow crosses bytes.
BB_HD int sub_bytes(int a, int b) {
#if defined(__CUDA_ARCH__)
  return __vsubss4(a, b);
#else
  uint32_t r = 0;
  for (int i = 0; i < 4; ++i) {
    const int x = static_cast<int>((static_cast<uint32_t>(a) >> (8 * i)) & 0xFF) -
                  static_cast<int>((static_cast<uint32_t>(b) >> (8 * i)) & 0xFF);
    r |= (static_cast<uint32_t>(x) & 0xFFu) << (8 * i);
  }
  return static_cast<int>(r);
#endif
}

BB_HD float half_to_float(uint16_t h) {
#if defined(__CUDA_ARCH__)
  return __half2float(__ushort_as_half(h));
#else
  return ::bb::half::to_float(h);  // plugins/common/half.h
#endif
}

BB_HD uint32_t byte_of(uint32_t w, int k) { return (w >> (8 * k)) & 0xFFu; }

// ---- activations ---------------------------------------------------------------------------------
// Layout of a quantized activation vector of n elements (kernel_api.h): q holds 2n bytes, per 16
// elements starting at e (e % 16 == 0) the 16 hi bytes at q + 2e, then the 16 lo bytes; ds[e / 32]
// = {s, s * sum(254 hi + lo)} over the 32-element block, x ~= s * (254 hi + lo).
inline constexpr int kActLo = 254;

struct ActPiece {  // 16 consecutive activations: hi and lo bytes
  int4 hi;
  int4 lo;
};

// 254 * dp(w, hi) + dp(w, lo) over 16 activations; w: 16 signed bytes in 4 words.
BB_HD int dot_act16(int w0, int w1, int w2, int w3, const ActPiece& x) {
  int h = 0, l = 0;
  h = dp4a_s8(w0, x.hi.x, h);
  l = dp4a_s8(w0, x.lo.x, l);
  h = dp4a_s8(w1, x.hi.y, h);
  l = dp4a_s8(w1, x.lo.y, l);
  h = dp4a_s8(w2, x.hi.z, h);
  l = dp4a_s8(w2, x.lo.z, l);
  h = dp4a_s8(w3, x.hi.w, h);
  l = dp4a_s8(w3, x.lo.w, l);
  return h * kActLo + l;
}

// Host and device: the two levels of one value v of a block whose max |v| is amax.
BB_HD void act_levels(float v, float amax, int* hi, int* lo) {
  if (!(amax > 0.0f)) {
    *hi = 0;
    *lo = 0;
    return;
  }
  const float d = amax / 127.0f;
  const float t = v / d;
  const float h = roundf(t);
  float l = roundf((t - h) * static_cast<float>(kActLo));
  l = l > 127.0f ? 127.0f : (l < -127.0f ? -127.0f : l);
  *hi = static_cast<int>(h);
  *lo = static_cast<int>(l);
}

// ---- Q4_K --------------------------------------------------------------------------------------
// Unit c (0..7) of a super-block: qs bytes [16c, 16c + 16) = l0 = 16 (c & 1) .. of the 64-element
// group j = c / 2. Low nibbles are elements 64j + l0 + i (sub-block 2j), high nibbles 64j + 32 +
// l0 + i (sub-block 2j + 1). `head` is the block's first 16 bytes (d, dmin, scales[12]).
// xa/xb: activations of the low/high elements; dsa/dsb: Q8_1 {d, d*sum} of q8 blocks 2j, 2j+1.
// The min terms cover whole q8 blocks, so only even units add them.
BB_HD void q4k_scale_min(const uint4& head, int is, int* sc, int* m) {
  if (is < 4) {
    *sc = static_cast<int>(byte_of(head.y, is) & 63);
    *m = static_cast<int>(byte_of(head.z, is) & 63);
  } else {
    const int k = is - 4;
    *sc = static_cast<int>((byte_of(head.w, k) & 0xF) | ((byte_of(head.y, k) >> 6) << 4));
    *m = static_cast<int>((byte_of(head.w, k) >> 4) | ((byte_of(head.z, k) >> 6) << 4));
  }
}

BB_HD float q4k_unit(const uint4& head, const uint4& qs, int c, const ActPiece& xa, const ActPiece& xb,
                     float2 dsa, float2 dsb) {
  const int j = c >> 1;
  int sc0, m0, sc1, m1;
  q4k_scale_min(head, 2 * j, &sc0, &m0);
  q4k_scale_min(head, 2 * j + 1, &sc1, &m1);
  const int lo = dot_act16(static_cast<int>(qs.x & 0x0F0F0F0Fu), static_cast<int>(qs.y & 0x0F0F0F0Fu),
                           static_cast<int>(qs.z & 0x0F0F0F0Fu), static_cast<int>(qs.w & 0x0F0F0F0Fu), xa);
  const int hi =
      dot_act16(static_cast<int>((qs.x >> 4) & 0x0F0F0F0Fu), static_cast<int>((qs.y >> 4) & 0x0F0F0F0Fu),
                static_cast<int>((qs.z >> 4) & 0x0F0F0F0Fu), static_cast<int>((qs.w >> 4) & 0x0F0F0F0Fu), xb);
  const float d = half_to_float(static_cast<uint16_t>(head.x & 0xFFFFu));
  const float dmin = half_to_float(static_cast<uint16_t>(head.x >> 16));
  float r = d * (static_cast<float>(sc0 * lo) * dsa.x + static_cast<float>(sc1 * hi) * dsb.x);
  if ((c & 1) == 0) r -= dmin * (static_cast<float>(m0) * dsa.y + static_cast<float>(m1) * dsb.y);
  return r;
}

// Issue 16 (gemv_tile.cu): units 2j and 2j + 1 of a super-block in one call, the 32 qs bytes
// [32j, 32j + 32) as qa (the first 16) and qb; they share both scales, both mins and both q8
// blocks, so the integer sums of the two units add before one float expression. xa0 / xa1: the
// activations of elements 64j + 0..15 / 16..31 (low nibbles of qa / qb), xb0 / xb1 those of 64j +
// 32..47 / 48..63 (high nibbles). Equals q4k_unit(c = 2j) + q4k_unit(c = 2j + 1) up to float rounding.
BB_HD float q4k_pair(const uint4& head, const uint4& qa, const uint4& qb, int j, const ActPiece& xa0,
                     const ActPiece& xa1, const ActPiece& xb0, const ActPiece& xb1, float2 dsa, float2 dsb) {
  int sc0, m0, sc1, m1;
  q4k_scale_min(head, 2 * j, &sc0, &m0);
  q4k_scale_min(head, 2 * j + 1, &sc1, &m1);
  const int lo = dot_act16(static_cast<int>(qa.x & 0x0F0F0F0Fu), static_cast<int>(qa.y & 0x0F0F0F0Fu),
                           static_cast<int>(qa.z & 0x0F0F0F0Fu), static_cast<int>(qa.w & 0x0F0F0F0Fu), xa0) +
                 dot_act16(static_cast<int>(qb.x & 0x0F0F0F0Fu), static_cast<int>(qb.y & 0x0F0F0F0Fu),
                           static_cast<int>(qb.z & 0x0F0F0F0Fu), static_cast<int>(qb.w & 0x0F0F0F0Fu), xa1);
  const int hi =
      dot_act16(static_cast<int>((qa.x >> 4) & 0x0F0F0F0Fu), static_cast<int>((qa.y >> 4) & 0x0F0F0F0Fu),
                static_cast<int>((qa.z >> 4) & 0x0F0F0F0Fu), static_cast<int>((qa.w >> 4) & 0x0F0F0F0Fu),
                xb0) +
      dot_act16(static_cast<int>((qb.x >> 4) & 0x0F0F0F0Fu), static_cast<int>((qb.y >> 4) & 0x0F0F0F0Fu),
                static_cast<int>((qb.z >> 4) & 0x0F0F0F0Fu), static_cast<int>((qb.w >> 4) & 0x0F0F0F0Fu),
                xb1);
  const float d = half_to_float(static_cast<uint16_t>(head.x & 0xFFFFu));
  const float dmin = half_to_float(static_cast<uint16_t>(head.x >> 16));
  return d * (static_cast<float>(sc0 * lo) * dsa.x + static_cast<float>(sc1 * hi) * dsb.x) -
         dmin * (static_cast<float>(m0) * dsa.y + static_cast<float>(m1) * dsb.y);
}

// ---- Q6_K (repacked) ---------------------------------------------------------------------------
// Unit t = 2h + l0/16 of a super-block: ql_a = ggml ql[64h + l0 + i], ql_b = ql[64h + 32 + l0 + i],
// qh = qh[32h + l0 + i] (i < 16), sc = the 4 scales of groups g = 0..3 (sc[8h + l0/16 + 2g]).
// Group g covers elements 128h + 32g + l0 + i; x[g] holds their activations, dx[g] their q8 scale.
BB_HD float q6k_unit(const uint4& ql_a, const uint4& ql_b, const uint4& qh, uint32_t sc, uint16_t d_bits,
                     const ActPiece (&x)[4], const float (&dx)[4]) {
  const uint32_t a[4] = {ql_a.x, ql_a.y, ql_a.z, ql_a.w};
  const uint32_t b[4] = {ql_b.x, ql_b.y, ql_b.z, ql_b.w};
  const uint32_t h[4] = {qh.x, qh.y, qh.z, qh.w};
  int v0[4], v1[4], v2[4], v3[4];
  BB_UNROLL
  for (int k = 0; k < 4; ++k) {
    v0[k] = sub_bytes(static_cast<int>((a[k] & 0x0F0F0F0Fu) | ((h[k] << 4) & 0x30303030u)), 0x20202020);
    v1[k] = sub_bytes(static_cast<int>((b[k] & 0x0F0F0F0Fu) | ((h[k] << 2) & 0x30303030u)), 0x20202020);
    v2[k] = sub_bytes(static_cast<int>(((a[k] >> 4) & 0x0F0F0F0Fu) | (h[k] & 0x30303030u)), 0x20202020);
    v3[k] =
        sub_bytes(static_cast<int>(((b[k] >> 4) & 0x0F0F0F0Fu) | ((h[k] >> 2) & 0x30303030u)), 0x20202020);
  }
  const int s0 = dot_act16(v0[0], v0[1], v0[2], v0[3], x[0]);
  const int s1 = dot_act16(v1[0], v1[1], v1[2], v1[3], x[1]);
  const int s2 = dot_act16(v2[0], v2[1], v2[2], v2[3], x[2]);
  const int s3 = dot_act16(v3[0], v3[1], v3[2], v3[3], x[3]);
  const float sc0 = static_cast<float>(static_cast<int8_t>(sc & 0xFFu));
  const float sc1 = static_cast<float>(static_cast<int8_t>((sc >> 8) & 0xFFu));
  const float sc2 = static_cast<float>(static_cast<int8_t>((sc >> 16) & 0xFFu));
  const float sc3 = static_cast<float>(static_cast<int8_t>((sc >> 24) & 0xFFu));
  const float sum = sc0 * dx[0] * static_cast<float>(s0) + sc1 * dx[1] * static_cast<float>(s1) +
                    sc2 * dx[2] * static_cast<float>(s2) + sc3 * dx[3] * static_cast<float>(s3);
  return half_to_float(d_bits) * sum;
}

// ---- Q8_0 / Q5_0 / Q4_0 (one 32-element block per unit) ----------------------------------------
// xa = activations of elements 0..15, xb = 16..31.
BB_HD float q8_0_unit(const uint4& qa, const uint4& qb, uint16_t d_bits, const ActPiece& xa,
                      const ActPiece& xb, float dx) {
  const int s = dot_act16(static_cast<int>(qa.x), static_cast<int>(qa.y), static_cast<int>(qa.z),
                          static_cast<int>(qa.w), xa) +
                dot_act16(static_cast<int>(qb.x), static_cast<int>(qb.y), static_cast<int>(qb.z),
                          static_cast<int>(qb.w), xb);
  return half_to_float(d_bits) * dx * static_cast<float>(s);
}

// Bit i of `bits` (i < 4) becomes bit 4 of byte i.
BB_HD uint32_t spread_bit4(uint32_t bits) {
  return ((bits << 4) & 0x10u) | ((bits << 11) & 0x1000u) | ((bits << 18) & 0x100000u) |
         ((bits << 25) & 0x10000000u);
}

// Q5_0: element j < 16 is (qs[j] & 15) | bit j of qh << 4, element j + 16 is (qs[j] >> 4) | bit
// j + 16 of qh << 4; value - 16. Q4_0 (qh_present false): value - 8, no fifth bit.
BB_HD float q5_0_unit(const uint4& qs, uint32_t qh, uint16_t d_bits, const ActPiece& xa, const ActPiece& xb,
                      float dx) {
  const uint32_t w[4] = {qs.x, qs.y, qs.z, qs.w};
  int lo[4], hi[4];
  BB_UNROLL
  for (int k = 0; k < 4; ++k) {
    lo[k] = sub_bytes(static_cast<int>((w[k] & 0x0F0F0F0Fu) | spread_bit4(qh >> (4 * k))), 0x10101010);
    hi[k] = sub_bytes(static_cast<int>(((w[k] >> 4) & 0x0F0F0F0Fu) | spread_bit4(qh >> (4 * k + 16))),
                      0x10101010);
  }
  const int s = dot_act16(lo[0], lo[1], lo[2], lo[3], xa) + dot_act16(hi[0], hi[1], hi[2], hi[3], xb);
  return half_to_float(d_bits) * dx * static_cast<float>(s);
}

BB_HD float q4_0_unit(const uint4& qs, uint16_t d_bits, const ActPiece& xa, const ActPiece& xb, float dx) {
  const uint32_t w[4] = {qs.x, qs.y, qs.z, qs.w};
  int lo[4], hi[4];
  BB_UNROLL
  for (int k = 0; k < 4; ++k) {
    lo[k] = sub_bytes(static_cast<int>(w[k] & 0x0F0F0F0Fu), 0x08080808);
    hi[k] = sub_bytes(static_cast<int>((w[k] >> 4) & 0x0F0F0F0Fu), 0x08080808);
  }
  const int s = dot_act16(lo[0], lo[1], lo[2], lo[3], xa) + dot_act16(hi[0], hi[1], hi[2], hi[3], xb);
  return half_to_float(d_bits) * dx * static_cast<float>(s);
}

// ---- F16 / F32 (float activations) -------------------------------------------------------------
BB_HD float f16_unit(const uint4& w, const float4& xa, const float4& xb) {
  const uint32_t v[4] = {w.x, w.y, w.z, w.w};
  const float x[8] = {xa.x, xa.y, xa.z, xa.w, xb.x, xb.y, xb.z, xb.w};
  float s = 0.0f;
  BB_UNROLL
  for (int k = 0; k < 4; ++k) {
    s += half_to_float(static_cast<uint16_t>(v[k] & 0xFFFFu)) * x[2 * k];
    s += half_to_float(static_cast<uint16_t>(v[k] >> 16)) * x[2 * k + 1];
  }
  return s;
}

BB_HD float f32_unit(const float4& w, const float4& x) {
  return w.x * x.x + w.y * x.y + w.z * x.z + w.w * x.w;
}

// ---- loads (read-only path on the device, memcpy on the host) ----------------------------------
BB_HD uint4 ld_u4(const uint8_t* p) {
#if defined(__CUDA_ARCH__)
  return __ldg(reinterpret_cast<const uint4*>(p));
#else
  uint4 v;
  __builtin_memcpy(&v, p, 16);
  return v;
#endif
}
BB_HD int4 ld_i4(const int8_t* p) {
#if defined(__CUDA_ARCH__)
  return __ldg(reinterpret_cast<const int4*>(p));
#else
  int4 v;
  __builtin_memcpy(&v, p, 16);
  return v;
#endif
}
BB_HD uint32_t ld_u32(const uint8_t* p) {
#if defined(__CUDA_ARCH__)
  return __ldg(reinterpret_cast<const unsigned int*>(p));
#else
  uint32_t v;
  __builtin_memcpy(&v, p, 4);
  return v;
#endif
}
BB_HD uint16_t ld_u16(const uint16_t* p) {
#if defined(__CUDA_ARCH__)
  return __ldg(p);
#else
  return *p;
#endif
}
BB_HD float4 ld_f4(const float* p) {
#if defined(__CUDA_ARCH__)
  return __ldg(reinterpret_cast<const float4*>(p));
#else
  float4 v;
  __builtin_memcpy(&v, p, 16);
  return v;
#endif
}
BB_HD float2 ld_f2(const float2* p) {
#if defined(__CUDA_ARCH__)
  return __ldg(p);
#else
  return *p;
#endif
}

// The 16 activations starting at element e (e % 16 == 0) of a quantized vector.
BB_HD ActPiece ld_act(const int8_t* q, int e) {
  ActPiece p;
  p.hi = ld_i4(q + 2 * e);
  p.lo = ld_i4(q + 2 * e + 16);
  return p;
}

// ---- unit u of rows r0 and r1 (both valid): adds the two partial dot products ---------------------
// The GEMV kernels loop u over a row's units, one lane per unit; the host test runs the same
// functions over every unit. Activations are loaded once and used for both rows.
BB_HD void unit_dot2_q4_k(const MatDesc& m, int r0, int r1, int u, const Act& x, float& a0, float& a1) {
  const int64_t nb = m.cols / 256;
  const int sb = u >> 3, c = u & 7, j = c >> 1;
  const uint8_t* p0 = m.q + (static_cast<int64_t>(r0) * nb + sb) * 144;
  const uint8_t* p1 = m.q + (static_cast<int64_t>(r1) * nb + sb) * 144;
  const uint4 h0 = ld_u4(p0), w0 = ld_u4(p0 + 16 + c * 16);
  const uint4 h1 = ld_u4(p1), w1 = ld_u4(p1 + 16 + c * 16);
  const int e = sb * 256 + 64 * j + (c & 1) * 16;
  const ActPiece xa = ld_act(x.q, e), xb = ld_act(x.q, e + 32);
  const float2 dsa = ld_f2(x.ds + sb * 8 + 2 * j), dsb = ld_f2(x.ds + sb * 8 + 2 * j + 1);
  a0 += q4k_unit(h0, w0, c, xa, xb, dsa, dsb);
  a1 += q4k_unit(h1, w1, c, xa, xb, dsa, dsb);
}

BB_HD void unit_dot2_q6_k(const MatDesc& m, int r0, int r1, int u, const Act& x, float& a0, float& a1) {
  const int64_t nb = m.cols / 256;
  const int sb = u >> 2, t = u & 3, h = t >> 1, l0 = (t & 1) * 16;
  const int64_t b0 = static_cast<int64_t>(r0) * nb + sb, b1 = static_cast<int64_t>(r1) * nb + sb;
  const uint4 qa0 = ld_u4(m.q + b0 * 128 + t * 32), qb0 = ld_u4(m.q + b0 * 128 + t * 32 + 16);
  const uint4 qa1 = ld_u4(m.q + b1 * 128 + t * 32), qb1 = ld_u4(m.q + b1 * 128 + t * 32 + 16);
  const uint4 qh0 = ld_u4(m.aux + b0 * 64 + t * 16), qh1 = ld_u4(m.aux + b1 * 64 + t * 16);
  const uint32_t sc0 = ld_u32(m.sc + b0 * 16 + t * 4), sc1 = ld_u32(m.sc + b1 * 16 + t * 4);
  const uint16_t d0 = ld_u16(m.d + b0), d1 = ld_u16(m.d + b1);
  const int e = sb * 256 + h * 128 + l0;
  const ActPiece xv[4] = {ld_act(x.q, e), ld_act(x.q, e + 32), ld_act(x.q, e + 64), ld_act(x.q, e + 96)};
  const int qb = sb * 8 + h * 4;
  const float dx[4] = {ld_f2(x.ds + qb).x, ld_f2(x.ds + qb + 1).x, ld_f2(x.ds + qb + 2).x,
                       ld_f2(x.ds + qb + 3).x};
  a0 += q6k_unit(qa0, qb0, qh0, sc0, d0, xv, dx);
  a1 += q6k_unit(qa1, qb1, qh1, sc1, d1, xv, dx);
}

BB_HD void unit_dot2_q8_0(const MatDesc& m, int r0, int r1, int u, const Act& x, float& a0, float& a1) {
  const int64_t nb = m.cols / 32;
  const int64_t b0 = static_cast<int64_t>(r0) * nb + u, b1 = static_cast<int64_t>(r1) * nb + u;
  const uint4 qa0 = ld_u4(m.q + b0 * 32), qb0 = ld_u4(m.q + b0 * 32 + 16);
  const uint4 qa1 = ld_u4(m.q + b1 * 32), qb1 = ld_u4(m.q + b1 * 32 + 16);
  const uint16_t d0 = ld_u16(m.d + b0), d1 = ld_u16(m.d + b1);
  const ActPiece xa = ld_act(x.q, u * 32), xb = ld_act(x.q, u * 32 + 16);
  const float dx = ld_f2(x.ds + u).x;
  a0 += q8_0_unit(qa0, qb0, d0, xa, xb, dx);
  a1 += q8_0_unit(qa1, qb1, d1, xa, xb, dx);
}

BB_HD void unit_dot2_q5_0(const MatDesc& m, int r0, int r1, int u, const Act& x, float& a0, float& a1) {
  const int64_t nb = m.cols / 32;
  const int64_t b0 = static_cast<int64_t>(r0) * nb + u, b1 = static_cast<int64_t>(r1) * nb + u;
  const uint4 q0 = ld_u4(m.q + b0 * 16), q1 = ld_u4(m.q + b1 * 16);
  const uint32_t h0 = ld_u32(m.aux + b0 * 4), h1 = ld_u32(m.aux + b1 * 4);
  const uint16_t d0 = ld_u16(m.d + b0), d1 = ld_u16(m.d + b1);
  const ActPiece xa = ld_act(x.q, u * 32), xb = ld_act(x.q, u * 32 + 16);
  const float dx = ld_f2(x.ds + u).x;
  a0 += q5_0_unit(q0, h0, d0, xa, xb, dx);
  a1 += q5_0_unit(q1, h1, d1, xa, xb, dx);
}

BB_HD void unit_dot2_q4_0(const MatDesc& m, int r0, int r1, int u, const Act& x, float& a0, float& a1) {
  const int64_t nb = m.cols / 32;
  const int64_t b0 = static_cast<int64_t>(r0) * nb + u, b1 = static_cast<int64_t>(r1) * nb + u;
  const uint4 q0 = ld_u4(m.q + b0 * 16), q1 = ld_u4(m.q + b1 * 16);
  const uint16_t d0 = ld_u16(m.d + b0), d1 = ld_u16(m.d + b1);
  const ActPiece xa = ld_act(x.q, u * 32), xb = ld_act(x.q, u * 32 + 16);
  const float dx = ld_f2(x.ds + u).x;
  a0 += q4_0_unit(q0, d0, xa, xb, dx);
  a1 += q4_0_unit(q1, d1, xa, xb, dx);
}

BB_HD void unit_dot2_f16(const MatDesc& m, int r0, int r1, int u, const Act& x, float& a0, float& a1) {
  const uint4 w0 = ld_u4(m.q + (static_cast<int64_t>(r0) * m.cols + u * 8) * 2);
  const uint4 w1 = ld_u4(m.q + (static_cast<int64_t>(r1) * m.cols + u * 8) * 2);
  const float4 xa = ld_f4(x.f + u * 8), xb = ld_f4(x.f + u * 8 + 4);
  a0 += f16_unit(w0, xa, xb);
  a1 += f16_unit(w1, xa, xb);
}

BB_HD void unit_dot2_f32(const MatDesc& m, int r0, int r1, int u, const Act& x, float& a0, float& a1) {
  const float* w = reinterpret_cast<const float*>(m.q);
  const float4 w0 = ld_f4(w + static_cast<int64_t>(r0) * m.cols + u * 4);
  const float4 w1 = ld_f4(w + static_cast<int64_t>(r1) * m.cols + u * 4);
  const float4 xv = ld_f4(x.f + u * 4);
  a0 += f32_unit(w0, xv);
  a1 += f32_unit(w1, xv);
}

// ---- one element, dequantized (embedding rows): the float operations of ggml's dequantize_row --
// `row` is the row index; planes as in kernel_api.h.
BB_HD float dequant_element(const MatDesc& m, int64_t row, int col) {
  const int sb = col / 256, r = col % 256;
  switch (m.type) {
    case kTypeF32: {
      const float* p = reinterpret_cast<const float*>(m.q) + row * m.cols;
      return p[col];
    }
    case kTypeF16: {
      const uint16_t* p = reinterpret_cast<const uint16_t*>(m.q) + row * m.cols;
      return half_to_float(p[col]);
    }
    case kTypeQ8_0: {
      const int64_t nb = m.cols / 32, b = col / 32;
      const int8_t q = static_cast<int8_t>(m.q[(row * nb + b) * 32 + col % 32]);
      return static_cast<float>(q) * half_to_float(m.d[row * nb + b]);
    }
    case kTypeQ5_0:
    case kTypeQ4_0: {
      const int64_t nb = m.cols / 32, b = col / 32;
      const int j = col % 32;
      const uint8_t byte = m.q[(row * nb + b) * 16 + (j % 16)];
      int v = j < 16 ? (byte & 0xF) : (byte >> 4);
      if (m.type == kTypeQ5_0) {
        const uint32_t qh = reinterpret_cast<const uint32_t*>(m.aux)[row * nb + b];
        v |= static_cast<int>((qh >> j) & 1u) << 4;
        v -= 16;
      } else {
        v -= 8;
      }
      return static_cast<float>(v) * half_to_float(m.d[row * nb + b]);
    }
    case kTypeQ4_K: {
      const int64_t nb = m.cols / 256;
      const uint8_t* blk = m.q + (row * nb + sb) * 144;
      uint4 head;
      head.x = static_cast<uint32_t>(blk[0]) | (static_cast<uint32_t>(blk[1]) << 8) |
               (static_cast<uint32_t>(blk[2]) << 16) | (static_cast<uint32_t>(blk[3]) << 24);
      head.y = static_cast<uint32_t>(blk[4]) | (static_cast<uint32_t>(blk[5]) << 8) |
               (static_cast<uint32_t>(blk[6]) << 16) | (static_cast<uint32_t>(blk[7]) << 24);
      head.z = static_cast<uint32_t>(blk[8]) | (static_cast<uint32_t>(blk[9]) << 8) |
               (static_cast<uint32_t>(blk[10]) << 16) | (static_cast<uint32_t>(blk[11]) << 24);
      head.w = static_cast<uint32_t>(blk[12]) | (static_cast<uint32_t>(blk[13]) << 8) |
               (static_cast<uint32_t>(blk[14]) << 16) | (static_cast<uint32_t>(blk[15]) << 24);
      const int j = r / 64, within = r % 64, l = within % 32;
      const int is = 2 * j + (within >= 32 ? 1 : 0);
      int sc, mn;
      q4k_scale_min(head, is, &sc, &mn);
      const float d = half_to_float(static_cast<uint16_t>(head.x & 0xFFFFu));
      const float dmin = half_to_float(static_cast<uint16_t>(head.x >> 16));
      const uint8_t byte = blk[16 + 32 * j + l];
      const int q = within >= 32 ? (byte >> 4) : (byte & 0xF);
      const float d1 = d * static_cast<float>(sc);
      const float m1 = dmin * static_cast<float>(mn);
      return d1 * static_cast<float>(q) - m1;
    }
    case kTypeQ6_K: {
      const int64_t nb = m.cols / 256, blk = row * nb + sb;
      const int h = r / 128, r2 = r % 128, g = r2 / 32, l = r2 % 32;
      const int t = 2 * h + l / 16, i = l % 16;
      const uint8_t* ql = m.q + blk * 128 + t * 32 + ((g & 1) ? 16 : 0);
      const int nib = (g & 2) ? (ql[i] >> 4) : (ql[i] & 0xF);
      const uint8_t qh = m.aux[blk * 64 + t * 16 + i];
      const int q = nib | (((qh >> (2 * g)) & 3) << 4);
      const int8_t sc = static_cast<int8_t>(m.sc[blk * 16 + t * 4 + g]);
      const float d = half_to_float(m.d[blk]);
      return d * static_cast<float>(sc) * static_cast<float>(static_cast<int8_t>(q - 32));
    }
    default:
      return 0.0f;
  }
}

}  // namespace bb::cuda_bricks
