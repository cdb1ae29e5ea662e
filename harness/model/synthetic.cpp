#include "model/synthetic.h"

#include <algorithm>
#include <atomic>
#include <cctype>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <filesystem>
#include <stdexcept>
#include <thread>

#include "model/ggml_types.h"
#include "model/gguf.h"
#include "model/qwen2_model.h"

namespace bb::model {
namespace {

// Dequantized weights get about this standard deviation (real Qwen2.5 matrices: 0.02 to 0.05), so a
// forward pass through every layer stays finite and the logits are spread, not degenerate.
constexpr double kWeightStd = 0.03;
constexpr uint64_t kParallelMinBytes = uint64_t{1} << 20;

// ---- random numbers: splitmix64 seeds one xoshiro256** stream per tensor row ---------------------
uint64_t splitmix64(uint64_t& state) {
  uint64_t z = (state += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

uint64_t fnv1a64(const std::string& s) {
  uint64_t h = 0xcbf29ce484222325ull;
  for (unsigned char c : s) h = (h ^ c) * 0x100000001b3ull;
  return h;
}

class Xoshiro256 {
 public:
  explicit Xoshiro256(uint64_t seed) {
    for (auto& w : s_) w = splitmix64(seed);
  }
  uint64_t next() {
    uint64_t result = rotl(s_[1] * 5, 7) * 9;
    uint64_t t = s_[1] << 17;
    s_[2] ^= s_[0];
    s_[3] ^= s_[1];
    s_[1] ^= s_[2];
    s_[0] ^= s_[3];
    s_[2] ^= t;
    s_[3] = rotl(s_[3], 45);
    return result;
  }
  double uniform() { return static_cast<double>(next() >> 11) * 0x1.0p-53; }                    // [0, 1)
  int uniform_int(int lo, int hi) { return lo + static_cast<int>(uniform() * (hi - lo + 1)); }  // [lo, hi]
  void bytes(uint8_t* dst, size_t n) {
    while (n >= 8) {
      uint64_t v = next();
      std::memcpy(dst, &v, 8);
      dst += 8;
      n -= 8;
    }
    if (n) {
      uint64_t v = next();
      std::memcpy(dst, &v, n);
    }
  }

 private:
  static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
  uint64_t s_[4];
};

// IEEE binary16, round to nearest even.
uint16_t fp32_to_fp16(float f) {
  uint32_t x;
  std::memcpy(&x, &f, 4);
  uint32_t sign = (x >> 16) & 0x8000;
  uint32_t mant = x & 0x7fffff;
  int32_t exp = static_cast<int32_t>((x >> 23) & 0xff);
  if (exp == 0xff) return static_cast<uint16_t>(sign | 0x7c00 | (mant ? 0x200 : 0));
  int32_t e = exp - 127 + 15;
  if (e >= 0x1f) return static_cast<uint16_t>(sign | 0x7c00);
  if (e <= 0) {
    if (e < -10) return static_cast<uint16_t>(sign);
    mant |= 0x800000;
    uint32_t shift = static_cast<uint32_t>(14 - e);
    uint32_t h = mant >> shift, rem = mant & ((1u << shift) - 1), half = 1u << (shift - 1);
    if (rem > half || (rem == half && (h & 1))) ++h;
    return static_cast<uint16_t>(sign | h);
  }
  uint32_t h = (static_cast<uint32_t>(e) << 10) | (mant >> 13), rem = mant & 0x1fff;
  if (rem > 0x1000 || (rem == 0x1000 && (h & 1))) ++h;  // a carry into the exponent is correct rounding
  return static_cast<uint16_t>(sign | h);
}

void put_f16(uint8_t* dst, double v) {
  uint16_t h = fp32_to_fp16(static_cast<float>(v));
  std::memcpy(dst, &h, 2);
}

// A per-block scale around `base`, so blocks differ as in a real file.
double jitter(Xoshiro256& rng, double base) { return base * (0.75 + 0.5 * rng.uniform()); }

// Standard deviation of a uniform integer on n consecutive values: sqrt((n^2 - 1) / 12).
double uniform_int_std(int n) { return std::sqrt((static_cast<double>(n) * n - 1.0) / 12.0); }

// Q4_K and Q5_K pack 8 six-bit (scale, min) pairs into 12 bytes (ggml's get_scale_min_k4 inverse).
void pack_scale_min_k4(uint8_t* q, const uint8_t* sc, const uint8_t* m) {
  std::memset(q, 0, 12);
  for (int j = 0; j < 8; ++j) {
    if (j < 4) {
      q[j] = sc[j];
      q[j + 4] = m[j];
    } else {
      q[j + 4] = static_cast<uint8_t>((sc[j] & 0xF) | ((m[j] & 0xF) << 4));
      q[j - 4] |= static_cast<uint8_t>((sc[j] >> 4) << 6);
      q[j] |= static_cast<uint8_t>((m[j] >> 4) << 6);
    }
  }
}

// Sub-block scales sc in [16, 63] and mins m so that d*sc*q - dmin*m is centred on zero:
// dmin = ratio * d, m = round(sc * centre / ratio), where centre is the mean quant value.
void k_scales(Xoshiro256& rng, double centre, double ratio, uint8_t* sc, uint8_t* m) {
  for (int j = 0; j < 8; ++j) {
    sc[j] = static_cast<uint8_t>(rng.uniform_int(16, 63));
    m[j] = static_cast<uint8_t>(std::min(63L, std::lround(sc[j] * centre / ratio)));
  }
}

// Random quants of Q4_0, Q5_0 and Q6_K span [-2^(b-1), 2^(b-1) - 1] around the zero point, so their
// mean is -0.5: summed over a row that is a common-mode direction every layer reinforces, and the
// logits come to depend on little but its sign. Moving the lowest quant to the zero point makes the
// values symmetric (mean 0), as real weights are.
void centre_q4_0(uint8_t* qs) {
  for (int j = 0; j < 16; ++j) {
    if ((qs[j] & 0x0F) == 0) qs[j] |= 0x08;
    if ((qs[j] & 0xF0) == 0) qs[j] |= 0x80;
  }
}

void centre_q5_0(uint8_t* qh_bytes, const uint8_t* qs) {
  uint32_t qh;
  std::memcpy(&qh, qh_bytes, 4);
  for (int j = 0; j < 16; ++j) {
    if ((qs[j] & 0x0F) == 0 && ((qh >> j) & 1) == 0) qh |= 1u << j;  // q = 16: value 0
    if ((qs[j] >> 4) == 0 && ((qh >> (j + 16)) & 1) == 0) qh |= 1u << (j + 16);
  }
  std::memcpy(qh_bytes, &qh, 4);
}

void centre_q6_k(const uint8_t* ql, uint8_t* qh) {
  for (int half = 0; half < 2; ++half, ql += 64, qh += 32)
    for (int l = 0; l < 32; ++l) {
      const uint8_t nibbles[4] = {static_cast<uint8_t>(ql[l] & 0xF), static_cast<uint8_t>(ql[l + 32] & 0xF),
                                  static_cast<uint8_t>(ql[l] >> 4), static_cast<uint8_t>(ql[l + 32] >> 4)};
      for (int k = 0; k < 4; ++k)
        if (nibbles[k] == 0 && ((qh[l] >> (2 * k)) & 3) == 0)
          qh[l] |= static_cast<uint8_t>(2 << (2 * k));  // q = 32
    }
}

enum class Role { kWeight, kNorm, kBias };

Role role_of(const std::string& name) {
  auto ends_with = [&](const char* suffix) {
    size_t n = std::strlen(suffix);
    return name.size() >= n && name.compare(name.size() - n, n, suffix) == 0;
  };
  if (ends_with("_norm.weight")) return Role::kNorm;
  if (ends_with(".bias")) return Role::kBias;
  return Role::kWeight;
}

// Plain value of an element of a float tensor: norms 1 +- 0.1, biases +- 0.02, weights uniform
// with kWeightStd.
double float_value(Role role, Xoshiro256& rng) {
  double u = 2.0 * rng.uniform() - 1.0;
  switch (role) {
    case Role::kNorm:
      return 1.0 + 0.1 * u;
    case Role::kBias:
      return 0.02 * u;
    case Role::kWeight:
      return kWeightStd * std::sqrt(3.0) * u;
  }
  return 0;
}

// One row of `row_elements` elements of the tensor's type, from rng.
void fill_row(GgmlType type, Role role, int64_t row_elements, Xoshiro256& rng, uint8_t* dst) {
  switch (type) {
    case GgmlType::F32:
      for (int64_t i = 0; i < row_elements; ++i) {
        float v = static_cast<float>(float_value(role, rng));
        std::memcpy(dst + 4 * i, &v, 4);
      }
      return;
    case GgmlType::F16:
      for (int64_t i = 0; i < row_elements; ++i) put_f16(dst + 2 * i, float_value(role, rng));
      return;
    case GgmlType::Q8_0: {  // d f16, qs int8[32]: x = d * q
      const double base = kWeightStd / uniform_int_std(255);
      for (int64_t b = 0; b < row_elements / 32; ++b, dst += 34) {
        put_f16(dst, jitter(rng, base));
        rng.bytes(dst + 2, 32);
        for (int i = 2; i < 34; ++i)
          if (dst[i] == 0x80) dst[i] = 0x81;  // ggml quantizes to [-127, 127]
      }
      return;
    }
    case GgmlType::Q4_0: {  // d f16, qs[16]: x = d * (q - 8)
      const double base = kWeightStd / uniform_int_std(16);
      for (int64_t b = 0; b < row_elements / 32; ++b, dst += 18) {
        put_f16(dst, jitter(rng, base));
        rng.bytes(dst + 2, 16);
        centre_q4_0(dst + 2);
      }
      return;
    }
    case GgmlType::Q5_0: {  // d f16, qh[4], qs[16]: x = d * (q - 16)
      const double base = kWeightStd / uniform_int_std(32);
      for (int64_t b = 0; b < row_elements / 32; ++b, dst += 22) {
        put_f16(dst, jitter(rng, base));
        rng.bytes(dst + 2, 20);
        centre_q5_0(dst + 2, dst + 6);
      }
      return;
    }
    case GgmlType::Q4_K: {            // d, dmin f16, scales[12], qs[128]: x = d * sc * q - dmin * m
      constexpr double kRatio = 8.0;  // dmin / d, so m = sc * 7.5 / 8 fits six bits
      const double base = kWeightStd / (uniform_int_std(16) * 39.5);
      for (int64_t b = 0; b < row_elements / 256; ++b, dst += 144) {
        double d = jitter(rng, base);
        put_f16(dst, d);
        put_f16(dst + 2, d * kRatio);
        uint8_t sc[8], m[8];
        k_scales(rng, 7.5, kRatio, sc, m);
        pack_scale_min_k4(dst + 4, sc, m);
        rng.bytes(dst + 16, 128);
      }
      return;
    }
    case GgmlType::Q5_K: {  // d, dmin f16, scales[12], qh[32], qs[128]
      constexpr double kRatio = 16.0;
      const double base = kWeightStd / (uniform_int_std(32) * 39.5);
      for (int64_t b = 0; b < row_elements / 256; ++b, dst += 176) {
        double d = jitter(rng, base);
        put_f16(dst, d);
        put_f16(dst + 2, d * kRatio);
        uint8_t sc[8], m[8];
        k_scales(rng, 15.5, kRatio, sc, m);
        pack_scale_min_k4(dst + 4, sc, m);
        rng.bytes(dst + 16, 160);
      }
      return;
    }
    case GgmlType::Q6_K: {  // ql[128], qh[64], scales int8[16], d f16: x = d * sc * (q - 32)
      const double base = kWeightStd / (uniform_int_std(64) * 14.0);
      for (int64_t b = 0; b < row_elements / 256; ++b, dst += 210) {
        rng.bytes(dst, 192);
        centre_q6_k(dst, dst + 128);
        for (int j = 0; j < 16; ++j) dst[192 + j] = static_cast<uint8_t>(rng.uniform_int(4, 24));
        put_f16(dst + 208, jitter(rng, base));
      }
      return;
    }
    default:
      throw std::invalid_argument("synthetic weights of type " + ggml_type_name(static_cast<int32_t>(type)) +
                                  " are not implemented");
  }
}

int resolve_threads(int threads) {
  if (threads > 0) return threads;
  unsigned hw = std::thread::hardware_concurrency();
  return hw ? static_cast<int>(hw) : 1;
}

const std::vector<std::string> kQuants = {"q4_k_m", "q8_0", "f16", "f32"};

uint32_t file_type_of(const std::string& quant) {  // llama_ftype
  if (quant == "f32") return 0;
  if (quant == "f16") return 1;
  if (quant == "q8_0") return 7;
  return 15;  // LLAMA_FTYPE_MOSTLY_Q4_K_M
}

std::string lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

}  // namespace

const std::vector<Qwen2Shape>& known_qwen2_shapes() {
  static const std::vector<Qwen2Shape> kShapes = {
      {"qwen2.5-coder-0.5b", 896, 4864, 24, 14, 2, 151936, true, 1e-6, 1e6, 32768},
      {"qwen2.5-coder-1.5b", 1536, 8960, 28, 12, 2, 151936, true, 1e-6, 1e6, 32768},
      {"qwen2.5-coder-3b", 2048, 11008, 36, 16, 2, 151936, true, 1e-6, 1e6, 32768},
      {"qwen2.5-coder-7b", 3584, 18944, 28, 28, 4, 152064, false, 1e-6, 1e6, 32768},
      {"qwen2.5-coder-32b", 5120, 27648, 64, 40, 8, 152064, false, 1e-6, 1e6, 32768},
  };
  return kShapes;
}

const Qwen2Shape& find_qwen2_shape(const std::string& name) {
  std::string n = lower(name);
  for (const auto& s : known_qwen2_shapes())
    if (s.name == n || s.name == "qwen2.5-coder-" + n) return s;  // "1.5b" is accepted for short
  std::string known;
  for (const auto& s : known_qwen2_shapes()) known += (known.empty() ? "" : ", ") + s.name;
  throw std::invalid_argument("unknown model '" + name + "'; known: " + known);
}

const std::vector<std::string>& known_synth_quants() { return kQuants; }

int32_t q4_k_m_type(const std::string& tensor_name, int64_t ne0, int n_layer, bool is_1d,
                    bool tied_embeddings) {
  if (is_1d) return static_cast<int32_t>(GgmlType::F32);
  GgmlType t = GgmlType::Q4_K;
  if (tensor_name == "output.weight" || (tied_embeddings && tensor_name == "token_embd.weight")) {
    t = GgmlType::Q6_K;
  } else if (tensor_name.rfind("blk.", 0) == 0) {
    bool more_bits_tensor = tensor_name.find(".attn_v.weight") != std::string::npos ||
                            tensor_name.find(".ffn_down.weight") != std::string::npos;
    if (more_bits_tensor) {
      int i = std::atoi(tensor_name.c_str() + 4);
      int n = n_layer;
      // llama.cpp's use_more_bits(i, n)
      if (i < n / 8 || i >= 7 * n / 8 || (i - n / 8) % 3 == 2) t = GgmlType::Q6_K;
    }
  }
  if (ne0 % 256 != 0) t = (t == GgmlType::Q6_K) ? GgmlType::Q8_0 : GgmlType::Q5_0;
  return static_cast<int32_t>(t);
}

std::vector<SynthTensor> synthetic_tensor_plan(const Qwen2Shape& s, const std::string& quant) {
  if (std::find(kQuants.begin(), kQuants.end(), quant) == kQuants.end()) {
    std::string known;
    for (const auto& q : kQuants) known += (known.empty() ? "" : ", ") + q;
    throw std::invalid_argument("unknown quant '" + quant + "'; known: " + known);
  }
  const int64_t E = s.n_embd, F = s.n_ff, V = s.n_vocab, hd = s.n_embd / s.n_head;
  const int64_t H = s.n_head * hd, K = s.n_head_kv * hd;
  std::vector<SynthTensor> plan;
  auto add = [&](const std::string& name, std::vector<int64_t> ne) {
    bool is_1d = ne.size() == 1;
    int32_t type = static_cast<int32_t>(GgmlType::F32);
    if (!is_1d) {
      if (quant == "q4_k_m")
        type = q4_k_m_type(name, ne[0], s.n_layer, false, s.tied);
      else if (quant == "q8_0")
        type = static_cast<int32_t>(GgmlType::Q8_0);
      else if (quant == "f16")
        type = static_cast<int32_t>(GgmlType::F16);
    }
    plan.push_back({name, type, std::move(ne)});
  };
  add("token_embd.weight", {E, V});
  for (int i = 0; i < s.n_layer; ++i) {
    std::string p = "blk." + std::to_string(i) + ".";
    // sorted by name within a layer, as llama.cpp's converter writes Qwen2 files
    add(p + "attn_k.bias", {K});
    add(p + "attn_k.weight", {E, K});
    add(p + "attn_norm.weight", {E});
    add(p + "attn_output.weight", {H, E});
    add(p + "attn_q.bias", {H});
    add(p + "attn_q.weight", {E, H});
    add(p + "attn_v.bias", {K});
    add(p + "attn_v.weight", {E, K});
    add(p + "ffn_down.weight", {F, E});
    add(p + "ffn_gate.weight", {E, F});
    add(p + "ffn_norm.weight", {E});
    add(p + "ffn_up.weight", {E, F});
  }
  add("output_norm.weight", {E});
  if (!s.tied) add("output.weight", {E, V});
  return plan;
}

void fill_synthetic_tensor(const SynthTensor& t, uint64_t seed, uint8_t* dst, int threads) {
  const int64_t row_elements = t.ne.at(0);
  int64_t n_rows = 1;
  for (size_t i = 1; i < t.ne.size(); ++i) n_rows *= t.ne[i];
  auto row_bytes = ggml_row_bytes(t.type, row_elements);
  if (!row_bytes)
    throw std::invalid_argument("synthetic tensor " + t.name + ": row of " + std::to_string(row_elements) +
                                " is not whole " + ggml_type_name(t.type) + " blocks");
  const GgmlType type = static_cast<GgmlType>(t.type);
  const Role role = role_of(t.name);
  uint64_t mix = seed;
  const uint64_t tensor_seed = splitmix64(mix) ^ fnv1a64(t.name);
  auto fill_rows = [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; ++r) {
      Xoshiro256 rng(tensor_seed + static_cast<uint64_t>(r) * 0xd1b54a32d192ed03ull);
      fill_row(type, role, row_elements, rng, dst + static_cast<uint64_t>(r) * *row_bytes);
    }
  };
  int n_threads = resolve_threads(threads);
  uint64_t total = *row_bytes * static_cast<uint64_t>(n_rows);
  if (n_threads <= 1 || n_rows < 2 || total < kParallelMinBytes) {
    fill_rows(0, n_rows);
    return;
  }
  n_threads = static_cast<int>(std::min<int64_t>(n_threads, n_rows));
  std::vector<std::thread> pool;
  std::exception_ptr error;
  std::atomic<bool> failed{false};
  for (int k = 0; k < n_threads; ++k) {
    int64_t begin = n_rows * k / n_threads, end = n_rows * (k + 1) / n_threads;
    pool.emplace_back([&, begin, end] {
      try {
        fill_rows(begin, end);
      } catch (...) {
        if (!failed.exchange(true)) error = std::current_exception();
      }
    });
  }
  for (auto& th : pool) th.join();
  if (error) std::rethrow_exception(error);
}

void write_synthetic_gguf(const SynthOptions& opt, const std::string& path) {
  const Qwen2Shape& s = find_qwen2_shape(opt.model);
  std::vector<SynthTensor> plan = synthetic_tensor_plan(s, opt.quant);
  const int threads = resolve_threads(opt.threads);

  GgufWriter w;
  auto u32 = [](int64_t v) { return GgufValue::of(static_cast<uint32_t>(v)); };
  w.add("general.architecture", GgufValue::of_string("qwen2"));
  w.add("general.name", GgufValue::of_string(s.name + " (brickbench synthetic, " + opt.quant + ", seed " +
                                             std::to_string(opt.seed) + ")"));
  w.add("general.file_type", u32(file_type_of(opt.quant)));
  w.add("general.quantization_version", u32(2));
  w.add("qwen2.context_length", u32(s.context_length));
  w.add("qwen2.embedding_length", u32(s.n_embd));
  w.add("qwen2.block_count", u32(s.n_layer));
  w.add("qwen2.feed_forward_length", u32(s.n_ff));
  w.add("qwen2.attention.head_count", u32(s.n_head));
  w.add("qwen2.attention.head_count_kv", u32(s.n_head_kv));
  w.add("qwen2.rope.freq_base", GgufValue::of(static_cast<float>(s.rope_theta)));
  w.add("qwen2.attention.layer_norm_rms_epsilon", GgufValue::of(static_cast<float>(s.rms_eps)));
  w.add("qwen2.vocab_size", u32(s.n_vocab));
  w.add("tokenizer.ggml.model", GgufValue::of_string("none"));
  w.add("brickbench.synthetic", GgufValue::of(true));
  w.add("brickbench.seed", GgufValue::of(static_cast<uint64_t>(opt.seed)));
  w.add("brickbench.synth_model", GgufValue::of_string(s.name));
  w.add("brickbench.synth_quant", GgufValue::of_string(opt.quant));

  uint64_t total_bytes = 0;
  for (const auto& t : plan)
    total_bytes += *ggml_row_bytes(t.type, t.ne[0]) * (t.ne.size() > 1 ? t.ne[1] : 1);
  auto done_bytes = std::make_shared<uint64_t>(0);
  auto last_decile = std::make_shared<int>(0);
  for (const auto& t : plan) {
    w.add_tensor(t.name, t.type, t.ne,
                 [t, seed = opt.seed, threads, &opt, total_bytes, done_bytes, last_decile](uint8_t* dst,
                                                                                           uint64_t nbytes) {
                   fill_synthetic_tensor(t, seed, dst, threads);
                   *done_bytes += nbytes;
                   int decile = static_cast<int>(10 * *done_bytes / std::max<uint64_t>(total_bytes, 1));
                   if (opt.show_progress && decile > *last_decile) {
                     *last_decile = decile;
                     std::fprintf(stderr, "  %d%%", decile * 10);
                     if (decile == 10) std::fprintf(stderr, "\n");
                     std::fflush(stderr);
                   }
                 });
  }
  w.write(path);
}

std::string cache_dir() {
  if (const char* d = std::getenv("BRICKBENCH_CACHE_DIR"); d && *d) return d;
  if (const char* x = std::getenv("XDG_CACHE_HOME"); x && *x) return std::string(x) + "/brickbench";
  if (const char* h = std::getenv("HOME"); h && *h) return std::string(h) + "/.cache/brickbench";
  throw std::runtime_error(
      "no cache directory: set BRICKBENCH_CACHE_DIR (or XDG_CACHE_HOME or HOME) to a writable directory");
}

std::string ensure_synthetic_model(const SynthOptions& opt) {
  const Qwen2Shape& s = find_qwen2_shape(opt.model);
  synthetic_tensor_plan(s, opt.quant);  // validates the quant before touching the disk
  std::filesystem::path dir = std::filesystem::path(cache_dir()) / "models";
  std::filesystem::path path =
      dir / (s.name + "." + opt.quant + ".seed" + std::to_string(opt.seed) + ".gguf");
  std::error_code ec;
  if (std::filesystem::exists(path, ec)) {
    try {
      Qwen2Model m = load_qwen2(path.string());
      const GgufFile& f = *m.file;
      if (f.get_string_opt("brickbench.synth_model") == s.name &&
          f.get_string_opt("brickbench.synth_quant") == opt.quant &&
          f.get_int_opt("brickbench.seed") == static_cast<int64_t>(opt.seed))
        return path.string();
      std::fprintf(stderr, "brickbench: cached %s was written for other options; re-synthesizing\n",
                   path.c_str());
    } catch (const GgufError& e) {
      std::fprintf(stderr, "brickbench: cached model unusable (%s); re-synthesizing\n", e.what());
    }
  }
  std::filesystem::create_directories(dir, ec);
  if (ec) throw std::runtime_error("cannot create cache directory " + dir.string() + ": " + ec.message());
  std::fprintf(stderr, "brickbench: synthesizing %s (%s, seed %llu) into %s (first use; cached after)\n",
               s.name.c_str(), opt.quant.c_str(), static_cast<unsigned long long>(opt.seed), path.c_str());
  auto t0 = std::chrono::steady_clock::now();
  SynthOptions o = opt;
  o.model = s.name;
  o.show_progress = true;
  write_synthetic_gguf(o, path.string());
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::fprintf(stderr, "brickbench: synthesized %s in %.1f s\n", path.c_str(), secs);
  return path.string();
}

}  // namespace bb::model
