// Shared helpers of the scalar_ref tests: seeded random data (never zeros), valid random blocks of
// every supported type, host tensors, and the plugin loaded the way the host loads it (dlopen).
#pragma once

#include <gtest/gtest.h>

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <limits>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include "brickbench/brick_abi.h"
#include "dequant.h"
#include "ops.h"

namespace bb::scalar_ref::test {

inline constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();

// Uniform in [-scale, -scale/64] U [scale/64, scale]: random and never zero.
inline std::vector<float> random_floats(std::mt19937_64& rng, int64_t n, float scale = 1.0f) {
  std::uniform_real_distribution<float> mag(scale / 64, scale);
  std::bernoulli_distribution neg(0.5);
  std::vector<float> v(static_cast<size_t>(n));
  for (float& x : v) x = neg(rng) ? -mag(rng) : mag(rng);
  return v;
}

// A row of `cols` elements of `type` with random quants and sane, finite fp16 scales.
inline std::vector<uint8_t> random_row(std::mt19937_64& rng, int32_t type, int64_t cols) {
  const auto bytes = row_bytes(type, cols);
  if (!bytes) throw std::invalid_argument("random_row: bad type/cols");
  std::vector<uint8_t> row(*bytes);
  std::uniform_int_distribution<int> byte(0, 255);
  for (uint8_t& b : row) b = static_cast<uint8_t>(byte(rng));
  std::uniform_real_distribution<float> scale(0.002f, 0.02f);
  auto put_half = [&](size_t offset, float value) {
    const uint16_t h = fp32_to_fp16(value);
    std::memcpy(row.data() + offset, &h, 2);
  };
  const int64_t n = cols;
  switch (type) {
    case kTypeF32: {
      const auto v = random_floats(rng, n, 0.1f);
      std::memcpy(row.data(), v.data(), v.size() * 4);
      break;
    }
    case kTypeF16:
      for (int64_t i = 0; i < n; ++i) put_half(2 * static_cast<size_t>(i), random_floats(rng, 1, 0.1f)[0]);
      break;
    case kTypeBF16:
      for (int64_t i = 0; i < n; ++i) {
        uint32_t bits;
        const float f = random_floats(rng, 1, 0.1f)[0];
        std::memcpy(&bits, &f, 4);
        const auto h = static_cast<uint16_t>(bits >> 16);
        std::memcpy(row.data() + 2 * i, &h, 2);
      }
      break;
    case kTypeQ4_0:
    case kTypeQ5_0:
    case kTypeQ8_0: {
      const size_t bb = type == kTypeQ4_0   ? sizeof(Q4_0Block)
                        : type == kTypeQ5_0 ? sizeof(Q5_0Block)
                                            : sizeof(Q8_0Block);
      for (size_t o = 0; o < row.size(); o += bb) put_half(o, scale(rng));
      break;
    }
    case kTypeQ4_K:
    case kTypeQ5_K: {
      const size_t bb = type == kTypeQ4_K ? sizeof(Q4KBlock) : sizeof(Q5KBlock);
      for (size_t o = 0; o < row.size(); o += bb) {
        put_half(o, scale(rng) / 8);
        put_half(o + 2, scale(rng) / 8);
      }
      break;
    }
    case kTypeQ6_K:
      for (size_t o = 0; o < row.size(); o += sizeof(Q6KBlock))
        put_half(o + offsetof(Q6KBlock, d), scale(rng) / 16);
      break;
    default:
      throw std::invalid_argument("random_row: type");
  }
  return row;
}

// A tensor the test owns; view() makes the ABI descriptor pointing at it.
struct HostTensor {
  int32_t type = BB_TYPE_F32;
  std::vector<int64_t> shape;
  std::vector<uint8_t> bytes;
  std::string name;

  bb_tensor view() const {
    bb_tensor t{};
    t.struct_size = sizeof(bb_tensor);
    t.data = bytes.empty() ? nullptr : const_cast<uint8_t*>(bytes.data());
    t.device_type = BB_DEVICE_CPU;
    t.ndim = static_cast<int32_t>(shape.size());
    t.type = type;
    for (size_t i = 0; i < shape.size(); ++i) t.shape[i] = shape[i];
    t.nbytes = bytes.size();
    t.name = name.empty() ? nullptr : name.c_str();
    return t;
  }
  float* f32() { return reinterpret_cast<float*>(bytes.data()); }
  const float* f32() const { return reinterpret_cast<const float*>(bytes.data()); }
  std::vector<float> floats() const {
    std::vector<float> v(bytes.size() / 4);
    std::memcpy(v.data(), bytes.data(), bytes.size());
    return v;
  }
  Matrix matrix() const {
    return Matrix::of(type, shape.size() == 2 ? shape[0] : 1, shape.back(), bytes.data());
  }
};

inline HostTensor f32_tensor(const std::vector<float>& v, std::vector<int64_t> shape, std::string name = "") {
  HostTensor t{BB_TYPE_F32, std::move(shape), std::vector<uint8_t>(v.size() * 4), std::move(name)};
  std::memcpy(t.bytes.data(), v.data(), t.bytes.size());
  return t;
}
inline HostTensor f32_random(std::mt19937_64& rng, std::vector<int64_t> shape, float scale = 1.0f,
                             std::string name = "") {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return f32_tensor(random_floats(rng, n, scale), std::move(shape), std::move(name));
}
inline HostTensor f32_poisoned(std::vector<int64_t> shape) {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return f32_tensor(std::vector<float>(static_cast<size_t>(n), kNaN), std::move(shape));
}
inline HostTensor i32_tensor(int32_t value) {
  HostTensor t{BB_TYPE_I32, {1}, std::vector<uint8_t>(4), ""};
  std::memcpy(t.bytes.data(), &value, 4);
  return t;
}
inline HostTensor weight_random(std::mt19937_64& rng, int32_t type, std::vector<int64_t> shape,
                                std::string name = "") {
  const int64_t rows = shape.size() == 2 ? shape[0] : 1;
  HostTensor t{type, std::move(shape), {}, std::move(name)};
  for (int64_t r = 0; r < rows; ++r) {
    const auto row = random_row(rng, type, t.shape.back());
    t.bytes.insert(t.bytes.end(), row.begin(), row.end());
  }
  return t;
}
// 1-D weights as a real GGUF stores them (F32), e.g. norms near 1 and small biases.
inline HostTensor norm_weight(std::mt19937_64& rng, int64_t n, std::string name = "") {
  auto v = random_floats(rng, n, 0.25f);
  for (float& x : v) x += 1.0f;
  return f32_tensor(v, {n}, std::move(name));
}

inline bool all_finite(const std::vector<float>& v) {
  for (float x : v) {
    if (!std::isfinite(x)) return false;
  }
  return true;
}

// Bitwise float equality (also tells -0 from +0, and NaN == NaN), reporting the first difference.
inline ::testing::AssertionResult same_bits(const std::vector<float>& a, const std::vector<float>& b) {
  if (a.size() != b.size()) {
    return ::testing::AssertionFailure() << "sizes " << a.size() << " vs " << b.size();
  }
  for (size_t i = 0; i < a.size(); ++i) {
    if (std::memcmp(&a[i], &b[i], 4) != 0) {
      return ::testing::AssertionFailure() << "first difference at " << i << ": " << a[i] << " vs " << b[i];
    }
  }
  return ::testing::AssertionSuccess();
}

inline bb_model_dims make_dims(int32_t n_embd, int32_t n_ff, int32_t n_head, int32_t n_head_kv,
                               int32_t head_dim, int32_t n_layer = 1, int32_t n_vocab = 1,
                               int32_t n_ctx_max = 64, bool tied = false) {
  bb_model_dims d{};
  d.struct_size = sizeof(d);
  d.n_embd = n_embd;
  d.n_ff = n_ff;
  d.n_head = n_head;
  d.n_head_kv = n_head_kv;
  d.head_dim = head_dim;
  d.n_layer = n_layer;
  d.n_vocab = n_vocab;
  d.n_ctx_max = n_ctx_max;
  d.rms_eps = 1e-6;
  d.rope_theta = 1e6;
  d.tied_embeddings = tied ? 1 : 0;
  return d;
}

inline LayerShape layer_shape(const bb_model_dims& d) {
  LayerShape s;
  s.n_embd = d.n_embd;
  s.n_ff = d.n_ff;
  s.n_head = d.n_head;
  s.n_head_kv = d.n_head_kv;
  s.head_dim = d.head_dim;
  s.rms_eps = d.rms_eps;
  s.rope_theta = d.rope_theta;
  return s;
}

}  // namespace bb::scalar_ref::test
