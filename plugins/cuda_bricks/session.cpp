// Sessions: the whole model resident on the GPU, one token = one CUDA graph. The token id and the
// position live in device memory, so the same graph is replayed for every token: decode writes
// them from the host before the replays; generate's graph ends with an argmax that feeds the next
// token and advances the position on the device, so N greedy tokens are N back-to-back replays.
//
// Per layer the graph holds 5 kernels: QKV (+bias; its warps rope q, k and store the k, v rows:
// Q and K are stored in RoPE row order), split-KV attention (its last blocks merge the splits; +quantized
// output), O projection (+residual; its last block applies ffn_norm and quantizes), gate+up+SiLU
// (+quantized), down (+residual; its last block applies the next layer's attn_norm, or output_norm).
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "context.h"
#include "glue.h"
#include "kernel_api.h"
#include "repack.h"
#include "weights.h"

namespace cb = bb::cuda_bricks;

struct bb_session {
  bb_context* ctx = nullptr;
  cb::LayerDims dims;
  int32_t n_layer = 0, n_vocab = 0, n_ctx = 0, kv_type = BB_TYPE_F32;
  const volatile int32_t* cancel = nullptr;
  cb::WeightStore weights;
  cb::DeviceArena work;
  size_t token = 0, pos = 0, step = 0, logits = 0, tokens_out = 0, prompt = 0, k_cache = 0, v_cache = 0;
  size_t sink = 0;  // 4 bytes the read probe (practically) never writes
  cb::Graph decode_graph, generate_graph;
  int32_t* pinned = nullptr;  // host ints for token / pos / step uploads
  bool has_logits = false;
  // session_get_metrics: the graph's own cost, measured at the first call (engine.* keys)
  bool overhead_measured = false, overhead_known = false;
  double empty_replay_ns = 0, launch_host_ns = 0;
  double read_probe_gbps = 0;  // a streaming read of every weight byte (issue 16's read ceiling)
  std::vector<std::string> metric_text;
  std::vector<bb_kv> metrics;
  ~bb_session() {
    if (pinned != nullptr) cudaFreeHost(pinned);
  }
};

namespace bb::cuda_bricks {
namespace {

class TensorIndex {
 public:
  explicit TensorIndex(const bb_session_desc& desc) {
    if (desc.n_tensors < 0)
      invalid("cuda_bricks session_create: n_tensors " + std::to_string(desc.n_tensors));
    if (desc.n_tensors > 0 && desc.tensors == nullptr) invalid("cuda_bricks session_create: tensors is NULL");
    for (int32_t i = 0; i < desc.n_tensors; ++i) {
      const bb_tensor& t = desc.tensors[i];
      if (t.struct_size < sizeof(bb_tensor))
        invalid("cuda_bricks session_create: tensors[" + std::to_string(i) +
                "].struct_size does not cover the name");
      if (t.name == nullptr)
        invalid("cuda_bricks session_create: tensors[" + std::to_string(i) + "] has no name");
      if (!by_name_.emplace(t.name, &t).second)
        invalid("cuda_bricks session_create: tensor \"" + std::string(t.name) + "\" appears twice");
    }
  }
  const bb_tensor* find(const std::string& name) const {
    const auto it = by_name_.find(name);
    return it == by_name_.end() ? nullptr : it->second;
  }
  const bb_tensor& get(const std::string& name, const std::vector<int64_t>& shape) const {
    const bb_tensor* t = find(name);
    if (t == nullptr) invalid("cuda_bricks session_create: tensor \"" + name + "\" is missing");
    check_weight(*t, TensorCheck{"session_create: tensor", shape, true});
    return *t;
  }

 private:
  std::map<std::string, const bb_tensor*> by_name_;
};

template <typename T>
T* at(const bb_session& s, size_t off) {
  return reinterpret_cast<T*>(s.work.at(off));
}

struct LayerIds {
  int attn_norm, wq, bq, wk, bk, wv, bv, wo, ffn_norm, gate, up, down;
};

void build_session(bb_session& s, const TensorIndex& index, bool tied) {
  const LayerDims& d = s.dims;
  const int64_t E = d.n_embd, H = d.q_width(), KW = d.kv_width(), F = d.n_ff, V = s.n_vocab;
  WeightStore& w = s.weights;
  const int embd = w.add_matrix(index.get("token_embd.weight", {V, E}), V, E);
  const int out_norm = w.add_vector(index.get("output_norm.weight", {E}), E);
  int lm = embd;
  if (!tied) {
    if (index.find("output.weight") == nullptr)
      invalid(
          "cuda_bricks session_create: tensor \"output.weight\" is missing and dims->tied_embeddings is 0");
    lm = w.add_matrix(index.get("output.weight", {V, E}), V, E);
  }
  std::vector<LayerIds> L;
  for (int32_t l = 0; l < s.n_layer; ++l) {
    const std::string p = "blk." + std::to_string(l) + ".";
    LayerIds ids{};
    ids.attn_norm = w.add_vector(index.get(p + "attn_norm.weight", {E}), E);
    // Q and K (and their biases) in RoPE row order: the QKV GEMV ropes in its epilogue.
    ids.wq = w.add_matrix(index.get(p + "attn_q.weight", {H, E}), H, E, d.head_dim);
    ids.bq = w.add_vector(index.get(p + "attn_q.bias", {H}), H, d.head_dim);
    ids.wk = w.add_matrix(index.get(p + "attn_k.weight", {KW, E}), KW, E, d.head_dim);
    ids.bk = w.add_vector(index.get(p + "attn_k.bias", {KW}), KW, d.head_dim);
    ids.wv = w.add_matrix(index.get(p + "attn_v.weight", {KW, E}), KW, E);
    ids.bv = w.add_vector(index.get(p + "attn_v.bias", {KW}), KW);
    ids.wo = w.add_matrix(index.get(p + "attn_output.weight", {E, H}), E, H);
    ids.ffn_norm = w.add_vector(index.get(p + "ffn_norm.weight", {E}), E);
    ids.gate = w.add_matrix(index.get(p + "ffn_gate.weight", {F, E}), F, E);
    ids.up = w.add_matrix(index.get(p + "ffn_up.weight", {F, E}), F, E);
    ids.down = w.add_matrix(index.get(p + "ffn_down.weight", {E, F}), E, F);
    L.push_back(ids);
  }
  w.upload(s.cancel);

  // ---- device buffers
  DeviceArena& a = s.work;
  const int32_t min_chunk = attention_min_chunk(d.head_dim);
  const int32_t splits = attention_max_splits(d.n_head_kv, s.n_ctx, s.ctx->n_sms, min_chunk);
  const int32_t lm_blocks = static_cast<int32_t>((V + kGemvRowsPerBlock - 1) / kGemvRowsPerBlock);
  const size_t kv_elt = s.kv_type == BB_TYPE_F16 ? 2 : 4;
  const size_t layer_kv = static_cast<size_t>(s.n_ctx) * static_cast<size_t>(KW) * kv_elt;
  auto act = [&](int64_t n, size_t& f, size_t& q, size_t& ds) {
    f = a.reserve(static_cast<size_t>(n) * 4);
    q = a.reserve(static_cast<size_t>(n) * 2);  // hi and lo bytes (quant_math.h)
    ds = a.reserve(static_cast<size_t>(n / 32) * sizeof(float2));
  };
  const size_t x = a.reserve(sizeof(float) * static_cast<size_t>(E));
  size_t xn_f, xn_q, xn_ds, a_f, a_q, a_ds, h_f, h_q, h_ds;
  act(E, xn_f, xn_q, xn_ds);
  act(H, a_f, a_q, a_ds);
  act(F, h_f, h_q, h_ds);
  const size_t qo = a.reserve(sizeof(float) * static_cast<size_t>(H));
  const size_t ko = a.reserve(sizeof(float) * static_cast<size_t>(KW));
  const size_t vo = a.reserve(sizeof(float) * static_cast<size_t>(KW));
  const size_t qrot = a.reserve(sizeof(float) * static_cast<size_t>(H));
  const size_t ml = a.reserve(sizeof(float2) * static_cast<size_t>(d.n_head) * static_cast<size_t>(splits));
  const size_t accs = a.reserve(sizeof(float) * static_cast<size_t>(d.n_head) * static_cast<size_t>(splits) *
                                static_cast<size_t>(d.head_dim));
  s.logits = a.reserve(sizeof(float) * static_cast<size_t>(V));
  const size_t keys = a.reserve(sizeof(unsigned long long) * static_cast<size_t>(lm_blocks));
  s.token = a.reserve(sizeof(int32_t));
  s.pos = a.reserve(sizeof(int32_t));
  s.step = a.reserve(sizeof(int32_t));
  s.sink = a.reserve(sizeof(uint32_t));
  const size_t counter = a.reserve(sizeof(unsigned int));
  const size_t att_counters =
      a.reserve(sizeof(unsigned int) * static_cast<size_t>(d.n_head_kv) * kAttnCounters);
  // gemv_res_kernel's partial sums and quad counters, shared by every GEMV of the token (one at a time)
  const size_t res_rows = static_cast<size_t>(std::max<int64_t>(E, H + 2 * KW));
  const size_t res_part = a.reserve(sizeof(float) * res_rows * kResMaxSplit);
  const size_t res_qcnt = a.reserve(sizeof(unsigned int) * (res_rows / kResRows + 1));
  const size_t gu_cnt = a.reserve(sizeof(unsigned int) * static_cast<size_t>(F / kGateUpOutputs + 1));
  s.tokens_out = a.reserve(sizeof(int32_t) * static_cast<size_t>(s.n_ctx));
  s.prompt = a.reserve(sizeof(int32_t) * static_cast<size_t>(s.n_ctx));
  s.k_cache = a.reserve(layer_kv * static_cast<size_t>(s.n_layer));
  s.v_cache = a.reserve(layer_kv * static_cast<size_t>(s.n_layer));
  const size_t table =
      a.reserve(sizeof(float) * static_cast<size_t>(s.n_ctx) * static_cast<size_t>(d.head_dim));
  const size_t l_embed = a.reserve(sizeof(EmbedLaunch));
  const size_t l_norm0 = a.reserve(sizeof(NormLaunch));
  const size_t l_qkv = a.reserve(sizeof(GemvLaunch) * static_cast<size_t>(s.n_layer));
  const size_t l_att = a.reserve(sizeof(AttentionLaunch) * static_cast<size_t>(s.n_layer));
  const size_t l_o = a.reserve(sizeof(GemvLaunch) * static_cast<size_t>(s.n_layer));
  const size_t l_gu = a.reserve(sizeof(GateUpLaunch) * static_cast<size_t>(s.n_layer));
  const size_t l_dn = a.reserve(sizeof(GemvLaunch) * static_cast<size_t>(s.n_layer));
  const size_t l_lm = a.reserve(sizeof(GemvLaunch));
  const size_t l_adv = a.reserve(sizeof(AdvanceLaunch));
  a.allocate();  // zeroed: KV rows never written read as 0, as scalar_ref's

  const std::vector<float> cs = rope_table(s.n_ctx, d.head_dim, d.rope_theta);
  BB_CUDA(cudaMemcpy(a.at(table), cs.data(), cs.size() * sizeof(float), cudaMemcpyHostToDevice));

  // ---- launch structs
  const Act xn_act{at<float>(s, xn_f), at<int8_t>(s, xn_q), at<float2>(s, xn_ds)};
  const ActOut xn_out{at<float>(s, xn_f), at<int8_t>(s, xn_q), at<float2>(s, xn_ds)};
  const float eps = static_cast<float>(d.rms_eps);
  const EmbedLaunch embed{w.matrix(embd), at<int32_t>(s, s.token), at<float>(s, x)};
  upload_struct(at<EmbedLaunch>(s, l_embed), embed);
  const NormLaunch norm0{at<float>(s, x),         nullptr, w.vector(L[0].attn_norm), eps,
                         static_cast<int32_t>(E), xn_out};
  upload_struct(at<NormLaunch>(s, l_norm0), norm0);

  std::vector<GemvLaunch> hq(static_cast<size_t>(s.n_layer)), ho(hq.size()), hd(hq.size());
  std::vector<AttentionLaunch> ha(hq.size());
  std::vector<GateUpLaunch> hg(hq.size());
  for (int32_t l = 0; l < s.n_layer; ++l) {
    const size_t i = static_cast<size_t>(l);
    uint8_t* kc = a.at(s.k_cache) + layer_kv * i;
    uint8_t* vc = a.at(s.v_cache) + layer_kv * i;
    GemvLaunch& q = hq[i];
    q = GemvLaunch{};
    const int mats[3] = {L[i].wq, L[i].wk, L[i].wv};
    const int biases[3] = {L[i].bq, L[i].bk, L[i].bv};
    const size_t outs[3] = {qo, ko, vo};
    int32_t blocks = 0;
    for (int k = 0; k < 3; ++k) {
      q.seg[k].m = w.matrix(mats[k]);
      q.seg[k].bias = w.vector(biases[k]);
      q.seg[k].y = at<float>(s, outs[k]);
      q.seg[k].block_begin = blocks;
      blocks += (q.seg[k].m.rows + kGemvRowsPerBlock - 1) / kGemvRowsPerBlock;
    }
    q.n_seg = 3;
    q.n_blocks = blocks;
    q.x = xn_act;
    q.pos = at<int32_t>(s, s.pos);
    q.rope_cs = at<float2>(s, table);
    q.q_rot = at<float>(s, qrot);
    q.k_cache = kc;
    q.v_cache = vc;
    q.kv_type = s.kv_type;
    q.n_head = d.n_head;
    q.n_head_kv = d.n_head_kv;
    q.head_dim = d.head_dim;
    q.counter = at<unsigned int>(s, counter);
    q.part = at<float>(s, res_part);
    q.qcnt = at<unsigned int>(s, res_qcnt);

    AttentionLaunch& at_ = ha[i];
    at_ = AttentionLaunch{};
    at_.q = at<float>(s, qrot);
    at_.k_cache = kc;
    at_.v_cache = vc;
    at_.kv_type = s.kv_type;
    at_.n_head = d.n_head;
    at_.n_head_kv = d.n_head_kv;
    at_.head_dim = d.head_dim;
    at_.pos = at<int32_t>(s, s.pos);
    at_.max_splits = splits;
    at_.min_chunk = min_chunk;
    at_.scale = static_cast<float>(1.0 / std::sqrt(static_cast<double>(d.head_dim)));
    at_.part_ml = at<float2>(s, ml);
    at_.part_acc = at<float>(s, accs);
    at_.counters = at<unsigned int>(s, att_counters);
    at_.out = ActOut{at<float>(s, a_f), at<int8_t>(s, a_q), at<float2>(s, a_ds)};

    GemvLaunch& o = ho[i];
    o = GemvLaunch{};
    o.seg[0].m = w.matrix(L[i].wo);
    o.seg[0].y = at<float>(s, x);
    o.n_seg = 1;
    o.n_blocks = static_cast<int32_t>((E + kGemvRowsPerBlock - 1) / kGemvRowsPerBlock);
    o.x = Act{at<float>(s, a_f), at<int8_t>(s, a_q), at<float2>(s, a_ds)};
    o.norm_g = w.vector(L[i].ffn_norm);
    o.norm_eps = eps;
    o.norm_n = static_cast<int32_t>(E);
    o.norm_out = xn_out;
    o.counter = at<unsigned int>(s, counter);
    o.part = at<float>(s, res_part);
    o.qcnt = at<unsigned int>(s, res_qcnt);

    GateUpLaunch& g = hg[i];
    g.gate = w.matrix(L[i].gate);
    g.up = w.matrix(L[i].up);
    g.x = xn_act;
    g.h = ActOut{at<float>(s, h_f), at<int8_t>(s, h_q), at<float2>(s, h_ds)};
    g.n_blocks = static_cast<int32_t>(F / kGateUpOutputs);
    g.counters = at<unsigned int>(s, gu_cnt);

    GemvLaunch& dn = hd[i];
    dn = GemvLaunch{};
    dn.seg[0].m = w.matrix(L[i].down);
    dn.seg[0].y = at<float>(s, x);
    dn.n_seg = 1;
    dn.n_blocks = o.n_blocks;
    dn.x = Act{at<float>(s, h_f), at<int8_t>(s, h_q), at<float2>(s, h_ds)};
    dn.norm_g = l + 1 < s.n_layer ? w.vector(L[i + 1].attn_norm) : w.vector(out_norm);
    dn.norm_eps = eps;
    dn.norm_n = static_cast<int32_t>(E);
    dn.norm_out = xn_out;
    dn.counter = at<unsigned int>(s, counter);
    dn.part = at<float>(s, res_part);
    dn.qcnt = at<unsigned int>(s, res_qcnt);
  }
  BB_CUDA(cudaMemcpy(a.at(l_qkv), hq.data(), sizeof(GemvLaunch) * hq.size(), cudaMemcpyHostToDevice));
  BB_CUDA(cudaMemcpy(a.at(l_att), ha.data(), sizeof(AttentionLaunch) * ha.size(), cudaMemcpyHostToDevice));
  BB_CUDA(cudaMemcpy(a.at(l_o), ho.data(), sizeof(GemvLaunch) * ho.size(), cudaMemcpyHostToDevice));
  BB_CUDA(cudaMemcpy(a.at(l_gu), hg.data(), sizeof(GateUpLaunch) * hg.size(), cudaMemcpyHostToDevice));
  BB_CUDA(cudaMemcpy(a.at(l_dn), hd.data(), sizeof(GemvLaunch) * hd.size(), cudaMemcpyHostToDevice));

  GemvLaunch lmh{};
  lmh.seg[0].m = w.matrix(lm);
  lmh.seg[0].y = at<float>(s, s.logits);
  lmh.n_seg = 1;
  lmh.n_blocks = lm_blocks;
  lmh.x = xn_act;
  lmh.keys = at<unsigned long long>(s, keys);
  upload_struct(at<GemvLaunch>(s, l_lm), lmh);
  const AdvanceLaunch adv{at<unsigned long long>(s, keys),
                          lm_blocks,
                          at<int32_t>(s, s.token),
                          at<int32_t>(s, s.pos),
                          at<int32_t>(s, s.step),
                          at<int32_t>(s, s.tokens_out),
                          s.n_ctx};
  upload_struct(at<AdvanceLaunch>(s, l_adv), adv);

  auto record = [&](bool generate) {
    const PdlChain chain;  // one token: every kernel after the embedding overlaps its predecessor's end
    const cudaStream_t st = s.ctx->stream;
    BB_CUDA(launch_embed(at<EmbedLaunch>(s, l_embed), st));
    BB_CUDA(launch_rms_norm(at<NormLaunch>(s, l_norm0), st));
    for (int32_t l = 0; l < s.n_layer; ++l) {
      const size_t i = static_cast<size_t>(l);
      BB_CUDA(launch_gemv(hq[i], at<GemvLaunch>(s, l_qkv) + l, GemvEpilogue::kQkvRope, st));
      BB_CUDA(launch_attention(ha[i], at<AttentionLaunch>(s, l_att) + l, st));
      BB_CUDA(launch_gemv(ho[i], at<GemvLaunch>(s, l_o) + l, GemvEpilogue::kResidualNorm, st));
      BB_CUDA(launch_gate_up(hg[i], at<GateUpLaunch>(s, l_gu) + l, st));
      BB_CUDA(launch_gemv(hd[i], at<GemvLaunch>(s, l_dn) + l, GemvEpilogue::kResidualNorm, st));
    }
    BB_CUDA(launch_gemv(lmh, at<GemvLaunch>(s, l_lm), generate ? GemvEpilogue::kArgmax : GemvEpilogue::kStore,
                        st));
    if (generate) BB_CUDA(launch_advance(at<AdvanceLaunch>(s, l_adv), st));
  };
  s.decode_graph = Graph::capture(s.ctx->stream, [&] { record(false); });
  s.generate_graph = Graph::capture(s.ctx->stream, [&] { record(true); });
  BB_CUDA(cudaDeviceSynchronize());  // every upload (legacy-stream cudaMemcpy) has landed
}

// The graph's own cost, apart from its kernels' work: a chain of as many empty kernels as the
// decode graph has nodes, captured the same way (one PDL chain when PDL is on), replayed back to
// back as session_decode replays: device time per replay (events around kReps replays), and the
// host time of one cudaGraphLaunch call (median of kReps).
void measure_graph_overhead(bb_session& s) {
  const cudaStream_t st = s.ctx->stream;
  const size_t n = s.decode_graph.nodes();
  const Graph g = Graph::capture(st, [&] {
    const PdlChain chain;
    for (size_t i = 0; i < n; ++i) BB_CUDA(launch_empty(st));
  });
  for (int i = 0; i < 5; ++i) g.launch(st);
  BB_CUDA(cudaStreamSynchronize(st));
  constexpr int kReps = 50;
  const uint64_t ns =
      timed_on_stream(*s.ctx, kReps, nullptr, "graph overhead", [&](int64_t, int64_t) -> int64_t {
        g.launch(st);
        return 1;
      });
  s.empty_replay_ns = static_cast<double>(ns) / kReps;
  std::vector<double> host;
  for (int i = 0; i < kReps; ++i) {
    const auto t0 = std::chrono::steady_clock::now();
    g.launch(st);
    host.push_back(std::chrono::duration<double, std::nano>(std::chrono::steady_clock::now() - t0).count());
    BB_CUDA(cudaStreamSynchronize(st));
  }
  std::nth_element(host.begin(), host.begin() + kReps / 2, host.end());
  s.launch_host_ns = host[kReps / 2];
}

// The read ceiling beside the harness's copy probe: a streaming read (launch_read) of the session's
// whole weight arena (hundreds of MB to GB: far past the L2), median of 10 passes after 3.
void measure_read_probe(bb_session& s) {
  const cudaStream_t st = s.ctx->stream;
  const uint64_t bytes = s.weights.device_bytes() & ~uint64_t{15};
  if (bytes < (uint64_t{64} << 20)) return;  // too small to pass the L2: no honest figure
  auto* sink = at<uint32_t>(s, s.sink);
  for (int i = 0; i < 3; ++i) BB_CUDA(launch_read(s.weights.device_base(), bytes, s.ctx->n_sms, sink, st));
  BB_CUDA(cudaStreamSynchronize(st));
  std::vector<double> ns;
  for (int i = 0; i < 10; ++i)
    ns.push_back(static_cast<double>(timed_on_stream(*s.ctx, 1, nullptr, "read probe", [&](int64_t, int64_t) {
      BB_CUDA(launch_read(s.weights.device_base(), bytes, s.ctx->n_sms, sink, st));
      return int64_t{1};
    })));
  std::nth_element(ns.begin(), ns.begin() + 5, ns.end());
  if (ns[5] > 0) s.read_probe_gbps = static_cast<double>(bytes) / ns[5];
}

void check_token(const bb_session& s, int64_t token, const std::string& where) {
  if (token < 0 || token >= s.n_vocab)
    invalid("cuda_bricks " + where + ": token " + std::to_string(token) + " outside [0, n_vocab " +
            std::to_string(s.n_vocab) + ")");
}

void check_pos(const bb_session& s, int64_t pos, const std::string& where) {
  if (pos < 0 || pos >= s.n_ctx)
    invalid("cuda_bricks " + where + ": position " + std::to_string(pos) + " outside [0, n_ctx_max " +
            std::to_string(s.n_ctx) + ")");
}

void upload_int(bb_session& s, int slot, size_t off, int32_t value) {
  s.pinned[slot] = value;
  BB_CUDA(cudaMemcpyAsync(s.work.at(off), s.pinned + slot, sizeof(int32_t), cudaMemcpyHostToDevice,
                          s.ctx->stream));
}

}  // namespace

bb_error* session_create(bb_context* ctx, const bb_session_desc* desc, bb_session** out) {
  return guarded("session_create", [&] {
    if (out == nullptr) invalid("cuda_bricks session_create: out is NULL");
    *out = nullptr;
    if (ctx == nullptr) invalid("cuda_bricks session_create: ctx is NULL");
    require_struct_size(desc, sizeof(bb_session_desc), "session_create", "desc");
    if (desc->kv_type != BB_TYPE_F32 && desc->kv_type != BB_TYPE_F16)
      unsupported("cuda_bricks session_create: kv_type " + type_name(desc->kv_type) +
                  " (cuda_bricks offers F32 and F16)");
    auto s = std::make_unique<bb_session>();
    s->ctx = ctx;
    s->dims = layer_dims_of(desc->dims, "session_create");
    auto positive = [&](int32_t v, const char* name) {
      if (v <= 0)
        invalid(std::string("cuda_bricks session_create: dims->") + name + " is " + std::to_string(v) +
                ", must be > 0");
    };
    positive(desc->dims->n_layer, "n_layer");
    positive(desc->dims->n_vocab, "n_vocab");
    positive(desc->dims->n_ctx_max, "n_ctx_max");
    s->n_layer = desc->dims->n_layer;
    s->n_vocab = desc->dims->n_vocab;
    s->n_ctx = desc->dims->n_ctx_max;
    s->kv_type = desc->kv_type;
    s->cancel = cancel_flag_of(ctx->host);
    use_device(*ctx);
    BB_CUDA(cudaMallocHost(reinterpret_cast<void**>(&s->pinned), 4 * sizeof(int32_t)));
    const TensorIndex index(*desc);
    build_session(*s, index, desc->dims->tied_embeddings != 0);
    *out = s.release();
  });
}

void session_destroy(bb_session* session) {
  if (session == nullptr) return;
  cudaSetDevice(session->ctx->device);
  cudaStreamSynchronize(session->ctx->stream);
  delete session;
}

bb_error* session_decode(bb_session* session, bb_decode_args* args) {
  return guarded("session_decode", [&] {
    if (session == nullptr) invalid("cuda_bricks session_decode: session is NULL");
    require_struct_size(args, sizeof(bb_decode_args), "session_decode", "args");
    args->device_time_valid = 0;
    args->device_time_ns = 0;
    check_token(*session, args->token, "decode");
    check_pos(*session, args->pos, "decode");
    if (args->iterations < 1)
      invalid("cuda_bricks decode: iterations " + std::to_string(args->iterations) + " must be >= 1");
    use_device(*session->ctx);
    session->has_logits = false;
    const cudaStream_t st = session->ctx->stream;
    upload_int(*session, 0, session->token, args->token);
    upload_int(*session, 1, session->pos, args->pos);
    const uint64_t ns = timed_on_stream(*session->ctx, args->iterations, session->cancel, "decode",
                                        [&](int64_t, int64_t) -> int64_t {
                                          session->decode_graph.launch(st);
                                          return 1;
                                        });
    args->device_time_valid = 1;
    args->device_time_ns = ns;
    session->has_logits = true;
    if (args->logits != nullptr) {
      BB_CUDA(cudaMemcpy(args->logits, session->work.at(session->logits),
                         sizeof(float) * static_cast<size_t>(session->n_vocab), cudaMemcpyDeviceToHost));
    }
  });
}

bb_error* session_read_logits(bb_session* session, float* logits, int32_t n_vocab) {
  return guarded("session_read_logits", [&] {
    if (session == nullptr) invalid("cuda_bricks session_read_logits: session is NULL");
    if (logits == nullptr) invalid("cuda_bricks session_read_logits: logits is NULL");
    if (n_vocab != session->n_vocab)
      invalid("cuda_bricks session_read_logits: n_vocab " + std::to_string(n_vocab) + " but the model has " +
              std::to_string(session->n_vocab));
    if (!session->has_logits) invalid("cuda_bricks session_read_logits: no successful decode yet");
    use_device(*session->ctx);
    BB_CUDA(cudaMemcpy(logits, session->work.at(session->logits),
                       sizeof(float) * static_cast<size_t>(n_vocab), cudaMemcpyDeviceToHost));
  });
}

bb_error* session_write_kv(bb_session* session, const bb_kv_write_args* args) {
  return guarded("session_write_kv", [&] {
    if (session == nullptr) invalid("cuda_bricks session_write_kv: session is NULL");
    require_struct_size(args, sizeof(bb_kv_write_args), "session_write_kv", "args");
    bb_session& s = *session;
    if (args->layer < 0 || args->layer >= s.n_layer)
      invalid("cuda_bricks session_write_kv: layer " + std::to_string(args->layer) + " outside [0, n_layer " +
              std::to_string(s.n_layer) + ")");
    if (args->n_pos < 0)
      invalid("cuda_bricks session_write_kv: n_pos " + std::to_string(args->n_pos) + " < 0");
    if (args->pos_begin < 0 || int64_t{args->pos_begin} + args->n_pos > s.n_ctx)
      invalid("cuda_bricks session_write_kv: positions [" + std::to_string(args->pos_begin) + ", " +
              std::to_string(int64_t{args->pos_begin} + args->n_pos) + ") outside [0, n_ctx_max " +
              std::to_string(s.n_ctx) + ")");
    if (args->n_pos > 0 && (args->k == nullptr || args->v == nullptr))
      invalid("cuda_bricks session_write_kv: k or v is NULL");
    if (args->n_pos == 0) return;
    use_device(*s.ctx);
    const size_t width = static_cast<size_t>(s.dims.kv_width());
    const size_t elt = s.kv_type == BB_TYPE_F16 ? 2 : 4;
    const size_t layer_bytes = static_cast<size_t>(s.n_ctx) * width * elt;
    const size_t n = static_cast<size_t>(args->n_pos) * width;
    const size_t off =
        static_cast<size_t>(args->layer) * layer_bytes + static_cast<size_t>(args->pos_begin) * width * elt;
    const float* src[2] = {args->k, args->v};
    const size_t base[2] = {s.k_cache, s.v_cache};
    std::vector<uint16_t> half;
    for (int kv = 0; kv < 2; ++kv) {
      if (s.kv_type == BB_TYPE_F16) {
        half.resize(n);
        for (size_t i = 0; i < n; ++i) half[i] = float_to_half(src[kv][i]);
        BB_CUDA(cudaMemcpy(s.work.at(base[kv]) + off, half.data(), n * 2, cudaMemcpyHostToDevice));
      } else {
        BB_CUDA(cudaMemcpy(s.work.at(base[kv]) + off, src[kv], n * 4, cudaMemcpyHostToDevice));
      }
    }
    BB_CUDA(cudaDeviceSynchronize());  // pageable copies land before the next decode reads them
  });
}

bb_error* session_generate(bb_session* session, bb_generate_args* args) {
  return guarded("session_generate", [&] {
    if (session == nullptr) invalid("cuda_bricks session_generate: session is NULL");
    require_struct_size(args, sizeof(bb_generate_args), "session_generate", "args");
    args->device_time_valid = 0;
    args->device_time_ns = 0;
    bb_session& s = *session;
    if (args->n_prompt < 1)
      invalid("cuda_bricks generate: n_prompt " + std::to_string(args->n_prompt) + " must be >= 1");
    if (args->n_generate < 0)
      invalid("cuda_bricks generate: n_generate " + std::to_string(args->n_generate) + " < 0");
    if (args->prompt == nullptr) invalid("cuda_bricks generate: prompt is NULL");
    if (args->n_generate > 0 && args->tokens_out == nullptr)
      invalid("cuda_bricks generate: tokens_out is NULL");
    for (int32_t i = 0; i < args->n_prompt; ++i) check_token(s, args->prompt[i], "generate: prompt");
    const int64_t last_pos =
        int64_t{args->pos_begin} + args->n_prompt - 1 + std::max(0, args->n_generate - 1);
    check_pos(s, args->pos_begin, "generate: pos_begin");
    check_pos(s, last_pos, "generate: last position");
    use_device(*s.ctx);
    s.has_logits = false;
    const cudaStream_t st = s.ctx->stream;
    // Replays: every prompt token, then every generated token but the last is fed back.
    const int64_t replays = std::max<int64_t>(int64_t{args->n_prompt} + args->n_generate - 1, args->n_prompt);
    // n_prompt <= n_ctx: its positions were checked above.
    BB_CUDA(cudaMemcpyAsync(s.work.at(s.prompt), args->prompt,
                            sizeof(int32_t) * static_cast<size_t>(args->n_prompt), cudaMemcpyHostToDevice,
                            st));
    upload_int(s, 1, s.pos, args->pos_begin);
    upload_int(s, 2, s.step, -(args->n_prompt - 1));
    const uint64_t ns =
        timed_on_stream(*s.ctx, replays, s.cancel, "generate", [&](int64_t i, int64_t) -> int64_t {
          if (i < args->n_prompt) {
            // Stream-ordered after the previous replay's argmax wrote the token slot.
            BB_CUDA(cudaMemcpyAsync(s.work.at(s.token),
                                    s.work.at(s.prompt) + sizeof(int32_t) * static_cast<size_t>(i),
                                    sizeof(int32_t), cudaMemcpyDeviceToDevice, st));
          }
          s.generate_graph.launch(st);
          return 1;
        });
    args->device_time_valid = 1;
    args->device_time_ns = ns;
    s.has_logits = true;
    if (args->n_generate > 0) {
      BB_CUDA(cudaMemcpy(args->tokens_out, s.work.at(s.tokens_out),
                         sizeof(int32_t) * static_cast<size_t>(args->n_generate), cudaMemcpyDeviceToHost));
    }
  });
}

// engine.* facts (ABI 1.1 session_get_metrics): the graphs' sizes, whether kernels overlap through
// PDL, and the graph's own cost (measure_graph_overhead), measured once.
bb_error* session_get_metrics(bb_session* session, const bb_kv** kvs, size_t* n) {
  return guarded("session_get_metrics", [&] {
    if (session == nullptr || kvs == nullptr || n == nullptr)
      invalid("cuda_bricks session_get_metrics: NULL argument");
    bb_session& s = *session;
    use_device(*s.ctx);
    if (!s.overhead_measured) {
      // A fact, not the session's work: when the measurement fails its keys are absent (unknown),
      // and the call still answers (a generate cell fails on a metrics error).
      s.overhead_measured = true;
      try {
        measure_graph_overhead(s);
        measure_read_probe(s);
        s.overhead_known = true;
      } catch (const std::exception& e) {
        cudaGetLastError();
        log_line(s.ctx->host, BB_LOG_WARN,
                 std::string("cuda_bricks: graph overhead not measured: ") + e.what());
      }
    }
    const auto num = [](double v) { return std::to_string(static_cast<long long>(std::llround(v))); };
    std::vector<std::pair<const char*, std::string>> facts = {
        {"engine.decode_graph_nodes", std::to_string(s.decode_graph.nodes())},
        {"engine.generate_graph_nodes", std::to_string(s.generate_graph.nodes())},
        {"engine.pdl", pdl_enabled() ? "1" : "0"},
        {"engine.pdl_prefetch_bytes", std::to_string(pdl_enabled() ? pdl_prefetch_bytes() : 0)},
    };
    if (s.overhead_known) {
      facts.emplace_back("engine.empty_graph_replay_ns", num(s.empty_replay_ns));
      facts.emplace_back("engine.graph_launch_host_ns", num(s.launch_host_ns));
      if (s.read_probe_gbps > 0) facts.emplace_back("engine.read_probe_gbps", num(s.read_probe_gbps));
    }
    s.metric_text.clear();
    s.metrics.clear();
    s.metric_text.reserve(2 * facts.size());
    for (const auto& [k, v] : facts) {
      s.metric_text.emplace_back(k);
      s.metric_text.push_back(v);
    }
    for (size_t i = 0; i < s.metric_text.size(); i += 2)
      s.metrics.push_back({s.metric_text[i].c_str(), s.metric_text[i + 1].c_str()});
    *kvs = s.metrics.data();
    *n = s.metrics.size();
  });
}

}  // namespace bb::cuda_bricks
