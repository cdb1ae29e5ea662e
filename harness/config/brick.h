// The bricks an experiment measures: names as configs spell them, and their ABI ops.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

#include "brickbench/brick_abi.h"

namespace bb::config {

// Values equal the ABI's bb_op, so a Brick converts to the op a plan is made for.
enum class Brick : int32_t {
  Copy = BB_OP_COPY,
  Gemv = BB_OP_GEMV,
  RmsNorm = BB_OP_RMS_NORM,
  Qkv = BB_OP_QKV,
  Rope = BB_OP_ROPE,
  Attention = BB_OP_ATTENTION,
  OProj = BB_OP_O_PROJ,
  Ffn = BB_OP_FFN,
  Layer = BB_OP_LAYER,
  Decode = BB_OP_DECODE,
  Generate = BB_OP_GENERATE,
};

// Every brick, in the order docs and configs list them: copy, rms_norm, qkv, rope, attention,
// o_proj, ffn, layer, decode, generate, gemv.
const std::vector<Brick>& all_bricks();
std::string_view brick_name(Brick brick);                     // "rms_norm"
std::optional<Brick> brick_from_name(std::string_view name);  // exact, lower case
inline bb_op brick_op(Brick brick) { return static_cast<bb_op>(brick); }

// Which keys of a brick entry apply to which bricks.
bool brick_takes_context(Brick brick);  // attention, layer, decode
bool brick_takes_kv_type(Brick brick);  // attention, layer, decode, generate
bool brick_is_per_token(Brick brick);   // decode, generate: budgets in tokens/s, not microseconds

}  // namespace bb::config
