// A misbehaving backend for the run tests: it wraps the real scalar_ref (dlopen of the path in
// BB_FAULTY_INNER) and reports itself as "faulty", then does one thing wrong on one brick, chosen by
// BB_FAULTY_MODE:
//   wrong:<op>   scales the outputs of <op> (e.g. rms_norm) by 1.01 after a correct run
//   slow:<op>    runs <op> twice per iteration (about 2x slower, same outputs)
//   delay:<op>:<fraction>  after each run call of <op>, busy-waits <fraction> of the time that call took
//                (delay:qkv:0.1 makes qkv about 10% slower, same outputs); the power test of bench diff
// Misbehaviours that only `bench run --isolate` survives (isolate_test.cpp), each in <op>'s plan_run:
//   segv:<op>    dereferences an invalid pointer (SIGSEGV)
//   abort:<op>   calls std::abort (SIGABRT)
//   hang:<op>    spins forever (a TIMEOUT)
//   throw:<op>   throws a C++ exception through the C boundary
//   leak:<op>    allocates and touches 64 MiB per call, never freed (memory without bound)
//   exit:<op>    calls std::exit(0) (the harness' exit guard turns it into exit 3 with a message)
// and at load time: abi2 (the table claims ABI 2.0), crash_entry (SIGSEGV inside bb_plugin_entry),
// exit_entry (std::exit(0) inside bb_plugin_entry).
// Everything else passes through untouched, so only that brick's cells may differ. Sessions are left
// out (decode/generate cells are skipped) except in the two modes about session_get_metrics:
//   engine        scalar_ref's sessions, whose session_get_metrics reports kEngineMetrics
//   engine_error  scalar_ref's sessions, whose session_get_metrics fails
#include <dlfcn.h>

#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <stdexcept>
#include <string>
#include <vector>

#include "brickbench/brick_abi.h"

namespace {

const bb_plugin_api* inner = nullptr;
bb_plugin_api table;
std::string mode_kind, mode_op;
double delay_fraction = 0;

struct Plan {
  bb_plan* inner;
  int32_t op;
};

const char* op_names[] = {"copy", "gemv", "rms_norm", "qkv", "rope", "attention", "o_proj", "ffn", "layer"};

bool targeted(int32_t op) { return op >= 0 && op < 9 && mode_op == op_names[op]; }

bb_error* plan_create(bb_context* ctx, const bb_plan_desc* desc, bb_plan** out) {
  bb_plan* p = nullptr;
  if (bb_error* e = inner->plan_create(ctx, desc, &p)) return e;
  *out = reinterpret_cast<bb_plan*>(new Plan{p, desc->op});
  return nullptr;
}
void plan_destroy(bb_plan* p) {
  if (!p) return;
  auto* w = reinterpret_cast<Plan*>(p);
  inner->plan_destroy(w->inner);
  delete w;
}
bb_error* plan_write_inputs(bb_plan* p, int32_t n, const bb_tensor* t) {
  return inner->plan_write_inputs(reinterpret_cast<Plan*>(p)->inner, n, t);
}
// An address no mapping holds, hidden from the optimizer so the fault happens at run time.
volatile uintptr_t bad_address = 8;
volatile bool forever = true;
std::vector<char*> hoard;

void misbehave() {
  if (mode_kind == "segv") *reinterpret_cast<volatile int*>(bad_address) = 1;
  if (mode_kind == "abort") std::abort();
  if (mode_kind == "hang")
    while (forever) {
    }
  if (mode_kind == "exit") std::exit(0);
  if (mode_kind == "throw") throw std::runtime_error("faulty: thrown through the C ABI");
  if (mode_kind == "leak") {
    constexpr size_t kChunk = size_t{64} << 20;
    auto* leaked = static_cast<char*>(std::malloc(kChunk));
    if (leaked) std::memset(leaked, 1, kChunk);  // touched, so it is resident
    hoard.push_back(leaked);  // reachable, so neither the compiler nor LeakSanitizer drops it
  }
}

bb_error* plan_run(bb_plan* p, bb_run_args* a) {
  auto* w = reinterpret_cast<Plan*>(p);
  if (targeted(w->op)) misbehave();
  if (mode_kind == "delay" && targeted(w->op)) {
    // Busy-wait rather than sleep: a sleep's wake-up latency would add a floor, not a fraction.
    using Clock = std::chrono::steady_clock;
    const auto start = Clock::now();
    if (bb_error* e = inner->plan_run(w->inner, a)) return e;
    const auto took = Clock::now() - start;
    const auto until = Clock::now() + std::chrono::duration_cast<Clock::duration>(took * delay_fraction);
    while (Clock::now() < until) {
    }
    return nullptr;
  }
  if (bb_error* e = inner->plan_run(w->inner, a)) return e;
  if (mode_kind == "slow" && targeted(w->op)) return inner->plan_run(w->inner, a);
  return nullptr;
}
bb_error* plan_read_outputs(bb_plan* p, int32_t n, bb_tensor* t) {
  auto* w = reinterpret_cast<Plan*>(p);
  if (bb_error* e = inner->plan_read_outputs(w->inner, n, t)) return e;
  if (mode_kind == "wrong" && targeted(w->op))
    for (int32_t i = 0; i < n; ++i)
      if (t[i].type == BB_TYPE_F32)
        for (uint64_t j = 0; j < t[i].nbytes / 4; ++j) static_cast<float*>(t[i].data)[j] *= 1.01f;
  return nullptr;
}

// What an engine-mode session reports: engine.* facts as a CUDA graph backend would give them, and a
// per-call key that is not one.
const bb_kv kEngineMetrics[] = {{"engine.graph_nodes", "146"},
                                {"engine.graph_launch_host_ns", "2150"},
                                {"engine.graph_empty_replay_ns", "812.5"},
                                {"eval_count", "8"}};

// The one error this wrapper makes itself (engine_error's); every other error is scalar_ref's.
std::string metrics_error_text = "refused on purpose (engine_error mode)";
bb_error* const own_error = reinterpret_cast<bb_error*>(&metrics_error_text);

int32_t error_status(const bb_error* e) { return e == own_error ? BB_INTERNAL : inner->error_status(e); }
const char* error_message(const bb_error* e) {
  return e == own_error ? metrics_error_text.c_str() : inner->error_message(e);
}
void error_destroy(bb_error* e) {
  if (e != own_error) inner->error_destroy(e);
}

bb_error* session_get_metrics(bb_session*, const bb_kv** kvs, size_t* n) {
  if (mode_kind == "engine_error") return own_error;
  *kvs = kEngineMetrics;
  *n = sizeof kEngineMetrics / sizeof kEngineMetrics[0];
  return nullptr;
}

}  // namespace

extern "C" BB_EXPORT const bb_plugin_api* bb_plugin_entry(const bb_host_api* host) {
  const char* load_mode = std::getenv("BB_FAULTY_MODE");
  if (load_mode && std::strcmp(load_mode, "crash_entry") == 0)
    *reinterpret_cast<volatile int*>(bad_address) = 1;
  if (load_mode && std::strcmp(load_mode, "exit_entry") == 0) std::exit(0);
  if (!inner) {
    const char* path = std::getenv("BB_FAULTY_INNER");
    if (!path) return nullptr;
    void* lib = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!lib) return nullptr;
    auto entry = reinterpret_cast<bb_plugin_entry_fn>(dlsym(lib, BB_ENTRY_SYMBOL));
    if (!entry || !(inner = entry(host))) return nullptr;
    std::string mode = std::getenv("BB_FAULTY_MODE") ? std::getenv("BB_FAULTY_MODE") : "";
    auto colon = mode.find(':');
    mode_kind = mode.substr(0, colon);
    mode_op = colon == std::string::npos ? "" : mode.substr(colon + 1);
    if (mode_kind == "delay") {  // delay:<op>:<fraction>
      const auto colon2 = mode_op.find(':');
      delay_fraction = colon2 == std::string::npos ? 0.0 : std::strtod(mode_op.c_str() + colon2 + 1, nullptr);
      mode_op = mode_op.substr(0, colon2);
    }
    table = *inner;
    table.name = "faulty";
    if (mode_kind == "abi2") table.abi_major = 2;
    table.description = "scalar_ref with one deliberate fault (tests only)";
    table.plan_create = plan_create;
    table.plan_destroy = plan_destroy;
    table.plan_write_inputs = plan_write_inputs;
    table.plan_run = plan_run;
    table.plan_read_outputs = plan_read_outputs;
    table.error_status = error_status;
    table.error_message = error_message;
    table.error_destroy = error_destroy;
    if (mode_kind == "engine" || mode_kind == "engine_error") {
      table.session_get_metrics = session_get_metrics;  // scalar_ref's table is 1.1-sized: it is read
    } else {
      table.session_create = nullptr;  // plans only: decode/generate cells are skipped
      table.session_destroy = nullptr;
      table.session_decode = nullptr;
      table.session_read_logits = nullptr;
      table.session_write_kv = nullptr;
      table.session_generate = nullptr;
    }
  }
  return &table;
}
