// Sessions: the host's GGUF file loaded by libllama (llama_model_load_from_file on the file the
// host's tensors lie in), one llama_context with a KV cache of n_ctx_max cells for sequence 0,
// decode and greedy generate through llama_decode.
//
// The host passes tensors, not a path; libllama loads models only from files. Every tensor the host
// passes lies in its read-only mapping of the GGUF (in process and in a `bench plugin-host` child
// alike), so the file is the one /proc/self/maps names for token_embd.weight's address, checked to be
// the same inode still, and llama.cpp's hyperparameters are checked against the host's dims.
//
// KV history (session_write_kv): libllama has no call that writes K/V rows, but it restores a
// sequence's cache from its state format (llama_state_seq_set_data). The session learns that format's
// layout for this context (V transposed or not, cache types, row sizes) from the state of one decoded
// token at session_create, then writes the host's rows in the same layout.
#include <sys/stat.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "ggml.h"
#include "glue.h"
#include "llama.h"

struct bb_session {
  bb_context* ctx = nullptr;
  llama_model* model = nullptr;
  llama_context* lctx = nullptr;
  llama_batch batch{};
  bool has_batch = false;
  std::string path;
  int32_t n_vocab = 0, n_ctx = 0, n_layer = 0, kv_width = 0, n_batch = 0;
  int32_t kv_type = BB_TYPE_F32;
  // The last token's logits in llama.cpp's own output buffer (valid until the next llama_decode): read
  // in place by generate's argmax, copied out only by session_read_logits or a decode's args->logits.
  const float* logits = nullptr;
  bool has_logits = false;
  // The state layout (learnt at session_create) and the host's KV rows not yet handed to libllama.
  uint32_t state_magic = 0, v_trans = 0;
  int32_t k_ggml_type = 0, v_ggml_type = 0;
  std::vector<std::vector<float>> k_rows, v_rows;  // [layer][pos * kv_width + i]
  std::vector<int32_t> rows_written;               // per layer: rows 0..n written so far
  bool kv_dirty = false;
  // Last call's facts for session_get_metrics.
  std::vector<std::pair<std::string, std::string>> metrics;
  std::vector<bb_kv> metric_kvs;

  ~bb_session() {
    if (has_batch) llama_batch_free(batch);
    if (lctx) llama_free(lctx);
    if (model) llama_model_free(model);
  }
};

namespace bb::llama_cpp {
namespace {

// The file mapped at `addr` in this process, and that it is still the file at that path.
std::string mapped_file_of(const void* addr, const std::string& tensor) {
  const auto a = reinterpret_cast<uintptr_t>(addr);
  std::ifstream maps("/proc/self/maps");
  if (!maps) unsupported("session_create: cannot read /proc/self/maps to find the model's file");
  std::string line;
  while (std::getline(maps, line)) {
    std::istringstream in(line);
    std::string range, perms, offset, dev, path;
    unsigned long long inode = 0;
    in >> range >> perms >> offset >> dev >> inode;
    std::getline(in >> std::ws, path);
    const size_t dash = range.find('-');
    if (dash == std::string::npos) continue;
    const uintptr_t lo = std::stoull(range.substr(0, dash), nullptr, 16);
    const uintptr_t hi = std::stoull(range.substr(dash + 1), nullptr, 16);
    if (a < lo || a >= hi) continue;
    if (inode == 0 || path.empty() || path[0] != '/')
      unsupported("session_create: tensor \"" + tensor +
                  "\" is not in a mapped file (libllama loads a model only from its GGUF file; llama_cpp "
                  "runs sessions over models the host mapped from a file)");
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0 || st.st_ino != inode)
      invalid("session_create: the model file " + path + " was deleted or replaced since the host mapped it");
    return path;
  }
  unsupported("session_create: tensor \"" + tensor + "\"'s address is in no mapping of this process");
}

const bb_tensor* find_tensor(const bb_session_desc& d, const char* name) {
  for (int32_t i = 0; i < d.n_tensors; ++i)
    if (d.tensors[i].struct_size >= sizeof(bb_tensor) && d.tensors[i].name != nullptr &&
        std::strcmp(d.tensors[i].name, name) == 0)
      return &d.tensors[i];
  return nullptr;
}

// llama.cpp's view of the model must be the host's: the same file read by both, so a mismatch is
// a reader's bug worth stopping on.
void check_dims(const bb_session& s, const bb_model_dims& d) {
  const llama_vocab* vocab = llama_model_get_vocab(s.model);
  const std::pair<const char*, std::pair<int32_t, int32_t>> pairs[] = {
      {"n_embd", {llama_model_n_embd(s.model), d.n_embd}},
      {"n_layer", {llama_model_n_layer(s.model), d.n_layer}},
      {"n_head", {llama_model_n_head(s.model), d.n_head}},
      {"n_head_kv", {llama_model_n_head_kv(s.model), d.n_head_kv}},
      {"n_vocab", {llama_vocab_n_tokens(vocab), d.n_vocab}},
  };
  for (const auto& [name, v] : pairs)
    if (v.first != v.second)
      invalid("session_create: " + s.path + ": llama.cpp reads " + name + " = " + std::to_string(v.first) +
              ", the host's dims say " + std::to_string(v.second));
}

void check_token(const bb_session& s, int32_t token, const std::string& where) {
  if (token < 0 || token >= s.n_vocab)
    invalid(where + ": token " + std::to_string(token) + " outside [0, n_vocab " + std::to_string(s.n_vocab) +
            ")");
}

void check_pos(const bb_session& s, int64_t pos, const std::string& where) {
  if (pos < 0 || pos >= s.n_ctx)
    invalid(where + ": position " + std::to_string(pos) + " outside [0, n_ctx_max " +
            std::to_string(s.n_ctx) + ")");
}

void check_cancel(const bb_session& s) {
  plugin_util::check_cancel(plugin_util::cancel_flag_of(s.ctx->host));
}

// The cache holds two sequences in one unified stream. Sequence 0 is what a decode at position p
// attends to: consecutive positions 0..p-1, as llama_decode requires. Sequence 1 is a stash of
// positions past sequence 0's end: the host's history rows beyond the position last decoded. The
// harness interleaves cells at several contexts over one session (decode@64 between the samples of
// decode@512), and a backend's KV rows beyond the decoded position are expected to survive a decode,
// as they do in a plain array (avx_bricks, scalar_ref: a decode writes row p only). Moving cells
// between the sequences is metadata (llama_memory_seq_cp / seq_rm in one stream), no data is copied.
constexpr llama_seq_id kSeq = 0, kStash = 1;

// Makes sequence 0 hold exactly positions 0..pos-1 before tokens are decoded from pos: rows it lacks
// come back from the stash, rows from pos on go to it.
void arrange_history(bb_session& s, int32_t pos) {
  llama_memory_t mem = llama_get_memory(s.lctx);
  const llama_pos end = llama_memory_seq_pos_max(mem, kSeq);  // last position held, -1 when empty
  if (end < pos - 1) {
    llama_memory_seq_cp(mem, kStash, kSeq, end + 1, pos);
    llama_memory_seq_rm(mem, kStash, end + 1, pos);
  } else if (end >= pos) {
    llama_memory_seq_cp(mem, kSeq, kStash, pos + 1, -1);  // the row at pos is replaced by the decode
    llama_memory_seq_rm(mem, kSeq, pos, -1);
  }
  const llama_pos have = llama_memory_seq_pos_max(mem, kSeq);
  if (have != pos - 1)
    invalid("decode: position " + std::to_string(pos) + " needs the KV rows 0.." + std::to_string(pos - 1) +
            ", but the cache holds rows 0.." + std::to_string(have) +
            " (write them with session_write_kv or decode them first)");
}

// Decodes tokens[0..n) at positions pos..pos+n-1 (in batches of n_batch) on the history 0..pos-1;
// repeats at one position are idempotent, as the ABI asks. The logits of the last token stay where
// llama.cpp put them (s.logits).
void decode_tokens(bb_session& s, const int32_t* tokens, int32_t n, int32_t pos) {
  s.has_logits = false;
  arrange_history(s, pos);
  llama_memory_seq_rm(llama_get_memory(s.lctx), kStash, pos, pos + n);  // stale rows the decode replaces
  for (int32_t done = 0; done < n;) {
    check_cancel(s);
    const int32_t m = std::min(s.n_batch, n - done);
    s.batch.n_tokens = m;
    for (int32_t i = 0; i < m; ++i) {
      s.batch.token[i] = tokens[done + i];
      s.batch.pos[i] = pos + done + i;
      s.batch.n_seq_id[i] = 1;
      s.batch.seq_id[i][0] = kSeq;
      s.batch.logits[i] = done + i == n - 1;
    }
    const int32_t rc = llama_decode(s.lctx, s.batch);
    if (rc != 0)
      throw AbiError(rc == 1 ? BB_OUT_OF_MEMORY : BB_INTERNAL,
                     std::string(kName) + " decode: llama_decode returned " + std::to_string(rc) +
                         " at positions " + std::to_string(pos + done) + ".." +
                         std::to_string(pos + done + m - 1) + (rc == 1 ? " (no KV slot)" : ""));
    done += m;
  }
  const float* l = llama_get_logits_ith(s.lctx, -1);
  if (l == nullptr) internal("decode: llama_get_logits_ith returned NULL");
  s.logits = l;
  s.has_logits = true;
}

// ---- the state format of one sequence (llama_kv_cache::state_write, this llama.cpp's layout) ------

class Reader {
 public:
  Reader(const std::vector<uint8_t>& b) : b_(b) {}
  template <typename T>
  T get() {
    if (at_ + sizeof(T) > b_.size()) fail("truncated");
    T v;
    std::memcpy(&v, b_.data() + at_, sizeof(T));
    at_ += sizeof(T);
    return v;
  }
  void skip(size_t n) {
    if (at_ + n > b_.size()) fail("truncated");
    at_ += n;
  }
  bool done() const { return at_ == b_.size(); }
  [[noreturn]] static void fail(const std::string& why) {
    unsupported("session_create: llama.cpp's sequence state is not in the layout this plugin writes (" + why +
                "); session_write_kv cannot fill the cache");
  }

 private:
  const std::vector<uint8_t>& b_;
  size_t at_ = 0;
};

// Decodes one token at position 0, reads the sequence's state back and learns its layout from it.
void learn_state_layout(bb_session& s) {
  const int32_t token = 0;
  decode_tokens(s, &token, 1, 0);
  std::vector<uint8_t> blob(llama_state_seq_get_size(s.lctx, kSeq));
  if (llama_state_seq_get_data(s.lctx, blob.data(), blob.size(), kSeq) != blob.size())
    Reader::fail("llama_state_seq_get_data wrote another size");
  Reader r(blob);
  s.state_magic = r.get<uint32_t>();  // llama_context's header: magic, the sequence's id
  if (r.get<int32_t>() != 0) Reader::fail("not sequence 0");
  if (r.get<uint32_t>() != 1) Reader::fail("more than one stream");
  if (r.get<uint32_t>() != 1) Reader::fail("not one cell after one token");
  if (r.get<int32_t>() != 0 || r.get<uint32_t>() != 1 || r.get<int32_t>() != 0)
    Reader::fail("cell meta is not {pos 0, one sequence, 0}");
  s.v_trans = r.get<uint32_t>();
  if (r.get<uint32_t>() != static_cast<uint32_t>(s.n_layer)) Reader::fail("layer count");
  const size_t el = s.kv_type == BB_TYPE_F16 ? 2 : 4;
  for (int32_t l = 0; l < s.n_layer; ++l) {
    s.k_ggml_type = r.get<int32_t>();
    if (r.get<uint64_t>() != el * static_cast<uint64_t>(s.kv_width)) Reader::fail("K row size");
    r.skip(el * static_cast<size_t>(s.kv_width));
  }
  for (int32_t l = 0; l < s.n_layer; ++l) {
    s.v_ggml_type = r.get<int32_t>();
    if (s.v_trans) {
      if (r.get<uint32_t>() != el || r.get<uint32_t>() != static_cast<uint32_t>(s.kv_width))
        Reader::fail("V element size or width");
    } else if (r.get<uint64_t>() != el * static_cast<uint64_t>(s.kv_width)) {
      Reader::fail("V row size");
    }
    r.skip(el * static_cast<size_t>(s.kv_width));
  }
  const int32_t want = s.kv_type == BB_TYPE_F16 ? GGML_TYPE_F16 : GGML_TYPE_F32;
  if (s.k_ggml_type != want || s.v_ggml_type != want) Reader::fail("cache types");
  if (!r.done()) Reader::fail("bytes after the last layer");
  llama_memory_seq_rm(llama_get_memory(s.lctx), kSeq, -1, -1);
  s.has_logits = false;  // the probe token's logits are no decode of the host's
}

class Writer {
 public:
  explicit Writer(size_t reserve) { b_.reserve(reserve); }
  template <typename T>
  void put(T v) {
    const auto* p = reinterpret_cast<const uint8_t*>(&v);
    b_.insert(b_.end(), p, p + sizeof(T));
  }
  // n floats as the cache's element type
  void floats(const float* x, size_t n, bool f16) {
    const size_t at = b_.size();
    if (f16) {
      b_.resize(at + n * 2);
      ggml_fp32_to_fp16_row(x, reinterpret_cast<ggml_fp16_t*>(b_.data() + at), static_cast<int64_t>(n));
    } else {
      b_.resize(at + n * 4);
      std::memcpy(b_.data() + at, x, n * 4);
    }
  }
  const std::vector<uint8_t>& bytes() const { return b_; }

 private:
  std::vector<uint8_t> b_;
};

// Hands the host's KV rows 0..n-1 (n: the fewest any layer has) to libllama as sequence 0's state.
void apply_kv_history(bb_session& s) {
  s.kv_dirty = false;
  const int32_t n = *std::min_element(s.rows_written.begin(), s.rows_written.end());
  llama_memory_t mem = llama_get_memory(s.lctx);
  llama_memory_seq_rm(mem, kStash, -1, -1);  // the new history replaces every row
  if (n <= 0) {
    llama_memory_seq_rm(mem, kSeq, -1, -1);
    return;
  }
  const bool f16 = s.kv_type == BB_TYPE_F16;
  const size_t el = f16 ? 2 : 4, w = static_cast<size_t>(s.kv_width), rows = static_cast<size_t>(n);
  Writer out(64 + rows * 12 + static_cast<size_t>(s.n_layer) * (2 * rows * w * el + 32));
  out.put<uint32_t>(s.state_magic);
  out.put<int32_t>(0);   // sequence
  out.put<uint32_t>(1);  // streams
  out.put<uint32_t>(static_cast<uint32_t>(n));
  for (int32_t p = 0; p < n; ++p) {
    out.put<int32_t>(p);   // pos
    out.put<uint32_t>(1);  // n_seq_id
    out.put<int32_t>(0);   // seq_id
  }
  out.put<uint32_t>(s.v_trans);
  out.put<uint32_t>(static_cast<uint32_t>(s.n_layer));
  for (int32_t l = 0; l < s.n_layer; ++l) {
    out.put<int32_t>(s.k_ggml_type);
    out.put<uint64_t>(el * w);
    out.floats(s.k_rows[static_cast<size_t>(l)].data(), rows * w, f16);
  }
  std::vector<float> column(rows);
  for (int32_t l = 0; l < s.n_layer; ++l) {
    const std::vector<float>& v = s.v_rows[static_cast<size_t>(l)];
    out.put<int32_t>(s.v_ggml_type);
    if (!s.v_trans) {
      out.put<uint64_t>(el * w);
      out.floats(v.data(), rows * w, f16);
      continue;
    }
    out.put<uint32_t>(static_cast<uint32_t>(el));
    out.put<uint32_t>(static_cast<uint32_t>(w));
    for (size_t j = 0; j < w; ++j) {  // transposed: element j of every row, then j + 1
      for (size_t p = 0; p < rows; ++p) column[p] = v[p * w + j];
      out.floats(column.data(), rows, f16);
    }
  }
  const auto& b = out.bytes();
  if (llama_state_seq_set_data(s.lctx, b.data(), b.size(), kSeq) != b.size())
    internal("write_kv: llama_state_seq_set_data refused the KV history of " + std::to_string(n) + " rows");
  if (llama_memory_seq_pos_max(mem, kSeq) != n - 1)
    internal("write_kv: after restoring " + std::to_string(n) + " rows the cache ends at position " +
             std::to_string(llama_memory_seq_pos_max(mem, kSeq)));
}

int32_t argmax(const float* x, int64_t n) {
  int32_t best = 0;
  for (int64_t i = 1; i < n; ++i)
    if (x[i] > x[best] || (x[best] != x[best] && x[i] == x[i])) best = static_cast<int32_t>(i);
  return best;
}

llama_context_params context_params(const bb_session& s, const bb_context& ctx) {
  llama_context_params p = llama_context_default_params();
  p.n_ctx = static_cast<uint32_t>(s.n_ctx);
  p.n_batch = static_cast<uint32_t>(s.n_batch);
  p.n_ubatch = static_cast<uint32_t>(s.n_batch);
  p.n_seq_max = 2;      // the history and its stash (arrange_history)
  p.kv_unified = true;  // one stream: moving cells between the two is metadata
  p.n_threads = ctx.n_threads;
  p.n_threads_batch = ctx.n_threads;
  p.type_k = s.kv_type == BB_TYPE_F16 ? GGML_TYPE_F16 : GGML_TYPE_F32;
  p.type_v = p.type_k;
  p.flash_attn_type = static_cast<llama_flash_attn_type>(ctx.flash_attn);
  p.no_perf = false;
  return p;
}

}  // namespace

bb_error* session_create(bb_context* ctx, const bb_session_desc* desc, bb_session** out) {
  return guarded("session_create", [&] {
    if (out == nullptr) invalid("session_create: out is NULL");
    *out = nullptr;
    if (ctx == nullptr) invalid("session_create: ctx is NULL");
    require_struct_size(desc, sizeof(bb_session_desc), "session_create", "desc");
    if (desc->dims == nullptr) invalid("session_create: dims is NULL");
    if (desc->n_tensors < 0 || (desc->n_tensors > 0 && desc->tensors == nullptr))
      invalid("session_create: n_tensors " + std::to_string(desc->n_tensors) + " with tensors " +
              (desc->tensors ? "set" : "NULL"));
    if (desc->kv_type != BB_TYPE_F32 && desc->kv_type != BB_TYPE_F16)
      unsupported("session_create: kv_type " + type_name(desc->kv_type) + " (llama_cpp offers F32 and F16)");
    const bb_model_dims& d = *desc->dims;
    for (auto [v, name] : {std::pair{d.n_layer, "n_layer"},
                           {d.n_vocab, "n_vocab"},
                           {d.n_ctx_max, "n_ctx_max"},
                           {d.n_head_kv, "n_head_kv"},
                           {d.head_dim, "head_dim"}})
      if (v <= 0)
        invalid(std::string("session_create: dims->") + name + " is " + std::to_string(v) + ", must be > 0");
    const bb_tensor* embd = find_tensor(*desc, "token_embd.weight");
    if (embd == nullptr || embd->data == nullptr)
      invalid("session_create: tensor \"token_embd.weight\" is missing");
    const auto t0 = std::chrono::steady_clock::now();
    auto session = std::make_unique<bb_session>();
    bb_session& s = *session;
    s.ctx = ctx;
    s.path = mapped_file_of(embd->data, "token_embd.weight");
    s.n_vocab = d.n_vocab;
    s.n_ctx = d.n_ctx_max;
    s.n_layer = d.n_layer;
    s.kv_width = d.n_head_kv * d.head_dim;
    s.kv_type = desc->kv_type;
    s.n_batch = std::min(512, s.n_ctx);

    llama_model_params mp = llama_model_default_params();
    mp.n_gpu_layers = LLAMA_CPP_CUDA ? -1 : 0;
    s.model = llama_model_load_from_file(s.path.c_str(), mp);
    if (s.model == nullptr)
      invalid("session_create: llama.cpp could not load " + s.path + " (its log above says why)");
    check_dims(s, d);
    s.lctx = llama_init_from_model(s.model, context_params(s, *ctx));
    if (s.lctx == nullptr)
      throw AbiError(BB_OUT_OF_MEMORY, std::string(kName) +
                                           " session_create: llama_init_from_model failed for " +
                                           std::to_string(s.n_ctx) + " positions (its log above says why)");
    s.batch = llama_batch_init(s.n_batch, 0, 1);
    s.has_batch = true;
    learn_state_layout(s);
    s.k_rows.assign(static_cast<size_t>(s.n_layer), {});
    s.v_rows.assign(static_cast<size_t>(s.n_layer), {});
    s.rows_written.assign(static_cast<size_t>(s.n_layer), 0);
    const double ms =
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    log_line(ctx->host, BB_LOG_INFO,
             "session: " + s.path + " loaded by llama.cpp, KV cache " + std::to_string(s.n_ctx) + " cells " +
                 type_name(s.kv_type) +
                 (s.v_trans ? " (V transposed: no flash attention)" : " (flash attention)") + ", " +
                 std::to_string(ctx->n_threads) + " threads, ready in " + std::to_string(ms) + " ms");
    *out = session.release();
  });
}

void session_destroy(bb_session* session) { delete session; }

bb_error* session_decode(bb_session* session, bb_decode_args* args) {
  return guarded("session_decode", [&] {
    if (session == nullptr) invalid("session_decode: session is NULL");
    require_struct_size(args, sizeof(bb_decode_args), "session_decode", "args");
    bb_session& s = *session;
    args->device_time_valid = 0;
    args->device_time_ns = 0;
    check_token(s, args->token, "decode");
    check_pos(s, args->pos, "decode");
    if (args->iterations < 1)
      invalid("decode: iterations " + std::to_string(args->iterations) + " must be >= 1");
    if (s.kv_dirty) apply_kv_history(s);
    for (int64_t i = 0; i < args->iterations; ++i) decode_tokens(s, &args->token, 1, args->pos);
    if (args->logits != nullptr) std::memcpy(args->logits, s.logits, static_cast<size_t>(s.n_vocab) * 4);
  });
}

bb_error* session_read_logits(bb_session* session, float* logits, int32_t n_vocab) {
  return guarded("session_read_logits", [&] {
    if (session == nullptr) invalid("session_read_logits: session is NULL");
    if (logits == nullptr) invalid("session_read_logits: logits is NULL");
    if (n_vocab != session->n_vocab)
      invalid("session_read_logits: n_vocab " + std::to_string(n_vocab) + " but the model has " +
              std::to_string(session->n_vocab));
    if (!session->has_logits) invalid("session_read_logits: no successful decode yet");
    std::memcpy(logits, session->logits, static_cast<size_t>(n_vocab) * 4);
  });
}

bb_error* session_write_kv(bb_session* session, const bb_kv_write_args* args) {
  return guarded("session_write_kv", [&] {
    if (session == nullptr) invalid("session_write_kv: session is NULL");
    require_struct_size(args, sizeof(bb_kv_write_args), "session_write_kv", "args");
    bb_session& s = *session;
    if (args->layer < 0 || args->layer >= s.n_layer)
      invalid("session_write_kv: layer " + std::to_string(args->layer) + " outside [0, n_layer " +
              std::to_string(s.n_layer) + ")");
    if (args->n_pos < 0) invalid("session_write_kv: n_pos " + std::to_string(args->n_pos) + " < 0");
    if (args->pos_begin < 0 || int64_t{args->pos_begin} + args->n_pos > s.n_ctx)
      invalid("session_write_kv: positions [" + std::to_string(args->pos_begin) + ", " +
              std::to_string(int64_t{args->pos_begin} + args->n_pos) + ") outside [0, n_ctx_max " +
              std::to_string(s.n_ctx) + ")");
    if (args->n_pos > 0 && (args->k == nullptr || args->v == nullptr))
      invalid("session_write_kv: k or v is NULL");
    const auto l = static_cast<size_t>(args->layer);
    int32_t& have = s.rows_written[l];
    if (args->pos_begin > have)
      invalid("session_write_kv: layer " + std::to_string(args->layer) + " rows [" + std::to_string(have) +
              ", " + std::to_string(args->pos_begin) +
              ") were never written (llama.cpp's cache holds a sequence's positions without gaps)");
    const size_t w = static_cast<size_t>(s.kv_width);
    const size_t end = static_cast<size_t>(args->pos_begin + args->n_pos) * w;
    for (auto* rows : {&s.k_rows[l], &s.v_rows[l]})
      if (rows->size() < end) rows->resize(end);
    std::memcpy(s.k_rows[l].data() + static_cast<size_t>(args->pos_begin) * w, args->k,
                static_cast<size_t>(args->n_pos) * w * 4);
    std::memcpy(s.v_rows[l].data() + static_cast<size_t>(args->pos_begin) * w, args->v,
                static_cast<size_t>(args->n_pos) * w * 4);
    have = std::max(have, args->pos_begin + args->n_pos);
    s.kv_dirty = true;
    // The last layer written: hand the rows over now, outside the decode calls that the host times.
    if (std::all_of(s.rows_written.begin(), s.rows_written.end(), [&](int32_t r) { return r == have; }))
      apply_kv_history(s);
  });
}

bb_error* session_generate(bb_session* session, bb_generate_args* args) {
  return guarded("session_generate", [&] {
    if (session == nullptr) invalid("session_generate: session is NULL");
    require_struct_size(args, sizeof(bb_generate_args), "session_generate", "args");
    bb_session& s = *session;
    args->device_time_valid = 0;
    args->device_time_ns = 0;
    if (args->n_prompt < 1) invalid("generate: n_prompt " + std::to_string(args->n_prompt) + " must be >= 1");
    if (args->n_generate < 0) invalid("generate: n_generate " + std::to_string(args->n_generate) + " < 0");
    if (args->prompt == nullptr) invalid("generate: prompt is NULL");
    if (args->n_generate > 0 && args->tokens_out == nullptr) invalid("generate: tokens_out is NULL");
    for (int32_t i = 0; i < args->n_prompt; ++i) check_token(s, args->prompt[i], "generate: prompt");
    const int64_t last_pos =
        int64_t{args->pos_begin} + args->n_prompt - 1 + std::max(0, args->n_generate - 1);
    check_pos(s, args->pos_begin, "generate: pos_begin");
    check_pos(s, last_pos, "generate: last position");
    if (s.kv_dirty) apply_kv_history(s);
    int32_t pos = args->pos_begin;
    decode_tokens(s, args->prompt, args->n_prompt, pos);
    pos += args->n_prompt;
    for (int32_t i = 0; i < args->n_generate; ++i) {
      const int32_t token = argmax(s.logits, s.n_vocab);
      args->tokens_out[i] = token;
      if (i + 1 < args->n_generate) decode_tokens(s, &token, 1, pos++);
    }
  });
}

bb_error* session_get_metrics(bb_session* session, const bb_kv** kvs, size_t* n_kvs) {
  return guarded("session_get_metrics", [&] {
    if (session == nullptr || kvs == nullptr || n_kvs == nullptr)
      invalid("session_get_metrics: NULL argument");
    bb_session& s = *session;
    s.metrics = {{"engine.llama_cpp.flash_attn", s.v_trans ? "off" : "on"},
                 {"engine.llama_cpp.n_threads", std::to_string(s.ctx->n_threads)},
                 {"engine.llama_cpp.kv_type", type_name(s.kv_type)}};
    s.metric_kvs.clear();
    for (const auto& [k, v] : s.metrics) s.metric_kvs.push_back(bb_kv{k.c_str(), v.c_str()});
    *kvs = s.metric_kvs.data();
    *n_kvs = s.metric_kvs.size();
  });
}

}  // namespace bb::llama_cpp
