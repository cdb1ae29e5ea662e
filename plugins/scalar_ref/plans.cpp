// Plans: one brick at fixed shapes. Weights are used in place (the ABI keeps them valid until
// plan_destroy); inputs are copied at plan_write_inputs; outputs stay here until plan_read_outputs.
#include <cstddef>
#include <cstring>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "abi_glue.h"
#include "dequant.h"
#include "ops.h"

namespace {

namespace sr = bb::scalar_ref;
namespace glue = bb::scalar_ref::glue;

using bb::plugin_util::label;
using bb::plugin_util::OpSpec;
using bb::plugin_util::SlotKind;
using bb::plugin_util::SlotSpec;

// An input or output buffer the plan owns.
struct Slot {
  SlotSpec spec;
  int32_t type = BB_TYPE_F32;  // the host's type (KV caches: F32 or F16)
  std::vector<float> f32;
  std::vector<int32_t> i32;
  std::vector<int8_t> i8;
};

// The op's slots at the plan's shape (plugins/common/plugin_glue.h).
OpSpec op_spec(const bb_plan_desc& d, const sr::LayerShape& s) {
  return bb::plugin_util::op_spec(glue::kName, d, {s.n_embd, s.q_width(), s.kv_width(), s.n_ff});
}

void check_count(const char* op, const char* what, int32_t given, const std::vector<SlotSpec>& specs) {
  bb::plugin_util::check_count(glue::kName, op, what, given, specs);
}

}  // namespace

struct bb_plan {
  int32_t op = 0;
  int32_t n_weight_sets = 0;
  sr::LayerShape shape;
  const volatile int32_t* cancel_flag = nullptr;
  OpSpec spec;
  std::vector<sr::Matrix> weights;  // set-major, as the host passed them
  std::vector<Slot> inputs;
  std::vector<Slot> outputs;
  std::optional<sr::KvCache> k_cache;  // ATTENTION: the host's cache; LAYER: the plan's own copy
  std::optional<sr::KvCache> v_cache;
  bool inputs_written = false;
  bool has_outputs = false;
};

namespace bb::scalar_ref::glue {
namespace {

void check_slot(const bb_tensor& t, const SlotSpec& spec, const std::string& lbl, bool need_data) {
  plugin_util::check_slot(kName, t, spec, lbl, need_data);
}

// A host tensor passed to write/read must match the descriptor given at plan_create.
void check_io(const bb_plan& plan, const Slot& slot, const bb_tensor& t, const char* what) {
  const char* op = op_name(plan.op);
  check_slot(t, slot.spec, label(op, what, slot.spec.role), true);
  if (t.type != slot.type) {
    invalid(std::string("scalar_ref ") + op + ": " + what + " '" + slot.spec.role + "' has type " +
            type_name(t.type) + " but plan_create described it as " + type_name(slot.type));
  }
}

void run_once(bb_plan& p, int64_t set) {
  const Matrix* w = p.weights.data() + set * static_cast<int64_t>(p.spec.weights.size());
  auto in = [&](size_t i) { return p.inputs[i].f32.data(); };
  auto out = [&](size_t i) { return p.outputs[i].f32.data(); };
  switch (p.op) {
    case BB_OP_COPY:
      std::memcpy(p.outputs[0].i8.data(), p.inputs[0].i8.data(), p.inputs[0].i8.size());
      return;
    case BB_OP_GEMV:
      gemv(w[0], in(0), out(0));
      return;
    case BB_OP_RMS_NORM:
      rms_norm(in(0), w[0], p.shape.n_embd, p.shape.rms_eps, out(0));
      return;
    case BB_OP_QKV:
      qkv(QkvWeights{w[0], w[1], w[2], w[3], w[4], w[5]}, in(0), out(0), out(1), out(2));
      return;
    case BB_OP_ROPE: {
      const int32_t pos = p.inputs[2].i32[0];
      p.outputs[0].f32 = p.inputs[0].f32;
      p.outputs[1].f32 = p.inputs[1].f32;
      rope_neox(out(0), p.shape.n_head, p.shape.head_dim, pos, p.shape.rope_theta);
      rope_neox(out(1), p.shape.n_head_kv, p.shape.head_dim, pos, p.shape.rope_theta);
      return;
    }
    case BB_OP_ATTENTION:
      attention(in(0), *p.k_cache, *p.v_cache, p.k_cache->max_rows(), p.shape, out(0));
      return;
    case BB_OP_O_PROJ:
      gemv(w[0], in(0), out(0));
      return;
    case BB_OP_FFN:
      ffn(FfnWeights{w[0], w[1], w[2]}, in(0), out(0));
      return;
    case BB_OP_LAYER: {
      const LayerWeights lw{w[0], QkvWeights{w[1], w[2], w[3], w[4], w[5], w[6]}, w[7], w[8],
                            FfnWeights{w[9], w[10], w[11]}};
      layer(lw, p.shape, in(0), p.inputs[1].i32[0], *p.k_cache, *p.v_cache, out(0));
      return;
    }
    default:
      break;
  }
  throw std::logic_error("run_once: op not handled");
}

}  // namespace

bb_error* plan_create(bb_context* ctx, const bb_plan_desc* desc, bb_plan** out) {
  return guarded("plan_create", [&] {
    if (out == nullptr) invalid("scalar_ref plan_create: out is NULL");
    *out = nullptr;
    if (ctx == nullptr) invalid("scalar_ref plan_create: ctx is NULL");
    require_struct_size(desc, sizeof(bb_plan_desc), "plan_create", "desc");
    if (desc->op < BB_OP_COPY || desc->op > BB_OP_LAYER) {
      invalid("scalar_ref plan_create: op " + std::to_string(desc->op) +
              (desc->op == BB_OP_DECODE || desc->op == BB_OP_GENERATE
                   ? std::string(" (") + op_name(desc->op) + ") is session-only; plans take copy..layer"
                   : std::string(" is outside copy..layer")));
    }
    const char* op = op_name(desc->op);
    const std::string where = std::string("plan_create ") + op;
    if (desc->n_weight_sets < 1) {
      invalid("scalar_ref " + std::string(op) + ": n_weight_sets " + std::to_string(desc->n_weight_sets) +
              " must be >= 1");
    }
    if (desc->n_weights_per_set < 0 || desc->n_inputs < 0 || desc->n_outputs < 0) {
      invalid("scalar_ref " + std::string(op) + ": negative tensor count");
    }

    auto plan = std::make_unique<bb_plan>();
    plan->op = desc->op;
    plan->n_weight_sets = desc->n_weight_sets;
    plan->cancel_flag = cancel_flag_of(ctx->host);
    if (desc->op != BB_OP_COPY && desc->op != BB_OP_GEMV) plan->shape = layer_shape_of(desc->dims, where);

    plan->spec = op_spec(*desc, plan->shape);
    const OpSpec& spec = plan->spec;
    check_count(op, "weights per set", desc->n_weights_per_set, spec.weights);
    check_count(op, "inputs", desc->n_inputs, spec.inputs);
    check_count(op, "outputs", desc->n_outputs, spec.outputs);
    if (!spec.weights.empty() && desc->weights == nullptr)
      invalid("scalar_ref " + std::string(op) + ": weights is NULL");
    if (!spec.inputs.empty() && desc->inputs == nullptr)
      invalid("scalar_ref " + std::string(op) + ": inputs is NULL");
    if (!spec.outputs.empty() && desc->outputs == nullptr)
      invalid("scalar_ref " + std::string(op) + ": outputs is NULL");

    for (int32_t set = 0; set < desc->n_weight_sets; ++set) {
      for (size_t i = 0; i < spec.weights.size(); ++i) {
        const bb_tensor& t = desc->weights[static_cast<size_t>(set) * spec.weights.size() + i];
        const SlotSpec& ws = spec.weights[i];
        plan->weights.push_back(
            check_weight(t, TensorCheck{label(op, "weight", ws.role, set), ws.shape, true}));
      }
    }
    auto make_slots = [&](const std::vector<SlotSpec>& specs, const bb_tensor* tensors, const char* what,
                          std::vector<Slot>& slots) {
      for (size_t i = 0; i < specs.size(); ++i) {
        check_slot(tensors[i], specs[i], label(op, what, specs[i].role), false);
        Slot slot;
        slot.spec = specs[i];
        slot.type = tensors[i].type;
        int64_t n = 1;
        for (int64_t dim : specs[i].shape) n *= dim;
        switch (specs[i].kind) {
          case SlotKind::kF32:
            slot.f32.assign(static_cast<size_t>(n), 0.0f);
            break;
          case SlotKind::kI32:
            slot.i32.assign(static_cast<size_t>(n), 0);
            break;
          case SlotKind::kI8:
            slot.i8.assign(static_cast<size_t>(n), 0);
            break;
          case SlotKind::kKCache:
          case SlotKind::kVCache: {
            std::optional<KvCache>& cache =
                specs[i].kind == SlotKind::kKCache ? plan->k_cache : plan->v_cache;
            cache.emplace(slot.type, specs[i].shape[1], specs[i].shape[0]);
            cache->ensure_rows(specs[i].shape[0]);
            break;
          }
          case SlotKind::kMatrix:
          case SlotKind::kVector:
            break;
        }
        slots.push_back(std::move(slot));
      }
    };
    make_slots(spec.inputs, desc->inputs, "input", plan->inputs);
    make_slots(spec.outputs, desc->outputs, "output", plan->outputs);
    *out = plan.release();
  });
}

void plan_destroy(bb_plan* plan) { delete plan; }

bb_error* plan_write_inputs(bb_plan* plan, int32_t n_inputs, const bb_tensor* inputs) {
  return guarded("plan_write_inputs", [&] {
    if (plan == nullptr) invalid("scalar_ref plan_write_inputs: plan is NULL");
    const char* op = op_name(plan->op);
    check_count(op, "inputs", n_inputs, plan->spec.inputs);
    if (inputs == nullptr) invalid(std::string("scalar_ref ") + op + ": plan_write_inputs: inputs is NULL");
    for (size_t i = 0; i < plan->inputs.size(); ++i) check_io(*plan, plan->inputs[i], inputs[i], "input");
    // Positions are checked before anything is copied, so a rejected write changes nothing.
    for (size_t i = 0; i < plan->inputs.size(); ++i) {
      if (plan->inputs[i].spec.kind != SlotKind::kI32) continue;
      int32_t pos;
      std::memcpy(&pos, inputs[i].data, sizeof(pos));
      if (pos < 0)
        invalid(std::string("scalar_ref ") + op + ": input 'pos' is " + std::to_string(pos) +
                ", must be >= 0");
      if (plan->op == BB_OP_LAYER && pos >= plan->k_cache->max_rows()) {
        invalid(std::string("scalar_ref layer: input 'pos' is ") + std::to_string(pos) +
                " but the caches hold " + std::to_string(plan->k_cache->max_rows()) +
                " rows (C must be >= pos + 1)");
      }
    }
    for (size_t i = 0; i < plan->inputs.size(); ++i) {
      Slot& slot = plan->inputs[i];
      const void* src = inputs[i].data;
      switch (slot.spec.kind) {
        case SlotKind::kF32:
          std::memcpy(slot.f32.data(), src, slot.f32.size() * sizeof(float));
          break;
        case SlotKind::kI32:
          std::memcpy(slot.i32.data(), src, slot.i32.size() * sizeof(int32_t));
          break;
        case SlotKind::kI8:
          std::memcpy(slot.i8.data(), src, slot.i8.size());
          break;
        case SlotKind::kKCache:
          plan->k_cache->write_raw(0, slot.spec.shape[0], src);
          break;
        case SlotKind::kVCache:
          plan->v_cache->write_raw(0, slot.spec.shape[0], src);
          break;
        case SlotKind::kMatrix:
        case SlotKind::kVector:
          break;
      }
    }
    plan->inputs_written = true;
  });
}

bb_error* plan_run(bb_plan* plan, bb_run_args* args) {
  return guarded("plan_run", [&] {
    if (plan == nullptr) invalid("scalar_ref plan_run: plan is NULL");
    const char* op = op_name(plan->op);
    require_struct_size(args, sizeof(bb_run_args), std::string("plan_run ") + op, "args");
    args->device_time_valid = 0;
    args->device_time_ns = 0;
    if (args->iterations < 1) {
      invalid(std::string("scalar_ref ") + op + ": iterations " + std::to_string(args->iterations) +
              " must be >= 1");
    }
    if (args->weight_set_begin < 0) {
      invalid(std::string("scalar_ref ") + op + ": weight_set_begin " +
              std::to_string(args->weight_set_begin) + " must be >= 0");
    }
    if (!plan->inputs_written)
      invalid(std::string("scalar_ref ") + op + ": plan_run before plan_write_inputs");
    plan->has_outputs = false;
    for (int64_t i = 0; i < args->iterations; ++i) {
      check_cancel(plan->cancel_flag);
      run_once(*plan, (args->weight_set_begin + i) % plan->n_weight_sets);
    }
    plan->has_outputs = true;
  });
}

bb_error* plan_read_outputs(bb_plan* plan, int32_t n_outputs, bb_tensor* outputs) {
  return guarded("plan_read_outputs", [&] {
    if (plan == nullptr) invalid("scalar_ref plan_read_outputs: plan is NULL");
    const char* op = op_name(plan->op);
    check_count(op, "outputs", n_outputs, plan->spec.outputs);
    if (outputs == nullptr) invalid(std::string("scalar_ref ") + op + ": plan_read_outputs: outputs is NULL");
    if (!plan->has_outputs)
      invalid(std::string("scalar_ref ") + op + ": plan_read_outputs before a successful plan_run");
    for (size_t i = 0; i < plan->outputs.size(); ++i) check_io(*plan, plan->outputs[i], outputs[i], "output");
    for (size_t i = 0; i < plan->outputs.size(); ++i) {
      const Slot& slot = plan->outputs[i];
      if (slot.spec.kind == SlotKind::kI8) {
        std::memcpy(outputs[i].data, slot.i8.data(), slot.i8.size());
      } else {
        std::memcpy(outputs[i].data, slot.f32.data(), slot.f32.size() * sizeof(float));
      }
    }
  });
}

}  // namespace bb::scalar_ref::glue
