// A misbehaving backend for the run tests: it wraps the real scalar_ref (dlopen of the path in
// BB_FAULTY_INNER) and reports itself as "faulty", then does one thing wrong on one brick, chosen by
// BB_FAULTY_MODE:
//   wrong:<op>   scales the outputs of <op> (e.g. rms_norm) by 1.01 after a correct run
//   slow:<op>    runs <op> twice per iteration (about 2x slower, same outputs)
// Everything else passes through untouched, so only that brick's cells may differ.
#include <dlfcn.h>

#include <cstdlib>
#include <cstring>
#include <string>

#include "brickbench/brick_abi.h"

namespace {

const bb_plugin_api* inner = nullptr;
bb_plugin_api table;
std::string mode_kind, mode_op;

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
bb_error* plan_run(bb_plan* p, bb_run_args* a) {
  auto* w = reinterpret_cast<Plan*>(p);
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

}  // namespace

extern "C" BB_EXPORT const bb_plugin_api* bb_plugin_entry(const bb_host_api* host) {
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
    table = *inner;
    table.name = "faulty";
    table.description = "scalar_ref with one deliberate fault (tests only)";
    table.plan_create = plan_create;
    table.plan_destroy = plan_destroy;
    table.plan_write_inputs = plan_write_inputs;
    table.plan_run = plan_run;
    table.plan_read_outputs = plan_read_outputs;
    table.session_create = nullptr;  // plans only: decode/generate cells are skipped
    table.session_destroy = nullptr;
    table.session_decode = nullptr;
    table.session_read_logits = nullptr;
    table.session_write_kv = nullptr;
    table.session_generate = nullptr;
  }
  return &table;
}
