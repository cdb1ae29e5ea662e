// Plans: one brick at fixed shapes. Matrices are used in place (the ABI keeps weight data valid and
// unchanged until plan_destroy); norm and bias vectors are converted to F32 copies; inputs are copied
// at plan_write_inputs into buffers allocated here at plan_create; plan_run allocates nothing.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "formats.h"
#include "glue.h"

namespace {

namespace av = bb::avx;
namespace glue = bb::avx::glue;

using bb::plugin_util::OpSpec;
using bb::plugin_util::SlotKind;
using bb::plugin_util::SlotSpec;

// The op's slots at the plan's shape (plugins/common/plugin_glue.h).
OpSpec op_spec(const bb_plan_desc& d, const av::LayerShape& s) {
  return bb::plugin_util::op_spec(glue::kName, d, {s.n_embd, s.q_width(), s.kv_width(), s.n_ff});
}

void check_count(const std::string& op, const char* what, int32_t given, const std::vector<SlotSpec>& specs) {
  bb::plugin_util::check_count(glue::kName, op.c_str(), what, given, specs);
}

std::string label(const std::string& op, const char* what, const char* role, int64_t set = -1) {
  return bb::plugin_util::label(op.c_str(), what, role, set);
}

// One weight set: matrices in place, vectors as F32 copies, in the op's order.
struct WeightSet {
  std::vector<av::QMatrix> matrices;        // by slot index (empty QMatrix for vectors)
  std::vector<std::vector<float>> vectors;  // by slot index (empty for matrices)
  av::LayerWeights layer;                   // LAYER (and QKV/FFN use the same fields)
};

}  // namespace

struct bb_plan {
  int32_t op = 0;
  std::string name;
  int32_t n_sets = 0;
  av::LayerShape shape;
  bb_context* ctx = nullptr;
  const volatile int32_t* cancel_flag = nullptr;
  OpSpec spec;
  std::vector<WeightSet> sets;
  std::vector<int32_t> input_types;
  // inputs
  std::vector<av::AlignedArray<float>> in_f32;  // by input index (empty for others)
  av::AlignedArray<uint8_t> in_bytes;           // COPY src
  int32_t pos = 0;
  av::KvCache kc, vc;
  // outputs
  std::vector<av::AlignedArray<float>> out_f32;
  av::AlignedArray<uint8_t> out_bytes;  // COPY dst
  // scratch
  av::ActQ8 act_a, act_b, act_c;
  av::LayerScratch layer;
  av::RopeTable rope;
  bool inputs_written = false;
  bool has_outputs = false;
};

namespace bb::avx::glue {
namespace {

void check_slot(const bb_tensor& t, const SlotSpec& spec, const std::string& lbl, bool need_data) {
  plugin_util::check_slot(kName, t, spec, lbl, need_data);
}

void bind_set(bb_plan& p, const bb_tensor* tensors, int32_t set) {
  WeightSet ws;
  const auto n = p.spec.weights.size();
  ws.matrices.resize(n);
  ws.vectors.resize(n);
  for (size_t i = 0; i < n; ++i) {
    const SlotSpec& s = p.spec.weights[i];
    const TensorCheck c{label(p.name, "weight", s.role, set), s.shape, true};
    if (s.kind == SlotKind::kMatrix) {
      ws.matrices[i] = check_weight(tensors[i], c);
    } else {
      ws.vectors[i] = weight_vector(tensors[i], c);
    }
  }
  auto m = [&](size_t i) { return ws.matrices[i]; };
  auto v = [&](size_t i) { return ws.vectors[i].data(); };
  LayerWeights& lw = ws.layer;
  switch (p.op) {
    case BB_OP_QKV:
      lw.wq = m(0), lw.bq = v(1), lw.wk = m(2), lw.bk = v(3), lw.wv = m(4), lw.bv = v(5);
      break;
    case BB_OP_FFN:
      lw.gate = m(0), lw.up = m(1), lw.down = m(2);
      break;
    case BB_OP_LAYER:
      lw.attn_norm = v(0), lw.wq = m(1), lw.bq = v(2), lw.wk = m(3), lw.bk = v(4), lw.wv = m(5), lw.bv = v(6);
      lw.wo = m(7), lw.ffn_norm = v(8), lw.gate = m(9), lw.up = m(10), lw.down = m(11);
      break;
    default:
      break;
  }
  p.sets.push_back(std::move(ws));
}

// Vectors moved into p.sets keep their heap buffers, but LayerWeights pointers were taken before the
// move of the WeightSet itself; re-point them.
void repoint(WeightSet& ws, int32_t op) {
  auto v = [&](size_t i) { return ws.vectors[i].data(); };
  LayerWeights& lw = ws.layer;
  if (op == BB_OP_QKV) lw.bq = v(1), lw.bk = v(3), lw.bv = v(5);
  if (op == BB_OP_LAYER) lw.attn_norm = v(0), lw.bq = v(2), lw.bk = v(4), lw.bv = v(6), lw.ffn_norm = v(8);
}

void run_once(bb_plan& p, int64_t set) {
  ThreadPool& pool = *p.ctx->pool;
  const WeightSet& ws = p.sets[static_cast<size_t>(set)];
  const LayerShape& s = p.shape;
  switch (p.op) {
    case BB_OP_COPY: {
      const size_t n = p.in_bytes.size();
      const int parts = pool.size();
      pool.parallel_for(parts, [&](int64_t i, int) {
        const size_t a = n * static_cast<size_t>(i) / static_cast<size_t>(parts) / 64 * 64;
        const size_t b =
            i + 1 == parts ? n : n * static_cast<size_t>(i + 1) / static_cast<size_t>(parts) / 64 * 64;
        std::memcpy(p.out_bytes.data() + a, p.in_bytes.data() + a, b - a);
      });
      return;
    }
    case BB_OP_GEMV: {
      const QMatrix& w = ws.matrices[0];
      p.act_a.prepare(act_format_of(w.type), p.in_f32[0].data(), w.cols);
      const GemvSegment seg{&w, &p.act_a, p.out_f32[0].data(), nullptr, nullptr};
      parallel_gemv(pool, &seg, 1);
      return;
    }
    case BB_OP_RMS_NORM:
      rms_norm(p.in_f32[0].data(), ws.vectors[0].data(), s.n_embd, s.rms_eps, p.out_f32[0].data());
      return;
    case BB_OP_QKV: {
      const LayerWeights& w = ws.layer;
      const float* x = p.in_f32[0].data();
      p.act_a.prepare(act_format_of(w.wq.type), x, s.n_embd);
      const ActQ8* xk = &p.act_a;
      if (act_format_of(w.wk.type) != p.act_a.format) {
        p.act_b.prepare(act_format_of(w.wk.type), x, s.n_embd);
        xk = &p.act_b;
      }
      const ActQ8* xv = act_format_of(w.wv.type) == p.act_a.format ? &p.act_a
                        : act_format_of(w.wv.type) == xk->format
                            ? xk
                            : (p.act_c.prepare(act_format_of(w.wv.type), x, s.n_embd), &p.act_c);
      const GemvSegment segs[3] = {{&w.wq, &p.act_a, p.out_f32[0].data(), w.bq, nullptr},
                                   {&w.wk, xk, p.out_f32[1].data(), w.bk, nullptr},
                                   {&w.wv, xv, p.out_f32[2].data(), w.bv, nullptr}};
      parallel_gemv(pool, segs, 3);
      return;
    }
    case BB_OP_ROPE:
      std::memcpy(p.out_f32[0].data(), p.in_f32[0].data(), static_cast<size_t>(s.q_width()) * 4);
      std::memcpy(p.out_f32[1].data(), p.in_f32[1].data(), static_cast<size_t>(s.kv_width()) * 4);
      p.rope.set_pos(p.pos);
      rope_neox(p.out_f32[0].data(), s.n_head, s.head_dim, p.rope);
      rope_neox(p.out_f32[1].data(), s.n_head_kv, s.head_dim, p.rope);
      return;
    case BB_OP_ATTENTION:
      attention(pool, s, p.in_f32[0].data(), p.kc, p.vc, p.kc.rows, p.layer.attn, p.out_f32[0].data());
      return;
    case BB_OP_O_PROJ: {
      const QMatrix& w = ws.matrices[0];
      p.act_a.prepare(act_format_of(w.type), p.in_f32[0].data(), s.q_width());
      const GemvSegment seg{&w, &p.act_a, p.out_f32[0].data(), nullptr, nullptr};
      parallel_gemv(pool, &seg, 1);
      return;
    }
    case BB_OP_FFN: {
      const LayerWeights& w = ws.layer;
      LayerScratch& t = p.layer;
      const float* x = p.in_f32[0].data();
      if (act_format_of(w.gate.type) == act_format_of(w.up.type)) {
        t.act_gate.prepare(act_format_of(w.gate.type), x, s.n_embd);
        parallel_gate_up(pool, w.gate, w.up, t.act_gate, t.g.data(), t.u.data(), t.ff.data());
      } else {
        t.act_gate.prepare(act_format_of(w.gate.type), x, s.n_embd);
        t.act_up.prepare(act_format_of(w.up.type), x, s.n_embd);
        const GemvSegment gu[2] = {{&w.gate, &t.act_gate, t.g.data(), nullptr, nullptr},
                                   {&w.up, &t.act_up, t.u.data(), nullptr, nullptr}};
        parallel_gemv(pool, gu, 2);
        for (int64_t r = 0; r < s.n_ff; ++r) t.ff[r] = t.g[r] / (1.0f + std::exp(-t.g[r])) * t.u[r];
      }
      t.act_down.prepare(act_format_of(w.down.type), t.ff.data(), s.n_ff);
      const GemvSegment dn{&w.down, &t.act_down, p.out_f32[0].data(), nullptr, nullptr};
      parallel_gemv(pool, &dn, 1);
      return;
    }
    case BB_OP_LAYER:
      p.rope.set_pos(p.pos);
      layer_forward(pool, s, ws.layer, p.in_f32[0].data(), p.pos, p.rope, p.kc, p.vc, p.layer,
                    p.out_f32[0].data());
      return;
    default:
      break;
  }
  throw std::logic_error("run_once: op not handled");
}

void check_io(const bb_plan& p, size_t i, const SlotSpec& spec, const bb_tensor& t, int32_t type,
              const char* what) {
  check_slot(t, spec, label(p.name, what, spec.role), true);
  if (t.type != type)
    invalid(p.name + ": " + what + " '" + spec.role + "' has type " + type_name(t.type) +
            " but plan_create described it as " + type_name(type));
  (void)i;
}

}  // namespace

bb_error* plan_create(bb_context* ctx, const bb_plan_desc* desc, bb_plan** out) {
  return guarded("plan_create", [&] {
    if (out == nullptr) invalid("plan_create: out is NULL");
    *out = nullptr;
    if (ctx == nullptr) invalid("plan_create: ctx is NULL");
    require_struct_size(desc, sizeof(bb_plan_desc), "plan_create", "desc");
    if (desc->op < BB_OP_COPY || desc->op > BB_OP_LAYER)
      invalid("plan_create: op " + std::to_string(desc->op) +
              (desc->op == BB_OP_DECODE || desc->op == BB_OP_GENERATE
                   ? std::string(" (") + op_name(desc->op) + ") is session-only; plans take copy..layer"
                   : std::string(" is outside copy..layer")));
    auto plan = std::make_unique<bb_plan>();
    bb_plan& p = *plan;
    p.op = desc->op;
    p.name = op_name(desc->op);
    p.ctx = ctx;
    p.cancel_flag = cancel_flag_of(ctx->host);
    if (desc->n_weight_sets < 1)
      invalid(p.name + ": n_weight_sets " + std::to_string(desc->n_weight_sets) + " must be >= 1");
    if (desc->n_weights_per_set < 0 || desc->n_inputs < 0 || desc->n_outputs < 0)
      invalid(p.name + ": negative tensor count");
    p.n_sets = desc->n_weight_sets;
    if (desc->op != BB_OP_COPY && desc->op != BB_OP_GEMV)
      p.shape = layer_shape_of(desc->dims, "plan_create " + p.name);
    p.spec = op_spec(*desc, p.shape);
    check_count(p.name, "weights per set", desc->n_weights_per_set, p.spec.weights);
    check_count(p.name, "inputs", desc->n_inputs, p.spec.inputs);
    check_count(p.name, "outputs", desc->n_outputs, p.spec.outputs);
    if (!p.spec.weights.empty() && desc->weights == nullptr) invalid(p.name + ": weights is NULL");
    if (!p.spec.inputs.empty() && desc->inputs == nullptr) invalid(p.name + ": inputs is NULL");
    if (!p.spec.outputs.empty() && desc->outputs == nullptr) invalid(p.name + ": outputs is NULL");
    if (!p.spec.weights.empty()) {
      p.sets.reserve(static_cast<size_t>(p.n_sets));
      for (int32_t set = 0; set < p.n_sets; ++set)
        bind_set(p, desc->weights + static_cast<size_t>(set) * p.spec.weights.size(), set);
      for (WeightSet& ws : p.sets) repoint(ws, p.op);
    } else {
      p.sets.resize(1);
    }

    int64_t cache_rows = 0;
    p.in_f32.resize(p.spec.inputs.size());
    for (size_t i = 0; i < p.spec.inputs.size(); ++i) {
      const SlotSpec& s = p.spec.inputs[i];
      check_slot(desc->inputs[i], s, label(p.name, "input", s.role), false);
      p.input_types.push_back(desc->inputs[i].type);
      int64_t n = 1;
      for (int64_t d : s.shape) n *= d;
      switch (s.kind) {
        case SlotKind::kF32:
          p.in_f32[i].resize(static_cast<size_t>(n) + 16);
          break;
        case SlotKind::kI8:
          p.in_bytes.resize(static_cast<size_t>(n));
          break;
        case SlotKind::kKCache:
          p.kc.init(desc->inputs[i].type, s.shape[1], s.shape[0]);
          cache_rows = s.shape[0];
          break;
        case SlotKind::kVCache:
          p.vc.init(desc->inputs[i].type, s.shape[1], s.shape[0]);
          break;
        default:
          break;
      }
    }
    p.out_f32.resize(p.spec.outputs.size());
    for (size_t i = 0; i < p.spec.outputs.size(); ++i) {
      const SlotSpec& s = p.spec.outputs[i];
      check_slot(desc->outputs[i], s, label(p.name, "output", s.role), false);
      int64_t n = 1;
      for (int64_t d : s.shape) n *= d;
      if (s.kind == SlotKind::kI8) {
        p.out_bytes.resize(static_cast<size_t>(n));
      } else {
        p.out_f32[i].resize(static_cast<size_t>(n) + 16);
      }
    }
    // Scratch for the largest activation this op quantizes.
    int64_t max_cols = std::max<int64_t>({p.shape.n_embd, p.shape.q_width(), p.shape.n_ff});
    if (p.op == BB_OP_GEMV) max_cols = p.spec.inputs[0].shape[0];
    for (av::ActQ8* a : {&p.act_a, &p.act_b, &p.act_c}) a->reserve(max_cols);
    if (p.op == BB_OP_FFN || p.op == BB_OP_LAYER || p.op == BB_OP_ATTENTION)
      p.layer.init(p.shape, std::max<int64_t>(cache_rows, 1), ctx->pool->size());
    if (p.op == BB_OP_ROPE || p.op == BB_OP_LAYER) p.rope.init(p.shape.head_dim, p.shape.rope_theta);
    *out = plan.release();
  });
}

void plan_destroy(bb_plan* plan) { delete plan; }

bb_error* plan_write_inputs(bb_plan* plan, int32_t n_inputs, const bb_tensor* inputs) {
  return guarded("plan_write_inputs", [&] {
    if (plan == nullptr) invalid("plan_write_inputs: plan is NULL");
    bb_plan& p = *plan;
    check_count(p.name, "inputs", n_inputs, p.spec.inputs);
    if (inputs == nullptr) invalid(p.name + ": plan_write_inputs: inputs is NULL");
    for (size_t i = 0; i < p.spec.inputs.size(); ++i)
      check_io(p, i, p.spec.inputs[i], inputs[i], p.input_types[i], "input");
    for (size_t i = 0; i < p.spec.inputs.size(); ++i) {
      if (p.spec.inputs[i].kind != SlotKind::kI32) continue;
      int32_t pos;
      std::memcpy(&pos, inputs[i].data, sizeof(pos));
      if (pos < 0) invalid(p.name + ": input 'pos' is " + std::to_string(pos) + ", must be >= 0");
      if (p.op == BB_OP_LAYER && pos >= p.kc.rows)
        invalid("layer: input 'pos' is " + std::to_string(pos) + " but the caches hold " +
                std::to_string(p.kc.rows) + " rows (C must be >= pos + 1)");
    }
    for (size_t i = 0; i < p.spec.inputs.size(); ++i) {
      const SlotSpec& s = p.spec.inputs[i];
      const void* src = inputs[i].data;
      switch (s.kind) {
        case SlotKind::kF32:
          std::memcpy(p.in_f32[i].data(), src, static_cast<size_t>(s.shape[0]) * 4);
          break;
        case SlotKind::kI32:
          std::memcpy(&p.pos, src, 4);
          break;
        case SlotKind::kI8:
          std::memcpy(p.in_bytes.data(), src, p.in_bytes.size());
          break;
        case SlotKind::kKCache:
          p.kc.write_raw(0, s.shape[0], src);
          break;
        case SlotKind::kVCache:
          p.vc.write_raw(0, s.shape[0], src);
          break;
        default:
          break;
      }
    }
    p.inputs_written = true;
  });
}

bb_error* plan_run(bb_plan* plan, bb_run_args* args) {
  return guarded("plan_run", [&] {
    if (plan == nullptr) invalid("plan_run: plan is NULL");
    bb_plan& p = *plan;
    require_struct_size(args, sizeof(bb_run_args), "plan_run " + p.name, "args");
    args->device_time_valid = 0;
    args->device_time_ns = 0;
    if (args->iterations < 1)
      invalid(p.name + ": iterations " + std::to_string(args->iterations) + " must be >= 1");
    if (args->weight_set_begin < 0) invalid(p.name + ": weight_set_begin must be >= 0");
    if (!p.inputs_written) invalid(p.name + ": plan_run before plan_write_inputs");
    p.has_outputs = false;
    const int64_t n_sets = static_cast<int64_t>(p.sets.size());
    for (int64_t i = 0; i < args->iterations; ++i) {
      check_cancel(p.cancel_flag);
      run_once(p, (args->weight_set_begin + i) % n_sets);
    }
    p.has_outputs = true;
  });
}

bb_error* plan_read_outputs(bb_plan* plan, int32_t n_outputs, bb_tensor* outputs) {
  return guarded("plan_read_outputs", [&] {
    if (plan == nullptr) invalid("plan_read_outputs: plan is NULL");
    bb_plan& p = *plan;
    check_count(p.name, "outputs", n_outputs, p.spec.outputs);
    if (outputs == nullptr) invalid(p.name + ": plan_read_outputs: outputs is NULL");
    if (!p.has_outputs) invalid(p.name + ": plan_read_outputs before a successful plan_run");
    for (size_t i = 0; i < p.spec.outputs.size(); ++i) {
      const SlotSpec& s = p.spec.outputs[i];
      check_io(p, i, s, outputs[i], plugin_util::activation_type(s.kind), "output");
    }
    for (size_t i = 0; i < p.spec.outputs.size(); ++i) {
      const SlotSpec& s = p.spec.outputs[i];
      if (s.kind == SlotKind::kI8) {
        std::memcpy(outputs[i].data, p.out_bytes.data(), p.out_bytes.size());
      } else {
        std::memcpy(outputs[i].data, p.out_f32[i].data(), static_cast<size_t>(s.shape[0]) * 4);
      }
    }
  });
}

}  // namespace bb::avx::glue
