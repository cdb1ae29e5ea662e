#include "workload/cells.h"

#include <algorithm>
#include <sstream>

#include "model/ggml_types.h"

namespace bb::workload {
namespace {

using config::Brick;
using config::BrickSpec;
using config::ConfigError;

[[noreturn]] void fail(const config::Experiment& e, const BrickSpec& b, const std::string& message) {
  throw ConfigError(e.source, b.line, b.column, message);
}

std::string layer_note(size_t n) { return n == 1 ? "1 layer" : std::to_string(n) + " layers"; }

config::BrickCost average_cost(Brick brick, const bb_model_dims& d, const config::ModelTypes& t,
                               const std::vector<int32_t>& layers, const config::CostParams& p) {
  if (layers.empty()) return config::brick_cost(brick, d, t, 0, p);
  config::BrickCost sum;
  for (int32_t l : layers) sum += config::brick_cost(brick, d, t, l, p);
  return sum.scaled(1.0 / static_cast<double>(layers.size()));
}

// Layers the weights rotate through: the entry's, else every layer; each checked against the model.
std::vector<int32_t> selected_layers(const config::Experiment& e, const BrickSpec& b,
                                     const bb_model_dims& d) {
  std::vector<int32_t> layers = b.layers;
  if (layers.empty())
    for (int32_t i = 0; i < d.n_layer; ++i) layers.push_back(i);
  for (int32_t l : layers)
    if (l < 0 || l >= d.n_layer)
      fail(e, b,
           "layer " + std::to_string(l) + " is past the model's " + std::to_string(d.n_layer) +
               " layers (0.." + std::to_string(d.n_layer - 1) + ")");
  return layers;
}

// "Q4_K, Q6_K, ...": the weight types gemv can run on in this model.
std::string gemv_type_list(const config::ModelTypes& types) {
  std::string s;
  for (int32_t t : config::gemv_types_present(types)) s += (s.empty() ? "" : ", ") + model::ggml_type_name(t);
  return s;
}

// The cell with the layers it rotates through (cold: all of `rotation`; warm: the first) and its
// cost per call (per token for decode / generate).
CellSpec costed(CellSpec c, const std::vector<int32_t>& rotation, bool cold, const bb_model_dims& d,
                const config::ModelTypes& types) {
  c.layers =
      cold ? rotation : std::vector<int32_t>(rotation.begin(), rotation.begin() + (rotation.empty() ? 0 : 1));
  config::CostParams p;
  p.context = c.context > 0 ? c.context : config::kDefaultContext;
  p.kv_type = c.kv_type;
  p.weight_type = c.weight_type;
  p.tokens = c.tokens > 0 ? c.tokens : config::kDefaultGenerateTokens;
  p.copy_bytes = c.copy_bytes;
  if (c.brick == Brick::Decode) {
    c.cost = config::decode_cost(d, types, p.context, c.kv_type);
  } else if (c.brick == Brick::Generate) {
    // per token: the average over the N decodes from context C
    c.cost = config::brick_cost(Brick::Generate, d, types, 0, p).scaled(1.0 / p.tokens);
  } else {
    c.cost = average_cost(c.brick, d, types, c.layers, p);
  }
  return c;
}

}  // namespace

std::vector<CellSpec> expand_cells(const config::Experiment& e, const model::Qwen2Model& model,
                                   const config::ModelTypes& types) {
  const bb_model_dims& d = model.dims;
  const bool cold = e.protocol.cache == config::CacheState::Cold;
  std::vector<CellSpec> cells;
  for (const BrickSpec& b : e.bricks) {
    const std::vector<int32_t> layers = selected_layers(e, b, d);

    CellSpec base;
    base.brick = b.brick;
    base.entry = &b;
    base.kv_type = b.kv_type;
    const std::string name(config::brick_name(b.brick));

    auto finish = [&](CellSpec c, const std::vector<int32_t>& rotation) {
      cells.push_back(costed(std::move(c), rotation, cold, d, types));
    };

    switch (b.brick) {
      case Brick::Copy: {
        CellSpec c = base;
        c.id = "copy";
        c.copy_bytes = b.bytes > 0 ? b.bytes : config::kDefaultCopyBytes;
        c.shape = std::to_string(c.copy_bytes >> 20) + " MiB";
        finish(c, {});
        break;
      }
      case Brick::Attention:
      case Brick::Layer:
      case Brick::Decode: {
        std::vector<int32_t> contexts =
            b.contexts.empty() ? std::vector<int32_t>{config::kDefaultContext} : b.contexts;
        for (int32_t ctx : contexts) {
          if (ctx < 1 || ctx > d.n_ctx_max)
            fail(e, b,
                 name + " context " + std::to_string(ctx) + " is outside the model's 1.." +
                     std::to_string(d.n_ctx_max));
          CellSpec c = base;
          c.context = ctx;
          c.id = name + "@" + std::to_string(ctx);
          std::ostringstream s;
          s << "L=" << ctx << " heads " << d.n_head << "/" << d.n_head_kv << " kv "
            << (c.kv_type == BB_TYPE_F16 ? "F16" : "F32");
          if (b.brick == Brick::Layer) s << ", " << layer_note(cold ? layers.size() : 1);
          c.shape = s.str();
          finish(c, b.brick == Brick::Layer ? layers : std::vector<int32_t>{});
        }
        break;
      }
      case Brick::Generate: {
        CellSpec c = base;
        c.tokens = b.tokens > 0 ? b.tokens : config::kDefaultGenerateTokens;
        c.context = config::kDefaultContext;
        if (c.context + c.tokens > d.n_ctx_max)
          fail(e, b,
               "generate of " + std::to_string(c.tokens) + " tokens from context " +
                   std::to_string(c.context) + " exceeds the model's context of " +
                   std::to_string(d.n_ctx_max));
        c.id = "generate" + std::to_string(c.tokens) + "@" + std::to_string(c.context);
        c.shape = std::to_string(c.tokens) + " greedy tokens from L=" + std::to_string(c.context);
        finish(c, {});
        break;
      }
      case Brick::Gemv: {
        std::vector<int32_t> wanted =
            b.all_types || b.types.empty() ? config::gemv_types_present(types) : b.types;
        for (int32_t type : wanted) {
          auto gs = config::gemv_shape(d, types, type);
          const std::string tname = model::ggml_type_name(type);
          if (!gs || !gs->in_model)
            fail(e, b,
                 "the model has no matrix of type " + tname +
                     " to run gemv on; its types: " + gemv_type_list(types));
          CellSpec c = base;
          c.weight_type = type;
          c.id = "gemv." + tname;
          c.gemv_role = gs->role;
          c.gemv_rows = gs->rows;
          c.gemv_cols = gs->cols;
          std::vector<int32_t> rotation;
          for (int32_t l : gs->layers)
            if (std::find(layers.begin(), layers.end(), l) != layers.end()) rotation.push_back(l);
          if (gs->role != "output" && rotation.empty())
            fail(e, b, "none of the selected layers has a " + tname + " " + gs->role + " matrix");
          c.shape = std::to_string(gs->rows) + "x" + std::to_string(gs->cols) + " " + tname + " " + gs->role +
                    (gs->role == "output" ? "" : ", " + layer_note(cold ? rotation.size() : 1));
          finish(c, rotation);
        }
        break;
      }
      default: {
        CellSpec c = base;
        c.id = name;
        const bool weights = b.brick != Brick::Rope;
        c.shape = "n_embd " + std::to_string(d.n_embd) +
                  (weights ? ", " + layer_note(cold ? layers.size() : 1) : std::string());
        finish(c, weights ? layers : std::vector<int32_t>{});
      }
    }
  }
  return cells;
}

CellSpec bandwidth_probe_cell(int64_t bytes) {
  CellSpec c;
  c.id = "bandwidth";
  c.brick = Brick::Copy;
  c.copy_bytes = bytes;
  c.cost.activation_bytes = 2.0 * static_cast<double>(bytes);
  c.shape = std::to_string(bytes >> 20) + " MiB copy";
  return c;
}

}  // namespace bb::workload
