#include "run/cell_runner.h"

#include <algorithm>
#include <cstdio>
#include <new>
#include <stdexcept>

#include "config/brick.h"
#include "measure/statistics.h"
#include "plugin/registry.h"
#include "run/text.h"

namespace bb::run {
namespace {

using config::Brick;

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

}  // namespace

// ---- CellWorkloads

CellWorkloads::CellWorkloads(const model::Qwen2Model& model, const std::vector<workload::CellSpec>& specs,
                             int32_t threads, uint64_t seed)
    : model_(model), threads_(threads), seed_(seed) {
  for (const auto& s : specs) {
    if (s.brick == Brick::Decode) n_ctx_ = std::max(n_ctx_, s.context + kDecodeCheckPositions);
    if (s.brick == Brick::Generate) n_ctx_ = std::max(n_ctx_, s.context + s.tokens);
  }
  n_ctx_ = std::min(n_ctx_, model.dims.n_ctx_max);
}

workload::PlanWorkload& CellWorkloads::workload_of(const workload::CellSpec& spec) {
  auto& w = workloads_[&spec];
  if (!w) w = std::make_unique<workload::PlanWorkload>(model_, spec, seed_);
  return *w;
}

workload::DecodeDriver* CellWorkloads::driver_of(Backend& b) {
  if (!b.driver && b.driver_error.empty()) {
    try {
      // A generate-only peer's session lives in the context made with its options (endpoint, model);
      // every other backend gets a session context of its own.
      const bool peer = !b.plugin->supports(BB_OP_DECODE, BB_TYPE_ANY);
      b.driver = std::make_unique<workload::DecodeDriver>(b.plugin, model_, n_ctx_, threads_,
                                                          peer ? b.ctx : nullptr);
    } catch (const plugin::BackendError& ex) {
      b.driver_error = ex.what();
    }
  }
  return b.driver.get();
}

int32_t CellWorkloads::first_token(const workload::CellSpec& spec) const {
  return static_cast<int32_t>((seed_ * 2654435761u + static_cast<uint64_t>(spec.context)) %
                              static_cast<uint64_t>(model_.dims.n_vocab));
}

// ---- CellRunner

CellRunner::CellRunner(const workload::CellSpec& s, Backend& b, bool is_bandwidth, report::Cell record)
    : spec(s), backend(b), bandwidth(is_bandwidth), result(std::move(record)) {}

// What a std::bad_alloc while preparing means, in words (issue 14, defect 17: "std::bad_alloc" alone).
std::string CellRunner::out_of_memory_reason() const {
  std::string why = "out of memory: the cell's inputs, outputs or plan could not be allocated";
  if (spec.copy_bytes > 0) {
    char gib[32];
    std::snprintf(gib, sizeof gib, "%.3g", static_cast<double>(spec.copy_bytes) / (1 << 30));
    why += " (a copy of " + std::to_string(spec.copy_bytes) + " bytes = " + gib +
           " GiB needs that twice, source and destination); lower its bytes:";
  } else {
    why += "; this machine has too little memory for this shape (a smaller model or context needs less)";
  }
  return why;
}

bool CellRunner::prepare(CellWorkloads& w, const ProgressSink& say) {
  const int32_t op = static_cast<int32_t>(config::brick_op(spec.brick));
  try {
    const int32_t type = cap_type(spec, w.model());
    if (!backend.plugin->supports(op, type) && !backend.plugin->supports(op, BB_TYPE_ANY)) {
      fail(report::CellStatus::Skipped,
           backend.name + " does not list (" + plugin::op_name(op) + ", " + plugin::type_name(type) + ")",
           say);
      return false;
    }
    const bool session = spec.brick == Brick::Decode || spec.brick == Brick::Generate;
    if (!(session ? prepare_session(w, say) : prepare_plan(w, say))) return false;
  } catch (const plugin::BackendError& ex) {
    fail(ex.status() == BB_UNSUPPORTED ? report::CellStatus::Skipped : report::CellStatus::Failed, ex.what(),
         say);
    return false;
  } catch (const std::bad_alloc&) {
    fail(report::CellStatus::Failed, out_of_memory_reason(), say);
    return false;
  } catch (const std::exception& ex) {
    fail(report::CellStatus::Failed, ex.what(), say);
    return false;
  }
  prepared = true;
  return true;
}

bool CellRunner::prepare_session(CellWorkloads& w, const ProgressSink& say) {
  workload::DecodeDriver* drv = w.driver_of(backend);
  if (!drv) {
    fail(report::CellStatus::Skipped, backend.driver_error, say);  // CRASHED when the plugin host died
    return false;
  }
  real_prompt = spec.brick == Brick::Generate && !drv->can_write_kv();
  if (!real_prompt) drv->write_kv_history(spec.context - 1, w.seed());
  if (spec.brick == Brick::Decode) {
    prepare_decode(*drv, w);
  } else {
    prepare_generate(*drv, w);
  }
  read_engine_facts(*drv, say);
  has_outputs = true;
  return true;
}

void CellRunner::prepare_decode(workload::DecodeDriver& drv, CellWorkloads& w) {
  const int32_t pos = spec.context - 1;
  const int32_t token = w.first_token(spec);
  const int32_t n_vocab = w.model().dims.n_vocab;
  for (int32_t i = 0; i < kDecodeCheckPositions && pos + i < w.n_ctx(); ++i)
    outputs.push_back(drv.decode((token + 7919 * i) % n_vocab, pos + i));
  workload::DecodeDriver* d = &drv;
  sampler_ = std::make_unique<measure::CellSampler>(
      [d, token, pos](int64_t it) { return d->decode_timed(token, pos, it); }, backend.protocol);
}

void CellRunner::prepare_generate(workload::DecodeDriver& drv, CellWorkloads& w) {
  const int32_t pos = spec.context - 1;
  const int32_t token = w.first_token(spec);
  // A backend without KV writes gets the history as a real prompt from position 0.
  const std::vector<int32_t> prompt = real_prompt
                                          ? history_prompt(w.seed(), pos, w.model().dims.n_vocab, token)
                                          : std::vector<int32_t>{token};
  const int32_t from = real_prompt ? 0 : pos;
  double check_device = -1;
  tokens = drv.generate(prompt, from, spec.tokens, nullptr, &check_device);
  // A peer's samples are its server-side time (eval_duration, reported as device time) when its
  // check run reported one: every sample then must, or the cell fails rather than mixing clocks.
  // Other backends' generate cells stay on the host clock, like their decode cells.
  device_time_ = real_prompt && check_device >= 0;
  result.time_source = device_time_ ? "device" : "host";
  const int32_t n = spec.tokens;
  workload::DecodeDriver* d = &drv;
  CellRunner* self = this;
  sampler_ = std::make_unique<measure::CellSampler>(
      [d, prompt, from, n, self](int64_t it) {
        double total = 0;
        for (int64_t i = 0; i < it; ++i) {
          double sec = 0, dev = -1;
          d->generate(prompt, from, n, &sec, &dev);
          auto kv = d->metrics();
          if (!kv.empty()) self->call_metrics.push_back(std::move(kv));
          if (self->device_time_ && dev < 0)
            throw std::runtime_error(self->backend.name +
                                     ": a generate call reported no device time although the "
                                     "check run did (the cell's time source is device)");
          total += self->device_time_ ? dev : sec;
        }
        return total;
      },
      backend.protocol);
}

// The engine's facts (engine.*, e.g. its CUDA graph), read once after the check run, outside every
// timed region. They describe the cell and judge nothing: a session that fails to say leaves the
// cell without them.
void CellRunner::read_engine_facts(workload::DecodeDriver& drv, const ProgressSink& say) {
  try {
    for (auto& [k, v] : drv.metrics())
      if (k.rfind("engine.", 0) == 0) result.engine.emplace_back(std::move(k), std::move(v));
  } catch (const std::exception& ex) {
    say("  " + result.id + " on " + backend.name + ": no engine facts (" + ex.what() + ")");
  }
}

bool CellRunner::prepare_plan(CellWorkloads& w, const ProgressSink& say) {
  workload::PlanWorkload& work = w.workload_of(spec);
  plan_ = std::make_unique<plugin::Plan>(backend.ctx, work.desc());
  n_weight_sets_ = work.n_weight_sets();
  plan_->write_inputs(work.inputs());
  bb_run_args ra{};
  ra.struct_size = sizeof(ra);
  ra.iterations = 1;
  plan_->run(ra);
  auto out = work.poisoned_outputs();
  plan_->read_outputs(out.tensors);
  if (spec.brick == Brick::Copy) {
    bytes = std::move(out.bytes.front());
    // The copy is checked against its own input, whatever the reference does.
    const auto* p = static_cast<const uint8_t*>(work.inputs().front().data);
    if (!std::equal(bytes.begin(), bytes.end(), p)) {
      fail(report::CellStatus::Failed, "copy output differs from its input", say);
      return false;
    }
  } else {
    outputs = std::move(out.data);
  }
  has_outputs = true;
  plugin::Plan* plan = plan_.get();
  CellRunner* self = this;
  sampler_ = std::make_unique<measure::CellSampler>(
      [plan, self](int64_t it) {
        bb_run_args a{};
        a.struct_size = sizeof(a);
        a.iterations = it;
        a.weight_set_begin = self->weight_cursor_ % self->n_weight_sets_;
        self->weight_cursor_ += it;
        return plan->run(a);  // the call's own time (isolated: the plugin host's clock)
      },
      backend.protocol);
  return true;
}

void CellRunner::record_measurement(bool interrupted) {
  report::Cell& rc = result;
  const measure::CellSampler& smp = *sampler_;
  // A sampler still running when its cell is recorded was stopped by the interrupt.
  const report::CellStatus ended = smp.status();
  rc.status = interrupted || ended == report::CellStatus::Running ? report::CellStatus::Interrupted : ended;
  rc.status_reason = interrupted ? "the run was interrupted before this cell finished" : smp.status_reason();
  // The sampler's reason starts with the status ("UNSTABLE: CV ..."); the status is recorded apart.
  const std::string prefix = std::string(report::cell_status_name(rc.status)) + ": ";
  if (rc.status_reason.rfind(prefix, 0) == 0) rc.status_reason.erase(0, prefix.size());
  warmup_truncated = smp.warmup_truncated();
  rc.warmup_iterations = smp.warmup_iterations();
  rc.warmup_seconds = smp.warmup_seconds();
  rc.iterations_per_sample = smp.iterations_per_sample();
  rc.samples = smp.samples();
  if (spec.brick == Brick::Generate && spec.tokens > 0)  // per token
    for (double& x : rc.samples) x /= spec.tokens;
  if (rc.samples.empty()) return;
  measured = true;
  const measure::ProtocolSettings& p = backend.protocol;
  rc.stats = measure::compute_statistics(rc.samples, {p.bootstrap_resamples, p.confidence, p.seed});
  const double t = rc.stats.median;
  if (spec.brick == Brick::Decode || spec.brick == Brick::Generate) rc.tok_s = 1.0 / t;
  rc.roofline.gbps = rc.roofline.bytes / t / 1e9;
  rc.roofline.gflops = rc.roofline.flops / t / 1e9;
  if (bandwidth) backend.ceiling_gbps = rc.roofline.gbps;
}

void CellRunner::fail(report::CellStatus status, const std::string& why, const ProgressSink& say) {
  if (auto f = backend.plugin->failure()) {
    result.status = f->timeout ? report::CellStatus::Timeout : report::CellStatus::Crashed;
    result.status_reason = f->reason;
    say("  " + std::string(report::cell_status_name(result.status)) + " " + result.id + " on " +
        backend.name + ": " + f->reason);
    return;
  }
  // A failure while a cancel is pending is the interrupt's doing (a plugin call cut short).
  if (status == report::CellStatus::Failed && plugin::cancel_requested())
    status = report::CellStatus::Interrupted;
  result.status = status;
  result.status_reason = why;
  say((status == report::CellStatus::Skipped ? "  skip " : "  FAIL ") + result.id + " on " + backend.name +
      ": " + why);
}

void CellRunner::fail_sampling(const std::string& why, const ProgressSink& say) {
  fail(plugin::cancel_requested() ? report::CellStatus::Interrupted : report::CellStatus::Failed, why, say);
  result.samples = sampler_->samples();
  sampler_.reset();
}

std::string CellRunner::progress_line(double interval_s) {
  const auto now = std::chrono::steady_clock::now();
  if (now - last_progress_ <= std::chrono::duration<double>(interval_s)) return "";
  last_progress_ = now;
  const int64_t n = sampler_->sample_count();
  return "  " + result.id + " on " + backend.name + ": " + std::to_string(n) + " samples" +
         (n > 1 ? printf_number(", CV %.2f%%", 100 * sampler_->current_cv()) : "") +
         printf_number(", %.1f s", sampler_->elapsed_seconds());
}

std::string CellRunner::finished_line(size_t finished, size_t total) const {
  const report::Cell& rc = result;
  return printf_number("[%3.0f%%] ", 100.0 * static_cast<double>(finished) / static_cast<double>(total)) +
         rc.id + " on " + backend.name + ": " + report::cell_status_name(rc.status) + ", " +
         std::to_string(rc.samples.size()) + " samples" +
         (rc.samples.empty() ? "" : printf_number(", median %.4g us", rc.stats.median * 1e6)) +
         (rc.samples.size() > 1 ? printf_number(", CV %.2f%%", 100 * rc.stats.cv) : "");
}

}  // namespace bb::run
