// The canonical dump of an experiment and its hash.
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <algorithm>
#include <cstdio>
#include <functional>
#include <map>
#include <string>
#include <type_traits>
#include <vector>

#include "config/experiment.h"
#include "model/ggml_types.h"

namespace bb::config {
namespace {

using Writer = rapidjson::Writer<rapidjson::StringBuffer>;

void key(Writer& w, const char* k) { w.Key(k); }
void str(Writer& w, const std::string& s) { w.String(s.c_str(), static_cast<rapidjson::SizeType>(s.size())); }
void str(Writer& w, std::string_view s) { w.String(s.data(), static_cast<rapidjson::SizeType>(s.size())); }

template <class T>
void number(Writer& w, T v) {
  if constexpr (std::is_floating_point_v<T>) {
    w.Double(v);
  } else {
    w.Int64(v);
  }
}

template <class T>
void optional_number(Writer& w, const char* k, const std::optional<T>& v) {
  if (!v) return;
  w.Key(k);
  number(w, *v);
}

void write_tolerance(Writer& w, const Tolerance& t) {
  w.StartObject();
  // Unchecked metrics are written as null so the record says so explicitly.
  auto field = [&](const char* k, const std::optional<double>& v) {
    w.Key(k);
    if (v) {
      w.Double(*v);
    } else {
      w.Null();
    }
  };
  field("max_rel", t.max_rel);
  field("nmse", t.nmse);
  field("top1", t.top1);
  w.EndObject();
}

void write_classes(Writer& w, const Experiment& e, Brick brick, int32_t type) {
  key(w, "act_q8");
  write_tolerance(w, e.tolerance(brick, type, ToleranceClass::ActQ8));
  key(w, "float");
  write_tolerance(w, e.tolerance(brick, type, ToleranceClass::FloatActivations));
}

void write_model(Writer& w, const Experiment& e) {
  key(w, "model");
  w.StartObject();
  key(w, "gguf");
  if (e.model.gguf.empty()) {
    w.Null();
  } else {
    str(w, e.model.gguf);
  }
  key(w, "ollama");
  if (e.model.ollama.empty()) {
    w.Null();
  } else {
    str(w, e.model.ollama);
  }
  key(w, "synthetic");
  if (e.model.synthetic) {
    w.StartObject();
    key(w, "model");
    str(w, e.model.synthetic->model);
    key(w, "quant");
    str(w, e.model.synthetic->quant);
    key(w, "seed");
    w.Uint64(e.model.synthetic->seed);
    w.EndObject();
  } else {
    w.Null();
  }
  w.EndObject();
}

// Keys and their writers, emitted in sorted order: the canonical dump's order, whatever order the
// table of cappable settings (measure::for_each_cappable_setting) and the other keys come in.
using SortedFields = std::map<std::string, std::function<void()>>;

void write_sorted(Writer& w, const SortedFields& fields) {
  w.StartObject();
  for (const auto& [k, write] : fields) {
    key(w, k.c_str());
    write();
  }
  w.EndObject();
}

void write_protocol(Writer& w, const Protocol& p) {
  SortedFields f;
  measure::for_each_cappable_setting([&](const char* k, const measure::SettingRange&, auto setting, auto) {
    f[k] = [&w, &p, setting] { number(w, p.*setting); };
  });
  f["cache"] = [&] { str(w, cache_state_name(p.cache)); };
  f["order"] = [&] { str(w, order_name(p.order)); };
  f["seed"] = [&] { w.Uint64(p.seed); };
  // written only when not the default, so existing hashes stay
  if (!p.unstable_fails_ci) f["unstable_fails_ci"] = [&] { w.Bool(false); };
  key(w, "protocol");
  write_sorted(w, f);
}

void write_backend_caps(Writer& w, const Experiment& e) {
  key(w, "backend_caps");  // backend_caps is kept sorted by name
  w.StartObject();
  for (const BackendCaps& c : e.backend_caps) {
    key(w, c.backend.c_str());
    SortedFields f;
    measure::for_each_cappable_setting([&](const char* k, const measure::SettingRange&, auto, auto cap) {
      if (c.*cap) f[k] = [&w, &c, cap] { number(w, *(c.*cap)); };
    });
    f["reference_only"] = [&] { w.Bool(c.reference_only); };
    write_sorted(w, f);
  }
  w.EndObject();
}

void write_backend_options(Writer& w, const Experiment& e) {
  // Written only when set, so the hash of every config without it is what it was before the key existed.
  if (!e.backend_options.empty()) {
    key(w, "backend_options");  // sorted by backend name, options in config order
    w.StartObject();
    for (const auto& [backend, options] : e.backend_options) {
      key(w, backend.c_str());
      w.StartObject();
      for (const auto& [k, v] : options) {
        key(w, k.c_str());
        str(w, v);
      }
      w.EndObject();
    }
    w.EndObject();
  }
}

void write_bricks(Writer& w, const Experiment& e) {
  key(w, "bricks");
  w.StartArray();
  for (const BrickSpec& b : e.bricks) {
    w.StartObject();
    key(w, "brick");
    str(w, brick_name(b.brick));
    optional_number(w, "budget_tok_s", b.budget_tok_s);
    optional_number(w, "budget_us", b.budget_us);
    if (b.brick == Brick::Copy) {
      key(w, "bytes");
      w.Int64(b.bytes);
    }
    if (brick_takes_context(b.brick)) {
      key(w, "context");
      w.StartArray();
      for (int32_t c : b.contexts) w.Int(c);
      w.EndArray();
    }
    if (brick_takes_kv_type(b.brick)) {
      key(w, "kv_type");
      str(w, bb::model::ggml_type_name(b.kv_type));
    }
    if (!b.layers.empty()) {
      key(w, "layers");
      w.StartArray();
      for (int32_t l : b.layers) w.Int(l);
      w.EndArray();
    }
    if (b.brick == Brick::Generate) {
      key(w, "tokens");
      w.Int(b.tokens);
    }
    if (b.brick == Brick::Gemv) {
      key(w, "type");
      if (b.all_types) {
        str(w, std::string("all"));
      } else {
        w.StartArray();
        for (int32_t t : b.types) str(w, bb::model::ggml_type_name(t));
        w.EndArray();
      }
    }
    w.EndObject();
  }
  w.EndArray();
}

void write_tolerances(Writer& w, const Experiment& e) {
  // Effective tolerances of every brick (defaults included, so a changed default changes the
  // hash), plus the per-type entries a config overrides.
  key(w, "tolerances");
  w.StartObject();
  for (Brick brick : all_bricks()) {
    key(w, std::string(brick_name(brick)).c_str());
    w.StartObject();
    write_classes(w, e, brick, BB_TYPE_ANY);
    std::vector<int32_t> types;
    for (const ToleranceOverride& o : e.tolerance_overrides)
      if (o.brick == brick && o.weight_type != BB_TYPE_ANY &&
          std::find(types.begin(), types.end(), o.weight_type) == types.end())
        types.push_back(o.weight_type);
    std::sort(types.begin(), types.end());
    if (!types.empty()) {
      key(w, "types");
      w.StartObject();
      for (int32_t t : types) {
        key(w, bb::model::ggml_type_name(t).c_str());
        w.StartObject();
        write_classes(w, e, brick, t);
        w.EndObject();
      }
      w.EndObject();
    }
    w.EndObject();
  }
  w.EndObject();
}

void write_experiment(Writer& w, const Experiment& e) {
  w.StartObject();
  key(w, "experiment_schema");
  w.Int(1);
  key(w, "name");
  str(w, e.name);

  write_model(w, e);

  key(w, "backends");
  w.StartArray();
  for (const auto& b : e.backends) str(w, b);
  w.EndArray();
  key(w, "reference");
  str(w, e.reference);
  key(w, "threads");
  w.Int(e.threads);

  write_protocol(w, e.protocol);
  write_backend_caps(w, e);
  write_backend_options(w, e);
  write_bricks(w, e);
  write_tolerances(w, e);
  w.EndObject();
}

}  // namespace

std::string canonical_json(const Experiment& e) {
  rapidjson::StringBuffer buf;
  Writer w(buf);
  write_experiment(w, e);
  return std::string(buf.GetString(), buf.GetSize());
}

std::string experiment_hash(const Experiment& e) {
  const std::string text = canonical_json(e);
  uint64_t h = 0xcbf29ce484222325ull;  // FNV-1a 64: offset basis, prime 0x100000001b3
  for (unsigned char c : text) {
    h ^= c;
    h *= 0x100000001b3ull;
  }
  char hex[17];
  std::snprintf(hex, sizeof hex, "%016llx", static_cast<unsigned long long>(h));
  return hex;
}

}  // namespace bb::config
