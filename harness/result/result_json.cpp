// Writing and reading the result file. The layout is the schema's (results/schema/result-v1.schema.json):
// change one, change the other, and the round-trip and schema tests hold them together.
#include "result/result_json.h"

#include <rapidjson/document.h>
#include <rapidjson/error/en.h>
#include <rapidjson/prettywriter.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <charconv>
#include <cmath>
#include <fstream>
#include <limits>
#include <sstream>
#include <stdexcept>
#include <string_view>
#include <tuple>

#include "io/input_file.h"
#include "io/json_limits.h"
#include "model/ggml_types.h"
#include "result/atomic_file.h"
#include "result/json_write.h"
#include "result/number_format.h"

namespace bb::report {
namespace {

using Writer = json::PrettyWriter;
using json::num;
using json::opt_num;
using json::str;
using json::str_or_null;
using rapidjson::SizeType;
using rapidjson::Value;

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr unsigned kParseFlags = rapidjson::kParseFullPrecisionFlag;  // doubles read back bit-exact

// ---- writing -------------------------------------------------------------------------------------

std::string number_text(double x) { return std::isfinite(x) ? shortest_double(x) : std::string("null"); }

// Number arrays (raw samples) on one line: a 500-sample cell stays one line, not 500.
void num_array(Writer& w, const double* x, size_t n) {
  std::string s = "[";
  for (size_t i = 0; i < n; ++i) {
    if (i) s.append(", ");
    s.append(number_text(x[i]));
  }
  s.append("]");
  w.RawValue(s.data(), s.size(), rapidjson::kArrayType);
}

void key_values(Writer& w, const KeyValues& kv) {
  w.StartObject();
  for (const auto& [k, v] : kv) {
    str(w, k);
    str(w, v);
  }
  w.EndObject();
}

// "1536" -> 1536 only when the text is exactly what std::to_chars gives back, so reading restores it.
std::optional<int64_t> canonical_integer(const std::string& s) {
  int64_t v = 0;
  const auto res = std::from_chars(s.data(), s.data() + s.size(), v);
  if (res.ec != std::errc() || res.ptr != s.data() + s.size()) return std::nullopt;
  if (std::to_string(v) != s) return std::nullopt;  // "+1", "007", "-0"
  return v;
}

// Model dimensions and tensor counts: integers as JSON numbers, anything else as strings.
void integer_key_values(Writer& w, const KeyValues& kv) {
  w.StartObject();
  for (const auto& [k, v] : kv) {
    str(w, k);
    if (auto i = canonical_integer(v)) {
      w.Int64(*i);
    } else {
      str(w, v);
    }
  }
  w.EndObject();
}

void write_stats(Writer& w, const measure::SampleStatistics& s) {
  w.StartObject();
  w.Key("n"), w.Int64(s.n);
  w.Key("mean_s"), num(w, s.mean);
  w.Key("median_s"), num(w, s.median);
  w.Key("stdev_s"), num(w, s.stdev);
  w.Key("cv"), num(w, s.cv);
  w.Key("min_s"), num(w, s.min);
  w.Key("max_s"), num(w, s.max);
  w.Key("p50_s"), num(w, s.p50);
  w.Key("p90_s"), num(w, s.p90);
  w.Key("p99_s"), num(w, s.p99);
  w.Key("q1_s"), num(w, s.q1);
  w.Key("q3_s"), num(w, s.q3);
  w.Key("mad_s"), num(w, s.mad);
  w.Key("mad_scaled_s"), num(w, s.mad_scaled);
  w.Key("outliers"), w.Int64(s.outliers.count());
  w.Key("outliers_low"), w.Int64(s.outliers.low);
  w.Key("outliers_high"), w.Int64(s.outliers.high);
  const double fences[2] = {s.outliers.lower_fence, s.outliers.upper_fence};
  w.Key("outlier_fences_s"), num_array(w, fences, 2);
  const double ci[2] = {s.median_ci.lower, s.median_ci.upper};
  w.Key("median_ci_s"), num_array(w, ci, 2);
  w.Key("confidence"), num(w, s.median_ci.confidence);
  w.EndObject();
}

void write_cell(Writer& w, const Cell& c) {
  w.StartObject();
  w.Key("id"), str(w, c.id);
  w.Key("brick"), str(w, c.brick);
  w.Key("backend"), str(w, c.backend);
  w.Key("shape"), str(w, c.shape);
  w.Key("context"), w.Int(c.context);
  w.Key("weight_type");
  if (c.weight_type < 0) {
    w.Null();
  } else {
    str(w, model::ggml_type_name(c.weight_type));
  }
  w.Key("tokens"), w.Int(c.tokens);
  w.Key("n_weight_sets"), w.Int(c.n_weight_sets);
  w.Key("status"), str(w, cell_status_name(c.status));
  w.Key("status_reason"), str(w, c.status_reason);

  w.Key("protocol");
  w.StartObject();
  w.Key("warmup_iterations"), w.Int64(c.warmup_iterations);
  w.Key("warmup_seconds"), num(w, c.warmup_seconds);
  w.Key("iterations_per_sample"), w.Int64(c.iterations_per_sample);
  w.Key("time_source"), str(w, c.time_source);
  w.EndObject();

  w.Key("samples_s"), num_array(w, c.samples.data(), c.samples.size());
  w.Key("stats"), write_stats(w, c.stats);
  w.Key("tok_s"), opt_num(w, c.tok_s);

  const Roofline& r = c.roofline;
  w.Key("roofline");
  w.StartObject();
  w.Key("bytes"), num(w, r.bytes);
  w.Key("flops"), num(w, r.flops);
  w.Key("gbps"), num(w, r.gbps);
  w.Key("gflops"), num(w, r.gflops);
  w.Key("ceiling_gbps"), num(w, r.ceiling_gbps);
  w.Key("fraction_of_ceiling"), num(w, r.fraction_of_ceiling);
  w.EndObject();

  const Budget& b = c.budget;
  w.Key("budget");
  w.StartObject();
  w.Key("has_budget"), w.Bool(b.has_budget);
  w.Key("budget_us"), num(w, b.budget_us);
  w.Key("budget_tok_s"), opt_num(w, b.budget_tok_s);
  w.Key("gap"), num(w, b.gap);
  w.Key("score"), num(w, b.score);
  w.Key("grade"), str(w, b.grade);
  w.Key("pass"), w.Bool(b.pass);
  w.Key("graded"), w.Bool(b.graded);
  w.EndObject();

  const Equivalence& e = c.equivalence;
  w.Key("equivalence");
  w.StartObject();
  w.Key("checked"), w.Bool(e.checked);
  w.Key("pass"), w.Bool(e.pass);
  w.Key("reference"), str(w, e.reference);
  w.Key("tolerance_class"), str(w, e.tolerance_class);
  w.Key("nmse"), num(w, e.nmse);
  w.Key("max_rel"), num(w, e.max_rel);
  w.Key("non_finite"), w.Int64(e.non_finite);
  w.Key("top1"), opt_num(w, e.top1);
  w.Key("top1_strict"), opt_num(w, e.top1_strict);
  w.Key("tol_nmse"), opt_num(w, e.tol_nmse);
  w.Key("tol_max_rel"), opt_num(w, e.tol_max_rel);
  w.Key("tol_top1"), opt_num(w, e.tol_top1);
  w.Key("note"), str(w, e.note);
  w.EndObject();

  if (!c.engine.empty()) w.Key("engine"), key_values(w, c.engine);  // absent: the backend said nothing
  if (c.interference) {                                             // absent: not read
    const Interference& i = *c.interference;
    w.Key("interference");
    w.StartObject();
    w.Key("window_s"), num(w, i.window_s);
    w.Key("other_cores"), num(w, i.other_cores);
    w.Key("steal_fraction"), num(w, i.steal_fraction);
    w.Key("cpus"), w.Int(i.cpus);
    w.Key("flagged"), w.Bool(i.flagged);
    w.EndObject();
  }
  w.EndObject();
}

void write_plugin(Writer& w, const PluginRecord& p) {
  w.StartObject();
  w.Key("name"), str(w, p.name);
  w.Key("version"), str(w, p.version);
  w.Key("path"), str(w, p.path);
  w.Key("sha256"), str(w, p.sha256);
  w.Key("abi_major"), w.Uint(p.abi_major);
  w.Key("abi_minor"), w.Uint(p.abi_minor);
  w.Key("probe_score"), w.Int(p.probe_score);
  w.Key("build_info"), key_values(w, p.build_info);
  w.EndObject();
}

void write_model(Writer& w, const ModelRecord& m) {
  w.StartObject();
  w.Key("name"), str(w, m.name);
  w.Key("path"), str(w, m.path);
  w.Key("sha256"), str(w, m.sha256);
  w.Key("synthetic"), w.Bool(m.synthetic);
  w.Key("synthetic_spec"), str(w, m.synthetic_spec);
  w.Key("weight_mib"), num(w, m.weight_mib);
  w.Key("dims"), integer_key_values(w, m.dims);
  w.Key("type_counts"), integer_key_values(w, m.type_counts);
  w.Key("ollama_tag"), str_or_null(w, m.ollama_tag);
  w.Key("ollama_digest"), str_or_null(w, m.ollama_digest);
  w.EndObject();
}

void write_peer(Writer& w, const PeerRecord& p) {
  w.StartObject();
  w.Key("backend"), str(w, p.backend);
  w.Key("facts");
  w.StartObject();
  for (const char* k : kPeerFactKeys) {  // always present: null = the peer did not say
    w.Key(k);
    if (const std::string* v = p.fact(k)) {
      str(w, *v);
    } else {
      w.Null();
    }
  }
  for (const auto& [k, v] : p.facts) {
    bool fixed = false;
    for (const char* f : kPeerFactKeys) fixed |= k == f;
    if (!fixed) {
      str(w, k);
      str(w, v);
    }
  }
  w.EndObject();
  w.Key("cells");
  w.StartArray();
  for (const PeerCell& c : p.cells) {
    w.StartObject();
    w.Key("cell_id"), str(w, c.cell_id);
    w.Key("decode_tok_s"), opt_num(w, c.decode_tok_s);
    w.Key("prefill_tok_s"), opt_num(w, c.prefill_tok_s);
    w.Key("ttft_s"), opt_num(w, c.ttft_s);
    w.Key("gap_p50_s"), opt_num(w, c.gap_p50_s);
    w.Key("gap_p99_s"), opt_num(w, c.gap_p99_s);
    w.Key("load_duration_s"), opt_num(w, c.load_duration_s);
    w.Key("versus");
    w.StartArray();
    for (const PeerVersus& v : c.versus) {
      w.StartObject();
      w.Key("backend"), str(w, v.backend);
      w.Key("tok_s"), opt_num(w, v.tok_s);
      w.Key("ratio"), opt_num(w, v.ratio);
      w.EndObject();
    }
    w.EndArray();
    w.Key("requests");
    w.StartArray();
    for (const PeerRequest& q : c.requests) {
      w.StartObject();
      w.Key("sample"), w.Int64(q.sample);
      w.Key("eval_count"), opt_num(w, q.eval_count);
      w.Key("eval_duration_s"), opt_num(w, q.eval_duration_s);
      w.Key("prompt_eval_count"), opt_num(w, q.prompt_eval_count);
      w.Key("prompt_eval_duration_s"), opt_num(w, q.prompt_eval_duration_s);
      w.Key("load_duration_s"), opt_num(w, q.load_duration_s);
      w.Key("total_duration_s"), opt_num(w, q.total_duration_s);
      w.Key("ttft_s"), opt_num(w, q.ttft_s);
      w.Key("gap_p50_s"), opt_num(w, q.gap_p50_s);
      w.Key("gap_p99_s"), opt_num(w, q.gap_p99_s);
      w.Key("done_reason"), str_or_null(w, q.done_reason);
      w.Key("decode_tok_s"), opt_num(w, q.decode_tok_s());
      w.Key("prefill_tok_s"), opt_num(w, q.prefill_tok_s());
      w.EndObject();
    }
    w.EndArray();
    w.EndObject();
  }
  w.EndArray();
  w.EndObject();
}

// ---- reading -------------------------------------------------------------------------------------

// RFC 6901 escaping of one reference token.
std::string pointer_token(std::string_view key) {
  std::string t;
  for (char ch : key) {
    if (ch == '~') {
      t.append("~0");
    } else if (ch == '/') {
      t.append("~1");
    } else {
      t.push_back(ch);
    }
  }
  return t;
}

std::string json_type_name(const Value& v) {
  if (v.IsNull()) return "null";
  if (v.IsBool()) return "a boolean";
  if (v.IsNumber()) return "a number";
  if (v.IsString()) return "a string";
  if (v.IsArray()) return "an array";
  return "an object";
}

// One JSON object being read, with where it is (source file and JSON pointer) for messages.
class ObjectReader {
 public:
  ObjectReader(const std::string& source, const Value& v, std::string pointer)
      : source_(source), v_(v), pointer_(std::move(pointer)) {
    if (!v_.IsObject()) fail_at(pointer_, "expected an object, found " + json_type_name(v_));
  }

  [[noreturn]] void fail_at(const std::string& pointer, const std::string& what) const {
    std::string msg = source_;
    msg.append(": ").append(pointer.empty() ? "/" : pointer).append(": ").append(what);
    throw std::runtime_error(msg);
  }

  std::string pointer_of(const char* key) const {
    std::string p = pointer_;
    p.append("/").append(pointer_token(key));
    return p;
  }

  const Value& at(const char* key) const {
    auto it = v_.FindMember(key);
    if (it == v_.MemberEnd()) fail_at(pointer_of(key), "missing (a required field)");
    return it->value;
  }

  [[noreturn]] void expected(const char* key, const char* what) const {
    std::string msg = "expected ";
    msg.append(what).append(", found ").append(json_type_name(at(key)));
    fail_at(pointer_of(key), msg);
  }

  std::string str(const char* key) const {
    const Value& v = at(key);
    if (!v.IsString()) expected(key, "a string");
    return std::string(v.GetString(), v.GetStringLength());
  }

  std::string str_or_null(const char* key) const {
    const Value& v = at(key);
    if (v.IsNull()) return {};
    if (!v.IsString()) expected(key, "a string or null");
    return std::string(v.GetString(), v.GetStringLength());
  }

  double num(const char* key) const {
    const Value& v = at(key);
    if (v.IsNull()) return kNaN;
    if (!v.IsNumber()) expected(key, "a number or null");
    return v.GetDouble();
  }

  bool has(const char* key) const { return v_.FindMember(key) != v_.MemberEnd(); }

  std::optional<double> opt_num(const char* key) const {
    const Value& v = at(key);
    if (v.IsNull()) return std::nullopt;
    if (!v.IsNumber()) expected(key, "a number or null");
    return v.GetDouble();
  }

  int64_t i64(const char* key) const {
    const Value& v = at(key);
    if (!v.IsInt64()) expected(key, "an integer");
    return v.GetInt64();
  }

  int32_t i32(const char* key) const {
    const Value& v = at(key);
    if (!v.IsInt()) expected(key, "a 32-bit integer");
    return v.GetInt();
  }

  uint32_t u32(const char* key) const {
    const Value& v = at(key);
    if (!v.IsUint()) expected(key, "a non-negative 32-bit integer");
    return v.GetUint();
  }

  bool boolean(const char* key) const {
    const Value& v = at(key);
    if (!v.IsBool()) expected(key, "true or false");
    return v.GetBool();
  }

  ObjectReader object(const char* key) const { return ObjectReader(source_, at(key), pointer_of(key)); }

  const Value& array(const char* key) const {
    const Value& v = at(key);
    if (!v.IsArray()) expected(key, "an array");
    return v;
  }

  // An array of numbers (null = NaN).
  std::vector<double> numbers(const char* key) const {
    const Value& a = array(key);
    std::vector<double> out;
    out.reserve(a.Size());
    for (SizeType i = 0; i < a.Size(); ++i) {
      if (a[i].IsNull()) {
        out.push_back(kNaN);
      } else if (a[i].IsNumber()) {
        out.push_back(a[i].GetDouble());
      } else {
        fail_at(pointer_of(key) + "/" + std::to_string(i),
                "expected a number or null, found " + json_type_name(a[i]));
      }
    }
    return out;
  }

  // A [lower, upper] pair.
  std::pair<double, double> number_pair(const char* key) const {
    const std::vector<double> v = numbers(key);
    if (v.size() != 2)
      fail_at(pointer_of(key), "expected [lower, upper], found " + std::to_string(v.size()) + " numbers");
    return {v[0], v[1]};
  }

  KeyValues key_values(const char* key, bool integers_allowed) const {
    const ObjectReader o = object(key);
    KeyValues out;
    for (auto it = o.v_.MemberBegin(); it != o.v_.MemberEnd(); ++it) {
      std::string k(it->name.GetString(), it->name.GetStringLength());
      const Value& v = it->value;
      if (v.IsString()) {
        out.emplace_back(std::move(k), std::string(v.GetString(), v.GetStringLength()));
      } else if (integers_allowed && v.IsInt64()) {
        out.emplace_back(std::move(k), std::to_string(v.GetInt64()));
      } else {
        fail_at(o.pointer_ + "/" + pointer_token(k), std::string("expected a string") +
                                                         (integers_allowed ? " or an integer" : "") +
                                                         ", found " + json_type_name(v));
      }
    }
    return out;
  }

  // Each element of an array of objects.
  template <class F>
  void each_object(const char* key, F&& f) const {
    const Value& a = array(key);
    for (SizeType i = 0; i < a.Size(); ++i)
      f(ObjectReader(source_, a[i], pointer_of(key) + "/" + std::to_string(i)));
  }

  const Value& value() const { return v_; }
  const std::string& pointer() const { return pointer_; }

 private:
  const std::string& source_;
  const Value& v_;
  std::string pointer_;
};

measure::SampleStatistics read_stats(const ObjectReader& o) {
  measure::SampleStatistics s;
  s.n = o.i64("n");
  s.mean = o.num("mean_s");
  s.median = o.num("median_s");
  s.stdev = o.num("stdev_s");
  s.cv = o.num("cv");
  s.min = o.num("min_s");
  s.max = o.num("max_s");
  s.p50 = o.num("p50_s");
  s.p90 = o.num("p90_s");
  s.p99 = o.num("p99_s");
  s.q1 = o.num("q1_s");
  s.q3 = o.num("q3_s");
  s.mad = o.num("mad_s");
  s.mad_scaled = o.num("mad_scaled_s");
  (void)o.i64("outliers");  // = low + high; checked for type only
  s.outliers.low = o.i64("outliers_low");
  s.outliers.high = o.i64("outliers_high");
  std::tie(s.outliers.lower_fence, s.outliers.upper_fence) = o.number_pair("outlier_fences_s");
  std::tie(s.median_ci.lower, s.median_ci.upper) = o.number_pair("median_ci_s");
  s.median_ci.confidence = o.num("confidence");
  return s;
}

int32_t read_weight_type(const ObjectReader& o) {
  const Value& v = o.at("weight_type");
  if (v.IsNull()) return -1;
  if (!v.IsString()) o.expected("weight_type", "a type name (\"Q4_K\") or null");
  const std::string_view name(v.GetString(), v.GetStringLength());
  if (auto t = model::ggml_type_from_name(name)) return static_cast<int32_t>(*t);
  // ggml_type_name spells ids this build does not know as "type#99".
  constexpr std::string_view kUnknownPrefix = "type#";
  if (name.substr(0, kUnknownPrefix.size()) == kUnknownPrefix) {
    int32_t id = -1;
    const char* first = name.data() + kUnknownPrefix.size();
    const char* last = name.data() + name.size();
    const auto res = std::from_chars(first, last, id);
    if (res.ec == std::errc() && res.ptr == last && id >= 0) return id;
  }
  std::string msg = "unknown weight type '";
  msg.append(name).append("'");
  o.fail_at(o.pointer_of("weight_type"), msg);
}

Cell read_cell(const ObjectReader& o) {
  Cell c;
  c.id = o.str("id");
  c.brick = o.str("brick");
  c.backend = o.str("backend");
  c.shape = o.str("shape");
  c.context = o.i32("context");
  c.weight_type = read_weight_type(o);
  c.tokens = o.i32("tokens");
  c.n_weight_sets = o.i32("n_weight_sets");
  const std::string status = o.str("status");
  const auto st = cell_status_from_name(status);
  if (!st) {
    o.fail_at(o.pointer_of("status"),
              "unknown status '" + status +
                  "'; known: CONVERGED, UNSTABLE, CAPPED_SLOW, SKIPPED, FAILED, INTERRUPTED");
  }
  c.status = *st;
  c.status_reason = o.str("status_reason");

  const ObjectReader p = o.object("protocol");
  c.warmup_iterations = p.i64("warmup_iterations");
  c.warmup_seconds = p.num("warmup_seconds");
  c.iterations_per_sample = p.i64("iterations_per_sample");
  c.time_source = p.str("time_source");

  c.samples = o.numbers("samples_s");
  c.stats = read_stats(o.object("stats"));
  c.tok_s = o.opt_num("tok_s");

  const ObjectReader r = o.object("roofline");
  c.roofline.bytes = r.num("bytes");
  c.roofline.flops = r.num("flops");
  c.roofline.gbps = r.num("gbps");
  c.roofline.gflops = r.num("gflops");
  c.roofline.ceiling_gbps = r.num("ceiling_gbps");
  c.roofline.fraction_of_ceiling = r.num("fraction_of_ceiling");

  const ObjectReader b = o.object("budget");
  c.budget.has_budget = b.boolean("has_budget");
  c.budget.budget_us = b.num("budget_us");
  c.budget.budget_tok_s = b.opt_num("budget_tok_s");
  c.budget.gap = b.num("gap");
  c.budget.score = b.num("score");
  c.budget.grade = b.str("grade");
  c.budget.pass = b.boolean("pass");
  c.budget.graded = b.boolean("graded");

  const ObjectReader e = o.object("equivalence");
  c.equivalence.checked = e.boolean("checked");
  c.equivalence.pass = e.boolean("pass");
  c.equivalence.reference = e.str("reference");
  c.equivalence.tolerance_class = e.str("tolerance_class");
  c.equivalence.nmse = e.num("nmse");
  c.equivalence.max_rel = e.num("max_rel");
  c.equivalence.non_finite = e.i64("non_finite");
  c.equivalence.top1 = e.opt_num("top1");
  if (e.has("top1_strict")) c.equivalence.top1_strict = e.opt_num("top1_strict");  // since 2026-11-26
  c.equivalence.tol_nmse = e.opt_num("tol_nmse");
  c.equivalence.tol_max_rel = e.opt_num("tol_max_rel");
  c.equivalence.tol_top1 = e.opt_num("tol_top1");
  c.equivalence.note = e.str("note");
  if (o.has("engine")) c.engine = o.key_values("engine", false);
  if (o.has("interference")) {  // since 2026-12-04
    const ObjectReader x = o.object("interference");
    Interference i;
    i.window_s = x.num("window_s");
    i.other_cores = x.num("other_cores");
    i.steal_fraction = x.num("steal_fraction");
    i.cpus = x.i32("cpus");
    i.flagged = x.boolean("flagged");
    c.interference = i;
  }
  return c;
}

PeerRecord read_peer(const ObjectReader& o) {
  PeerRecord p;
  p.backend = o.str("backend");
  const ObjectReader facts = o.object("facts");
  for (auto it = facts.value().MemberBegin(); it != facts.value().MemberEnd(); ++it) {
    std::string k(it->name.GetString(), it->name.GetStringLength());
    if (it->value.IsNull()) continue;  // unknown
    p.facts.emplace_back(k, facts.str(k.c_str()));
  }
  o.each_object("cells", [&](const ObjectReader& c) {
    PeerCell pc;
    pc.cell_id = c.str("cell_id");
    pc.decode_tok_s = c.opt_num("decode_tok_s");
    pc.prefill_tok_s = c.opt_num("prefill_tok_s");
    pc.ttft_s = c.opt_num("ttft_s");
    pc.gap_p50_s = c.opt_num("gap_p50_s");
    pc.gap_p99_s = c.opt_num("gap_p99_s");
    pc.load_duration_s = c.opt_num("load_duration_s");
    c.each_object("versus", [&](const ObjectReader& v) {
      pc.versus.push_back({v.str("backend"), v.opt_num("tok_s"), v.opt_num("ratio")});
    });
    c.each_object("requests", [&](const ObjectReader& q) {
      PeerRequest r;
      r.sample = q.i64("sample");
      r.eval_count = q.opt_num("eval_count");
      r.eval_duration_s = q.opt_num("eval_duration_s");
      r.prompt_eval_count = q.opt_num("prompt_eval_count");
      r.prompt_eval_duration_s = q.opt_num("prompt_eval_duration_s");
      r.load_duration_s = q.opt_num("load_duration_s");
      r.total_duration_s = q.opt_num("total_duration_s");
      r.ttft_s = q.opt_num("ttft_s");
      r.gap_p50_s = q.opt_num("gap_p50_s");
      r.gap_p99_s = q.opt_num("gap_p99_s");
      r.done_reason = q.str_or_null("done_reason");
      pc.requests.push_back(std::move(r));
    });
    p.cells.push_back(std::move(pc));
  });
  return p;
}

std::vector<std::string> read_strings(const ObjectReader& o, const char* key) {
  const Value& a = o.array(key);
  std::vector<std::string> out;
  for (SizeType i = 0; i < a.Size(); ++i) {
    if (!a[i].IsString()) {
      o.fail_at(o.pointer_of(key) + "/" + std::to_string(i),
                "expected a string, found " + json_type_name(a[i]));
    }
    out.emplace_back(a[i].GetString(), a[i].GetStringLength());
  }
  return out;
}

}  // namespace

std::string result_json(const RunResult& r) {
  rapidjson::Document spec;
  if (!r.experiment_json.empty()) {
    spec.Parse<kParseFlags>(r.experiment_json.data(), r.experiment_json.size());
    if (spec.HasParseError()) {
      std::string msg = "result_json: the experiment's canonical JSON is not valid JSON (offset ";
      msg.append(std::to_string(spec.GetErrorOffset()))
          .append(": ")
          .append(rapidjson::GetParseError_En(spec.GetParseError()))
          .append(")");
      throw std::invalid_argument(msg);
    }
  }

  rapidjson::StringBuffer buf;
  Writer w(buf);
  w.SetIndent(' ', 2);
  w.StartObject();
  w.Key("schema_version"), w.Int(r.schema_version);
  w.Key("tool");
  w.StartObject();
  w.Key("name"), str(w, "brickbench");
  w.Key("version"), str(w, r.tool_version);
  w.Key("git_commit"), str(w, r.git_commit);
  w.EndObject();
  w.Key("state"), str(w, r.state);
  w.Key("started_utc"), str_or_null(w, r.started_utc);
  w.Key("finished_utc"), str_or_null(w, r.finished_utc);
  w.Key("command_line"), str(w, r.command_line);

  w.Key("experiment");
  w.StartObject();
  w.Key("name"), str(w, r.experiment_name);
  w.Key("hash"), str(w, r.experiment_hash);
  w.Key("config_path"), str(w, r.config_path);
  w.Key("spec");
  if (r.experiment_json.empty()) {
    w.Null();
  } else {
    spec.Accept(w);
  }
  w.EndObject();

  w.Key("environment"), key_values(w, r.environment);
  w.Key("plugins");
  w.StartArray();
  for (const auto& p : r.plugins) write_plugin(w, p);
  w.EndArray();
  w.Key("skipped_backends");
  w.StartArray();
  for (const auto& s : r.skipped_backends) {
    w.StartObject();
    w.Key("name"), str(w, s.name);
    w.Key("reason"), str(w, s.reason);
    w.EndObject();
  }
  w.EndArray();
  w.Key("model"), write_model(w, r.model);
  w.Key("cells");
  w.StartArray();
  for (const auto& c : r.cells) write_cell(w, c);
  w.EndArray();
  w.Key("peers");
  w.StartArray();
  for (const auto& p : r.peers) write_peer(w, p);
  w.EndArray();
  w.Key("warnings");
  w.StartArray();
  for (const auto& s : r.warnings) str(w, s);
  w.EndArray();
  w.EndObject();

  std::string out(buf.GetString(), buf.GetSize());
  out.push_back('\n');
  return out;
}

void write_result_json(const RunResult& r, const std::string& path) {
  write_file_atomically(path, result_json(r));
}

RunResult parse_result_json(const std::string& json_text, const std::string& source) {
  io::check_json_depth(json_text, source);
  rapidjson::Document doc;
  doc.Parse<kParseFlags>(json_text.data(), json_text.size());
  if (doc.HasParseError()) {
    std::string msg = source;
    msg.append(": not valid JSON at offset ")
        .append(std::to_string(doc.GetErrorOffset()))
        .append(": ")
        .append(rapidjson::GetParseError_En(doc.GetParseError()));
    throw std::runtime_error(msg);
  }
  const ObjectReader root(source, doc, "");
  RunResult r;
  r.schema_version = root.i32("schema_version");
  if (r.schema_version != kResultSchemaVersion) {
    std::string msg = "schema_version ";
    msg.append(std::to_string(r.schema_version))
        .append(" is not one this build reads (")
        .append(std::to_string(kResultSchemaVersion))
        .append(")");
    root.fail_at(root.pointer_of("schema_version"), msg);
  }
  const ObjectReader tool = root.object("tool");
  r.tool_version = tool.str("version");
  r.git_commit = tool.str("git_commit");
  r.state = root.str("state");
  r.started_utc = root.str_or_null("started_utc");
  r.finished_utc = root.str_or_null("finished_utc");
  r.command_line = root.str("command_line");

  const ObjectReader ex = root.object("experiment");
  r.experiment_name = ex.str("name");
  r.experiment_hash = ex.str("hash");
  r.config_path = ex.str("config_path");
  const Value& spec = ex.at("spec");
  if (spec.IsObject()) {
    // Compact, as canonical_json writes it: the same writer and exact doubles give the same text.
    rapidjson::StringBuffer buf;
    rapidjson::Writer<rapidjson::StringBuffer> w(buf);
    spec.Accept(w);
    r.experiment_json.assign(buf.GetString(), buf.GetSize());
  } else if (!spec.IsNull()) {
    ex.expected("spec", "an object or null");
  }

  r.environment = root.key_values("environment", false);
  root.each_object("plugins", [&](const ObjectReader& o) {
    PluginRecord p;
    p.name = o.str("name");
    p.version = o.str("version");
    p.path = o.str("path");
    p.sha256 = o.str("sha256");
    p.abi_major = o.u32("abi_major");
    p.abi_minor = o.u32("abi_minor");
    p.probe_score = o.i32("probe_score");
    p.build_info = o.key_values("build_info", false);
    r.plugins.push_back(std::move(p));
  });
  root.each_object("skipped_backends", [&](const ObjectReader& o) {
    r.skipped_backends.push_back({o.str("name"), o.str("reason")});
  });
  const ObjectReader m = root.object("model");
  r.model.name = m.str("name");
  r.model.path = m.str("path");
  r.model.sha256 = m.str("sha256");
  r.model.synthetic = m.boolean("synthetic");
  r.model.synthetic_spec = m.str("synthetic_spec");
  r.model.weight_mib = m.num("weight_mib");
  r.model.dims = m.key_values("dims", true);
  r.model.type_counts = m.key_values("type_counts", true);
  if (m.value().HasMember("ollama_tag")) r.model.ollama_tag = m.str_or_null("ollama_tag");  // optional: newer
  if (m.value().HasMember("ollama_digest")) r.model.ollama_digest = m.str_or_null("ollama_digest");
  root.each_object("cells", [&](const ObjectReader& o) { r.cells.push_back(read_cell(o)); });
  if (root.value().HasMember("peers"))
    root.each_object("peers", [&](const ObjectReader& o) { r.peers.push_back(read_peer(o)); });
  r.warnings = read_strings(root, "warnings");
  return r;
}

RunResult read_result_json(const std::string& path) {
  if (auto why = io::not_a_regular_file(path)) throw std::runtime_error(path + ": " + *why);
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error(path + ": cannot open the result file");
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) throw std::runtime_error(path + ": error reading the result file");
  return parse_result_json(text.str(), path);
}

}  // namespace bb::report
