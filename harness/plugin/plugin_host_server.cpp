// `bench plugin-host`: one plugin, loaded alone in this process, driven by its proxy in the parent.
#include "plugin/plugin_host_server.h"

#include <chrono>
#include <cstdio>
#include <exception>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "plugin/host_services.h"
#include "plugin/in_process_plugin.h"
#include "plugin/isolated_ipc.h"

namespace bb::plugin {
namespace {

using Clock = std::chrono::steady_clock;

// A plugin's error turned into a reply: its status (unknown codes become INTERNAL) and message.
struct Status {
  int32_t code = BB_OK;
  std::string message;
};

struct PlanEntry {
  bb_plan* plan = nullptr;
  ipc::TensorStore weights;  // valid until plan_destroy, as the ABI promises
};

struct SessionEntry {
  bb_session* session = nullptr;
  ipc::TensorStore tensors;
  bb_model_dims dims{};
};

class Server {
 public:
  Server(int fd, std::string path) : fd_(fd), path_(std::move(path)) {}
  int run();

 private:
  // Executes one request; fills `out` with the results after the status.
  Status dispatch(ipc::Call call, ipc::Reader& in, ipc::Writer& out);
  Status take(bb_error* e) const;
  Status load(ipc::Writer& out);
  // One method per call of the protocol (isolated_ipc.h): reads its arguments, calls the plugin,
  // writes its results.
  Status on_context_create(ipc::Reader& in, ipc::Writer& out);
  Status on_context_destroy(ipc::Reader& in, ipc::Writer& out);
  Status on_plan_create(ipc::Reader& in, ipc::Writer& out);
  Status on_plan_destroy(ipc::Reader& in, ipc::Writer& out);
  Status on_plan_write_inputs(ipc::Reader& in, ipc::Writer& out);
  Status on_plan_run(ipc::Reader& in, ipc::Writer& out);
  Status on_plan_read_outputs(ipc::Reader& in, ipc::Writer& out);
  Status on_session_create(ipc::Reader& in, ipc::Writer& out);
  Status on_session_destroy(ipc::Reader& in, ipc::Writer& out);
  Status on_session_decode(ipc::Reader& in, ipc::Writer& out);
  Status on_session_read_logits(ipc::Reader& in, ipc::Writer& out);
  Status on_session_write_kv(ipc::Reader& in, ipc::Writer& out);
  Status on_session_generate(ipc::Reader& in, ipc::Writer& out);
  Status on_session_get_metrics(ipc::Reader& in, ipc::Writer& out);

  int fd_;
  std::string path_;
  std::shared_ptr<const LoadedPlugin> plugin_;
  const bb_plugin_api* api_ = nullptr;
  ipc::FileMappings files_;
  uint64_t next_id_ = 1;
  std::map<uint64_t, bb_context*> contexts_;
  std::map<uint64_t, std::unique_ptr<PlanEntry>> plans_;
  std::map<uint64_t, std::unique_ptr<SessionEntry>> sessions_;
};

Status Server::take(bb_error* e) const {
  if (!e) return {};
  int32_t code = api_->error_status(e);
  const char* m = api_->error_message(e);
  Status s{code > BB_OK && code <= BB_CANCELLED ? code : BB_INTERNAL, m ? m : ""};
  api_->error_destroy(e);
  return s;
}

Status Server::load(ipc::Writer& out) {
  PluginInfo info;
  plugin_ = load_plugin(path_, info);
  api_ = plugin_ ? plugin_->api() : nullptr;
  ipc::write_plugin_info(out, info);
  uint32_t bits = 0;
  if (api_) {
    const bb_plugin_api* a = api_;
    if (a->plan_create && a->plan_destroy && a->plan_run) bits |= ipc::kHasPlans;
    if (a->plan_write_inputs) bits |= ipc::kHasWriteInputs;
    if (a->plan_read_outputs) bits |= ipc::kHasReadOutputs;
    if (a->session_create && a->session_destroy && a->session_decode && a->session_read_logits)
      bits |= ipc::kHasSessions;
    if (a->session_write_kv) bits |= ipc::kHasWriteKv;
    if (a->session_generate) bits |= ipc::kHasGenerate;
    if (BB_HAS_FIELD(a, bb_plugin_api, session_get_metrics) && a->session_get_metrics)
      bits |= ipc::kHasMetrics;
  }
  out.pod<uint32_t>(bits);
  return {};
}

template <typename Map>
auto& entry(Map& m, uint64_t id, const char* what) {
  auto it = m.find(id);
  if (it == m.end()) throw ipc::ProtocolError(std::string("plugin host: unknown ") + what + " id");
  return it->second;
}

Status Server::on_context_create(ipc::Reader& in, ipc::Writer& out) {
  const bb_plugin_api* a = api_;
  set_host_threads(in.pod<int32_t>());
  bb_context_args args{};
  args.struct_size = sizeof(args);
  args.device_id = in.pod<int32_t>();
  args.n_threads = in.pod<int32_t>();
  const uint64_t n = in.pod<uint64_t>();
  std::vector<std::string> strings;
  strings.reserve(2 * n);
  for (uint64_t i = 0; i < 2 * n; ++i) strings.push_back(in.str());
  std::vector<bb_kv> kvs;
  for (uint64_t i = 0; i < n; ++i) kvs.push_back({strings[2 * i].c_str(), strings[2 * i + 1].c_str()});
  args.n_options = kvs.size();
  args.options = kvs.empty() ? nullptr : kvs.data();
  bb_context* ctx = nullptr;
  Status s = take(a->context_create(&args, &ctx));
  if (s.code != BB_OK) {
    a->context_destroy(ctx);
    return s;
  }
  if (!ctx) return {BB_INTERNAL, "context_create returned no context and no error"};
  const uint64_t id = next_id_++;
  contexts_[id] = ctx;
  out.pod<uint64_t>(id);
  return {};
}

Status Server::on_context_destroy(ipc::Reader& in, ipc::Writer& /*out*/) {
  const bb_plugin_api* a = api_;
  const uint64_t id = in.pod<uint64_t>();
  a->context_destroy(entry(contexts_, id, "context"));
  contexts_.erase(id);
  return {};
}

Status Server::on_plan_create(ipc::Reader& in, ipc::Writer& out) {
  const bb_plugin_api* a = api_;
  bb_context* ctx = entry(contexts_, in.pod<uint64_t>(), "context");
  bb_plan_desc d{};
  d.struct_size = sizeof(d);
  d.op = in.pod<int32_t>();
  d.n_weight_sets = in.pod<int32_t>();
  d.n_weights_per_set = in.pod<int32_t>();
  d.n_inputs = in.pod<int32_t>();
  d.n_outputs = in.pod<int32_t>();
  for (auto& p : d.params) p = in.pod<int64_t>();
  const bool has_dims = in.pod<uint8_t>() != 0;
  bb_model_dims dims{};
  if (has_dims) dims = in.pod<bb_model_dims>();
  d.dims = has_dims ? &dims : nullptr;
  auto e = std::make_unique<PlanEntry>();
  e->weights.read(in, in.pod<uint64_t>(), files_);
  ipc::TensorStore inputs, outputs;
  inputs.read(in, in.pod<uint64_t>(), files_);
  outputs.read(in, in.pod<uint64_t>(), files_);
  d.weights = e->weights.tensors.empty() ? nullptr : e->weights.tensors.data();
  d.inputs = inputs.tensors.empty() ? nullptr : inputs.tensors.data();
  d.outputs = outputs.tensors.empty() ? nullptr : outputs.tensors.data();
  Status s = take(a->plan_create(ctx, &d, &e->plan));
  if (s.code != BB_OK) {
    a->plan_destroy(e->plan);
    return s;
  }
  if (!e->plan) return {BB_INTERNAL, "plan_create returned no plan and no error"};
  const uint64_t id = next_id_++;
  plans_[id] = std::move(e);
  out.pod<uint64_t>(id);
  return {};
}

Status Server::on_plan_destroy(ipc::Reader& in, ipc::Writer& /*out*/) {
  const bb_plugin_api* a = api_;
  const uint64_t id = in.pod<uint64_t>();
  a->plan_destroy(entry(plans_, id, "plan")->plan);
  plans_.erase(id);
  return {};
}

Status Server::on_plan_write_inputs(ipc::Reader& in, ipc::Writer& /*out*/) {
  const bb_plugin_api* a = api_;
  bb_plan* plan = entry(plans_, in.pod<uint64_t>(), "plan")->plan;
  ipc::TensorStore t;
  t.read(in, in.pod<uint64_t>(), files_);
  return take(a->plan_write_inputs(plan, static_cast<int32_t>(t.tensors.size()), t.tensors.data()));
}

Status Server::on_plan_run(ipc::Reader& in, ipc::Writer& out) {
  const bb_plugin_api* a = api_;
  bb_plan* plan = entry(plans_, in.pod<uint64_t>(), "plan")->plan;
  bb_run_args args{};
  args.struct_size = sizeof(args);
  args.iterations = in.pod<int64_t>();
  args.weight_set_begin = in.pod<int64_t>();
  const auto t0 = Clock::now();
  bb_error* err = a->plan_run(plan, &args);
  const auto t1 = Clock::now();
  if (Status s = take(err); s.code != BB_OK) return s;
  out.pod<int64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(t1 - t0).count());
  out.pod<int32_t>(args.device_time_valid);
  out.pod<uint64_t>(args.device_time_ns);
  return {};
}

Status Server::on_plan_read_outputs(ipc::Reader& in, ipc::Writer& out) {
  const bb_plugin_api* a = api_;
  bb_plan* plan = entry(plans_, in.pod<uint64_t>(), "plan")->plan;
  ipc::TensorStore t;
  t.read(in, in.pod<uint64_t>(), files_);
  if (Status s = take(a->plan_read_outputs(plan, static_cast<int32_t>(t.tensors.size()), t.tensors.data()));
      s.code != BB_OK)
    return s;
  out.pod<uint64_t>(t.tensors.size());
  for (const auto& x : t.tensors) out.blob(x.data, x.data ? x.nbytes : 0);
  return {};
}

Status Server::on_session_create(ipc::Reader& in, ipc::Writer& out) {
  const bb_plugin_api* a = api_;
  bb_context* ctx = entry(contexts_, in.pod<uint64_t>(), "context");
  auto e = std::make_unique<SessionEntry>();
  bb_session_desc d{};
  d.struct_size = sizeof(d);
  d.kv_type = in.pod<int32_t>();
  e->dims = in.pod<bb_model_dims>();
  d.dims = &e->dims;
  e->tensors.read(in, in.pod<uint64_t>(), files_);
  d.n_tensors = static_cast<int32_t>(e->tensors.tensors.size());
  d.tensors = e->tensors.tensors.empty() ? nullptr : e->tensors.tensors.data();
  Status s = take(a->session_create(ctx, &d, &e->session));
  if (s.code != BB_OK) {
    a->session_destroy(e->session);
    return s;
  }
  if (!e->session) return {BB_INTERNAL, "session_create returned no session and no error"};
  const uint64_t id = next_id_++;
  sessions_[id] = std::move(e);
  out.pod<uint64_t>(id);
  return {};
}

Status Server::on_session_destroy(ipc::Reader& in, ipc::Writer& /*out*/) {
  const bb_plugin_api* a = api_;
  const uint64_t id = in.pod<uint64_t>();
  a->session_destroy(entry(sessions_, id, "session")->session);
  sessions_.erase(id);
  return {};
}

Status Server::on_session_decode(ipc::Reader& in, ipc::Writer& out) {
  const bb_plugin_api* a = api_;
  SessionEntry& e = *entry(sessions_, in.pod<uint64_t>(), "session");
  bb_decode_args args{};
  args.struct_size = sizeof(args);
  args.token = in.pod<int32_t>();
  args.pos = in.pod<int32_t>();
  args.iterations = in.pod<int64_t>();
  const bool want_logits = in.pod<uint8_t>() != 0;
  std::vector<float> logits(want_logits ? static_cast<size_t>(std::max(e.dims.n_vocab, 0)) : 0);
  args.logits = want_logits ? logits.data() : nullptr;
  const auto t0 = Clock::now();
  bb_error* err = a->session_decode(e.session, &args);
  const auto t1 = Clock::now();
  if (Status s = take(err); s.code != BB_OK) return s;
  out.pod<int64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(t1 - t0).count());
  out.pod<int32_t>(args.device_time_valid);
  out.pod<uint64_t>(args.device_time_ns);
  out.blob(logits.data(), logits.size() * sizeof(float));
  return {};
}

Status Server::on_session_read_logits(ipc::Reader& in, ipc::Writer& out) {
  const bb_plugin_api* a = api_;
  SessionEntry& e = *entry(sessions_, in.pod<uint64_t>(), "session");
  const int32_t n = in.pod<int32_t>();
  std::vector<float> logits(static_cast<size_t>(std::max(n, 0)));
  if (Status s = take(a->session_read_logits(e.session, logits.data(), n)); s.code != BB_OK) return s;
  out.blob(logits.data(), logits.size() * sizeof(float));
  return {};
}

Status Server::on_session_write_kv(ipc::Reader& in, ipc::Writer& /*out*/) {
  const bb_plugin_api* a = api_;
  SessionEntry& e = *entry(sessions_, in.pod<uint64_t>(), "session");
  bb_kv_write_args args{};
  args.struct_size = sizeof(args);
  args.layer = in.pod<int32_t>();
  args.pos_begin = in.pod<int32_t>();
  args.n_pos = in.pod<int32_t>();
  auto [k, kn] = in.blob();
  auto [v, vn] = in.blob();
  std::vector<float> kf(kn / sizeof(float)), vf(vn / sizeof(float));
  std::memcpy(kf.data(), k, kf.size() * sizeof(float));
  std::memcpy(vf.data(), v, vf.size() * sizeof(float));
  args.k = kf.data();
  args.v = vf.data();
  return take(a->session_write_kv(e.session, &args));
}

Status Server::on_session_generate(ipc::Reader& in, ipc::Writer& out) {
  const bb_plugin_api* a = api_;
  SessionEntry& e = *entry(sessions_, in.pod<uint64_t>(), "session");
  auto [p, pn] = in.blob();
  std::vector<int32_t> prompt(pn / sizeof(int32_t));
  std::memcpy(prompt.data(), p, prompt.size() * sizeof(int32_t));
  bb_generate_args args{};
  args.struct_size = sizeof(args);
  args.n_prompt = static_cast<int32_t>(prompt.size());
  args.prompt = prompt.data();
  args.n_generate = in.pod<int32_t>();
  args.pos_begin = in.pod<int32_t>();
  std::vector<int32_t> tokens(static_cast<size_t>(std::max(args.n_generate, 0)));
  args.tokens_out = tokens.data();
  const auto t0 = Clock::now();
  bb_error* err = a->session_generate(e.session, &args);
  const auto t1 = Clock::now();
  if (Status s = take(err); s.code != BB_OK) return s;
  out.pod<int64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(t1 - t0).count());
  out.pod<int32_t>(args.device_time_valid);
  out.pod<uint64_t>(args.device_time_ns);
  out.blob(tokens.data(), tokens.size() * sizeof(int32_t));
  return {};
}

Status Server::on_session_get_metrics(ipc::Reader& in, ipc::Writer& out) {
  const bb_plugin_api* a = api_;
  SessionEntry& e = *entry(sessions_, in.pod<uint64_t>(), "session");
  const bb_kv* kvs = nullptr;
  size_t n = 0;
  if (Status s = take(a->session_get_metrics(e.session, &kvs, &n)); s.code != BB_OK) return s;
  if (!kvs) n = 0;
  out.pod<uint64_t>(n);
  for (size_t i = 0; i < n; ++i) {
    out.cstr(kvs[i].key);
    out.cstr(kvs[i].value);
  }
  return {};
}

Status Server::dispatch(ipc::Call call, ipc::Reader& in, ipc::Writer& out) {
  if (call == ipc::Call::Load) return load(out);
  if (!api_) throw ipc::ProtocolError("plugin host: a call before a successful load");
  switch (call) {
    case ipc::Call::ContextCreate:
      return on_context_create(in, out);
    case ipc::Call::ContextDestroy:
      return on_context_destroy(in, out);
    case ipc::Call::PlanCreate:
      return on_plan_create(in, out);
    case ipc::Call::PlanDestroy:
      return on_plan_destroy(in, out);
    case ipc::Call::PlanWriteInputs:
      return on_plan_write_inputs(in, out);
    case ipc::Call::PlanRun:
      return on_plan_run(in, out);
    case ipc::Call::PlanReadOutputs:
      return on_plan_read_outputs(in, out);
    case ipc::Call::SessionCreate:
      return on_session_create(in, out);
    case ipc::Call::SessionDestroy:
      return on_session_destroy(in, out);
    case ipc::Call::SessionDecode:
      return on_session_decode(in, out);
    case ipc::Call::SessionReadLogits:
      return on_session_read_logits(in, out);
    case ipc::Call::SessionWriteKv:
      return on_session_write_kv(in, out);
    case ipc::Call::SessionGenerate:
      return on_session_generate(in, out);
    case ipc::Call::SessionGetMetrics:
      return on_session_get_metrics(in, out);
    case ipc::Call::Load:
      break;
  }
  throw ipc::ProtocolError("plugin host: unknown call " + std::to_string(static_cast<uint32_t>(call)));
}

const char* call_name(ipc::Call c) {
  switch (c) {
    case ipc::Call::Load:
      return "loading";
    case ipc::Call::ContextCreate:
      return "context_create";
    case ipc::Call::ContextDestroy:
      return "context_destroy";
    case ipc::Call::PlanCreate:
      return "plan_create";
    case ipc::Call::PlanDestroy:
      return "plan_destroy";
    case ipc::Call::PlanWriteInputs:
      return "plan_write_inputs";
    case ipc::Call::PlanRun:
      return "plan_run";
    case ipc::Call::PlanReadOutputs:
      return "plan_read_outputs";
    case ipc::Call::SessionCreate:
      return "session_create";
    case ipc::Call::SessionDestroy:
      return "session_destroy";
    case ipc::Call::SessionDecode:
      return "session_decode";
    case ipc::Call::SessionReadLogits:
      return "session_read_logits";
    case ipc::Call::SessionWriteKv:
      return "session_write_kv";
    case ipc::Call::SessionGenerate:
      return "session_generate";
    case ipc::Call::SessionGetMetrics:
      return "session_get_metrics";
  }
  return "an unknown call";
}

int Server::run() {
  std::vector<uint8_t> request;
  while (ipc::recv_frame(fd_, request)) {
    ipc::Reader in(request.data(), request.size());
    ipc::Writer results;
    Status s;
    bool fatal = false;
    ipc::Call call{};
    try {
      call = static_cast<ipc::Call>(in.pod<uint32_t>());
      s = dispatch(call, in, results);
    } catch (const ipc::ProtocolError& e) {
      std::fprintf(stderr, "bench plugin-host: %s\n", e.what());
      return 3;
    } catch (const std::exception& e) {
      fatal = true;
      s = {ipc::kFatalStatus,
           std::string("a C++ exception escaped the plugin during ") + call_name(call) + ": " + e.what()};
    } catch (...) {
      fatal = true;
      s = {ipc::kFatalStatus,
           std::string("a non-standard C++ exception escaped the plugin during ") + call_name(call)};
    }
    ipc::Writer reply;
    reply.pod<int32_t>(s.code);
    if (s.code != BB_OK) {
      reply.str(s.message);
    } else {
      reply.append(results.buffer().data(), results.buffer().size());
    }
    if (!ipc::send_frame(fd_, reply.buffer())) return 0;
    if (fatal) return 4;
  }
  return 0;
}

}  // namespace

int serve_plugin_host(int fd, const std::string& plugin_path) {
  Server server(fd, plugin_path);
  return server.run();
}

}  // namespace bb::plugin
