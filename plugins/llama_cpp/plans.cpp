// Plans: gemv and rms_norm as small ggml graphs computed by ggml's CPU backend, over the host's
// tensors in place (the ABI keeps weights valid until plan_destroy). One graph per weight set, built
// at plan_create; plan_run computes set (begin + i) % n_weight_sets, so the host's rotation through
// the model's layers reaches ggml as it does every backend. Inputs are copied into the plan at
// plan_write_inputs, outputs stay in it until plan_read_outputs.
//
// gemv: y = ggml_mul_mat(W, x), ggml's own CPU kernels for the weight type (x quantized to the type's
// vec_dot_type: Q8_0 for Q4_0/Q5_0/Q8_0, Q8_K for Q4_K/Q6_K, F16 for F16). The weights stay where the
// host has them, so ggml's plain kernels run, not the repacked layouts llama.cpp's decode may choose
// (CPU_REPACK buffers) for some types. rms_norm: y = ggml_mul(ggml_rms_norm(x, eps), g).
#include <algorithm>
#include <cstring>
#include <memory>
#include <new>
#include <string>
#include <vector>

#include "ggml-cpu.h"
#include "ggml.h"
#include "glue.h"

struct bb_plan {
  int32_t op = 0;
  int32_t n_weight_sets = 0;
  int32_t n_threads = 1;
  const volatile int32_t* cancel_flag = nullptr;
  bb::plugin_util::OpSpec spec;
  ggml_context* ctx = nullptr;
  std::vector<ggml_cgraph*> graphs;  // one per weight set
  std::vector<ggml_cplan> cplans;    // their compute plans (threads, work size), made once
  std::vector<float> x, scratch, y;  // the input, rms_norm's normed x, the output (all sets share them)
  std::vector<uint8_t> work;         // ggml_graph_plan's work buffer (x quantized for the dot products)
  size_t work_size = 0;
  bool inputs_written = false;
  bool has_outputs = false;

  ~bb_plan() {
    if (ctx) ggml_free(ctx);
  }
};

namespace bb::llama_cpp {
namespace {

using plugin_util::label;
using plugin_util::SlotSpec;

// The weight types the gemv plan offers: those of a Q4_K_M file, Q4_0, and float matrices.
bool gemv_type_supported(int32_t t) {
  switch (t) {
    case BB_TYPE_Q4_0:
    case BB_TYPE_Q4_K:
    case BB_TYPE_Q5_0:
    case BB_TYPE_Q6_K:
    case BB_TYPE_Q8_0:
    case BB_TYPE_F16:
    case BB_TYPE_F32:
      return true;
    default:
      return false;
  }
}

// bb_type ids are GGML type ids (brick_abi.h), so the cast is the identity.
ggml_type ggml_type_of(int32_t t) { return static_cast<ggml_type>(t); }

// A host weight the graph reads in place: supported type, compact, host memory, exact size.
ggml_tensor* weight_tensor(bb_plan& p, const bb_tensor& t, const SlotSpec& spec, const std::string& lbl) {
  const plugin_util::TensorCheck c{lbl, spec.shape, true};
  plugin_util::check_layout(kName, t, c);
  const std::string what = plugin_util::describe(kName, t, c);
  const bool matrix = spec.shape.size() == 2;
  if (matrix ? !gemv_type_supported(t.type) : t.type != BB_TYPE_F32)
    unsupported(what.substr(std::strlen(kName) + 1) + ": weight type " + type_name(t.type) +
                " is not offered by llama_cpp's " + (matrix ? "gemv" : "rms_norm"));
  const int64_t cols = spec.shape.back(), rows = matrix ? spec.shape[0] : 1;
  if (ggml_blck_size(ggml_type_of(t.type)) <= 0 || cols % ggml_blck_size(ggml_type_of(t.type)) != 0)
    invalid(what.substr(std::strlen(kName) + 1) + ": rows of " + std::to_string(cols) +
            " are no whole number of " + type_name(t.type) + " blocks");
  const uint64_t bytes = ggml_row_size(ggml_type_of(t.type), cols) * static_cast<uint64_t>(rows);
  if (t.nbytes != bytes)
    invalid(what.substr(std::strlen(kName) + 1) + ": nbytes " + std::to_string(t.nbytes) + " but " +
            type_name(t.type) + " " + plugin_util::shape_string(t.shape, t.ndim) + " takes " +
            std::to_string(bytes));
  ggml_tensor* w = matrix ? ggml_new_tensor_2d(p.ctx, ggml_type_of(t.type), cols, rows)
                          : ggml_new_tensor_1d(p.ctx, ggml_type_of(t.type), cols);
  w->data = t.data;
  return w;
}

ggml_tensor* f32_vector(bb_plan& p, std::vector<float>& storage, int64_t n) {
  ggml_tensor* t = ggml_new_tensor_1d(p.ctx, GGML_TYPE_F32, n);
  t->data = storage.data();
  return t;
}

// The graphs of every weight set, and the largest work buffer any needs.
void build_graphs(bb_plan& p, const bb_plan_desc& d, double rms_eps) {
  const char* op = plugin_util::op_name(d.op);
  const SlotSpec& ws = p.spec.weights[0];
  const int64_t n_in = p.spec.inputs[0].shape[0], n_out = p.spec.outputs[0].shape[0];
  p.x.assign(static_cast<size_t>(n_in), 0.0f);
  p.y.assign(static_cast<size_t>(n_out), 0.0f);
  if (d.op == BB_OP_RMS_NORM) p.scratch.assign(static_cast<size_t>(n_in), 0.0f);
  const size_t n_sets = static_cast<size_t>(d.n_weight_sets);
  ggml_init_params ip{};
  ip.mem_size = ggml_tensor_overhead() * (4 * n_sets + 8) + (ggml_graph_overhead() + 1024) * n_sets;
  ip.mem_buffer = nullptr;
  ip.no_alloc = true;  // every tensor's data is the host's or the plan's own vectors
  p.ctx = ggml_init(ip);
  if (p.ctx == nullptr) throw std::bad_alloc();
  for (size_t set = 0; set < n_sets; ++set) {
    ggml_tensor* w =
        weight_tensor(p, d.weights[set], ws, label(op, "weight", ws.role, static_cast<int64_t>(set)));
    ggml_tensor* x = f32_vector(p, p.x, n_in);
    ggml_tensor* y = nullptr;
    if (d.op == BB_OP_GEMV) {
      y = ggml_mul_mat(p.ctx, w, x);
    } else {
      ggml_tensor* normed = ggml_rms_norm(p.ctx, x, static_cast<float>(rms_eps));
      normed->data = p.scratch.data();
      y = ggml_mul(p.ctx, normed, w);
    }
    y->data = p.y.data();
    ggml_cgraph* g = ggml_new_graph(p.ctx);
    ggml_build_forward_expand(g, y);
    p.cplans.push_back(ggml_graph_plan(g, p.n_threads, nullptr));
    p.work_size = std::max(p.work_size, p.cplans.back().work_size);
    p.graphs.push_back(g);
  }
  p.work.assign(p.work_size + 64, 0);
  for (ggml_cplan& cp : p.cplans) cp.work_data = p.work.data();
}

void check_io(const bb_plan& p, const SlotSpec& spec, const bb_tensor& t, const char* what) {
  plugin_util::check_slot(kName, t, spec, label(plugin_util::op_name(p.op), what, spec.role), true);
}

}  // namespace

bb_error* plan_create(bb_context* ctx, const bb_plan_desc* desc, bb_plan** out) {
  return guarded("plan_create", [&] {
    if (out == nullptr) invalid("plan_create: out is NULL");
    *out = nullptr;
    if (ctx == nullptr) invalid("plan_create: ctx is NULL");
    require_struct_size(desc, sizeof(bb_plan_desc), "plan_create", "desc");
    if (desc->op != BB_OP_GEMV && desc->op != BB_OP_RMS_NORM)
      unsupported(std::string("plan_create: ") + plugin_util::op_name(desc->op) +
                  ": llama_cpp's plans are gemv and rms_norm (decode and generate are sessions)");
    const char* op = plugin_util::op_name(desc->op);
    if (desc->n_weight_sets < 1)
      invalid(std::string(op) + ": n_weight_sets " + std::to_string(desc->n_weight_sets) + " must be >= 1");
    if (desc->n_weights_per_set < 0 || desc->n_inputs < 0 || desc->n_outputs < 0)
      invalid(std::string(op) + ": negative tensor count");
    double rms_eps = 0;
    plugin_util::OpWidths widths{0, 0, 0, 0};
    if (desc->op == BB_OP_RMS_NORM) {
      plugin_util::check_model_dims(kName, desc->dims, std::string("plan_create ") + op);
      widths = plugin_util::op_widths(*desc->dims);
      rms_eps = desc->dims->rms_eps;
    }
    auto plan = std::make_unique<bb_plan>();
    bb_plan& p = *plan;
    p.op = desc->op;
    p.n_weight_sets = desc->n_weight_sets;
    p.n_threads = ctx->n_threads;
    p.cancel_flag = plugin_util::cancel_flag_of(ctx->host);
    p.spec = plugin_util::op_spec(kName, *desc, widths);
    plugin_util::check_count(kName, op, "weights per set", desc->n_weights_per_set, p.spec.weights);
    plugin_util::check_count(kName, op, "inputs", desc->n_inputs, p.spec.inputs);
    plugin_util::check_count(kName, op, "outputs", desc->n_outputs, p.spec.outputs);
    if (desc->weights == nullptr || desc->inputs == nullptr || desc->outputs == nullptr)
      invalid(std::string(op) + ": weights, inputs or outputs is NULL");
    plugin_util::check_slot(kName, desc->inputs[0], p.spec.inputs[0], label(op, "input", "x"), false);
    plugin_util::check_slot(kName, desc->outputs[0], p.spec.outputs[0], label(op, "output", "y"), false);
    build_graphs(p, *desc, rms_eps);
    *out = plan.release();
  });
}

void plan_destroy(bb_plan* plan) { delete plan; }

bb_error* plan_write_inputs(bb_plan* plan, int32_t n_inputs, const bb_tensor* inputs) {
  return guarded("plan_write_inputs", [&] {
    if (plan == nullptr) invalid("plan_write_inputs: plan is NULL");
    const char* op = plugin_util::op_name(plan->op);
    plugin_util::check_count(kName, op, "inputs", n_inputs, plan->spec.inputs);
    if (inputs == nullptr) invalid(std::string(op) + ": plan_write_inputs: inputs is NULL");
    check_io(*plan, plan->spec.inputs[0], inputs[0], "input");
    std::memcpy(plan->x.data(), inputs[0].data, plan->x.size() * sizeof(float));
    plan->inputs_written = true;
  });
}

bb_error* plan_run(bb_plan* plan, bb_run_args* args) {
  return guarded("plan_run", [&] {
    if (plan == nullptr) invalid("plan_run: plan is NULL");
    const char* op = plugin_util::op_name(plan->op);
    require_struct_size(args, sizeof(bb_run_args), std::string("plan_run ") + op, "args");
    args->device_time_valid = 0;
    args->device_time_ns = 0;
    if (args->iterations < 1)
      invalid(std::string(op) + ": iterations " + std::to_string(args->iterations) + " must be >= 1");
    if (args->weight_set_begin < 0)
      invalid(std::string(op) + ": weight_set_begin " + std::to_string(args->weight_set_begin) +
              " must be >= 0");
    if (!plan->inputs_written) invalid(std::string(op) + ": plan_run before plan_write_inputs");
    plan->has_outputs = false;
    for (int64_t i = 0; i < args->iterations; ++i) {
      plugin_util::check_cancel(plan->cancel_flag);
      const auto set = static_cast<size_t>((args->weight_set_begin + i) % plan->n_weight_sets);
      if (const ggml_status st = ggml_graph_compute(plan->graphs[set], &plan->cplans[set]);
          st != GGML_STATUS_SUCCESS)
        internal(std::string(op) + ": ggml_graph_compute returned " + ggml_status_to_string(st));
    }
    plan->has_outputs = true;
  });
}

bb_error* plan_read_outputs(bb_plan* plan, int32_t n_outputs, bb_tensor* outputs) {
  return guarded("plan_read_outputs", [&] {
    if (plan == nullptr) invalid("plan_read_outputs: plan is NULL");
    const char* op = plugin_util::op_name(plan->op);
    plugin_util::check_count(kName, op, "outputs", n_outputs, plan->spec.outputs);
    if (outputs == nullptr) invalid(std::string(op) + ": plan_read_outputs: outputs is NULL");
    if (!plan->has_outputs) invalid(std::string(op) + ": plan_read_outputs before a successful plan_run");
    check_io(*plan, plan->spec.outputs[0], outputs[0], "output");
    std::memcpy(outputs[0].data, plan->y.data(), plan->y.size() * sizeof(float));
  });
}

}  // namespace bb::llama_cpp
