#include "model/qwen2_model.h"

#include <cstdio>
#include <limits>
#include <map>
#include <sstream>

#include "model/ggml_types.h"

namespace bb::model {
namespace {

constexpr GgmlType kSupportedWeightTypes[] = {GgmlType::F32,  GgmlType::F16,  GgmlType::BF16,
                                              GgmlType::Q8_0, GgmlType::Q5_0, GgmlType::Q4_0,
                                              GgmlType::Q4_K, GgmlType::Q5_K, GgmlType::Q6_K};

std::string supported_type_list() {
  std::string s;
  for (auto t : kSupportedWeightTypes) s += (s.empty() ? "" : ", ") + ggml_type_name(static_cast<int32_t>(t));
  return s;
}

bool is_supported_weight_type(int32_t type) {
  for (auto t : kSupportedWeightTypes)
    if (static_cast<int32_t>(t) == type) return true;
  return false;
}

std::string ne_string(const std::vector<int64_t>& ne) {
  std::string s = "[";
  for (size_t i = 0; i < ne.size(); ++i) s += (i ? ", " : "") + std::to_string(ne[i]);
  return s + "]";
}

int32_t positive_int32(const GgufFile& f, const std::string& key, int64_t v) {
  if (v <= 0 || v > std::numeric_limits<int32_t>::max())
    throw GgufError(f.path() + ": metadata " + key + ": " + std::to_string(v) +
                    " is not a positive 32-bit count");
  return static_cast<int32_t>(v);
}

class TensorChecker {
 public:
  explicit TensorChecker(const GgufFile& f) : f_(f) {}

  // Checks presence, shape (GGUF order) and type; F32-only tensors are the 1-D norms and biases.
  void require(const std::string& name, std::vector<int64_t> ne, bool f32_only) const {
    const GgufTensorInfo* t = f_.find_tensor(name);
    if (!t) throw GgufError(f_.path() + ": tensor " + name + ": missing; a Qwen2 model needs it");
    check(*t, ne, f32_only);
  }

  void check(const GgufTensorInfo& t, const std::vector<int64_t>& ne, bool f32_only) const {
    if (t.ne != ne)
      throw GgufError(f_.path() + ": tensor " + t.name + ": shape ne " + ne_string(t.ne) + ", expected " +
                      ne_string(ne) + " from the qwen2.* dimensions");
    if (f32_only && t.type != static_cast<int32_t>(GgmlType::F32))
      throw GgufError(f_.path() + ": tensor " + t.name + ": type " + ggml_type_name(t.type) +
                      ", expected F32 for norms and biases");
    if (!is_supported_weight_type(t.type))
      throw GgufError(f_.path() + ": tensor " + t.name + ": type " + ggml_type_name(t.type) +
                      " is not supported (supported: " + supported_type_list() + ")");
  }

 private:
  const GgufFile& f_;
};

}  // namespace

bb_tensor to_bb_tensor(const GgufTensorInfo& t) {
  bb_tensor b{};
  b.struct_size = sizeof(bb_tensor);
  b.data = const_cast<uint8_t*>(t.data);  // the ABI's data is non-const; plugins must not write weights
  b.device_type = BB_DEVICE_CPU;
  b.device_id = 0;
  b.ndim = static_cast<int32_t>(t.ne.size());
  b.type = t.type;
  for (size_t i = 0; i < t.ne.size() && i < BB_MAX_DIMS; ++i) b.shape[i] = t.ne[t.ne.size() - 1 - i];
  b.nbytes = t.nbytes;
  b.name = t.name.c_str();
  return b;
}

const GgufTensorInfo& Qwen2Model::tensor(const std::string& name) const {
  const GgufTensorInfo* t = file ? file->find_tensor(name) : nullptr;
  if (!t)
    throw GgufError((file ? file->path() : std::string("(no file)")) + ": tensor " + name + ": missing");
  return *t;
}

Qwen2Model load_qwen2(const std::string& path) { return load_qwen2(GgufFile::open(path)); }

Qwen2Model load_qwen2(std::shared_ptr<GgufFile> file) {
  const GgufFile& f = *file;
  std::string arch = f.get_string("general.architecture");
  if (arch != "qwen2")
    throw GgufError(f.path() + ": metadata general.architecture: '" + arch +
                    "' is not a Qwen2 model (expected 'qwen2')");

  auto get = [&](const std::string& key) { return positive_int32(f, key, f.get_int(key)); };
  Qwen2Model m;
  bb_model_dims& d = m.dims;
  d.struct_size = sizeof(bb_model_dims);
  d.n_embd = get("qwen2.embedding_length");
  d.n_ff = get("qwen2.feed_forward_length");
  d.n_layer = get("qwen2.block_count");
  d.n_head = get("qwen2.attention.head_count");
  d.n_head_kv = get("qwen2.attention.head_count_kv");
  d.n_ctx_max = get("qwen2.context_length");
  d.rms_eps = f.get_float("qwen2.attention.layer_norm_rms_epsilon");
  d.rope_theta = f.get_float_opt("qwen2.rope.freq_base").value_or(10000.0);
  if (!(d.rms_eps > 0 && d.rms_eps < 1))
    throw GgufError(f.path() + ": metadata qwen2.attention.layer_norm_rms_epsilon: " +
                    std::to_string(d.rms_eps) + " is not in (0, 1)");
  if (!(d.rope_theta > 0))
    throw GgufError(f.path() + ": metadata qwen2.rope.freq_base: " + std::to_string(d.rope_theta) +
                    " is not positive");
  if (d.n_embd % d.n_head != 0)
    throw GgufError(f.path() + ": metadata qwen2.attention.head_count: embedding_length " +
                    std::to_string(d.n_embd) + " is not divisible by " + std::to_string(d.n_head) + " heads");
  if (d.n_head % d.n_head_kv != 0)
    throw GgufError(f.path() + ": metadata qwen2.attention.head_count_kv: " + std::to_string(d.n_head) +
                    " query heads are not a multiple of " + std::to_string(d.n_head_kv) + " KV heads");
  d.head_dim = d.n_embd / d.n_head;
  if (auto kl = f.get_int_opt("qwen2.attention.key_length"); kl && *kl != d.head_dim)
    throw GgufError(f.path() + ": metadata qwen2.attention.key_length: " + std::to_string(*kl) +
                    " differs from embedding_length / head_count = " + std::to_string(d.head_dim) +
                    " (such models are not supported)");

  const GgufTensorInfo* embd = f.find_tensor("token_embd.weight");
  if (!embd) throw GgufError(f.path() + ": tensor token_embd.weight: missing; a Qwen2 model needs it");
  if (auto v = f.get_int_opt("qwen2.vocab_size")) {
    d.n_vocab = positive_int32(f, "qwen2.vocab_size", *v);
  } else if (embd->ne.size() == 2) {
    d.n_vocab = positive_int32(f, "token_embd.weight ne[1]", embd->ne[1]);
  } else {
    throw GgufError(f.path() + ": tensor token_embd.weight: shape ne " + ne_string(embd->ne) +
                    " is not 2-D, and qwen2.vocab_size is absent");
  }
  const GgufTensorInfo* output = f.find_tensor("output.weight");
  d.tied_embeddings = output ? 0 : 1;

  const int64_t E = d.n_embd, F = d.n_ff, V = d.n_vocab;
  const int64_t H = int64_t{d.n_head} * d.head_dim, K = int64_t{d.n_head_kv} * d.head_dim;
  TensorChecker c(f);
  c.check(*embd, {E, V}, false);
  c.require("output_norm.weight", {E}, true);
  if (output) c.check(*output, {E, V}, false);
  for (int i = 0; i < d.n_layer; ++i) {
    std::string p = "blk." + std::to_string(i) + ".";
    c.require(p + "attn_norm.weight", {E}, true);
    c.require(p + "attn_q.weight", {E, H}, false);
    c.require(p + "attn_q.bias", {H}, true);
    c.require(p + "attn_k.weight", {E, K}, false);
    c.require(p + "attn_k.bias", {K}, true);
    c.require(p + "attn_v.weight", {E, K}, false);
    c.require(p + "attn_v.bias", {K}, true);
    c.require(p + "attn_output.weight", {H, E}, false);
    c.require(p + "ffn_norm.weight", {E}, true);
    c.require(p + "ffn_gate.weight", {E, F}, false);
    c.require(p + "ffn_up.weight", {E, F}, false);
    c.require(p + "ffn_down.weight", {F, E}, false);
  }

  m.synthetic = f.get_bool_opt("brickbench.synthetic").value_or(false);
  m.tensors.reserve(f.tensors().size());
  for (const auto& t : f.tensors()) m.tensors.push_back(to_bb_tensor(t));
  m.file = std::move(file);
  return m;
}

std::string Qwen2Model::describe() const {
  std::ostringstream o;
  const bb_model_dims& d = dims;
  std::string name =
      file ? printable(file->get_string_opt("general.name").value_or("(unnamed)")) : "(no file)";
  o << "model: " << name << " (qwen2" << (synthetic ? ", synthetic" : "") << ")\n";
  o << "  n_embd " << d.n_embd << ", n_ff " << d.n_ff << ", n_layer " << d.n_layer << ", n_head " << d.n_head
    << ", n_head_kv " << d.n_head_kv << ", head_dim " << d.head_dim << "\n";
  o << "  n_vocab " << d.n_vocab << ", n_ctx_max " << d.n_ctx_max << ", rms_eps " << d.rms_eps
    << ", rope_theta " << d.rope_theta << ", embeddings "
    << (d.tied_embeddings ? "tied (LM head = token_embd)" : "untied") << "\n";

  struct TypeTotal {
    int count = 0;
    uint64_t bytes = 0;
  };
  std::map<std::string, TypeTotal> by_type;
  uint64_t total = 0;
  int64_t params = 0;
  if (file)
    for (const auto& t : file->tensors()) {
      auto& tt = by_type[ggml_type_name(t.type)];
      ++tt.count;
      tt.bytes += t.nbytes;
      total += t.nbytes;
      params += t.n_elements();
    }
  char buf[160];
  std::snprintf(buf, sizeof(buf), "  tensors: %zu, %.1f MiB, %.3f B parameters\n", tensors.size(),
                static_cast<double>(total) / (1024.0 * 1024.0), static_cast<double>(params) / 1e9);
  o << buf;
  for (const auto& [type, tt] : by_type) {
    std::snprintf(buf, sizeof(buf), "    %-6s %5d tensors %10.1f MiB\n", type.c_str(), tt.count,
                  static_cast<double>(tt.bytes) / (1024.0 * 1024.0));
    o << buf;
  }
  return o.str();
}

}  // namespace bb::model
