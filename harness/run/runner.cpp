#include "run/runner.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <memory>
#include <optional>
#include <sstream>

#include "config/brick_cost.h"
#include "measure/protocol.h"
#include "model/ggml_types.h"
#include "model/qwen2_model.h"
#include "model/synthetic.h"
#include "plugin/backend.h"
#include "report/result_json.h"
#include "run/environment.h"
#include "run/sha256.h"
#include "verify/equivalence.h"
#include "verify/logits_compare.h"
#include "workload/cells.h"
#include "workload/decode_driver.h"
#include "workload/plan_workload.h"

#ifndef BRICKBENCH_GIT_COMMIT
#define BRICKBENCH_GIT_COMMIT "unknown"
#endif

namespace bb::run {
namespace {

using config::Brick;
using Clock = std::chrono::steady_clock;

constexpr int32_t kDecodeCheckPositions = 4;  // decode equivalence: logits of this many positions
// generate equivalence when the tokens differ: the candidate's first tokens, teacher-forced through
// the reference (one reference decode each), are checked for top-1 with ties
constexpr int32_t kGenerateCheckTokens = 16;

struct Backend {
  std::string name;
  std::shared_ptr<const plugin::LoadedPlugin> plugin;
  std::shared_ptr<plugin::Context> ctx;
  std::unique_ptr<workload::DecodeDriver> driver;  // made on first use
  std::string driver_error;                        // why there is none
  bool reference = false;
  bool reference_only = false;
  measure::ProtocolSettings protocol;
  double ceiling_gbps = 0;
};

struct CellRun {
  const workload::CellSpec* spec = nullptr;
  Backend* backend = nullptr;
  bool bandwidth = false;
  std::unique_ptr<plugin::Plan> plan;
  std::unique_ptr<measure::CellSampler> sampler;
  int64_t weight_cursor = 0;
  int32_t n_weight_sets = 1;
  // outputs of the check run
  std::vector<std::vector<float>> outputs;
  std::vector<uint8_t> bytes;
  std::vector<int32_t> tokens;
  bool has_outputs = false;
  // generate on a backend without session_write_kv (a whole-model peer): a real prompt of `context`
  // tokens from position 0 instead of a synthetic KV history, so its tokens are not compared.
  bool real_prompt = false;
  bool device_time = false;  // samples are the device time the backend reports (decided by the check run)
  std::vector<std::vector<std::pair<std::string, std::string>>> call_metrics;  // per timed call (ABI 1.1)
  report::Cell result;
  size_t result_index = 0;  // into RunResult::cells
  Clock::time_point last_progress{};
};

measure::ProtocolSettings to_settings(const config::Protocol& p) {
  measure::ProtocolSettings s;
  s.warmup_ms = p.warmup_ms;
  s.warmup_min_iterations = p.warmup_min_iterations;
  s.min_samples = p.min_samples;
  s.max_samples = p.max_samples;
  s.cv_target = p.cv_target;
  s.max_seconds_per_cell = p.max_seconds_per_cell;
  s.seed = p.seed;
  s.order = p.order == config::Order::Sequential ? measure::SchedulingOrder::kSequential
                                                 : measure::SchedulingOrder::kInterleaved;
  return s;
}

report::CellStatus to_status(measure::CellStatus s) {
  switch (s) {
    case measure::CellStatus::kConverged:
      return report::CellStatus::Converged;
    case measure::CellStatus::kUnstable:
      return report::CellStatus::Unstable;
    case measure::CellStatus::kCappedSlow:
      return report::CellStatus::CappedSlow;
    case measure::CellStatus::kRunning:
      break;
  }
  return report::CellStatus::Interrupted;
}

std::string fmt(const char* f, double v) {
  char b[64];
  std::snprintf(b, sizeof b, f, v);
  return b;
}

std::string grade_of(double score) {
  return score >= 90 ? "A" : score >= 80 ? "B" : score >= 70 ? "C" : score >= 60 ? "D" : "F";
}

config::ToleranceClass tolerance_class(const plugin::LoadedPlugin& p, int32_t op) {
  for (const bb_capability& c : p.info().capabilities)
    if (c.op == op && (c.flags & BB_CAP_ACT_Q8)) return config::ToleranceClass::ActQ8;
  return config::ToleranceClass::FloatActivations;
}

int32_t cap_type(const workload::CellSpec& s, const model::Qwen2Model& m) {
  if (s.brick == Brick::Gemv) return s.weight_type;
  // Ops whose weights are model matrices: the capability is keyed by the main weight's type.
  auto type_of = [&](const std::string& name) {
    for (const auto& t : m.tensors)
      if (t.name && name == t.name) return t.type;
    return static_cast<int32_t>(BB_TYPE_ANY);
  };
  const std::string l = "blk." + std::to_string(s.layers.empty() ? 0 : s.layers.front()) + ".";
  switch (s.brick) {
    case Brick::Qkv:
      return type_of(l + "attn_q.weight");
    case Brick::OProj:
      return type_of(l + "attn_output.weight");
    case Brick::Ffn:
      return type_of(l + "ffn_gate.weight");
    case Brick::Layer:
      return type_of(l + "attn_q.weight");
    case Brick::RmsNorm:
      return BB_TYPE_F32;
    default:
      return BB_TYPE_ANY;
  }
}

// The prompt a generate cell sends to a backend that cannot be given a KV history: `n` seeded token
// ids (the history the other backends get as KV rows), then the cell's token.
std::vector<int32_t> history_prompt(uint64_t seed, int32_t n, int32_t n_vocab, int32_t token) {
  std::vector<int32_t> p;
  p.reserve(static_cast<size_t>(n) + 1);
  for (int32_t i = 0; i < n; ++i)
    p.push_back(static_cast<int32_t>((seed * 2654435761u + 7919u * static_cast<uint64_t>(i) + 13u) %
                                     static_cast<uint64_t>(n_vocab)));
  p.push_back(token);
  return p;
}

std::optional<double> metric_number(const std::vector<std::pair<std::string, std::string>>& kv,
                                    const char* key, double scale = 1.0) {
  for (const auto& [k, v] : kv) {
    if (k != key) continue;
    char* end = nullptr;
    const double x = std::strtod(v.c_str(), &end);
    if (end == v.c_str() || *end != '\0' || !std::isfinite(x)) return std::nullopt;
    return x * scale;
  }
  return std::nullopt;
}

// A peer's record of one finished cell from the metrics of its timed calls: the last n_samples * K
// calls are the samples' (warm-up and calibration calls come first). Returns false when the calls
// carry no peer.* facts (not a peer).
bool peer_cell_of(const std::vector<std::vector<std::pair<std::string, std::string>>>& calls,
                  size_t n_samples, int64_t k, report::PeerCell& out, report::KeyValues& facts) {
  if (calls.empty()) return false;
  facts.clear();
  for (const auto& [key, v] : calls.back())
    if (key.rfind("peer.", 0) == 0) facts.emplace_back(key.substr(5), v);
  if (facts.empty()) return false;
  const size_t per = static_cast<size_t>(std::max<int64_t>(1, k));
  const size_t want = std::min(calls.size(), n_samples * per);
  const size_t first = calls.size() - want;
  for (size_t i = first; i < calls.size(); ++i) {
    const auto& kv = calls[i];
    report::PeerRequest q;
    q.sample = static_cast<int64_t>((i - first) / per);
    q.eval_count = metric_number(kv, "eval_count");
    q.eval_duration_s = metric_number(kv, "eval_duration_ns", 1e-9);
    q.prompt_eval_count = metric_number(kv, "prompt_eval_count");
    q.prompt_eval_duration_s = metric_number(kv, "prompt_eval_duration_ns", 1e-9);
    q.load_duration_s = metric_number(kv, "load_duration_ns", 1e-9);
    q.total_duration_s = metric_number(kv, "total_duration_ns", 1e-9);
    q.ttft_s = metric_number(kv, "ttft_ns", 1e-9);
    q.gap_p50_s = metric_number(kv, "gap_p50_ns", 1e-9);
    q.gap_p99_s = metric_number(kv, "gap_p99_ns", 1e-9);
    for (const auto& [key, v] : kv)
      if (key == "done_reason") q.done_reason = v;
    out.requests.push_back(std::move(q));
  }
  return true;
}

}  // namespace

report::RunResult run_experiment(const config::Experiment& e, const RunOptions& o, const ProgressSink& say) {
  report::RunResult r;
  r.tool_version = BRICKBENCH_VERSION;
  r.git_commit = BRICKBENCH_GIT_COMMIT;
  r.started_utc = utc_now_iso8601();
  r.command_line = o.command_line;
  r.experiment_name = e.name;
  r.experiment_hash = config::experiment_hash(e);
  r.experiment_json = config::canonical_json(e);
  r.config_path = e.source;
  r.environment = collect_environment();

  auto save = [&] {
    report::compare_with_peers(r);
    if (!o.out_path.empty()) report::write_result_json(r, o.out_path);
  };

  // ---- model
  std::string model_path;
  if (e.model.source == config::ModelSource::Gguf) {
    model_path = e.model.gguf_path;
  } else if (e.model.source == config::ModelSource::Ollama) {  // Ollama's own blob: the same weights
    model_path = e.model.ollama_blob_path;
  } else {
    model::SynthOptions so;
    so.model = e.model.synthetic->model;
    so.quant = e.model.synthetic->quant;
    so.seed = e.model.synthetic->seed;
    model_path = model::ensure_synthetic_model(so);
    r.model.synthetic_spec = so.model + " " + so.quant + " seed " + std::to_string(so.seed);
  }
  model::Qwen2Model m = model::load_qwen2(model_path);
  const config::ModelTypes types = config::model_types_of(m);
  r.model.path = model_path;
  r.model.synthetic = m.synthetic || e.model.source == config::ModelSource::Synthetic;
  if (e.model.source == config::ModelSource::Ollama) {
    // The blob's name is its digest, which Ollama checked when it pulled it; hashing a multi-GB blob
    // again (or caching a .sha256 inside Ollama's store) is not ours to do.
    r.model.sha256 = e.model.ollama_digest.substr(e.model.ollama_digest.find(':') + 1);
  } else {
    r.model.sha256 = r.model.synthetic ? sha256_file_cached(model_path) : sha256_file(model_path);
  }
  r.model.ollama_tag = e.model.ollama;
  r.model.ollama_digest = e.model.ollama_digest;
  if (!e.model.ollama_note.empty()) r.warnings.push_back("model.ollama: " + e.model.ollama_note);
  if (auto n = m.file->get_string_opt("general.name")) r.model.name = *n;
  {
    const bb_model_dims& d = m.dims;
    r.model.dims = {{"n_embd", std::to_string(d.n_embd)},
                    {"n_ff", std::to_string(d.n_ff)},
                    {"n_layer", std::to_string(d.n_layer)},
                    {"n_head", std::to_string(d.n_head)},
                    {"n_head_kv", std::to_string(d.n_head_kv)},
                    {"head_dim", std::to_string(d.head_dim)},
                    {"n_vocab", std::to_string(d.n_vocab)},
                    {"n_ctx_max", std::to_string(d.n_ctx_max)},
                    {"rms_eps", fmt("%g", d.rms_eps)},
                    {"rope_theta", fmt("%g", d.rope_theta)},
                    {"tied_embeddings", d.tied_embeddings ? "true" : "false"}};
    std::map<std::string, int> counts;
    double bytes = 0;
    for (const auto& t : m.tensors) {
      ++counts[model::ggml_type_name(t.type)];
      bytes += static_cast<double>(t.nbytes);
    }
    for (const auto& [k, v] : counts) r.model.type_counts.emplace_back(k, std::to_string(v));
    r.model.weight_mib = bytes / (1024.0 * 1024.0);
  }
  say("model: " + model_path + (r.model.synthetic ? " (synthetic " + r.model.synthetic_spec + ")" : "") +
      ", " + fmt("%.1f MiB", r.model.weight_mib));

  // ---- cells (validated against the model before anything runs)
  const std::vector<workload::CellSpec> specs = workload::expand_cells(e, m, types);
  const workload::CellSpec bandwidth_spec = workload::bandwidth_probe_cell(o.bandwidth_bytes);

  // ---- backends
  plugin::PluginRegistry registry;
  registry.discover(o.plugin_paths);
  for (const auto& w : registry.warnings()) r.warnings.push_back(w);
  std::vector<std::string> names = e.backends;
  if (names.empty())
    for (const auto& p : registry.usable()) names.push_back(p->info().name);
  if (std::find(names.begin(), names.end(), e.reference) == names.end())
    names.insert(names.begin(), e.reference);
  if (!o.only_backends.empty()) {
    std::vector<std::string> kept;
    for (const auto& n : names)
      if (n == e.reference ||
          std::find(o.only_backends.begin(), o.only_backends.end(), n) != o.only_backends.end())
        kept.push_back(n);
    for (const auto& want : o.only_backends)
      if (std::find(names.begin(), names.end(), want) == names.end()) kept.push_back(want);
    names = kept;
  }
  const int32_t threads = o.threads >= 0 ? o.threads : e.threads;
  if (threads > 0) plugin::set_host_threads(threads);

  std::vector<std::unique_ptr<Backend>> backends;
  for (const auto& name : names) {
    auto p = registry.find(name);
    if (!p) {
      r.skipped_backends.push_back({name, registry.why_unavailable(name)});
      say("skipping backend " + name + ": " + r.skipped_backends.back().reason);
      continue;
    }
    auto b = std::make_unique<Backend>();
    b->name = name;
    b->plugin = p;
    b->reference = name == e.reference;
    b->reference_only = e.reference_only(name);
    b->protocol = to_settings(e.protocol_for(name));
    try {
      // Options: the config's backend_options for this backend, then the experiment's Ollama tag
      // (model.ollama), which whole-model peers serve; backends ignore keys they do not know.
      std::vector<std::pair<std::string, std::string>> opt_text;
      for (const auto& [bn, kvs] : e.backend_options)
        if (bn == name) opt_text = kvs;
      if (!e.model.ollama.empty()) opt_text.emplace_back("model.ollama", e.model.ollama);
      std::vector<bb_kv> opts;
      for (const auto& [k, v] : opt_text) opts.push_back({k.c_str(), v.c_str()});
      bb_context_args ca{};
      ca.struct_size = sizeof(ca);
      ca.n_threads = threads;
      ca.n_options = opts.size();
      ca.options = opts.empty() ? nullptr : opts.data();
      b->ctx = std::make_shared<plugin::Context>(p, ca);
    } catch (const std::exception& ex) {
      r.skipped_backends.push_back({name, std::string("context creation failed: ") + ex.what()});
      say("skipping backend " + name + ": " + r.skipped_backends.back().reason);
      continue;
    }
    report::PluginRecord pr;
    const auto& info = p->info();
    pr.name = info.name;
    pr.version = info.version;
    pr.path = info.path;
    pr.abi_major = info.abi_major;
    pr.abi_minor = info.abi_minor;
    pr.probe_score = info.probe_score;
    pr.build_info = info.build_info;
    try {
      pr.sha256 = sha256_file(info.path);
    } catch (const std::exception& ex) {
      r.warnings.push_back(ex.what());
    }
    r.plugins.push_back(pr);
    backends.push_back(std::move(b));
  }
  if (backends.empty())
    throw InputError("no backend of the experiment is available (bench plugins lists what was found)");
  // The reference runs first so every other backend's check run can be compared at once.
  std::stable_partition(backends.begin(), backends.end(), [](const auto& b) { return b->reference; });
  const bool have_reference = backends.front()->reference;
  if (!have_reference)
    r.warnings.push_back("reference backend '" + e.reference +
                         "' is not available: equivalence is not checked");

  // ---- sessions for decode/generate, sized for the longest need
  int32_t n_ctx = 0;
  for (const auto& s : specs) {
    if (s.brick == Brick::Decode) n_ctx = std::max(n_ctx, s.context + kDecodeCheckPositions);
    if (s.brick == Brick::Generate) n_ctx = std::max(n_ctx, s.context + s.tokens);
  }
  n_ctx = std::min(n_ctx, m.dims.n_ctx_max);
  auto driver_of = [&](Backend& b) -> workload::DecodeDriver* {
    if (!b.driver && b.driver_error.empty()) {
      try {
        // A generate-only peer's session lives in the context made with its options (endpoint, model);
        // every other backend gets a session context of its own, as before.
        const bool peer = !b.plugin->supports(BB_OP_DECODE, BB_TYPE_ANY);
        b.driver =
            std::make_unique<workload::DecodeDriver>(b.plugin, m, n_ctx, threads, peer ? b.ctx : nullptr);
      } catch (const plugin::BackendError& ex) {
        b.driver_error = ex.what();
      }
    }
    return b.driver.get();
  };

  // ---- workloads shared by every backend
  std::map<const workload::CellSpec*, std::unique_ptr<workload::PlanWorkload>> workloads;
  const uint64_t seed = e.protocol.seed;
  auto workload_of = [&](const workload::CellSpec& s) -> workload::PlanWorkload& {
    auto& w = workloads[&s];
    if (!w) w = std::make_unique<workload::PlanWorkload>(m, s, seed);
    return *w;
  };

  // ---- cells: (bandwidth probe + every spec) x every backend
  std::vector<std::unique_ptr<CellRun>> cells;
  // The token a decode / generate cell starts from at position context - 1 (after the KV history).
  auto first_token = [&](const workload::CellSpec& s) {
    return static_cast<int32_t>((seed * 2654435761u + static_cast<uint64_t>(s.context)) %
                                static_cast<uint64_t>(m.dims.n_vocab));
  };
  std::map<const workload::CellSpec*, CellRun*> reference_cell;
  for (auto& b : backends) {
    std::vector<const workload::CellSpec*> todo = {&bandwidth_spec};
    for (const auto& s : specs) todo.push_back(&s);
    for (const workload::CellSpec* s : todo) {
      auto c = std::make_unique<CellRun>();
      c->spec = s;
      c->backend = b.get();
      c->bandwidth = s == &bandwidth_spec;
      report::Cell& rc = c->result;
      rc.id = s->id;
      rc.brick = c->bandwidth ? "copy" : std::string(config::brick_name(s->brick));
      rc.backend = b->name;
      rc.shape = s->shape;
      rc.context = s->context;
      rc.weight_type = s->brick == Brick::Gemv ? s->weight_type : -1;
      rc.tokens = s->tokens;
      rc.n_weight_sets = static_cast<int32_t>(std::max<size_t>(1, s->layers.size()));
      rc.time_source = "host";
      rc.roofline.bytes = s->cost.bytes();
      rc.roofline.flops = s->cost.flops;
      if (!c->bandwidth && s->entry) {
        if (s->entry->budget_us) {
          rc.budget.has_budget = true;
          rc.budget.budget_us = *s->entry->budget_us;
        } else if (s->entry->budget_tok_s) {
          rc.budget.has_budget = true;
          rc.budget.budget_tok_s = *s->entry->budget_tok_s;
          rc.budget.budget_us = 1e6 / *s->entry->budget_tok_s;
        }
      }
      // Reference-only backends are never graded; nor is the bandwidth probe, which measures the
      // machine (other processes' memory traffic moves it), not a brick.
      rc.budget.graded = !b->reference_only && !c->bandwidth;
      if (b->reference && !c->bandwidth) reference_cell[s] = c.get();
      cells.push_back(std::move(c));
    }
  }

  auto fail_cell = [&](CellRun& c, report::CellStatus st, const std::string& why) {
    // An isolated backend whose plugin host died: CRASHED / TIMEOUT with how, whatever the call said.
    if (auto f = c.backend->plugin->failure()) {
      c.result.status = f->timeout ? report::CellStatus::Timeout : report::CellStatus::Crashed;
      c.result.status_reason = f->reason;
      say("  " + std::string(report::cell_status_name(c.result.status)) + " " + c.result.id + " on " +
          c.backend->name + ": " + f->reason);
      return;
    }
    c.result.status = st;
    c.result.status_reason = why;
    say((st == report::CellStatus::Skipped ? "  skip " : "  FAIL ") + c.result.id + " on " + c.backend->name +
        ": " + why);
  };

  // ---- prepare: plan/session, one check run with poisoned outputs, equivalence
  say("preparing " + std::to_string(cells.size()) + " cells on " + std::to_string(backends.size()) +
      " backends");
  for (auto& cp : cells) {
    if (plugin::cancel_requested()) break;
    CellRun& c = *cp;
    Backend& b = *c.backend;
    const workload::CellSpec& s = *c.spec;
    const int32_t op = static_cast<int32_t>(config::brick_op(s.brick));
    try {
      if (!b.plugin->supports(op, cap_type(s, m)) && !b.plugin->supports(op, BB_TYPE_ANY)) {
        fail_cell(c, report::CellStatus::Skipped,
                  b.name + " does not list (" + plugin::op_name(op) + ", " +
                      plugin::type_name(cap_type(s, m)) + ")");
        continue;
      }
      if (s.brick == Brick::Decode || s.brick == Brick::Generate) {
        workload::DecodeDriver* drv = driver_of(b);
        if (!drv) {
          fail_cell(c, report::CellStatus::Skipped, b.driver_error);  // CRASHED when the plugin host died
          continue;
        }
        const int32_t pos = s.context - 1;
        c.real_prompt = s.brick == Brick::Generate && !drv->can_write_kv();
        if (!c.real_prompt) drv->write_kv_history(pos, seed);
        const int32_t token = first_token(s);
        if (s.brick == Brick::Decode) {
          for (int32_t i = 0; i < kDecodeCheckPositions && pos + i < n_ctx; ++i)
            c.outputs.push_back(drv->decode((token + 7919 * i) % m.dims.n_vocab, pos + i));
          c.result.samples.clear();
          c.sampler = std::make_unique<measure::CellSampler>(
              [drv, token, pos](int64_t it) { return drv->decode_timed(token, pos, it); }, b.protocol);
        } else {
          // A backend without KV writes gets the history as a real prompt from position 0.
          const std::vector<int32_t> prompt =
              c.real_prompt ? history_prompt(seed, pos, m.dims.n_vocab, token) : std::vector<int32_t>{token};
          const int32_t from = c.real_prompt ? 0 : pos;
          double check_device = -1;
          c.tokens = drv->generate(prompt, from, s.tokens, nullptr, &check_device);
          // A peer's samples are its server-side time (eval_duration, reported as device time) when its
          // check run reported one: every sample then must, or the cell fails rather than mixing
          // clocks. Other backends' generate cells stay on the host clock, like their decode cells.
          c.device_time = c.real_prompt && check_device >= 0;
          c.result.time_source = c.device_time ? "device" : "host";
          const int32_t n = s.tokens;
          CellRun* self = &c;
          const std::string backend_name = b.name;
          c.sampler = std::make_unique<measure::CellSampler>(
              [drv, prompt, from, n, self, backend_name](int64_t it) {
                double total = 0;
                for (int64_t i = 0; i < it; ++i) {
                  double sec = 0, dev = -1;
                  drv->generate(prompt, from, n, &sec, &dev);
                  auto kv = drv->metrics();
                  if (!kv.empty()) self->call_metrics.push_back(std::move(kv));
                  if (self->device_time && dev < 0)
                    throw std::runtime_error(backend_name +
                                             ": a generate call reported no device time although the "
                                             "check run did (the cell's time source is device)");
                  total += self->device_time ? dev : sec;
                }
                return total;
              },
              b.protocol);
        }
        // The engine's facts (engine.*, e.g. its CUDA graph), read once after the check run, outside
        // every timed region. They describe the cell and judge nothing: a session that fails to say
        // leaves the cell without them.
        try {
          for (auto& [k, v] : drv->metrics())
            if (k.rfind("engine.", 0) == 0) c.result.engine.emplace_back(std::move(k), std::move(v));
        } catch (const std::exception& ex) {
          say("  " + c.result.id + " on " + b.name + ": no engine facts (" + ex.what() + ")");
        }
        c.has_outputs = true;
      } else {
        workload::PlanWorkload& w = workload_of(s);
        c.plan = std::make_unique<plugin::Plan>(b.ctx, w.desc());
        c.n_weight_sets = w.n_weight_sets();
        c.plan->write_inputs(w.inputs());
        bb_run_args ra{};
        ra.struct_size = sizeof(ra);
        ra.iterations = 1;
        c.plan->run(ra);
        auto out = w.poisoned_outputs();
        c.plan->read_outputs(out.tensors);
        if (s.brick == Brick::Copy) {
          c.bytes = std::move(out.bytes.front());
          // The copy is checked against its own input, whatever the reference does.
          const auto& src = w.inputs().front();
          const auto* p = static_cast<const uint8_t*>(src.data);
          if (!std::equal(c.bytes.begin(), c.bytes.end(), p)) {
            fail_cell(c, report::CellStatus::Failed, "copy output differs from its input");
            continue;
          }
        } else {
          c.outputs = std::move(out.data);
        }
        c.has_outputs = true;
        plugin::Plan* plan = c.plan.get();
        CellRun* self = &c;
        c.sampler = std::make_unique<measure::CellSampler>(
            [plan, self](int64_t it) {
              bb_run_args a{};
              a.struct_size = sizeof(a);
              a.iterations = it;
              a.weight_set_begin = self->weight_cursor % self->n_weight_sets;
              self->weight_cursor += it;
              return plan->run(a);  // the call's own time (isolated: the plugin host's clock)
            },
            b.protocol);
      }
    } catch (const plugin::BackendError& ex) {
      fail_cell(c, ex.status() == BB_UNSUPPORTED ? report::CellStatus::Skipped : report::CellStatus::Failed,
                ex.what());
      continue;
    } catch (const std::exception& ex) {
      fail_cell(c, report::CellStatus::Failed, ex.what());
      continue;
    }

    // equivalence against the reference's check run
    report::Equivalence& eq = c.result.equivalence;
    if (c.bandwidth || s.brick == Brick::Copy) {
      eq.checked = true;
      eq.pass = true;
      eq.note = "byte-exact copy of the input";
    } else if (b.reference) {
      eq.note = "this is the reference";
    } else if (c.real_prompt) {
      eq.note = "not compared: " + b.name +
                " has no session_write_kv, so it generated after a real prompt of " +
                std::to_string(s.context) + " tokens instead of the reference's synthetic KV history";
    } else {
      auto it = reference_cell.find(&s);
      CellRun* ref = it == reference_cell.end() ? nullptr : it->second;
      if (!ref || !ref->has_outputs) {
        eq.note = "the reference has no output for this cell";
      } else {
        verify::OutputComparison cmp;
        const auto cls = tolerance_class(*b.plugin, op);
        // ties for top-1 are judged with the decode bound (the logits'), for generate too
        const std::optional<double> tie_nmse = e.tolerance(Brick::Decode, BB_TYPE_ANY, cls).nmse;
        if (s.brick == Brick::Generate) {
          int agree = 0;
          for (size_t i = 0; i < c.tokens.size() && i < ref->tokens.size(); ++i)
            agree += c.tokens[i] == ref->tokens[i];
          cmp.values = static_cast<int64_t>(c.tokens.size());
          cmp.top1_strict = ref->tokens.empty()
                                ? 0.0
                                : static_cast<double>(agree) / static_cast<double>(ref->tokens.size());
          if (c.tokens == ref->tokens) {
            cmp.top1 = 1.0;
          } else {
            // Greedy sequences part at the first near-tie and are different texts after it; so the
            // candidate's own tokens are fed to the reference, which judges each next token.
            workload::DecodeDriver* rd = driver_of(*ref->backend);
            const int32_t n = std::min<int32_t>(kGenerateCheckTokens, static_cast<int32_t>(c.tokens.size()));
            if (!rd || n == 0) {
              cmp.top1 = cmp.top1_strict;
            } else {
              try {
                const int32_t pos = s.context - 1;
                rd->write_kv_history(pos, seed);
                int32_t tok = first_token(s);
                int ok = 0;
                for (int32_t i = 0; i < n; ++i) {
                  const auto logits = rd->decode(tok, pos + i);
                  const int32_t mine = c.tokens[static_cast<size_t>(i)];
                  ok += verify::top1_acceptable(logits, mine, verify::tie_margin(logits, tie_nmse));
                  tok = mine;
                }
                cmp.top1 = static_cast<double>(ok) / n;
              } catch (const std::exception& ex) {
                cmp.top1 = cmp.top1_strict;  // judged without ties
                say("  " + c.result.id + " on " + b.name + ": the reference could not replay its tokens (" +
                    ex.what() + "); top-1 without ties");
              }
            }
          }
        } else {
          cmp = verify::compare_outputs(c.outputs, ref->outputs);
          if (s.brick == Brick::Decode) {
            int agree = 0, ok = 0;
            for (size_t i = 0; i < c.outputs.size(); ++i) {
              const int32_t top = verify::argmax(c.outputs[i]);
              agree += top == verify::argmax(ref->outputs[i]);
              ok += verify::top1_acceptable(ref->outputs[i], top,
                                            verify::tie_margin(ref->outputs[i], tie_nmse));
            }
            cmp.top1_strict = static_cast<double>(agree) / static_cast<double>(c.outputs.size());
            cmp.top1 = static_cast<double>(ok) / static_cast<double>(c.outputs.size());
          }
        }
        eq = verify::judge(cmp,
                           e.tolerance(s.brick, s.brick == Brick::Gemv ? s.weight_type : BB_TYPE_ANY, cls),
                           cls, ref->backend->name);
        if (s.brick == Brick::Generate && c.tokens != ref->tokens)
          eq.note += (eq.note.empty() ? "" : "; ") + std::string("top-1 with ties over the first ") +
                     std::to_string(std::min<size_t>(kGenerateCheckTokens, c.tokens.size())) +
                     " tokens teacher-forced through the reference";
        if (!eq.pass) say("  equivalence FAIL " + c.result.id + " on " + b.name + ": " + eq.note);
      }
    }
  }
  for (auto& c : cells) {
    c->result_index = r.cells.size();
    r.cells.push_back(c->result);
  }
  save();

  // ---- interleaved sampling
  std::vector<CellRun*> runnable;
  for (auto& c : cells)
    if (c->sampler) runnable.push_back(c.get());
  say("measuring " + std::to_string(runnable.size()) + " cells (" +
      config::order_name(e.protocol.order).data() + " order, seed " + std::to_string(e.protocol.seed) + ")");
  measure::InterleavedScheduler scheduler(runnable.size(), e.protocol.seed,
                                          e.protocol.order == config::Order::Sequential
                                              ? measure::SchedulingOrder::kSequential
                                              : measure::SchedulingOrder::kInterleaved);
  size_t finished = 0;
  // A whole-model peer's cell (its calls carried peer.* metrics) goes to r.peers with every sampled
  // request's server-side timings.
  auto record_peer = [&](CellRun& c) {
    report::PeerCell pc;
    report::KeyValues facts;
    pc.cell_id = c.result.id;
    if (!peer_cell_of(c.call_metrics, c.result.samples.size(), c.result.iterations_per_sample, pc, facts))
      return;
    auto it = std::find_if(r.peers.begin(), r.peers.end(),
                           [&](const auto& p) { return p.backend == c.backend->name; });
    if (it == r.peers.end()) {
      r.peers.push_back({c.backend->name, {}, {}});
      it = r.peers.end() - 1;
    }
    std::optional<std::string> digest;  // a copy: facts grows below, which would dangle a pointer into it
    for (const auto& [k, v] : facts)
      if (k == "digest" && !v.empty()) digest = v;
    if (digest) {  // the same weights? The peer's digest against the file every other backend ran
      const std::string hex =
          digest->substr(digest->find(':') == std::string::npos ? 0 : digest->find(':') + 1);
      const bool same = hex == r.model.sha256;
      facts.emplace_back("same_weights", same ? "true" : "false");
      const std::string w = c.backend->name + " serves weights of digest " + *digest +
                            ", not the model file the other "
                            "backends ran (sha256 " +
                            r.model.sha256 + "): the comparison is not on the same weights";
      if (!same && std::find(r.warnings.begin(), r.warnings.end(), w) == r.warnings.end())
        r.warnings.push_back(w);
    }
    it->facts = facts;
    auto cit = std::find_if(it->cells.begin(), it->cells.end(),
                            [&](const auto& x) { return x.cell_id == pc.cell_id; });
    if (cit == it->cells.end()) {
      it->cells.push_back(std::move(pc));
    } else {
      *cit = std::move(pc);
    }
  };
  auto finish_cell = [&](CellRun& c, bool interrupted) {
    report::Cell& rc = c.result;
    const measure::CellSampler& smp = *c.sampler;
    rc.status = interrupted ? report::CellStatus::Interrupted : to_status(smp.status());
    rc.status_reason =
        interrupted ? "the run was interrupted before this cell finished" : smp.status_reason();
    // The sampler's reason starts with the status ("UNSTABLE: CV ..."); the status is recorded apart.
    const std::string prefix = std::string(report::cell_status_name(rc.status)) + ": ";
    if (rc.status_reason.rfind(prefix, 0) == 0) rc.status_reason.erase(0, prefix.size());
    rc.warmup_iterations = smp.warmup_iterations();
    rc.warmup_seconds = smp.warmup_seconds();
    rc.iterations_per_sample = smp.iterations_per_sample();
    rc.samples = smp.samples();
    if (c.spec->brick == Brick::Generate && c.spec->tokens > 0)  // per token
      for (double& x : rc.samples) x /= c.spec->tokens;
    if (!rc.samples.empty()) {
      rc.stats =
          measure::compute_statistics(rc.samples, {c.backend->protocol.bootstrap_resamples,
                                                   c.backend->protocol.confidence, c.backend->protocol.seed});
      const double t = rc.stats.median;
      if (c.spec->brick == Brick::Decode || c.spec->brick == Brick::Generate) rc.tok_s = 1.0 / t;
      rc.roofline.gbps = rc.roofline.bytes / t / 1e9;
      rc.roofline.gflops = rc.roofline.flops / t / 1e9;
      if (c.bandwidth) c.backend->ceiling_gbps = rc.roofline.gbps;
      if (rc.budget.has_budget) {
        const double us = t * 1e6;
        rc.budget.gap = us / rc.budget.budget_us;
        rc.budget.score = 100.0 * std::min(1.0, rc.budget.budget_us / us);
        rc.budget.grade = grade_of(rc.budget.score);
        rc.budget.pass = rc.budget.gap <= 1.0;
      }
    }
    r.cells[c.result_index] = rc;
    record_peer(c);
    ++finished;
    say(fmt("[%3.0f%%] ", 100.0 * static_cast<double>(finished) / static_cast<double>(runnable.size())) +
        rc.id + " on " + c.backend->name + ": " + report::cell_status_name(rc.status) + ", " +
        std::to_string(rc.samples.size()) + " samples" +
        (rc.samples.empty() ? "" : fmt(", median %.4g us", rc.stats.median * 1e6)) +
        (rc.samples.size() > 1 ? fmt(", CV %.2f%%", 100 * rc.stats.cv) : ""));
    save();
  };

  bool interrupted = false;
  while (!scheduler.finished() && !interrupted) {
    for (size_t i : scheduler.next_round()) {
      if (plugin::cancel_requested()) {
        interrupted = true;
        break;
      }
      CellRun& c = *runnable[i];
      try {
        c.sampler->step_for(0.005);
      } catch (const std::exception& ex) {
        scheduler.mark_done(i);
        fail_cell(c,
                  plugin::cancel_requested() ? report::CellStatus::Interrupted : report::CellStatus::Failed,
                  ex.what());
        c.result.samples = c.sampler->samples();
        r.cells[c.result_index] = c.result;
        c.sampler.reset();
        ++finished;
        save();
        continue;
      }
      if (c.sampler->done()) {
        scheduler.mark_done(i);
        finish_cell(c, false);
      } else if (Clock::now() - c.last_progress > std::chrono::duration<double>(o.progress_interval_s)) {
        c.last_progress = Clock::now();
        say("  " + c.result.id + " on " + c.backend->name + ": " + std::to_string(c.sampler->sample_count()) +
            " samples" +
            (c.sampler->sample_count() > 1 ? fmt(", CV %.2f%%", 100 * c.sampler->current_cv()) : "") +
            fmt(", %.1f s", c.sampler->elapsed_seconds()));
      }
    }
  }
  if (interrupted || plugin::cancel_requested()) {
    interrupted = true;
    for (size_t i = 0; i < runnable.size(); ++i)
      if (!scheduler.is_done(i) && runnable[i]->sampler) finish_cell(*runnable[i], true);
    for (auto& c : cells)
      if (!c->sampler && !c->has_outputs && c->result.status_reason.empty()) {
        c->result.status = report::CellStatus::Interrupted;
        c->result.status_reason = "the run was interrupted before this cell was prepared";
        r.cells[c->result_index] = c->result;
      }
  }

  // ---- roofline fractions against each backend's measured ceiling
  for (auto& c : cells) {
    report::Cell& rc = r.cells[c->result_index];
    rc.roofline.ceiling_gbps = c->backend->ceiling_gbps;
    if (c->backend->ceiling_gbps > 0 && rc.roofline.gbps > 0)
      rc.roofline.fraction_of_ceiling = rc.roofline.gbps / c->backend->ceiling_gbps;
  }
  r.state = interrupted ? "interrupted" : "complete";
  r.finished_utc = utc_now_iso8601();
  save();
  return r;
}

std::vector<std::string> ci_failures(const report::RunResult& r, const std::vector<std::string>& required,
                                     bool unstable_fails) {
  std::vector<std::string> out;
  for (const auto& name :
       required) {  // --require: the backend ran, nothing of it failed, something was measured
    bool skipped = false, measured = false;
    for (const auto& s : r.skipped_backends)
      if (s.name == name) {
        skipped = true;
        out.push_back(name + ": required (--require) but skipped: " + s.reason);
      }
    for (const auto& c : r.cells) {
      if (c.backend != name) continue;
      measured |= !c.samples.empty();
      if (c.status == report::CellStatus::Failed)
        out.push_back(c.id + " on " + name + ": required (--require) but FAILED (" + c.status_reason + ")");
    }
    if (!skipped && !measured)
      out.push_back(name + ": required (--require) but none of its cells was measured");
  }
  for (const auto& c : r.cells) {
    const std::string where = c.id + " on " + c.backend;
    if (c.equivalence.checked && !c.equivalence.pass)
      out.push_back(where + ": equivalence failed (" + c.equivalence.note + ")");
    if (!c.budget.graded) continue;  // reference-only backends
    switch (c.status) {
      case report::CellStatus::Unstable:
      case report::CellStatus::CappedSlow:
        if (unstable_fails)
          out.push_back(where + ": " + report::cell_status_name(c.status) + " (" + c.status_reason + ")");
        break;
      case report::CellStatus::Failed:
      case report::CellStatus::Interrupted:
      case report::CellStatus::Crashed:
      case report::CellStatus::Timeout:
        out.push_back(where + ": " + report::cell_status_name(c.status) + " (" + c.status_reason + ")");
        break;
      default:
        break;
    }
    if (c.budget.has_budget && !c.samples.empty() && !c.budget.pass)
      out.push_back(where + fmt(": over budget (x%.2f of ", c.budget.gap) +
                    fmt("%.4g us)", c.budget.budget_us));
  }
  if (r.state != "complete") out.push_back("the run did not complete (" + r.state + ")");
  return out;
}

}  // namespace bb::run
