// Plans: one brick at fixed shapes. Weights of every set are uploaded (repacked) at plan_create;
// inputs are uploaded at plan_write_inputs (activations that feed quantized dot products are then
// quantized (two-level 8-bit) once: inside a decode that quantization is fused into the producer kernel);
// each iteration is a captured CUDA graph, and runs of many iterations replay graphs of
// kGraphBatch iterations, so host launch overhead does not hide the kernels' own time.
#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstring>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "context.h"
#include "glue.h"
#include "kernel_api.h"
#include "repack.h"
#include "weights.h"

namespace bb::cuda_bricks {
namespace {

constexpr int kGraphBatch = 8;

using plugin_util::activation_type;
using plugin_util::is_kv_cache;
using plugin_util::label;
using plugin_util::OpSpec;
using plugin_util::SlotKind;
using plugin_util::SlotSpec;

// The op's slots at the plan's dims (plugins/common/plugin_glue.h).
OpSpec op_spec(const bb_plan_desc& d, const LayerDims& s) {
  return plugin_util::op_spec(kName, d, {s.n_embd, s.q_width(), s.kv_width(), s.n_ff});
}

void check_count(const char* op, const char* what, int32_t given, const std::vector<SlotSpec>& specs) {
  plugin_util::check_count(kName, op, what, given, specs);
}

void check_slot(const bb_tensor& t, const SlotSpec& spec, const std::string& lbl, bool need_data) {
  plugin_util::check_slot(kName, t, spec, lbl, need_data, kHostMemoryNote);
}

int64_t elements(const std::vector<int64_t>& shape) {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

int32_t gemv_blocks(int64_t rows) {
  return static_cast<int32_t>((rows + kGemvRowsPerBlock - 1) / kGemvRowsPerBlock);
}

// Device activation vector in all three forms.
struct ActBuffers {
  size_t f = 0, q = 0, ds = 0;
};

}  // namespace
}  // namespace bb::cuda_bricks

namespace cb = bb::cuda_bricks;

struct bb_plan {
  bb_context* ctx = nullptr;
  int32_t op = 0;
  int32_t n_sets = 1;
  cb::LayerDims dims;
  cb::OpSpec spec;
  const volatile int32_t* cancel = nullptr;
  cb::WeightStore weights;
  cb::DeviceArena work;
  // Per input / output: the device bytes (offset into `work`), the host type.
  std::vector<size_t> in_off, out_off;
  std::vector<int32_t> in_type, out_type;
  std::vector<uint64_t> in_bytes, out_bytes;
  // After an input's upload: quantize it (x of GEMV-type ops). -1 = nothing.
  std::vector<int32_t> quantize_in;
  cb::ActBuffers act_in;  // where the quantized input goes
  int64_t act_in_n = 0;
  // ROPE: its table depends on pos, made at write time.
  cb::DeviceBuffer rope_table;
  size_t rope_launch_off = 0;
  size_t pos_off = 0;
  int64_t cache_rows = 0;
  std::function<void(int32_t set)> record;  // launches one iteration on ctx->stream
  std::vector<cb::Graph> single, batch;
  bool inputs_written = false;
  bool has_outputs = false;
};

namespace bb::cuda_bricks {
namespace {

template <typename T>
T* at(const bb_plan& p, size_t off) {
  return reinterpret_cast<T*>(p.work.at(off));
}

// Builds buffers, launch structs and the per-iteration recorder of one plan (weights registered).
void build(bb_plan& p, const bb_plan_desc& d, const std::vector<int>& wid) {
  const LayerDims& s = p.dims;
  const int64_t E = s.n_embd, H = s.q_width(), KW = s.kv_width(), F = s.n_ff;
  const int32_t per_set = static_cast<int32_t>(p.spec.weights.size());
  auto W = [&](int32_t set, int32_t i) { return wid[static_cast<size_t>(set * per_set + i)]; };
  DeviceArena& a = p.work;
  // I/O buffers first, in the spec's order.
  for (size_t i = 0; i < p.spec.inputs.size(); ++i) {
    const SlotSpec& sp = p.spec.inputs[i];
    p.in_type.push_back(d.inputs[i].type);
    const uint64_t bytes = static_cast<uint64_t>(elements(sp.shape)) *
                           element_bytes(is_kv_cache(sp.kind) ? d.inputs[i].type : activation_type(sp.kind));
    p.in_bytes.push_back(bytes);
    p.in_off.push_back(a.reserve(bytes));
    p.quantize_in.push_back(-1);
  }
  for (size_t i = 0; i < p.spec.outputs.size(); ++i) {
    const SlotSpec& sp = p.spec.outputs[i];
    p.out_type.push_back(d.outputs[i].type);
    const uint64_t bytes =
        static_cast<uint64_t>(elements(sp.shape)) * element_bytes(activation_type(sp.kind));
    p.out_bytes.push_back(bytes);
    p.out_off.push_back(a.reserve(bytes));
  }
  auto act = [&](int64_t n) {
    ActBuffers b;
    b.f = a.reserve(static_cast<size_t>(n) * 4);
    b.q = a.reserve(static_cast<size_t>(n) * 2);  // hi and lo bytes (quant_math.h)
    b.ds = a.reserve(static_cast<size_t>(n / 32) * sizeof(float2));
    return b;
  };
  auto quantized_input = [&](int idx, int64_t n) {
    // The input's float copy stays where the upload puts it; the quantized form goes beside.
    p.quantize_in[static_cast<size_t>(idx)] = 1;
    p.act_in = act(n);
    p.act_in.f = p.in_off[static_cast<size_t>(idx)];
    p.act_in_n = n;
  };
  // gemv_res_kernel's partial sums and quad counters (kernel_api.h), for GEMVs of up to `rows` rows
  // (all segments): offsets until a.allocate(), then set() fills a launch's pointers.
  struct ResBuffers {
    size_t part = 0, qcnt = 0;
    void set(const bb_plan& pl, GemvLaunch& g) const {
      g.part = at<float>(pl, part);
      g.qcnt = at<unsigned int>(pl, qcnt);
    }
  };
  auto res_buffers = [&](int64_t rows) {
    ResBuffers b;
    b.part = a.reserve(sizeof(float) * static_cast<size_t>(rows) * kResMaxSplit);
    b.qcnt = a.reserve(sizeof(unsigned int) * static_cast<size_t>(rows / kResRows + 1));
    return b;
  };
  const int32_t n = p.n_sets;
  const int n_sms = p.ctx->n_sms;

  switch (p.op) {
    case BB_OP_COPY: {
      a.allocate();
      const uint64_t bytes = p.in_bytes[0];
      p.record = [&p, bytes, n_sms](int32_t) {
        BB_CUDA(launch_copy(p.work.at(p.in_off[0]), p.work.at(p.out_off[0]), bytes, n_sms, p.ctx->stream));
      };
      return;
    }
    case BB_OP_GEMV:
    case BB_OP_O_PROJ: {
      const MatDesc m0 = p.weights.matrix(W(0, 0));
      quantized_input(0, m0.cols);
      const size_t launches = a.reserve(sizeof(GemvLaunch) * static_cast<size_t>(n));
      const ResBuffers rb = res_buffers(m0.rows);
      a.allocate();
      std::vector<GemvLaunch> h(static_cast<size_t>(n));
      for (int32_t set = 0; set < n; ++set) {
        GemvLaunch& g = h[static_cast<size_t>(set)];
        g = GemvLaunch{};
        g.seg[0].m = p.weights.matrix(W(set, 0));
        g.seg[0].y = at<float>(p, p.out_off[0]);
        g.n_seg = 1;
        g.n_blocks = gemv_blocks(g.seg[0].m.rows);
        g.x = Act{at<float>(p, p.act_in.f), at<int8_t>(p, p.act_in.q), at<float2>(p, p.act_in.ds)};
        if (g.seg[0].m.rows <= m0.rows) rb.set(p, g);
      }
      BB_CUDA(cudaMemcpy(a.at(launches), h.data(), sizeof(GemvLaunch) * h.size(), cudaMemcpyHostToDevice));
      p.record = [&p, h, launches](int32_t set) {
        BB_CUDA(launch_gemv(h[static_cast<size_t>(set)], at<GemvLaunch>(p, launches) + set,
                            GemvEpilogue::kStore, p.ctx->stream));
      };
      return;
    }
    case BB_OP_RMS_NORM: {
      const size_t launches = a.reserve(sizeof(NormLaunch) * static_cast<size_t>(n));
      a.allocate();
      std::vector<NormLaunch> h(static_cast<size_t>(n));
      for (int32_t set = 0; set < n; ++set) {
        h[static_cast<size_t>(set)] =
            NormLaunch{at<float>(p, p.in_off[0]),   nullptr,
                       p.weights.vector(W(set, 0)), static_cast<float>(s.rms_eps),
                       static_cast<int32_t>(E),     ActOut{at<float>(p, p.out_off[0]), nullptr, nullptr}};
      }
      BB_CUDA(cudaMemcpy(a.at(launches), h.data(), sizeof(NormLaunch) * h.size(), cudaMemcpyHostToDevice));
      p.record = [&p, launches](int32_t set) {
        BB_CUDA(launch_rms_norm(at<NormLaunch>(p, launches) + set, p.ctx->stream));
      };
      return;
    }
    case BB_OP_QKV: {
      quantized_input(0, E);
      const size_t launches = a.reserve(sizeof(GemvLaunch) * static_cast<size_t>(n));
      const ResBuffers rb = res_buffers(H + 2 * KW);
      a.allocate();
      std::vector<GemvLaunch> h(static_cast<size_t>(n));
      for (int32_t set = 0; set < n; ++set) {
        GemvLaunch& g = h[static_cast<size_t>(set)];
        g = GemvLaunch{};
        int32_t blocks = 0;
        for (int k = 0; k < 3; ++k) {
          g.seg[k].m = p.weights.matrix(W(set, 2 * k));
          g.seg[k].bias = p.weights.vector(W(set, 2 * k + 1));
          g.seg[k].y = at<float>(p, p.out_off[static_cast<size_t>(k)]);
          g.seg[k].block_begin = blocks;
          blocks += gemv_blocks(g.seg[k].m.rows);
        }
        g.n_seg = 3;
        g.n_blocks = blocks;
        g.x = Act{at<float>(p, p.act_in.f), at<int8_t>(p, p.act_in.q), at<float2>(p, p.act_in.ds)};
        rb.set(p, g);
      }
      BB_CUDA(cudaMemcpy(a.at(launches), h.data(), sizeof(GemvLaunch) * h.size(), cudaMemcpyHostToDevice));
      p.record = [&p, h, launches](int32_t set) {
        BB_CUDA(launch_gemv(h[static_cast<size_t>(set)], at<GemvLaunch>(p, launches) + set,
                            GemvEpilogue::kStore, p.ctx->stream));
      };
      return;
    }
    case BB_OP_ROPE: {
      p.rope_launch_off = a.reserve(sizeof(RopeLaunch));
      a.allocate();
      p.pos_off = p.in_off[2];
      p.record = [&p](int32_t) {
        const RopeLaunch h{};
        BB_CUDA(launch_rope(h, at<RopeLaunch>(p, p.rope_launch_off), p.ctx->stream));
      };
      return;
    }
    case BB_OP_ATTENTION: {
      if (d.inputs[1].type != d.inputs[2].type)
        unsupported("cuda_bricks attention: k_cache and v_cache of different types");
      const int64_t L = p.spec.inputs[1].shape[0];
      const int32_t min_chunk = attention_min_chunk(s.head_dim);
      const int32_t splits = attention_max_splits(s.n_head_kv, static_cast<int32_t>(L), n_sms, min_chunk);
      const size_t pos = a.reserve(sizeof(int32_t));
      const size_t ml =
          a.reserve(sizeof(float2) * static_cast<size_t>(s.n_head) * static_cast<size_t>(splits));
      const size_t accs = a.reserve(sizeof(float) * static_cast<size_t>(s.n_head) *
                                    static_cast<size_t>(splits) * static_cast<size_t>(s.head_dim));
      const size_t counters =
          a.reserve(sizeof(unsigned int) * static_cast<size_t>(s.n_head_kv) * kAttnCounters);
      const size_t launch = a.reserve(sizeof(AttentionLaunch));
      a.allocate();
      const int32_t last = static_cast<int32_t>(L - 1);
      BB_CUDA(cudaMemcpy(a.at(pos), &last, sizeof(last), cudaMemcpyHostToDevice));
      AttentionLaunch h{};
      h.q = at<float>(p, p.in_off[0]);
      h.k_cache = a.at(p.in_off[1]);
      h.v_cache = a.at(p.in_off[2]);
      h.kv_type = d.inputs[1].type;
      h.n_head = s.n_head;
      h.n_head_kv = s.n_head_kv;
      h.head_dim = s.head_dim;
      h.pos = at<int32_t>(p, pos);
      h.max_splits = splits;
      h.min_chunk = min_chunk;
      h.scale = static_cast<float>(1.0 / std::sqrt(static_cast<double>(s.head_dim)));
      h.part_ml = at<float2>(p, ml);
      h.part_acc = at<float>(p, accs);
      h.counters = at<unsigned int>(p, counters);
      h.out = ActOut{at<float>(p, p.out_off[0]), nullptr, nullptr};
      upload_struct(at<AttentionLaunch>(p, launch), h);
      p.record = [&p, h, launch](int32_t) {
        BB_CUDA(launch_attention(h, at<AttentionLaunch>(p, launch), p.ctx->stream));
      };
      return;
    }
    case BB_OP_FFN: {
      quantized_input(0, E);
      const ActBuffers hb = act(F);
      const size_t gu = a.reserve(sizeof(GateUpLaunch) * static_cast<size_t>(n));
      const size_t dn = a.reserve(sizeof(GemvLaunch) * static_cast<size_t>(n));
      const ResBuffers rb = res_buffers(E);
      const size_t gcnt = a.reserve(sizeof(unsigned int) * static_cast<size_t>(F / kGateUpOutputs + 1));
      a.allocate();
      std::vector<GateUpLaunch> hg(static_cast<size_t>(n));
      std::vector<GemvLaunch> hd(static_cast<size_t>(n));
      const Act x{at<float>(p, p.act_in.f), at<int8_t>(p, p.act_in.q), at<float2>(p, p.act_in.ds)};
      for (int32_t set = 0; set < n; ++set) {
        GateUpLaunch& g = hg[static_cast<size_t>(set)];
        g.gate = p.weights.matrix(W(set, 0));
        g.up = p.weights.matrix(W(set, 1));
        g.x = x;
        g.h = ActOut{at<float>(p, hb.f), at<int8_t>(p, hb.q), at<float2>(p, hb.ds)};
        g.n_blocks = static_cast<int32_t>(F / kGateUpOutputs);
        g.counters = at<unsigned int>(p, gcnt);
        GemvLaunch& dl = hd[static_cast<size_t>(set)];
        dl = GemvLaunch{};
        dl.seg[0].m = p.weights.matrix(W(set, 2));
        dl.seg[0].y = at<float>(p, p.out_off[0]);
        dl.n_seg = 1;
        dl.n_blocks = gemv_blocks(E);
        dl.x = Act{at<float>(p, hb.f), at<int8_t>(p, hb.q), at<float2>(p, hb.ds)};
        rb.set(p, dl);
      }
      BB_CUDA(cudaMemcpy(a.at(gu), hg.data(), sizeof(GateUpLaunch) * hg.size(), cudaMemcpyHostToDevice));
      BB_CUDA(cudaMemcpy(a.at(dn), hd.data(), sizeof(GemvLaunch) * hd.size(), cudaMemcpyHostToDevice));
      p.record = [&p, hg, hd, gu, dn](int32_t set) {
        BB_CUDA(launch_gate_up(hg[static_cast<size_t>(set)], at<GateUpLaunch>(p, gu) + set, p.ctx->stream));
        BB_CUDA(launch_gemv(hd[static_cast<size_t>(set)], at<GemvLaunch>(p, dn) + set, GemvEpilogue::kStore,
                            p.ctx->stream));
      };
      return;
    }
    case BB_OP_LAYER: {
      if (d.inputs[2].type != d.inputs[3].type)
        unsupported("cuda_bricks layer: k_cache and v_cache of different types");
      const int64_t C = p.spec.inputs[2].shape[0];
      p.cache_rows = C;
      p.pos_off = p.in_off[1];
      const int32_t min_chunk = attention_min_chunk(s.head_dim);
      const int32_t splits = attention_max_splits(s.n_head_kv, static_cast<int32_t>(C), n_sms, min_chunk);
      const size_t xw = a.reserve(sizeof(float) * static_cast<size_t>(E));
      const ActBuffers xn = act(E), ab = act(H), hb = act(F);
      const size_t qo = a.reserve(sizeof(float) * static_cast<size_t>(H));
      const size_t ko = a.reserve(sizeof(float) * static_cast<size_t>(KW));
      const size_t vo = a.reserve(sizeof(float) * static_cast<size_t>(KW));
      const size_t qrot = a.reserve(sizeof(float) * static_cast<size_t>(H));
      const size_t ml =
          a.reserve(sizeof(float2) * static_cast<size_t>(s.n_head) * static_cast<size_t>(splits));
      const size_t accs = a.reserve(sizeof(float) * static_cast<size_t>(s.n_head) *
                                    static_cast<size_t>(splits) * static_cast<size_t>(s.head_dim));
      const size_t counter = a.reserve(sizeof(unsigned int));
      const size_t att_counters =
          a.reserve(sizeof(unsigned int) * static_cast<size_t>(s.n_head_kv) * kAttnCounters);
      const ResBuffers rb = res_buffers(std::max<int64_t>(E, H + 2 * KW));
      const size_t table =
          a.reserve(sizeof(float) * static_cast<size_t>(C) * static_cast<size_t>(s.head_dim));
      const size_t l_norm = a.reserve(sizeof(NormLaunch) * static_cast<size_t>(n));
      const size_t l_qkv = a.reserve(sizeof(GemvLaunch) * static_cast<size_t>(n));
      const size_t l_att = a.reserve(sizeof(AttentionLaunch));
      const size_t l_o = a.reserve(sizeof(GemvLaunch) * static_cast<size_t>(n));
      const size_t l_gu = a.reserve(sizeof(GateUpLaunch) * static_cast<size_t>(n));
      const size_t l_dn = a.reserve(sizeof(GemvLaunch) * static_cast<size_t>(n));
      const size_t gcnt = a.reserve(sizeof(unsigned int) * static_cast<size_t>(F / kGateUpOutputs + 1));
      a.allocate();
      const std::vector<float> cs = rope_table(static_cast<int32_t>(C), s.head_dim, s.rope_theta);
      BB_CUDA(cudaMemcpy(a.at(table), cs.data(), cs.size() * sizeof(float), cudaMemcpyHostToDevice));
      const Act xn_act{at<float>(p, xn.f), at<int8_t>(p, xn.q), at<float2>(p, xn.ds)};
      const ActOut xn_out{at<float>(p, xn.f), at<int8_t>(p, xn.q), at<float2>(p, xn.ds)};
      AttentionLaunch att{};
      att.q = at<float>(p, qrot);
      att.k_cache = a.at(p.in_off[2]);
      att.v_cache = a.at(p.in_off[3]);
      att.kv_type = d.inputs[2].type;
      att.n_head = s.n_head;
      att.n_head_kv = s.n_head_kv;
      att.head_dim = s.head_dim;
      att.pos = at<int32_t>(p, p.pos_off);
      att.max_splits = splits;
      att.min_chunk = min_chunk;
      att.scale = static_cast<float>(1.0 / std::sqrt(static_cast<double>(s.head_dim)));
      att.part_ml = at<float2>(p, ml);
      att.part_acc = at<float>(p, accs);
      att.counters = at<unsigned int>(p, att_counters);
      att.out = ActOut{at<float>(p, ab.f), at<int8_t>(p, ab.q), at<float2>(p, ab.ds)};
      upload_struct(at<AttentionLaunch>(p, l_att), att);
      std::vector<NormLaunch> hn(static_cast<size_t>(n));
      std::vector<GemvLaunch> hq(static_cast<size_t>(n)), ho(static_cast<size_t>(n)),
          hd(static_cast<size_t>(n));
      std::vector<GateUpLaunch> hg(static_cast<size_t>(n));
      for (int32_t set = 0; set < n; ++set) {
        const size_t i = static_cast<size_t>(set);
        hn[i] =
            NormLaunch{at<float>(p, p.in_off[0]),     at<float>(p, xw),        p.weights.vector(W(set, 0)),
                       static_cast<float>(s.rms_eps), static_cast<int32_t>(E), xn_out};
        GemvLaunch& q = hq[i];
        q = GemvLaunch{};
        int32_t blocks = 0;
        const size_t outs[3] = {qo, ko, vo};
        for (int k = 0; k < 3; ++k) {
          q.seg[k].m = p.weights.matrix(W(set, 1 + 2 * k));
          q.seg[k].bias = p.weights.vector(W(set, 2 + 2 * k));
          q.seg[k].y = at<float>(p, outs[k]);
          q.seg[k].block_begin = blocks;
          blocks += gemv_blocks(q.seg[k].m.rows);
        }
        q.n_seg = 3;
        q.n_blocks = blocks;
        q.x = xn_act;
        q.pos = at<int32_t>(p, p.pos_off);
        q.rope_cs = at<float2>(p, table);
        q.q_rot = at<float>(p, qrot);
        q.k_cache = a.at(p.in_off[2]);
        q.v_cache = a.at(p.in_off[3]);
        q.kv_type = d.inputs[2].type;
        q.n_head = s.n_head;
        q.n_head_kv = s.n_head_kv;
        q.head_dim = s.head_dim;
        q.counter = at<unsigned int>(p, counter);
        rb.set(p, q);
        GemvLaunch& o = ho[i];
        o = GemvLaunch{};
        o.seg[0].m = p.weights.matrix(W(set, 7));
        o.seg[0].y = at<float>(p, xw);
        o.n_seg = 1;
        o.n_blocks = gemv_blocks(E);
        o.x = Act{at<float>(p, ab.f), at<int8_t>(p, ab.q), at<float2>(p, ab.ds)};
        o.norm_g = p.weights.vector(W(set, 8));
        o.norm_eps = static_cast<float>(s.rms_eps);
        o.norm_n = static_cast<int32_t>(E);
        o.norm_out = xn_out;
        o.counter = at<unsigned int>(p, counter);
        rb.set(p, o);
        GateUpLaunch& g = hg[i];
        g.gate = p.weights.matrix(W(set, 9));
        g.up = p.weights.matrix(W(set, 10));
        g.x = xn_act;
        g.h = ActOut{at<float>(p, hb.f), at<int8_t>(p, hb.q), at<float2>(p, hb.ds)};
        g.n_blocks = static_cast<int32_t>(F / kGateUpOutputs);
        g.counters = at<unsigned int>(p, gcnt);
        GemvLaunch& dl = hd[i];
        dl = GemvLaunch{};
        dl.seg[0].m = p.weights.matrix(W(set, 11));
        dl.seg[0].y = at<float>(p, xw);
        dl.n_seg = 1;
        dl.n_blocks = gemv_blocks(E);
        dl.x = Act{at<float>(p, hb.f), at<int8_t>(p, hb.q), at<float2>(p, hb.ds)};
        dl.norm_g = nullptr;  // the layer's output is the residual stream itself
        rb.set(p, dl);
      }
      BB_CUDA(cudaMemcpy(a.at(l_norm), hn.data(), sizeof(NormLaunch) * hn.size(), cudaMemcpyHostToDevice));
      BB_CUDA(cudaMemcpy(a.at(l_qkv), hq.data(), sizeof(GemvLaunch) * hq.size(), cudaMemcpyHostToDevice));
      BB_CUDA(cudaMemcpy(a.at(l_o), ho.data(), sizeof(GemvLaunch) * ho.size(), cudaMemcpyHostToDevice));
      BB_CUDA(cudaMemcpy(a.at(l_gu), hg.data(), sizeof(GateUpLaunch) * hg.size(), cudaMemcpyHostToDevice));
      BB_CUDA(cudaMemcpy(a.at(l_dn), hd.data(), sizeof(GemvLaunch) * hd.size(), cudaMemcpyHostToDevice));
      // The output is the residual stream: read it from xw.
      p.out_off[0] = xw;
      p.record = [&p, hq, ho, hg, hd, att, l_norm, l_qkv, l_att, l_o, l_gu, l_dn](int32_t set) {
        const cudaStream_t st = p.ctx->stream;
        const size_t i = static_cast<size_t>(set);
        BB_CUDA(launch_rms_norm(at<NormLaunch>(p, l_norm) + set, st));
        BB_CUDA(launch_gemv(hq[i], at<GemvLaunch>(p, l_qkv) + set, GemvEpilogue::kQkvRope, st));
        BB_CUDA(launch_attention(att, at<AttentionLaunch>(p, l_att), st));
        BB_CUDA(launch_gemv(ho[i], at<GemvLaunch>(p, l_o) + set, GemvEpilogue::kResidualNorm, st));
        BB_CUDA(launch_gate_up(hg[i], at<GateUpLaunch>(p, l_gu) + set, st));
        BB_CUDA(launch_gemv(hd[i], at<GemvLaunch>(p, l_dn) + set, GemvEpilogue::kResidualNorm, st));
      };
      return;
    }
    default:
      break;
  }
  throw std::logic_error("build: op not handled");
}

void capture_graphs(bb_plan& p) {
  const cudaStream_t stream = p.ctx->stream;
  for (int32_t set = 0; set < p.n_sets; ++set) {
    // One PDL chain per iteration (kernel_api.h): iterations stay serialized against each other.
    p.single.push_back(Graph::capture(stream, [&] {
      const PdlChain chain;
      p.record(set);
    }));
    p.batch.push_back(Graph::capture(stream, [&] {
      for (int32_t i = 0; i < kGraphBatch; ++i) {
        const PdlChain chain;
        p.record((set + i) % p.n_sets);
      }
    }));
  }
}

}  // namespace

bb_error* plan_create(bb_context* ctx, const bb_plan_desc* desc, bb_plan** out) {
  return guarded("plan_create", [&] {
    if (out == nullptr) invalid("cuda_bricks plan_create: out is NULL");
    *out = nullptr;
    if (ctx == nullptr) invalid("cuda_bricks plan_create: ctx is NULL");
    require_struct_size(desc, sizeof(bb_plan_desc), "plan_create", "desc");
    if (desc->op < BB_OP_COPY || desc->op > BB_OP_LAYER) {
      invalid("cuda_bricks plan_create: op " + std::to_string(desc->op) +
              (desc->op == BB_OP_DECODE || desc->op == BB_OP_GENERATE
                   ? std::string(" (") + op_name(desc->op) + ") is session-only; plans take copy..layer"
                   : std::string(" is outside copy..layer")));
    }
    const char* op = op_name(desc->op);
    if (desc->n_weight_sets < 1)
      invalid(std::string("cuda_bricks ") + op + ": n_weight_sets " + std::to_string(desc->n_weight_sets) +
              " must be >= 1");
    if (desc->n_weights_per_set < 0 || desc->n_inputs < 0 || desc->n_outputs < 0)
      invalid(std::string("cuda_bricks ") + op + ": negative tensor count");
    use_device(*ctx);
    auto plan = std::make_unique<bb_plan>();
    plan->ctx = ctx;
    plan->op = desc->op;
    plan->n_sets = desc->n_weight_sets;
    plan->cancel = cancel_flag_of(ctx->host);
    if (desc->op != BB_OP_COPY && desc->op != BB_OP_GEMV)
      plan->dims = layer_dims_of(desc->dims, std::string("plan_create ") + op);
    plan->spec = op_spec(*desc, plan->dims);
    const OpSpec& spec = plan->spec;
    check_count(op, "weights per set", desc->n_weights_per_set, spec.weights);
    check_count(op, "inputs", desc->n_inputs, spec.inputs);
    check_count(op, "outputs", desc->n_outputs, spec.outputs);
    if (!spec.weights.empty() && desc->weights == nullptr)
      invalid(std::string("cuda_bricks ") + op + ": weights is NULL");
    if (!spec.inputs.empty() && desc->inputs == nullptr)
      invalid(std::string("cuda_bricks ") + op + ": inputs is NULL");
    if (!spec.outputs.empty() && desc->outputs == nullptr)
      invalid(std::string("cuda_bricks ") + op + ": outputs is NULL");
    for (size_t i = 0; i < spec.inputs.size(); ++i)
      check_slot(desc->inputs[i], spec.inputs[i], label(op, "input", spec.inputs[i].role), false);
    for (size_t i = 0; i < spec.outputs.size(); ++i)
      check_slot(desc->outputs[i], spec.outputs[i], label(op, "output", spec.outputs[i].role), false);
    if (desc->op == BB_OP_COPY && spec.inputs[0].shape[0] > (int64_t{1} << 40))
      unsupported("cuda_bricks copy: more than 2^40 bytes");

    std::vector<int> wid;
    for (int32_t set = 0; set < desc->n_weight_sets; ++set) {
      for (size_t i = 0; i < spec.weights.size(); ++i) {
        const bb_tensor& t = desc->weights[static_cast<size_t>(set) * spec.weights.size() + i];
        const SlotSpec& ws = spec.weights[i];
        check_weight(t, TensorCheck{label(op, "weight", ws.role, set), ws.shape, true});
        // A layer's wq, bq, wk, bk (weights 1-4) in RoPE row order: its QKV GEMV ropes in the epilogue.
        const int32_t rope_hd = desc->op == BB_OP_LAYER && i >= 1 && i <= 4 ? plan->dims.head_dim : 0;
        wid.push_back(ws.kind == SlotKind::kVector
                          ? plan->weights.add_vector(t, ws.shape[0], rope_hd)
                          : plan->weights.add_matrix(t, ws.shape[0], ws.shape[1], rope_hd));
      }
    }
    plan->weights.upload(plan->cancel);
    build(*plan, *desc, wid);
    capture_graphs(*plan);
    BB_CUDA(cudaDeviceSynchronize());  // the launch structs' copies (legacy stream) have landed
    *out = plan.release();
  });
}

void plan_destroy(bb_plan* plan) {
  if (plan == nullptr) return;
  cudaSetDevice(plan->ctx->device);
  cudaStreamSynchronize(plan->ctx->stream);
  delete plan;
}

bb_error* plan_write_inputs(bb_plan* plan, int32_t n_inputs, const bb_tensor* inputs) {
  return guarded("plan_write_inputs", [&] {
    if (plan == nullptr) invalid("cuda_bricks plan_write_inputs: plan is NULL");
    const char* op = op_name(plan->op);
    check_count(op, "inputs", n_inputs, plan->spec.inputs);
    if (inputs == nullptr) invalid(std::string("cuda_bricks ") + op + ": plan_write_inputs: inputs is NULL");
    for (size_t i = 0; i < plan->spec.inputs.size(); ++i) {
      check_slot(inputs[i], plan->spec.inputs[i], label(op, "input", plan->spec.inputs[i].role), true);
      if (inputs[i].type != plan->in_type[i]) {
        invalid(std::string("cuda_bricks ") + op + ": input '" + plan->spec.inputs[i].role + "' has type " +
                type_name(inputs[i].type) + " but plan_create described it as " +
                type_name(plan->in_type[i]));
      }
      if (plan->spec.inputs[i].kind == SlotKind::kI32) {
        int32_t pos;
        std::memcpy(&pos, inputs[i].data, sizeof(pos));
        if (pos < 0)
          invalid(std::string("cuda_bricks ") + op + ": input 'pos' is " + std::to_string(pos) +
                  ", must be >= 0");
        if (plan->op == BB_OP_ROPE && pos >= (1 << 24))
          unsupported("cuda_bricks rope: position " + std::to_string(pos) +
                      " beyond the 2^24 this plugin tables");
        if (plan->op == BB_OP_LAYER && pos >= plan->cache_rows) {
          invalid("cuda_bricks layer: input 'pos' is " + std::to_string(pos) + " but the caches hold " +
                  std::to_string(plan->cache_rows) + " rows (C must be >= pos + 1)");
        }
      }
    }
    use_device(*plan->ctx);
    for (size_t i = 0; i < plan->spec.inputs.size(); ++i)
      BB_CUDA(cudaMemcpy(plan->work.at(plan->in_off[i]), inputs[i].data, plan->in_bytes[i],
                         cudaMemcpyHostToDevice));
    // Pageable copies may still be in flight on the legacy stream: land them before any kernel.
    BB_CUDA(cudaDeviceSynchronize());
    for (size_t i = 0; i < plan->spec.inputs.size(); ++i) {
      if (plan->quantize_in[i] >= 0) {
        BB_CUDA(launch_quantize_q8(
            reinterpret_cast<const float*>(plan->work.at(plan->act_in.f)),
            static_cast<int32_t>(plan->act_in_n), reinterpret_cast<int8_t*>(plan->work.at(plan->act_in.q)),
            reinterpret_cast<float2*>(plan->work.at(plan->act_in.ds)), plan->ctx->stream));
      }
    }
    if (plan->op == BB_OP_ROPE) {
      int32_t pos;
      std::memcpy(&pos, inputs[2].data, sizeof(pos));
      const std::vector<float> cs = rope_table(pos + 1, plan->dims.head_dim, plan->dims.rope_theta);
      plan->rope_table = DeviceBuffer(cs.size() * sizeof(float));
      BB_CUDA(
          cudaMemcpy(plan->rope_table.get(), cs.data(), cs.size() * sizeof(float), cudaMemcpyHostToDevice));
      RopeLaunch r{};
      r.q_in = reinterpret_cast<const float*>(plan->work.at(plan->in_off[0]));
      r.k_in = reinterpret_cast<const float*>(plan->work.at(plan->in_off[1]));
      r.q_out = reinterpret_cast<float*>(plan->work.at(plan->out_off[0]));
      r.k_out = reinterpret_cast<float*>(plan->work.at(plan->out_off[1]));
      r.pos = reinterpret_cast<const int32_t*>(plan->work.at(plan->in_off[2]));
      r.rope_cs = plan->rope_table.as<float2>();
      r.n_head = plan->dims.n_head;
      r.n_head_kv = plan->dims.n_head_kv;
      r.head_dim = plan->dims.head_dim;
      upload_struct(reinterpret_cast<RopeLaunch*>(plan->work.at(plan->rope_launch_off)), r);
    }
    BB_CUDA(cudaStreamSynchronize(plan->ctx->stream));
    BB_CUDA(cudaDeviceSynchronize());
    plan->inputs_written = true;
    plan->has_outputs = false;
  });
}

bb_error* plan_run(bb_plan* plan, bb_run_args* args) {
  return guarded("plan_run", [&] {
    if (plan == nullptr) invalid("cuda_bricks plan_run: plan is NULL");
    const char* op = op_name(plan->op);
    require_struct_size(args, sizeof(bb_run_args), std::string("plan_run ") + op, "args");
    args->device_time_valid = 0;
    args->device_time_ns = 0;
    if (args->iterations < 1)
      invalid(std::string("cuda_bricks ") + op + ": iterations " + std::to_string(args->iterations) +
              " must be >= 1");
    if (args->weight_set_begin < 0)
      invalid(std::string("cuda_bricks ") + op + ": weight_set_begin " +
              std::to_string(args->weight_set_begin) + " must be >= 0");
    if (!plan->inputs_written)
      invalid(std::string("cuda_bricks ") + op + ": plan_run before plan_write_inputs");
    use_device(*plan->ctx);
    plan->has_outputs = false;
    int32_t cur = static_cast<int32_t>(args->weight_set_begin % plan->n_sets);
    const uint64_t ns = timed_on_stream(*plan->ctx, args->iterations, plan->cancel, "plan_run",
                                        [&](int64_t, int64_t left) -> int64_t {
                                          if (left >= kGraphBatch) {
                                            plan->batch[static_cast<size_t>(cur)].launch(plan->ctx->stream);
                                            cur = (cur + kGraphBatch) % plan->n_sets;
                                            return kGraphBatch;
                                          }
                                          plan->single[static_cast<size_t>(cur)].launch(plan->ctx->stream);
                                          cur = (cur + 1) % plan->n_sets;
                                          return 1;
                                        });
    args->device_time_valid = 1;
    args->device_time_ns = ns;
    plan->has_outputs = true;
  });
}

bb_error* plan_read_outputs(bb_plan* plan, int32_t n_outputs, bb_tensor* outputs) {
  return guarded("plan_read_outputs", [&] {
    if (plan == nullptr) invalid("cuda_bricks plan_read_outputs: plan is NULL");
    const char* op = op_name(plan->op);
    check_count(op, "outputs", n_outputs, plan->spec.outputs);
    if (outputs == nullptr)
      invalid(std::string("cuda_bricks ") + op + ": plan_read_outputs: outputs is NULL");
    if (!plan->has_outputs)
      invalid(std::string("cuda_bricks ") + op + ": plan_read_outputs before a successful plan_run");
    for (size_t i = 0; i < plan->spec.outputs.size(); ++i) {
      check_slot(outputs[i], plan->spec.outputs[i], label(op, "output", plan->spec.outputs[i].role), true);
      if (outputs[i].type != plan->out_type[i]) {
        invalid(std::string("cuda_bricks ") + op + ": output '" + plan->spec.outputs[i].role + "' has type " +
                type_name(outputs[i].type) + " but plan_create described it as " +
                type_name(plan->out_type[i]));
      }
    }
    use_device(*plan->ctx);
    for (size_t i = 0; i < plan->spec.outputs.size(); ++i)
      BB_CUDA(cudaMemcpy(outputs[i].data, plan->work.at(plan->out_off[i]), plan->out_bytes[i],
                         cudaMemcpyDeviceToHost));
  });
}

}  // namespace bb::cuda_bricks
