// The C ABI side that every plugin of this repository shares, written once (it was four copies):
// the error object and the guarded entry points that keep exceptions from crossing the C boundary,
// struct-size and host-tensor checks, the model dims every op needs, and the slot convention of each
// plan op (roles, kinds and shapes of DESIGN.md §3). Each plugin passes its name for messages
// ("scalar_ref gemv: input 'x': ...") and keeps only what is its own (supported weight types, device
// limits). Header-only and inline for the reasons of abi_util.h: no static initializers, no
// instruction-set flags of its own, nothing to link.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <new>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "abi_util.h"
#include "brickbench/brick_abi.h"

// The ABI's opaque error. Trivially destructible on purpose: a plugin's static out-of-memory error
// needs no code at load or unload (avx_bricks' AVX-512 build is loaded and probed on CPUs without it).
struct bb_error {
  int32_t status;
  const char* message;  // NUL-terminated; malloc'd, except in the plugin's static out-of-memory error
};

namespace bb::plugin_util {

// ---- errors ----------------------------------------------------------------------------------------

// An error with its ABI status, thrown inside a plugin and turned into a bb_error at the boundary.
class AbiError : public std::runtime_error {
 public:
  AbiError(bb_status status, const std::string& message) : std::runtime_error(message), status_(status) {}
  bb_status status() const { return status_; }

 private:
  bb_status status_;
};

[[noreturn]] inline void invalid(const std::string& message) { throw AbiError(BB_INVALID_ARGUMENT, message); }
[[noreturn]] inline void unsupported(const std::string& message) { throw AbiError(BB_UNSUPPORTED, message); }

// One per plugin, constinit: its name for messages and the error handed out when even an error
// cannot be allocated (destroy_error never frees it).
struct PluginId {
  const char* name;
  bb_error out_of_memory;
};

// Never throws: under memory exhaustion it hands out id.out_of_memory.
inline bb_error* make_error(PluginId& id, int32_t status, const std::string& message) noexcept {
  auto* e = static_cast<bb_error*>(std::malloc(sizeof(bb_error)));
  char* text = static_cast<char*>(std::malloc(message.size() + 1));
  if (e == nullptr || text == nullptr) {
    std::free(e);
    std::free(text);
    return &id.out_of_memory;
  }
  std::memcpy(text, message.c_str(), message.size() + 1);
  e->status = status;
  e->message = text;
  return e;
}

inline void destroy_error(const PluginId& id, bb_error* error) noexcept {
  if (error == nullptr || error == &id.out_of_memory) return;
  std::free(const_cast<char*>(error->message));
  std::free(error);
}

// The function table's error accessors (the same for every plugin).
inline int32_t error_status(const bb_error* error) { return error == nullptr ? BB_OK : error->status; }
inline const char* error_message(const bb_error* error) { return error == nullptr ? "" : error->message; }

// Runs an entry point's body; any exception becomes a bb_error ("<plugin> <where>: ..."), so none
// crosses the C boundary. `oom` words a std::bad_alloc ("out of memory"; cuda_bricks says "out of
// host memory", device allocations failing through its own AbiError).
template <typename Body>
bb_error* guarded(PluginId& id, const char* where, Body&& body, const char* oom = "out of memory") noexcept {
  const auto fail = [&](int32_t status, const char* what, const char* detail) noexcept -> bb_error* {
    try {
      std::string m = std::string(id.name) + " " + where + ": " + what;
      if (detail != nullptr) m += detail;
      return make_error(id, status, m);
    } catch (...) {
      return &id.out_of_memory;
    }
  };
  try {
    std::forward<Body>(body)();
    return nullptr;
  } catch (const AbiError& e) {
    return make_error(id, e.status(), e.what());
  } catch (const Cancelled&) {
    return fail(BB_CANCELLED, "cancelled by the host", nullptr);
  } catch (const std::bad_alloc&) {
    return fail(BB_OUT_OF_MEMORY, oom, nullptr);
  } catch (const std::exception& e) {
    return fail(BB_INTERNAL, "internal error: ", e.what());
  } catch (...) {
    return fail(BB_INTERNAL, "internal error (unknown exception)", nullptr);
  }
}

// Checks that a struct written by the host covers every field the plugin reads.
template <typename T>
void require_struct_size(const char* plugin, const T* p, size_t needed, const std::string& where,
                         const char* what) {
  if (p == nullptr) invalid(std::string(plugin) + " " + where + ": " + what + " is NULL");
  if (p->struct_size < needed) {
    invalid(std::string(plugin) + " " + where + ": " + what + "->struct_size " +
            std::to_string(p->struct_size) + " is smaller than the " + std::to_string(needed) +
            " bytes of ABI v1.0");
  }
}

// ---- host tensors ----------------------------------------------------------------------------------

// What a tensor must be. `label` names it in messages, e.g. "qkv: weight 'wk' (set 2)".
struct TensorCheck {
  std::string label;
  std::vector<int64_t> shape;  // expected, outermost first
  bool need_data = true;       // false for descriptors (data may be NULL)
};

inline constexpr size_t kTensorV10Bytes = offsetof(bb_tensor, nbytes) + sizeof(uint64_t);

// "<plugin> qkv: weight 'wk' (set 2) ("blk.0.attn_k.weight")": the label and the host's name, if any.
inline std::string describe(const char* plugin, const bb_tensor& t, const TensorCheck& c) {
  std::string s = std::string(plugin) + " " + c.label;
  if (BB_HAS_FIELD(&t, bb_tensor, name) && t.name != nullptr) s += " (\"" + std::string(t.name) + "\")";
  return s;
}

// Bytes of one element of an activation or KV-cache type: F32 and I32 4, F16 2, I8 1.
inline uint64_t element_bytes(int32_t type) {
  switch (type) {
    case BB_TYPE_F32:
    case BB_TYPE_I32:
      return 4;
    case BB_TYPE_F16:
      return 2;
    case BB_TYPE_I8:
      return 1;
    default:
      throw std::logic_error("element_bytes: not an activation type");
  }
}

// A descriptor without data may leave nbytes 0; a tensor with data must state its exact size.
inline void check_nbytes(const char* plugin, const bb_tensor& t, const TensorCheck& c, uint64_t expected) {
  if (t.data == nullptr && t.nbytes == 0) return;
  if (t.nbytes != expected) {
    invalid(describe(plugin, t, c) + ": nbytes " + std::to_string(t.nbytes) + " but shape " +
            shape_string(t.shape, t.ndim) + " of " + type_name(t.type) + " takes " +
            std::to_string(expected));
  }
}

// Any tensor: struct_size, host memory (`memory_note` says what the plugin takes; default "<plugin>
// reads host memory only (CPU or CUDA_HOST)"), compact, the expected ndim and shape, data if needed.
inline void check_layout(const char* plugin, const bb_tensor& t, const TensorCheck& c,
                         const char* memory_note = nullptr) {
  if (t.struct_size < kTensorV10Bytes) {
    invalid(std::string(plugin) + " " + c.label + ": struct_size " + std::to_string(t.struct_size) +
            " is smaller than the " + std::to_string(kTensorV10Bytes) + " bytes of a v1.0 bb_tensor");
  }
  if (t.device_type != BB_DEVICE_CPU && t.device_type != BB_DEVICE_CUDA_HOST) {
    unsupported(describe(plugin, t, c) + ": device_type " + std::to_string(t.device_type) + "; " +
                (memory_note != nullptr
                     ? std::string(memory_note)
                     : std::string(plugin) + " reads host memory only (CPU or CUDA_HOST)"));
  }
  const auto ndim = static_cast<int32_t>(c.shape.size());
  bool same = t.ndim == ndim;
  for (int32_t i = 0; same && i < ndim; ++i) same = t.shape[i] == c.shape[static_cast<size_t>(i)];
  if (!same) {
    invalid(describe(plugin, t, c) + ": shape " +
            shape_string(t.shape, std::max(0, std::min(t.ndim, BB_MAX_DIMS))) + " but the op needs " +
            shape_string(c.shape.data(), ndim));
  }
  if (!is_compact(t))
    unsupported(describe(plugin, t, c) + ": strided tensors are not supported (pass compact row-major)");
  if (c.need_data && t.data == nullptr) invalid(describe(plugin, t, c) + ": data is NULL");
}

// An activation of a fixed type (F32, I32, I8) with exact nbytes when data is present.
inline void check_activation(const char* plugin, const bb_tensor& t, const TensorCheck& c, int32_t type,
                             const char* memory_note = nullptr) {
  check_layout(plugin, t, c, memory_note);
  if (t.type != type)
    invalid(describe(plugin, t, c) + ": type " + type_name(t.type) + " but the op's convention is " +
            type_name(type));
  uint64_t n = 1;
  for (int64_t d : c.shape) n *= static_cast<uint64_t>(d);
  check_nbytes(plugin, t, c, n * element_bytes(type));
}

// A KV cache tensor [rows, width], F32 or F16 (UNSUPPORTED otherwise).
inline void check_kv_cache(const char* plugin, const bb_tensor& t, const TensorCheck& c,
                           const char* memory_note = nullptr) {
  check_layout(plugin, t, c, memory_note);
  if (t.type != BB_TYPE_F32 && t.type != BB_TYPE_F16) {
    unsupported(describe(plugin, t, c) + ": KV cache type " + type_name(t.type) + " (" + plugin +
                " takes F32 or F16)");
  }
  check_nbytes(plugin, t, c,
               static_cast<uint64_t>(c.shape[0]) * static_cast<uint64_t>(c.shape[1]) * element_bytes(t.type));
}

// The model dims every op relies on: positive sizes, whole query-head groups, even head_dim (NEOX
// RoPE rotates halves), finite rms_eps >= 0 and rope_theta > 0. A plugin adds its own limits after.
inline void check_model_dims(const char* plugin, const bb_model_dims* dims, const std::string& where) {
  require_struct_size(plugin, dims, offsetof(bb_model_dims, tied_embeddings) + sizeof(int32_t), where,
                      "dims");
  const std::string at = std::string(plugin) + " " + where + ": dims->";
  auto positive = [&](int32_t v, const char* name) {
    if (v <= 0) invalid(at + name + " is " + std::to_string(v) + ", must be > 0");
  };
  positive(dims->n_embd, "n_embd");
  positive(dims->n_ff, "n_ff");
  positive(dims->n_head, "n_head");
  positive(dims->n_head_kv, "n_head_kv");
  positive(dims->head_dim, "head_dim");
  if (dims->n_head % dims->n_head_kv != 0) {
    invalid(at + "n_head " + std::to_string(dims->n_head) + " is not a multiple of n_head_kv " +
            std::to_string(dims->n_head_kv));
  }
  if (dims->head_dim % 2 != 0)
    invalid(at + "head_dim " + std::to_string(dims->head_dim) + " is odd; NEOX RoPE rotates halves");
  if (!std::isfinite(dims->rms_eps) || dims->rms_eps < 0)
    invalid(at + "rms_eps " + std::to_string(dims->rms_eps) + " must be finite, >= 0");
  if (!std::isfinite(dims->rope_theta) || dims->rope_theta <= 0)
    invalid(at + "rope_theta " + std::to_string(dims->rope_theta) + " must be finite, > 0");
}

// ---- the slots of each plan op ---------------------------------------------------------------------

// kMatrix: a 2-D weight; kVector: a 1-D weight (norm, bias); kF32/kI32/kI8: activations of that
// type; kKCache/kVCache: a KV cache [rows, kv_width], F32 or F16.
enum class SlotKind { kMatrix, kVector, kF32, kI32, kI8, kKCache, kVCache };

inline bool is_kv_cache(SlotKind kind) { return kind == SlotKind::kKCache || kind == SlotKind::kVCache; }
inline bool is_weight(SlotKind kind) { return kind == SlotKind::kMatrix || kind == SlotKind::kVector; }
// The fixed type of an activation slot (F32 for the others).
inline int32_t activation_type(SlotKind kind) {
  return kind == SlotKind::kI32 ? BB_TYPE_I32 : kind == SlotKind::kI8 ? BB_TYPE_I8 : BB_TYPE_F32;
}

// One tensor of the op's convention: its role name, kind and shape.
struct SlotSpec {
  const char* role;
  SlotKind kind;
  std::vector<int64_t> shape;
};

struct OpSpec {
  std::vector<SlotSpec> weights;  // per set
  std::vector<SlotSpec> inputs;
  std::vector<SlotSpec> outputs;
};

// The widths the ops' shapes are made of: n_embd, n_head * head_dim, n_head_kv * head_dim, n_ff.
struct OpWidths {
  int64_t embd, q, kv, ff;
};
inline OpWidths op_widths(const bb_model_dims& d) {
  return {d.n_embd, int64_t{d.n_head} * d.head_dim, int64_t{d.n_head_kv} * d.head_dim, d.n_ff};
}

// "qkv: weight 'wk' (set 2)"; set < 0 leaves the set out.
inline std::string label(const char* op, const char* what, const char* role, int64_t set = -1) {
  std::string s = std::string(op) + ": " + what + " '" + role + "'";
  if (set >= 0) s += " (set " + std::to_string(set) + ")";
  return s;
}

// The leading dims of a host tensor that sizes the op (GEMV's W, COPY's src, a KV cache), after
// checking that the tensor can be read at all.
inline std::vector<int64_t> sizing_shape(const char* plugin, const bb_tensor* array, int32_t count,
                                         int32_t index, int32_t ndim, const char* op, const char* what,
                                         const char* role) {
  const std::string where = std::string(plugin) + " " + label(op, what, role);
  if (array == nullptr) invalid(where + ": the array is NULL");
  if (index >= count) invalid(where + ": missing");
  const bb_tensor& t = array[index];
  if (t.struct_size < offsetof(bb_tensor, strides)) invalid(where + ": struct_size too small");
  if (t.ndim != ndim)
    invalid(where + ": ndim " + std::to_string(t.ndim) + " but the op needs " + std::to_string(ndim));
  std::vector<int64_t> shape(t.shape, t.shape + ndim);
  for (int64_t d : shape)
    if (d <= 0) invalid(where + ": shape " + shape_string(t.shape, ndim) + " has an empty dimension");
  return shape;
}

// The slots of plan op d.op (copy..layer) at widths w; GEMV, COPY and the KV caches take their
// sizes from the host's tensors.
inline OpSpec op_spec(const char* plugin, const bb_plan_desc& d, const OpWidths& w) {
  const char* op = op_name(d.op);
  const int64_t e = w.embd, h = w.q, k = w.kv, f = w.ff;
  using K = SlotKind;
  switch (d.op) {
    case BB_OP_COPY: {
      const int64_t n = sizing_shape(plugin, d.inputs, d.n_inputs, 0, 1, op, "input", "src")[0];
      return {{}, {{"src", K::kI8, {n}}}, {{"dst", K::kI8, {n}}}};
    }
    case BB_OP_GEMV: {
      if (d.n_weights_per_set < 1) {
        invalid(std::string(plugin) + " gemv: n_weights_per_set " + std::to_string(d.n_weights_per_set) +
                " but the op takes 1 weight (W)");
      }
      const auto m =
          sizing_shape(plugin, d.weights, d.n_weights_per_set * d.n_weight_sets, 0, 2, op, "weight", "W");
      return {{{"W", K::kMatrix, {m[0], m[1]}}}, {{"x", K::kF32, {m[1]}}}, {{"y", K::kF32, {m[0]}}}};
    }
    case BB_OP_RMS_NORM:
      return {{{"g", K::kVector, {e}}}, {{"x", K::kF32, {e}}}, {{"y", K::kF32, {e}}}};
    case BB_OP_QKV:
      return {{{"wq", K::kMatrix, {h, e}},
               {"bq", K::kVector, {h}},
               {"wk", K::kMatrix, {k, e}},
               {"bk", K::kVector, {k}},
               {"wv", K::kMatrix, {k, e}},
               {"bv", K::kVector, {k}}},
              {{"x", K::kF32, {e}}},
              {{"q", K::kF32, {h}}, {"k", K::kF32, {k}}, {"v", K::kF32, {k}}}};
    case BB_OP_ROPE:
      return {{},
              {{"q", K::kF32, {h}}, {"k", K::kF32, {k}}, {"pos", K::kI32, {1}}},
              {{"q", K::kF32, {h}}, {"k", K::kF32, {k}}}};
    case BB_OP_ATTENTION: {
      const int64_t l = sizing_shape(plugin, d.inputs, d.n_inputs, 1, 2, op, "input", "k_cache")[0];
      return {{},
              {{"q", K::kF32, {h}}, {"k_cache", K::kKCache, {l, k}}, {"v_cache", K::kVCache, {l, k}}},
              {{"o", K::kF32, {h}}}};
    }
    case BB_OP_O_PROJ:
      return {{{"wo", K::kMatrix, {e, h}}}, {{"a", K::kF32, {h}}}, {{"y", K::kF32, {e}}}};
    case BB_OP_FFN:
      return {{{"gate", K::kMatrix, {f, e}}, {"up", K::kMatrix, {f, e}}, {"down", K::kMatrix, {e, f}}},
              {{"x", K::kF32, {e}}},
              {{"y", K::kF32, {e}}}};
    case BB_OP_LAYER: {
      const int64_t c = sizing_shape(plugin, d.inputs, d.n_inputs, 2, 2, op, "input", "k_cache")[0];
      return {{{"attn_norm", K::kVector, {e}},
               {"wq", K::kMatrix, {h, e}},
               {"bq", K::kVector, {h}},
               {"wk", K::kMatrix, {k, e}},
               {"bk", K::kVector, {k}},
               {"wv", K::kMatrix, {k, e}},
               {"bv", K::kVector, {k}},
               {"wo", K::kMatrix, {e, h}},
               {"ffn_norm", K::kVector, {e}},
               {"gate", K::kMatrix, {f, e}},
               {"up", K::kMatrix, {f, e}},
               {"down", K::kMatrix, {e, f}}},
              {{"x", K::kF32, {e}},
               {"pos", K::kI32, {1}},
               {"k_cache", K::kKCache, {c, k}},
               {"v_cache", K::kVCache, {c, k}}},
              {{"y", K::kF32, {e}}}};
    }
    default:
      break;
  }
  throw std::logic_error("op_spec: op not handled");
}

// "wq, bq, wk" ("none" when empty).
inline std::string role_list(const std::vector<SlotSpec>& specs) {
  std::string s;
  for (const SlotSpec& spec : specs) s += (s.empty() ? "" : ", ") + std::string(spec.role);
  return s.empty() ? "none" : s;
}

// The host passed as many tensors as the op takes.
inline void check_count(const char* plugin, const char* op, const char* what, int32_t given,
                        const std::vector<SlotSpec>& specs) {
  if (given != static_cast<int32_t>(specs.size())) {
    invalid(std::string(plugin) + " " + op + ": " + std::to_string(given) + " " + what +
            " but the op takes " + std::to_string(specs.size()) + " (" + role_list(specs) + ")");
  }
}

// An input or output tensor against its slot (activations and KV caches; weights are the plugin's).
inline void check_slot(const char* plugin, const bb_tensor& t, const SlotSpec& spec, const std::string& lbl,
                       bool need_data, const char* memory_note = nullptr) {
  const TensorCheck c{lbl, spec.shape, need_data};
  if (is_kv_cache(spec.kind)) {
    check_kv_cache(plugin, t, c, memory_note);
  } else {
    check_activation(plugin, t, c, activation_type(spec.kind), memory_note);
  }
}

}  // namespace bb::plugin_util
