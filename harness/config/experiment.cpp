#include "config/experiment.h"

#include <yaml-cpp/depthguard.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <set>
#include <sstream>
#include <type_traits>
#include <utility>

#include "io/input_file.h"
#include "model/ggml_types.h"
#include "model/ollama_models.h"
#include "model/synthetic.h"

namespace bb::config {

ConfigError::ConfigError(std::string file, int line, int column, const std::string& message)
    : std::runtime_error(line > 0 ? file + ":" + std::to_string(line) + ":" + std::to_string(column) + ": " +
                                        message
                                  : file + ": " + message),
      file_(std::move(file)),
      line_(line),
      column_(column) {}

std::string_view order_name(Order o) { return o == Order::kSequential ? "sequential" : "interleaved"; }
std::string_view cache_state_name(CacheState c) { return c == CacheState::Warm ? "warm" : "cold"; }

std::string join(const std::vector<std::string>& items, const char* sep) {
  std::string out;
  for (const auto& s : items) out += (out.empty() ? "" : sep) + s;
  return out;
}

namespace {
// Levenshtein distance, for "did you mean" on typos.
size_t edit_distance(const std::string& a, const std::string& b) {
  std::vector<size_t> row(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    size_t diag = row[0];
    row[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      size_t up = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diag + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diag = up;
    }
  }
  return row[b.size()];
}

}  // namespace

std::string suggestion(const std::string& word, const std::vector<std::string>& known) {
  std::string best;
  size_t best_d = std::max<size_t>(2, word.size() / 3) + 1;
  for (const auto& k : known) {
    size_t d = edit_distance(word, k);
    if (word.size() >= 3 && k.rfind(word, 0) == 0) d = std::min<size_t>(d, 1);  // "budget" -> "budget_us"
    if (d < best_d) best_d = d, best = k;
  }
  return best.empty() ? "" : "did you mean '" + best + "'? ";
}

namespace {

namespace fs = std::filesystem;

std::string describe(const YAML::Node& n) {
  switch (n.Type()) {
    case YAML::NodeType::Scalar:
      return "'" + n.Scalar() + "'";
    case YAML::NodeType::Sequence:
      return "a list";
    case YAML::NodeType::Map:
      return "a mapping";
    case YAML::NodeType::Null:
      return "nothing";
    default:
      return "no value";
  }
}

std::string position(const YAML::Mark& m) {
  return std::to_string(m.line + 1) + ":" + std::to_string(m.column + 1);
}

struct Field {
  std::string key;
  YAML::Node key_node, value;
};

class Reader {
 public:
  Reader(std::string file, fs::path base_dir) : file_(std::move(file)), base_dir_(std::move(base_dir)) {}

  Experiment read(const YAML::Node& root);

 private:
  [[noreturn]] void fail(const YAML::Mark& m, const std::string& msg) const {
    if (m.is_null()) throw ConfigError(file_, 0, 0, msg);
    throw ConfigError(file_, m.line + 1, m.column + 1, msg);
  }
  [[noreturn]] void fail(const YAML::Node& n, const std::string& msg) const { fail(n.Mark(), msg); }

  // A mapping whose keys are all known (or accepted by extra), each once.
  std::vector<Field> fields(const YAML::Node& n, const std::string& where,
                            const std::vector<std::string>& known,
                            const std::function<bool(const std::string&)>& extra = {},
                            const std::string& extra_words = "") const {
    if (!n.IsMap()) fail(n, where + ": expected a mapping (key: value), got " + describe(n));
    std::vector<Field> out;
    std::map<std::string, size_t> seen;  // key -> index in out: duplicates found in n log n
    for (const auto& kv : n) {
      const YAML::Node k = kv.first;
      if (!k.IsScalar()) fail(k, where + ": keys must be plain words, got " + describe(k));
      std::string key = k.Scalar();
      if (auto it = seen.find(key); it != seen.end())
        fail(k, where + ": duplicate key '" + key + "' (first at " +
                    position(out[it->second].key_node.Mark()) + ")");
      seen.emplace(key, out.size());
      if (std::find(known.begin(), known.end(), key) == known.end() && !(extra && extra(key))) {
        std::string in = where == "top level" ? "at top level" : "in " + where;
        fail(k, "unknown key '" + key + "' " + in + "; " + suggestion(key, known) + "known: " + join(known) +
                    extra_words);
      }
      out.push_back({key, k, kv.second});
    }
    return out;
  }

  static const Field* find(const std::vector<Field>& fs, const std::string& key) {
    for (const Field& f : fs)
      if (f.key == key) return &f;
    return nullptr;
  }

  double number(const YAML::Node& v, const std::string& path, const std::string& expected,
                const std::function<bool(double)>& ok) const {
    double x = 0;
    bool parsed = v.IsScalar();
    if (parsed) {
      try {
        x = v.as<double>();
      } catch (const YAML::Exception&) {
        parsed = false;
      }
    }
    if (!parsed || !std::isfinite(x) || !ok(x))
      fail(v, path + ": expected " + expected + ", got " + describe(v));
    return x;
  }

  int64_t integer(const YAML::Node& v, const std::string& path, int64_t lo, int64_t hi,
                  const std::string& expected) const {
    int64_t x = 0;
    bool parsed = v.IsScalar();
    if (parsed) {
      try {
        x = v.as<int64_t>();
      } catch (const YAML::Exception&) {
        parsed = false;
      }
    }
    if (!parsed || x < lo || x > hi) fail(v, path + ": expected " + expected + ", got " + describe(v));
    return x;
  }

  // A protocol setting of the table (measure::for_each_cappable_setting), checked against its range.
  template <class T>
  T setting_value(const YAML::Node& v, const std::string& path, const measure::SettingRange& r) const {
    if constexpr (std::is_integral_v<T>) {
      return integer(v, path, static_cast<int64_t>(r.lo) + (r.lo_open ? 1 : 0),
                     static_cast<int64_t>(r.hi) - (r.hi_open ? 1 : 0), r.expected);
    } else {
      return number(v, path, r.expected, [&](double d) { return r.contains(d); });
    }
  }

  // The keys a block accepts: the table's cappable settings and `others`.
  static std::vector<std::string> with_cappable_keys(const std::vector<std::string>& others) {
    std::vector<std::string> keys;
    measure::for_each_cappable_setting(
        [&](const char* key, const measure::SettingRange&, auto, auto) { keys.emplace_back(key); });
    keys.insert(keys.end(), others.begin(), others.end());
    return keys;
  }

  bool boolean(const YAML::Node& v, const std::string& path) const {
    bool b = false;
    bool parsed = v.IsScalar();
    if (parsed) {
      try {
        b = v.as<bool>();
      } catch (const YAML::Exception&) {
        parsed = false;
      }
    }
    if (!parsed) fail(v, path + ": expected true or false, got " + describe(v));
    return b;
  }

  std::string text(const YAML::Node& v, const std::string& path,
                   const std::string& expected = "a string") const {
    if (!v.IsScalar() || v.Scalar().empty())
      fail(v, path + ": expected " + expected + ", got " + describe(v));
    return v.Scalar();
  }

  std::string one_of(const YAML::Node& v, const std::string& path,
                     const std::vector<std::string>& accepted) const {
    std::string s = v.IsScalar() ? v.Scalar() : "";
    if (std::find(accepted.begin(), accepted.end(), s) == accepted.end())
      fail(v, path + ": expected one of " + join(accepted) + ", got " + describe(v) +
                  (s.empty() ? "" : "; " + suggestion(s, accepted)));
    return s;
  }

  std::string backend_name(const YAML::Node& v, const std::string& path) const {
    std::string s = text(v, path, "a backend name");
    for (char c : s)
      if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_' && c != '-' && c != '.')
        fail(v, path + ": expected a backend name (letters, digits, '_', '-', '.'), got " + describe(v));
    return s;
  }

  // An int or a list of ints, each in [lo, hi], no repeats.
  std::vector<int32_t> int_list(const YAML::Node& v, const std::string& path, int64_t lo, int64_t hi,
                                const std::string& expected) const {
    std::vector<int32_t> out;
    auto add = [&](const YAML::Node& item, const std::string& item_path) {
      auto x = static_cast<int32_t>(integer(item, item_path, lo, hi, expected));
      if (std::find(out.begin(), out.end(), x) != out.end())
        fail(item, item_path + ": " + std::to_string(x) + " is listed twice");
      out.push_back(x);
    };
    if (v.IsSequence()) {
      if (v.size() == 0)
        fail(v, path + ": expected " + expected + " or a non-empty list of them, got an empty list");
      for (size_t i = 0; i < v.size(); ++i) add(v[i], path + "[" + std::to_string(i) + "]");
    } else {
      add(v, path);
    }
    return out;
  }

  void read_model(const YAML::Node& root, const Field* f, ModelSpec& m) const;
  void read_protocol(const Field& f, Protocol& p) const;
  void read_caps(const Field& f, std::vector<BackendCaps>& caps) const;
  bool resolve_ollama(const Field& f, ModelSpec& m, bool required) const;
  void read_backend_options(const Field& f, Experiment& e) const;
  BrickSpec read_brick(const YAML::Node& v, const std::string& path) const;
  void read_bricks(const Field& f, std::vector<BrickSpec>& bricks) const;
  Tolerance read_tolerance_values(const std::vector<Field>& fs, Brick brick, const std::string& path) const;
  void read_tolerances(const Field& f, std::vector<ToleranceOverride>& out) const;

  std::string file_;
  fs::path base_dir_;
};

const std::vector<std::string> kTopKeys = {"name",    "model",     "backends",     "reference",
                                           "threads", "protocol",  "backend_caps", "backend_options",
                                           "bricks",  "tolerances"};

std::vector<std::string> brick_names() {
  std::vector<std::string> out;
  for (Brick b : all_bricks()) out.emplace_back(brick_name(b));
  return out;
}

std::string brick_list(bool (*pred)(Brick)) {
  std::vector<std::string> out;
  for (Brick b : all_bricks())
    if (pred(b)) out.emplace_back(brick_name(b));
  return join(out);
}

std::vector<std::string> synthetic_model_names() {
  std::vector<std::string> out;
  for (const auto& s : bb::model::known_qwen2_shapes()) out.push_back(s.name);
  return out;
}

// Weight types a gemv cell may ask for: the types the model loader accepts.
const std::vector<int32_t>& gemv_weight_types() {
  static const std::vector<int32_t> kTypes = {BB_TYPE_F32,  BB_TYPE_F16,  BB_TYPE_BF16,
                                              BB_TYPE_Q4_0, BB_TYPE_Q5_0, BB_TYPE_Q8_0,
                                              BB_TYPE_Q4_K, BB_TYPE_Q5_K, BB_TYPE_Q6_K};
  return kTypes;
}

std::vector<std::string> gemv_type_words() {
  std::vector<std::string> out = {"all"};
  for (int32_t t : gemv_weight_types()) out.push_back(bb::model::ggml_type_name(t));
  return out;
}

std::optional<int32_t> gemv_type_from_name(const std::string& s) {
  auto t = bb::model::ggml_type_from_name(s);
  if (!t) return std::nullopt;
  auto id = static_cast<int32_t>(*t);
  const auto& ok = gemv_weight_types();
  if (std::find(ok.begin(), ok.end(), id) == ok.end()) return std::nullopt;
  return id;
}

void Reader::read_model(const YAML::Node& root, const Field* f, ModelSpec& m) const {
  const std::string how =
      "set model.gguf: PATH (a GGUF file, relative to this config's directory) or "
      "model.synthetic: {model: qwen2.5-coder-1.5b, quant: q4_k_m, seed: 1} (known synthetic models: " +
      join(synthetic_model_names()) + ")";
  if (!f) fail(root, "no model: " + how);
  auto fs = fields(f->value, "model", {"gguf", "synthetic", "ollama"});
  const Field* gguf = find(fs, "gguf");
  if (gguf) m.gguf = text(gguf->value, "model.gguf", "a path to a GGUF file");
  if (const Field* o = find(fs, "ollama")) m.ollama = text(o->value, "model.ollama", "an Ollama tag");
  if (const Field* s = find(fs, "synthetic")) {
    SyntheticModelSpec syn;
    YAML::Node name_node = s->value;
    if (s->value.IsMap()) {
      auto sfs = fields(s->value, "model.synthetic", {"model", "quant", "seed"});
      const Field* mf = find(sfs, "model");
      if (!mf)
        fail(s->value, "model.synthetic: missing key 'model'; known synthetic models: " +
                           join(synthetic_model_names()));
      name_node = mf->value;
      if (const Field* q = find(sfs, "quant"))
        syn.quant = one_of(q->value, "model.synthetic.quant", bb::model::known_synth_quants());
      if (const Field* sd = find(sfs, "seed"))
        syn.seed = static_cast<uint64_t>(
            integer(sd->value, "model.synthetic.seed", 0, INT64_MAX, "an integer >= 0"));
    }
    std::string name = text(name_node, "model.synthetic.model", "a model name");
    try {
      syn.model = bb::model::find_qwen2_shape(name).name;  // canonical: "1.5b" -> "qwen2.5-coder-1.5b"
    } catch (const std::invalid_argument&) {
      auto known = synthetic_model_names();
      fail(name_node, "model.synthetic.model: unknown model '" + name + "'; " + suggestion(name, known) +
                          "known: " + join(known));
    }
    m.synthetic = syn;
  }

  if (!m.gguf.empty()) {
    fs::path p(m.gguf);
    if (p.is_relative()) p = base_dir_ / p;
    p = p.lexically_normal();
    m.gguf_path = p.string();
    std::error_code ec;
    m.gguf_found = fs::is_regular_file(p, ec);
    if (auto why = io::not_a_regular_file(m.gguf_path))
      fail(gguf->value, "model.gguf: " + m.gguf_path + " " + *why + "; give the path of a .gguf file");
    if (!m.gguf_found && !m.synthetic)
      fail(gguf->value, "model.gguf: no such file: " + m.gguf_path +
                            " (relative paths are resolved against " + base_dir_.string() +
                            "); fix the path, or add model.synthetic: {model: NAME, quant: q4_k_m, seed: 1} "
                            "as a fallback (known synthetic models: " +
                            join(synthetic_model_names()) + ")");
  }
  if (m.gguf_found) {
    m.source = ModelSource::Gguf;
  } else if (!m.ollama.empty() && resolve_ollama(*find(fs, "ollama"), m, !m.synthetic)) {
    m.source = ModelSource::Ollama;
  } else if (m.synthetic) {
    m.source = ModelSource::Synthetic;
  } else {
    fail(f->value, "no model: " + how);
  }
}

// The tag's blob in Ollama's store: true when found. Not found: a ConfigError when the tag is the only
// model source (required), else a note for the result (the run falls back to the synthetic model, so
// Ollama and the other backends run different weights).
bool Reader::resolve_ollama(const Field& f, ModelSpec& m, bool required) const {
  try {
    const bb::model::OllamaModelRef ref = bb::model::resolve_ollama_model(m.ollama);
    m.ollama_blob_path = ref.blob_path;
    m.ollama_digest = ref.digest;
    return true;
  } catch (const bb::model::OllamaModelError& ex) {
    if (required) fail(f.value, std::string("model.ollama: ") + ex.what());
    m.ollama_note = std::string(ex.what()) +
                    "; using the synthetic model instead, so Ollama runs other weights than "
                    "the other backends";
    return false;
  }
}

void Reader::read_backend_options(const Field& f, Experiment& e) const {
  if (!f.value.IsMap())
    fail(f.value,
         "backend_options: expected a mapping of backend name to {key: value}, got " + describe(f.value));
  for (const auto& kv : f.value) {
    const std::string name = backend_name(kv.first, "backend_options");
    for (const auto& [b, _] : e.backend_options)
      if (b == name) fail(kv.first, "backend_options: backend '" + name + "' is listed twice");
    if (!kv.second.IsMap())
      fail(kv.second,
           "backend_options." + name + ": expected a mapping of option to value, got " + describe(kv.second));
    std::vector<std::pair<std::string, std::string>> opts;
    for (const auto& o : kv.second) {
      const std::string key = text(o.first, "backend_options." + name, "an option name");
      if (!o.second.IsScalar())
        fail(o.second, "backend_options." + name + "." + key + ": expected a scalar (text or number), got " +
                           describe(o.second));
      opts.emplace_back(key, o.second.Scalar());
    }
    e.backend_options.emplace_back(name, std::move(opts));
  }
  std::sort(e.backend_options.begin(), e.backend_options.end(),
            [](const auto& a, const auto& b) { return a.first < b.first; });
}

void Reader::read_protocol(const Field& f, Protocol& p) const {
  auto fs = fields(f.value, "protocol", with_cappable_keys({"seed", "order", "cache", "unstable_fails_ci"}));
  for (const Field& x : fs) {
    const std::string path = "protocol." + x.key;
    measure::for_each_cappable_setting(
        [&](const char* key, const measure::SettingRange& range, auto setting, auto) {
          if (x.key == key)
            p.*setting = setting_value<std::decay_t<decltype(p.*setting)>>(x.value, path, range);
        });
    if (x.key == "seed")
      p.seed = static_cast<uint64_t>(integer(x.value, path, 0, INT64_MAX, "an integer >= 0"));
    if (x.key == "order")
      p.order = one_of(x.value, path, {"interleaved", "sequential"}) == "sequential" ? Order::kSequential
                                                                                     : Order::kInterleaved;
    if (x.key == "cache")
      p.cache = one_of(x.value, path, {"cold", "warm"}) == "warm" ? CacheState::Warm : CacheState::Cold;
    if (x.key == "unstable_fails_ci") p.unstable_fails_ci = boolean(x.value, path);
  }
  if (p.max_samples < p.min_samples) {
    const Field* at = find(fs, "max_samples");
    if (!at) at = find(fs, "min_samples");
    fail(at->value, "protocol.max_samples (" + std::to_string(p.max_samples) +
                        ") is below protocol.min_samples (" + std::to_string(p.min_samples) + ")");
  }
}

void Reader::read_caps(const Field& f, std::vector<BackendCaps>& caps) const {
  if (!f.value.IsMap())
    fail(f.value, "backend_caps: expected a mapping of backend name to caps, got " + describe(f.value));
  std::set<std::string> seen;
  for (const auto& kv : f.value) {
    const YAML::Node name_node = kv.first, value = kv.second;
    BackendCaps c;
    c.backend = backend_name(name_node, "backend_caps");
    if (!seen.insert(c.backend).second)
      fail(name_node, "backend_caps: backend '" + c.backend + "' is listed twice");
    const std::string where = "backend_caps." + c.backend;
    auto fs = fields(value, where, with_cappable_keys({"reference_only"}));
    for (const Field& x : fs) {
      const std::string path = where + "." + x.key;
      measure::for_each_cappable_setting([&](const char* key, const measure::SettingRange& range, auto,
                                             auto cap) {
        if (x.key == key)
          c.*cap = setting_value<typename std::decay_t<decltype(c.*cap)>::value_type>(x.value, path, range);
      });
      if (x.key == "reference_only") c.reference_only = boolean(x.value, path);
    }
    if (c.min_samples && c.max_samples && *c.max_samples < *c.min_samples)
      fail(find(fs, "max_samples")->value, where + ".max_samples (" + std::to_string(*c.max_samples) +
                                               ") is below " + where + ".min_samples (" +
                                               std::to_string(*c.min_samples) + ")");
    caps.push_back(c);
  }
  std::sort(caps.begin(), caps.end(),
            [](const BackendCaps& a, const BackendCaps& b) { return a.backend < b.backend; });
}

const std::vector<std::string> kBrickKeys = {"brick", "budget_us", "budget_tok_s", "context", "tokens",
                                             "type",  "layers",    "bytes",        "kv_type"};

bool brick_has_layer_weights(Brick b) {
  return b == Brick::RmsNorm || b == Brick::Qkv || b == Brick::OProj || b == Brick::Ffn ||
         b == Brick::Layer || b == Brick::Gemv;
}

BrickSpec Reader::read_brick(const YAML::Node& v, const std::string& path) const {
  BrickSpec b;
  b.line = v.Mark().line + 1;
  b.column = v.Mark().column + 1;
  auto brick_of = [&](const YAML::Node& n) {
    std::string name = text(n, path + ".brick", "a brick name");
    auto brick = brick_from_name(name);
    auto known = brick_names();
    if (!brick) fail(n, "unknown brick '" + name + "'; " + suggestion(name, known) + "known: " + join(known));
    return *brick;
  };
  std::vector<Field> fs;
  if (v.IsScalar()) {
    b.brick = brick_of(v);  // "- rope" is short for "- {brick: rope}"
  } else {
    fs = fields(v, path, kBrickKeys);
    const Field* bf = find(fs, "brick");
    if (!bf) fail(v, path + ": missing key 'brick' (one of " + join(brick_names()) + ")");
    b.brick = brick_of(bf->value);
  }
  const std::string name(brick_name(b.brick));
  const std::string where = path + " (" + name + ")";
  auto only_for = [&](const Field& x, bool ok, const std::string& bricks) {
    if (!ok)
      fail(x.key_node, where + ": '" + x.key + "' does not apply to " + name + "; it applies to " + bricks);
  };
  for (const Field& x : fs) {
    const std::string p = path + "." + x.key;
    if (x.key == "budget_us") {
      if (brick_is_per_token(b.brick))
        fail(x.key_node, where + ": " + name + " is budgeted in tokens per second: use budget_tok_s");
      b.budget_us = number(x.value, p, "a number of microseconds > 0", [](double d) { return d > 0; });
    } else if (x.key == "budget_tok_s") {
      only_for(x, brick_is_per_token(b.brick), "decode, generate (other bricks take budget_us)");
      b.budget_tok_s =
          number(x.value, p, "a number of tokens per second > 0", [](double d) { return d > 0; });
    } else if (x.key == "context") {
      only_for(x, brick_takes_context(b.brick), brick_list(brick_takes_context));
      b.contexts = int_list(x.value, p, 1, 1 << 24, "a positive integer (KV positions)");
    } else if (x.key == "tokens") {
      only_for(x, b.brick == Brick::Generate, "generate");
      b.tokens = static_cast<int32_t>(integer(x.value, p, 1, 1 << 24, "a positive integer"));
    } else if (x.key == "type") {
      only_for(x, b.brick == Brick::Gemv, "gemv");
      auto words = gemv_type_words();
      auto one = [&](const YAML::Node& n, const std::string& item_path) {
        std::string s = n.IsScalar() ? n.Scalar() : "";
        auto t = gemv_type_from_name(s);
        if (!t)
          fail(n, item_path + ": unknown weight type " + describe(n) + "; " + suggestion(s, words) +
                      "known: " + join(words));
        if (std::find(b.types.begin(), b.types.end(), *t) != b.types.end())
          fail(n, item_path + ": " + s + " is listed twice");
        b.types.push_back(*t);
      };
      if (x.value.IsScalar() && (x.value.Scalar() == "all" || x.value.Scalar() == "ALL")) {
        b.all_types = true;
      } else if (x.value.IsSequence()) {
        if (x.value.size() == 0)
          fail(x.value, p + ": expected a weight type, a list of them, or all; got an empty list");
        for (size_t i = 0; i < x.value.size(); ++i) {
          const YAML::Node item = x.value[i];
          if (item.IsScalar() && item.Scalar() == "all")
            fail(item, p + "[" + std::to_string(i) + "]: 'all' stands alone (type: all), not inside a list");
          one(item, p + "[" + std::to_string(i) + "]");
        }
      } else {
        one(x.value, p);
      }
    } else if (x.key == "layers") {
      only_for(x, brick_has_layer_weights(b.brick), brick_list(brick_has_layer_weights));
      if (!(x.value.IsScalar() && x.value.Scalar() == "all"))
        b.layers = int_list(x.value, p, 0, 1 << 20, "a layer index >= 0 (or all)");
    } else if (x.key == "bytes") {
      only_for(x, b.brick == Brick::Copy, "copy");
      b.bytes = integer(x.value, p, 1, int64_t{1} << 40, "a positive number of bytes");
    } else if (x.key == "kv_type") {
      only_for(x, brick_takes_kv_type(b.brick), brick_list(brick_takes_kv_type));
      b.kv_type = one_of(x.value, p, {"F32", "F16"}) == "F16" ? BB_TYPE_F16 : BB_TYPE_F32;
    }
  }
  // Defaults.
  if (brick_takes_context(b.brick) && b.contexts.empty()) b.contexts = {kDefaultContext};
  if (b.brick == Brick::Generate && b.tokens == 0) b.tokens = kDefaultGenerateTokens;
  if (b.brick == Brick::Gemv && b.types.empty()) b.all_types = true;
  if (b.brick == Brick::Copy && b.bytes == 0) b.bytes = kDefaultCopyBytes;
  return b;
}

void Reader::read_bricks(const Field& f, std::vector<BrickSpec>& bricks) const {
  if (!f.value.IsSequence() || f.value.size() == 0)
    fail(f.value, "bricks: expected a non-empty list of bricks (omit the key to measure every brick), got " +
                      describe(f.value));
  // Cells already listed, "attention@512" -> where, to refuse the same cell twice; and where the
  // first gemv entry and the first `gemv of type all` are, for the overlap check. A map, not a scan:
  // 64k entries took 10.6 s to check pairwise (issue 14, defect 16).
  std::map<std::string, std::string> cells;
  std::string first_gemv_at, gemv_all_at;
  for (size_t i = 0; i < f.value.size(); ++i) {
    const YAML::Node v = f.value[i];
    BrickSpec b = read_brick(v, "bricks[" + std::to_string(i) + "]");
    const std::string name(brick_name(b.brick));
    std::vector<std::pair<std::string, std::string>> mine;  // cell key, words
    if (brick_takes_context(b.brick)) {
      for (int32_t c : b.contexts)
        mine.push_back({name + "@" + std::to_string(c), name + " at context " + std::to_string(c)});
    } else if (b.brick == Brick::Gemv) {
      if (b.all_types) mine.push_back({"gemv:all", "gemv of type all"});
      for (int32_t t : b.types) {
        std::string tn = bb::model::ggml_type_name(t);
        mine.push_back({"gemv:" + tn, "gemv of type " + tn});
      }
    } else {
      mine.push_back({name, name});
    }
    for (const auto& [key, words] : mine) {
      if (auto it = cells.find(key); it != cells.end())
        fail(v, "duplicate brick entry: " + words + " is already listed at " + it->second);
      if (key.rfind("gemv:", 0) != 0) continue;
      const std::string& other_at = key == "gemv:all" ? first_gemv_at : gemv_all_at;
      if (!other_at.empty())
        fail(v, "bricks[" + std::to_string(i) + "]: gemv of type all overlaps a gemv entry at " + other_at +
                    "; list the types one by one, or use type: all alone");
    }
    const std::string here = position(v.Mark());
    for (const auto& [key, words] : mine) {
      cells.emplace(key, here);
      if (key.rfind("gemv:", 0) == 0 && first_gemv_at.empty()) first_gemv_at = here;
      if (key == "gemv:all" && gemv_all_at.empty()) gemv_all_at = here;
    }
    bricks.push_back(std::move(b));
  }
}

Tolerance Reader::read_tolerance_values(const std::vector<Field>& fs, Brick brick,
                                        const std::string& path) const {
  Tolerance t;
  for (const Field& x : fs) {
    const std::string p = path + "." + x.key;
    if (x.key == "nmse") t.nmse = number(x.value, p, "a number >= 0", [](double d) { return d >= 0; });
    if (x.key == "max_rel") t.max_rel = number(x.value, p, "a number >= 0", [](double d) { return d >= 0; });
    if (x.key == "top1") {
      if (!brick_is_per_token(brick))
        fail(x.key_node, p + ": top1 applies only to decode, generate (bricks with logits or tokens)");
      t.top1 = number(x.value, p, "a fraction in [0, 1]", [](double d) { return d >= 0 && d <= 1; });
    }
  }
  return t;
}

void Reader::read_tolerances(const Field& f, std::vector<ToleranceOverride>& out) const {
  if (!f.value.IsMap())
    fail(f.value, "tolerances: expected a mapping of brick name to bounds, got " + describe(f.value));
  auto known_bricks = brick_names();
  std::set<std::string> seen;
  const std::vector<std::string> kValueKeys = {"nmse", "max_rel", "top1"};
  const std::vector<std::string> kClassKeys = {"nmse", "max_rel", "top1", "act_q8"};
  for (const auto& kv : f.value) {
    const YAML::Node name_node = kv.first, value = kv.second;
    std::string name = name_node.IsScalar() ? name_node.Scalar() : "";
    auto brick = brick_from_name(name);
    if (!brick)
      fail(name_node, "tolerances: unknown brick '" + name + "'; " + suggestion(name, known_bricks) +
                          "known: " + join(known_bricks));
    if (!seen.insert(name).second) fail(name_node, "tolerances: brick '" + name + "' is listed twice");
    const std::string where = "tolerances." + name;
    // One level: bounds of the float class, act_q8: {bounds of the act_q8 class}.
    auto read_level = [&](const std::vector<Field>& fs, const std::string& at, int32_t type) {
      ToleranceOverride o{*brick, type, ToleranceClass::FloatActivations,
                          read_tolerance_values(fs, *brick, at)};
      out.push_back(o);
      if (const Field* q8 = find(fs, "act_q8")) {
        auto qfs = fields(q8->value, at + ".act_q8", kValueKeys);
        out.push_back(
            {*brick, type, ToleranceClass::ActQ8, read_tolerance_values(qfs, *brick, at + ".act_q8")});
      }
    };
    const bool gemv = *brick == Brick::Gemv;
    auto is_type = [&](const std::string& k) { return gemv && gemv_type_from_name(k).has_value(); };
    auto fs = fields(value, where, kClassKeys, is_type, gemv ? ", or a weight type (Q4_K, Q6_K, ...)" : "");
    read_level(fs, where, BB_TYPE_ANY);
    for (const Field& x : fs) {
      if (!is_type(x.key)) continue;
      int32_t type = *gemv_type_from_name(x.key);
      const std::string at = where + "." + bb::model::ggml_type_name(type);
      read_level(fields(x.value, at, kClassKeys), at, type);
    }
  }
}

Experiment Reader::read(const YAML::Node& root) {
  if (root.IsNull() || !root.IsDefined())
    fail(YAML::Mark::null_mark(),
         "empty config: expected a mapping with at least 'model' (see docs/CONFIG.md)");
  auto fs = fields(root, "top level", kTopKeys);
  Experiment e;
  e.source = file_;
  e.name = fs::path(file_).stem().string();
  if (const Field* f = find(fs, "name")) e.name = text(f->value, "name");
  read_model(root, find(fs, "model"), e.model);
  if (const Field* f = find(fs, "reference")) e.reference = backend_name(f->value, "reference");
  if (const Field* f = find(fs, "backends")) {
    if (!f->value.IsSequence() || f->value.size() == 0)
      fail(f->value,
           "backends: expected a non-empty list of backend names (omit the key for every usable "
           "plugin), got " +
               describe(f->value));
    for (size_t i = 0; i < f->value.size(); ++i) {
      const YAML::Node v = f->value[i];
      std::string b = backend_name(v, "backends[" + std::to_string(i) + "]");
      if (std::find(e.backends.begin(), e.backends.end(), b) != e.backends.end())
        fail(v, "backends: '" + b + "' is listed twice");
      e.backends.push_back(b);
    }
    // The reference always runs: it is the truth every other backend is compared with.
    if (std::find(e.backends.begin(), e.backends.end(), e.reference) == e.backends.end())
      e.backends.insert(e.backends.begin(), e.reference);
  }
  if (const Field* f = find(fs, "threads"))
    e.threads = static_cast<int32_t>(
        integer(f->value, "threads", 0, kMaxThreads, "an integer >= 0 (0 = all hardware threads)"));
  if (const Field* f = find(fs, "protocol")) read_protocol(*f, e.protocol);
  if (const Field* f = find(fs, "backend_caps")) read_caps(*f, e.backend_caps);
  if (const Field* f = find(fs, "backend_options")) read_backend_options(*f, e);
  if (const Field* f = find(fs, "bricks")) {
    read_bricks(*f, e.bricks);
  } else {
    for (Brick b : all_bricks()) {
      YAML::Node entry(brick_name(b).data());
      e.bricks.push_back(read_brick(entry, "bricks"));
      e.bricks.back().line = e.bricks.back().column = 0;
    }
  }
  if (const Field* f = find(fs, "tolerances")) read_tolerances(*f, e.tolerance_overrides);
  return e;
}

Experiment parse(const std::string& yaml, const std::string& display, const fs::path& base_dir) {
  YAML::Node root;
  try {
    // Every document is read, so a second one (after a `---`) is refused rather than ignored.
    const std::vector<YAML::Node> docs = YAML::LoadAll(yaml);
    if (docs.size() > 1)
      throw ConfigError(display, docs[1].Mark().line + 1, docs[1].Mark().column + 1,
                        "a second YAML document (after '---'); a config is one document: merge them, or "
                        "split them into two files");
    if (!docs.empty()) root = docs[0];
  } catch (const YAML::DeepRecursion& ex) {
    // yaml-cpp's own words for it are "bad file" (issue 14, defect 17).
    throw ConfigError(display, ex.mark.line + 1, ex.mark.column + 1,
                      "YAML nested " + std::to_string(ex.depth()) +
                          " levels deep, past the parser's limit; a config is a few levels deep: look for "
                          "unclosed or repeated '[' / '{'");
  } catch (const YAML::ParserException& ex) {
    throw ConfigError(display, ex.mark.line + 1, ex.mark.column + 1, "YAML syntax error: " + ex.msg);
  }
  return Reader(display, base_dir).read(root);
}

}  // namespace

Experiment load_experiment(const std::string& path) {
  if (auto why = io::not_a_regular_file(path)) throw ConfigError(path, 0, 0, "the config " + *why);
  std::ifstream in(path, std::ios::binary);
  if (!in) throw ConfigError(path, 0, 0, std::string("cannot read the config: ") + std::strerror(errno));
  std::ostringstream text;
  text << in.rdbuf();
  fs::path base = fs::absolute(fs::path(path)).parent_path();
  return parse(text.str(), path, base);
}

Experiment load_experiment_from_string(const std::string& yaml, const std::string& display_name,
                                       const std::string& base_dir) {
  fs::path base = base_dir.empty() ? fs::current_path() : fs::absolute(fs::path(base_dir));
  return parse(yaml, display_name, base);
}

Protocol Experiment::protocol_for(const std::string& backend) const {
  Protocol p = protocol;
  for (const BackendCaps& c : backend_caps) {
    if (c.backend != backend) continue;
    static_cast<measure::ProtocolSettings&>(p) = measure::with_caps(p, c);
  }
  return p;
}

bool Experiment::reference_only(const std::string& backend) const {
  for (const BackendCaps& c : backend_caps)
    if (c.backend == backend) return c.reference_only;
  return false;
}

Tolerance Experiment::tolerance(Brick brick, int32_t weight_type, ToleranceClass cls) const {
  return resolve_tolerance(tolerance_overrides, brick, weight_type, cls);
}

}  // namespace bb::config
