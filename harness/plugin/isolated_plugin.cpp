// The parent's side of `bench run --isolate`: the proxy bb_plugin_api that forwards every call to the
// child through its channel (isolated_channel.h: spawning `bench plugin-host`, the watchdog around
// each call), and the slots that give each isolated plugin its own table.
#include "plugin/isolated_plugin.h"

#include <algorithm>
#include <array>
#include <cstring>
#include <filesystem>
#include <mutex>
#include <optional>
#include <utility>
#include <vector>

#include "plugin/backend.h"
#include "plugin/host_services.h"
#include "plugin/isolated_channel.h"
#include "plugin/isolated_ipc.h"

namespace bb::plugin {
namespace {

// ---- the proxy table ------------------------------------------------------------------------------

struct ProxyError {
  int32_t status;
  std::string message;
};

bb_error* make_error(int32_t status, std::string message) {
  return reinterpret_cast<bb_error*>(new ProxyError{status, std::move(message)});
}
int32_t p_error_status(const bb_error* e) {
  return e ? reinterpret_cast<const ProxyError*>(e)->status : BB_OK;
}
const char* p_error_message(const bb_error* e) {
  return e ? reinterpret_cast<const ProxyError*>(e)->message.c_str() : "";
}
void p_error_destroy(bb_error* e) { delete reinterpret_cast<ProxyError*>(e); }

struct ProxyContext {
  IsolatedChannel* ch;
  uint64_t id;
};
struct ProxyPlan {
  IsolatedChannel* ch;
  uint64_t id;
  std::string brick;  // for failure messages: "the last brick"
};
struct ProxySession {
  IsolatedChannel* ch;
  uint64_t id;
  bb_model_dims dims;
  std::vector<std::string> metric_strings;
  std::vector<bb_kv> metrics;
};

// Runs one call; on success `reply.results` is positioned at the results. A bb_error* otherwise.
bb_error* forward(IsolatedChannel* ch, ipc::Writer& w, const std::string& what,
                  IsolatedChannel::Reply& reply) {
  try {
    if (!ch->call(w, what, reply)) return make_error(reply.status, reply.message);
    if (reply.status != BB_OK) return make_error(reply.status, reply.message);
    return nullptr;
  } catch (const std::exception& e) {
    return make_error(BB_INTERNAL, std::string("isolated plugin proxy: ") + e.what());
  }
}

template <typename F>
bb_error* guarded(F&& f) {
  try {
    return f();
  } catch (const ipc::ProtocolError& e) {
    return make_error(BB_INTERNAL, e.what());
  } catch (const std::exception& e) {
    return make_error(BB_INTERNAL, std::string("isolated plugin proxy: ") + e.what());
  }
}

void p_context_destroy(bb_context* c) {
  if (!c) return;
  auto* pc = reinterpret_cast<ProxyContext*>(c);
  if (!pc->ch->failure()) {
    ipc::Writer w;
    w.pod(ipc::Call::ContextDestroy);
    w.pod(pc->id);
    IsolatedChannel::Reply r;
    if (bb_error* e = forward(pc->ch, w, "context_destroy", r)) p_error_destroy(e);
  }
  delete pc;
}

bb_error* p_plan_create(bb_context* c, const bb_plan_desc* d, bb_plan** out) {
  return guarded([&]() -> bb_error* {
    auto* pc = reinterpret_cast<ProxyContext*>(c);
    const std::string brick = op_name(d->op);
    ipc::Writer w;
    w.pod(ipc::Call::PlanCreate);
    w.pod(pc->id);
    w.pod<int32_t>(d->op);
    w.pod<int32_t>(d->n_weight_sets);
    w.pod<int32_t>(d->n_weights_per_set);
    w.pod<int32_t>(d->n_inputs);
    w.pod<int32_t>(d->n_outputs);
    for (int64_t p : d->params) w.pod<int64_t>(p);
    w.pod<uint8_t>(d->dims ? 1 : 0);
    if (d->dims) w.pod(*d->dims);
    const size_t n_weights =
        d->weights ? static_cast<size_t>(std::max(0, d->n_weight_sets) * std::max(0, d->n_weights_per_set))
                   : 0;
    w.pod<uint64_t>(n_weights);
    for (size_t i = 0; i < n_weights; ++i) ipc::write_tensor(w, d->weights[i], true, true);
    const size_t n_in = d->inputs ? static_cast<size_t>(std::max(0, d->n_inputs)) : 0;
    w.pod<uint64_t>(n_in);
    for (size_t i = 0; i < n_in; ++i) ipc::write_tensor(w, d->inputs[i], false, false);
    const size_t n_out = d->outputs ? static_cast<size_t>(std::max(0, d->n_outputs)) : 0;
    w.pod<uint64_t>(n_out);
    for (size_t i = 0; i < n_out; ++i) ipc::write_tensor(w, d->outputs[i], false, false);
    IsolatedChannel::Reply r;
    if (bb_error* e = forward(pc->ch, w, "plan_create (brick " + brick + ")", r)) return e;
    *out = reinterpret_cast<bb_plan*>(new ProxyPlan{pc->ch, r.results.pod<uint64_t>(), brick});
    return nullptr;
  });
}

void p_plan_destroy(bb_plan* p) {
  if (!p) return;
  auto* pp = reinterpret_cast<ProxyPlan*>(p);
  if (!pp->ch->failure()) {
    ipc::Writer w;
    w.pod(ipc::Call::PlanDestroy);
    w.pod(pp->id);
    IsolatedChannel::Reply r;
    if (bb_error* e = forward(pp->ch, w, "plan_destroy (brick " + pp->brick + ")", r)) p_error_destroy(e);
  }
  delete pp;
}

bb_error* p_plan_write_inputs(bb_plan* p, int32_t n, const bb_tensor* t) {
  return guarded([&]() -> bb_error* {
    auto* pp = reinterpret_cast<ProxyPlan*>(p);
    ipc::Writer w;
    w.pod(ipc::Call::PlanWriteInputs);
    w.pod(pp->id);
    const size_t count = t ? static_cast<size_t>(std::max(0, n)) : 0;
    w.pod<uint64_t>(count);
    for (size_t i = 0; i < count; ++i) ipc::write_tensor(w, t[i], true, false);
    IsolatedChannel::Reply r;
    return forward(pp->ch, w, "plan_write_inputs (brick " + pp->brick + ")", r);
  });
}

bb_error* p_plan_run(bb_plan* p, bb_run_args* a) {
  return guarded([&]() -> bb_error* {
    auto* pp = reinterpret_cast<ProxyPlan*>(p);
    ipc::Writer w;
    w.pod(ipc::Call::PlanRun);
    w.pod(pp->id);
    w.pod<int64_t>(a->iterations);
    w.pod<int64_t>(a->weight_set_begin);
    IsolatedChannel::Reply r;
    if (bb_error* e = forward(pp->ch, w, "plan_run (brick " + pp->brick + ")", r)) return e;
    pp->ch->set_elapsed_ns(r.results.pod<int64_t>());
    const int32_t valid = r.results.pod<int32_t>();
    const uint64_t ns = r.results.pod<uint64_t>();
    if (BB_HAS_FIELD(a, bb_run_args, device_time_ns)) {
      a->device_time_valid = valid;
      a->device_time_ns = ns;
    }
    return nullptr;
  });
}

bb_error* p_plan_read_outputs(bb_plan* p, int32_t n, bb_tensor* t) {
  return guarded([&]() -> bb_error* {
    auto* pp = reinterpret_cast<ProxyPlan*>(p);
    ipc::Writer w;
    w.pod(ipc::Call::PlanReadOutputs);
    w.pod(pp->id);
    const size_t count = t ? static_cast<size_t>(std::max(0, n)) : 0;
    w.pod<uint64_t>(count);
    // With the host's bytes (poisoned by the runner), so entries the plugin leaves alone stay poisoned.
    for (size_t i = 0; i < count; ++i) ipc::write_tensor(w, t[i], true, false);
    IsolatedChannel::Reply r;
    if (bb_error* e = forward(pp->ch, w, "plan_read_outputs (brick " + pp->brick + ")", r)) return e;
    if (r.results.pod<uint64_t>() != count)
      return make_error(BB_INTERNAL, "plugin host: output count differs");
    for (size_t i = 0; i < count; ++i) {
      auto [data, size] = r.results.blob();
      if (t[i].data && size == t[i].nbytes) std::memcpy(t[i].data, data, size);
    }
    return nullptr;
  });
}

bb_error* p_session_create(bb_context* c, const bb_session_desc* d, bb_session** out) {
  return guarded([&]() -> bb_error* {
    auto* pc = reinterpret_cast<ProxyContext*>(c);
    if (!d->dims) return make_error(BB_INVALID_ARGUMENT, "session_create: no dims");
    ipc::Writer w;
    w.pod(ipc::Call::SessionCreate);
    w.pod(pc->id);
    w.pod<int32_t>(d->kv_type);
    w.pod(*d->dims);
    const size_t count = d->tensors ? static_cast<size_t>(std::max(0, d->n_tensors)) : 0;
    w.pod<uint64_t>(count);
    for (size_t i = 0; i < count; ++i) ipc::write_tensor(w, d->tensors[i], true, true);
    IsolatedChannel::Reply r;
    if (bb_error* e = forward(pc->ch, w, "session_create", r)) return e;
    *out =
        reinterpret_cast<bb_session*>(new ProxySession{pc->ch, r.results.pod<uint64_t>(), *d->dims, {}, {}});
    return nullptr;
  });
}

void p_session_destroy(bb_session* s) {
  if (!s) return;
  auto* ps = reinterpret_cast<ProxySession*>(s);
  if (!ps->ch->failure()) {
    ipc::Writer w;
    w.pod(ipc::Call::SessionDestroy);
    w.pod(ps->id);
    IsolatedChannel::Reply r;
    if (bb_error* e = forward(ps->ch, w, "session_destroy", r)) p_error_destroy(e);
  }
  delete ps;
}

bb_error* p_session_decode(bb_session* s, bb_decode_args* a) {
  return guarded([&]() -> bb_error* {
    auto* ps = reinterpret_cast<ProxySession*>(s);
    ipc::Writer w;
    w.pod(ipc::Call::SessionDecode);
    w.pod(ps->id);
    w.pod<int32_t>(a->token);
    w.pod<int32_t>(a->pos);
    w.pod<int64_t>(a->iterations);
    w.pod<uint8_t>(a->logits ? 1 : 0);
    IsolatedChannel::Reply r;
    if (bb_error* e = forward(ps->ch, w, "session_decode (brick decode)", r)) return e;
    ps->ch->set_elapsed_ns(r.results.pod<int64_t>());
    a->device_time_valid = r.results.pod<int32_t>();
    a->device_time_ns = r.results.pod<uint64_t>();
    auto [data, size] = r.results.blob();
    if (a->logits && size == static_cast<size_t>(ps->dims.n_vocab) * sizeof(float))
      std::memcpy(a->logits, data, size);
    return nullptr;
  });
}

bb_error* p_session_read_logits(bb_session* s, float* logits, int32_t n_vocab) {
  return guarded([&]() -> bb_error* {
    auto* ps = reinterpret_cast<ProxySession*>(s);
    ipc::Writer w;
    w.pod(ipc::Call::SessionReadLogits);
    w.pod(ps->id);
    w.pod<int32_t>(n_vocab);
    IsolatedChannel::Reply r;
    if (bb_error* e = forward(ps->ch, w, "session_read_logits", r)) return e;
    auto [data, size] = r.results.blob();
    if (logits && size == static_cast<size_t>(std::max(n_vocab, 0)) * sizeof(float))
      std::memcpy(logits, data, size);
    return nullptr;
  });
}

bb_error* p_session_write_kv(bb_session* s, const bb_kv_write_args* a) {
  return guarded([&]() -> bb_error* {
    auto* ps = reinterpret_cast<ProxySession*>(s);
    const size_t row = static_cast<size_t>(std::max(0, ps->dims.n_head_kv * ps->dims.head_dim));
    const size_t n = static_cast<size_t>(std::max(0, a->n_pos)) * row * sizeof(float);
    ipc::Writer w;
    w.pod(ipc::Call::SessionWriteKv);
    w.pod(ps->id);
    w.pod<int32_t>(a->layer);
    w.pod<int32_t>(a->pos_begin);
    w.pod<int32_t>(a->n_pos);
    w.blob(a->k, a->k ? n : 0);
    w.blob(a->v, a->v ? n : 0);
    IsolatedChannel::Reply r;
    return forward(ps->ch, w, "session_write_kv", r);
  });
}

bb_error* p_session_generate(bb_session* s, bb_generate_args* a) {
  return guarded([&]() -> bb_error* {
    auto* ps = reinterpret_cast<ProxySession*>(s);
    ipc::Writer w;
    w.pod(ipc::Call::SessionGenerate);
    w.pod(ps->id);
    w.blob(a->prompt, a->prompt ? static_cast<size_t>(std::max(0, a->n_prompt)) * sizeof(int32_t) : 0);
    w.pod<int32_t>(a->n_generate);
    w.pod<int32_t>(a->pos_begin);
    IsolatedChannel::Reply r;
    if (bb_error* e = forward(ps->ch, w, "session_generate (brick generate)", r)) return e;
    ps->ch->set_elapsed_ns(r.results.pod<int64_t>());
    a->device_time_valid = r.results.pod<int32_t>();
    a->device_time_ns = r.results.pod<uint64_t>();
    auto [data, size] = r.results.blob();
    if (a->tokens_out && size == static_cast<size_t>(std::max(0, a->n_generate)) * sizeof(int32_t))
      std::memcpy(a->tokens_out, data, size);
    return nullptr;
  });
}

bb_error* p_session_get_metrics(bb_session* s, const bb_kv** kvs, size_t* n) {
  return guarded([&]() -> bb_error* {
    auto* ps = reinterpret_cast<ProxySession*>(s);
    ipc::Writer w;
    w.pod(ipc::Call::SessionGetMetrics);
    w.pod(ps->id);
    IsolatedChannel::Reply r;
    if (bb_error* e = forward(ps->ch, w, "session_get_metrics", r)) return e;
    const uint64_t count = r.results.pod<uint64_t>();
    ps->metric_strings.clear();
    for (uint64_t i = 0; i < 2 * count; ++i) ps->metric_strings.push_back(r.results.str());
    ps->metrics.clear();
    for (uint64_t i = 0; i < count; ++i)
      ps->metrics.push_back({ps->metric_strings[2 * i].c_str(), ps->metric_strings[2 * i + 1].c_str()});
    *kvs = ps->metrics.empty() ? nullptr : ps->metrics.data();
    *n = ps->metrics.size();
    return nullptr;
  });
}

class IsolatedPlugin;

// context_create, get_capabilities and get_build_info carry no handle that could lead back to the
// child: each isolated plugin takes a slot, and its table points at that slot's instantiations.
constexpr size_t kSlots = 64;
std::mutex g_slot_mutex;
std::array<IsolatedPlugin*, kSlots> g_slots{};

class IsolatedPlugin final : public LoadedPlugin {
 public:
  IsolatedPlugin(std::unique_ptr<IsolatedChannel> ch, PluginInfo info, uint32_t bits, size_t slot);
  ~IsolatedPlugin() override;
  const bb_plugin_api* api() const override { return &api_; }
  const PluginInfo& info() const override { return info_; }
  std::optional<PluginFailure> failure() const override { return ch_->failure(); }
  std::optional<double> take_call_seconds() const override {
    const int64_t ns = ch_->take_elapsed_ns();
    if (ns < 0) return std::nullopt;
    return static_cast<double>(ns) * 1e-9;
  }

  bb_error* context_create(const bb_context_args* a, bb_context** out) {
    return guarded([&]() -> bb_error* {
      ipc::Writer w;
      w.pod(ipc::Call::ContextCreate);
      w.pod<int32_t>(host_threads());
      w.pod<int32_t>(a->device_id);
      w.pod<int32_t>(a->n_threads);
      const size_t n = a->options ? a->n_options : 0;
      w.pod<uint64_t>(n);
      for (size_t i = 0; i < n; ++i) {
        w.cstr(a->options[i].key);
        w.cstr(a->options[i].value);
      }
      IsolatedChannel::Reply r;
      if (bb_error* e = forward(ch_.get(), w, "context_create", r)) return e;
      *out = reinterpret_cast<bb_context*>(new ProxyContext{ch_.get(), r.results.pod<uint64_t>()});
      return nullptr;
    });
  }
  bb_error* get_capabilities(const bb_capability** caps, size_t* n) {
    *caps = info_.capabilities.empty() ? nullptr : info_.capabilities.data();
    *n = info_.capabilities.size();
    return nullptr;
  }
  bb_error* get_build_info(const bb_kv** kvs, size_t* n) {
    *kvs = build_kvs_.empty() ? nullptr : build_kvs_.data();
    *n = build_kvs_.size();
    return nullptr;
  }

 private:
  std::unique_ptr<IsolatedChannel> ch_;
  PluginInfo info_;
  std::vector<bb_kv> build_kvs_;
  size_t slot_;
  bb_plugin_api api_{};
};

template <size_t I>
bb_error* slot_context_create(const bb_context_args* a, bb_context** out) {
  return g_slots[I]->context_create(a, out);
}
template <size_t I>
bb_error* slot_get_capabilities(const bb_capability** caps, size_t* n) {
  return g_slots[I]->get_capabilities(caps, n);
}
template <size_t I>
bb_error* slot_get_build_info(const bb_kv** kvs, size_t* n) {
  return g_slots[I]->get_build_info(kvs, n);
}
struct SlotFns {
  bb_error* (*context_create)(const bb_context_args*, bb_context**);
  bb_error* (*get_capabilities)(const bb_capability**, size_t*);
  bb_error* (*get_build_info)(const bb_kv**, size_t*);
};
template <size_t... I>
constexpr std::array<SlotFns, kSlots> make_slot_fns(std::index_sequence<I...>) {
  return {SlotFns{slot_context_create<I>, slot_get_capabilities<I>, slot_get_build_info<I>}...};
}
constexpr std::array<SlotFns, kSlots> kSlotFns = make_slot_fns(std::make_index_sequence<kSlots>());

IsolatedPlugin::IsolatedPlugin(std::unique_ptr<IsolatedChannel> ch, PluginInfo info, uint32_t bits,
                               size_t slot)
    : ch_(std::move(ch)), info_(std::move(info)), slot_(slot) {
  for (const auto& [k, v] : info_.build_info) build_kvs_.push_back({k.c_str(), v.c_str()});
  api_.struct_size = sizeof(api_);
  api_.abi_major = info_.abi_major;
  api_.abi_minor = info_.abi_minor;
  api_.name = info_.name.c_str();
  api_.version = info_.version.c_str();
  api_.description = info_.description.c_str();
  api_.error_status = p_error_status;
  api_.error_message = p_error_message;
  api_.error_destroy = p_error_destroy;
  api_.get_capabilities = kSlotFns[slot].get_capabilities;
  api_.get_build_info = kSlotFns[slot].get_build_info;
  api_.context_create = kSlotFns[slot].context_create;
  api_.context_destroy = p_context_destroy;
  if (bits & ipc::kHasPlans) {
    api_.plan_create = p_plan_create;
    api_.plan_destroy = p_plan_destroy;
    api_.plan_run = p_plan_run;
  }
  if (bits & ipc::kHasWriteInputs) api_.plan_write_inputs = p_plan_write_inputs;
  if (bits & ipc::kHasReadOutputs) api_.plan_read_outputs = p_plan_read_outputs;
  if (bits & ipc::kHasSessions) {
    api_.session_create = p_session_create;
    api_.session_destroy = p_session_destroy;
    api_.session_decode = p_session_decode;
    api_.session_read_logits = p_session_read_logits;
  }
  if (bits & ipc::kHasWriteKv) api_.session_write_kv = p_session_write_kv;
  if (bits & ipc::kHasGenerate) api_.session_generate = p_session_generate;
  if (bits & ipc::kHasMetrics) api_.session_get_metrics = p_session_get_metrics;
  ch_->set_label(info_.name);
  std::lock_guard<std::mutex> lock(g_slot_mutex);
  g_slots[slot_] = this;
}

IsolatedPlugin::~IsolatedPlugin() {
  std::lock_guard<std::mutex> lock(g_slot_mutex);
  g_slots[slot_] = nullptr;
}

size_t reserve_slot() {
  std::lock_guard<std::mutex> lock(g_slot_mutex);
  for (size_t i = 0; i < kSlots; ++i) {
    if (!g_slots[i]) {
      // Held by a placeholder until the plugin takes it (the constructor overwrites it).
      g_slots[i] = reinterpret_cast<IsolatedPlugin*>(&g_slots[i]);
      return i;
    }
  }
  return kSlots;
}

void release_slot(size_t slot) {
  std::lock_guard<std::mutex> lock(g_slot_mutex);
  g_slots[slot] = nullptr;
}

}  // namespace

std::shared_ptr<const LoadedPlugin> load_isolated_plugin(const std::string& path, PluginInfo& info,
                                                         const IsolateOptions& options, bool* host_failed) {
  info.path = path;
  if (host_failed) *host_failed = false;
  auto reject = [&info](std::string why) -> std::shared_ptr<const LoadedPlugin> {
    info.usable = false;
    info.rejection = std::move(why);
    return nullptr;
  };
  if (!std::filesystem::path(path).is_absolute()) return reject("not an absolute path: " + path);
  auto ch = std::make_unique<IsolatedChannel>(std::filesystem::path(path).filename().string(), options);
  if (!ch->spawn(path)) {
    if (host_failed) *host_failed = true;
    return reject(ch->failure()->reason);
  }
  ipc::Writer w;
  w.pod(ipc::Call::Load);
  IsolatedChannel::Reply r;
  if (!ch->call(w, "loading", r)) {
    if (host_failed) *host_failed = true;
    return reject(r.message);
  }
  uint32_t bits = 0;
  try {
    const std::string origin = info.origin;
    ipc::read_plugin_info(r.results, info);
    info.path = path;
    info.origin = origin;
    bits = r.results.pod<uint32_t>();
  } catch (const std::exception& e) {
    return reject(std::string("plugin host: ") + e.what());
  }
  if (!info.usable) return nullptr;
  const size_t slot = reserve_slot();
  if (slot == kSlots)
    return reject("more than " + std::to_string(kSlots) + " isolated plugins at once in this process");
  try {
    return std::make_shared<IsolatedPlugin>(std::move(ch), info, bits, slot);
  } catch (...) {
    release_slot(slot);
    throw;
  }
}

}  // namespace bb::plugin
