// Dequantization of hand-built blocks of every supported type, with the expected values worked out
// by hand in the comments, and the fp16/bf16 conversions at their edges.
#include "dequant.h"

#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <cstring>
#include <vector>

namespace bb::scalar_ref {
namespace {

template <typename Block>
std::vector<float> dequant_blocks(int32_t type, const std::vector<Block>& blocks, int64_t per_block) {
  std::vector<uint8_t> bytes(blocks.size() * sizeof(Block));
  std::memcpy(bytes.data(), blocks.data(), bytes.size());
  std::vector<float> y(blocks.size() * static_cast<size_t>(per_block), std::nanf(""));
  dequantize_row(type, bytes.data(), y.data(), static_cast<int64_t>(y.size()));
  return y;
}

TEST(ScalarRefDequant, Q4_0) {
  // Block 0: d = 0.5 (fp16 0x3800). y[j] = ((qs[j] & 15) - 8) * d, y[j + 16] = ((qs[j] >> 4) - 8) * d.
  Q4_0Block b0{};
  b0.d = 0x3800;
  for (auto& q : b0.qs) q = 0x80;  // low 0 -> -8 * 0.5 = -4.0; high 8 -> 0.0
  b0.qs[0] = 0x9A;                 // low 10 -> 2 * 0.5 = 1.0 (y[0]); high 9 -> 0.5 (y[16])
  b0.qs[15] = 0xF0;                // low 0 -> -4.0 (y[15]); high 15 -> 7 * 0.5 = 3.5 (y[31])
  // Block 1: d = -2.0 (0xC000); every byte 0x3C: low 12 -> 4 * -2 = -8.0; high 3 -> -5 * -2 = 10.0.
  Q4_0Block b1{};
  b1.d = 0xC000;
  for (auto& q : b1.qs) q = 0x3C;
  const auto y = dequant_blocks(kTypeQ4_0, std::vector<Q4_0Block>{b0, b1}, 32);
  EXPECT_EQ(y[0], 1.0f);
  EXPECT_EQ(y[16], 0.5f);
  EXPECT_EQ(y[15], -4.0f);
  EXPECT_EQ(y[31], 3.5f);
  EXPECT_EQ(y[7], -4.0f);
  EXPECT_EQ(y[20], 0.0f);
  EXPECT_EQ(y[32], -8.0f);
  EXPECT_EQ(y[47], -8.0f);
  EXPECT_EQ(y[48], 10.0f);
  EXPECT_EQ(y[63], 10.0f);
}

TEST(ScalarRefDequant, Q5_0HighBits) {
  // d = 1.0 (0x3C00). qh (little-endian u32) = 0x80010001: bits 0, 16 and 31.
  // Element j < 16: (qs[j] & 15) | (bit j of qh) << 4, minus 16; element j + 16: (qs[j] >> 4) | (bit j+16)
  // << 4.
  Q5_0Block b{};
  b.d = 0x3C00;
  const uint8_t qh[4] = {0x01, 0x00, 0x01, 0x80};
  std::memcpy(b.qh, qh, 4);
  b.qs[0] = 0x21;   // y[0] = (1 | 16) - 16 = 1; y[16] = (2 | 16) - 16 = 2
  b.qs[15] = 0xF3;  // y[15] = 3 - 16 = -13 (bit 15 clear); y[31] = (15 | 16) - 16 = 15 (bit 31 set)
  b.qs[5] = 0x00;   // y[5] = -16, y[21] = -16
  const auto y = dequant_blocks(kTypeQ5_0, std::vector<Q5_0Block>{b}, 32);
  EXPECT_EQ(y[0], 1.0f);
  EXPECT_EQ(y[16], 2.0f);
  EXPECT_EQ(y[15], -13.0f);
  EXPECT_EQ(y[31], 15.0f);
  EXPECT_EQ(y[5], -16.0f);
  EXPECT_EQ(y[21], -16.0f);
}

TEST(ScalarRefDequant, Q8_0) {
  // d = 0.25 (0x3400): y = q * 0.25.
  Q8_0Block b{};
  b.d = 0x3400;
  for (auto& q : b.qs) q = 4;  // 1.0
  b.qs[0] = -128;              // -32.0
  b.qs[1] = 127;               // 31.75
  b.qs[2] = -1;                // -0.25
  Q8_0Block b1{};
  b1.d = 0x3C00;  // 1.0
  for (int j = 0; j < 32; ++j) b1.qs[j] = static_cast<int8_t>(j - 16);
  const auto y = dequant_blocks(kTypeQ8_0, std::vector<Q8_0Block>{b, b1}, 32);
  EXPECT_EQ(y[0], -32.0f);
  EXPECT_EQ(y[1], 31.75f);
  EXPECT_EQ(y[2], -0.25f);
  EXPECT_EQ(y[31], 1.0f);
  EXPECT_EQ(y[32], -16.0f);
  EXPECT_EQ(y[63], 15.0f);
}

// The 12 scale bytes of a Q4_K/Q5_K block for sub-block scales sc = {1, 2, 3, 4, 17, 33, 63, 5} and
// mins m = {0, 1, 2, 3, 20, 40, 63, 7}, packed as ggml does:
//   j < 4: scales[j] = sc[j] | (sc[j+4] >> 4) << 6;  scales[j+4] = m[j] | (m[j+4] >> 4) << 6;
//          scales[j+8] = (sc[j+4] & 15) | (m[j+4] & 15) << 4.
// scales[0] = 1 | 1<<6 = 0x41, [1] = 2 | 2<<6 = 0x82, [2] = 3 | 3<<6 = 0xC3, [3] = 4 | 0 = 0x04,
// [4] = 0 | 1<<6 = 0x40, [5] = 1 | 2<<6 = 0x81, [6] = 2 | 3<<6 = 0xC2, [7] = 3 | 0 = 0x03,
// [8] = 1 | 4<<4 = 0x41, [9] = 1 | 8<<4 = 0x81, [10] = 15 | 15<<4 = 0xFF, [11] = 5 | 7<<4 = 0x75.
constexpr uint8_t kKScales[12] = {0x41, 0x82, 0xC3, 0x04, 0x40, 0x81, 0xC2, 0x03, 0x41, 0x81, 0xFF, 0x75};

TEST(ScalarRefDequant, GetScaleMinK4) {
  const uint8_t sc[8] = {1, 2, 3, 4, 17, 33, 63, 5};
  const uint8_t mn[8] = {0, 1, 2, 3, 20, 40, 63, 7};
  for (int j = 0; j < 8; ++j) {
    uint8_t d, m;
    get_scale_min_k4(j, kKScales, &d, &m);
    EXPECT_EQ(d, sc[j]) << "sub-block " << j;
    EXPECT_EQ(m, mn[j]) << "sub-block " << j;
  }
}

TEST(ScalarRefDequant, Q4_K) {
  // d = 1.0 (0x3C00), dmin = 0.5 (0x3800); y = d*sc * q - dmin*m per 32-element sub-block.
  // 64-element chunk c reads qs[32c .. 32c+31]: low nibbles -> sub-block 2c, high -> 2c+1.
  Q4KBlock b{};
  b.d = 0x3C00;
  b.dmin = 0x3800;
  std::memcpy(b.scales, kKScales, 12);
  b.qs[0] = 0x3F;    // y[0]   = 1*15 - 0.5*0 = 15;      y[32]  = 2*3 - 0.5*1 = 5.5
  b.qs[69] = 0x92;   // y[133] = 17*2 - 0.5*20 = 24;     y[165] = 33*9 - 0.5*40 = 277
  b.qs[127] = 0xF1;  // y[223] = 63*1 - 0.5*63 = 31.5;   y[255] = 5*15 - 0.5*7 = 71.5
  const auto y = dequant_blocks(kTypeQ4_K, std::vector<Q4KBlock>{b}, 256);
  EXPECT_EQ(y[0], 15.0f);
  EXPECT_EQ(y[32], 5.5f);
  EXPECT_EQ(y[133], 24.0f);
  EXPECT_EQ(y[165], 277.0f);
  EXPECT_EQ(y[223], 31.5f);
  EXPECT_EQ(y[255], 71.5f);
  // zero quants leave -dmin*m: sub-block 2 (m 2) -> -1, 3 (m 3) -> -1.5, 4 (m 20) -> -10, 6 (m 63) -> -31.5
  EXPECT_EQ(y[64], -1.0f);
  EXPECT_EQ(y[100], -1.5f);
  EXPECT_EQ(y[150], -10.0f);
  EXPECT_EQ(y[200], -31.5f);
  EXPECT_EQ(y[1], 0.0f);  // sub-block 0 has m = 0
}

TEST(ScalarRefDequant, Q5_K) {
  // As Q4_K, plus a 5th bit: chunk c adds 16 to low-nibble element l when qh[l] bit 2c is set and
  // to high-nibble element l when bit 2c+1 is set.
  Q5KBlock b{};
  b.d = 0x3C00;
  b.dmin = 0x3800;
  std::memcpy(b.scales, kKScales, 12);
  b.qs[0] = 0x3F;
  b.qs[69] = 0x92;
  b.qs[127] = 0xF1;
  b.qh[0] = 0x01;  // chunk 0 low, l = 0:  y[0]   = 1*(15+16) - 0 = 31 (y[32] keeps 5.5: bit 1 clear)
  b.qh[5] = 0x20;  // chunk 2 high, l = 5: y[165] = 33*(9+16) - 20 = 805 (y[133] keeps 24: bit 4 clear)
  b.qh[31] =
      0xC0;  // chunk 3, l = 31:     y[223] = 63*(1+16) - 31.5 = 1039.5; y[255] = 5*(15+16) - 3.5 = 151.5
  const auto y = dequant_blocks(kTypeQ5_K, std::vector<Q5KBlock>{b}, 256);
  EXPECT_EQ(y[0], 31.0f);
  EXPECT_EQ(y[32], 5.5f);
  EXPECT_EQ(y[133], 24.0f);
  EXPECT_EQ(y[165], 805.0f);
  EXPECT_EQ(y[223], 1039.5f);
  EXPECT_EQ(y[255], 151.5f);
  EXPECT_EQ(y[64], -1.0f);
}

TEST(ScalarRefDequant, Q6_K) {
  // d = 0.5 (0x3800); y = d * sc * (q - 32), q = 4 bits of ql | 2 bits of qh << 4, int8 scales per 16.
  // Per 128-element half: element l (<32) of quarter k reads ql[l + 32*(k&1)] (low nibble for k<2,
  // high for k>=2), qh[l] bits 2k..2k+1, scale sc[l/16 + 2k]; the second half moves ql by 64,
  // qh by 32, sc by 8.
  Q6KBlock b{};
  b.d = 0x3800;
  const int8_t sc[16] = {1, -2, 3, -4, 5, -6, 7, -8, 10, -10, 20, -20, 30, -30, 127, -128};
  std::memcpy(b.scales, sc, 16);
  b.ql[0] = 0xF5;  // low 5, high 15
  b.qh[0] = 0xE4;  // bit pairs (lsb first) 0, 1, 2, 3
  // y[0]  = 0.5 * sc[0]=1 * ((5 | 0<<4) - 32 = -27)      = -13.5
  // y[32] = 0.5 * sc[2]=3 * ((0 | 1<<4) - 32 = -16)      = -24
  // y[64] = 0.5 * sc[4]=5 * ((15 | 2<<4) - 32 = 15)      = 37.5
  // y[96] = 0.5 * sc[6]=7 * ((0 | 3<<4) - 32 = 16)       = 56
  b.ql[17] = 0x0A;  // y[17] = 0.5 * sc[1]=-2 * (10 - 32 = -22) = 22
  b.ql[95] = 0x3F;  // second half, l = 31 (sc offset 8, l/16 = 1):
  b.qh[63] = 0x03;  // y[159] = 0.5 * sc[9]=-10 * ((15 | 3<<4) - 32 = 31) = -155
                    // y[223] = 0.5 * sc[13]=-30 * ((3 | 0) - 32 = -29)   = 435
  // untouched: y[200] (second half, quarter 2, l = 8) = 0.5 * sc[12]=30 * -32 = -480
  //            y[255] (second half, quarter 3, l = 31) = 0.5 * sc[15]=-128 * -32 = 2048
  const auto y = dequant_blocks(kTypeQ6_K, std::vector<Q6KBlock>{b}, 256);
  EXPECT_EQ(y[0], -13.5f);
  EXPECT_EQ(y[32], -24.0f);
  EXPECT_EQ(y[64], 37.5f);
  EXPECT_EQ(y[96], 56.0f);
  EXPECT_EQ(y[17], 22.0f);
  EXPECT_EQ(y[159], -155.0f);
  EXPECT_EQ(y[223], 435.0f);
  EXPECT_EQ(y[200], -480.0f);
  EXPECT_EQ(y[255], 2048.0f);
}

TEST(ScalarRefDequant, F16AndBF16Rows) {
  const uint16_t h[4] = {0x3C00, 0xC000, 0x0001, 0x7BFF};  // 1, -2, 2^-24, 65504
  std::vector<float> y(4);
  dequantize_row(kTypeF16, h, y.data(), 4);
  EXPECT_EQ(y[0], 1.0f);
  EXPECT_EQ(y[1], -2.0f);
  EXPECT_EQ(y[2], std::ldexp(1.0f, -24));
  EXPECT_EQ(y[3], 65504.0f);
  const uint16_t b[3] = {0x3F80, 0xC0A0, 0x7F80};  // 1, -5, +inf
  dequantize_row(kTypeBF16, b, y.data(), 3);
  EXPECT_EQ(y[0], 1.0f);
  EXPECT_EQ(y[1], -5.0f);
  EXPECT_TRUE(std::isinf(y[2]) && y[2] > 0);
  const float f[2] = {-0.0f, 3.25f};
  dequantize_row(kTypeF32, f, y.data(), 2);
  EXPECT_TRUE(std::signbit(y[0]) && y[0] == 0.0f);
  EXPECT_EQ(y[1], 3.25f);
}

TEST(ScalarRefDequant, Fp16ToFp32EveryValue) {
  for (uint32_t i = 0; i < 0x10000; ++i) {
    const auto h = static_cast<uint16_t>(i);
    const float f = fp16_to_fp32(h);
    const int exp = (h >> 10) & 31;
    const int mant = h & 1023;
    const double sign = (h & 0x8000) ? -1.0 : 1.0;
    if (exp == 31) {
      if (mant == 0) {
        EXPECT_TRUE(std::isinf(f) && std::signbit(f) == (sign < 0)) << std::hex << h;
      } else {
        EXPECT_TRUE(std::isnan(f)) << std::hex << h;
      }
      continue;
    }
    // value = mant * 2^-24 (subnormal) or (1024 + mant) * 2^(exp - 25)
    const double expect = exp == 0 ? sign * std::ldexp(mant, -24) : sign * std::ldexp(1024 + mant, exp - 25);
    ASSERT_EQ(static_cast<double>(f), expect) << std::hex << h;
    ASSERT_EQ(std::signbit(f), sign < 0) << std::hex << h;
    ASSERT_EQ(fp32_to_fp16(f), h) << "round trip of " << std::hex << h;
  }
  EXPECT_EQ(std::bit_cast<uint32_t>(fp16_to_fp32(0x8000)), 0x80000000u);  // -0
  EXPECT_EQ(fp16_to_fp32(0x03FF), std::ldexp(1023.0f, -24));              // largest subnormal
  EXPECT_EQ(fp16_to_fp32(0x0400), std::ldexp(1.0f, -14));                 // smallest normal
}

TEST(ScalarRefDequant, Fp32ToFp16RoundsToNearestEven) {
  // Exactly halfway between two halves goes to the even one; a float ulp either side goes to the nearer.
  for (uint32_t h = 0; h < 0x7BFF; ++h) {
    const double lo = fp16_to_fp32(static_cast<uint16_t>(h));
    const double hi = fp16_to_fp32(static_cast<uint16_t>(h + 1));
    const auto mid = static_cast<float>((lo + hi) / 2);  // exact: needs 12 significant bits
    ASSERT_EQ(static_cast<double>(mid), (lo + hi) / 2);
    const uint16_t even = (h & 1) ? static_cast<uint16_t>(h + 1) : static_cast<uint16_t>(h);
    ASSERT_EQ(fp32_to_fp16(mid), even) << std::hex << h;
    ASSERT_EQ(fp32_to_fp16(std::nextafter(mid, 0.0f)), h) << std::hex << h;
    ASSERT_EQ(fp32_to_fp16(std::nextafter(mid, 1e9f)), h + 1) << std::hex << h;
    ASSERT_EQ(fp32_to_fp16(-mid), even | 0x8000) << std::hex << h;
  }
  EXPECT_EQ(fp32_to_fp16(65519.99f), 0x7BFF);
  EXPECT_EQ(fp32_to_fp16(65520.0f), 0x7C00);  // the tie above 65504 rounds to even: infinity
  EXPECT_EQ(fp32_to_fp16(1e10f), 0x7C00);
  EXPECT_EQ(fp32_to_fp16(-INFINITY), 0xFC00);
  EXPECT_EQ(fp32_to_fp16(std::ldexp(1.0f, -25)), 0x0000);  // half of the smallest subnormal: tie to 0
  EXPECT_EQ(fp32_to_fp16(std::nextafter(std::ldexp(1.0f, -25), 1.0f)), 0x0001);
  EXPECT_EQ(fp32_to_fp16(1e-30f), 0x0000);
  EXPECT_EQ(fp32_to_fp16(-1e-30f), 0x8000);
  const uint16_t nan = fp32_to_fp16(std::nanf(""));
  EXPECT_EQ(nan & 0x7C00, 0x7C00);
  EXPECT_NE(nan & 0x03FF, 0);
}

TEST(ScalarRefDequant, RejectsUnsupportedTypesAndPartialBlocks) {
  std::vector<uint8_t> bytes(1024);
  std::vector<float> y(256);
  EXPECT_THROW(dequantize_row(10 /* Q2_K */, bytes.data(), y.data(), 256), std::invalid_argument);
  EXPECT_THROW(dequantize_row(kTypeQ4_K, bytes.data(), y.data(), 128), std::invalid_argument);
  EXPECT_FALSE(row_bytes(kTypeQ8_0, 48).has_value());
  EXPECT_EQ(row_bytes(kTypeQ8_0, 64).value(), 68u);
  EXPECT_EQ(row_bytes(kTypeQ6_K, 512).value(), 420u);
  EXPECT_EQ(type_name(10), "Q2_K");
  EXPECT_EQ(type_name(99), "type#99");
}

}  // namespace
}  // namespace bb::scalar_ref
