// C++ side of the plugin boundary: RAII owners for a loaded plugin's contexts, plans and sessions.
// Every bb_error* a plugin returns becomes a BackendError carrying the status and the plugin's
// message; every object keeps the shared library it came from loaded while it lives.
#pragma once

#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "brickbench/brick_abi.h"

namespace bb::plugin {

class LoadedPlugin;  // registry.h

class BackendError : public std::runtime_error {
 public:
  BackendError(bb_status status, const std::string& message);
  bb_status status() const { return status_; }

 private:
  bb_status status_;
};

const char* status_name(int32_t status);  // "UNSUPPORTED"
const char* op_name(int32_t op);          // "gemv", "rms_norm", ... (the brick names of DESIGN.md §3)
std::string type_name(int32_t type);      // "Q4_K", "any" for BB_TYPE_ANY, "type#99" when unknown

// A plugin's error read out: its status (unknown codes become BB_INTERNAL) and message.
struct ErrorReport {
  bb_status status = BB_OK;
  std::string message;
};
// Reads `error` and frees it with the plugin's error_destroy (the library that made it).
ErrorReport take_error(const bb_plugin_api* api, bb_error* error);

// Converts a plugin's error into BackendError (and frees it); does nothing for NULL.
// The message reads "<plugin>: <what>: <the plugin's message>".
void throw_if_error(const bb_plugin_api* api, bb_error* error, const std::string& what);

class Context {
 public:
  Context(std::shared_ptr<const LoadedPlugin> plugin, const bb_context_args& args);
  ~Context();
  Context(const Context&) = delete;
  Context& operator=(const Context&) = delete;
  bb_context* get() const { return ctx_; }
  const bb_plugin_api* api() const;
  const std::shared_ptr<const LoadedPlugin>& plugin() const { return plugin_; }

 private:
  std::shared_ptr<const LoadedPlugin> plugin_;
  bb_context* ctx_ = nullptr;
};

class Plan {
 public:
  Plan(std::shared_ptr<Context> ctx, const bb_plan_desc& desc);
  ~Plan();
  Plan(const Plan&) = delete;
  Plan& operator=(const Plan&) = delete;
  void write_inputs(const std::vector<bb_tensor>& inputs);
  // The timed call. Returns its wall time in seconds: the host's clock around plan_run in-process,
  // the plugin host's own clock for an isolated plugin (so the IPC round trip is not measured).
  double run(bb_run_args& args);
  void read_outputs(std::vector<bb_tensor>& outputs);
  int32_t op() const { return op_; }
  const std::string& label() const { return label_; }  // "gemv Q4_K", for messages
  const std::shared_ptr<Context>& context() const { return ctx_; }

 private:
  std::shared_ptr<Context> ctx_;
  bb_plan* plan_ = nullptr;
  int32_t op_ = -1;
  std::string label_;
};

class Session {
 public:
  Session(std::shared_ptr<Context> ctx, const bb_session_desc& desc);
  ~Session();
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;
  // Timed calls: each returns its wall time in seconds, measured as Plan::run says.
  double decode(bb_decode_args& args);
  void read_logits(float* logits, int32_t n_vocab);
  bool can_write_kv() const;
  void write_kv(const bb_kv_write_args& args);
  bool can_generate() const;
  double generate(bb_generate_args& args);
  // session_get_metrics (ABI 1.1), read only when the plugin's table is long enough to have it.
  bool can_report_metrics() const;
  // The key-values of the last call, copied; empty when the plugin offers none.
  std::vector<std::pair<std::string, std::string>> metrics();
  const std::shared_ptr<Context>& context() const { return ctx_; }

 private:
  std::shared_ptr<Context> ctx_;
  bb_session* session_ = nullptr;
};

}  // namespace bb::plugin
