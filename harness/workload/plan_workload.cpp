#include "workload/plan_workload.h"

#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <stdexcept>

#include "model/ggml_types.h"

namespace bb::workload {
namespace {

using config::Brick;

const bb_tensor& model_tensor(const model::Qwen2Model& m, const std::string& name) {
  for (const bb_tensor& t : m.tensors)
    if (t.name && name == t.name) return t;
  throw std::invalid_argument(m.file->path() + ": no tensor '" + name + "'");
}

std::string blk(int32_t layer, const char* what) { return "blk." + std::to_string(layer) + "." + what; }

// Weight names of one set, in the ABI's order for the op (brick_abi.h, "Ops (bricks)").
std::vector<std::string> weight_names(const CellSpec& c, int32_t layer, const model::Qwen2Model& m) {
  switch (c.brick) {
    case Brick::Gemv:
      if (c.gemv_role == "output") return {m.dims.tied_embeddings ? "token_embd.weight" : "output.weight"};
      return {blk(layer, (c.gemv_role + ".weight").c_str())};
    case Brick::RmsNorm:
      return {blk(layer, "attn_norm.weight")};
    case Brick::Qkv:
      return {blk(layer, "attn_q.weight"), blk(layer, "attn_q.bias"),   blk(layer, "attn_k.weight"),
              blk(layer, "attn_k.bias"),   blk(layer, "attn_v.weight"), blk(layer, "attn_v.bias")};
    case Brick::OProj:
      return {blk(layer, "attn_output.weight")};
    case Brick::Ffn:
      return {blk(layer, "ffn_gate.weight"), blk(layer, "ffn_up.weight"), blk(layer, "ffn_down.weight")};
    case Brick::Layer:
      return {
          blk(layer, "attn_norm.weight"), blk(layer, "attn_q.weight"),      blk(layer, "attn_q.bias"),
          blk(layer, "attn_k.weight"),    blk(layer, "attn_k.bias"),        blk(layer, "attn_v.weight"),
          blk(layer, "attn_v.bias"),      blk(layer, "attn_output.weight"), blk(layer, "ffn_norm.weight"),
          blk(layer, "ffn_gate.weight"),  blk(layer, "ffn_up.weight"),      blk(layer, "ffn_down.weight")};
    default:
      return {};
  }
}

uint64_t mix(uint64_t a, uint64_t b) {  // splitmix64 of a combination: independent streams per use
  uint64_t z = a + 0x9e3779b97f4a7c15ULL * (b + 1);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

uint64_t hash_id(const std::string& s) {
  uint64_t h = 1469598103934665603ULL;  // FNV-1a 64
  for (unsigned char ch : s) h = (h ^ ch) * 1099511628211ULL;
  return h;
}

bb_tensor make_tensor(const char* name, int32_t type, const std::vector<int64_t>& shape) {
  bb_tensor t{};
  t.struct_size = sizeof(bb_tensor);
  t.device_type = BB_DEVICE_CPU;
  t.ndim = static_cast<int32_t>(shape.size());
  t.type = type;
  int64_t n = 1;
  for (size_t i = 0; i < shape.size(); ++i) {
    t.shape[i] = shape[i];
    n *= shape[i];
  }
  t.nbytes = model::ggml_row_bytes(type, n).value_or(0);
  t.name = name;
  return t;
}

}  // namespace

std::vector<float> random_floats(size_t n, uint64_t seed, float lo, float hi) {
  std::mt19937_64 rng(seed);
  std::vector<float> v(n);
  const double scale = (static_cast<double>(hi) - lo) / 18446744073709551616.0;  // 2^64
  for (auto& x : v) {
    float f;
    do {
      f = static_cast<float>(lo + scale * static_cast<double>(rng()));
    } while (f == 0.0f || f >= hi);
    x = f;
  }
  return v;
}

uint16_t f32_to_f16(float f) {
  uint32_t x;
  std::memcpy(&x, &f, 4);
  const uint32_t sign = (x >> 16) & 0x8000u;
  const uint32_t exp = (x >> 23) & 0xffu;
  uint32_t man = x & 0x7fffffu;
  if (exp == 0xff) return static_cast<uint16_t>(sign | 0x7c00u | (man ? 0x200u : 0));  // inf / nan
  int32_t e = static_cast<int32_t>(exp) - 127 + 15;
  if (e >= 31) return static_cast<uint16_t>(sign | 0x7c00u);  // overflow -> inf
  if (e <= 0) {                                               // subnormal or zero
    if (e < -10) return static_cast<uint16_t>(sign);
    man |= 0x800000u;
    const uint32_t shift = static_cast<uint32_t>(14 - e);
    uint32_t half = man >> shift;
    const uint32_t rem = man & ((1u << shift) - 1), mid = 1u << (shift - 1);
    if (rem > mid || (rem == mid && (half & 1))) ++half;
    return static_cast<uint16_t>(sign | half);
  }
  uint32_t half = (static_cast<uint32_t>(e) << 10) | (man >> 13);
  const uint32_t rem = man & 0x1fffu;
  if (rem > 0x1000u || (rem == 0x1000u && (half & 1))) ++half;  // may carry into the exponent: correct
  return static_cast<uint16_t>(sign | half);
}

std::vector<float> kv_history(uint64_t seed, int32_t layer, bool is_v, int32_t n_rows, int32_t row_width) {
  return random_floats(static_cast<size_t>(n_rows) * static_cast<size_t>(row_width),
                       mix(mix(seed, 0x6b76ULL), static_cast<uint64_t>(layer) * 2 + (is_v ? 1 : 0)));
}

namespace {

// KV rows as the input's bytes: F16 (IEEE half, rounded) or F32.
std::vector<uint8_t> kv_bytes(const std::vector<float>& v, int32_t kv_type) {
  if (kv_type == BB_TYPE_F16) {
    std::vector<uint8_t> bytes(v.size() * 2);
    for (size_t i = 0; i < v.size(); ++i) {
      uint16_t h = f32_to_f16(v[i]);
      std::memcpy(bytes.data() + 2 * i, &h, 2);
    }
    return bytes;
  }
  std::vector<uint8_t> bytes(v.size() * 4);
  std::memcpy(bytes.data(), v.data(), bytes.size());
  return bytes;
}

// The copy's seeded source bytes (no zero byte, so a copy that wrote nothing is seen).
std::vector<uint8_t> copy_source(int64_t n, uint64_t seed) {
  std::vector<uint8_t> bytes(static_cast<size_t>(n));
  std::mt19937_64 rng(seed);
  for (size_t i = 0; i + 8 <= bytes.size(); i += 8) {
    uint64_t r = rng() | 0x0101010101010101ULL;  // no zero bytes
    std::memcpy(bytes.data() + i, &r, 8);
  }
  return bytes;
}

}  // namespace

PlanWorkload::PlanWorkload(const model::Qwen2Model& m, const CellSpec& c, uint64_t seed) : dims_(m.dims) {
  const bb_model_dims& d = dims_;
  const int64_t E = d.n_embd, H = int64_t(d.n_head) * d.head_dim, K = int64_t(d.n_head_kv) * d.head_dim;
  const uint64_t s = mix(seed, hash_id(c.id));

  // Weights: one set per rotated layer (the LM head gemv has a single set).
  std::vector<int32_t> sets = c.layers;
  if (sets.empty()) sets.push_back(0);
  int32_t per_set = 0;
  for (int32_t layer : sets) {
    auto names = weight_names(c, layer, m);
    per_set = static_cast<int32_t>(names.size());
    for (const auto& n : names) weights_.push_back(model_tensor(m, n));
  }
  if (per_set == 0) sets.assign(1, 0);

  const int32_t kv_type = c.kv_type == BB_TYPE_F16 ? BB_TYPE_F16 : BB_TYPE_F32;
  auto kv_input = [&](const char* name, bool is_v, int64_t rows) {
    auto v = kv_history(s, 0, is_v, static_cast<int32_t>(rows), static_cast<int32_t>(K));
    add_input(name, kv_type, {rows, K}, kv_bytes(v, kv_type));
  };
  auto pos_input = [&](int32_t pos) {
    std::vector<uint8_t> bytes(4);
    std::memcpy(bytes.data(), &pos, 4);
    add_input("pos", BB_TYPE_I32, {1}, std::move(bytes));
  };
  const int32_t ctx = c.context > 0 ? c.context : config::kDefaultContext;

  switch (c.brick) {
    case Brick::Copy: {
      add_input("src", BB_TYPE_I8, {c.copy_bytes}, copy_source(c.copy_bytes, s));
      add_output("dst", BB_TYPE_I8, {c.copy_bytes});
      break;
    }
    case Brick::Gemv:
      add_f32_input("x", {c.gemv_cols}, s);
      add_output("y", BB_TYPE_F32, {c.gemv_rows});
      break;
    case Brick::RmsNorm:
      add_f32_input("x", {E}, s);
      add_output("y", BB_TYPE_F32, {E});
      break;
    case Brick::Qkv:
      add_f32_input("x", {E}, s);
      add_output("q", BB_TYPE_F32, {H});
      add_output("k", BB_TYPE_F32, {K});
      add_output("v", BB_TYPE_F32, {K});
      break;
    case Brick::Rope:
      add_f32_input("q", {H}, s);
      add_f32_input("k", {K}, mix(s, 1));
      pos_input(ctx - 1);
      add_output("q_rot", BB_TYPE_F32, {H});
      add_output("k_rot", BB_TYPE_F32, {K});
      break;
    case Brick::Attention:
      add_f32_input("q", {H}, s);
      kv_input("k_cache", false, ctx);
      kv_input("v_cache", true, ctx);
      add_output("o", BB_TYPE_F32, {H});
      break;
    case Brick::OProj:
      add_f32_input("a", {H}, s);
      add_output("y", BB_TYPE_F32, {E});
      break;
    case Brick::Ffn:
      add_f32_input("x", {E}, s);
      add_output("y", BB_TYPE_F32, {E});
      break;
    case Brick::Layer:
      add_f32_input("x", {E}, s);
      pos_input(ctx - 1);
      kv_input("k_cache", false, ctx);
      kv_input("v_cache", true, ctx);
      add_output("y", BB_TYPE_F32, {E});
      break;
    default:
      throw std::invalid_argument("cell " + c.id + ": " + std::string(config::brick_name(c.brick)) +
                                  " runs through a model session, not a plan");
  }

  desc_.struct_size = sizeof(bb_plan_desc);
  desc_.op = static_cast<int32_t>(config::brick_op(c.brick));
  desc_.n_weight_sets = static_cast<int32_t>(sets.size());
  desc_.n_weights_per_set = per_set;
  desc_.n_inputs = static_cast<int32_t>(inputs_.size());
  desc_.n_outputs = static_cast<int32_t>(outputs_.size());
  desc_.dims = &dims_;
  desc_.weights = weights_.empty() ? nullptr : weights_.data();
  desc_.inputs = inputs_.data();
  desc_.outputs = outputs_.data();
}

void PlanWorkload::add_input(const char* name, int32_t type, std::vector<int64_t> shape,
                             std::vector<uint8_t> bytes) {
  input_storage_.push_back(std::move(bytes));
  bb_tensor t = make_tensor(name, type, shape);
  t.data = input_storage_.back().data();
  t.nbytes = input_storage_.back().size();
  inputs_.push_back(t);
  // input_storage_ may have reallocated: its vectors moved, but their heap buffers did not.
}

void PlanWorkload::add_f32_input(const char* name, std::vector<int64_t> shape, uint64_t seed, float lo,
                                 float hi) {
  int64_t n = 1;
  for (int64_t x : shape) n *= x;
  auto v = random_floats(static_cast<size_t>(n), seed, lo, hi);
  std::vector<uint8_t> bytes(v.size() * 4);
  std::memcpy(bytes.data(), v.data(), bytes.size());
  add_input(name, BB_TYPE_F32, std::move(shape), std::move(bytes));
}

void PlanWorkload::add_output(const char* name, int32_t type, std::vector<int64_t> shape) {
  outputs_.push_back(make_tensor(name, type, shape));
}

PlanWorkload::OutputBuffers PlanWorkload::poisoned_outputs() const {
  OutputBuffers o;
  o.data.resize(outputs_.size());
  o.bytes.resize(outputs_.size());
  for (size_t i = 0; i < outputs_.size(); ++i) {
    bb_tensor t = outputs_[i];
    if (t.type == BB_TYPE_F32) {
      o.data[i].assign(t.nbytes / 4, std::numeric_limits<float>::quiet_NaN());
      t.data = o.data[i].data();
    } else {
      o.bytes[i].assign(t.nbytes, 0xA5);  // a pattern the inputs (no zero bytes, random) rarely repeat
      t.data = o.bytes[i].data();
    }
    o.tensors.push_back(t);
  }
  return o;
}

}  // namespace bb::workload
