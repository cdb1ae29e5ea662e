// RAII owners of a plugin's contexts, plans and sessions; every bb_error becomes a BackendError.
#include "plugin/backend.h"

#include <chrono>
#include <utility>

#include "model/ggml_types.h"
#include "plugin/host_services.h"
#include "plugin/loaded_plugin.h"

namespace bb::plugin {
namespace {

const char* plugin_name(const bb_plugin_api* api) {
  return api && api->name && api->name[0] ? api->name : "plugin";
}

bool known_status(int32_t status) { return status >= BB_OK && status <= BB_CANCELLED; }

// The tensor whose type names a plan in messages: the op's main weight (LAYER: wq, after attn_norm).
std::string describe_plan(const bb_plan_desc& desc) {
  std::string label = op_name(desc.op);
  size_t main_weight = desc.op == BB_OP_LAYER ? 1 : 0;
  if (desc.weights && desc.n_weights_per_set > 0 && main_weight < size_t(desc.n_weights_per_set)) {
    label += ' ';
    label += type_name(desc.weights[main_weight].type);
  }
  return label;
}

}  // namespace

BackendError::BackendError(bb_status status, const std::string& message)
    : std::runtime_error(message), status_(status) {}

const char* status_name(int32_t status) {
  switch (status) {
    case BB_OK:
      return "OK";
    case BB_INVALID_ARGUMENT:
      return "INVALID_ARGUMENT";
    case BB_UNSUPPORTED:
      return "UNSUPPORTED";
    case BB_OUT_OF_MEMORY:
      return "OUT_OF_MEMORY";
    case BB_DEVICE_ERROR:
      return "DEVICE_ERROR";
    case BB_VERSION_MISMATCH:
      return "VERSION_MISMATCH";
    case BB_INTERNAL:
      return "INTERNAL";
    case BB_CANCELLED:
      return "CANCELLED";
    default:
      return "UNKNOWN_STATUS";
  }
}

const char* op_name(int32_t op) {
  static const char* const kNames[BB_OP_COUNT_] = {
      "copy", "gemv", "rms_norm", "qkv", "rope", "attention", "o_proj", "ffn", "layer", "decode", "generate"};
  return op >= 0 && op < BB_OP_COUNT_ ? kNames[op] : "unknown_op";
}

std::string type_name(int32_t type) {
  return type == BB_TYPE_ANY ? std::string("any") : bb::model::ggml_type_name(type);
}

ErrorReport take_error(const bb_plugin_api* api, bb_error* error) {
  ErrorReport report;
  if (!error) return report;
  int32_t status = api->error_status ? api->error_status(error) : BB_INTERNAL;
  report.status = known_status(status) && status != BB_OK ? static_cast<bb_status>(status) : BB_INTERNAL;
  const char* message = api->error_message ? api->error_message(error) : nullptr;
  report.message = message && message[0] ? message : std::string(status_name(status)) + " (no message)";
  if (!known_status(status) || status == BB_OK) {
    report.message += " [the plugin reported status " + std::to_string(status) + ", treated as INTERNAL]";
  }
  if (api->error_destroy) api->error_destroy(error);
  return report;
}

void throw_if_error(const bb_plugin_api* api, bb_error* error, const std::string& what) {
  if (!error) return;
  ErrorReport report = take_error(api, error);
  throw BackendError(report.status, std::string(plugin_name(api)) + ": " + what + ": " + report.message);
}

// --- Context -------------------------------------------------------------------------------------

Context::Context(std::shared_ptr<const LoadedPlugin> plugin, const bb_context_args& args)
    : plugin_(std::move(plugin)) {
  const bb_plugin_api* a = api();
  bb_context_args copy = args;
  if (copy.struct_size == 0) copy.struct_size = sizeof(copy);
  bb_context* ctx = nullptr;
  bb_error* error = a->context_create(&copy, &ctx);
  if (error) {
    a->context_destroy(ctx);  // accepts NULL
    throw_if_error(a, error, "context_create");
  }
  if (!ctx)
    throw BackendError(BB_INTERNAL,
                       std::string(plugin_name(a)) + ": context_create returned no context and no error");
  ctx_ = ctx;
}

Context::~Context() { api()->context_destroy(ctx_); }

const bb_plugin_api* Context::api() const { return plugin_->api(); }

// --- Plan ----------------------------------------------------------------------------------------

Plan::Plan(std::shared_ptr<Context> ctx, const bb_plan_desc& desc)
    : ctx_(std::move(ctx)), op_(desc.op), label_(describe_plan(desc)) {
  const bb_plugin_api* a = ctx_->api();
  if (!a->plan_create || !a->plan_destroy || !a->plan_run) {
    throw BackendError(BB_UNSUPPORTED, std::string(plugin_name(a)) + ": plan_create " + label_ +
                                           ": this backend offers no plans");
  }
  bb_plan_desc copy = desc;
  if (copy.struct_size == 0) copy.struct_size = sizeof(copy);
  bb_plan* plan = nullptr;
  bb_error* error = a->plan_create(ctx_->get(), &copy, &plan);
  if (error) {
    a->plan_destroy(plan);
    throw_if_error(a, error, "plan_create " + label_);
  }
  if (!plan)
    throw BackendError(BB_INTERNAL, std::string(plugin_name(a)) + ": plan_create " + label_ +
                                        ": returned no plan and no error");
  plan_ = plan;
}

Plan::~Plan() { ctx_->api()->plan_destroy(plan_); }

void Plan::write_inputs(const std::vector<bb_tensor>& inputs) {
  const bb_plugin_api* a = ctx_->api();
  if (!a->plan_write_inputs)
    throw BackendError(BB_UNSUPPORTED,
                       std::string(plugin_name(a)) + ": plan_write_inputs " + label_ + ": not offered");
  throw_if_error(a, a->plan_write_inputs(plan_, static_cast<int32_t>(inputs.size()), inputs.data()),
                 "plan_write_inputs " + label_);
}

double Plan::run(bb_run_args& args) {
  if (args.struct_size == 0) args.struct_size = sizeof(args);
  const bb_plugin_api* a = ctx_->api();
  const auto t0 = std::chrono::steady_clock::now();
  bb_error* error = a->plan_run(plan_, &args);
  const double host = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  throw_if_error(a, error, "plan_run " + label_);
  return ctx_->plugin()->take_call_seconds().value_or(host);
}

void Plan::read_outputs(std::vector<bb_tensor>& outputs) {
  const bb_plugin_api* a = ctx_->api();
  if (!a->plan_read_outputs)
    throw BackendError(BB_UNSUPPORTED,
                       std::string(plugin_name(a)) + ": plan_read_outputs " + label_ + ": not offered");
  throw_if_error(a, a->plan_read_outputs(plan_, static_cast<int32_t>(outputs.size()), outputs.data()),
                 "plan_read_outputs " + label_);
}

// --- Session -------------------------------------------------------------------------------------

Session::Session(std::shared_ptr<Context> ctx, const bb_session_desc& desc) : ctx_(std::move(ctx)) {
  const bb_plugin_api* a = ctx_->api();
  if (!a->session_create || !a->session_destroy || !a->session_decode || !a->session_read_logits) {
    throw BackendError(BB_UNSUPPORTED, std::string(plugin_name(a)) +
                                           ": session_create: this backend offers no model sessions");
  }
  bb_session_desc copy = desc;
  if (copy.struct_size == 0) copy.struct_size = sizeof(copy);
  bb_session* session = nullptr;
  bb_error* error = a->session_create(ctx_->get(), &copy, &session);
  if (error) {
    a->session_destroy(session);
    throw_if_error(a, error, "session_create");
  }
  if (!session)
    throw BackendError(BB_INTERNAL,
                       std::string(plugin_name(a)) + ": session_create returned no session and no error");
  session_ = session;
}

Session::~Session() { ctx_->api()->session_destroy(session_); }

double Session::decode(bb_decode_args& args) {
  if (args.struct_size == 0) args.struct_size = sizeof(args);
  const bb_plugin_api* a = ctx_->api();
  const auto t0 = std::chrono::steady_clock::now();
  bb_error* error = a->session_decode(session_, &args);
  const double host = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  throw_if_error(a, error, "session_decode");
  return ctx_->plugin()->take_call_seconds().value_or(host);
}

void Session::read_logits(float* logits, int32_t n_vocab) {
  const bb_plugin_api* a = ctx_->api();
  throw_if_error(a, a->session_read_logits(session_, logits, n_vocab), "session_read_logits");
}

bool Session::can_write_kv() const { return ctx_->api()->session_write_kv != nullptr; }

void Session::write_kv(const bb_kv_write_args& args) {
  const bb_plugin_api* a = ctx_->api();
  if (!a->session_write_kv)
    throw BackendError(BB_UNSUPPORTED, std::string(plugin_name(a)) + ": session_write_kv: not offered");
  bb_kv_write_args copy = args;
  if (copy.struct_size == 0) copy.struct_size = sizeof(copy);
  throw_if_error(a, a->session_write_kv(session_, &copy), "session_write_kv");
}

bool Session::can_generate() const { return ctx_->api()->session_generate != nullptr; }

double Session::generate(bb_generate_args& args) {
  const bb_plugin_api* a = ctx_->api();
  if (!a->session_generate)
    throw BackendError(BB_UNSUPPORTED, std::string(plugin_name(a)) + ": session_generate: not offered");
  if (args.struct_size == 0) args.struct_size = sizeof(args);
  const auto t0 = std::chrono::steady_clock::now();
  bb_error* error = a->session_generate(session_, &args);
  const double host = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  throw_if_error(a, error, "session_generate");
  return ctx_->plugin()->take_call_seconds().value_or(host);
}

bool Session::can_report_metrics() const {
  const bb_plugin_api* a = ctx_->api();
  return BB_HAS_FIELD(a, bb_plugin_api, session_get_metrics) && a->session_get_metrics != nullptr;
}

std::vector<std::pair<std::string, std::string>> Session::metrics() {
  std::vector<std::pair<std::string, std::string>> out;
  if (!can_report_metrics()) return out;
  const bb_plugin_api* a = ctx_->api();
  const bb_kv* kvs = nullptr;
  size_t n = 0;
  throw_if_error(a, a->session_get_metrics(session_, &kvs, &n), "session_get_metrics");
  if (!kvs) return out;
  for (size_t i = 0; i < n; ++i)
    if (kvs[i].key) out.emplace_back(kvs[i].key, kvs[i].value ? kvs[i].value : "");
  return out;
}

}  // namespace bb::plugin
