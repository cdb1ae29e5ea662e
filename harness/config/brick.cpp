#include "config/brick.h"

#include <array>
#include <utility>

namespace bb::config {
namespace {

constexpr std::array<std::pair<Brick, std::string_view>, 11> kBricks{{
    {Brick::Copy, "copy"},
    {Brick::RmsNorm, "rms_norm"},
    {Brick::Qkv, "qkv"},
    {Brick::Rope, "rope"},
    {Brick::Attention, "attention"},
    {Brick::OProj, "o_proj"},
    {Brick::Ffn, "ffn"},
    {Brick::Layer, "layer"},
    {Brick::Decode, "decode"},
    {Brick::Generate, "generate"},
    {Brick::Gemv, "gemv"},
}};

}  // namespace

const std::vector<Brick>& all_bricks() {
  static const std::vector<Brick> kAll = [] {
    std::vector<Brick> v;
    for (const auto& [brick, name] : kBricks) v.push_back(brick);
    return v;
  }();
  return kAll;
}

std::string_view brick_name(Brick brick) {
  for (const auto& [b, name] : kBricks)
    if (b == brick) return name;
  return "unknown";
}

std::optional<Brick> brick_from_name(std::string_view name) {
  for (const auto& [brick, n] : kBricks)
    if (n == name) return brick;
  return std::nullopt;
}

bool brick_takes_context(Brick brick) {
  return brick == Brick::Attention || brick == Brick::Layer || brick == Brick::Decode;
}

bool brick_takes_kv_type(Brick brick) { return brick_takes_context(brick) || brick == Brick::Generate; }

bool brick_is_per_token(Brick brick) { return brick == Brick::Decode || brick == Brick::Generate; }

}  // namespace bb::config
