/*
 * brickbench plugin ABI, version 1.1 (1.0 + session_get_metrics appended to bb_plugin_api).
 *
 * This header is the whole contract between the `bench` host and a backend plugin. It is the only
 * file a plugin includes from the host. It is C99: no C++ types, no exceptions, no STL crosses it.
 *
 * ---------------------------------------------------------------------------------------------
 * Compatibility rules
 * ---------------------------------------------------------------------------------------------
 *  - BB_ABI_VERSION_MAJOR changes on any breaking change; the host refuses a plugin of another
 *    major and says which two versions met.
 *  - BB_ABI_VERSION_MINOR grows when fields are appended. Every table and argument struct starts
 *    with `struct_size` and is append-only: a reader touches a field only when `struct_size`
 *    covers it (BB_HAS_FIELD below). Writers set `struct_size = sizeof(the struct they know)`.
 *  - Field offsets are pinned by tests/abi/abi_layout_test.cpp; a layout change fails that test.
 *
 * ---------------------------------------------------------------------------------------------
 * Symbols a plugin exports (build with -fvisibility=hidden; export these and nothing else)
 * ---------------------------------------------------------------------------------------------
 *  - required: `const bb_plugin_api* bb_plugin_entry(const bb_host_api* host);`
 *      Returns the plugin's function table (static lifetime: valid until the library is
 *      unloaded), or NULL when the plugin cannot work with this host at all. `host` stays valid
 *      until the library is unloaded; the plugin may keep the pointer.
 *  - optional: `int32_t bb_plugin_probe(const bb_probe_args* args);`
 *      Side-effect free, compiled without special instruction sets so it may run on any CPU of
 *      the architecture. Returns 0 when the plugin cannot run on this machine (and writes why into
 *      args->reason), otherwise a score: the host prefers higher scores among plugins that offer
 *      the same backend name (e.g. an AVX-512 build over an AVX2 build). Absent probe = score 1.
 *
 * ---------------------------------------------------------------------------------------------
 * Objects and lifetimes
 * ---------------------------------------------------------------------------------------------
 *  - bb_error:   made by the plugin, read with api->error_status / error_message, freed by the
 *                host with api->error_destroy (always the library that made it). NULL = success.
 *  - bb_context: one per backend/device. Owns threads, streams, pools.
 *  - bb_plan:    one brick (op) at fixed shapes with its weights prepared (uploaded, repacked,
 *                interleaved as the backend likes). Immutable once created except for its input
 *                buffers. Destroyed before its context.
 *  - bb_session: a whole model with a KV cache, for `decode` and `generate`.
 *  Every *_destroy accepts NULL. The host never calls into one object from two threads at once.
 *
 * Ownership of memory: the host owns every bb_tensor it passes. Weight data passed at
 * plan_create/session_create stays valid and unchanged until that plan/session is destroyed, so a
 * CPU plugin may use it in place (zero copy). Input data passed to plan_write_inputs is valid only
 * during that call: copy what you need. Output buffers passed to read calls are valid only during
 * the call.
 *
 * Timing: the host times plan_run / session_decode / session_generate with a monotonic clock. Uploads,
 * repacking (plan_create), input writes and output read-back are outside that region by construction. A
 * backend whose work is asynchronous must finish its work before returning from a run call, and
 * may also report device time (e.g. CUDA events) for the same call.
 */
#ifndef BRICKBENCH_BRICK_ABI_H
#define BRICKBENCH_BRICK_ABI_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define BB_ABI_VERSION_MAJOR 1
#define BB_ABI_VERSION_MINOR 1

/* True when a struct written by the other side (its struct_size) covers `field`. */
#define BB_HAS_FIELD(ptr, type, field) \
  ((ptr)->struct_size >= offsetof(type, field) + sizeof(((type*)0)->field))

#if defined(_WIN32)
#define BB_EXPORT __declspec(dllexport)
#else
#define BB_EXPORT __attribute__((visibility("default")))
#endif

#define BB_ENTRY_SYMBOL "bb_plugin_entry"
#define BB_PROBE_SYMBOL "bb_plugin_probe"

/* ------------------------------------------------------------------------------------------- */
/* Status codes and errors                                                                      */
/* ------------------------------------------------------------------------------------------- */
typedef enum bb_status {
  BB_OK = 0,
  BB_INVALID_ARGUMENT = 1, /* the host passed something the ABI forbids */
  BB_UNSUPPORTED = 2,      /* op, type or shape the backend lacks: the host skips the cell */
  BB_OUT_OF_MEMORY = 3,
  BB_DEVICE_ERROR = 4, /* driver/runtime failure */
  BB_VERSION_MISMATCH = 5,
  BB_INTERNAL = 6, /* a bug or an exception caught at the boundary */
  BB_CANCELLED = 7 /* the host's cancel flag was seen */
} bb_status;

/* Opaque; made by the plugin, destroyed by the plugin's error_destroy. */
typedef struct bb_error bb_error;

/* ------------------------------------------------------------------------------------------- */
/* Types, devices, tensors (DLPack-style, with GGML type ids so GGUF tensors pass untouched)     */
/* ------------------------------------------------------------------------------------------- */
typedef enum bb_type {
  BB_TYPE_ANY = -1, /* capability wildcard: the op is offered whatever the weight types */
  BB_TYPE_F32 = 0,
  BB_TYPE_F16 = 1,
  BB_TYPE_Q4_0 = 2,
  BB_TYPE_Q4_1 = 3,
  BB_TYPE_Q5_0 = 6,
  BB_TYPE_Q5_1 = 7,
  BB_TYPE_Q8_0 = 8,
  BB_TYPE_Q8_1 = 9,
  BB_TYPE_Q2_K = 10,
  BB_TYPE_Q3_K = 11,
  BB_TYPE_Q4_K = 12,
  BB_TYPE_Q5_K = 13,
  BB_TYPE_Q6_K = 14,
  BB_TYPE_Q8_K = 15,
  BB_TYPE_I8 = 24,
  BB_TYPE_I16 = 25,
  BB_TYPE_I32 = 26,
  BB_TYPE_I64 = 27,
  BB_TYPE_F64 = 28,
  BB_TYPE_BF16 = 30
} bb_type;

typedef enum bb_device_type { /* values of DLPack's DLDeviceType */
                              BB_DEVICE_CPU = 1,
                              BB_DEVICE_CUDA = 2,
                              BB_DEVICE_CUDA_HOST = 3
} bb_device_type;

#define BB_MAX_DIMS 4

/*
 * A tensor the host owns. shape is outermost first (DLPack/C order): a GGUF weight with
 * ne = {ne0 = row length, ne1 = rows} is ndim 2, shape {ne1, ne0}. strides are in elements, all
 * zero meaning compact row-major (the only layout v1 hosts pass). For block-quantized types a row
 * is a whole number of blocks and nbytes is the exact storage size.
 */
typedef struct bb_tensor {
  size_t struct_size;
  void* data;          /* may be NULL in descriptors that only state shape and type */
  int32_t device_type; /* bb_device_type */
  int32_t device_id;
  int32_t ndim; /* 1..BB_MAX_DIMS */
  int32_t type; /* bb_type */
  int64_t shape[BB_MAX_DIMS];
  int64_t strides[BB_MAX_DIMS]; /* elements; all zero = compact */
  uint64_t nbytes;
  const char* name; /* GGUF name or role ("blk.3.attn_q.weight", "x"); may be NULL */
} bb_tensor;

typedef struct bb_kv { /* a key-value pair of static lifetime (until unload) */
  const char* key;
  const char* value;
} bb_kv;

/* ------------------------------------------------------------------------------------------- */
/* Ops (bricks) and their tensor conventions                                                    */
/* ------------------------------------------------------------------------------------------- */
/*
 * Every activation is F32, compact, one token (batch 1). d = bb_model_dims; E = n_embd,
 * H = n_head * head_dim, K = n_head_kv * head_dim, F = n_ff. A "weight set" is the list of weights
 * named below, in that order; a plan holds n_weight_sets of them (one per layer when the host
 * rotates weights through the model so that caches do not serve them), and iteration i of a run
 * call uses set (weight_set_begin + i) % n_weight_sets.
 *
 * BB_OP_COPY       weights: none. in: src I8 [n]. out: dst I8 [n]. dst = src (bandwidth probe:
 *                  moves 2n bytes per iteration).
 * BB_OP_GEMV       weights: W [rows, cols] any type. in: x [cols]. out: y [rows]. y = W x.
 * BB_OP_RMS_NORM   weights: g F32 [E]. in: x [E]. out: y = x / sqrt(mean(x^2) + rms_eps) * g.
 * BB_OP_QKV        weights: wq [H,E], bq [H], wk [K,E], bk [K], wv [K,E], bv [K].
 *                  in: x [E] (already normed). out: q [H], k [K], v [K] (projections + bias).
 * BB_OP_ROPE       weights: none. in: q [H], k [K], pos I32 [1]. out: q' [H], k' [K].
 *                  NEOX style (rotate halves): for each head and i < head_dim/2,
 *                  theta_i = pos * rope_theta^(-2i/head_dim), (x[i], x[i+hd/2]) rotated by theta_i.
 * BB_OP_ATTENTION  weights: none. in: q [H], k_cache [L, K], v_cache [L, K] (F32 or F16).
 *                  out: o [H]. Query head h uses KV head h / (n_head / n_head_kv);
 *                  o_h = softmax(q_h . k_j / sqrt(head_dim), j < L) . v_j. All L rows are attended.
 * BB_OP_O_PROJ     weights: wo [E, H]. in: a [H]. out: y [E] = wo a (no residual).
 * BB_OP_FFN        weights: gate [F,E], up [F,E], down [E,F]. in: x [E] (already normed).
 *                  out: y [E] = down (silu(gate x) * (up x)), silu(z) = z / (1 + exp(-z)).
 * BB_OP_LAYER      weights: attn_norm [E], wq, bq, wk, bk, wv, bv, wo, ffn_norm [E], gate, up,
 *                  down (12, in that order). in: x [E], pos I32 [1], k_cache [C, K],
 *                  v_cache [C, K] (C >= pos + 1; rows < pos are the history).
 *                  out: y [E]. One whole Qwen2 layer: h = x + wo attn(rope(qkv(rms(x)))), with this
 *                  token's k, v written to row pos of the plan's own copy of the caches (so
 *                  iterations at the same pos are idempotent), attention over rows 0..pos;
 *                  y = h + ffn(rms(h)).
 * BB_OP_DECODE     session only: embedding of one token, all layers, final norm, LM head.
 * BB_OP_GENERATE   session only: N greedy tokens.
 */
typedef enum bb_op {
  BB_OP_COPY = 0,
  BB_OP_GEMV = 1,
  BB_OP_RMS_NORM = 2,
  BB_OP_QKV = 3,
  BB_OP_ROPE = 4,
  BB_OP_ATTENTION = 5,
  BB_OP_O_PROJ = 6,
  BB_OP_FFN = 7,
  BB_OP_LAYER = 8,
  BB_OP_DECODE = 9,
  BB_OP_GENERATE = 10,
  BB_OP_COUNT_ = 11
} bb_op;

/* Capability flags */
#define BB_CAP_ACT_Q8                                                                             \
  (1u << 0)                          /* activations are quantized to 8 bits for dot products: the \
                                        host applies the looser tolerance class */
#define BB_CAP_DEVICE_TIME (1u << 1) /* run calls report device time */
#define BB_CAP_KV_F16 (1u << 2)      /* accepts F16 KV caches */

typedef struct bb_capability {
  size_t struct_size;
  int32_t op;          /* bb_op */
  int32_t weight_type; /* bb_type of the op's main weight, or BB_TYPE_ANY */
  uint32_t flags;      /* BB_CAP_* */
} bb_capability;

/* Hyperparameters of a Qwen2-style decoder. */
typedef struct bb_model_dims {
  size_t struct_size;
  int32_t n_embd;
  int32_t n_ff;
  int32_t n_head;
  int32_t n_head_kv;
  int32_t head_dim;
  int32_t n_layer;
  int32_t n_vocab;
  int32_t n_ctx_max; /* the most positions a session or LAYER cache will hold */
  double rms_eps;
  double rope_theta;
  int32_t tied_embeddings; /* 1: the LM head is token_embd.weight */
  int32_t reserved0;
} bb_model_dims;

/* ------------------------------------------------------------------------------------------- */
/* Host services                                                                                 */
/* ------------------------------------------------------------------------------------------- */
typedef enum bb_log_level {
  BB_LOG_DEBUG = 0,
  BB_LOG_INFO = 1,
  BB_LOG_WARN = 2,
  BB_LOG_ERROR = 3
} bb_log_level;

typedef struct bb_host_api {
  size_t struct_size;
  uint32_t abi_major; /* the host's BB_ABI_VERSION_MAJOR / MINOR */
  uint32_t abi_minor;
  void* host_data; /* passed back to every callback */
  void (*log)(void* host_data, int32_t level, const char* message);
  void* (*aligned_alloc)(void* host_data, size_t alignment, size_t size); /* NULL on failure */
  void (*aligned_free)(void* host_data, void* ptr);
  int32_t n_threads; /* threads the host offers (the user's --threads, else hardware threads) */
  int32_t reserved0;
  /* Non-zero when the user asked to stop: long calls should return BB_CANCELLED soon after. */
  const volatile int32_t* cancel_flag;
} bb_host_api;

/* ------------------------------------------------------------------------------------------- */
/* Argument structs                                                                              */
/* ------------------------------------------------------------------------------------------- */
typedef struct bb_probe_args {
  size_t struct_size;
  uint32_t host_abi_major;
  uint32_t host_abi_minor;
  char* reason;           /* the plugin writes a NUL-terminated reason when it returns 0 */
  size_t reason_capacity; /* bytes available at reason */
} bb_probe_args;

typedef struct bb_context_args {
  size_t struct_size;
  int32_t device_id; /* which GPU; 0 for CPU backends */
  int32_t n_threads; /* 0 = the plugin decides (host->n_threads is a good default) */
  size_t n_options;
  const bb_kv* options; /* backend-specific settings from the experiment; valid during the call */
} bb_context_args;

typedef struct bb_plan_desc {
  size_t struct_size;
  int32_t op;                /* bb_op, one of COPY..LAYER */
  int32_t n_weight_sets;     /* >= 1 */
  int32_t n_weights_per_set; /* as the op's convention lists */
  int32_t n_inputs;
  int32_t n_outputs;
  int32_t reserved0;
  const bb_model_dims* dims; /* valid during the call; copy it */
  const bb_tensor* weights;  /* [n_weight_sets * n_weights_per_set], set-major */
  const bb_tensor* inputs;   /* descriptors (shape, type; data may be NULL) */
  const bb_tensor* outputs;  /* descriptors */
  int64_t params[8];         /* op-specific, zero unless the op's convention says otherwise */
} bb_plan_desc;

typedef struct bb_run_args {
  size_t struct_size;
  int64_t iterations;       /* >= 1 repetitions of the op inside one timed call */
  int64_t weight_set_begin; /* iteration i uses weight set (begin + i) % n_weight_sets */
  /* out: */
  int32_t device_time_valid; /* 1 when device_time_ns was measured */
  int32_t reserved0;
  uint64_t device_time_ns; /* device time of all iterations together */
} bb_run_args;

typedef struct bb_session_desc {
  size_t struct_size;
  int32_t n_tensors;
  int32_t kv_type;           /* BB_TYPE_F32 or BB_TYPE_F16 (UNSUPPORTED if not offered) */
  const bb_model_dims* dims; /* n_ctx_max = positions the KV cache holds */
  const bb_tensor* tensors;  /* every tensor of the model, named as in GGUF; data valid until
                                session_destroy */
} bb_session_desc;

typedef struct bb_decode_args {
  size_t struct_size;
  int32_t token;      /* token id < n_vocab */
  int32_t pos;        /* position; the KV rows 0..pos-1 are the history */
  int64_t iterations; /* >= 1; repeats are idempotent (same token, same pos) */
  float* logits;      /* optional host buffer [n_vocab]; NULL = keep them in the session
                         (read with session_read_logits, outside the timed region) */
  /* out: */
  int32_t device_time_valid;
  int32_t reserved0;
  uint64_t device_time_ns;
} bb_decode_args;

typedef struct bb_kv_write_args {
  size_t struct_size;
  int32_t layer;
  int32_t pos_begin;
  int32_t n_pos;
  int32_t reserved0;
  const float* k; /* [n_pos, n_head_kv * head_dim], valid during the call */
  const float* v;
} bb_kv_write_args;

typedef struct bb_generate_args {
  size_t struct_size;
  int32_t n_prompt;
  int32_t n_generate;
  const int32_t* prompt; /* [n_prompt] token ids, decoded from position pos_begin */
  int32_t* tokens_out;   /* [n_generate] greedy (argmax) tokens */
  int32_t pos_begin;
  int32_t reserved0;
  /* out: */
  int32_t device_time_valid;
  int32_t reserved1;
  uint64_t device_time_ns;
} bb_generate_args;

/* ------------------------------------------------------------------------------------------- */
/* Opaque handles and the plugin's function table                                               */
/* ------------------------------------------------------------------------------------------- */
typedef struct bb_context bb_context;
typedef struct bb_plan bb_plan;
typedef struct bb_session bb_session;

typedef struct bb_plugin_api {
  size_t struct_size;
  uint32_t abi_major; /* the BB_ABI_VERSION_* the plugin was built against */
  uint32_t abi_minor;
  const char* name;        /* backend name, e.g. "scalar_ref"; static */
  const char* version;     /* plugin version string; static */
  const char* description; /* one line; static */

  /* errors (NULL bb_error* everywhere means success) */
  int32_t (*error_status)(const bb_error* error);      /* a bb_status */
  const char* (*error_message)(const bb_error* error); /* valid until error_destroy */
  void (*error_destroy)(bb_error* error);

  /* Static facts: arrays valid until unload. */
  bb_error* (*get_capabilities)(const bb_capability** caps, size_t* n_caps);
  /* Build and environment facts (ISA compiled vs detected, compiler, CUDA versions, SM arch). */
  bb_error* (*get_build_info)(const bb_kv** kvs, size_t* n_kvs);

  bb_error* (*context_create)(const bb_context_args* args, bb_context** out);
  void (*context_destroy)(bb_context* ctx);

  /* Plans: one brick at fixed shapes. */
  bb_error* (*plan_create)(bb_context* ctx, const bb_plan_desc* desc, bb_plan** out);
  void (*plan_destroy)(bb_plan* plan);
  /* Copy (upload) input data into the plan; tensors match desc->inputs in count and shape. */
  bb_error* (*plan_write_inputs)(bb_plan* plan, int32_t n_inputs, const bb_tensor* inputs);
  /* The timed call. */
  bb_error* (*plan_run)(bb_plan* plan, bb_run_args* args);
  /* Copy results of the last run into host tensors matching desc->outputs. */
  bb_error* (*plan_read_outputs)(bb_plan* plan, int32_t n_outputs, bb_tensor* outputs);

  /* Sessions: a whole model with a KV cache. NULL entries = the backend has no sessions. */
  bb_error* (*session_create)(bb_context* ctx, const bb_session_desc* desc, bb_session** out);
  void (*session_destroy)(bb_session* session);
  bb_error* (*session_decode)(bb_session* session, bb_decode_args* args); /* timed */
  bb_error* (*session_read_logits)(bb_session* session, float* logits, int32_t n_vocab);
  /* Optional (may be NULL): fill KV rows with host data, to bench long contexts quickly. */
  bb_error* (*session_write_kv)(bb_session* session, const bb_kv_write_args* args);
  /* Optional (may be NULL): the host then loops session_decode and takes the argmax itself. */
  bb_error* (*session_generate)(bb_session* session, bb_generate_args* args);

  /* ---- appended in 1.1: read only when struct_size covers the field (BB_HAS_FIELD) ---- */
  /*
   * Optional (may be NULL): what the session knows about its last session_generate /
   * session_decode call and about the engine behind it, as key-values. Called by the host outside
   * the timed region, after a timed call. *kvs and every string in it stay valid until the next call
   * into this session or session_destroy (not static, unlike other bb_kv arrays). A key that is
   * absent is unknown: a plugin never writes "0" for a value it did not get. Numbers are decimal
   * text. Keys (all optional):
   *   per call:  eval_count, eval_duration_ns (generated tokens and the engine's time for them),
   *              prompt_eval_count, prompt_eval_duration_ns (prompt tokens evaluated, their time),
   *              load_duration_ns, total_duration_ns (as the engine reports them),
   *              ttft_ns (host clock: request sent -> first token received),
   *              gap_p50_ns, gap_p99_ns, gap_count (host clock: between consecutive tokens),
   *              done_reason, tokens_received.
   *   "peer.*":  facts of a whole-model peer the session talks to (e.g. an Ollama server):
   *              peer.kind, peer.endpoint, peer.server_version, peer.model, peer.digest,
   *              peer.family, peer.parameter_size, peer.quantization_level, peer.size,
   *              peer.size_vram, peer.context_length. A session that reports peer.* keys is a peer:
   *              the host records it in the result's "peers" section.
   *   "engine.*": facts of the backend's engine (e.g. its CUDA graph), recorded per decode/generate
   *              cell under "engine" (read once, after the cell's untimed check run; keys and values
   *              as given), e.g. engine.graph_nodes, engine.graph_launch_host_ns,
   *              engine.graph_empty_replay_ns.
   */
  bb_error* (*session_get_metrics)(bb_session* session, const bb_kv** kvs, size_t* n_kvs);
} bb_plugin_api;

typedef const bb_plugin_api* (*bb_plugin_entry_fn)(const bb_host_api* host);
typedef int32_t (*bb_plugin_probe_fn)(const bb_probe_args* args);

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* BRICKBENCH_BRICK_ABI_H */
